"""The worker of kata/core/protocol.py: imports torch and friends once, then forks a child per job.

`python -m kata.core.zygote [MODULE...]` imports the named modules too (the caller's pytest plugins:
this room imports nothing above it), then reads one `Job` per line on stdin and answers one `Reply`
per line on stdout (grading and mutant checking drive it through kata.core.protocol.WorkerPool); the
watch calls `preload` and `start`/`wait` in its own process.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import resource
import signal
import sys
import tempfile
import time
import traceback

from kata.core.protocol import Job, Reply


def preload(warm_tests: list[str] = (), modules: list[str] = ()) -> None:
    """Import what every job needs and pay torch's lazy first-use costs once, before forking.

    `modules` are imported too: the caller names its own plugins (the learner's, the grader's).

    `warm_tests` (paths relative to the repository) are collected once here, so pytest's own lazy
    imports are paid too; the test modules themselves are then forgotten, so each child imports
    them (and the learner's file) afresh.
    """
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import sklearn.datasets  # noqa: F401
    import torch
    import torchvision  # noqa: F401

    for name in modules:
        importlib.import_module(name)

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(),
                                torch.nn.LazyLinear(3))
    optimizer = torch.optim.Adam(model.parameters())
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 1, 5, 5)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    optimizer.step()
    torch.testing.assert_close(torch.zeros(1), torch.zeros(1))
    torch.manual_seed(0)
    if warm_tests:
        _collect_once(list(warm_tests))
    # Everything imported so far lives as long as the worker: keep it out of the garbage collector's
    # sight, so a child's gc.collect() (pytest runs several at exit) neither walks it nor copies its pages.
    gc.collect()
    gc.freeze()


def _collect_once(paths: list[str]) -> None:
    import pytest

    from kata.core import manifest

    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        pytest.main(["--collect-only", "-qq", "-p", "no:cacheprovider", f"--rootdir={manifest.ROOT}",
                     *(str(manifest.ROOT / p) for p in paths)])
    tests = str(manifest.ROOT / "tests") + os.sep
    for name, module in list(sys.modules.items()):
        if name == "conftest" or (getattr(module, "__file__", None) or "").startswith(tests):
            del sys.modules[name]


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(job: Job) -> None:
    """Runs in the forked child; never returns."""
    import pytest

    try:
        os.setsid()
        if job.memory_mb is not None or job.disk_mb is not None:  # a capped child leaves no core file
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if job.memory_mb is not None:
            cap = _vm_size() + job.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        if job.disk_mb is not None:  # a file past the cap ends the child (Python ignores SIGXFSZ by default)
            resource.setrlimit(resource.RLIMIT_FSIZE, (job.disk_mb << 20, job.disk_mb << 20))
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        if job.log is not None:
            fd = os.open(job.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
        if job.setup is not None:  # e.g. the grader's "kata.grading.sandbox:enter_job"
            module, _, name = job.setup.partition(":")
            getattr(importlib.import_module(module), name)()
        os.chdir(job.sandbox)
        drop = {"", ".", *job.drop_paths}
        sys.path[:] = [p for p in sys.path if p not in drop]
        if job.env is not None:
            os.environ.clear()
            os.environ.update(job.env)
            tempfile.tempdir = None  # found again from the job's TMPDIR
        rc = pytest.main(job.args)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(rc))
    except BaseException:  # noqa: BLE001
        with contextlib.suppress(BaseException):
            traceback.print_exc()
            sys.stderr.flush()
        os._exit(70)


def start(job: Job) -> int:
    """Fork a child that runs the job; return its pid (also its process group id)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(job)
    return pid


def kill(pid: int) -> None:
    """Kill the child's whole process group (DataLoader workers and anything else it started)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def poll(pid: int) -> Reply | None:
    """The child's reply if it has ended, else None."""
    done, status = os.waitpid(pid, os.WNOHANG)
    if not done:
        return None
    kill(pid)  # reap what it left in its group
    return Reply(os.waitstatus_to_exitcode(status))


DISK_POLL_S = 0.05  # how often a disk-capped folder is measured (~1 ms a time): at 2 GB/s it overshoots ~100 MB


def disk_use(root: str) -> int:
    """Bytes allocated to everything under `root` (links not followed; a folder a job made
    unreadable is opened up again first, so nothing it writes can hide from the count)."""
    total, todo = 0, [root]
    while todo:
        folder = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except PermissionError:
            with contextlib.suppress(OSError):
                os.chmod(folder, 0o700)
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            total += info.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                todo.append(entry.path)
    return total


def wait(pid: int, timeout: float | None, disk_root: str | None = None, disk_mb: int | None = None) -> Reply:
    """The child's reply once it ends; killed past `timeout`, or once `disk_root` holds more than `disk_mb`."""
    deadline = None if timeout is None else time.monotonic() + timeout
    measure = time.monotonic()
    while True:
        reply = poll(pid)
        if reply is not None:
            return reply
        over = deadline is not None and time.monotonic() > deadline
        full = False
        if disk_root is not None and disk_mb is not None and time.monotonic() >= measure:
            measure = time.monotonic() + DISK_POLL_S
            full = disk_use(disk_root) > disk_mb << 20
        if over or full:
            kill(pid)
            _, status = os.waitpid(pid, 0)
            return Reply(os.waitstatus_to_exitcode(status), timed_out=over, disk_full=full and not over)
        time.sleep(0.02)


def run(job: Job) -> Reply:
    return wait(start(job), job.timeout, job.disk_root or job.sandbox, job.disk_mb)


def main() -> None:
    from kata.core import manifest

    preload([f"tests/test_{t}.py" for t in manifest.topic_names()], sys.argv[1:])
    out = sys.stdout
    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        out.write(run(Job.from_line(line)).to_line())
        out.flush()


if __name__ == "__main__":
    main()
