"""`nox -s bench`: how long a learner waits. Times whole processes, as a learner runs them.

Baseline: `python -c "import torch, torchvision"`. Then `pytest --solutions -q tests/test_<topic>.py`
for each topic, and the whole suite. Each figure is the best of --repeat runs (default 3), so a
busy moment of the machine does not count against the suite. Prints a Markdown table.

    python -m kata.maintain.bench [--repeat N] [--impl exercises|solutions] [topic ...]
    python -m kata.maintain.bench --grade 20 [--sandbox bwrap|none]   # grading throughput against one plain run,
                                        # and the peak memory of the grading processes together
    python -m kata.maintain.bench --durations    # the slowest solution test, and the per-test timeout it implies
    python -m kata.maintain.bench --watch [topic ...]   # seconds from a save to the watch's verdict
    python -m kata.maintain.bench --learner      # pytest on the untouched exercises against --solutions
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from kata.core import manifest
from kata.learn import progress


def _best(cmd: list[str], repeat: int) -> tuple[float, int]:
    best, rc = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        rc = subprocess.run(cmd, cwd=manifest.ROOT, capture_output=True,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", progress.DISABLE_ENV: "1"}).returncode
        best = min(best, time.perf_counter() - start)
    return best, rc


def watch_latency(topic: str, saves: int = 3, *, timeout: float = 120.0) -> list[float]:
    """Seconds from each save of a copy of exercises/<topic>.py to the watch's finished rerun."""
    with tempfile.TemporaryDirectory(prefix="kata-bench-watch-") as tmp:
        path = Path(tmp) / f"{topic}.py"
        shutil.copy(manifest.ROOT / "exercises" / f"{topic}.py", path)
        proc = subprocess.Popen([sys.executable, "-m", "kata.learn.watch", topic, f"--impl-dir={tmp}"],
                                cwd=manifest.ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()

        def finished(since: float) -> float:
            while True:
                line = lines.get(timeout=max(0.1, since + timeout - time.perf_counter()))
                if line.startswith("watch: rerun finished"):
                    return time.perf_counter() - since

        try:
            finished(time.perf_counter())
            seconds = []
            for i in range(saves):
                time.sleep(0.3)
                text = path.read_text()
                start = time.perf_counter()
                path.write_text(f"{text}\n# save {i}\n")
                seconds.append(finished(start))
            return seconds
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def bench_watch(topics: list[str]) -> int:
    print("\n| topic | save -> verdict, median of 3 (s) | the 3 saves (s) |\n|---|---:|---|")
    for topic in topics:
        secs = watch_latency(topic)
        print(f"| {topic} | {statistics.median(secs):.2f} | {', '.join(f'{s:.2f}' for s in secs)} |")
    return 0


def bench_learner(repeat: int) -> int:
    """The learner's main command on untouched exercises against the same suite on the solutions."""
    py = sys.executable
    ex, _ = _best([py, "-m", "pytest", "-q", "-p", "no:cacheprovider"], repeat)
    sol, _ = _best([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--solutions"], repeat)
    print(f"\n| what (best of {repeat}) | seconds |\n|---|---:|")
    print(f"| pytest (untouched exercises) | {ex:.2f} |\n| pytest --solutions | {sol:.2f} |")
    print(f"| ratio | {ex / sol:.2f}x |")
    return 0


def _tree_pss_mib(root: int) -> float:
    """Proportional set size of `root` and all its descendants together, in MiB (shared pages counted once)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    tree, grew = {root}, True
    while grew:
        new = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= new
        grew = bool(new)
    kib = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                kib += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return kib / 1024


def bench_grade(n: int, sandbox: str, repeat: int) -> int:
    """Grade n submissions (alternately the solutions and the unsolved exercises) with all CPUs, as
    `python -m kata.grading.grade` processes; the best of `repeat` runs, and the peak PSS of their process tree."""
    plain, _ = _best([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--solutions"], repeat)
    best, peak = float("inf"), 0.0
    with tempfile.TemporaryDirectory(prefix="kata-bench-grade-") as tmp:
        subs = []
        for i in range(n):
            sub = Path(tmp) / f"student{i:02d}"
            shutil.copytree(manifest.ROOT / ("solutions" if i % 2 == 0 else "exercises"), sub,
                            ignore=shutil.ignore_patterns("__pycache__"))
            subs.append(str(sub))
        for _ in range(repeat):
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "kata.grading.grade", "--sandbox", sandbox, "--out",
                                     str(Path(tmp) / "out"), *subs], cwd=manifest.ROOT, stdout=subprocess.DEVNULL)
            while proc.poll() is None:
                peak = max(peak, _tree_pss_mib(proc.pid))
                time.sleep(0.25)
            best = min(best, time.perf_counter() - start)
    print(f"\n| what (best of {repeat}) | seconds |\n|---|---:|")
    print(f"| one plain suite run (pytest --solutions) | {plain:.1f} |")
    print(f"| grading {n} submissions, {os.cpu_count()} CPU(s), --sandbox {sandbox} | {best:.1f} |")
    print(f"| per submission | {best / n:.1f} ({best / n / plain:.2f}x a plain run) |")
    print(f"| peak memory of the grading processes together (PSS) | {peak:.0f} MiB |")
    return 0


def bench_durations() -> int:
    """The slowest solution tests (setup, call and teardown added up) and the per-test timeout they imply."""
    from kata.grading import limits

    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--solutions",
                           "--durations=0", "--durations-min=0.05"], cwd=manifest.ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", progress.DISABLE_ENV: "1"})
    per_test: dict[str, float] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].endswith("s") and parts[1] in ("setup", "call", "teardown"):
            per_test[parts[2]] = per_test.get(parts[2], 0.0) + float(parts[0][:-1])
    slowest = sorted(per_test.items(), key=lambda kv: -kv[1])[:5]
    if not slowest:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        return 1
    print(f"\n| slowest tests on solutions/ ({os.cpu_count()} CPU(s), load {os.getloadavg()[0]:.1f}) | seconds |")
    print("|---|---:|")
    for nodeid, secs in slowest:
        print(f"| {nodeid} | {secs:.2f} |")
    secs = slowest[0][1]
    print(f"\nper-test timeout: {secs:.2f} s x {limits.TEST_TIMEOUT_FACTOR} -> {limits.derive(secs):g} s "
          f"(kata/grading/limits.py has {limits.TEST_TIMEOUT:g} s, from {limits.SLOWEST_TEST_S} s)")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s bench --", description=__doc__.splitlines()[0])
    parser.add_argument("topics", nargs="*", help="topics to time (default: all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--impl", choices=["solutions", "exercises"], default="solutions")
    parser.add_argument("--grade", type=int, metavar="N", help="time grading N submissions instead")
    parser.add_argument("--sandbox", choices=["auto", "bwrap", "none"], default="auto", help="with --grade")
    parser.add_argument("--durations", action="store_true", help="the slowest solution tests and the timeout")
    parser.add_argument("--watch", action="store_true", help="time the watch from a save to its verdict instead")
    parser.add_argument("--learner", action="store_true", help="time pytest on untouched exercises vs solutions")
    args = parser.parse_args(argv)
    if args.grade:
        return bench_grade(args.grade, args.sandbox, args.repeat)
    if args.durations:
        return bench_durations()
    if args.watch:
        return bench_watch(args.topics or manifest.topic_names())
    if args.learner:
        return bench_learner(args.repeat)
    flag = ["--solutions"] if args.impl == "solutions" else []
    py = sys.executable
    base, _ = _best([py, "-c", "import torch, torchvision"], args.repeat)
    rows = [("import torch, torchvision (baseline)", base, "", "")]
    for t in args.topics or manifest.topic_names():
        secs, rc = _best([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *flag, f"tests/test_{t}.py"], args.repeat)
        rows.append((f"tests/test_{t}.py", secs, f"{secs / base:.2f}x", "pass" if rc == 0 else f"exit {rc}"))
    if not args.topics:
        secs, rc = _best([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *flag], args.repeat)
        rows.append(("whole suite", secs, f"{secs / base:.2f}x", "pass" if rc == 0 else f"exit {rc}"))
    print(f"\nbest of {args.repeat}, {os.cpu_count()} CPU(s), grading {args.impl}/\n")
    print("| what | seconds | vs baseline | result |")
    print("|---|---:|---:|---|")
    for name, secs, ratio, result in rows:
        print(f"| {name} | {secs:.2f} | {ratio} | {result} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
