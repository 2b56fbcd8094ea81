"""The class grader on a small class the test builds: solved, unsolved, partly solved, and each
failure mode (loop, exit, crash, out of memory, syntax error, tampering, the network, another
submission, writing outside its folder, filling the disk, one method that loops forever). Graded on `tensors` (and
`lora` for the one lora file) with the in-process guards alone (--sandbox none): the bubblewrap
sandbox has its own tests in test_sandbox.py."""

from __future__ import annotations

import csv
import json

import pytest

from kata.core import manifest
from kata.grading import grade, limits

ROOT = manifest.ROOT
# grading a class takes minutes on a loaded machine: more than pyproject's 120 s per test
pytestmark = pytest.mark.timeout(900)
SOLVED = (ROOT / "solutions" / "tensors.py").read_text()
UNSOLVED = (ROOT / "exercises" / "tensors.py").read_text()
LORA = (ROOT / "solutions" / "lora.py").read_text()
LORA_FORWARD_LOOPS = LORA + """

def _forever(self, x):
    while True:
        pass


LoRALinear.forward = _forever
"""
# the same loop in a closure, whose code the grader cannot swap: the exercise-level fallback
LORA_CLOSURE_LOOPS = LORA + """

def _make():
    done = False

    def forward(self, x):
        while not done:
            pass

    return forward


LoRALinear.forward = _make()
"""

DISK_MB = 32  # the class's disk cap: small, so a test that fails writes little
# Each hog writes 8 MiB chunks at import, for up to 1 GiB, in many files in its folder (the worker's
# measure of the folder stops it) or in one (RLIMIT_FSIZE), and after each chunk appends how far it
# got to the job's log (pytest captures its stdout, which a killed process never hands back).
_SAY = "    with open('../log', 'a') as _log:\n        _log.write(f'KATA-WROTE {8 * (_i + 1)} MiB\\n')\n"
FILLS_FOLDER = ("for _i in range(128):\n    with open(f'fill{_i}.bin', 'wb') as _f:\n"
                "        _f.write(b'x' * (8 << 20))\n" + _SAY)
FILLS_ONE_FILE = ("_f = open('fill.bin', 'wb')\nfor _i in range(128):\n    _f.write(b'x' * (8 << 20))\n"
                  "    _f.flush()\n" + _SAY)


def wrote_mib(log: str) -> int:
    """How far a hog got, by its own count (0 if it wrote nothing)."""
    return max([int(line.split()[1]) for line in log.splitlines() if line.startswith("KATA-WROTE ")], default=0)


