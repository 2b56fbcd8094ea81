"""The topic checklist (kata/maintain/checklist.py) on small trees the tests build: complete, then missing one
piece or holding one stray file at a time; each is refused with a message naming it."""

from __future__ import annotations

import pytest

from kata.maintain import checklist

MANIFEST = """
[topics.alpha]
title = "Alpha"
weight = 1.0
[topics.alpha.exercises.f]
hints = ["one", "two"]
[topics.alpha.exercises.demo]
hints = ["one", "two"]
[topics.alpha.pitfalls]
wrong_f = "f is wrong"

[topics.beta]
title = "Beta"
weight = 2.0
[topics.beta.exercises.g]
hints = ["one", "two"]
[topics.beta.exercises.demo]
hints = ["one", "two"]
[topics.beta.pitfalls]
wrong_g = "g is wrong"
"""

README = """# kata
## The curriculum
| # | topic | you write | pitfall |
|---|-------|-----------|---------|
| 1 | `alpha` | f | wrong f |
| 2 | `beta` | g | wrong g |
"""


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "kata").mkdir()
    (tmp_path / "kata" / "curriculum.toml").write_text(MANIFEST)
    (tmp_path / "README.md").write_text(README)
    for topic, pitfall in (("alpha", "wrong_f"), ("beta", "wrong_g")):
        for path in (f"exercises/{topic}.py", f"solutions/{topic}.py", f"tests/test_{topic}.py",
                     f"demos/{topic}.py", f"mutants/{topic}/{pitfall}.py"):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text("")
    (tmp_path / "demos" / "__init__.py").write_text("")
    return tmp_path


def test_a_complete_tree_has_no_problem(tree):
    assert checklist.problems(tree) == []


@pytest.mark.parametrize("path", ["exercises/beta.py", "solutions/beta.py", "tests/test_beta.py", "demos/beta.py"])
def test_a_topic_missing_a_file_is_refused_naming_it(tree, path):
    (tree / path).unlink()
    assert checklist.problems(tree) == [f"beta: {path} is missing"]


def test_a_stray_mutant_is_refused_naming_it(tree):
    (tree / "mutants" / "beta" / "unlisted.py").write_text("")
    assert checklist.problems(tree) == [
        "beta: mutants/beta/unlisted.py is not listed under [topics.beta.pitfalls] (a stray mutant)"]


def test_a_pitfall_without_its_mutant_is_refused(tree):
    (tree / "mutants" / "alpha" / "wrong_f.py").unlink()
    assert checklist.problems(tree) == ["alpha: pitfall 'wrong_f' (f is wrong) has no mutants/alpha/wrong_f.py"]


@pytest.mark.parametrize("path", ["exercises/gamma.py", "solutions/gamma.py", "demos/gamma.py", "tests/test_gamma.py",
                                  "mutants/gamma/x.py", "alternatives/gamma/x.py"])
def test_a_file_of_no_topic_is_refused_naming_it(tree, path):
    (tree / path).parent.mkdir(parents=True, exist_ok=True)
    (tree / path).write_text("")
    found = checklist.problems(tree)
    assert len(found) == 1 and "belongs to no topic" in found[0] and path.split("/")[1].split(".")[0] in found[0]


def test_a_topic_missing_from_the_readme_table_is_refused(tree):
    (tree / "README.md").write_text(README.replace("| 2 | `beta` | g | wrong g |\n", ""))
    assert checklist.problems(tree) == ["beta: no row in the README's curriculum table"]


def test_the_readme_table_must_follow_the_manifest_order(tree):
    (tree / "README.md").write_text(README.replace("| 1 | `alpha`", "| 9 | `alpha`"))
    assert len(checklist.problems(tree)) == 1 and "1..2" in checklist.problems(tree)[0]


def test_an_exercise_with_one_hint_and_a_topic_without_demo_are_refused(tree):
    text = MANIFEST.replace('exercises.f]\nhints = ["one", "two"]', 'exercises.f]\nhints = ["one"]')
    text = text.replace('[topics.beta.exercises.demo]\nhints = ["one", "two"]\n', "")
    (tree / "kata" / "curriculum.toml").write_text(text)
    assert checklist.problems(tree) == [
        "alpha.f: 1 hint(s), at least 2 wanted",
        "beta: no `demo` exercise in kata/curriculum.toml (its demo's smoke test grades it)"]
