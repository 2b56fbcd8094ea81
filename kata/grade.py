"""`nox -s grade -- SUBMISSION...`: grade a whole class with the pristine tests of this repository.

A submission is a learner's folder of topic files (`autograd.py`, ...) or a clone of the
repository (its `exercises/` is graded). Each (submission, topic) runs in its own process, forked
from a worker that imported torch once (kata/protocol.py, kata/zygote.py), in a fresh sandbox
holding a copy of this repository's tests and harness (never the submission's own tests, never
solutions/), with a per-test timeout (pytest-timeout), a whole-topic timeout and an address-space
cap. A topic that loops, exits, crashes, runs out of memory, fails to import or tampers with the
grader scores 0 with the reason (kata/verdict.py); everything else is still graded. A test counts
as passed only on positive evidence: reported passed, by a process that finished and carried
this run's nonce, whose canaries failed and whose sandbox files were left unchanged.

Writes into --out (default grades/) what kata/reports.py describes.

    python -m kata.grade [--out DIR] [--jobs N] [--test-timeout S] [--topic-timeout S]
                         [--memory-mb M] [--topics a,b] SUBMISSION...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kata import manifest, progress
from kata.protocol import Job, Reply, WorkerDied, WorkerPool
from kata.reports import TopicResult, write_reports
from kata.verdict import Evidence, verdict

ROOT = manifest.ROOT
SANDBOX_ITEMS = ("tests", "kata", "demos", "conftest.py", "pyproject.toml")
CANARY = "kata/canary/test_canary.py"
OUT_OF_MEMORY = ("MemoryError", "DefaultCPUAllocator: can't allocate memory")


def _impl_dir(submission: Path) -> Path:
    return submission / "exercises" if (submission / "exercises").is_dir() else submission


def _hash_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def make_template(dest: Path) -> None:
    """Copy the pristine harness and tests into `dest`."""
    for name in SANDBOX_ITEMS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KATA_"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0", CUDA_VISIBLE_DEVICES="", **{progress.DISABLE_ENV: "1"})
    return env


def collect(template: Path, topics: list[str]) -> tuple[dict[str, list[dict]], int]:
    """The graded tests of each topic and the number of canaries, from the pristine suite alone."""
    listing = template / "collected.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--impl-dir=.", "-p",
                           "kata.grading_plugin", f"--kata-collect={listing}", "-p", "no:cacheprovider",
                           *[f"tests/test_{t}.py" for t in topics], CANARY],
                          cwd=template, capture_output=True, text=True, env=_env())
    if proc.returncode != 0 or not listing.is_file():
        raise SystemExit(f"grade: could not collect the pristine suite:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    items = json.loads(listing.read_text())
    listing.unlink()
    by_topic: dict[str, list[dict]] = {t: [] for t in topics}
    for item in items:
        if not item["canary"] and not item["cuda"]:  # graded on the CPU: CUDA tests are not part of a grade
            by_topic[item["nodeid"].split("::")[0][len("tests/test_"):-3]].append(item)
    return by_topic, sum(item["canary"] for item in items)


def run_topic(submission: Path, topic: str, expected: list[dict], canaries: int, template: Path,
              template_hashes: dict, args: argparse.Namespace, pool: WorkerPool) -> TopicResult:
    result = TopicResult(topic, possible=sum(item["points"] for item in expected))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"kata-grade-{topic}-") as tmp:
        sandbox, impl, results_file, log_file = (Path(tmp) / n for n in ("sandbox", "impl", "results.json", "log"))
        shutil.copytree(template, sandbox)
        impl.mkdir()
        source = _impl_dir(submission) / f"{topic}.py"
        if source.is_file():
            shutil.copy2(source, impl / f"{topic}.py")
        nonce = secrets.token_hex(16)
        pytest_args = [
            f"tests/test_{topic}.py", CANARY, f"--impl-dir={impl}",
            "-p", "kata.grading_plugin", f"--kata-results={results_file}",
            f"--kata-forbid={ROOT / 'solutions'}", f"--kata-forbid={ROOT / 'mutants'}", f"--kata-readonly={ROOT}",
            f"--timeout={args.test_timeout}", "-q", "--tb=short", "-p", "no:cacheprovider",
            "-W", "ignore::pytest.PytestAssertRewriteWarning",  # plugins come preloaded by the worker
        ]
        job = Job(sandbox=str(sandbox), args=pytest_args, env={**_env(), "KATA_GRADE_NONCE": nonce},
                  log=str(log_file), memory_mb=args.memory_mb, timeout=args.topic_timeout, drop_paths=(str(ROOT),))
        died = False
        try:
            with pool.worker() as worker:
                reply = worker.run(job)
        except WorkerDied:
            reply, died = Reply(-int(signal.SIGKILL)), True
        result.log = (log_file.read_text(errors="replace") if log_file.is_file() else "")[-20000:]
        try:
            payload = json.loads(results_file.read_text())
        except (OSError, ValueError):
            payload = None
        result.reason = verdict(Evidence(
            source=f"{topic}.py", source_present=source.is_file(), worker_died=died, timed_out=reply.timed_out,
            returncode=reply.returncode, payload=payload, nonce=nonce, canaries=canaries,
            sandbox_unchanged=_hash_tree(sandbox) == template_hashes, topic_timeout=args.topic_timeout))
    outcomes = payload.get("tests", {}) if payload and not result.reason else {}
    for item in expected:
        got = outcomes.get(item["nodeid"], {})
        passed = got.get("outcome") == "passed" and got.get("called", False)
        output = got.get("output", "") if got else (result.reason or "no result was reported for this test")
        if any(sign in output for sign in OUT_OF_MEMORY):
            output = f"ran out of memory (cap: {args.memory_mb} MiB beyond the preloaded libraries)\n" + output
        result.tests.append({"nodeid": item["nodeid"], "points": item["points"],
                             "status": "passed" if passed else "failed", "output": output})
        result.earned += item["points"] if passed else 0.0
    result.seconds = time.perf_counter() - start
    return result


def _names(submissions: list[Path]) -> list[str]:
    names, seen = [], {}
    for s in submissions:
        base = s.resolve().name or "submission"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s grade --", description=__doc__.splitlines()[0])
    parser.add_argument("submissions", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "grades")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes at once (default: all CPUs)")
    parser.add_argument("--test-timeout", type=float, default=60.0, help="seconds per test")
    parser.add_argument("--topic-timeout", type=float, default=300.0, help="seconds per topic")
    parser.add_argument("--memory-mb", type=int, default=4096,
                        help="address space in MiB a topic may map beyond the preloaded torch (default 4096)")
    parser.add_argument("--topics", default="", help="comma-separated topics (default: all)")
    args = parser.parse_args(argv)
    topics = [t for t in args.topics.split(",") if t] or manifest.topic_names()
    for t in topics:
        manifest.topic(t)
    missing = [str(s) for s in args.submissions if not s.is_dir()]
    if missing:
        parser.error(f"not a folder: {', '.join(missing)}")
    names = _names(args.submissions)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kata-grade-template-") as tmp:
        template = Path(tmp)
        make_template(template)
        expected, canaries = collect(template, topics)
        hashes = _hash_tree(template)
        jobs = [(i, t) for i in range(len(args.submissions)) for t in topics]
        pool = WorkerPool(max(1, args.jobs), _env())
        try:
            with ThreadPoolExecutor(max(1, args.jobs)) as threads:
                done = list(threads.map(
                    lambda job: run_topic(args.submissions[job[0]].resolve(), job[1], expected[job[1]], canaries,
                                          template, hashes, args, pool), jobs))
        finally:
            pool.close()
    elapsed = time.perf_counter() - start
    per_sub: dict[int, list[TopicResult]] = {i: [] for i in range(len(names))}
    for (i, _), r in zip(jobs, done):
        per_sub[i].append(r)
    write_reports(args.out, names, per_sub, topics)
    print(f"graded {len(names)} submission(s) x {len(topics)} topic(s) in {elapsed:.1f}s "
          f"({elapsed / len(names):.1f}s per submission, {args.jobs} job(s) at once) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