CLASS = {
    "solved": SOLVED,
    "unsolved": UNSOLVED,
    "partly": SOLVED + "\n\ndef pick_device(preferred=None):\n    raise NotImplementedError('tensors.pick_device')\n",
    "syntax": SOLVED + "\ndef broken(:\n",
    "exits": "import os\nos._exit(0)\n",
    "crashes": "import ctypes\nctypes.string_at(0)\n",
    "hangs": "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n",
    "hogs_memory": SOLVED + "\n\ndef pick_device(preferred=None):\n    return bytearray(64 * 2**30)\n",
    "disarms_asserts": SOLVED + (
        "\nimport torch\nimport kata.learn.checks as _c\n"
        "for _n in ('fail', 'expect', 'expect_close', 'expect_equal', 'expect_shape'):\n"
        "    setattr(_c, _n, lambda *a, **k: None)\n"
        "torch.testing.assert_close = lambda *a, **k: None\n"
        "def pick_device(preferred=None):\n    return 'cpu'\n"
    ),
    "edits_tests": SOLVED + "\nopen('tests/test_tensors.py', 'a').write('\\n# edited\\n')\n",
    "reads_solutions": f"exec(open({str(ROOT / 'solutions' / 'tensors.py')!r}).read())\n",
    "writes_repo": SOLVED + f"\nopen({str(ROOT / 'tests' / 'test_tensors.py')!r}, 'a').write('# edited')\n",
    "connects": SOLVED + "\nimport socket\nsocket.socket().connect(('127.0.0.1', 9))\n",
    # a link to / among the grader's files and a pipe where its log was: the grader must not follow or block
    "leaves_traps": SOLVED + "\nimport os\nos.symlink('/', 'tests/escape')\nos.remove('../log')\nos.mkfifo('../log')\n",
    "fills_folder": SOLVED + FILLS_FOLDER,
    "fills_one_file": SOLVED + FILLS_ONE_FILE,
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    subs = []
    sources = {**CLASS, "reads_other": SOLVED + f"\nopen({str(base / 'solved' / 'tensors.py')!r}).read()\n",
               "writes_outside": SOLVED + f"\nopen({str(base / 'kata-written-by-a-submission')!r}, 'w')\n"}
    for name, source in sources.items():
        (base / name).mkdir()
        (base / name / "tensors.py").write_text(source)
        subs.append(str(base / name))
    for name, lora in (("lora_forward_loops", LORA_FORWARD_LOOPS), ("lora_closure_loops", LORA_CLOSURE_LOOPS)):
        (base / name).mkdir()
        (base / name / "lora.py").write_text(lora)
        (base / name / "tensors.py").write_text(SOLVED)
        subs.append(str(base / name))
    (base / "empty").mkdir()
    subs.append(str(base / "empty"))
    out = base / "out"
    rc = grade.main(["--sandbox", "none", "--topics", "tensors,lora", "--out", str(out), "--test-timeout", "4",
                     "--topic-timeout", "40", "--memory-mb", "2048", "--disk-mb", str(DISK_MB), *subs])
    assert rc == 0
    with (out / "grades.csv").open() as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    return out, rows, (out / "summary.md").read_text()


def test_solved_scores_full_marks(graded):
    _, rows, _ = graded
    assert float(rows["solved"]["tensors"]) == 100.0
    assert float(rows["solved"]["lora"]) == 0.0  # no lora.py: the class files hold tensors only


def test_unsolved_and_missing_score_zero(graded):
    _, rows, summary = graded
    assert float(rows["unsolved"]["tensors"]) == 0.0
    assert float(rows["empty"]["tensors"]) == 0.0
    assert "empty / tensors: no tensors.py in the submission" in summary


def test_partly_solved_scores_in_between(graded):
    _, rows, _ = graded
    assert 0.0 < float(rows["partly"]["tensors"]) < 100.0


@pytest.mark.parametrize("name, reason", [
    ("exits", "ended (exit code 0) before reporting"),
    ("crashes", "crashed (SIGSEGV)"),
    ("hangs", "timed out"),
    ("disarms_asserts", "tampered"),
    ("edits_tests", "tampered: the submission modified the grader's files"),
    ("connects", "tried what grading refuses (socket.connect"),
    ("leaves_traps", "tampered: the submission modified the grader's files"),
    ("reads_other", "solved/tensors.py"),
    ("writes_outside", "kata-written-by-a-submission"),
])
def test_failure_modes_score_zero_with_their_reason(graded, name, reason):
    _, rows, summary = graded
    assert float(rows[name]["tensors"]) == 0.0
    assert f"{name} / tensors: " in summary and reason in summary.split(f"{name} / tensors: ")[1].splitlines()[0]


def test_syntax_error_scores_zero_and_says_why(graded):
    out, rows, _ = graded
    assert float(rows["syntax"]["tensors"]) == 0.0
    results = json.loads((out / "syntax" / "results.json").read_text())
    assert all("SyntaxError" in t["output"] for t in results["tests"] if t["name"].startswith("tests/test_tensors"))


def test_memory_hog_is_capped_and_reported(graded):
    out, rows, _ = graded
    assert float(rows["hogs_memory"]["tensors"]) < 100.0
    results = json.loads((out / "hogs_memory" / "results.json").read_text())
    assert any("ran out of memory" in t["output"] for t in results["tests"])


@pytest.mark.parametrize("name", ["fills_folder", "fills_one_file"])
def test_a_submission_filling_the_disk_is_stopped_at_the_cap_and_the_rest_graded(graded, name):
    out, rows, summary = graded
    assert float(rows[name]["tensors"]) == 0.0
    reason = summary.split(f"{name} / tensors: ")[1].splitlines()[0]
    assert reason.startswith("out of disk") and f"{DISK_MB} MiB" in reason, reason
    results = json.loads((out / name / "results.json").read_text())
    assert all("out of disk" in t["output"] for t in results["tests"] if t["name"].startswith("tensors"))
    wrote = wrote_mib((out / name / "logs" / "tensors.txt").read_text())
    assert 0 < wrote <= 16 * DISK_MB, f"{name} wrote {wrote} MiB past a {DISK_MB} MiB cap"  # it tried 1024
    if name == "fills_one_file":  # the kernel's per-file cap is exact: no 8 MiB chunk past it
        assert wrote <= DISK_MB, wrote
    assert float(rows["solved"]["tensors"]) == 100.0 and float(rows[name]["lora"]) == 0.0


def test_the_grading_repository_cannot_be_written_by_a_submission(graded):
    out, rows, _ = graded
    assert float(rows["writes_repo"]["tensors"]) == 0.0
    assert "off limits" in (out / "writes_repo" / "logs" / "tensors.txt").read_text()
    assert "# edited" not in (ROOT / "tests" / "test_tensors.py").read_text()


def test_solutions_cannot_be_read_by_a_submission(graded):
    out, rows, _ = graded
    assert float(rows["reads_solutions"]["tensors"]) == 0.0
    log = (out / "reads_solutions" / "logs" / "tensors.txt").read_text()
    assert "off limits" in log


def test_results_json_has_gradescope_fields(graded):
    out, _, _ = graded
    results = json.loads((out / "partly" / "results.json").read_text())
    assert {"score", "tests"} <= results.keys()
    for t in results["tests"]:
        assert {"name", "score", "max_score", "output"} <= t.keys()
    assert sum(t["max_score"] for t in results["tests"]) == pytest.approx(100.0, abs=0.01)
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]), abs=0.01)


