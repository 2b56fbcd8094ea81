"""The class grader on a small class the test builds: solved, unsolved, partly solved, and each
failure mode (loop, exit, crash, out of memory, syntax error, tampering). Graded on `tensors`."""

from __future__ import annotations

import csv
import json

import pytest

from kata import grade, manifest

ROOT = manifest.ROOT
SOLVED = (ROOT / "solutions" / "tensors.py").read_text()
UNSOLVED = (ROOT / "exercises" / "tensors.py").read_text()

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
        "\nimport torch\nimport kata.checks as _c\n"
        "for _n in ('fail', 'expect', 'expect_close', 'expect_equal', 'expect_shape'):\n"
        "    setattr(_c, _n, lambda *a, **k: None)\n"
        "torch.testing.assert_close = lambda *a, **k: None\n"
        "def pick_device(preferred=None):\n    return 'cpu'\n"
    ),
    "edits_tests": SOLVED + "\nopen('tests/test_tensors.py', 'a').write('\\n# edited\\n')\n",
    "reads_solutions": f"exec(open({str(ROOT / 'solutions' / 'tensors.py')!r}).read())\n",
    "writes_repo": SOLVED + f"\nopen({str(ROOT / 'tests' / 'test_tensors.py')!r}, 'a').write('# edited')\n",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    subs = []
    for name, source in CLASS.items():
        (base / name).mkdir()
        (base / name / "tensors.py").write_text(source)
        subs.append(str(base / name))
    (base / "empty").mkdir()
    subs.append(str(base / "empty"))
    out = base / "out"
    rc = grade.main(["--topics", "tensors", "--out", str(out), "--test-timeout", "4", "--topic-timeout", "25",
                     "--memory-mb", "2048", *subs])
    assert rc == 0
    with (out / "grades.csv").open() as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    return out, rows, (out / "summary.md").read_text()


def test_solved_scores_full_marks(graded):
    _, rows, _ = graded
    assert float(rows["solved"]["tensors"]) == 100.0
    assert float(rows["solved"]["total"]) == 100.0


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
])
def test_failure_modes_score_zero_with_their_reason(graded, name, reason):
    _, rows, summary = graded
    assert float(rows[name]["tensors"]) == 0.0
    assert f"{name} / tensors: " in summary and reason in summary.split(f"{name} / tensors: ")[1].splitlines()[0]


def test_syntax_error_scores_zero_and_says_why(graded):
    out, rows, _ = graded
    assert float(rows["syntax"]["tensors"]) == 0.0
    results = json.loads((out / "syntax" / "results.json").read_text())
    assert all("SyntaxError" in t["output"] for t in results["tests"])


def test_memory_hog_is_capped_and_reported(graded):
    out, rows, _ = graded
    assert float(rows["hogs_memory"]["tensors"]) < 100.0
    results = json.loads((out / "hogs_memory" / "results.json").read_text())
    assert any("ran out of memory" in t["output"] for t in results["tests"])


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
