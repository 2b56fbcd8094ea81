"""Sessions of the PyTorch kata. Every session runs in the current environment (python=False):
activate the virtual environment you installed requirements.txt into, and nox never creates one
or reinstalls torch. `nox -l` lists the sessions; plain `nox` runs the default one."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import nox

# The maintainers' sessions need solutions/ and mutants/, which the student edition does not ship.
MAINTAINERS = (Path(__file__).parent / "solutions").is_dir()

nox.options.sessions = ["solutions"] if MAINTAINERS else ["exercises"]
nox.options.default_venv_backend = "none"


class _NoUvNote(logging.Filter):
    """nox looks for uv even for sessions that create no environment, and says so on every call."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "uv binary not found" not in record.getMessage()


logging.getLogger("nox").addFilter(_NoUvNote())


def _python(session: nox.Session, *args: str) -> None:
    session.run(sys.executable, *args, external=True)


def _maintainers(fn):
    """Register the session only where solutions/ exists (so `nox -l` lists only what runs)."""
    return nox.session(python=False, default=False)(fn) if MAINTAINERS else fn


@nox.session(python=False, default=not MAINTAINERS)
def exercises(session: nox.Session) -> None:
    """Run the suite on your exercises (the same as plain `pytest`)."""
    _python(session, "-m", "pytest", *session.posargs)


@nox.session(python=False, default=False)
def watch(session: nox.Session) -> None:
    """Rerun a topic's tests on every save of your file: nox -s watch -- autograd."""
    _python(session, "-m", "kata.learn.watch", *session.posargs)


@nox.session(python=False, default=False)
def hint(session: nox.Session) -> None:
    """Reveal the next hint of an exercise: nox -s hint -- autograd.linear_backward."""
    _python(session, "-m", "kata.learn.hint", *session.posargs)


@nox.session(python=False, default=False)
def progress(session: nox.Session) -> None:
    """Every exercise's status from your last runs, without running anything."""
    _python(session, "-m", "kata.learn.progress", *session.posargs)


@nox.session(python=False, default=False)
def reset(session: nox.Session) -> None:
    """Put one exercise back as shipped, the rest of the file untouched: nox -s reset -- tensors.move_to."""
    _python(session, "-m", "kata.learn.reset", *session.posargs)


if (Path(__file__).parent / "kata" / "learn" / "reference.pack").is_file():  # the self-paced edition only

    @nox.session(python=False, default=False)
    def solution(session: nox.Session) -> None:
        """Show an exercise's reference once all its tests pass: nox -s solution -- tensors.move_to."""
        _python(session, "-m", "kata.learn.solution", *session.posargs)


@_maintainers
def solutions(session: nox.Session) -> None:
    """Run the whole suite on the reference solutions (all pass)."""
    _python(session, "-m", "pytest", "--solutions", *session.posargs)


@_maintainers
def check(session: nox.Session) -> None:
    """Prove the suite both ways: lint, drift, conventions, solutions pass, exercises fail, mutants rejected."""
    _python(session, "-m", "kata.maintain.prove", *session.posargs)


@_maintainers
def notebooks(session: nox.Session) -> None:
    """Write notebooks/<topic>.ipynb from exercises/ and the manifest (pip install -r requirements-notebooks.txt)."""
    _python(session, "-m", "kata.maintain.notebook_build", *session.posargs)


@_maintainers
def cuda(session: nox.Session) -> None:
    """On a machine with a GPU: every CUDA-marked test on the solutions, then the CUDA-only mutants."""
    _python(session, "-m", "pytest", "--solutions", "-m", "cuda", "-rs", *session.posargs)
    _python(session, "-m", "kata.maintain.mutants", "--cuda-only")


@_maintainers
def mutation(session: nox.Session) -> None:
    """Mutation-test the suite (cosmic-ray), write mutants/<topic>/report.toml: nox -s mutation -- tensors."""
    _python(session, "-m", "kata.maintain.mutation", *session.posargs)


@_maintainers
def bench(session: nox.Session) -> None:
    """Time each topic's tests as whole processes against the bare torch import."""
    _python(session, "-m", "kata.maintain.bench", *session.posargs)


@_maintainers
def lint(session: nox.Session) -> None:
    """Lint with ruff."""
    _python(session, "-m", "ruff", "check", ".", *session.posargs)


@_maintainers
def grade(session: nox.Session) -> None:
    """Grade a class: nox -s grade -- SUBMISSION... (see kata/grading/grade.py for the options)."""
    _python(session, "-m", "kata.grading.grade", *session.posargs)


@_maintainers
def gradescope(session: nox.Session) -> None:
    """Write the Gradescope autograder, DEST/autograder.zip, from the last commit: nox -s gradescope -- DEST."""
    _python(session, "-m", "kata.grading.gradescope", *session.posargs)


@_maintainers
def prairielearn(session: nox.Session) -> None:
    """Write a PrairieLearn course fragment and its grader image's build folder: nox -s prairielearn -- DEST."""
    _python(session, "-m", "kata.grading.prairielearn", *session.posargs)


@_maintainers
def release(session: nox.Session) -> None:
    """Write the student edition (no solutions, no mutants) from the last commit: nox -s release -- DEST."""
    _python(session, "-m", "kata.maintain.release", *session.posargs)
