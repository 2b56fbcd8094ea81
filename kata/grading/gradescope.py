"""`nox -s gradescope -- DEST`: the kata as a Gradescope autograder, DEST/autograder.zip.

The zip holds, at its root, `setup.sh` and `run_autograder` (Gradescope's two required files),
`requirements-autograder.txt` (the versions this repository's suite passes with here, read from
the running environment), and the pristine harness and tests (kata/grading/sandbox.py's HARNESS: tests/,
kata/, demos/, conftest.py, pyproject.toml), from the last commit. Never solutions/, mutants/,
alternatives/, exercises/ or the maintainers' tests. With `--hidden DIR` the instructor's hidden
tests (kata/grading/hidden.py) are baked in as `hidden/` and graded beside the public ones.

`setup.sh` assumes Gradescope's default base image, Ubuntu 22.04, whose python3 (3.10) is older
than the kata needs: it installs Python 3.11 (from Ubuntu, else the deadsnakes PPA), a virtual
environment in /opt/kata-venv with PyTorch's CPU-only torch and torchvision, the pinned
requirements, and bubblewrap where the image allows it. `run_autograder` runs
`python -m kata.grading.gradescope --run`, which grades /autograder/submission through kata.grading.grade, the
code of `nox -s grade`, and writes /autograder/results/results.json. KATA_AUTOGRADER_ROOT and
KATA_AUTOGRADER_PYTHON move it elsewhere (the harness tests run it in a temporary folder laid out
like Gradescope's); KATA_AUTOGRADER_TOPICS and KATA_AUTOGRADER_JOBS narrow what it grades and how.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

from kata.core import manifest
from kata.grading import hidden, sandbox

ROOT = manifest.ROOT
RUNTIME = ("torch", "torchvision", "numpy", "scikit-learn", "pytest", "pytest-timeout")  # what grading imports
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
VENV = "/opt/kata-venv"

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image. It assumes Gradescope's
# default base image, Ubuntu 22.04, whose python3 is 3.10: the kata needs Python 3.11 or newer.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
source_dir=/autograder/source
venv={venv}

new_enough() {{ "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }}
apt-get update
python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null && new_enough "$candidate"; then python="$(command -v "$candidate")"; break; fi
done
if [ -z "$python" ]; then
  # Ubuntu 22.04 has python3.11 in its universe component; other releases get it from the deadsnakes PPA.
  if ! apt-get install -y python3.11 python3.11-venv; then
    apt-get install -y software-properties-common
    add-apt-repository -y universe
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
    apt-get install -y python3.11 python3.11-venv
  fi
  python="$(command -v python3.11)"
fi
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if ! "$python" -m venv "$venv"; then
  apt-get install -y "python$version-venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --upgrade pip
# PyTorch's CPU-only build, from PyTorch's own index: a fraction of the size of the CUDA build.
"$venv/bin/python" -m pip install --index-url {cpu_index} {torch_pins}
"$venv/bin/python" -m pip install -r "$source_dir/requirements-autograder.txt"
"$venv/bin/python" -c "import torch, torchvision; print('autograder:', torch.__version__, torchvision.__version__)"
# The OS sandbox, where the image lets it run (kata/grading/sandbox.py checks; without it the in-process guards remain).
apt-get install -y bubblewrap || echo "autograder: bubblewrap did not install; grading keeps the in-process guards"
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission, from /autograder: it grades /autograder/submission with
# the code of `nox -s grade` and writes /autograder/results/results.json. KATA_AUTOGRADER_ROOT
# (instead of /autograder) and KATA_AUTOGRADER_PYTHON (instead of the environment setup.sh made)
# let the kata's own tests run it in a temporary folder laid out the same way.
set -euo pipefail
root="${{KATA_AUTOGRADER_ROOT:-/autograder}}"
python="${{KATA_AUTOGRADER_PYTHON:-{venv}/bin/python}}"
cd "$root/source"
exec "$python" -m kata.grading.gradescope --run --root "$root"
"""


def _version(name: str) -> str:
    return md.version(name).split("+")[0]  # 2.14.1+cpu -> 2.14.1, which the CPU index's 2.14.1+cpu satisfies


