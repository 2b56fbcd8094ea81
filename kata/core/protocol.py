"""The process protocol shared by grading, mutant checking and the watch.

A worker (kata/core/zygote.py) imports torch, torchvision, scikit-learn and pytest once, then runs each
job in a child forked from itself: the child starts with every library already imported, so a run
costs milliseconds of start-up instead of seconds. The watch forks from its own process; grading
and `nox -s check` talk to `python -m kata.core.zygote` processes through pipes, one JSON object per
line: a `Job` goes in, a `Reply` comes out.

The child of a job runs `pytest.main(job.args)` in `job.sandbox`, in its own session (its process
group is killed as a whole on timeout), with `job.env` as its whole environment, stdout and
stderr in `job.log`, an address-space cap of `job.memory_mb` beyond what the worker had mapped,
`job.drop_paths` removed from sys.path (so a grading child cannot import the grading
repository's own folders), and, with `job.disk_mb`, a cap on what it writes: no file beyond it
(RLIMIT_FSIZE; the child dies of SIGXFSZ) and no more than it under `job.disk_root` in all (the
worker measures the folder while the child runs and kills it past the cap). Grading gives each
worker a folder of its own for its jobs' files (its box) and may start it inside the bwrap
sandbox of kata/grading/sandbox.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kata.core import manifest


@dataclass(frozen=True)
class Job:
    sandbox: str  # the child's working directory
    args: list[str]  # pytest's command line
    env: dict[str, str] | None = None  # the child's whole environment; None keeps the worker's
    log: str | None = None  # file for the child's stdout and stderr; None keeps the worker's
    memory_mb: int | None = None  # address space the child may map beyond the worker's; None: no cap
    timeout: float | None = None  # seconds before the child's process group is killed; None: no limit
    drop_paths: tuple[str, ...] = field(default_factory=tuple)  # sys.path entries removed in the child
    setup: str | None = None  # "module:function" the child calls first (the grader's sandbox entry); None: none
    disk_mb: int | None = None  # MiB the child may write: per file (RLIMIT_FSIZE) and under disk_root; None: no cap
    disk_root: str | None = None  # the folder whose total size disk_mb caps (the grader's job folder); None: sandbox

    def to_line(self) -> str:
        return json.dumps(asdict(self)) + "\n"

    @classmethod
    def from_line(cls, line: str) -> Job:
        raw = json.loads(line)
        return cls(**{**raw, "drop_paths": tuple(raw.get("drop_paths", ()))})


@dataclass(frozen=True)
class Reply:
    returncode: int  # pytest's exit code, or minus the signal that ended the child
    timed_out: bool = False  # the child ran past job.timeout and its process group was killed
    disk_full: bool = False  # what the child wrote under job.disk_root passed job.disk_mb, and it was killed

    def to_line(self) -> str:
        return json.dumps(asdict(self)) + "\n"

    @classmethod
    def from_line(cls, line: str) -> Reply:
        return cls(**json.loads(line))


class WorkerDied(RuntimeError):
    """The worker process ended while running a job (killed by what it ran?)."""


class Worker:
    """One `python -m kata.core.zygote` process, driven through its stdin and stdout. `box` is a folder
    of its own for its jobs' files; `wrap` (kata/grading/sandbox.py) turns the box into the command line
    prefix that sandboxes the worker, or is None to run it as a plain process. `preload` names the
    modules (pytest plugins) the worker imports before its first job."""

    def __init__(self, threads: int, env: dict[str, str], box: Path | None = None,
                 wrap: Callable[[Path], list[str]] | None = None, *, wait: bool = True,
                 preload: tuple[str, ...] = ()):
        env = {**env, "OMP_NUM_THREADS": str(threads)}
        self.box, self.dead = box, False
        prefix = wrap(box) if wrap is not None and box is not None else []
        self.proc = subprocess.Popen([*prefix, sys.executable, "-m", "kata.core.zygote", *preload], cwd=manifest.ROOT,
                                     env=env,
                                     text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if wait:
            self.ready()

    def ready(self) -> Worker:
        """Wait until the worker has imported everything (workers started together load in parallel)."""
        if not self.proc.stdout.readline():
            raise SystemExit("kata: a worker process failed to start (see the error above)")
        return self

    def run(self, job: Job) -> Reply:
        self.proc.stdin.write(job.to_line())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.dead = True
            raise WorkerDied("the worker process ended while running a job")
        return Reply.from_line(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class WorkerPool:
    """`jobs` workers shared by threads; a worker that died is replaced (by one with the same box).
    With `boxes`, worker i gets the folder boxes / f"w{i}" (created); `wrap` and `preload` as in Worker."""

    def __init__(self, jobs: int, env: dict[str, str], boxes: Path | None = None,
                 wrap: Callable[[Path], list[str]] | None = None, preload: tuple[str, ...] = ()):
        self.threads = max(1, (os.cpu_count() or 1) // jobs)
        self.env, self.wrap, self.preload = env, wrap, preload
        self.idle: queue.Queue[Worker] = queue.Queue()
        starting = []
        for i in range(jobs):
            box = None
            if boxes is not None:
                box = boxes / f"w{i}"
                box.mkdir(parents=True, exist_ok=True)
            starting.append(Worker(self.threads, env, box, wrap, wait=False, preload=preload))
        for w in starting:
            self.idle.put(w.ready())

    @contextlib.contextmanager
    def worker(self):
        """A worker for the body of the `with`; back in the pool after it, replaced if it died."""
        w = self.idle.get()
        try:
            yield w
        finally:
            if w.dead or w.proc.poll() is not None:
                with contextlib.suppress(OSError):
                    w.proc.kill()
                w.proc.wait()
                w = Worker(self.threads, self.env, w.box, self.wrap, preload=self.preload)
            self.idle.put(w)

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get().close()
