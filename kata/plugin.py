"""The pytest plugin behind the kata (loaded by the top-level conftest.py).

- `--solutions` / `--impl-dir DIR` choose the folder whose `<topic>.py` files are graded
  (default: exercises/). Tests reach them only through the `impl` fixture.
- Tests run in curriculum order (topic, then exercise, as in kata/curriculum.toml), so
  `pytest -x` stops at the next exercise to do.
- `@pytest.mark.cuda` tests are skipped with a reason when CUDA is absent.
- Every test of tests/test_<topic>.py names its exercise: `@pytest.mark.exercise("name")`.
- After the run: progress per topic, skipped CUDA tests, and the next exercise with its first hint.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

from kata import checks, manifest, threads
from kata.impl import Implementation, ImplementationError, load_topic

_IMPL_DIR = pytest.StashKey[Path]()
_OUTCOMES = pytest.StashKey[dict]()
_ITEMS = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kata", "PyTorch kata")
    group.addoption("--solutions", action="store_true", help="grade the reference solutions/ instead of exercises/")
    group.addoption("--impl-dir", metavar="DIR", help="grade the <topic>.py files in DIR (a learner's submission)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA device; skipped with a reason when there is none")
    config.addinivalue_line("markers", "exercise(name): the exercise of this topic that the test grades")
    config.addinivalue_line("markers", "points(n): the test's points when grading (default 1)")
    impl_dir = config.getoption("--impl-dir", None)
    solutions = config.getoption("--solutions", False)
    if impl_dir and solutions:
        raise pytest.UsageError("choose one of --solutions and --impl-dir")
    if impl_dir:
        path = (Path(config.invocation_params.dir) / impl_dir).resolve()
        if not path.is_dir():
            raise pytest.UsageError(f"--impl-dir {impl_dir}: no such folder")
    elif solutions:
        path = manifest.ROOT / "solutions"
        if not path.is_dir():
            raise pytest.UsageError(
                "--solutions: this edition of the kata ships without solutions/. Solve the exercises "
                "and run plain `pytest`; hints come from `nox -s hint -- <topic>.<exercise>`."
            )
    else:
        path = manifest.ROOT / "exercises"
    config.stash[_IMPL_DIR] = path
    threads.apply()  # one torch thread unless KATA_TORCH_THREADS says otherwise (kata/threads.py)
    config.stash[_OUTCOMES] = {}
    config.stash[_ITEMS] = []


def pytest_report_header(config: pytest.Config) -> str:
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return f"kata: grading {config.stash[_IMPL_DIR]} | torch {torch.__version__} | CUDA device: {cuda}"


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    order = {name: i for i, name in enumerate(manifest.topic_names())}

    def key(pair):
        index, item = pair
        ex = _exercise_of(item)
        if ex is None:
            return (len(order), 0, index)
        t = manifest.topic(ex.topic)
        return (order[ex.topic], t.exercises.index(ex), index)

    items[:] = [item for _, item in sorted(enumerate(items), key=key)]
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs CUDA: torch.cuda.is_available() is False on this machine")
        for item in items:
            if item.get_closest_marker("cuda"):
                item.add_marker(skip)
    config.stash[_ITEMS] = items


@pytest.fixture
def impl(request: pytest.FixtureRequest) -> Implementation:
    """The implementation of this test file's topic, from the folder chosen on the command line."""
    topic = _topic_of(request.node)
    if topic is None:
        raise pytest.UsageError(f"{request.node.nodeid}: `impl` is for tests/test_<topic>.py files")
    try:
        module = load_topic(topic, request.config.stash[_IMPL_DIR])
    except ImplementationError as err:
        pytest.fail(str(err), pytrace=False)
    return Implementation(topic, module)


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
    finally:
        checks.set_current_exercise(None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    ex = _exercise_of(item)
    if ex is None:
        return report
    if report.failed and call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError):
        report.longrepr = f"{ex.qualname} is not implemented yet: {call.excinfo.value}"
    elif report.failed and ex.hints:
        report.sections.append(("kata", f"stuck? nox -s hint -- {ex.qualname}"))
    outcomes = item.config.stash[_OUTCOMES]
    previous = outcomes.get(item.nodeid)
    if report.skipped:
        outcomes[item.nodeid] = ("skipped", report)
    elif report.failed:
        outcomes[item.nodeid] = ("failed", report)
    elif report.when == "call" and previous is None:
        outcomes[item.nodeid] = ("passed", report)
    return report


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = math.floor(width * done / total) if total else 0
    return "#" * filled + "." * (width - filled)


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if config.option.collectonly:
        return
    items = config.stash.get(_ITEMS, [])
    outcomes = config.stash.get(_OUTCOMES, {})
    per_topic: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # passed, graded
    cuda_skipped = 0
    first_failing: manifest.Exercise | None = None
    for item in items:
        ex = _exercise_of(item)
        if ex is None:
            continue
        state = outcomes.get(item.nodeid, ("not run", None))[0]
        needs_missing_cuda = item.get_closest_marker("cuda") is not None and not torch.cuda.is_available()
        if state == "skipped" or (state == "not run" and needs_missing_cuda):
            cuda_skipped += needs_missing_cuda
            continue
        per_topic[ex.topic][1] += 1
        if state == "passed":
            per_topic[ex.topic][0] += 1
        elif first_failing is None:
            first_failing = ex
    if not per_topic:
        return
    impl_dir = config.stash[_IMPL_DIR]
    try:
        shown_dir = impl_dir.relative_to(manifest.ROOT)
    except ValueError:
        shown_dir = impl_dir
    tw = terminalreporter
    tw.write_sep("=", f"kata progress: {shown_dir}/")
    for i, t in enumerate(manifest.topics(), start=1):
        if t.name not in per_topic:
            continue
        done, total = per_topic[t.name]
        mark = "done" if done == total else ""
        tw.write_line(f"  {i} {t.name:<14} {done:>3}/{total:<3} [{_bar(done, total)}] {mark}")
    if cuda_skipped:
        tw.write_line(f"  {cuda_skipped} CUDA test(s) skipped: no CUDA device here (they run where there is one).")
    if first_failing is not None:
        tw.write_line(f"  next: {shown_dir}/{first_failing.topic}.py::{first_failing.name}")
        if first_failing.hints:
            tw.write_line(f"  hint: {first_failing.hints[0]}")
            tw.write_line(f"  more: nox -s hint -- {first_failing.qualname}")
    else:
        tw.write_line("  every test that ran passes.")
