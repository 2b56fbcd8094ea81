"""Hidden tests (kata/grading/hidden.py): `nox -s grade -- --hidden DIR` on a small class graded on
`tensors` with the in-process guards (--sandbox none): their points count, their visibility reaches
results.json, no line of their source reaches any report, and the edition never holds them. The
Gradescope bundle's copy is tested in test_gradescope.py."""

from __future__ import annotations

import csv
import json
import zipfile

import pytest

from kata.core import manifest
from kata.grading import grade, gradescope, hidden
from kata.maintain import release

ROOT = manifest.ROOT
# grading a class takes minutes on a loaded machine: more than pyproject's 120 s per test
pytestmark = pytest.mark.timeout(900)
SOLVED = (ROOT / "solutions" / "tensors.py").read_text()
UNSOLVED = (ROOT / "exercises" / "tensors.py").read_text()
MARK = "kata-hidden-source-line"  # in every line of the hidden tests' bodies: it must reach no report
HIDDEN_TESTS = f'''
from __future__ import annotations

import pytest
import torch

from kata.learn.checks import expect

move_to = pytest.mark.exercise("move_to")
tensor_nbytes = pytest.mark.exercise("tensor_nbytes")


@move_to
@pytest.mark.points(3)
@pytest.mark.visibility("after_published")
def test_hidden_move_to_keeps_the_keys_of_a_dict(impl):
    out = impl.move_to({{"a": torch.ones(2), "b": torch.zeros(1)}}, "cpu")  # {MARK}
    expect(set(out) == {{"a", "b"}}, "move_to kept the keys")  # {MARK}


@tensor_nbytes
def test_hidden_nbytes_of_seven_floats(impl):
    assert impl.tensor_nbytes(torch.ones(7)) == 28  # {MARK}
'''
# passes every public test, fails the second hidden test only
SEVEN = SOLVED + ("\n\n_nbytes = tensor_nbytes\n\n\ndef tensor_nbytes(t):\n"
                  "    return -1 if t.numel() == 7 else _nbytes(t)\n")


@pytest.fixture(scope="module")
def hidden_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("instructor") / "hidden"
    folder.mkdir()
    (folder / "test_tensors.py").write_text(HIDDEN_TESTS)
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory, hidden_dir):
    base = tmp_path_factory.mktemp("class")
    for name, source in (("solved", SOLVED), ("unsolved", UNSOLVED), ("seven", SEVEN)):
        (base / name).mkdir()
        (base / name / "tensors.py").write_text(source)
    out = base / "out"
    assert grade.main(["--sandbox", "none", "--topics", "tensors", "--out", str(out), "--hidden", str(hidden_dir),
                       *[str(base / n) for n in ("solved", "unsolved", "seven")]]) == 0
    with (out / "grades.csv").open() as f:
        rows = {row["submission"]: float(row["tensors"]) for row in csv.DictReader(f)}
    return out, rows


def _tests(out, name: str) -> dict[str, dict]:
    return {t["name"]: t for t in json.loads((out / name / "results.json").read_text())["tests"]}


def test_hidden_tests_run_beside_the_public_ones_with_their_points(graded):
    out, rows = graded
    assert rows["solved"] == 100.0 and rows["unsolved"] == 0.0
    tests = _tests(out, "solved")
    public = [t for n, t in tests.items() if n.startswith("tests/test_tensors.py::")]
    move = tests[f"{hidden.PACKAGE}/tests/test_tensors.py::test_hidden_move_to_keeps_the_keys_of_a_dict"]
    seven = tests[f"{hidden.PACKAGE}/tests/test_tensors.py::test_hidden_nbytes_of_seven_floats"]
    assert move["status"] == seven["status"] == "passed"
    assert move["max_score"] == pytest.approx(3 * seven["max_score"], abs=1e-3)  # points(3) against the default 1
    assert seven["max_score"] == pytest.approx(public[0]["max_score"], abs=1e-3)
    assert sum(t["max_score"] for t in tests.values()) == pytest.approx(100.0, abs=1e-6)


def test_a_failed_hidden_test_costs_its_points(graded):
    out, rows = graded
    tests = _tests(out, "seven")
    assert all(t["status"] == "passed" for n, t in tests.items() if n.startswith("tests/"))
    failed = [t for t in tests.values() if t["status"] == "failed"]
    assert len(failed) == 1 and "seven_floats" in failed[0]["name"]
    assert rows["seven"] == pytest.approx(100.0 - failed[0]["max_score"], abs=0.1) and rows["seven"] < 100.0
    assert failed[0]["output"] == "hidden test (call): a check of this hidden test did not hold"


def test_results_json_carries_each_tests_visibility(graded):
    out, _ = graded
    seen = {n.split("::")[1]: t["visibility"] for n, t in _tests(out, "unsolved").items()}
    assert seen.pop("test_hidden_move_to_keeps_the_keys_of_a_dict") == "after_published"
    assert seen.pop("test_hidden_nbytes_of_seven_floats") == hidden.DEFAULT_VISIBILITY
    assert set(seen.values()) == {"visible"}


def test_no_line_of_a_hidden_test_reaches_any_report(graded):
    out, _ = graded
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "results.json" for p in files) and any(p.suffix == ".txt" for p in files)
    leaked = [str(p) for p in files if MARK in p.read_text(errors="replace")]
    assert not leaked, leaked
    failed = [t for t in _tests(out, "unsolved").values() if t["name"].startswith(hidden.PACKAGE)]
    assert failed and all(t["output"].startswith("hidden test (") for t in failed)


def test_an_edition_built_afterwards_holds_no_hidden_test(graded, tmp_path):
    assert release.main([str(tmp_path / "edition")]) == 0
    files = [p for p in (tmp_path / "edition").rglob("*") if p.is_file()]
    assert any(p.name == "test_tensors.py" for p in files)
    assert not [p for p in files if MARK in p.read_text(errors="replace") or hidden.PACKAGE in p.parts]
    assert "hidden" in release.LEFT_OUT and not release.shipped("hidden/test_tensors.py")


def test_the_gradescope_bundle_bakes_them_in(hidden_dir, tmp_path):
    path = gradescope.build(tmp_path, hidden_dir)
    with zipfile.ZipFile(path) as zf:
        assert MARK in zf.read(f"{hidden.BAKED}/test_tensors.py").decode()
    assert not [n for n in zipfile.ZipFile(gradescope.build(tmp_path / "plain")).namelist()
                if n.startswith(hidden.BAKED + "/")]


def test_a_wrong_name_or_visibility_is_refused(tmp_path):
    (tmp_path / "test_nope.py").write_text("")
    with pytest.raises(SystemExit, match="test_nope.py is not test_<topic>.py"):
        hidden.files(tmp_path)
    (tmp_path / "test_nope.py").unlink()
    (tmp_path / "test_tensors.py").write_text(HIDDEN_TESTS.replace('"after_published"', '"later"'))
    grade.make_template(tmp_path / "template")
    hidden.install(tmp_path, tmp_path / "template")
    with pytest.raises(SystemExit, match="visibility"):
        grade.collect(tmp_path / "template", ["tensors"])