def pinned() -> list[str]:
    """RUNTIME and everything it needs, at the versions installed here; torch's own dependencies are
    left to PyTorch's CPU index, which installs them with torch (its CUDA libraries are not wanted)."""
    found: dict[str, str] = {}
    todo = list(RUNTIME)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in found:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        found[name] = _version(name)
        if name == "torch":
            continue
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return [f"{name}=={version}" for name, version in sorted(found.items())]


def committed() -> dict[str, tuple[bytes, int]]:
    """The harness's files at HEAD: path -> (content, mode)."""
    raw = subprocess.run(["git", "archive", "--format=tar", "HEAD", *sandbox.HARNESS], cwd=ROOT, capture_output=True,
                         check=True).stdout
    archive = tarfile.open(fileobj=io.BytesIO(raw))
    return {m.name: (archive.extractfile(m).read(), m.mode) for m in archive.getmembers() if m.isfile()}


def torch_pins(pins: list[str]) -> str:
    """The torch and torchvision pins, quoted for pip's command line (installed from the CPU-only index)."""
    return " ".join(f'"{p}"' for p in pins if p.split("==")[0] in ("torch", "torchvision"))


def build(dest: Path, hidden_dir: Path | None = None) -> Path:
    """Write dest/autograder.zip, with the hidden tests of `hidden_dir` baked in as hidden/; return its path."""
    pins = pinned()
    generated = {
        "setup.sh": (SETUP.format(venv=VENV, cpu_index=CPU_INDEX, torch_pins=torch_pins(pins)).encode(), 0o755),
        "run_autograder": (RUN.format(venv=VENV).encode(), 0o755),
        "requirements-autograder.txt": (("# The versions the kata's suite passes with, read from the environment "
                                         "that built this bundle.\n" + "\n".join(pins) + "\n").encode(), 0o644),
    }
    if hidden_dir is not None:
        generated.update(hidden.baked_files(hidden_dir))
    files = {**committed(), **generated}
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "autograder.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, (data, mode) in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = ((mode & 0o777) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


def _cpus() -> int:
    """CPUs this container may use: its affinity, or its cgroup's quota where that is lower."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def run(root: Path) -> int:
    """Grade root/submission as `nox -s grade` does; write root/results/results.json."""
    from kata.grading import grade  # this module is an entry point: it may drive the grader

    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    jobs = os.environ.get("KATA_AUTOGRADER_JOBS") or str(min(2, _cpus()))
    with tempfile.TemporaryDirectory(prefix="kata-gradescope-") as out:
        argv = [*hidden.baked_args(), "--out", out, "--jobs", jobs, "--sandbox", "auto", str(root / "submission")]
        if os.environ.get("KATA_AUTOGRADER_TOPICS"):
            argv = ["--topics", os.environ["KATA_AUTOGRADER_TOPICS"], *argv]
        grade.main(argv)
        data = json.loads((Path(out) / "submission" / "results.json").read_text())
    data["execution_time"] = round(time.perf_counter() - start, 1)
    results.write_text(json.dumps(data, indent=1))
    print(f"autograder: score {data['score']} of 100 -> {results}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s gradescope --", description=__doc__.splitlines()[0])
    parser.add_argument("dest", nargs="?", type=Path, help="folder for autograder.zip")
    parser.add_argument("--run", action="store_true", help="(run_autograder) grade ROOT/submission")
    parser.add_argument("--hidden", type=Path, help="bake this folder's hidden tests into the bundle "
                        "(kata/grading/hidden.py)")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("KATA_AUTOGRADER_ROOT", "/autograder")))
    args = parser.parse_args(argv)
    if args.run:
        return run(args.root)
    if args.dest is None:
        parser.error("give the folder to write autograder.zip into")
    path = build(args.dest.resolve(), args.hidden)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    print(f"gradescope: wrote {path} from commit {head.strip()} ({path.stat().st_size // 1024} KiB); upload it as the "
          "assignment's autograder (README: Instructors, Gradescope)")
    dirty = subprocess.run(["git", "status", "--porcelain", "--", *sandbox.HARNESS], cwd=ROOT, capture_output=True,
                           text=True).stdout.splitlines()
    for line in dirty:
        print(f"gradescope: left out your uncommitted change to {line[3:]} (the bundle ships the last commit)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
