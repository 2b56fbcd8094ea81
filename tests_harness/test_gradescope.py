"""The Gradescope bundle (kata/grading/gradescope.py): what autograder.zip holds, and its run_autograder run
in a temporary folder laid out like Gradescope's /autograder (source, submission, results) with
the current environment instead of the one setup.sh would install. Graded on `tensors` (and
`lora`, missing) to stay quick; the code path is that of `nox -s grade`."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

from kata.core import manifest
from kata.grading import gradescope

ROOT = manifest.ROOT
# grading a class takes minutes on a loaded machine: more than pyproject's 120 s per test
pytestmark = pytest.mark.timeout(900)
GRADESCOPE_STATUS = {"passed", "failed"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    dest = tmp_path_factory.mktemp("bundle")
    assert gradescope.main([str(dest)]) == 0
    return dest / "autograder.zip"


def test_the_zip_has_gradescopes_two_scripts_at_its_root_and_no_answers(bundle):
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        setup = zf.read("setup.sh").decode()
        pins = zf.read("requirements-autograder.txt").decode().split()
    for script in ("setup.sh", "run_autograder"):
        assert script in names and modes[script] & stat.S_IXUSR, script
    for topic in manifest.topic_names():
        assert f"tests/test_{topic}.py" in names
    harness = {"kata/grading/grade.py", "kata/grading/canary/test_canary.py", "conftest.py", "pyproject.toml"}
    assert harness <= set(names)
    leaked = [n for n in names if n.split("/")[0] in ("solutions", "mutants", "alternatives", "exercises",
                                                      "tests_harness", ".ci", ".git")]
    assert not leaked, leaked
    torch, vision = (md.version(n).split("+")[0] for n in ("torch", "torchvision"))
    assert f"torch=={torch}" in pins and f"torchvision=={vision}" in pins and f"pytest=={md.version('pytest')}" in pins
    assert "Ubuntu 22.04" in setup and "python3.11" in setup and gradescope.CPU_INDEX in setup
    assert subprocess.run(["bash", "-n", "-c", setup]).returncode == 0


def _autograde(bundle, tmp_path, files: dict[str, str], topics: str) -> dict:
    root = tmp_path / "autograder"
    for part in ("source", "submission", "results"):
        (root / part).mkdir(parents=True)
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
    for rel, src in files.items():
        (root / "submission" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / src, root / "submission" / rel)
    env = {**os.environ, "KATA_AUTOGRADER_ROOT": str(root), "KATA_AUTOGRADER_PYTHON": sys.executable,
           "KATA_AUTOGRADER_TOPICS": topics, "KATA_AUTOGRADER_JOBS": "1"}
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert isinstance(results["score"], float) and isinstance(results["execution_time"], float)
    assert isinstance(results["output"], str) and results["stdout_visibility"] in VISIBILITY
    assert results["tests"]
    for t in results["tests"]:
        assert isinstance(t["name"], str) and isinstance(t["output"], str)
        assert 0.0 <= t["score"] <= t["max_score"] and t["status"] in GRADESCOPE_STATUS
        assert t["visibility"] in VISIBILITY
    assert sum(t["max_score"] for t in results["tests"]) == pytest.approx(100.0, abs=1e-6)
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]), abs=1e-3)
    return results


def test_run_autograder_gives_a_solved_submission_100(bundle, tmp_path):
    results = _autograde(bundle, tmp_path, {"tensors.py": "solutions/tensors.py"}, "tensors")
    assert results["score"] == 100.0
    assert all(t["status"] == "passed" for t in results["tests"])


def test_run_autograder_gives_an_unsolved_submission_0(bundle, tmp_path):
    results = _autograde(bundle, tmp_path, {"tensors.py": "exercises/tensors.py"}, "tensors")
    assert results["score"] == 0.0
    assert all(t["status"] == "failed" and "not implemented yet" in t["output"] for t in results["tests"])


def test_a_clone_is_graded_from_exercises_and_a_missing_topic_scores_0_with_the_reason(bundle, tmp_path):
    results = _autograde(bundle, tmp_path, {"exercises/tensors.py": "solutions/tensors.py",
                                            "README.md": "README.md"}, "tensors,lora")
    assert results["score"] == pytest.approx(50.0)
    lora = [t for t in results["tests"] if t["name"].startswith("lora")]
    assert len(lora) == 1 and lora[0]["score"] == 0.0 and "no lora.py in the submission" in lora[0]["output"]
    assert "no lora.py in the submission" in results["output"]


HIDDEN = """
import pytest
import torch

from kata.learn.checks import expect


@pytest.mark.exercise("tensor_nbytes")
@pytest.mark.points(2)
@pytest.mark.visibility("hidden")
def test_hidden_nbytes_of_seven_floats(impl):
    expect(impl.tensor_nbytes(torch.ones(7)) == 28, "28 bytes")
"""


def test_run_autograder_grades_the_baked_hidden_tests_with_their_visibility(tmp_path):
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / "test_tensors.py").write_text(HIDDEN)
    bundle = gradescope.build(tmp_path / "bundle", tmp_path / "hidden")
    results = _autograde(bundle, tmp_path, {"tensors.py": "exercises/tensors.py"}, "tensors")
    baked = [t for t in results["tests"] if "test_hidden_nbytes_of_seven_floats" in t["name"]]
    assert len(baked) == 1 and baked[0]["visibility"] == "hidden" and baked[0]["status"] == "failed"
    assert baked[0]["output"].startswith("hidden test (") and "expect(" not in baked[0]["output"]
    public = [t for t in results["tests"] if t["name"].startswith("tests/")]
    assert baked[0]["max_score"] == pytest.approx(2 * public[0]["max_score"], abs=1e-3)
    assert {t["visibility"] for t in public} == {"visible"}
