"""The PrairieLearn course fragment (kata/grading/prairielearn.py): its questions and grader build
folder, and its entrypoint run in a temporary folder laid out like PrairieLearn's /grade (tests,
student, results) with the current environment instead of the image's, on `tensors`. The code path
is that of `nox -s grade`; where bubblewrap works here it grades under it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from kata.core import manifest
from kata.grading import prairielearn, reports

ROOT = manifest.ROOT
# grading takes a minute or more on a loaded machine: more than pyproject's 120 s per test
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def fragment(tmp_path_factory):
    dest = tmp_path_factory.mktemp("course") / "fragment"
    assert prairielearn.main([str(dest), "--image", "someone/kata-grader"]) == 0
    return dest


def test_one_externally_graded_question_per_topic(fragment):
    questions = fragment / "questions" / "kata"
    assert sorted(p.name for p in questions.iterdir()) == sorted(manifest.topic_names())
    uuids = set()
    for topic in manifest.topic_names():
        info = json.loads((questions / topic / "info.json").read_text())
        assert info["type"] == "v3" and info["gradingMethod"] == "External" and info["title"]
        options = info["externalGradingOptions"]
        assert options["enabled"] is True and options["image"] == "someone/kata-grader"
        assert options["entrypoint"] == prairielearn.ENTRYPOINT and 0 < options["timeout"] <= 600
        assert "enableNetworking" not in options  # graded offline
        uuids.add(info["uuid"])
        html = (questions / topic / "question.html").read_text()
        assert f'file-name="{topic}.py"' in html and "<pl-external-grader-results>" in html
        assert json.loads((questions / topic / "tests" / "kata.json").read_text()) == {"topic": topic}
        starter = (questions / topic / "tests" / f"{topic}.py").read_text()
        assert starter == (ROOT / "exercises" / f"{topic}.py").read_text()
    assert len(uuids) == len(manifest.topic_names())


def test_the_grader_image_bakes_in_cpu_torch_and_the_harness_without_answers(fragment):
    grader = fragment / "graders" / "kata"
    dockerfile = (grader / "Dockerfile").read_text()
    assert "download.pytorch.org/whl/cpu" in dockerfile and '"torch==' in dockerfile
    harness = grader / "harness"
    assert (harness / "run_prairielearn").stat().st_mode & 0o111
    assert (harness / "kata" / "grading" / "grade.py").is_file() and (harness / "tests" / "test_tensors.py").is_file()
    shipped = {p.relative_to(harness).parts[0] for p in harness.rglob("*")}
    assert not shipped & {"solutions", "mutants", "alternatives", "exercises", "tests_harness", ".git"}
    assert subprocess.run(["bash", "-n", str(harness / "run_prairielearn")]).returncode == 0


def _grade(fragment, tmp_path, source: str | None, *, tests: bool = True) -> dict:
    root = tmp_path / "grade"
    (root / "student").mkdir(parents=True)
    if tests:
        shutil.copytree(fragment / "questions" / "kata" / "tensors" / "tests", root / "tests")
    if source is not None:
        (root / "student" / "tensors.py").write_text(source)
    env = {**os.environ, "KATA_PL_ROOT": str(root), "KATA_PL_PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(fragment / "graders" / "kata" / "harness" / "run_prairielearn")], env=env,
                          capture_output=True, text=True, timeout=800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = (root / "results" / "results.json").read_text()
    assert len(text.encode()) < 1 << 20  # PrairieLearn's limit
    results = json.loads(text)
    assert isinstance(results["gradable"], bool) and isinstance(results["message"], str)
    if results["gradable"]:
        assert isinstance(results["score"], float) and 0.0 <= results["score"] <= 1.0
        assert isinstance(results["output"], str) and results["tests"]
        for t in results["tests"]:
            assert isinstance(t["name"], str) and isinstance(t["message"], str) and isinstance(t["output"], str)
            assert 0.0 <= t["points"] <= t["max_points"]
        most = sum(t["max_points"] for t in results["tests"])
        assert results["score"] == pytest.approx(sum(t["points"] for t in results["tests"]) / most, abs=1e-6)
    return results


SOLVED = (ROOT / "solutions" / "tensors.py").read_text()
UNSOLVED = (ROOT / "exercises" / "tensors.py").read_text()


def test_a_solved_file_scores_1(fragment, tmp_path):
    results = _grade(fragment, tmp_path, SOLVED)
    assert results["gradable"] is True and results["score"] == 1.0
    assert all(t["points"] == t["max_points"] == 1.0 for t in results["tests"])  # each test's points marker
    assert len(results["tests"]) == len([t for t in results["tests"] if t["name"].startswith("tests/test_tensors")])


def test_an_unsolved_file_scores_0(fragment, tmp_path):
    results = _grade(fragment, tmp_path, UNSOLVED)
    assert results["gradable"] is True and results["score"] == 0.0
    assert all("not implemented yet" in t["output"] for t in results["tests"])


def test_a_broken_file_scores_0_with_the_reason(fragment, tmp_path):
    results = _grade(fragment, tmp_path, SOLVED + "\ndef broken(:\n")
    assert results["gradable"] is True and results["score"] == 0.0
    assert all("SyntaxError" in t["output"] for t in results["tests"])


def test_a_fault_of_the_grader_is_not_gradable_and_never_a_zero(fragment, tmp_path):
    results = _grade(fragment, tmp_path, SOLVED, tests=False)  # the question's tests/ did not arrive
    assert results["gradable"] is False and "score" not in results
    assert "kata.json" in results["message"] and "does not count" in results["message"]


def test_a_hidden_test_shows_only_its_points_and_the_score_follows_the_points_markers():
    tests = [{"nodeid": "tests/test_tensors.py::test_a", "exercise": "move_to", "points": 1.0, "status": "passed",
              "output": "", "visibility": "visible"},
             {"nodeid": "kata_hidden/tests/test_tensors.py::test_secret_case", "exercise": "move_to", "points": 3.0,
              "status": "failed", "output": "hidden test (call): it moved the wrong thing", "visibility": "hidden"}]
    result = reports.TopicResult("tensors", earned=1.0, possible=4.0, tests=tests)
    data = reports.prairielearn_json([result], ["tensors"])
    assert data["gradable"] is True and data["score"] == 0.25
    shown, hidden_one = data["tests"]
    assert (shown["points"], shown["max_points"], shown["message"]) == (1.0, 1.0, "passed")
    assert (hidden_one["points"], hidden_one["max_points"]) == (0.0, 3.0)
    assert hidden_one["name"] == "hidden test 1" and hidden_one["output"] == ""
    assert "secret_case" not in json.dumps(data) and "wrong thing" not in json.dumps(data)
