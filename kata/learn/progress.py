"""`nox -s progress`: every exercise's status from the last runs, without running anything.

The plugin records each test's outcome per graded folder in .kata/progress.json (yours, not
committed) at the end of every run; a run of one topic or a `-k` selection updates only the tests
it ran. Runs made by the kata's own tools (check, mutants, grading, bench) set KATA_NO_STATE=1 and
leave it alone.

    python -m kata.learn.progress [--impl-dir=DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from kata.core import manifest

STATE = manifest.STATE_DIR / "progress.json"
DISABLE_ENV = "KATA_NO_STATE"


def _load() -> dict:
    try:
        return json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {}


def tests_of(impl_dir: Path) -> list[dict]:
    """The recorded tests ({"exercise", "outcome", "kind"}) of the last runs on impl_dir."""
    return list(_load().get(str(impl_dir), {}).get("tests", {}).values())


def record(impl_dir: Path, records: dict[str, dict]) -> None:
    """Merge one run's outcomes ({nodeid: {"exercise", "outcome", "kind"}}) into the state file."""
    if os.environ.get(DISABLE_ENV) or not records:
        return
    state = {k: v for k, v in _load().items() if Path(k).is_dir()}  # forget folders that are gone
    entry = state.setdefault(str(impl_dir), {"tests": {}})
    entry["tests"].update(records)
    entry["updated"] = time.time()
    try:
        STATE.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=STATE.parent, prefix="progress-", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(state, f, indent=1, sort_keys=True)
        os.replace(tmp, STATE)
    except OSError:
        pass  # a read-only checkout still grades; it only forgets


def status(tests: list[dict]) -> str:
    """One exercise's status from its recorded tests."""
    if not tests:
        return "not run yet"
    kinds = {t["kind"] for t in tests}
    failed = sum(t["outcome"] == "failed" for t in tests)
    passed = sum(t["outcome"] == "passed" for t in tests)
    if "import" in kinds:
        return "its file does not import"
    if "stub" in kinds:
        return "not implemented yet"
    if failed:
        return f"{failed} of {failed + passed} test(s) failing"
    if passed:
        return f"done ({passed} test(s))"
    return "not checked here (needs CUDA)"


def report(impl_dir: Path) -> list[str]:
    entry = _load().get(str(impl_dir))
    try:
        shown = impl_dir.relative_to(manifest.ROOT)
    except ValueError:
        shown = impl_dir
    if not entry:
        return [f"no run of {shown}/ recorded yet: run pytest (or nox -s watch -- <topic>) first"]
    by_exercise: dict[str, list[dict]] = defaultdict(list)
    for t in entry["tests"].values():
        by_exercise[t["exercise"]].append(t)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry["updated"]))
    lines = [f"kata progress of {shown}/ (last run {when}; nothing was run now)"]
    next_up = None
    width = max(len(e.name) for t in manifest.topics() for e in t.exercises)  # the longest name lines up too
    for i, t in enumerate(manifest.topics(), start=1):
        lines.append(f"{i:>2} {t.name}")
        for ex in t.exercises:
            text = status(by_exercise.get(ex.qualname, []))
            if next_up is None and not text.startswith(("done", "not checked here")):
                next_up = ex
            lines.append(f"     {ex.name:<{width}}  {text}")
    if next_up is not None:
        lines.append(f"next: {shown}/{next_up.topic}.py::{next_up.name}  (pytest tests/test_{next_up.topic}.py)")
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s progress --", description=__doc__.splitlines()[0])
    if (manifest.ROOT / "solutions").is_dir():  # the student edition ships none
        parser.add_argument("--solutions", action="store_true", help="the reference solutions' last run")
    parser.add_argument("--impl-dir", metavar="DIR", help="the last run of the files in DIR")
    args = parser.parse_args(argv)
    folder = Path(args.impl_dir).resolve() if args.impl_dir else manifest.ROOT / (
        "solutions" if getattr(args, "solutions", False) else "exercises")
    print("\n".join(report(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
