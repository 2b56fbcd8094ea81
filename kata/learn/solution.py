"""`nox -s solution -- topic.exercise`: the reference solution of an exercise you have passed.

Only the self-paced edition (`nox -s release -- DEST --self-paced`) has it: the reference solutions
travel packed in PACK, and this command prints one exercise's reference only once every one of that
exercise's tests has passed on your file in your recorded runs (.kata/progress.json, written by
every `pytest` run: kata/learn/progress.py). It is an honour system, as in rustlings: the pack sits
in your copy and nothing stops you from unpacking it by hand; the kata only declines to hand an
answer over before your own passes. The class edition ships no pack and has no such session.

    python -m kata.learn.solution topic.exercise [--impl-dir DIR]
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import zlib
from pathlib import Path

from kata.core import manifest
from kata.learn import progress
from kata.learn.reset import spans

PACK = Path(__file__).with_name("reference.pack")  # zlib-compressed JSON, {topic: the solution's source}


def pack(sources: dict[str, str]) -> bytes:
    """The bytes of PACK for these solution sources (kata/maintain/release.py writes them)."""
    return zlib.compress(json.dumps(sources, sort_keys=True).encode(), 9)


def _unpack() -> dict[str, str] | None:
    try:
        return json.loads(zlib.decompress(PACK.read_bytes()))
    except OSError:
        return None


def test_names(topic: str, exercise: str) -> set[str]:
    """The test functions of tests/test_<topic>.py marked with the exercise (through its alias)."""
    tree = ast.parse((manifest.ROOT / "tests" / f"test_{topic}.py").read_text())
    aliases = {exercise}
    for node in tree.body:  # move_to = pytest.mark.exercise("move_to")
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and \
                ast.unparse(node.value.func).endswith("mark.exercise") and node.value.args and \
                isinstance(node.value.args[0], ast.Constant) and node.value.args[0].value == exercise:
            aliases |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            for deco in node.decorator_list:
                text = ast.unparse(deco)
                if text in aliases or text.endswith(f'mark.exercise("{exercise}")') or \
                        text.endswith(f"mark.exercise('{exercise}')"):
                    names.add(node.name)
    return names


def passed(topic: str, exercise: str, impl_dir: Path) -> tuple[bool, str]:
    """Whether every test of the exercise passed in the recorded runs on impl_dir, and if not, why."""
    qualname = f"{topic}.{exercise}"
    recorded = progress._load().get(str(impl_dir), {}).get("tests", {})
    records = {nodeid: t for nodeid, t in recorded.items() if t.get("exercise") == qualname}
    if not records:
        return False, f"no run of {qualname}'s tests is recorded yet"
    if any(t["outcome"] == "failed" for t in records.values()):
        return False, f"{qualname}: {progress.status(list(records.values()))}"
    passing = {nodeid.split("::")[-1].split("[")[0] for nodeid, t in records.items()  # skipped: CUDA-only here
               if t["outcome"] in ("passed", "skipped")}
    wanted = test_names(topic, exercise)
    missing = sorted(wanted - passing)
    if missing:
        return False, f"{qualname}: {len(missing)} of its {len(wanted)} test(s) have not passed yet ({missing[0]}, ...)"
    return True, ""


def reference(source: str, name: str) -> str:
    """The top-level function or class `name` of a solution's source, decorators included."""
    lines = source.splitlines()
    for node, start, end in spans(source):  # the span finder of `nox -s reset`
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return "\n".join(lines[start:end])
    raise KeyError(name)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s solution --", description=__doc__.splitlines()[0])
    parser.add_argument("exercise", metavar="topic.exercise")
    parser.add_argument("--impl-dir", metavar="DIR", help="the folder your runs graded (default: exercises/)")
    args = parser.parse_args(argv)
    topic, _, name = args.exercise.partition(".")
    try:
        manifest.topic(topic).exercise(name)
    except KeyError as err:
        print(f"solution: {err.args[0]}", file=sys.stderr)
        return 2
    sources = _unpack()
    if sources is None:
        print("solution: this edition ships no reference solutions (only the self-paced edition does)",
              file=sys.stderr)
        return 2
    impl_dir = Path(args.impl_dir).resolve() if args.impl_dir else manifest.ROOT / "exercises"
    ok, why = passed(topic, name, impl_dir)
    if not ok:
        print(f"solution: not yet: {why}. Pass every test of {args.exercise} first "
              f"(pytest tests/test_{topic}.py), then ask again.", file=sys.stderr)
        return 1
    print(f"# The reference {args.exercise} (shown because all its tests passed on your file; "
          "an honour system, as the README says)\n")
    print(reference(sources[topic], name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
