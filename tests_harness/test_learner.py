"""The learner's loop, as a learner meets it: output on unsolved and broken files, the watch, reset,
progress, and the student edition with its README's own commands."""

from __future__ import annotations

import ast
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from kata.core import manifest
from kata.learn import reset
from kata.maintain import bench

ROOT = manifest.ROOT


def _run(*args: str, cwd=ROOT, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _pytest(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return _run(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args, cwd=cwd)


# ---------------------------------------------------------------- what a run prints


@pytest.mark.parametrize("name", ["tensors", "attention"])  # attention's tests catch RuntimeError, a stub's base
def test_unsolved_topic_prints_one_line_per_exercise(name):
    proc = _pytest(f"tests/test_{name}.py", "-q")
    topic = manifest.topic(name)
    block = proc.stdout.split("not implemented yet")[1].split("kata progress")[0]
    listed = [ln.split()[0] for ln in block.splitlines()[1:] if ln.startswith("  ")]
    assert listed == [e.qualname for e in topic.exercises]
    assert "___" not in proc.stdout  # no per-test failure sections
    last = proc.stdout.splitlines()[-1]
    assert re.search(r"\b\d+ failed\b", last) and "passed" not in last, last  # every test still counts as failed


def test_a_syntax_error_is_one_short_block_naming_the_file(tmp_path):
    (tmp_path / "tensors.py").write_text((ROOT / "exercises" / "tensors.py").read_text() + "\ndef broken(:\n")
    proc = _pytest("tests/test_tensors.py", f"--impl-dir={tmp_path}")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert len(out.splitlines()) < 60, out
    assert out.count("SyntaxError") == 2  # the block, and the summary's next: line
    assert f"{tmp_path / 'tensors.py'} does not import: SyntaxError at line" in out
    assert "During handling" not in out


def test_an_empty_folder_gives_one_block_per_topic(tmp_path):
    proc = _pytest(f"--impl-dir={tmp_path}", "-q")
    assert proc.stdout.count("there is no ") == len(manifest.topic_names()) + 1  # + the next: line
    assert len(proc.stdout.splitlines()) < 100


def test_stopping_at_the_first_failure_counts_no_cuda_skip_that_did_not_happen():
    proc = _pytest("-x", "-q", "tests/test_tensors.py")
    assert "CUDA test(s) skipped" not in proc.stdout
    assert "the run stopped early" in proc.stdout


def test_only_cuda_tests_selected_says_what_happened():
    import torch

    proc = _pytest("-m", "cuda", "-q", "tests/test_tensors.py", "--solutions")
    if torch.cuda.is_available():
        assert "every test that ran passes" in proc.stdout
    else:
        assert "need CUDA and were skipped" in proc.stdout


def test_a_k_selection_is_not_shown_as_the_whole_topic():
    proc = _pytest("-q", "--solutions", "tests/test_tensors.py", "-k", "pick_device")
    assert "a selection:" in proc.stdout and "more test(s) of this topic not selected" in proc.stdout


# ---------------------------------------------------------------- watch


def _until_first_verdict(proc: subprocess.Popen, seconds: float = 120) -> str:
    """What a watch printed up to the end of its first run (or until `seconds` passed)."""
    deadline, seen = time.monotonic() + seconds, ""
    while "rerun finished" not in seen and time.monotonic() < deadline:
        seen += proc.stdout.readline()
    return seen


def test_the_watch_reruns_on_a_save():
    seconds = bench.watch_latency("tensors", saves=2, timeout=120)
    assert len(seconds) == 2 and all(s < 60 for s in seconds), seconds


def test_the_watch_stops_cleanly_on_ctrl_c(tmp_path):
    shutil.copy(ROOT / "exercises" / "tensors.py", tmp_path / "tensors.py")
    proc = subprocess.Popen([sys.executable, "-m", "kata.learn.watch", "tensors", f"--impl-dir={tmp_path}"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = _until_first_verdict(proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "watch: stopped." in out and "Traceback" not in seen + out


# ---------------------------------------------------------------- reset and progress


def test_reset_puts_back_one_exercise_and_leaves_the_rest_byte_identical(tmp_path):
    solved = (ROOT / "solutions" / "tensors.py").read_text()
    (tmp_path / "tensors.py").write_text(solved)
    reset.reset("tensors.move_to", tmp_path)
    after = (tmp_path / "tensors.py").read_text()

    def span(text: str, name: str) -> tuple[int, int]:
        node = next(n for n in ast.parse(text).body if getattr(n, "name", None) == name)
        return node.lineno - 1, node.end_lineno

    lines, new = solved.splitlines(keepends=True), after.splitlines(keepends=True)
    a, b = span(solved, "move_to")
    c, d = span(after, "move_to")
    assert lines[:a] == new[:c] and lines[b:] == new[d:]
    shipped = (ROOT / "exercises" / "tensors.py").read_text().splitlines(keepends=True)
    e, f = span("".join(shipped), "move_to")
    assert new[c:d] == shipped[e:f]


def test_progress_lists_each_exercise_from_the_last_run(tmp_path):
    shutil.copy(ROOT / "solutions" / "tensors.py", tmp_path / "tensors.py")
    reset.reset("tensors.to_numpy", tmp_path)
    _pytest("tests/test_tensors.py", f"--impl-dir={tmp_path}", "-q")
    out = _run(sys.executable, "-m", "kata.learn.progress", f"--impl-dir={tmp_path}").stdout
    status = {ln.split()[0]: " ".join(ln.split()[1:]) for ln in out.splitlines() if ln.startswith("     ")}
    assert status["pick_device"].startswith("done")
    assert status["to_numpy"] == "not implemented yet"
    assert status["linear_backward"] == "not run yet"
    assert f"next: {tmp_path}/tensors.py::to_numpy" in out


# ---------------------------------------------------------------- the student edition


def _readme_commands(readme: str) -> list[str]:
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", readme, re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if command and not command.startswith(("python3 -m venv", "pip ")):
                commands.append(command)
    return commands


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    dest = tmp_path_factory.mktemp("edition") / "kata"
    proc = _run(sys.executable, "-m", "kata.maintain.release", str(dest))
    assert proc.returncode == 0, proc.stderr
    return dest


def test_the_edition_points_nowhere_at_solutions(edition):
    for path in [edition / "README.md", *sorted((edition / "exercises").glob("*.py"))]:
        text = path.read_text()
        assert "nox -s solutions" not in text and "python -m solutions" not in text, path
    listed = _run(sys.executable, "-m", "nox", "-l", cwd=edition).stdout
    for session in ("solutions", "check", "bench", "grade", "release", "lint"):
        assert f"- {session} ->" not in listed and f"* {session} ->" not in listed
    assert not (edition / "solutions").exists() and not (edition / "mutants").exists()


@pytest.mark.timeout(900)  # every command of the README, the whole suite included, one after another
def test_every_command_of_the_editions_readme_runs(edition):
    commands = _readme_commands((edition / "README.md").read_text())
    assert any(c.startswith("pytest") for c in commands)
    bindir = os.path.dirname(sys.executable)
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    for command in commands:
        command = command.replace("path/to/folder", "exercises")
        if "nox -s watch" in command:
            proc = subprocess.Popen(command, shell=True, cwd=edition, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, env={**os.environ, **env}, start_new_session=True)
            seen = _until_first_verdict(proc)
            os.killpg(proc.pid, signal.SIGINT)
            proc.communicate(timeout=30)
            assert "rerun finished" in seen, f"{command}:\n{seen}"
            continue
        proc = subprocess.run(command, shell=True, cwd=edition, capture_output=True, text=True, timeout=300,
                              env={**os.environ, **env})
        out = proc.stdout + proc.stderr
        assert proc.returncode in (0, 1), f"{command} exited {proc.returncode}:\n{out[-2000:]}"
        assert "Traceback" not in out, f"{command}:\n{out[-2000:]}"


def test_the_edition_is_built_from_the_last_commit(tmp_path):
    clone = tmp_path / "clone"
    _run("git", "clone", "-q", str(ROOT), str(clone))
    (clone / "exercises" / "tensors.py").write_text((ROOT / "solutions" / "tensors.py").read_text())
    proc = _run(sys.executable, "-m", "kata.maintain.release", str(tmp_path / "edition"), cwd=clone)
    assert proc.returncode == 0, proc.stderr
    committed = _run("git", "show", "HEAD:exercises/tensors.py", cwd=clone).stdout
    assert (tmp_path / "edition" / "exercises" / "tensors.py").read_text() == committed
    assert "left out your uncommitted change to exercises/tensors.py" in proc.stdout
