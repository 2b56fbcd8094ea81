"""One graded (submission, topic): its job, run by a worker in the worker's box, the evidence the
run leaves, the verdict on it (kata/grading/verdict.py) and the topic's result (kata/grading/reports.py).

The job's folder (`<box>/job<n>/`) holds a fresh copy of the pristine harness (`sandbox/`), the
submission's one topic file (`impl/`), the job's temporary files (`tmp/`, `pytest/`), and what the
run leaves: the grading plugin's results and the log. It exists only while the job runs, so a
worker's box never holds two submissions. The job may write only there, and may not read the
folders `Run.forbid` names (kata/grading/grading_plugin.py); inside bwrap nothing else is even visible.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import secrets
import shutil
import signal
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from kata.core import manifest
from kata.core.protocol import Job, Reply, WorkerDied, WorkerPool
from kata.grading import hidden
from kata.grading.reports import TopicResult
from kata.grading.verdict import Evidence, verdict
from kata.learn import progress

ROOT = manifest.ROOT
CANARY = "kata/grading/canary/test_canary.py"
OUT_OF_MEMORY = ("MemoryError", "DefaultCPUAllocator: can't allocate memory")


def impl_dir(submission: Path) -> Path:
    """Where a submission's topic files are: its exercises/, itself, or the one folder inside it."""
    if (submission / "exercises").is_dir():
        return submission / "exercises"
    inner = [d for d in submission.iterdir() if d.is_dir() and not d.name.startswith((".", "_"))]
    if not any(submission.glob("*.py")) and len(inner) == 1:
        return impl_dir(inner[0])
    return submission


def hash_tree(root: Path) -> dict[str, str]:
    """Each file's hash, each link's target and each other node's kind under `root`. Links are never
    followed and only regular files are read, so nothing a submission leaves in its folder can
    point the grader (which may run as root) at another file, or block it on a pipe."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                found[os.path.relpath(path, root)] = "link to " + os.readlink(path)
            elif stat.S_ISREG(mode):
                found[os.path.relpath(path, root)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            elif not stat.S_ISDIR(mode):
                found[os.path.relpath(path, root)] = f"node {stat.S_IFMT(mode):o}"
    return found


def read_left(path: Path, limit: int) -> str | None:
    """The last `limit` bytes of a regular file the job left, never through a link or from a pipe."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        f.seek(max(0, info.st_size - limit))
        return f.read(limit).decode(errors="replace")


def grading_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KATA_"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0", CUDA_VISIBLE_DEVICES="", **{progress.DISABLE_ENV: "1"})
    return env


@dataclass
class Run:
    """What every job of one grading run shares."""
    args: argparse.Namespace
    template: Path
    hashes: dict[str, str]
    canaries: int
    forbid: list[str]
    pool: WorkerPool
    numbers: itertools.count = field(default_factory=itertools.count)


def _job(run: Run, folder: Path, source: Path, topic: str, nonce: str) -> Job:
    shutil.copytree(run.template, folder / "sandbox")
    for name in ("impl", "tmp"):
        (folder / name).mkdir()
    shutil.copy2(source, folder / "impl" / source.name)
    args = [*hidden.test_files(run.template, topic), CANARY, f"--impl-dir={folder / 'impl'}",
            "-p", "kata.grading.grading_plugin",
            f"--kata-results={folder / 'results.json'}", *[f"--kata-forbid={d}" for d in run.forbid],
            f"--kata-writable={folder}", f"--basetemp={folder / 'pytest'}", f"--timeout={run.args.test_timeout}",
            "--timeout-method=signal", "-q", "--tb=short", "-p", "no:cacheprovider",
            "-W", "ignore::pytest.PytestAssertRewriteWarning"]  # plugins come preloaded by the worker
    job_env = {**grading_env(), "KATA_GRADE_NONCE": nonce, "TMPDIR": str(folder / "tmp"), "HOME": str(folder / "tmp")}
    return Job(sandbox=str(folder / "sandbox"), args=args, env=job_env, log=str(folder / "log"),
               memory_mb=run.args.memory_mb, timeout=run.args.topic_timeout, drop_paths=(str(ROOT),),
               disk_mb=run.args.disk_mb, disk_root=str(folder),
               setup="kata.grading.sandbox:enter_job")  # inside a bwrap worker: a namespace of its own


def run_topic(submission: Path, topic: str, expected: list[dict], run: Run) -> TopicResult:
    result = TopicResult(topic, possible=sum(item["points"] for item in expected))
    start = time.perf_counter()
    source, nonce = impl_dir(submission) / f"{topic}.py", secrets.token_hex(16)
    evidence = dict(source=source.name, source_present=source.is_file(), worker_died=False, timed_out=False,
                    returncode=1, payload=None, nonce=nonce, canaries=run.canaries, sandbox_unchanged=True,
                    topic_timeout=run.args.topic_timeout, disk_full=False, disk_mb=run.args.disk_mb)
    if source.is_file():
        with run.pool.worker() as worker:  # the job's folder lives in the worker's box, and only while it runs
            folder = worker.box / f"job{next(run.numbers)}"
            try:
                try:
                    reply = worker.run(_job(run, folder, source, topic, nonce))
                except WorkerDied:
                    reply, evidence["worker_died"] = Reply(-int(signal.SIGKILL)), True
                result.log = read_left(folder / "log", 20000) or ""
                try:
                    evidence["payload"] = json.loads(read_left(folder / "results.json", 1 << 24) or "null")
                except ValueError:
                    pass
                evidence.update(timed_out=reply.timed_out, disk_full=reply.disk_full, returncode=reply.returncode,
                                sandbox_unchanged=hash_tree(folder / "sandbox") == run.hashes)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    result.reason = verdict(Evidence(**evidence))
    payload = evidence["payload"]
    outcomes = payload.get("tests", {}) if payload and not result.reason else {}
    for item in expected:
        got = outcomes.get(item["nodeid"], {})
        passed = got.get("outcome") == "passed" and got.get("called", False)
        output = got.get("output", "") if got else (result.reason or "no result was reported for this test")
        if any(sign in output for sign in OUT_OF_MEMORY):
            output = f"ran out of memory (cap: {run.args.memory_mb} MiB beyond the preloaded libraries)\n" + output
        result.tests.append({"nodeid": item["nodeid"], "exercise": item.get("exercise"), "points": item["points"],
                             "status": "passed" if passed else "failed", "output": output,
                             "visibility": item.get("visibility", "visible")})
        result.earned += item["points"] if passed else 0.0
    result.seconds = time.perf_counter() - start
    return result
