"""The bubblewrap sandbox (kata/grading/sandbox.py) on a small class graded on `tensors` with --sandbox bwrap.

Each attack tries its forbidden act twice: through Python (which the grading plugin's audit hook
refuses and reports, so the topic scores 0 with what was tried) and through libc by ctypes, below
any audit hook, reporting what the operating system answered in an exception the log shows. The
probe is a solved file that reports what a job sees. Skipped, with the reason, where bwrap does not
work; the layout and the fallback are checked everywhere.
"""

from __future__ import annotations

import csv
import json
import socket

import pytest

from kata.core import manifest
from kata.grading import grade, sandbox

ROOT = manifest.ROOT
SOLVED = (ROOT / "solutions" / "tensors.py").read_text()
UNSOLVED = (ROOT / "exercises" / "tensors.py").read_text()
needs_bwrap = pytest.mark.skipif(bool(sandbox.problem()), reason=f"no bubblewrap sandbox: {sandbox.problem()}")

LIBC = '''
import ctypes as _ct, errno as _errno, os as _os, socket as _socket, struct as _struct
_libc = _ct.CDLL(None, use_errno=True)
def _os_answer(result):
    return "allowed" if result >= 0 else _errno.errorcode.get(_ct.get_errno(), str(_ct.get_errno()))
def _os_open(path, flags=_os.O_RDONLY):
    return _os_answer(_libc.open(str(path).encode(), flags, 0o644))
def _os_connect(port):
    s = _socket.socket()
    address = _struct.pack("=H", _socket.AF_INET) + _struct.pack("!H", port) + _socket.inet_aton("127.0.0.1") + bytes(8)
    return _os_answer(_libc.connect(s.fileno(), address, len(address)))
def _py(act):
    try:
        act()
        return "allowed"
    except OSError as err:
        return type(err).__name__
'''


def _attack(os_line: str, py_act: str) -> str:
    return (SOLVED + LIBC + f"_OS = {os_line}\n_PY = _py(lambda: {py_act})\n"
            "def pick_device(preferred=None):\n    raise RuntimeError(f'PROBE os={_OS} py={_PY}')\n")


PROBE = '''
import pathlib as _pl
_status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
_SEEN = {"pid": _os.getpid(), "procs": sum(p.isdigit() for p in _os.listdir("/proc")),
         "caps": _status["CapEff"].strip(), "nets": [n for _, n in _socket.if_nameindex()],
         "solutions": _pl.Path(SOLUTIONS).exists(), "other": _pl.Path(OTHER).exists(),
         "exercises": _pl.Path(EXERCISES).exists()}
def pick_device(preferred=None):
    raise RuntimeError("PROBE " + __import__("json").dumps(_SEEN))
'''


DISK_MB = 32  # the class's disk cap: small, so a test that fails writes little
FILLS_FOLDER = ("for _i in range(128):\n    with open(f'fill{_i}.bin', 'wb') as _f:\n"
                "        _f.write(b'x' * (8 << 20))\n"
                "    with open('../log', 'a') as _log:\n        _log.write(f'KATA-WROTE {8 * (_i + 1)} MiB\\n')\n")
# /tmp and /dev/shm are a job's own tmpfs mounts (memory, not disk), written through libc (the audit
# hook refuses Python's writes there): capped too, the write fails there and the job goes on
FILLS_TMP = LIBC + '''
def _fill(folder):
    chunk, wrote = b"x" * (8 << 20), 0
    for i in range(128):
        fd = _libc.open(f"{folder}/fill{i}.bin".encode(), _os.O_WRONLY | _os.O_CREAT, 0o644)
        if fd < 0:
            return f"{wrote >> 20}:" + _os_answer(fd)
        done = _libc.write(fd, chunk, len(chunk))  # a short write when the mount fills, then ENOSPC
        _libc.close(fd)
        if done < 0:
            return f"{wrote >> 20}:" + _os_answer(done)
        wrote += done
    return f"{wrote >> 20}:allowed"
_TMP, _SHM = _fill("/tmp"), _fill("/dev/shm")
def pick_device(preferred=None):
    raise RuntimeError(f"PROBE tmp={_TMP} shm={_SHM}")
'''


@pytest.fixture(scope="module")
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    yield server
    server.close()


@pytest.fixture(scope="module")
def boxed(tmp_path_factory, listener):
    base = tmp_path_factory.mktemp("sandboxed")
    port = listener.getsockname()[1]
    outside = base / "written-by-a-submission.txt"
    other = base / "solved" / "tensors.py"
    heads = (f"SOLUTIONS = {str(ROOT / 'solutions')!r}\nOTHER = {str(other)!r}\n"
             f"EXERCISES = {str(ROOT / 'exercises')!r}\n")
    subs = {
        "solved": SOLVED,
        "unsolved": UNSOLVED,
        "probe": SOLVED + LIBC + heads + PROBE,
        "connects": _attack(f"_os_connect({port})", f"_socket.socket().connect(('127.0.0.1', {port}))"),
        "reads_solutions": _attack(f"_os_open({str(ROOT / 'solutions' / 'tensors.py')!r})",
                                   f"open({str(ROOT / 'solutions' / 'tensors.py')!r}).read()"),
        "reads_other": _attack(f"_os_open({str(other)!r})", f"open({str(other)!r}).read()"),
        "writes_outside": _attack(f"_os_open({str(outside)!r}, _os.O_WRONLY | _os.O_CREAT)",
                                  f"open({str(outside)!r}, 'w').write('x')"),
        "fills_folder": SOLVED + FILLS_FOLDER,
        "fills_tmp": SOLVED + FILLS_TMP,
    }
    for name, source in subs.items():
        (base / name).mkdir()
        (base / name / "tensors.py").write_text(source)
    out = base / "out"
    assert grade.main(["--sandbox", "bwrap", "--topics", "tensors", "--out", str(out), "--test-timeout", "20",
                       "--disk-mb", str(DISK_MB), *[str(base / n) for n in subs]]) == 0
    with (out / "grades.csv").open() as f:
        rows = {row["submission"]: float(row["tensors"]) for row in csv.DictReader(f)}
    return out, rows, (out / "summary.md").read_text(), outside


