"""Hidden tests: an instructor's extra tests, run at grading beside the public ones and never shipped.

`nox -s grade -- --hidden DIR ...` (and the Gradescope bundle built with `--hidden DIR`) takes the
folder DIR of test files named like the public ones, `test_<topic>.py`, written the same way:
tests reach the learner's code through the `impl` fixture, carry `@pytest.mark.exercise(name)`,
and may carry `@pytest.mark.points(n)` (default 1, as for a public test: a hidden test's points
join its topic's) and `@pytest.mark.visibility(v)` with one of Gradescope's values (VISIBILITY;
default DEFAULT_VISIBILITY: shown once the due date has passed). Public tests are "visible".

Grading copies them into the job's harness as the package PACKAGE (so their module names never
clash with tests/), reads DIR itself never again, and refuses the submission any read of DIR. A
hidden test's failure is reported without its source: the grading plugin builds its report from
the failure's message alone (a plain `assert` reads "a check of this hidden test did not hold"),
so neither results.json nor the instructor's log holds a line of it. The student edition
(`nox -s release`) is built from the repository and never holds DIR; keep DIR outside the
repository, or in a folder named `hidden/`, which the edition leaves out.

What hiding cannot do: the tests run in the same process as the submission, which could read its
own copy of them and print them into a failure of its own. Hidden tests keep a grade honest about
cases the learner did not see; they are not a secret store.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kata.core import manifest

VISIBILITY = ("hidden", "after_due_date", "after_published", "visible")  # Gradescope's values
DEFAULT_VISIBILITY = "after_due_date"
PACKAGE = "kata_hidden"  # template/kata_hidden/tests/test_<topic>.py: `impl` finds the topic by that name
BAKED = "hidden"  # a Gradescope bundle's or PrairieLearn image's folder of hidden tests (the edition leaves it out)


def files(folder: Path) -> dict[str, Path]:
    """Each topic's hidden test file in `folder`; SystemExit naming what is wrong with it."""
    if not folder.is_dir():
        raise SystemExit(f"grade: --hidden {folder}: not a folder")
    found, topics = {}, manifest.topic_names()
    for path in sorted(folder.glob("*.py")):
        topic = path.stem[len("test_"):] if path.stem.startswith("test_") else ""
        if topic not in topics:
            if path.name in ("__init__.py", "conftest.py"):
                raise SystemExit(f"grade: --hidden {folder}: {path.name} is not used; the public conftest applies")
            raise SystemExit(f"grade: --hidden {folder}: {path.name} is not test_<topic>.py for a topic of the "
                             f"manifest ({', '.join(topics)})")
        found[topic] = path
    if not found:
        raise SystemExit(f"grade: --hidden {folder}: no test_<topic>.py in it")
    return found


def baked_files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """The hidden tests of `folder` as a bundle's or image's files: BAKED/<name> -> (content, mode)."""
    return {f"{BAKED}/{path.name}": (path.read_bytes(), 0o644) for path in files(folder).values()}


def baked_args() -> list[str]:
    """`nox -s grade`'s --hidden for the tests baked into this bundle or image, where there are some."""
    return ["--hidden", str(manifest.ROOT / BAKED)] if (manifest.ROOT / BAKED).is_dir() else []


def test_path(topic: str) -> str:
    """Where a topic's hidden tests are inside a grading template."""
    return f"{PACKAGE}/tests/test_{topic}.py"


def test_files(template: Path, topic: str) -> list[str]:
    """A topic's test files in a grading template: the public one, and the hidden one where there is one."""
    return [f"tests/test_{topic}.py", *([test_path(topic)] if (template / test_path(topic)).is_file() else [])]


def install(folder: Path, template: Path) -> list[str]:
    """Copy the hidden tests of `folder` into `template`; return the topics that have some."""
    found = files(folder)
    (template / PACKAGE / "tests").mkdir(parents=True)
    for init in (template / PACKAGE / "__init__.py", template / PACKAGE / "tests" / "__init__.py"):
        init.write_text("")
    for topic, path in found.items():
        shutil.copy2(path, template / test_path(topic))
    return sorted(found)


def is_hidden(nodeid: str) -> bool:
    return nodeid.startswith(PACKAGE + "/")


def topic_of(nodeid: str) -> str:
    """The topic of a collected test, public (tests/test_<t>.py) or hidden."""
    return Path(nodeid.split("::")[0]).stem[len("test_"):]
