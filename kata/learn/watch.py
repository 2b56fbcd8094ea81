"""`nox -s watch -- <topic>`: rerun a topic's tests every time you save your file.

Imports torch and pytest once, then forks a fresh child for every run (kata/core/zygote.py), so a
rerun starts in a fraction of a second and always imports your file as saved. It watches your
topic file (in exercises/, or the folder given with --impl-dir=DIR), the topic's tests and the
manifest, and nothing else (no .venv, .nox or .git). The exercise that failed last runs first. A
save during a run restarts it. Ctrl-C stops it.

    python -m kata.learn.watch [TOPIC] [--impl-dir=DIR] [-x] [-k EXPR] [--kata-exercise=TOPIC.EXERCISE]
                               [--interval S] [PYTEST_ARGS...]

It prints the kata's own lines (the failures and the progress summary), not pytest's header.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from kata.core import manifest, zygote
from kata.core.protocol import Job
from kata.learn import progress

CLEAR = "\033[2J\033[H"


def _signature(paths: list[Path]) -> tuple:
    """What changes when any watched file is saved (editors that write a new file and rename it too)."""
    out = []
    for path in paths:
        try:
            st = path.stat()
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)


def _first_failing(impl_dir: Path, topic: str | None) -> str | None:
    """The first exercise, in curriculum order, that failed in the last recorded run."""
    failing = {t["exercise"] for t in progress.tests_of(impl_dir) if t["outcome"] == "failed"}
    for t in manifest.topics():
        if topic in (None, t.name):
            for ex in t.exercises:
                if ex.qualname in failing:
                    return ex.qualname
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s watch --", description=__doc__.splitlines()[0])
    parser.add_argument("topic", nargs="?", help="the topic to watch (default: every topic)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--impl-dir", metavar="DIR", help="watch and grade the <topic>.py files in DIR")
    if (manifest.ROOT / "solutions").is_dir():  # the student edition ships none: it offers nothing it cannot run
        where.add_argument("--solutions", action="store_true", help="watch and grade solutions/")
    parser.add_argument("-x", "--exitfirst", action="store_true", help="stop each run at the first failure")
    parser.add_argument("-k", metavar="EXPR", help="only the tests (or exercises) whose names match, as pytest -k")
    parser.add_argument("--kata-exercise", metavar="TOPIC.EXERCISE", help="only this exercise's tests")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between looks at the files")
    args, pytest_args = parser.parse_known_args(argv)  # anything else goes to pytest as it is
    pytest_args = [*(["-x"] if args.exitfirst else []), *(["-k", args.k] if args.k else []),
                   *([f"--kata-exercise={args.kata_exercise}"] if args.kata_exercise else []), *pytest_args]
    args.solutions = getattr(args, "solutions", False)
    if args.kata_exercise:
        try:
            args.topic = args.topic or manifest.find_exercise(args.kata_exercise).topic
        except KeyError as err:
            parser.error(err.args[0])
    topics = [manifest.topic(args.topic).name] if args.topic else manifest.topic_names()
    if args.impl_dir:
        impl_dir = Path(args.impl_dir).resolve()
        select = [f"--impl-dir={impl_dir}"]
    else:
        impl_dir = manifest.ROOT / ("solutions" if args.solutions else "exercises")
        select = ["--solutions"] if args.solutions else []
    if not impl_dir.is_dir():
        parser.error(f"no folder {impl_dir}")
    watched = [impl_dir / f"{t}.py" for t in topics] + [manifest.ROOT / "tests" / f"test_{t}.py" for t in topics]
    watched.append(manifest.MANIFEST)
    shown = os.path.relpath(impl_dir / f"{topics[0]}.py" if len(topics) == 1 else impl_dir)
    tty = sys.stdout.isatty()
    print(f"watch: loading torch once for {' '.join(topics) if args.topic else 'every topic'} ...", flush=True)
    zygote.preload([f"tests/test_{t}.py" for t in topics], ["kata.learn.plugin"])

    def start() -> tuple[int, float]:
        first = _first_failing(impl_dir, args.topic)
        pytest_argv = [*[f"tests/test_{t}.py" for t in topics], *select, "-p", "no:cacheprovider",
                       "-q", "-rN",  # the kata's lines, without pytest's header and short summary
                       "-W", "ignore::pytest.PytestAssertRewriteWarning",  # the plugin is preloaded, by design
                       *([f"--kata-first={first}"] if first else []), *pytest_args]
        job = Job(sandbox=str(manifest.ROOT), args=pytest_argv)
        if tty:
            print(CLEAR, end="")
        print(f"watch: running {' '.join(topics) if args.topic else 'every topic'} on {shown}", flush=True)
        return zygote.start(job), time.perf_counter()

    seen = _signature(watched)
    child, started = start()
    try:
        while True:
            time.sleep(args.interval)
            now = _signature(watched)
            if now != seen:
                seen = now
                if child is not None:
                    zygote.kill(child)
                    zygote.wait(child, None)
                child, started = start()
                continue
            if child is not None and zygote.poll(child) is not None:
                child = None
                print(f"watch: rerun finished in {time.perf_counter() - started:.2f}s; waiting for a save of "
                      f"{shown} (Ctrl-C to stop)", flush=True)
    except KeyboardInterrupt:
        if child is not None:
            zygote.kill(child)
        print("\nwatch: stopped.")
        return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # Ctrl-C while torch was still loading
        print("\nwatch: stopped.")
        os._exit(0)
