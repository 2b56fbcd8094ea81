"""Prove the suite can fail: every wrong implementation under mutants/ must be rejected.

mutants/<topic>/<pitfall>.py is a deliberately wrong `<topic>` module (usually the solution with
one exercise replaced by a plausible mistake). Each runs against tests/test_<topic>.py in its
own process (forked from a worker that imported torch once), from a temporary folder through
`--impl-dir`; a mutant that passes every test
"survives", and the run fails. Every test of the topic runs (not only up to the first failure), and
every one that fails must start with its `[topic.exercise]` line (a raw exception or a bare assert
teaches nothing: `untaught`). Every pitfall listed in kata/curriculum.toml needs its mutant file,
and every mutant file needs its line there.

alternatives/<topic>/<style>.py is the other way round: a correct implementation in another style,
which must pass every test (`--alternatives`): the proof that the tests judge the contract, not
the reference's style.

    python -m kata.maintain.mutants [topic ...]
    python -m kata.maintain.mutants --alternatives [topic ...]
    python -m kata.maintain.mutants --cuda-only [topic ...]     # on a GPU machine: the mutants only CUDA can reject
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kata.core import manifest
from kata.core.protocol import Job, WorkerPool
from kata.learn import progress
from kata.maintain import checklist

MUTANTS = manifest.ROOT / "mutants"
ALTERNATIVES = manifest.ROOT / "alternatives"
PRELOAD = ("kata.learn.plugin",)  # what a worker imports before forking a topic's run


def worker_env() -> dict[str, str]:
    """A worker's environment: no bytecode written next to a module under test, no learner's state."""
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", progress.DISABLE_ENV: "1"}


def topic_job(topic: str, folder: Path, env: dict[str, str], *pytest_args: str, timeout: float = 600) -> Job:
    """A topic's tests on folder/<topic>.py, run in the repository by a warm worker; output in folder/log.txt."""
    return Job(sandbox=str(manifest.ROOT), env=env, log=str(folder / "log.txt"), memory_mb=16384, timeout=timeout,
               args=[f"tests/test_{topic}.py", f"--impl-dir={folder}", "-q", *pytest_args, "-p", "no:cacheprovider",
                     "-W", "ignore::pytest.PytestAssertRewriteWarning"])


def _run_one(topic: str, path: Path, pool: WorkerPool, env: dict[str, str]) -> tuple:
    """Every test of the topic on one module (not only up to the first failure: each failing test must
    teach, see `untaught`). Returns (name, exit code, seconds, output, (failing tests without their line,
    how many tests failed))."""
    with tempfile.TemporaryDirectory(prefix=f"mutant-{path.stem}-") as tmp:
        shutil.copy(path, Path(tmp) / f"{topic}.py")
        log, junit = Path(tmp) / "log.txt", Path(tmp) / "junit.xml"
        start = time.perf_counter()
        with pool.worker() as worker:
            reply = worker.run(topic_job(topic, Path(tmp), env, "--tb=line", f"--junitxml={junit}"))
        output = log.read_text(errors="replace") if log.is_file() else ""
        failures = _failures(junit) if junit.is_file() else []
        raw, failing = untaught(failures, topic), len({case for case, _ in failures})
        return f"{topic}/{path.stem}", reply.returncode, time.perf_counter() - start, output, (raw, failing)


def _failures(junit: Path) -> list[tuple[ET.Element, ET.Element]]:
    """(test case, its failure or error) for every failure of a JUnit report."""
    return [(case, child) for case in ET.parse(junit).getroot().iter("testcase") for child in case
            if child.tag in ("failure", "error")]


def untaught(failures: Path | list[tuple[ET.Element, ET.Element]], topic: str) -> list[str]:
    """The failing tests (of a JUnit report, or its `_failures`) whose message does not start with the
    `[topic.exercise]` line of one of the topic's exercises: a raw exception or a bare assert, which
    teaches nothing."""
    names = {e.name for e in manifest.topic(topic).exercises}
    out = []
    for case, child in _failures(failures) if isinstance(failures, Path) else failures:
        message = (child.get("message") or child.text or "").strip()
        first = message.splitlines()[0] if message else ""
        found = re.match(r"(?:\w+(?:\.\w+)*: )?\[(\w+)\.(\w+)\]", first)
        if not (found and found[1] == topic and found[2] in names):
            out.append(f"{case.get('name')}: {first[:140]}")
    return out


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _first_failure(output: str) -> str:
    for line in output.splitlines():
        if "AssertionError: [" in line or re.search(r"^\S+:\d+: \[\w+\.\w+\] ", line):
            return line.strip()[:160]
    for line in output.splitlines():
        if "AssertionError" in line or "Error:" in line or line.startswith("E "):
            return line.strip()[:160]
    return ""


