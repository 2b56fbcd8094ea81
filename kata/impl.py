"""Load a topic's implementation (exercises/, solutions/ or any folder) by file path.

Tests never import `exercises` or `solutions`: they receive the module through the `impl` fixture,
which calls `load_topic`. A missing or broken file becomes a failure that says so; nothing ever
falls back to the reference solutions.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType


class ImplementationError(Exception):
    """The topic's file is missing or could not be imported; the message says which and why."""


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
            "there and work in it."
        )
    name = f"kata_impl_{abs(hash(str(impl_dir))):x}_{topic}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up while it executes
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - a learner's file may raise anything, SystemExit included
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        where = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return ImplementationError(f"{topic}: importing {path} failed, so no test of this topic can run:\n{where}")
    return module


class Implementation:
    """The module under test, with a teaching failure for a name the curriculum requires but the file lacks."""

    def __init__(self, topic: str, module: ModuleType):
        self._topic = topic
        self.module = module

    def __getattr__(self, name: str):
        try:
            return getattr(self.module, name)
        except AttributeError:
            raise AttributeError(
                f"{self._topic}.{name} is missing from {self.module.__file__}: the curriculum's API "
                f"requires it (see exercises/{self._topic}.py for its signature and docstring)."
            ) from None

    def __repr__(self) -> str:
        return f"<implementation of {self._topic} from {self.module.__file__}>"
