"""`nox -s bench`: how long a learner waits. Times whole processes, as a learner runs them.

Baseline: `python -c "import torch, torchvision"`. Then `pytest --solutions -q tests/test_<topic>.py`
for each topic, and the whole suite. Each figure is the best of --repeat runs (default 3), so a
busy moment of the machine does not count against the suite. Prints a Markdown table.

    python -m kata.bench [--repeat N] [--impl exercises|solutions] [topic ...]
    python -m kata.bench --grade 20     # grading throughput: 20 submissions against one plain run
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kata import manifest


def _best(cmd: list[str], repeat: int) -> tuple[float, int]:
    best, rc = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        rc = subprocess.run(cmd, cwd=manifest.ROOT, capture_output=True,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}).returncode
        best = min(best, time.perf_counter() - start)
    return best, rc


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
    args = parser.parse_args(argv)
    if args.grade:
        return bench_grade(args.grade)
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
