"""Prove the suite can fail: every wrong implementation under mutants/ must be rejected.

mutants/<topic>/<pitfall>.py is a deliberately wrong `<topic>` module (usually the solution with
one exercise replaced by a plausible mistake). Each runs against tests/test_<topic>.py in its
own process, from a temporary folder through `--impl-dir`; a mutant that passes every test
"survives", and the run fails. Every pitfall listed in kata/curriculum.toml needs its mutant file,
and every mutant file needs its line there.

    python -m kata.mutants [topic ...]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kata import manifest

MUTANTS = manifest.ROOT / "mutants"


def _run_one(topic: str, path: Path) -> tuple[str, int, float, str]:
    with tempfile.TemporaryDirectory(prefix=f"mutant-{path.stem}-") as tmp:
        shutil.copy(path, Path(tmp) / f"{topic}.py")
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", f"tests/test_{topic}.py", f"--impl-dir={tmp}", "-x", "-q",
             "--tb=line", "-p", "no:randomly"],
            cwd=manifest.ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        return f"{topic}/{path.stem}", proc.returncode, time.perf_counter() - start, proc.stdout + proc.stderr


def _first_failure(output: str) -> str:
    for line in output.splitlines():
        if "AssertionError" in line or "Error:" in line or line.startswith("E "):
            return line.strip()[:160]
    return ""


def main(argv: list[str]) -> int:
    topics = argv or manifest.topic_names()
    problems, jobs = [], []
    for topic in topics:
        listed = manifest.topic(topic).pitfalls
        files = {p.stem: p for p in sorted((MUTANTS / topic).glob("*.py"))}
        for stem in sorted(listed.keys() - files.keys()):
            problems.append(f"{topic}: pitfall {stem!r} ({listed[stem]}) has no mutants/{topic}/{stem}.py")
        for stem in sorted(files.keys() - listed.keys()):
            problems.append(f"{topic}: mutants/{topic}/{stem}.py is not listed under [topics.{topic}.pitfalls]")
        jobs += [(topic, files[s]) for s in sorted(files.keys() & listed.keys())]
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda job: _run_one(*job), jobs))
    rejected = 0
    for name, rc, secs, out in results:
        if rc == 1:
            rejected += 1
            print(f"  rejected  {name:<45} {secs:5.1f}s  {_first_failure(out)}")
        elif rc == 0:
            problems.append(f"{name}: SURVIVED - every test of its topic passed on this wrong implementation")
        else:
            problems.append(f"{name}: pytest exited {rc} (not a test failure):\n{out[-1500:]}")
    for p in problems:
        print(f"mutants: {p}")
    print(f"mutants: {rejected} of {len(jobs)} rejected, {len(problems)} problem(s)")
    return 1 if problems or not jobs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
