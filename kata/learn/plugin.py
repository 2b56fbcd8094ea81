"""The pytest plugin behind the kata (loaded by the top-level conftest.py).

- `--solutions` / `--impl-dir DIR` choose the folder whose `<topic>.py` files are graded
  (default: exercises/); kata.learn.notebook.check hands a notebook's namespace over in-process instead
  (`kata.learn.impl.InProcess`). Tests reach the code only through the `impl` fixture.
- Tests run in curriculum order (topic, then exercise, as in kata/curriculum.toml), so
  `pytest -x` stops at the next exercise to do; `--kata-first=<topic>.<exercise>` runs that
  exercise's tests first (the watch uses it for the exercise that failed last);
  `--kata-exercise=<topic>.<exercise>` runs only that exercise's tests (by its marker).
- `@pytest.mark.cuda` tests are skipped with a reason when CUDA is absent.
- Every test of tests/test_<topic>.py names its exercise: `@pytest.mark.exercise("name")`.
- A stub's NotImplementedError and a file that does not import are cheap to report and shown
  once (one line per unsolved exercise, one block per broken file); every such test still counts
  as failed.
- Every failure starts with its `[topic.exercise]` line: an exception from the learner's code or from
  inside torch (any type) is worded by kata/learn/explain.py (the call, its tensors, the likely cause;
  `--tb=long` keeps the raw traceback); a demo test whose topic has a failing exercise is one line.
- An exercise's name is a keyword of its tests (`pytest -k lm_loss`).
- After the run: progress per topic, skipped CUDA tests, the exercises none of whose tests can run here
  ("not checked here (needs CUDA)", never done), the next exercise with its first hint (a bug hunt's
  summary shows no hint: its failure is the symptom), and the outcomes saved for `nox -s progress`
  (kata/learn/progress.py).
"""

from __future__ import annotations

import argparse
import math
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from _pytest._code.code import ReprFileLocation, TerminalRepr
from _pytest.reports import TestReport

from kata.core import manifest, threads
from kata.learn import checks, explain, progress
from kata.learn.impl import Implementation, ImplementationError, InProcess, load_topic

_IMPL_DIR = pytest.StashKey[Path]()
_IN_PROCESS = pytest.StashKey[InProcess | None]()  # the notebook's code, when kata.learn.notebook.check runs
_OUTCOMES = pytest.StashKey[dict]()  # nodeid -> "passed" | "failed" | "skipped"
_CONDENSED = pytest.StashKey[dict]()  # nodeid -> ("stub", message) | ("import", message)
_ITEMS = pytest.StashKey[list]()
_DESELECTED = pytest.StashKey[dict]()  # topic -> tests deselected by -k / -m


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kata", "PyTorch kata")
    shipped = (manifest.ROOT / "solutions").is_dir()  # the student edition offers nothing it cannot run
    group.addoption("--solutions", action="store_true",
                    help="grade the reference solutions/ instead of exercises/" if shipped else argparse.SUPPRESS)
    group.addoption("--impl-dir", metavar="DIR", help="grade the <topic>.py files in DIR (a learner's submission)")
    group.addoption("--kata-first", metavar="TOPIC.EXERCISE", help="run this exercise's tests first")
    group.addoption("--kata-exercise", metavar="TOPIC.EXERCISE", help="run only this exercise's tests")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA device; skipped with a reason when there is none")
    config.addinivalue_line("markers", "exercise(name): the exercise of this topic that the test grades")
    config.addinivalue_line("markers", "points(n): the test's points when grading (default 1)")
    config.stash[_IN_PROCESS] = _in_process(config)
    config.stash[_IMPL_DIR] = _impl_dir(config)
    only = config.getoption("--kata-exercise", None)
    if only:
        try:
            config.option.kata_exercise = manifest.find_exercise(only).qualname  # a bare name one topic has works
        except KeyError as err:
            raise pytest.UsageError(f"--kata-exercise={only}: {err.args[0]}") from None
    threads.apply()  # one torch thread unless KATA_TORCH_THREADS says otherwise (kata/core/threads.py)
    config.stash[_OUTCOMES] = {}
    config.stash[_CONDENSED] = {}
    config.stash[_ITEMS] = []
    config.stash[_DESELECTED] = defaultdict(int)
    config.pluginmanager.register(_CheapReports(), "kata-cheap-reports")


def pytest_sessionstart(session: pytest.Session) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        _condense_failure_sections(reporter, session.config)


