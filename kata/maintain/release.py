"""`nox -s release -- DEST`: write the student edition into DEST, from the last commit.

Everything a learner needs (README, requirements, noxfile, harness, exercises, tests, demos) and
nothing that gives the answers away: no solutions/, mutants/ or alternatives/, no maintainers'
harness tests or CI. It is built from the committed tree (`git archive HEAD`), never from the
working tree, so an instructor who tried the exercises cannot ship their answers by accident;
uncommitted changes are named and left out. The README's blocks between `<!-- repo-only -->` and
`<!-- /repo-only -->` are dropped; in the edition, nox lists only the sessions that run there, and
`pytest --solutions` explains that solutions are not shipped.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path

from kata.core import manifest

ROOT = manifest.ROOT
# kata/maintain/mutation/: the mutation reports quote the solutions' lines.
LEFT_OUT = ("solutions", "mutants", "alternatives", "tests_harness", ".ci", "CONTRIBUTING.md", "kata/maintain/mutation")
REPO_ONLY = re.compile(r"<!-- repo-only -->.*?<!-- /repo-only -->\n?", re.S)


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=True).stdout


def shipped(path: str) -> bool:
    return not any(path == out or path.startswith(out + "/") for out in LEFT_OUT)


def edition_readme(text: str) -> str:
    """The README without its repo-only blocks."""
    return REPO_ONLY.sub("", text)


def uncommitted() -> list[str]:
    """Shipped paths whose working-tree state differs from HEAD (left out of the edition)."""
    lines = _git("status", "--porcelain", "--untracked-files=all").decode().splitlines()
    return [ln[3:] for ln in lines if shipped(ln[3:])]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: nox -s release -- DEST", file=sys.stderr)
        return 2
    dest = Path(argv[0]).resolve()
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
            data = edition_readme(data.decode()).encode()
        target.write_bytes(data)
        target.chmod(member.mode & 0o755 | 0o644)
    print(f"release: wrote the student edition of {_git('rev-parse', '--short', 'HEAD').decode().strip()} "
          f"({len(members)} files, without {', '.join(LEFT_OUT)}) to {dest}")
    for path in uncommitted():
        print(f"release: left out your uncommitted change to {path} (the edition ships the last commit)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
