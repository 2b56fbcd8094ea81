"""`nox -s release -- DEST`: write the student edition into DEST.

Everything a learner needs (README, requirements, noxfile, harness, exercises, tests, demos)
and nothing that gives the answers away: no solutions/, no mutants/, no maintainers' harness
tests or CI. In the edition, `pytest --solutions` explains that solutions are not shipped.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from kata import manifest

ROOT = manifest.ROOT
LEFT_OUT = ("solutions", "mutants", "tests_harness", ".ci")


def shipped_files() -> list[str]:
    """Tracked files of the repository that the student edition keeps."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in tracked.splitlines() if f.split("/")[0] not in LEFT_OUT]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: nox -s release -- DEST", file=sys.stderr)
        return 2
    dest = Path(argv[0]).resolve()
    if dest.exists() and any(dest.iterdir()):
        print(f"release: {dest} exists and is not empty; choose a new folder", file=sys.stderr)
        return 2
    files = shipped_files()
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    print(f"release: wrote the student edition ({len(files)} files, without {', '.join(LEFT_OUT)}) to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