def _in_process(config: pytest.Config) -> InProcess | None:
    found = [p for p in config.pluginmanager.get_plugins() if isinstance(p, InProcess)]
    if found and (config.getoption("--impl-dir", None) or config.getoption("--solutions", False)):
        raise pytest.UsageError("the code is given in-process (a notebook): --solutions and --impl-dir do not apply")
    return found[0] if found else None


def _where(config: pytest.Config) -> str:
    """What the progress summary calls the graded code: `exercises/`, a folder, or `your notebook`."""
    source = config.stash[_IN_PROCESS]
    if source is not None:
        return source.where
    try:
        return f"{config.stash[_IMPL_DIR].relative_to(manifest.ROOT)}/"
    except ValueError:
        return f"{config.stash[_IMPL_DIR]}/"


def _hint_command(config: pytest.Config, qualname: str) -> str:
    source = config.stash[_IN_PROCESS]
    return source.hint_command.format(qualname=qualname) if source else f"nox -s hint -- {qualname}"


def _impl_dir(config: pytest.Config) -> Path:
    impl_dir = config.getoption("--impl-dir", None)
    solutions = config.getoption("--solutions", False)
    if impl_dir and solutions:
        raise pytest.UsageError("choose one of --solutions and --impl-dir")
    if impl_dir:
        path = (Path(config.invocation_params.dir) / impl_dir).resolve()
        if not path.is_dir():
            raise pytest.UsageError(f"--impl-dir {impl_dir}: no such folder")
        return path
    if solutions:
        path = manifest.ROOT / "solutions"
        if not path.is_dir():
            raise pytest.UsageError(
                "--solutions: this edition of the kata ships without solutions/. Solve the exercises "
                "and run plain `pytest`; hints come from `nox -s hint -- <topic>.<exercise>`."
            )
        return path
    return manifest.ROOT / "exercises"


def pytest_report_header(config: pytest.Config) -> str:
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    source = config.stash[_IN_PROCESS]
    graded = source.where if source else config.stash[_IMPL_DIR]
    return f"kata: grading {graded} | torch {torch.__version__} | CUDA device: {cuda}"


def _topic_of(item: pytest.Item) -> str | None:
    stem = item.path.stem
    if item.path.parent.name == "tests" and stem.startswith("test_") and stem[5:] in manifest.topic_names():
        return stem[5:]
    return None


def _exercise_of(item: pytest.Item) -> manifest.Exercise | None:
    topic = _topic_of(item)
    if topic is None:
        return None
    marks = list(item.iter_markers("exercise"))
    if not marks:
        raise pytest.UsageError(f"{item.nodeid}: every test of a topic needs @pytest.mark.exercise(<name>)")
    name = marks[0].args[0]
    try:
        return manifest.topic(topic).exercise(name)
    except KeyError as err:
        raise pytest.UsageError(f"{item.nodeid}: {err.args[0]}") from None


