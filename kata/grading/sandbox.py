"""The OS sandbox of grading: bubblewrap (`bwrap`, the sandbox Flatpak uses) around each worker,
and a namespace of its own for every job the worker forks.

A worker (kata/core/zygote.py) imports torch once and forks a child per (submission, topic), so bwrap
wraps the worker, not the child: a fresh torch import per topic would cost seconds. What the
worker sees is only what grading needs, read-only: the system's /usr (and the /lib, /bin
links), a few files of /etc, the Python installation and its packages, and this repository's
harness (HARNESS: tests, kata, demos, conftest.py, pyproject.toml; never solutions/, mutants/,
alternatives/, exercises/ or .git). The one writable folder is the worker's box, which holds the
one job it is running (a copy of the pristine harness and the submission's topic file); no other
submission is ever in it. No network (--unshare-net), its own PID, IPC and UTS namespaces, and a
user namespace whose root has no power outside it.

Each job's child then unshares a PID and a mount namespace of its own (`enter_job`): it is PID 1
of a namespace that dies with it, sees a /proc of its own, gets a fresh /tmp and /dev/shm (each a
tmpfs no larger than the job's disk cap, kata/grading/limits.py), and drops every capability
before any submission code runs. A bwrap run as real root without a user
namespace keeps root's capabilities (it could remount / read-write): that layout is never used.

`problem()` says why bwrap cannot be used here ("" when it can); grading's `--sandbox auto`
falls back to the in-process guards of kata/grading/grading_plugin.py with one warning line.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from kata.core import manifest

ROOT = manifest.ROOT
HARNESS = ("tests", "kata", "demos", "conftest.py", "pyproject.toml")  # what grading copies and shows
KEEP_ENV = "KATA_SANDBOX_KEEP"  # set inside a bwrap worker: the bound paths a job must find again under /tmp
STASH = "/.kata-keep"
ETC = ("passwd", "group", "nsswitch.conf", "hosts", "host.conf", "localtime", "ld.so.cache", "ld.so.conf",
       "ld.so.conf.d", "alternatives", "ssl", "ca-certificates")
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x08000000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4


def _python_dirs() -> list[str]:
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    dirs |= {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
    dirs |= {p for p in sys.path if p and os.path.exists(p) and not _inside(os.path.realpath(p), str(ROOT))}
    return sorted(dirs)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _outermost(paths: list[str]) -> list[str]:
    kept: list[str] = []
    for p in sorted(set(paths)):
        if not any(_inside(p, k) for k in kept):
            kept.append(p)
    return kept


def worker_prefix(box: Path) -> list[str]:
    """The bwrap command line that runs a worker whose only writable folder is `box`."""
    ro = _outermost([p for p in ["/usr", *_python_dirs()] if os.path.exists(p)])
    ro += [str(ROOT / item) for item in HARNESS if (ROOT / item).exists() and not any(
        _inside(str(ROOT / item), p) for p in ro)]
    args = ["bwrap", "--unshare-user", "--uid", "0", "--gid", "0", "--unshare-net", "--unshare-pid",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "kata-sandbox",
            "--die-with-parent", "--new-session", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for link in ("bin", "lib", "lib64", "lib32", "sbin"):
        host = Path("/") / link
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    args += [a for name in ETC if os.path.exists(f"/etc/{name}") for a in ("--ro-bind", f"/etc/{name}", f"/etc/{name}")]
    binds = [("--ro-bind", p) for p in ro] + [("--bind", str(box))]
    keep = []
    for kind, path in binds:
        args += [kind, path, path]
        if _inside(path, "/tmp"):  # a job mounts a fresh /tmp: it finds these again through the stash
            stash = f"{STASH}/{len(keep)}"
            args += [kind, path, stash]
            keep.append((stash, path))
    return [*args, "--setenv", KEEP_ENV, json.dumps(keep), "--chdir", str(ROOT), "--"]


@functools.cache
def problem() -> str:
    """Why the bwrap sandbox cannot be used here, or "" when it works (it is tried once, for real)."""
    if sys.platform != "linux":
        return "bubblewrap needs Linux"
    if shutil.which("bwrap") is None:
        return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    with tempfile.TemporaryDirectory(prefix="kata-sandbox-probe-") as box:
        probe = "from kata.grading import sandbox; sandbox.enter_job(); print('kata-sandbox-ok')"
        try:
            proc = subprocess.run([*worker_prefix(Path(box)), sys.executable, "-c", probe], capture_output=True,
                                  text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"bwrap did not run: {err}"
    if proc.returncode != 0 or "kata-sandbox-ok" not in proc.stdout:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return f"bwrap does not work here ({last})"
    return ""


def choose(mode: str) -> str:
    """'bwrap' or 'none' for --sandbox auto|bwrap|none; auto falls back with one warning line."""
    if mode == "none":
        return "none"
    why = problem()
    if not why:
        return "bwrap"
    if mode == "bwrap":
        raise SystemExit(f"grade: --sandbox bwrap: {why}")
    print(f"grade: warning: no OS sandbox, {why}; grading with the in-process guards only", file=sys.stderr)
    return "none"


# ---------------------------------------------------------------- inside the worker


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    return libc


def _ok(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"sandbox: {what}: {os.strerror(ctypes.get_errno())}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities(libc) -> None:
    for cap in range(64):  # the bounding set first (needs CAP_SETPCAP), so no exec can bring them back
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:  # EINVAL: no such cap
            _ok(-1, f"drop capability {cap}")
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    _ok(libc.capset(ctypes.byref(_CapHeader(0x20080522, 0)), (_CapData * 2)()), "capset")


def _tmpfs_size() -> bytes | None:
    """The mount option that caps a job's /tmp and /dev/shm at the job's file-size cap (its
    RLIMIT_FSIZE, set before this runs: kata/grading/limits.py's DISK_MB), or None without a cap."""
    cap = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if cap == resource.RLIM_INFINITY else f"size={cap}".encode()


def enter_job() -> None:
    """In a job's forked child inside a bwrap worker: continue as PID 1 of a fresh PID and mount
    namespace with its own /proc, /tmp and /dev/shm and no capabilities. The process that called
    it stays behind only to wait and to end as its child ended. Outside bwrap it does nothing."""
    keep = os.environ.get(KEEP_ENV)
    if keep is None:
        return
    libc = _libc()
    _ok(libc.unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC), "unshare")
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code < 0:  # end the same way, so the worker reports the same signal
            signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        os._exit(code if code >= 0 else 128 - code)
    _ok(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    _ok(libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount /proc")
    size = _tmpfs_size()
    _ok(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, size), "mount /tmp")
    if os.path.isdir("/dev/shm"):
        _ok(libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, size), "mount /dev/shm")
    for stash, path in json.loads(keep):
        if os.path.isdir(stash):
            os.makedirs(path, exist_ok=True)
        else:  # a file of the harness (conftest.py, pyproject.toml): a bind needs a file to cover
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        _ok(libc.mount(stash.encode(), path.encode(), None, MS_BIND | MS_REC, None), f"bind {path}")
    _drop_capabilities(libc)
