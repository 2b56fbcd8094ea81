"""`nox -s release -- DEST`: write the student edition into DEST, from the last commit.

Everything a learner needs (README, requirements, noxfile, harness, exercises, tests, demos) and
nothing that gives the answers away: no solutions/, mutants/ or alternatives/, no maintainers'
harness tests or CI. It is built from the committed tree (`git archive HEAD`), never from the
working tree, so an instructor who tried the exercises cannot ship their answers by accident;
uncommitted changes are named and left out. The README's blocks between `<!-- repo-only -->` and
`<!-- /repo-only -->` are dropped; in the edition, nox lists only the sessions that run there, no
`--help` offers --solutions (a `pytest --solutions` typed anyway explains that solutions are not
shipped), and no learner-facing text names solutions as something to run (`edition_problems`,
a step of `nox -s check`).

Two editions: the class edition (the default) ships no solution at all. `--self-paced` also packs
the reference solutions into kata/learn/reference.pack (not a browsable solutions/ folder), keeps
the README's `<!-- self-paced -->` blocks, and so has `nox -s solution -- topic.exercise`, which
shows an exercise's reference once all its tests pass (kata/learn/solution.py: an honour system).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

from kata.core import manifest
from kata.learn import solution

ROOT = manifest.ROOT
# hidden/: where an instructor may keep hidden tests inside the repository (kata/grading/hidden.py).
# The reference pack is written by --self-paced, never taken from the repository.
LEFT_OUT = ("solutions", "mutants", "alternatives", "tests_harness", ".ci", "CONTRIBUTING.md", "hidden",
            "kata/learn/reference.pack")
REPO_ONLY = re.compile(r"<!-- repo-only -->.*?<!-- /repo-only -->\n?", re.S)
SELF_PACED = re.compile(r"<!-- self-paced -->.*?<!-- /self-paced -->\n?", re.S)


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=True).stdout


def shipped(path: str) -> bool:
    return not any(path == out or path.startswith(out + "/") for out in LEFT_OUT)


def edition_readme(text: str, self_paced: bool = False) -> str:
    """The README without its repo-only blocks (and, in the class edition, its self-paced ones)."""
    text = REPO_ONLY.sub("", text)
    return text if self_paced else SELF_PACED.sub("", text)


def uncommitted() -> list[str]:
    """Shipped paths whose working-tree state differs from HEAD (left out of the edition)."""
    lines = _git("status", "--porcelain", "--untracked-files=all").decode().splitlines()
    return [ln[3:] for ln in lines if shipped(ln[3:])]


# what would tell a learner to run something the edition does not ship
TOLD_TO_RUN_SOLUTIONS = re.compile(r"python -m solutions\b|--solutions\b|nox -s solutions\b|\bsolutions/|"
                                   r"from solutions\b|import solutions\b")
LEARNER_TEXTS = ("README.md", "exercises/*.py", "demos/*.py", "notebooks/*.ipynb")  # noxfile.py: by `nox -l`
HELP_COMMANDS = (("pytest", "--help"), ("kata.learn.watch", "--help"), ("kata.learn.progress", "--help"),
                 ("kata.learn.hint", "--help"), ("nox", "-l"))


def edition_problems(dest: Path) -> list[str]:
    """What a built edition offers that it cannot run: a learner-facing text that names solutions as
    something to run or import, or a `--help` (pytest's, the watch's, progress', hint's, nox's list)
    that offers --solutions."""
    out = []
    for pattern in LEARNER_TEXTS:
        for path in sorted(dest.glob(pattern)):
            for i, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
                if TOLD_TO_RUN_SOLUTIONS.search(line):
                    out.append(f"{path.relative_to(dest)}:{i}: {line.strip()[:120]}")
    for command in HELP_COMMANDS:
        proc = subprocess.run([sys.executable, "-m", *command], cwd=dest, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "KATA_NO_STATE": "1"})
        text = proc.stdout + proc.stderr
        if proc.returncode != 0:
            out.append(f"`{' '.join(command)}` in the edition exited {proc.returncode}: {text[-300:]}")
        elif TOLD_TO_RUN_SOLUTIONS.search(text) or re.search(r"^\s*[-*] solutions\b", text, re.M):
            out.append(f"`{' '.join(command)}` in the edition offers solutions")
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s release --", description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="a new (or empty) folder for the edition")
    parser.add_argument("--self-paced", action="store_true", help="also pack the reference solutions, which "
                        "`nox -s solution -- topic.exercise` shows once the exercise passes (kata/learn/solution.py)")
    args = parser.parse_args(argv)
    dest = args.dest.resolve()
    if dest.exists() and any(dest.iterdir()):
        print(f"release: {dest} exists and is not empty; choose a new folder", file=sys.stderr)
        return 2
    archive = tarfile.open(fileobj=io.BytesIO(_git("archive", "--format=tar", "HEAD")))
    members = [m for m in archive.getmembers() if m.isfile() and shipped(m.name)]
    for member in members:
        target = dest / member.name
        target.parent.mkdir(parents=True, exist_ok=True)
        data = archive.extractfile(member).read()
        if member.name == "README.md":
            data = edition_readme(data.decode(), args.self_paced).encode()
        target.write_bytes(data)
        target.chmod(member.mode & 0o755 | 0o644)
    kind = "class"
    if args.self_paced:
        sources = {Path(m.name).stem: archive.extractfile(m).read().decode() for m in archive.getmembers()
                   if m.isfile() and m.name.startswith("solutions/") and m.name.endswith(".py")
                   and Path(m.name).stem in manifest.topic_names()}
        pack_path = dest / solution.PACK.relative_to(ROOT)
        pack_path.write_bytes(solution.pack(sources))
        kind = f"self-paced (with {len(sources)} reference solutions packed in {pack_path.relative_to(dest)})"
    print(f"release: wrote the {kind} student edition of {_git('rev-parse', '--short', 'HEAD').decode().strip()} "
          f"({len(members)} files, without {', '.join(LEFT_OUT)}) to {dest}")
    for path in uncommitted():
        print(f"release: left out your uncommitted change to {path} (the edition ships the last commit)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
