"""pytest plugin used only inside a grading process (`python -m kata.grading.grade`), loaded with
`-p kata.grading.grading_plugin --kata-results=FILE`.

Before any submission code is imported it:
- takes the run's nonce out of the environment (results without it are not trusted),
- installs an audit hook that refuses to open, list or import the folders named by
  --kata-forbid (the grading repository's solutions/, mutants/ and alternatives/, every
  submission, the other jobs), to write anywhere but the job's own folder (--kata-writable), to
  use the network, and to start other programs or signal other processes; what it refused is
  reported, and the topic scores 0 with it,
- keeps references to the assertion helpers, so a submission that replaces them is caught.
During the run, a test that runs past the per-test timeout costs only what hangs: the function of
the submission it was stuck in is disarmed (every later call fails at once, with the reason), so
the tests that do not call it keep their points and no later test waits for it again. Where that
function cannot be told or disarmed (stuck outside the submission's file, or a closure), the
exercise's remaining tests fail at once with the reason instead.
After the run it writes every test's outcome, the canary outcomes and any tampering it saw.
The canaries (canary/test_canary.py in the sandbox) must fail; if one passes, an assertion
helper was disarmed and the topic is marked tampered. This is defence in depth: where bubblewrap
works, the OS sandbox of kata/grading/sandbox.py is the security boundary.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import traceback
import types
from pathlib import Path

import pytest
import torch

from kata.grading import hidden
from kata.learn import checks


def _guarded() -> dict[str, object]:
    """The assertion helpers as they are bound right now."""
    return {
        "kata.learn.checks.fail": checks.fail,
        "kata.learn.checks.expect": checks.expect,
        "kata.learn.checks.expect_close": checks.expect_close,
        "kata.learn.checks.expect_equal": checks.expect_equal,
        "kata.learn.checks.expect_shape": checks.expect_shape,
        "torch.testing.assert_close": torch.testing.assert_close,
        "torch.allclose": torch.allclose,
        "torch.equal": torch.equal,
    }


_GUARDED_FUNCS = _guarded()  # taken when the plugin loads, before any submission is imported
_GUARDED_CODE = {name: getattr(fn, "__code__", None) for name, fn in _GUARDED_FUNCS.items()}
_FORBIDDEN_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn",
                     "os.kill", "os.killpg", "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg",
                     "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr")
_ALWAYS_WRITABLE = ("/dev/null", "/dev/shm")
_TIMEOUT_SIGN = "Timeout (>"  # how pytest-timeout's signal method words a test that ran too long


class _State:
    results_path: Path | None = None
    nonce = ""
    forbidden_dirs: tuple[str, ...] = ()
    writable_dirs: tuple[str, ...] = ()  # when set, the only places a submission may write
    blocked: list[str] = []
    outcomes: dict[str, dict] = {}
    timed_out: dict[str, str] = {}  # "<test file>::<exercise>" -> why its remaining tests fail at once


def _inside(path: str, dirs: tuple[str, ...]) -> bool:
    return any(path == d or path.startswith(d + os.sep) for d in dirs)


# audit events that name paths: which arguments are paths, and whether the event writes
_PATH_EVENTS = {"open": ((0,), None), "os.listdir": ((0,), False), "os.scandir": ((0,), False),
                "os.remove": ((0,), True), "os.rmdir": ((0,), True), "os.truncate": ((0,), True),
                "shutil.rmtree": ((0,), True), "os.mkdir": ((0,), True), "os.chmod": ((0,), True),
                "os.chown": ((0,), True), "os.utime": ((0,), True), "os.rename": ((0, 1), True),
                "os.symlink": ((1,), True), "os.link": ((1,), True)}


def _opens_for_writing(args: tuple) -> bool:
    mode, flags = (args + (None, 0))[1:3]
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return bool((flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC))


def _audit(event: str, args: tuple) -> None:
    if event in _PATH_EVENTS:
        positions, writes = _PATH_EVENTS[event]
        writes = _opens_for_writing(args) if writes is None else writes
        for i in positions:
            if i < len(args) and isinstance(args[i], (str, bytes, os.PathLike)):
                _check_path(event, os.path.realpath(os.fsdecode(args[i])), writes)
    elif event == "import" and args and str(args[0]).split(".")[0] in ("solutions", "mutants", "alternatives"):
        _State.blocked.append(f"import {args[0]}")
        raise ImportError(f"grading: importing {args[0]} is off limits to a submission")
    elif event.startswith(_FORBIDDEN_EVENTS):
        _State.blocked.append(event)
        raise PermissionError(f"grading: {event} is off limits to a submission")


def _check_path(event: str, path: str, writes: bool) -> None:
    if _inside(path, _State.writable_dirs):
        return  # the job's own folder, even where it lies inside a forbidden one
    if _inside(path, _State.forbidden_dirs) or (
            writes and _State.writable_dirs and not _inside(path, _ALWAYS_WRITABLE)):
        _State.blocked.append(f"{event} {path}")
        raise PermissionError(f"grading: {path} is off limits to a submission")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kata-results", metavar="FILE", help="(grading) write outcomes to FILE")
    parser.addoption("--kata-forbid", action="append", default=[], metavar="DIR",
                     help="(grading) a folder the submission may not read")
    parser.addoption("--kata-writable", action="append", default=[], metavar="DIR",
                     help="(grading) a folder the submission may write to (given: the only ones)")
    parser.addoption("--kata-collect", metavar="FILE",
                     help="(grading) write the collected tests (nodeid, exercise, points, cuda, canary) to FILE")


def _visibility(item: pytest.Item) -> str:
    """Gradescope's visibility of a test: its marker's, else visible (public) or hidden.DEFAULT_VISIBILITY."""
    mark = item.get_closest_marker("visibility")
    if mark is None:
        return hidden.DEFAULT_VISIBILITY if hidden.is_hidden(item.nodeid) else "visible"
    value = str(mark.args[0]) if mark.args else ""
    if value not in hidden.VISIBILITY:
        raise pytest.UsageError(f"{item.nodeid}: visibility({value!r}) is not one of {', '.join(hidden.VISIBILITY)}")
    return value


def pytest_collection_finish(session: pytest.Session) -> None:
    path = session.config.getoption("--kata-collect")
    if path:
        Path(path).write_text(json.dumps([
            {"nodeid": it.nodeid, "exercise": _exercise(it), "points": float(it.get_closest_marker("points").args[0])
             if it.get_closest_marker("points") else 1.0, "visibility": _visibility(it),
             "cuda": it.get_closest_marker("cuda") is not None, "canary": it.get_closest_marker("canary") is not None}
            for it in session.items]))


def _hidden_message(call: pytest.CallInfo) -> str:
    """What a failed hidden test tells the student: the failure's message, never a line of the test."""
    exc = call.excinfo.value
    text = str(exc)
    if _TIMEOUT_SIGN in text:
        return "it ran past the per-test timeout (a loop that never ends?)"
    if isinstance(exc, AssertionError) and (not text or text.startswith("assert ")):
        return "a check of this hidden test did not hold"  # a plain assert's message is its source
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, pytest.fail.Exception) else text


