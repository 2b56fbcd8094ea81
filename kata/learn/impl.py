"""Load a topic's implementation (exercises/, solutions/ or any folder) by file path, or take it
in-process from a notebook's namespace (`InProcess`, used by kata.learn.notebook.check).

Tests never import `exercises` or `solutions`: they receive the module through the `impl` fixture,
which calls `load_topic` (or `InProcess.load`). A missing or broken file becomes a failure that says
so; nothing ever falls back to the reference solutions.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType


class ImplementationError(Exception):
    """The topic's file is missing or could not be imported; the message says which and why,
    `summary` says it in one line (for the progress summary's `next:`)."""

    def __init__(self, message: str, summary: str):
        super().__init__(message)
        self.summary = summary


_cache: dict[tuple[str, str], ModuleType | ImplementationError] = {}


def load_topic(topic: str, impl_dir: Path) -> ModuleType:
    """Import `<impl_dir>/<topic>.py` once per process; raise ImplementationError on any failure."""
    impl_dir = Path(impl_dir).resolve()
    key = (str(impl_dir), topic)
    if key not in _cache:
        _cache[key] = _import(topic, impl_dir)
    found = _cache[key]
    if isinstance(found, ImplementationError):
        raise found
    return found


def _import(topic: str, impl_dir: Path) -> ModuleType | ImplementationError:
    path = impl_dir / f"{topic}.py"
    if not path.is_file():
        return ImplementationError(
            f"{topic}: there is no {path.name} in {impl_dir}. Every topic is graded from the file of "
            f"the same name in the chosen folder (never from the solutions): copy exercises/{path.name} "
            "there and work in it.",
            f"there is no {path}",
        )
    name = f"kata_impl_{abs(hash(str(impl_dir))):x}_{topic}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up while it executes
    try:
        # compiled from the source every time, never from __pycache__: two saves within the same
        # second and of the same size would otherwise run the stale bytecode of the first
        exec(compile(path.read_bytes(), str(path), "exec"), module.__dict__)
    except BaseException as exc:  # noqa: BLE001 - a learner's file may raise anything, SystemExit included
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        line = exc.lineno if isinstance(exc, SyntaxError) else getattr(_frame(exc, path), "lineno", None)
        at = f" at line {line}" if line else ""
        return ImplementationError(f"{topic}: {path} does not import, so no test of this topic can run:\n"
                                   f"{_where(exc, path)}", f"{path} does not import: {type(exc).__name__}{at}")
    return module


def _where(exc: BaseException, path: Path) -> str:
    """The error and the line of the learner's file it came from (a SyntaxError carries its own)."""
    text = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    if isinstance(exc, SyntaxError):
        return "  " + text.replace("\n", "\n  ")
    frame = _frame(exc, path)
    if frame is not None:
        return f"  {path}, line {frame.lineno}, at import: {(frame.line or '').strip()}\n  {text}"
    return "  " + text


def _frame(exc: BaseException, path: Path) -> traceback.FrameSummary | None:
    """The innermost frame of the traceback that ran in the learner's file."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
    return frames[-1] if frames else None


class InProcess:
    """Topics graded from modules handed over in-process instead of a folder's files: a notebook's
    namespace (kata.learn.notebook.check). Given to `pytest.main(..., plugins=[InProcess(...)])`, where
    kata/learn/plugin.py finds it; each call of pytest.main gets its own, so nothing outlives a run."""

    def __init__(self, modules: dict[str, ModuleType], where: str, hint_command: str):
        self.modules = modules
        self.where = where  # what messages and the progress summary call it, e.g. "your notebook"
        self.hint_command = hint_command  # how to ask for the next hint there, with {qualname}

    def load(self, topic: str) -> ModuleType:
        if topic not in self.modules:
            raise ImplementationError(f"{topic}: {self.where} was not given the code of this topic, so no test "
                                      "of it can run here", f"{self.where} holds no code of {topic}")
        return self.modules[topic]


class Implementation:
    """The module under test, with a teaching failure for a name the curriculum requires but the file lacks."""

    def __init__(self, topic: str, module: ModuleType, where: str | None = None):
        self._topic = topic
        self.module = module
        self._where = where or module.__file__

    def __getattr__(self, name: str):
        try:
            return getattr(self.module, name)
        except AttributeError:
            raise AttributeError(
                f"{self._topic}.{name} is missing from {self._where}: the curriculum's API "
                f"requires it (see exercises/{self._topic}.py for its signature and docstring)."
            ) from None

    def __repr__(self) -> str:
        return f"<implementation of {self._topic} from {self._where}>"
