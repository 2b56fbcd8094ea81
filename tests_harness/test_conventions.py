"""kata.maintain.conventions: a clean tree reports nothing, and each broken convention is reported once, where it is."""

from __future__ import annotations

import re

import pytest

from kata.maintain import conventions

DIVIDER = "# " + "-" * 64

CLEAN = {
    "kata/curriculum.toml": """\
[topics.alpha]
title = "Alpha"

[topics.alpha.exercises.add]
hints = ["one", "two"]

[topics.alpha.exercises.Widget]
hints = ["one", "two"]
""",
    "tests/test_alpha.py": f'''\
"""alpha: adding numbers, and a widget."""

from __future__ import annotations

import pytest

add = pytest.mark.exercise("add")
Widget = pytest.mark.exercise("Widget")


{DIVIDER} add
@add
def test_add(impl):
    assert impl.add(1, 2) == 3
''',
    "exercises/alpha.py": '''\
"""alpha: adding numbers, and a widget."""

from __future__ import annotations


def add(a, b):
    """a + b."""
    raise NotImplementedError("alpha.add: add them")


class Widget:
    """A widget."""


if __name__ == "__main__":  # python -m exercises.alpha: the demo
    pass
''',
    "solutions/alpha.py": f'''\
"""alpha: adding numbers, and a widget."""

from __future__ import annotations


{DIVIDER} add
def add(a, b):
    """a + b."""
    return a + b


class Widget:
    """A widget."""


if __name__ == "__main__":  # python -m solutions.alpha: the demo
    pass
''',
    "kata/__init__.py": '"""The machinery."""\n',
    "kata/core/__init__.py": "",
    "kata/core/manifest.py": "from __future__ import annotations\n\nimport tomllib\n",
    "kata/learn/__init__.py": "",
    "kata/learn/plugin.py": "from __future__ import annotations\n\nfrom kata.core import manifest\n",
    "kata/maintain/__init__.py": "",
    "kata/maintain/prove.py": "from __future__ import annotations\n\nfrom kata.learn import plugin\n",
    "mutants/alpha/add_subtracts.py": '''\
"""Pitfall: add subtracts the second number (alpha.add).

A longer explanation may follow.
"""

from __future__ import annotations

from solutions import alpha as reference
from solutions.alpha import *  # noqa: F403


def add(a, b):
    return reference.add(a, -b)
''',
}


def _tree(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _broken(rel, old, new):
    files = dict(CLEAN)
    assert old in files[rel], f"the clean tree has no {old!r} in {rel}"
    files[rel] = files[rel].replace(old, new, 1)
    return files


def test_a_clean_tree_reports_nothing(tmp_path, capsys):
    root = _tree(tmp_path, CLEAN)
    assert conventions.problems(root) == []
    assert conventions.main([str(root)]) == 0
    assert "conventions: 0 problem(s)" in capsys.readouterr().out


BROKEN = {
    "alias named unlike its exercise": (
        _broken("tests/test_alpha.py", 'add = pytest.mark.exercise("add")', 'adder = pytest.mark.exercise("add")'),
        "marker", "tests/test_alpha.py:7"),
    "exercise without an alias": (
        _broken("tests/test_alpha.py", 'Widget = pytest.mark.exercise("Widget")\n', ""),
        "marker", "tests/test_alpha.py:1"),
    "divider in another style": (
        _broken("solutions/alpha.py", f"{DIVIDER} add", "# --- add ---"),
        "divider", "solutions/alpha.py:6"),
    "divider of a boxed section": (
        _broken("exercises/alpha.py", "\n\ndef add", "\n\n# ==========================\n\ndef add"),
        "divider", "exercises/alpha.py:6"),
    "mutant importing a name from solutions": (
        _broken("mutants/alpha/add_subtracts.py", "from solutions import alpha as reference",
                "from solutions.alpha import add as _add"),
        "mutant-import", "mutants/alpha/add_subtracts.py:8"),
    "mutant importing solutions under another alias": (
        _broken("mutants/alpha/add_subtracts.py", "from solutions import alpha as reference",
                "import solutions.alpha as reference"),
        "mutant-import", "mutants/alpha/add_subtracts.py:8"),
    "a back-import from core to learn": (
        _broken("kata/core/manifest.py", "import tomllib\n", "import tomllib\n\nfrom kata.learn import plugin\n"),
        "rooms", "kata/core/manifest.py:5"),
    "a lazy back-import from learn to maintain": (
        _broken("kata/learn/plugin.py", "from kata.core import manifest\n",
                "from kata.core import manifest\n\n\ndef f():\n    import kata.maintain.prove\n"),
        "rooms", "kata/learn/plugin.py:7"),
    "a module directly in kata/": (
        {**CLEAN, "kata/helpers.py": "from __future__ import annotations\n"},
        "rooms", "kata/helpers.py:1"),
    "mutant docstring without its exercise": (
        _broken("mutants/alpha/add_subtracts.py", "(alpha.add).", "."),
        "mutant-docstring", "mutants/alpha/add_subtracts.py:1"),
    "topic number in a module docstring": (
        _broken("solutions/alpha.py", '"""alpha: adding', '"""Topic 1 - alpha: adding'),
        "topic-number", "solutions/alpha.py:1"),
    "exercise pointing at solutions": (
        _broken("exercises/alpha.py", "python -m exercises.alpha", "python -m solutions.alpha"),
        "exercise-solutions", "exercises/alpha.py:15"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_each_broken_convention_is_reported_once_where_it_is(tmp_path, case):
    files, rule, where = BROKEN[case]
    found = conventions.problems(_tree(tmp_path, files))
    assert len(found) == 1, found
    assert found[0].startswith(f"{where}: [{rule}] "), found
    assert conventions.main([str(tmp_path)]) == 1


def test_a_kata_module_that_does_not_parse_is_reported_once(tmp_path):
    root = _tree(tmp_path, {**CLEAN, "kata/learn/plugin.py": "def broken(:\n"})
    found = conventions.problems(root)
    assert [p for p in found if "kata/learn/plugin.py" in p] == ["kata/learn/plugin.py:1: [parse] cannot be read as "
                                                                 "Python: SyntaxError"], found


def test_the_summary_counts_problems_per_rule(tmp_path, capsys):
    files = _broken("exercises/alpha.py", '"""alpha: adding', '"""Topic 1 - alpha: adding')
    files["exercises/alpha.py"] = files["exercises/alpha.py"].replace("exercises.alpha", "solutions.alpha")
    assert conventions.main([str(_tree(tmp_path, files))]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"conventions: 2 problem\(s\) \(exercise-solutions: 1, topic-number: 1\)", last), last
