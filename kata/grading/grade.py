"""`nox -s grade -- SUBMISSION...`: grade a whole class with the pristine tests of this repository.

A submission is a learner's folder of topic files (`autograd.py`, ...), a clone of the repository
(its `exercises/` is graded), or a folder holding one of those. Each (submission, topic) runs in
its own process, forked from a worker that imported torch once (kata/core/protocol.py,
kata/core/zygote.py), on a fresh copy of this repository's tests and harness (never the submission's
own tests, never solutions/), with a per-test timeout, a whole-topic timeout, an address-space
cap and a cap on what it may write to disk (kata/grading/limits.py). Where bubblewrap works,
every worker runs in the OS sandbox of kata/grading/sandbox.py and every job in a namespace of
its own; `--sandbox none` (or `auto` where bwrap does not work) keeps the in-process guards
alone. A topic that loops, exits, crashes, runs out of memory or disk, fails to import or
tampers with the grader scores 0 with the reason (kata/grading/verdict.py);
everything else is still graded. A test counts as passed only on positive evidence: reported
passed, by a process that finished and carried this run's nonce, whose canaries failed and whose
sandbox files were left unchanged.

With --hidden DIR, an instructor's hidden tests run beside the public ones (kata/grading/hidden.py).

Progress is shown as it goes (kata/grading/live.py); --out (default grades/) gets what kata/grading/reports.py
and kata/grading/stats.py describe, and with --png a figure of the class statistics.

    python -m kata.grading.grade [--out DIR] [--jobs N] [--sandbox auto|bwrap|none] [--test-timeout S]
                         [--topic-timeout S] [--memory-mb M] [--disk-mb D] [--topics a,b] [--png]
                         [--hidden DIR] SUBMISSION...
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kata.core import manifest
from kata.core.protocol import WorkerPool
from kata.grading import hidden, limits, sandbox, stats
from kata.grading.jobs import CANARY, Run, grading_env, hash_tree, impl_dir, run_topic
from kata.grading.live import Live
from kata.grading.reports import TopicResult, total_percent, write_reports

ROOT = manifest.ROOT
HIDDEN = ("solutions", "mutants", "alternatives")  # never readable by a submission
PLUGINS = ("kata.learn.plugin", "kata.grading.grading_plugin")  # each worker imports them once, before forking


def make_template(dest: Path) -> None:
    """Copy the pristine harness and tests into `dest`."""
    for name in sandbox.HARNESS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)


def collect(template: Path, topics: list[str]) -> tuple[dict[str, list[dict]], int]:
    """The graded tests of each topic (nodeid, exercise, points, visibility) and the number of canaries,
    from the pristine suite and the hidden tests in `template`."""
    listing = template / "collected.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--impl-dir=.", "-p",
                           "kata.grading.grading_plugin", f"--kata-collect={listing}", "-p", "no:cacheprovider",
                           *[f for t in topics for f in hidden.test_files(template, t)], CANARY],
                          cwd=template, capture_output=True, text=True, env=grading_env())
    if proc.returncode != 0 or not listing.is_file():
        raise SystemExit(f"grade: could not collect the pristine suite:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    items = json.loads(listing.read_text())
    listing.unlink()
    by_topic: dict[str, list[dict]] = {t: [] for t in topics}
    for item in items:
        if not item["canary"] and not item["cuda"]:  # graded on the CPU: CUDA tests are not part of a grade
            by_topic[hidden.topic_of(item["nodeid"])].append(item)
    return by_topic, sum(item["canary"] for item in items)


def _names(submissions: list[Path]) -> list[str]:
    names, seen = [], {}
    for s in submissions:
        base = s.resolve().name or "submission"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def main(argv: list[str], graded: dict | None = None) -> int:
    """Grade and write the reports; `graded`, when given, also gets the names, topics and each
    submission's TopicResults (kata/grading/prairielearn.py reports them its own way)."""
    parser = argparse.ArgumentParser(prog="nox -s grade --", description=__doc__.splitlines()[0])
    parser.add_argument("submissions", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "grades")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes at once (default: all CPUs)")
    parser.add_argument("--sandbox", choices=["auto", "bwrap", "none"], default="auto",
                        help="auto: bubblewrap where it works, else the in-process guards with a warning")
    parser.add_argument("--test-timeout", type=float, default=limits.TEST_TIMEOUT, help="seconds per test")
    parser.add_argument("--topic-timeout", type=float, default=limits.TOPIC_TIMEOUT, help="seconds per topic")
    parser.add_argument("--memory-mb", type=int, default=limits.MEMORY_MB,
                        help="address space in MiB a topic may map beyond the preloaded torch")
    parser.add_argument("--disk-mb", type=int, default=limits.DISK_MB,
                        help="MiB a topic's job may write to disk (one file, and its folder in all)")
    parser.add_argument("--topics", default="", help="comma-separated topics (default: all)")
    parser.add_argument("--png", action="store_true", help="draw the class statistics into OUT/stats.png")
    parser.add_argument("--hidden", type=Path, help="a folder of hidden tests, test_<topic>.py, run beside the "
                        "public ones (kata/grading/hidden.py)")
    args = parser.parse_args(argv)
    topics = [t for t in args.topics.split(",") if t] or manifest.topic_names()
    for t in topics:
        manifest.topic(t)
    missing = [str(s) for s in args.submissions if not s.is_dir()]
    if missing:
        parser.error(f"not a folder: {', '.join(missing)}")
    names, subs = _names(args.submissions), [s.resolve() for s in args.submissions]
    mode = sandbox.choose(args.sandbox)
    wrap = sandbox.worker_prefix if mode == "bwrap" else None
    start = time.perf_counter()
    print(f"grading {len(names)} submission(s) x {len(topics)} topic(s), {args.jobs} at once, sandbox: {mode} "
          "(each worker imports torch once first)", flush=True)
    live = Live(names, len(topics))
    per_sub: dict[int, list[TopicResult]] = {i: [] for i in range(len(names))}
    with tempfile.TemporaryDirectory(prefix="kata-grade-") as tmp:
        template = Path(tmp) / "template"
        template.mkdir()
        make_template(template)
        if args.hidden is not None:
            hidden.install(args.hidden, template)
        expected, canaries = collect(template, topics)
        forbid = [str(ROOT / d) for d in HIDDEN] + [str(impl_dir(s)) for s in subs] + [tmp]
        forbid += [str(args.hidden.resolve())] if args.hidden is not None else []
        pool = WorkerPool(max(1, args.jobs), grading_env(), Path(tmp) / "boxes", wrap, preload=PLUGINS)
        run = Run(args, template, hash_tree(template), canaries, forbid, pool)
        live.begin()

        def one(job: tuple[int, str]) -> None:
            i, topic = job
            per_sub[i].append(run_topic(subs[i], topic, expected[topic], run))
            if live.topic_done(i):
                per_sub[i].sort(key=lambda r: topics.index(r.topic))
                zeros = [r.topic for r in per_sub[i] if r.reason]
                live.submission_done(i, total_percent(per_sub[i], topics),
                                     f" ({len(zeros)} topic(s) not graded: {', '.join(zeros)})" if zeros else "")

        try:
            with ThreadPoolExecutor(max(1, args.jobs)) as threads:
                list(threads.map(one, [(i, t) for i in range(len(subs)) for t in topics]))
        finally:
            live.close()
            pool.close()
    elapsed = time.perf_counter() - start
    if graded is not None:
        graded.update(names=names, topics=topics, per_sub=per_sub)
    write_reports(args.out, names, per_sub, topics)
    if args.png:
        totals = [total_percent(per_sub[i], topics) for i in range(len(names))]
        print(stats.draw_png(args.out / "stats.png", stats.exercise_rows(per_sub, topics), totals))
    print(f"graded {len(names)} submission(s) x {len(topics)} topic(s) in {elapsed:.1f}s "
          f"({elapsed / len(names):.1f}s per submission, {args.jobs} job(s) at once) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
