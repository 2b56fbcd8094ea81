"""A grading worker that imports torch, torchvision, scikit-learn and pytest once, then forks a
fresh child for every (submission, topic) job. The child runs pytest in its own session with an
address-space cap; the worker waits for it with a deadline and kills its whole process group on
timeout. Forking saves the few seconds of imports that each job would otherwise repeat.

Protocol: one JSON job per line on stdin ({"sandbox", "args", "env", "log", "memory_mb",
"timeout"}), one JSON reply per line on stdout ({"returncode", "timed_out"}); a negative
returncode is the signal that ended the child. Started by kata.grade; not for direct use.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time

import numpy  # noqa: F401  imported once here, shared copy-on-write by every child
import pytest
import sklearn.datasets  # noqa: F401
import torch  # noqa: F401
import torchvision  # noqa: F401

import kata.grading_plugin  # noqa: F401
import kata.plugin  # noqa: F401


def _warm_up() -> None:
    """Pay torch's lazy first-use imports once here rather than in every forked child."""
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(),
                                torch.nn.LazyLinear(3))
    optimizer = torch.optim.Adam(model.parameters())
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 1, 5, 5)), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    optimizer.step()
    torch.testing.assert_close(torch.zeros(1), torch.zeros(1))
    torch.manual_seed(0)


_warm_up()


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(job: dict) -> None:
    """Runs in the forked child; never returns."""
    try:
        os.setsid()
        cap = _vm_size() + job["memory_mb"] * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stdin.close()
        os.chdir(job["sandbox"])
        drop = {"", ".", *job.get("drop_paths", ())}
        sys.path[:] = [p for p in sys.path if p not in drop]
        os.environ.clear()
        os.environ.update(job["env"])
        rc = pytest.main(job["args"])
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(rc))
    except BaseException:  # noqa: BLE001
        os._exit(70)


def _run(job: dict) -> dict:
    pid = os.fork()
    if pid == 0:
        _child(job)
    deadline = time.monotonic() + job["timeout"]
    timed_out = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            timed_out = True
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status = os.waitpid(pid, 0)
            break
        time.sleep(0.02)
    try:  # reap anything the child left in its group (DataLoader workers, ...)
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return {"returncode": os.waitstatus_to_exitcode(status), "timed_out": timed_out}


def main() -> None:
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        out.write(json.dumps(_run(json.loads(line))) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
