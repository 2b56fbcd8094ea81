"""Tests of the kata's own machinery (not run by a learner's `pytest`; run by `nox -s check`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kata.core import manifest
from kata.learn import hint
from kata.learn.impl import ImplementationError, load_topic

ROOT = manifest.ROOT


def test_missing_topic_file_is_an_error_that_says_so(tmp_path):
    with pytest.raises(ImplementationError, match="there is no tensors.py"):
        load_topic("tensors", tmp_path)


def test_broken_topic_file_reports_the_syntax_error(tmp_path):
    (tmp_path / "autograd.py").write_text("def f(:\n")
    with pytest.raises(ImplementationError, match="SyntaxError"):
        load_topic("autograd", tmp_path)


def test_a_topic_file_calling_exit_is_reported_not_fatal(tmp_path):
    (tmp_path / "cnn.py").write_text("import sys\nsys.exit(3)\n")
    with pytest.raises(ImplementationError, match="SystemExit"):
        load_topic("cnn", tmp_path)


def test_hints_are_revealed_one_at_a_time():
    ex = manifest.topic("autograd").exercises[0]
    state: dict[str, int] = {}
    first = hint.reveal(ex.qualname, state)
    second = hint.reveal(ex.qualname, state)
    assert first == list(ex.hints[:1])
    assert second == list(ex.hints[:2])


def test_hint_for_an_unknown_exercise_names_the_valid_ones():
    with pytest.raises(KeyError, match="autograd.linear_backward"):
        hint.reveal("autograd.no_such_thing", {})


def _pytest(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=cwd, capture_output=True, text=True)


def test_impl_dir_never_falls_back_to_the_solutions(tmp_path):
    proc = _pytest(f"--impl-dir={tmp_path}", "tests/test_tensors.py", "-q")
    assert proc.returncode == 1
    assert "there is no tensors.py" in proc.stdout
    assert " passed" not in proc.stdout.splitlines()[-1]


def test_progress_summary_names_the_next_exercise_and_its_first_hint():
    proc = _pytest("tests/test_tensors.py", "-q")
    first = manifest.topic("tensors").exercises[0]
    assert "kata progress: exercises/" in proc.stdout
    assert f"next: exercises/tensors.py::{first.name}" in proc.stdout
    assert f"hint: {first.hints[0]}" in proc.stdout


def test_tests_run_in_curriculum_order():
    proc = _pytest("--solutions", "--collect-only", "-q", "tests/test_production.py", "tests/test_tensors.py")
    ids = [line for line in proc.stdout.splitlines() if line.startswith("tests/") and "::" in line]
    topics = [line.split("::")[0] for line in ids]
    assert topics.index("tests/test_tensors.py") < topics.index("tests/test_production.py")
    assert topics == sorted(topics, key=lambda p: manifest.topic_names().index(p[len("tests/test_"):-3]))


def test_solutions_flag_in_an_edition_without_solutions_explains(tmp_path):
    # a copy of the harness without solutions/, as the student edition ships
    for name in ("kata", "tests", "conftest.py", "pyproject.toml", "exercises", "demos"):
        src = ROOT / name
        dst = tmp_path / name
        if src.is_dir():
            subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
        else:
            dst.write_text(src.read_text())
    proc = _pytest("--solutions", "tests/test_tensors.py", cwd=tmp_path)
    assert proc.returncode == 4
    assert "ships without solutions" in proc.stderr


def test_hint_state_file_is_json(tmp_path, monkeypatch):
    monkeypatch.setattr(hint, "STATE", tmp_path / "hints.json")
    ex = manifest.topic("tensors").exercises[0]
    assert hint.main([ex.qualname]) == 0
    assert json.loads((tmp_path / "hints.json").read_text()) == {ex.qualname: 1}


def test_release_leaves_out_solutions_and_mutants(tmp_path):
    from kata.maintain import release

    dest = tmp_path / "edition"
    assert release.main([str(dest)]) == 0
    assert (dest / "exercises").is_dir() and (dest / "tests").is_dir() and (dest / "kata").is_dir()
    assert not (dest / "solutions").exists() and not (dest / "mutants").exists()
    assert release.main([str(dest)]) == 2  # never writes over an existing edition


def test_digits_match_scikit_learns_loader():
    import numpy as np
    from sklearn.datasets import load_digits

    from kata.learn.data import digits

    x, y = digits("all")
    bunch = load_digits()
    assert x.shape == (1797, 1, 8, 8) and y.dtype.is_floating_point is False
    assert np.array_equal((x * 16).round().numpy().reshape(-1, 64), bunch.data)
    assert np.array_equal(y.numpy(), bunch.target)
