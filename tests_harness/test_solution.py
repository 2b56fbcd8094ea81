"""The two editions (kata/maintain/release.py) and `nox -s solution` (kata/learn/solution.py), in
editions built into temporary folders: the self-paced one refuses an exercise's reference until
its tests have passed on the learner's file and prints it after; the class edition has no way to
show one. The learner's runs are real `pytest` runs in the edition."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kata.core import manifest
from kata.learn import solution
from kata.maintain import release

ROOT = manifest.ROOT
NOX = Path(sys.executable).with_name("nox")
pytestmark = pytest.mark.timeout(600)  # two editions and two pytest runs on a loaded machine


@pytest.fixture(scope="module")
def editions(tmp_path_factory):
    base = tmp_path_factory.mktemp("editions")
    assert release.main([str(base / "class")]) == 0
    assert release.main([str(base / "self-paced"), "--self-paced"]) == 0
    return base / "class", base / "self-paced"


def _run(edition: Path, state: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KATA_"))}
    env.update(KATA_STATE_DIR=str(state), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, *args], cwd=edition, env=env, capture_output=True, text=True, timeout=500)


def _sessions(edition: Path) -> str:
    if not NOX.exists():
        pytest.skip(f"nox is not installed next to {sys.executable}")
    proc = subprocess.run([str(NOX), "-l"], cwd=edition, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_the_self_paced_edition_packs_the_solutions_without_a_solutions_folder(editions):
    class_edition, self_paced = editions
    assert not (self_paced / "solutions").exists() and not (class_edition / "solutions").exists()
    pack = self_paced / solution.PACK.relative_to(ROOT)
    assert pack.is_file() and b"def move_to" not in pack.read_bytes()  # packed, not browsable
    assert not (class_edition / solution.PACK.relative_to(ROOT)).exists()
    assert "solution" in _sessions(self_paced).split()


def test_the_class_edition_has_no_way_to_show_a_solution(editions, tmp_path):
    class_edition, _ = editions
    assert "solution" not in _sessions(class_edition).split()
    proc = _run(class_edition, tmp_path, "-m", "kata.learn.solution", "tensors.move_to")
    assert proc.returncode == 2 and "ships no reference solutions" in proc.stderr
    assert "def move_to" not in proc.stdout
    leaked = [p for p in class_edition.rglob("*") if p.is_file() and p.suffix in (".py", ".pack", ".json")
              and "return type(obj)(*(go(x) for x in obj))" in p.read_text(errors="replace")]
    assert not leaked


def test_solution_refuses_before_the_exercise_passes_and_prints_it_after(editions, tmp_path):
    _, self_paced = editions
    state = tmp_path / "state"
    reference = solution.reference((ROOT / "solutions" / "tensors.py").read_text(), "move_to")
    asked = ("-m", "kata.learn.solution", "tensors.move_to")

    before = _run(self_paced, state, *asked)
    assert before.returncode == 1 and "not yet" in before.stderr and reference not in before.stdout

    _run(self_paced, state, "-m", "pytest", "tests/test_tensors.py", "-q")  # the stubs: every test fails
    stub = _run(self_paced, state, *asked)
    assert stub.returncode == 1 and "not implemented yet" in stub.stderr and reference not in stub.stdout

    shutil.copy(ROOT / "solutions" / "tensors.py", self_paced / "exercises" / "tensors.py")
    fresh = tmp_path / "fresh"  # a learner whose only recorded run is one test of the exercise
    some = _run(self_paced, fresh, "-m", "pytest", "tests/test_tensors.py", "-q", "-k", "move_to_keeps_tuples")
    assert some.returncode == 0, some.stdout[-2000:]
    partly = _run(self_paced, fresh, *asked)  # one test passed, the others never ran: still not yet
    assert partly.returncode == 1 and "have not passed yet" in partly.stderr
    earlier = _run(self_paced, state, *asked)  # the stubs' failures stay recorded until those tests pass
    assert earlier.returncode == 1 and reference not in earlier.stdout

    run = _run(self_paced, state, "-m", "pytest", "tests/test_tensors.py", "-q")
    assert run.returncode == 0, run.stdout[-2000:]
    after = _run(self_paced, state, *asked)
    assert after.returncode == 0, after.stderr
    assert reference in after.stdout and "honour system" in after.stdout
    other = _run(self_paced, state, "-m", "kata.learn.solution", "autograd.linear_backward")
    assert other.returncode == 1  # only the exercises that passed
