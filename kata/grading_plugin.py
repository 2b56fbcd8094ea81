"""pytest plugin used only inside a grading process (`python -m kata.grade`), loaded with
`-p kata.grading_plugin --kata-results=FILE`.

Before any submission code is imported it:
- takes the run's nonce out of the environment (results without it are not trusted),
- installs an audit hook that refuses to open, list or import the grading repository's
  solutions/ and mutants/, to write anywhere in the grading repository, and to start other
  programs or signal other processes,
- keeps references to the assertion helpers, so a submission that replaces them is caught.
After the run it writes every test's outcome, the canary outcomes and any tampering it saw.
The canaries (canary/test_canary.py in the sandbox) must fail; if one passes, an assertion
helper was disarmed and the topic is marked tampered. This is defence in depth for honest
grading, not a security boundary: run untrusted code in a container as well.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

from kata import checks


def _guarded() -> dict[str, object]:
    """The assertion helpers as they are bound right now."""
    return {
        "kata.checks.fail": checks.fail,
        "kata.checks.expect": checks.expect,
        "kata.checks.expect_close": checks.expect_close,
        "kata.checks.expect_equal": checks.expect_equal,
        "kata.checks.expect_shape": checks.expect_shape,
        "torch.testing.assert_close": torch.testing.assert_close,
        "torch.allclose": torch.allclose,
        "torch.equal": torch.equal,
    }


_GUARDED_FUNCS = _guarded()  # taken when the plugin loads, before any submission is imported
_GUARDED_CODE = {name: getattr(fn, "__code__", None) for name, fn in _GUARDED_FUNCS.items()}
_FORBIDDEN_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn",
                     "os.kill", "os.killpg")


class _State:
    results_path: Path | None = None
    nonce = ""
    forbidden_dirs: tuple[str, ...] = ()
    readonly_dirs: tuple[str, ...] = ()
    blocked: list[str] = []
    outcomes: dict[str, dict] = {}


def _inside(path: str, dirs: tuple[str, ...]) -> bool:
    return any(path == d or path.startswith(d + os.sep) for d in dirs)


def _writes(event: str, args: tuple) -> bool:
    if event != "open" or len(args) < 3:
        return event in ("os.remove", "os.rename", "os.rmdir", "os.truncate", "shutil.rmtree", "os.mkdir")
    mode, flags = args[1], args[2]
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC))


def _audit(event: str, args: tuple) -> None:
    if args and isinstance(args[0], (str, bytes, os.PathLike)) and event in (
        "open", "os.listdir", "os.scandir", "os.remove", "os.rename", "os.rmdir", "os.truncate", "shutil.rmtree",
        "os.mkdir",
    ):
        path = os.path.realpath(os.fsdecode(args[0]))
        if _inside(path, _State.forbidden_dirs) or (_writes(event, args) and _inside(path, _State.readonly_dirs)):
            _State.blocked.append(f"{event} {path}")
            raise PermissionError(f"grading: {path} is off limits to a submission")
    elif event == "import" and args and str(args[0]).split(".")[0] in ("solutions", "mutants"):
        _State.blocked.append(f"import {args[0]}")
        raise ImportError(f"grading: importing {args[0]} is off limits to a submission")
    elif event.startswith(_FORBIDDEN_EVENTS):
        _State.blocked.append(event)
        raise PermissionError(f"grading: {event} is off limits to a submission")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kata-results", metavar="FILE", help="(grading) write outcomes to FILE")
    parser.addoption("--kata-forbid", action="append", default=[], metavar="DIR",
                     help="(grading) a folder the submission may not read")
    parser.addoption("--kata-readonly", action="append", default=[], metavar="DIR",
                     help="(grading) a folder the submission may not write to")
    parser.addoption("--kata-collect", metavar="FILE",
                     help="(grading) write the collected tests (nodeid, points, cuda, canary) to FILE")


def pytest_collection_finish(session: pytest.Session) -> None:
    path = session.config.getoption("--kata-collect")
    if path:
        Path(path).write_text(json.dumps([
            {"nodeid": it.nodeid, "points": float(it.get_closest_marker("points").args[0])
             if it.get_closest_marker("points") else 1.0,
             "cuda": it.get_closest_marker("cuda") is not None, "canary": it.get_closest_marker("canary") is not None}
            for it in session.items]))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "canary: a grading canary, which must fail")
    path = config.getoption("--kata-results")
    if not path:
        return
    _State.results_path = Path(path)
    _State.nonce = os.environ.pop("KATA_GRADE_NONCE", "")
    _State.forbidden_dirs = tuple(os.path.realpath(d) for d in config.getoption("--kata-forbid"))
    _State.readonly_dirs = tuple(os.path.realpath(d) for d in config.getoption("--kata-readonly"))
    sys.addaudithook(_audit)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _State.outcomes.setdefault(report.nodeid, {"outcome": "passed", "output": ""})
    if report.failed or report.skipped:
        if entry["outcome"] != "failed":
            entry["outcome"] = "failed" if report.failed else "skipped"
            text = str(report.longrepr) if report.longrepr is not None else ""
            if report.skipped and isinstance(report.longrepr, tuple):
                text = report.longrepr[2]
            entry["output"] = text[-3000:]
    elif report.when == "call" and entry["outcome"] == "passed":
        entry["called"] = True


def _tampering() -> list[str]:
    found = []
    live = _guarded()
    for name, fn in live.items():
        if fn is not _GUARDED_FUNCS[name] or getattr(fn, "__code__", None) is not _GUARDED_CODE[name]:
            found.append(f"{name} was replaced")
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _State.results_path is None:
        return
    tests = {k: v for k, v in _State.outcomes.items() if "canary" not in k.split("::")[0]}
    canaries = {k: v["outcome"] for k, v in _State.outcomes.items() if "canary" in k.split("::")[0]}
    payload = {
        "nonce": _State.nonce,
        "tests": tests,
        "canaries": canaries,
        "tampering": _tampering(),
        "blocked": _State.blocked[:20],
    }
    _State.results_path.write_text(json.dumps(payload))