def _log(out, name: str) -> str:
    return (out / name / "logs" / "tensors.txt").read_text()


@needs_bwrap
def test_solved_and_unsolved_still_grade_100_and_0(boxed):
    _, rows, _, _ = boxed
    assert rows["solved"] == 100.0
    assert rows["unsolved"] == 0.0


@needs_bwrap
def test_a_job_is_pid_1_of_its_own_namespace_with_no_network_no_capabilities_no_repository(boxed):
    out, rows, summary, _ = boxed
    assert 0.0 < rows["probe"] < 100.0 and "probe / tensors" not in summary  # graded, only pick_device failed
    line = next(ln for ln in _log(out, "probe").splitlines() if "RuntimeError: PROBE {" in ln)
    seen = json.loads(line.split("PROBE ", 1)[1])
    assert seen["pid"] == 1 and seen["procs"] <= 2, seen
    assert seen["caps"] == "0000000000000000", seen
    assert seen["nets"] == ["lo"], seen
    assert not seen["solutions"] and not seen["exercises"] and not seen["other"], seen


@needs_bwrap
@pytest.mark.parametrize("name, tried, os_answer", [
    ("connects", "socket.connect", "ECONNREFUSED"),
    ("reads_solutions", "solutions/tensors.py", "ENOENT"),
    ("reads_other", "solved/tensors.py", "ENOENT"),
    ("writes_outside", "written-by-a-submission.txt", "ENOENT"),
])
def test_each_attack_is_refused_by_the_os_and_scores_zero_with_what_it_tried(boxed, listener, name, tried, os_answer):
    out, rows, summary, outside = boxed
    assert rows[name] == 0.0
    reason = summary.split(f"{name} / tensors: ")[1].splitlines()[0]
    assert "tried what grading refuses" in reason and tried in reason, reason
    assert f"PROBE os={os_answer} py=PermissionError" in _log(out, name)
    results = json.loads((out / name / "results.json").read_text())
    assert results["score"] == 0.0 and tried in results["tests"][0]["output"]
    assert not outside.exists()
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing ever reached the host's loopback


@needs_bwrap
def test_a_job_filling_its_folder_is_stopped_at_the_disk_cap_and_the_rest_graded(boxed):
    out, rows, summary, _ = boxed
    assert rows["fills_folder"] == 0.0 and rows["solved"] == 100.0
    reason = summary.split("fills_folder / tensors: ")[1].splitlines()[0]
    assert reason.startswith("out of disk") and f"{DISK_MB} MiB" in reason, reason
    wrote = max(int(ln.split()[1]) for ln in _log(out, "fills_folder").splitlines() if ln.startswith("KATA-WROTE"))
    assert wrote <= 16 * DISK_MB, f"wrote {wrote} MiB past a {DISK_MB} MiB cap"  # it tried 1024


@needs_bwrap
def test_a_jobs_tmp_and_shm_hold_no_more_than_the_disk_cap(boxed):
    out, rows, summary, _ = boxed
    assert 0.0 < rows["fills_tmp"] < 100.0 and "fills_tmp / tensors" not in summary  # graded: only the probe failed
    line = next(ln for ln in _log(out, "fills_tmp").splitlines() if "RuntimeError: PROBE tmp=" in ln)
    for place in ("tmp", "shm"):
        wrote, answer = line.split(f"{place}=")[1].split()[0].split(":")
        assert int(wrote) <= DISK_MB and answer in ("ENOSPC", "EFBIG"), line


def test_the_layout_never_runs_the_worker_as_real_root_nor_shows_answers(tmp_path):
    args = sandbox.worker_prefix(tmp_path)
    assert args[0] == "bwrap" and "--unshare-user" in args and "--unshare-net" in args and "--unshare-pid" in args
    bound = [args[i + 1] for i, a in enumerate(args) if a in ("--bind", "--ro-bind")]  # the host's side
    writable = [args[i + 1] for i, a in enumerate(args) if a == "--bind"]
    assert writable == [str(tmp_path)] * len(writable) and writable
    for hidden in ("solutions", "mutants", "alternatives", "exercises", ".git"):
        assert not any(b == str(ROOT / hidden) or b.startswith(str(ROOT / hidden) + "/") for b in bound), hidden
    assert str(ROOT) not in bound  # only the harness items inside it


def test_auto_falls_back_with_one_warning_and_bwrap_refuses(monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "problem", lambda: "bwrap is not installed (apt-get install bubblewrap)")
    assert sandbox.choose("auto") == "none"
    assert sandbox.choose("none") == "none"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warning" in err and "in-process guards" in err
    with pytest.raises(SystemExit, match="bwrap is not installed"):
        sandbox.choose("bwrap")