def run_all(jobs: list[tuple[str, Path]]) -> list[tuple[str, int, float, str]]:
    """Run each (topic, module file) against its topic's tests, each in a process forked from a
    worker that imported torch once (kata.core.zygote): its own process, without paying the imports again."""
    if not jobs:
        return []
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    env = worker_env()
    pool = WorkerPool(workers, env, preload=PRELOAD)
    try:
        with ThreadPoolExecutor(workers) as threads:
            return list(threads.map(lambda job: _run_one(*job, pool, env), jobs))
    finally:
        pool.close()


def judge(jobs: list[tuple[str, Path]], *, expect: str) -> tuple[int, list[str]]:
    """Run the jobs; `expect` "rejected" (a mutant: some test fails) or "accepted" (an alternative:
    every test passes). Returns how many met the expectation and a line per one that did not."""
    met, problems = 0, []
    raw_total = failing_total = 0
    width = max((len(f"{t}/{p.stem}") for t, p in jobs), default=0)
    for name, rc, secs, out, (raw, failing) in run_all(jobs):
        raw_total, failing_total = raw_total + len(raw), failing_total + failing
        problems += [f"{name}: a failing test without its [topic.exercise] line: {line}" for line in raw]
        if rc not in (0, 1):
            problems.append(f"{name}: pytest exited {rc} (not a test failure):\n{out[-1500:]}")
        elif (rc == 1) == (expect == "rejected"):
            met += 1
            print(f"  {expect:<9} {name:<{width}} {secs:5.1f}s  {_first_failure(out) if rc else ''}".rstrip())
        elif rc == 0:
            problems.append(f"{name}: SURVIVED - every test of its topic passed on this wrong implementation")
        else:
            problems.append(f"{name}: REJECTED, yet it is a correct implementation: {_first_failure(out)}")
    if expect == "rejected":
        print(f"  {raw_total} of {failing_total} failing test(s) over {len(jobs)} module(s) without their "
              "[topic.exercise] line")
    return met, problems


def check_alternatives(topics: list[str]) -> int:
    """Every correct implementation under alternatives/ passes every test of its topic."""
    jobs = [(t, p) for t in topics for p in sorted((ALTERNATIVES / t).glob("*.py"))]
    accepted, problems = judge(jobs, expect="accepted")
    for p in problems:
        print(f"alternatives: {p}")
    print(f"alternatives: {accepted} of {len(jobs)} accepted, {len(problems)} problem(s)")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--alternatives"]:
        return check_alternatives(argv[1:] or manifest.topic_names())
    cuda_only = argv[:1] == ["--cuda-only"]  # only the mutants that only CUDA tests can reject
    argv = argv[1:] if cuda_only else argv
    topics = argv or manifest.topic_names()
    problems, jobs = [], []
    cuda = _cuda_available()
    skipped = []
    for topic in topics:
        t = manifest.topic(topic)
        listed = {**t.pitfalls, **t.cuda_pitfalls}
        if not cuda:
            skipped += [f"{topic}/{stem}" for stem in t.cuda_pitfalls]
        files = {p.stem: p for p in sorted((MUTANTS / topic).glob("*.py"))}
        problems += checklist.pitfall_problems(manifest.ROOT, topic, {"pitfalls": t.pitfalls,
                                                                      "cuda_pitfalls": t.cuda_pitfalls})
        runnable = t.cuda_pitfalls.keys() if cuda_only else listed.keys() if cuda else t.pitfalls.keys()
        jobs += [(topic, files[s]) for s in sorted(files.keys() & runnable)]
    if cuda_only and not cuda:
        print("mutants: --cuda-only needs a CUDA device, and there is none here; nothing was run")
        return 0
    rejected, failures = judge(jobs, expect="rejected")
    problems += failures
    for name in skipped:
        print(f"  skipped   {name:<45} only CUDA tests can reject it, and there is no CUDA device here")
    for p in problems:
        print(f"mutants: {p}")
    print(f"mutants: {rejected} of {len(jobs)} rejected, {len(problems)} problem(s)")
    return 1 if problems or not jobs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