def pytest_itemcollected(item: pytest.Item) -> None:
    """The exercise's name is a keyword of each of its tests: `pytest -k lm_loss` selects them (-k matches
    substrings, so `-k batch` also takes every test whose name holds "batch"; --kata-exercise is exact)."""
    if _topic_of(item) is not None and list(item.iter_markers("exercise")):
        item.extra_keyword_matches.add(_exercise_of(item).name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    order = {name: i for i, name in enumerate(manifest.topic_names())}
    first = config.getoption("--kata-first")
    only = config.getoption("--kata-exercise")
    if only:
        left_out = [item for item in items if getattr(_exercise_of(item), "qualname", None) != only]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = [item for item in items if getattr(_exercise_of(item), "qualname", None) == only]

    def key(pair):
        index, item = pair
        ex = _exercise_of(item)
        if ex is None:
            return (1, len(order), 0, index)
        t = manifest.topic(ex.topic)
        return (ex.qualname != first, order[ex.topic], t.exercises.index(ex), index)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs CUDA: torch.cuda.is_available() is False on this machine")
        for item in items:
            if item.get_closest_marker("cuda"):
                item.add_marker(skip)
    config.stash[_ITEMS] = items


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        topic = _topic_of(item)
        if topic is not None:
            item.config.stash[_DESELECTED][topic] += 1


@pytest.fixture
def impl(request: pytest.FixtureRequest) -> Implementation:
    """The implementation of this test file's topic, from the folder chosen on the command line
    (or from the notebook that called kata.learn.notebook.check)."""
    topic = _topic_of(request.node)
    if topic is None:
        raise pytest.UsageError(f"{request.node.nodeid}: `impl` is for tests/test_<topic>.py files")
    # ImplementationError propagates: the report hook below shows it once per file, not per test
    source = request.config.stash[_IN_PROCESS]
    if source is not None:
        return Implementation(topic, source.load(topic), where=source.where)
    return Implementation(topic, load_topic(topic, request.config.stash[_IMPL_DIR]))


@pytest.fixture(autouse=True)
def _isolated_state():
    """Seed every test and restore global state after it, so no test depends on another or on order."""
    torch_state = torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    py_state, np_state = random.getstate(), np.random.get_state()
    dtype, grad = torch.get_default_dtype(), torch.is_grad_enabled()
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    try:
        yield
    finally:
        torch.set_rng_state(torch_state)
        if cuda_state is not None:
            torch.cuda.set_rng_state_all(cuda_state)
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_default_dtype(dtype)
        torch.set_grad_enabled(grad)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    ex = _exercise_of(item)
    checks.set_current_exercise(ex.qualname if ex else None)
    try:
        return (yield)
    except AssertionError as err:
        if ex is not None and explain.teaches(ex.qualname, err):
            err.__suppress_context__ = True  # a check failed inside an except block: the lesson, not what it caught
        raise
    finally:
        checks.set_current_exercise(None)


def _condensed_kind(ex: manifest.Exercise, call: pytest.CallInfo) -> tuple[str, str] | None:
    """("stub", message) for an unfinished stub, ("import", message) for a file that does not import."""
    if call.excinfo is None:
        return None
    if call.excinfo.errisinstance(ImplementationError):
        return "import", f"{call.excinfo.value}\n{call.excinfo.value.summary}"
    if call.when == "call":
        stub = _stub_in_chain(call.excinfo.value)
        if stub is not None:
            return "stub", f"{ex.qualname} is not implemented yet: {stub}"
    return None


def _stub_in_chain(exc: BaseException | None) -> NotImplementedError | None:
    """The stub's NotImplementedError, also when a test caught it as the RuntimeError it subclasses and
    failed with a message of its own (the learner should read "not implemented yet", not that message)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, NotImplementedError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


class _CheapReports:
    """Reports stubs and unimportable files without building a traceback: on untouched exercises
    most of a run went into formatting tracebacks that were then shown as one line."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> TestReport | None:
        ex = _exercise_of(item)
        found = _condensed_kind(ex, call) if ex is not None else None
        if found is None:
            return None
        item.config.stash[_CONDENSED][item.nodeid] = found
        sections = [(f"Captured {key} {when}", text) for when, key, text in item._report_sections]
        return TestReport(item.nodeid, item.location, dict.fromkeys(item.keywords, 1), "failed", found[1],
                          call.when, sections, call.duration, call.start, call.stop,
                          user_properties=item.user_properties)


class _Taught(TerminalRepr):
    """A failure that did not teach (a raw exception, a bare assert), as kata.learn.explain words it."""

    def __init__(self, text: str, path: str, lineno: int):
        self.text = text
        self.reprcrash = ReprFileLocation(path, lineno, text.splitlines()[0])

    def toterminal(self, tw) -> None:
        for i, line in enumerate(self.text.splitlines()):
            tw.line(line, red=i == 0, bold=i == 0)


def _teach(item: pytest.Item, ex: manifest.Exercise, call: pytest.CallInfo, report: TestReport) -> bool:
    """Every failure starts with its [topic.exercise] line: one that does not (an exception from the
    learner's code or from inside torch, of any type) is named here, unless --tb=long/native asks for
    the raw traceback. True when the failure is one line that needs no "stuck?" pointer."""
    if not report.failed or call.excinfo is None or item.nodeid in item.config.stash[_CONDENSED]:
        return False
    exc = call.excinfo.value
    if ex.name == "demo" and report.when == "call":
        failing = _failing_before(item, ex.topic)
        if failing:  # the demo runs on the learner's code: the exercise that fails is the lesson, not the demo
            them = "it" if len(failing) == 1 else "them"
            text = (f"[{ex.qualname}] the demo needs {', '.join(failing)}, which fail{'s' if len(failing) == 1 else ''}"
                    f" on {'its' if len(failing) == 1 else 'their'} own tests: fix {them} first")
            report.longrepr = _Taught(text, str(item.path), item.location[1] or 0)
            report.sections = [s for s in report.sections if not s[0].startswith("Captured")]
            return True
    if explain.teaches(ex.qualname, exc) or item.config.option.tbstyle in ("long", "native"):
        return False
    try:
        text, path, lineno = explain.explain(ex.qualname, exc)
    except Exception:  # noqa: BLE001 - never let the wording of a failure break the run: keep pytest's own
        return False
    report.longrepr = _Taught(text + "\n  (the whole traceback: rerun with --tb=long)", path, lineno)
    return False


def _failing_before(item: pytest.Item, topic: str) -> list[str]:
    """The topic's exercises (the demo aside) that failed in this run, or in the last recorded run when this
    one did not run them (`-k demo`)."""
    config = item.config
    ran, failing = set(), set()
    for other in config.stash[_ITEMS]:
        ex = _exercise_of(other)
        state = config.stash[_OUTCOMES].get(other.nodeid)
        if ex is None or ex.topic != topic or ex.name == "demo" or state is None:
            continue
        ran.add(ex.qualname)
        if state == "failed":
            failing.add(ex.qualname)
    if config.stash[_IN_PROCESS] is None:
        failing |= {t["exercise"] for t in progress.tests_of(config.stash[_IMPL_DIR])
                    if t["outcome"] == "failed" and t["exercise"] not in ran}
    return [ex.qualname for ex in manifest.topic(topic).exercises if ex.qualname in failing and ex.name != "demo"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    ex = _exercise_of(item)
    if ex is None:
        return report
    one_line = _teach(item, ex, call, report)
    if report.failed and ex.hints and item.nodeid not in item.config.stash[_CONDENSED] and not one_line:
        report.sections.append(("kata", f"stuck? {_hint_command(item.config, ex.qualname)}"))
    outcomes = item.config.stash[_OUTCOMES]
    if report.skipped:
        outcomes[item.nodeid] = "skipped"
    elif report.failed:
        outcomes[item.nodeid] = "failed"
    elif report.when == "call" and item.nodeid not in outcomes:
        outcomes[item.nodeid] = "passed"
    return report


def _condense_failure_sections(reporter, config: pytest.Config) -> None:
    """Show condensed failures once (a line per stub exercise, a block per broken file) instead of
    a section per test; the counts of the final line stay those of every test."""

    def split(name: str) -> list:
        condensed = config.stash[_CONDENSED]
        kept = [r for r in reporter.stats.get(name, []) if getattr(r, "nodeid", None) not in condensed]
        return kept

    def wrap(method_name: str, stat: str):
        original = getattr(reporter, method_name)

        def condensed_summary() -> None:
            everything = reporter.stats.get(stat)
            if everything is not None:
                reporter.stats[stat] = split(stat)
            try:
                original()
            finally:
                if everything is not None:
                    reporter.stats[stat] = everything
            if stat == "failed":
                _write_condensed(reporter, config)

        setattr(reporter, method_name, condensed_summary)

    wrap("summary_failures", "failed")
    wrap("summary_errors", "error")


_QUALNAME_WIDTH = max(len(e.qualname) for t in manifest.topics() for e in t.exercises)  # every name lines up
_TOPIC_WIDTH = max(len(name) for name in manifest.topic_names())


def _write_condensed(reporter, config: pytest.Config) -> None:
    if config.option.tbstyle == "no":
        return
    stubs: dict[str, list[str]] = defaultdict(list)  # qualname -> nodeids
    broken: dict[str, tuple[str, int]] = {}  # message -> (topic, tests)
    by_node = {item.nodeid: item for item in config.stash[_ITEMS]}
    for nodeid, (kind, message) in config.stash[_CONDENSED].items():
        ex = _exercise_of(by_node[nodeid]) if nodeid in by_node else None
        if ex is None:
            continue
        if kind == "stub":
            stubs[ex.qualname].append(message)
        else:
            topic, n = broken.get(message, (ex.topic, 0))
            broken[message] = (topic, n + 1)
    if broken:
        reporter.write_sep("=", "files that do not import", red=True)
        for message, (topic, n) in broken.items():
            reporter.write_line(message.rsplit("\n", 1)[0])
            reporter.write_line(f"  (all {n} selected test(s) of {topic} count as failed until it imports)")
    if stubs:
        reporter.write_sep("=", f"not implemented yet ({len(stubs)} exercise(s))", yellow=True)
        for qualname, messages in stubs.items():
            raised = messages[0].split(" is not implemented yet: ", 1)[-1]
            where, _, nudge = raised.partition(": ")
            own = where == qualname or where.startswith(qualname + ".")  # a method of the exercise's own class
            text = nudge if own else f"waits for {where}" if nudge else raised
            reporter.write_line(f"  {qualname:<{_QUALNAME_WIDTH}} {len(messages):>3} test(s)  {text}"[:160])


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = math.floor(width * done / total) if total else 0
    return "#" * filled + "." * (width - filled)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if config.option.collectonly or not config.stash.get(_ITEMS, None) or config.stash[_IN_PROCESS]:
        return  # a notebook's runs are its own outputs: .kata/progress.json records folders
    records = {}
    for item in config.stash[_ITEMS]:
        ex = _exercise_of(item)
        state = config.stash[_OUTCOMES].get(item.nodeid)
        if ex is not None and state is not None:
            kind = config.stash[_CONDENSED].get(item.nodeid, ("", ""))[0]
            records[item.nodeid] = {"exercise": ex.qualname, "outcome": state, "kind": kind}
    progress.record(config.stash[_IMPL_DIR], records)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if config.option.collectonly:
        return
    items = config.stash.get(_ITEMS, [])
    outcomes = config.stash.get(_OUTCOMES, {})
    condensed = config.stash.get(_CONDENSED, {})
    per_topic: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # passed, graded, not run
    cuda_skipped = 0
    ran: dict[str, int] = defaultdict(int)  # qualname -> tests that ran (or would have, but for -x)
    cuda_only: dict[str, int] = defaultdict(int)  # qualname -> tests skipped for want of CUDA
    first_failing: manifest.Exercise | None = None
    first_broken: str | None = None
    for item in items:
        ex = _exercise_of(item)
        if ex is None:
            continue
        state = outcomes.get(item.nodeid)
        needs_cuda = item.get_closest_marker("cuda") is not None and not torch.cuda.is_available()
        if state == "skipped":
            cuda_skipped += item.get_closest_marker("cuda") is not None
            cuda_only[ex.qualname] += needs_cuda
            continue
        if state is None and needs_cuda:
            continue  # not run (-x stopped first) and would have been skipped anyway
        ran[ex.qualname] += 1
        per_topic[ex.topic][1] += 1
        per_topic[ex.topic][2] += state is None
        if state == "passed":
            per_topic[ex.topic][0] += 1
        elif state == "failed" and first_failing is None:
            first_failing = ex
            if condensed.get(item.nodeid, ("",))[0] == "import":
                first_broken = condensed[item.nodeid][1]
    unchecked: dict[str, list[str]] = defaultdict(list)  # topic -> exercises none of whose tests can run here
    for qualname in cuda_only:
        if not ran[qualname]:
            ex = manifest.find_exercise(qualname)
            unchecked[ex.topic].append(ex.name)
    where = _where(config)
    tw = terminalreporter
    if not per_topic:
        if cuda_skipped:
            tw.write_sep("=", f"kata progress: {where}")
            tw.write_line(f"  all {cuda_skipped} selected test(s) need CUDA and were skipped: "
                          "torch.cuda.is_available() is False on this machine.")
        return
    deselected = config.stash[_DESELECTED]
    tw.write_sep("=", f"kata progress: {where}")
    for i, t in enumerate(manifest.topics(), start=1):
        if t.name not in per_topic and t.name not in unchecked:
            continue
        done, total, _ = per_topic.get(t.name, (0, 0, 0))
        mark = "done" if done == total and not unchecked[t.name] else ""
        if unchecked[t.name]:
            mark = f"not checked here (needs CUDA): {', '.join(unchecked[t.name])}"
        if deselected.get(t.name):
            mark += f" (a selection: {deselected[t.name]} more test(s) of this topic not selected)"
        tw.write_line(f"  {i:>2} {t.name:<{_TOPIC_WIDTH}}  {done:>3}/{total:<3} [{_bar(done, total)}] {mark}".rstrip())
    if cuda_skipped:
        tw.write_line(f"  {cuda_skipped} CUDA test(s) skipped: no CUDA device here (they run where there is one).")
    not_run = sum(v[2] for v in per_topic.values())
    if not_run:
        tw.write_line(f"  the run stopped early: {not_run} test(s) did not run and count as not done.")
    if first_broken is not None:
        tw.write_line(f"  next: fix this first, {first_broken.splitlines()[-1]}")
        tw.write_line(f"        (no test of {first_failing.topic} can run until then)")
    elif first_failing is not None:
        if config.stash[_IN_PROCESS]:
            tw.write_line(f"  next: {first_failing.qualname} in {where}")
        else:
            tw.write_line(f"  next: {where}{first_failing.topic}.py::{first_failing.name}")
        if first_failing.bughunt:  # the failure shows the symptom; the cause is for the learner to find
            tw.write_line("  hint: a bug hunt: the failure above is the symptom; the hints give the cause, one by one")
            tw.write_line(f"  more: {_hint_command(config, first_failing.qualname)}")
        elif first_failing.hints:
            tw.write_line(f"  hint: {first_failing.hints[0]}")
            tw.write_line(f"  more: {_hint_command(config, first_failing.qualname)}")
    else:
        tw.write_line("  every test that ran passes.")
