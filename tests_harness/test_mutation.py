"""kata.maintain.mutation: which mutants are made, and what `nox -s check` refuses in a report."""

from __future__ import annotations

import json

import pytest

from kata.maintain import mutation

SOURCE = '''\
from __future__ import annotations


def clip(x: int, low: int = 0) -> Annotated[int, 2 > 1]:
    """x, but never below low."""
    if x < low:
        return low
    return x


if __name__ == "__main__":
    print(clip(3 - 5))
'''


@pytest.fixture(scope="module")
def made():
    return mutation.make_mutants(SOURCE)


def test_a_comparison_is_mutated(made):
    mutants, _ = made
    changes = {(m.before, m.after) for m in mutants}
    assert ("if x < low:", "if x <= low:") in changes


def test_annotations_are_not_mutated(made):
    mutants, _ = made
    on_the_def = [m for m in mutants if m.line == 4]
    assert on_the_def, "the default value `low = 0` is code and is mutated"
    assert all("-> Annotated[int, 2 > 1]:" in m.after for m in on_the_def), on_the_def


def test_the_entry_point_is_not_mutated(made):
    mutants, total = made
    assert not [m for m in mutants if m.line >= 11]
    assert total > len(mutants)  # the entry point's `3 - 5` and `==` were made, then dropped


def test_no_two_mutants_are_the_same_program(made):
    mutants, _ = made
    shapes = [mutation.skeleton(m.code) for m in mutants]
    assert len(shapes) == len(set(shapes))


# ---------------------------------------------------------------- reports
def _tree(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "solutions" / "alpha.py").write_text(SOURCE)
    (tmp_path / "tests" / "test_alpha.py").write_text("def test_clip(impl):\n    assert impl.clip(-1) == 0\n")
    return tmp_path


def _report(root, *, killed=99, mutants=100, survivor=None):
    survivor = survivor if survivor is not None else [
        {"id": "ReplaceComparisonOperator_Lt_LtE#0", "line": 6, "before": "if x < low:", "after": "if x <= low:",
         "kind": "equivalent", "reason": "at x == low both branches return the same value"}]
    lines = ['topic = "alpha"',
             f'solution_sha256 = "{mutation.sha256(root / "solutions" / "alpha.py")}"',
             f'tests_sha256 = "{mutation.sha256(root / "tests" / "test_alpha.py")}"',
             f"mutants = {mutants}", f"killed = {killed}", "timeouts = 0", "seconds = 1.0"]
    for s in survivor:
        lines += ["", "[[survivor]]"] + [f"{k} = {json.dumps(v)}" for k, v in s.items()]
    path = mutation.report_path("alpha", root)
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")


def test_a_current_report_with_every_survivor_explained_holds(tmp_path):
    root = _tree(tmp_path)
    _report(root)
    assert mutation.problems("alpha", root) == []
    assert mutation.score(mutation.load("alpha", root)) == pytest.approx(100 * 99 / 99)


def test_a_missing_report_is_refused(tmp_path):
    found = mutation.problems("alpha", _tree(tmp_path))
    assert len(found) == 1 and "no report" in found[0]


def test_a_report_older_than_the_solution_is_refused(tmp_path):
    root = _tree(tmp_path)
    _report(root)
    (root / "solutions" / "alpha.py").write_text(SOURCE.replace("x < low", "x <= low"))
    found = mutation.problems("alpha", root)
    assert len(found) == 1 and "solutions/alpha.py changed" in found[0]


def test_a_report_older_than_the_tests_is_refused(tmp_path):
    root = _tree(tmp_path)
    _report(root)
    (root / "tests" / "test_alpha.py").write_text("def test_nothing(impl):\n    assert impl\n")
    found = mutation.problems("alpha", root)
    assert len(found) == 1 and "tests/test_alpha.py changed" in found[0]


@pytest.mark.parametrize("kind, reason", [("", ""), ("equivalent", ""), ("guess", "it looks fine")])
def test_a_survivor_without_kind_and_reason_is_refused(tmp_path, kind, reason):
    root = _tree(tmp_path)
    _report(root, survivor=[{"id": "X#0", "line": 6, "before": "a", "after": "b", "kind": kind, "reason": reason}])
    found = mutation.problems("alpha", root)
    assert any("survivor X#0" in p and "has no reason" in p for p in found), found


def test_a_score_under_the_bar_is_refused(tmp_path):
    root = _tree(tmp_path)
    survivors = [{"id": f"X#{i}", "line": 6, "before": "a", "after": "b", "kind": "open",
                  "reason": "the docstring says 'never below low', not what happens at low"} for i in range(3)]
    _report(root, killed=97, mutants=100, survivor=survivors)
    found = mutation.problems("alpha", root)
    assert found == [f"alpha: mutation score 97.0% is under {mutation.BAR:.0f}%: kill more survivors"]


def test_rewriting_a_report_keeps_the_reasons_of_the_same_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(mutation.manifest, "ROOT", tmp_path)
    old = {"survivor": [{"id": "ReplaceComparisonOperator_Lt_LtE#0", "before": "if x < low:", "after": "if x <= low:",
                         "kind": "equivalent", "reason": "same value at the boundary"}]}
    same = mutation.Mutant("ReplaceComparisonOperator_Lt_LtE#3", 9, "if x < low:", "if x <= low:", "")
    other = mutation.Mutant("ReplaceComparisonOperator_Lt_Gt#4", 9, "if x < low:", "if x > low:", "")
    result = {"topic": "alpha", "solution_sha256": "s", "tests_sha256": "t", "mutants": 10, "killed": 8,
              "timeouts": 0, "seconds": 1.0, "survivors": [same, other]}
    mutation.write(result, old)
    kept = {s["id"]: s for s in mutation.load("alpha", tmp_path)["survivor"]}
    assert kept["ReplaceComparisonOperator_Lt_LtE#3"]["reason"] == "same value at the boundary"
    assert kept["ReplaceComparisonOperator_Lt_Gt#4"]["kind"] == ""