def _exercise(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("exercise")
    return str(mark.args[0]) if mark and mark.args else None


def _exercise_key(item: pytest.Item) -> str | None:
    name = _exercise(item)
    return f"{item.nodeid.split('::')[0]}::{name}" if name else None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _State.timed_out.get(_exercise_key(item) or "")
    if reason:
        pytest.fail(reason, pytrace=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)  # the outermost wrapper: a hidden test's report is cut last,
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # after the learner's plugin wrote its lesson
    report = yield
    key = _exercise_key(item)
    if key and key not in _State.timed_out and call.excinfo is not None and _TIMEOUT_SIGN in str(call.excinfo.value):
        test = item.nodeid.split("::")[-1]
        if not _disarm(call.excinfo.tb, item.config.getoption("--impl-dir", None), test):
            _State.timed_out[key] = (f"not run: {_exercise(item)} already ran past the per-test timeout in {test} "
                                     "(a loop that never ends?); the rest of its tests fail at once, and the "
                                     "other exercises' tests still run")
    if hidden.is_hidden(item.nodeid) and report.failed:  # the failure's message alone: no line of the test
        report.longrepr = f"hidden test ({call.when}): " + (
            _hidden_message(call) if call.excinfo is not None else "failed")
        report.sections = []
    return report


def _disarm(tb, impl_dir: str | None, test: str) -> bool:
    """Make the submission's function that `tb` was stuck in fail at once from now on; True if done."""
    if not impl_dir:
        return False
    folder = os.path.realpath(impl_dir)
    stuck = [frame.f_code for frame, _ in traceback.walk_tb(tb)
             if _inside(os.path.realpath(frame.f_code.co_filename), (folder,))]
    if not stuck or stuck[-1].co_freevars or stuck[-1].co_name == "<module>":
        return False
    code = stuck[-1]
    reason = (f"not run: {code.co_qualname} ({os.path.basename(code.co_filename)}, line {code.co_firstlineno}) ran "
              f"past the per-test timeout in {test} (a loop that never ends?); every later call of it fails at once, "
              "and the tests that do not call it still count")
    stand_in: dict = {}
    exec(compile(f"def stand_in(*args, **kwargs):\n    raise __import__('pytest').fail.Exception({reason!r}, "
                 "pytrace=False)\n", "<grading>", "exec"), stand_in)
    functions = [f for f in gc.get_referrers(code) if isinstance(f, types.FunctionType) and f.__code__ is code]
    for f in functions:
        f.__code__ = stand_in["stand_in"].__code__
    return bool(functions)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "canary: a grading canary, which must fail")
    config.addinivalue_line("markers", "visibility(v): Gradescope's visibility of a hidden test's result "
                            "(hidden, after_due_date, after_published, visible)")
    path = config.getoption("--kata-results")
    if not path:
        return
    _State.results_path = Path(path)
    _State.nonce = os.environ.pop("KATA_GRADE_NONCE", "")
    _State.forbidden_dirs = tuple(os.path.realpath(d) for d in config.getoption("--kata-forbid"))
    _State.writable_dirs = tuple(os.path.realpath(d) for d in config.getoption("--kata-writable"))
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