def _lora_tests(out, name: str) -> dict[str, dict]:
    results = json.loads((out / name / "results.json").read_text())
    return {t["name"].split("::")[1]: t for t in results["tests"] if t["name"].startswith("tests/test_lora.py")}


def test_a_method_that_loops_forever_costs_only_the_tests_that_call_it(graded):
    out, rows, summary = graded
    assert float(rows["lora_forward_loops"]["tensors"]) == 100.0
    assert 0.0 < float(rows["lora_forward_loops"]["lora"]) < 100.0
    assert "lora_forward_loops / lora" not in summary  # graded test by test, not stopped as a whole
    tests = _lora_tests(out, "lora_forward_loops")
    timed_out = [n for n, t in tests.items() if "Timeout" in t["output"]]
    assert len(timed_out) == 1, timed_out  # one wait in all: every later call of forward fails at once
    at_once = [n for n, t in tests.items() if "every later call of it fails at once" in t["output"]]
    assert at_once and all(tests[n]["status"] == "failed" for n in at_once)
    assert "_forever" in tests[at_once[0]]["output"]
    for name in ("test_lora_linear_factor_shapes", "test_lora_linear_B_starts_at_zero",  # never call forward
                 "test_apply_lora_returns_the_same_model", "test_lora_state_dict_holds_only_the_lora_parameters"):
        assert tests[name]["status"] == "passed", (name, tests[name]["output"])


def test_a_loop_that_cannot_be_disarmed_costs_one_timeout_per_exercise(graded):
    out, rows, summary = graded
    assert 0.0 < float(rows["lora_closure_loops"]["lora"]) < 100.0
    assert "lora_closure_loops / lora" not in summary
    tests = _lora_tests(out, "lora_closure_loops")
    timed_out = [n for n, t in tests.items() if "Timeout" in t["output"]]
    at_once = [n for n, t in tests.items() if "already ran past the per-test timeout" in t["output"]]
    assert timed_out and at_once
    assert len(timed_out) <= len(manifest.topic("lora").exercises), timed_out
    first = next(iter(tests))  # the first LoRALinear test calls forward: the rest of LoRALinear fails at once
    assert first in timed_out and "test_lora_linear_factor_shapes" in at_once
    assert any(t["status"] == "passed" for t in tests.values())


def test_class_statistics_rank_exercises_and_spread_totals(graded):
    out, rows, summary = graded
    with (out / "stats.csv").open() as f:
        stats_rows = list(csv.DictReader(f))
    tensors = {r["exercise"]: r for r in stats_rows if r["topic"] == "tensors"}
    assert set(tensors) == {e.name for e in manifest.topic("tensors").exercises}
    rates = [float(r["tests_passed_pct"]) for r in stats_rows]
    assert rates == sorted(rates)  # weakest first
    assert all(r["teaches"].startswith(("pitfall: ", "hint: ")) for r in stats_rows)
    assert int(tensors["move_to"]["submissions"]) == len(rows)  # a missing file counts, as not solved
    assert "## Exercises, weakest first" in summary and "## Distribution of totals" in summary
    bars = [ln for ln in summary.split("## Distribution of totals")[1].splitlines() if " % | " in ln]
    assert len(bars) == 11 and sum(int(ln.split()[-1]) for ln in bars) == len(rows)  # each submission once


def test_collection_records_each_tests_exercise(tmp_path):
    grade.make_template(tmp_path)
    expected, canaries = grade.collect(tmp_path, ["tensors"])
    names = {e.name for e in manifest.topic("tensors").exercises}
    assert canaries == 5 and expected["tensors"]
    assert {item["exercise"] for item in expected["tensors"]} == names


def test_per_test_timeout_derives_from_the_slowest_test_and_fits_the_topic_deadline():
    assert limits.TEST_TIMEOUT == limits.derive(limits.SLOWEST_TEST_S) >= 3 * limits.SLOWEST_TEST_S
    most = max(len(t.exercises) for t in manifest.topics())
    assert most * limits.TEST_TIMEOUT < limits.TOPIC_TIMEOUT, "one timeout per exercise must fit in a topic"
