"""`nox -s reset -- <topic>.<exercise>`: put one exercise back as it shipped.

Only that definition (a function, or a class with its methods) is replaced by the shipped stub, or
by the shipped code of a bug hunt; every other line of your file stays byte for byte as it is. Your
version is kept in .kata/backup/ first. The shipped versions come from kata/learn/pristine.json, a
snapshot of exercises/ that `nox -s check` keeps equal to it (maintainers: `python -m kata.learn.reset
--refresh` after editing an exercise).

    python -m kata.learn.reset TOPIC.EXERCISE [--impl-dir=DIR]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from pathlib import Path

from kata.core import manifest

SNAPSHOT = manifest.ROOT / "kata" / "learn" / "pristine.json"
BACKUP = manifest.STATE_DIR / "backup"


def snapshot_of(exercises: Path) -> dict[str, str]:
    """{topic: text of exercises/<topic>.py} for every topic of the manifest."""
    return {t: (exercises / f"{t}.py").read_text() for t in manifest.topic_names()}


def stale_topics() -> list[str]:
    """Topics whose exercise file differs from the snapshot (what `nox -s check` refuses)."""
    try:
        saved = json.loads(SNAPSHOT.read_text())
    except (OSError, ValueError):
        return manifest.topic_names()
    now = snapshot_of(manifest.ROOT / "exercises")
    return [t for t in now if saved.get(t) != now[t]]


def spans(text: str, *, comments: bool = False) -> list[tuple[ast.stmt, int, int]]:
    """(statement, first line index, end line index) of each top-level statement of `text`, its
    decorators included and, with `comments`, the comment lines right above it."""
    lines = text.splitlines(keepends=True)
    out = []
    for node in ast.parse(text).body:
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))]) - 1
        while comments and start > 0 and lines[start - 1].lstrip().startswith("#") and (
                not out or start - 1 >= out[-1][2]):
            start -= 1
        out.append((node, start, node.end_lineno))
    return out


def _block(lines: list[str], name: str) -> tuple[int, int] | None:
    """[start, end) line indexes of the top-level def/class `name`, decorators included."""
    try:
        found = spans("".join(lines))
    except SyntaxError:
        return _block_by_indent(lines, name)
    for node, start, end in found:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return start, end
    return None


def _block_by_indent(lines: list[str], name: str) -> tuple[int, int] | None:
    """The same for a file that does not parse: from the def line to the next top-level statement."""
    heads = (f"def {name}(", f"class {name}(", f"class {name}:", f"async def {name}(")
    for i, line in enumerate(lines):
        if line.startswith(heads):
            start = i
            while start > 0 and lines[start - 1].startswith("@"):
                start -= 1
            end = i + 1
            while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t)]#"):
                end += 1
            while end > i + 1 and not lines[end - 1].strip():
                end -= 1
            return start, end
    return None


def reset(qualname: str, impl_dir: Path) -> str:
    """Put the shipped definition of `qualname` back into impl_dir/<topic>.py; return what was done."""
    ex = manifest.find_exercise(qualname)
    if ex.name == "demo":
        raise ValueError(f"{qualname} is the topic's demo: it has no code of its own in your file to reset")
    shipped = json.loads(SNAPSHOT.read_text())[ex.topic].splitlines(keepends=True)
    where = _block(shipped, ex.name)
    if where is None:
        raise ValueError(f"{ex.name} is not defined in the shipped {ex.topic}.py")
    block = shipped[where[0]:where[1]]
    path = impl_dir / f"{ex.topic}.py"
    if not path.is_file():
        raise ValueError(f"there is no {path}")
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    found = _block(lines, ex.name)
    if found is None:
        main_at = next((i for i, ln in enumerate(lines) if ln.startswith("if __name__ ==")), len(lines))
        found = (main_at, main_at)
        block = [*block, "\n", "\n"]
    new = "".join(lines[:found[0]] + block + lines[found[1]:])
    if new == text:
        return f"{qualname} in {path} is already as shipped; nothing changed"
    BACKUP.mkdir(parents=True, exist_ok=True)
    saved = BACKUP / f"{ex.topic}.{time.strftime('%Y%m%d-%H%M%S')}.py"
    saved.write_text(text)
    tmp = path.with_name(f".{path.name}.reset")
    tmp.write_text(new)
    os.replace(tmp, path)
    return f"reset {qualname} in {path} to the shipped version (yours is kept in {saved})"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s reset --", description=__doc__.splitlines()[0])
    parser.add_argument("exercise", nargs="?", help="<topic>.<exercise>, as the progress summary names it")
    parser.add_argument("--impl-dir", metavar="DIR", help="the folder of your topic files (default: exercises/)")
    parser.add_argument("--refresh", action="store_true", help="(maintainers) snapshot exercises/ as shipped")
    args = parser.parse_args(argv)
    if args.refresh:
        SNAPSHOT.write_text(json.dumps(snapshot_of(manifest.ROOT / "exercises"), indent=1) + "\n")
        print(f"reset: {SNAPSHOT.relative_to(manifest.ROOT)} now holds exercises/ as it is")
        return 0
    if not args.exercise:
        parser.error("name the exercise to reset, e.g. nox -s reset -- tensors.move_to")
    impl_dir = Path(args.impl_dir).resolve() if args.impl_dir else manifest.ROOT / "exercises"
    try:
        print(reset(args.exercise, impl_dir))
    except (KeyError, ValueError) as err:
        print(f"reset: {err.args[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
