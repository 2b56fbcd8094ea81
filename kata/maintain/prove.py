"""`nox -s check` (`python -m kata.maintain.prove`): prove the suite works, both ways.

1. lint (ruff) and the topic checklist (kata/maintain/checklist.py: every topic complete, nothing stray);
2. stubs and solutions have not drifted (kata.maintain.drift);
3. the house conventions hold (kata.maintain.conventions: marker aliases, dividers, mutant imports, docstrings);
   the notebooks are those that exercises/ and the manifest generate (kata.maintain.notebook_build);
4. the whole suite passes on solutions/;
5. every test that runs fails on the shipped exercises/ (any that passes is listed);
6. every wrong implementation under mutants/ is rejected by its topic's tests, and every test that fails
   on it starts with its `[topic.exercise]` line (kata.maintain.mutants);
7. every correct implementation under alternatives/ passes them (kata.maintain.mutants --alternatives);
8. every topic's mutation report (mutants/<topic>/report.toml, written by `nox -s mutation`) is
   current, scores at least kata.maintain.mutation.BAR, and explains each survivor;
9. the harness's own tests (tests_harness/) pass;
10. the student edition built from the last commit offers nothing it cannot run: no --solutions in its
   `--help`s, no learner-facing text (README, exercises, demos, notebooks) that names solutions to run.

Exits non-zero if any step fails; prints one line per step at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from kata.core import manifest
from kata.learn import progress, reset
from kata.maintain import checklist, conventions, drift, mutants, mutation, notebook_build, release

ROOT = manifest.ROOT


def _pytest(*args: str, junit: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", "-q", "--tb=no", *args]
    if junit:
        cmd.append(f"--junitxml={junit}")
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, progress.DISABLE_ENV: "1"})


def _cases(junit: str) -> list[tuple[str, str]]:
    """(test id, outcome) for every test case in a JUnit XML report."""
    out = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        outcome = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        out.append((name, outcome))
    return out


def step_lint() -> tuple[bool, str]:
    if subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True).returncode != 0:
        return False, "ruff is not installed (pip install -r requirements-dev.txt)"
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    print(proc.stdout[-3000:], end="")
    return proc.returncode == 0, "ruff check ." + ("" if proc.returncode == 0 else " found problems")


def step_topics() -> tuple[bool, str]:
    found = checklist.problems(ROOT)
    for p in found:
        print(f"  topics: {p}")
    return not found, f"{len(manifest.topics())} topics, each complete ({len(found)} problem(s))"


def step_drift() -> tuple[bool, str]:
    stale = reset.stale_topics()
    for t in stale:
        print(f"  drift: exercises/{t}.py differs from its snapshot in kata/learn/pristine.json "
              "(run python -m kata.learn.reset --refresh after editing an exercise)")
    return drift.main([]) == 0 and not stale, "exercises/ and solutions/ share names, signatures and docstrings"


def step_conventions() -> tuple[bool, str]:
    found = conventions.problems(ROOT)
    for p in found:
        print(f"  conventions: {p}")
    return not found, f"{len(found)} convention(s) broken"


def step_notebooks() -> tuple[bool, str]:
    try:
        found = notebook_build.problems(ROOT)
    except SystemExit as err:  # nbformat missing
        return False, str(err)
    for p in found:
        print(f"  notebooks: {p}")
    return not found, f"notebooks/ as exercises/ and the manifest generate them ({len(found)} problem(s))"


def _suite(tmp: str, name: str, *args: str) -> tuple[subprocess.CompletedProcess, dict[str, list[str]]]:
    """Run the whole suite once; its test ids by outcome, from a JUnit report."""
    junit = os.path.join(tmp, f"{name}.xml")
    proc = _pytest(*args, junit=junit)
    by = {"passed": [], "failed": [], "skipped": []}
    for test, outcome in _cases(junit) if os.path.exists(junit) else []:
        by[outcome].append(test)
    if proc.returncode not in (0, 1):
        print(proc.stdout[-3000:], proc.stderr[-3000:])
    return proc, by


def step_solutions(tmp: str) -> tuple[bool, str]:
    proc, by = _suite(tmp, "solutions", "--solutions")
    for test in by["failed"]:
        print(f"  FAILS on the solutions: {test}")
    ok = proc.returncode == 0 and by["passed"] and not by["failed"]
    counts = ", ".join(f"{len(by[k])} {k}" for k in ("passed", "failed", "skipped"))
    return bool(ok), f"{counts} (CUDA) on solutions/"


def step_exercises(tmp: str) -> tuple[bool, str]:
    proc, by = _suite(tmp, "exercises")
    for test in by["passed"]:
        print(f"  PASSES on the unsolved exercises (a test that cannot fail?): {test}")
    ok = proc.returncode == 1 and by["failed"] and not by["passed"]
    total = sum(map(len, by.values()))
    return bool(ok), f"{len(by['failed'])} of {total} fail on exercises/, {len(by['passed'])} pass"


def step_mutants() -> tuple[bool, str]:
    return mutants.main([]) == 0, "every wrong implementation under mutants/ is rejected, every failure teaching"


def step_alternatives() -> tuple[bool, str]:
    return mutants.main(["--alternatives"]) == 0, "every correct implementation under alternatives/ passes"


def step_mutation() -> tuple[bool, str]:
    ok = mutation.check(manifest.topic_names()) == 0
    return ok, f"every topic's mutation report is current, >= {mutation.BAR:.0f}%, each survivor explained"


def step_harness() -> tuple[bool, str]:
    if not (ROOT / "tests_harness").is_dir():
        return False, "tests_harness/ is missing"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests_harness"], cwd=ROOT,
                          capture_output=True, text=True)
    tail = proc.stdout.strip().splitlines()[-1:] or [""]
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-2000:])
    return proc.returncode == 0, f"harness self-tests: {tail[0].strip('= ')}"


def step_edition(tmp: str) -> tuple[bool, str]:
    dest = os.path.join(tmp, "edition")
    proc = subprocess.run([sys.executable, "-m", "kata.maintain.release", dest], cwd=ROOT, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        return False, f"the edition could not be built: {proc.stderr.strip()[-300:]}"
    found = release.edition_problems(Path(dest))
    for p in found:
        print(f"  edition: {p}")
    return not found, f"the student edition offers nothing it cannot run ({len(found)} problem(s))"


def main(argv: list[str]) -> int:
    steps = {
        "lint": step_lint,
        "topics": step_topics,
        "drift": step_drift,
        "conventions": step_conventions,
        "notebooks": step_notebooks,
        "solutions": step_solutions,
        "exercises": step_exercises,
        "mutants": step_mutants,
        "alternatives": step_alternatives,
        "mutation": step_mutation,
        "harness": step_harness,
        "edition": step_edition,
    }
    chosen = argv or list(steps)
    unknown = [s for s in chosen if s not in steps]
    if unknown:
        print(f"unknown step(s) {unknown}; choose from {list(steps)}", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="kata-prove-") as tmp:
        for name in chosen:
            print(f"--- check: {name}", flush=True)
            start = time.perf_counter()
            fn = steps[name]
            ok, summary = fn(tmp) if name in ("solutions", "exercises", "edition") else fn()
            results.append((name, ok, summary, time.perf_counter() - start))
    print("\ncheck summary")
    for name, ok, summary, secs in results:
        print(f"  {'ok  ' if ok else 'FAIL'} {name:<11} {secs:6.1f}s  {summary}")
    return 0 if all(ok for _, ok, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
