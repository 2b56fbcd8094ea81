"""`nox -s bench`: how long a learner waits. Times whole processes, as a learner runs them.

Baseline: `python -c "import torch, torchvision"`. Then `pytest --solutions -q tests/test_<topic>.py`
for each topic, and the whole suite. Each figure is the best of --repeat runs (default 3), so a
busy moment of the machine does not count against the suite. Prints a Markdown table.

    python -m kata.bench [--repeat N] [--impl exercises|solutions] [topic ...]
    python -m kata.bench --grade 20     # grading throughput: 20 submissions against one plain run
    python -m kata.bench --watch [topic ...]   # seconds from a save to the watch's verdict
    python -m kata.bench --learner      # pytest on the untouched exercises against --solutions
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

from kata import manifest, progress


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
        proc = subprocess.Popen([sys.executable, "-m", "kata.watch", topic, f"--impl-dir={tmp}"], cwd=manifest.ROOT,
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


def bench_grade(n: int) -> int:
    """Grade n submissions (alternately the solutions and the unsolved exercises) with all CPUs."""
    from kata import grade

    plain, _ = _best([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--solutions"], 1)
    with tempfile.TemporaryDirectory(prefix="kata-bench-grade-") as tmp:
        subs = []
        for i in range(n):
            sub = Path(tmp) / f"student{i:02d}"
            shutil.copytree(manifest.ROOT / ("solutions" if i % 2 == 0 else "exercises"), sub,
                            ignore=shutil.ignore_patterns("__pycache__"))
            subs.append(str(sub))
        start = time.perf_counter()
        grade.main(["--out", str(Path(tmp) / "out"), *subs])
        secs = time.perf_counter() - start
    print(f"\n| what | seconds |\n|---|---:|\n| one plain suite run (pytest --solutions) | {plain:.1f} |")
    print(f"| grading {n} submissions, {os.cpu_count()} CPU(s) | {secs:.1f} |")
    print(f"| per submission | {secs / n:.1f} ({secs / n / plain:.2f}x a plain run) |")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s bench --", description=__doc__.splitlines()[0])
    parser.add_argument("topics", nargs="*", help="topics to time (default: all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--impl", choices=["solutions", "exercises"], default="solutions")
    parser.add_argument("--grade", type=int, metavar="N", help="time grading N submissions instead")
    parser.add_argument("--watch", action="store_true", help="time the watch from a save to its verdict instead")
    parser.add_argument("--learner", action="store_true", help="time pytest on untouched exercises vs solutions")
    args = parser.parse_args(argv)
    if args.grade:
        return bench_grade(args.grade)
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
