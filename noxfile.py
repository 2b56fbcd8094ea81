"""Sessions of the PyTorch kata. Every session runs in the current environment (python=False):
activate the virtual environment you installed requirements.txt into, and nox never reinstalls
torch. `nox` alone runs the solutions; `nox -l` lists the sessions."""

from __future__ import annotations

import sys

import nox

nox.options.sessions = ["solutions"]
nox.options.default_venv_backend = "none"


def _python(session: nox.Session, *args: str) -> None:
    session.run(sys.executable, *args, external=True)


@nox.session(python=False)
def solutions(session: nox.Session) -> None:
    """Run the whole suite on the reference solutions (all pass)."""
    _python(session, "-m", "pytest", "--solutions", *session.posargs)


@nox.session(python=False, default=False)
def exercises(session: nox.Session) -> None:
    """Run the suite on your exercises (the same as plain `pytest`)."""
    _python(session, "-m", "pytest", *session.posargs)


@nox.session(python=False, default=False)
def hint(session: nox.Session) -> None:
    """Reveal the next hint of an exercise: nox -s hint -- autograd.linear_backward."""
    _python(session, "-m", "kata.hint", *session.posargs)


@nox.session(python=False, default=False)
def watch(session: nox.Session) -> None:
    """Rerun one topic's tests on every save: nox -s watch -- autograd."""
    topic = session.posargs[0] if session.posargs else ""
    target = f"tests/test_{topic}.py" if topic else "tests"
    _python(session, "-m", "pytest_watcher", "--now", "--clear", ".", target, "-x", *session.posargs[1:])


@nox.session(python=False, default=False)
def check(session: nox.Session) -> None:
    """Prove the suite both ways: lint, drift, conventions, solutions pass, exercises fail, mutants rejected."""
    _python(session, "-m", "kata.prove", *session.posargs)


@nox.session(python=False, default=False)
def bench(session: nox.Session) -> None:
    """Time each topic's tests as whole processes against the bare torch import."""
    _python(session, "-m", "kata.bench", *session.posargs)


@nox.session(python=False, default=False)
def lint(session: nox.Session) -> None:
    """Lint with ruff."""
    _python(session, "-m", "ruff", "check", ".", *session.posargs)


@nox.session(python=False, default=False)
def grade(session: nox.Session) -> None:
    """Grade a class: nox -s grade -- SUBMISSION... (see kata/grade.py for the options)."""
    _python(session, "-m", "kata.grade", *session.posargs)


@nox.session(python=False, default=False)
def release(session: nox.Session) -> None:
    """Write the student edition (no solutions, no mutants): nox -s release -- DEST."""
    _python(session, "-m", "kata.release", *session.posargs)
