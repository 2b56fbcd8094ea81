"""Adding a topic, as one enforced checklist (`nox -s check`, step `topics`).

Every topic of kata/curriculum.toml has:
- a title, a weight above 0, exercises in the learner's order with at least 2 hints each, a `demo`
  exercise, and at least one pitfall;
- exercises/<topic>.py, solutions/<topic>.py, tests/test_<topic>.py and demos/<topic>.py;
- mutants/<topic>/<pitfall>.py for every pitfall listed (and no mutant that is not listed);
- its row in the README's curriculum table, the table listing exactly the manifest's topics, in order.
And nothing belongs to no topic: no file in exercises/, solutions/, demos/ or tests/, and no folder in
mutants/ or alternatives/, named for a topic the manifest does not have.

    python -m kata.maintain.checklist [ROOT]
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from kata.core import manifest

MIN_HINTS = 2
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*`(\w+)`\s*\|", re.M)


def _topics(root: Path) -> dict[str, dict]:
    with (root / "kata" / "curriculum.toml").open("rb") as f:
        return tomllib.load(f).get("topics", {})


def manifest_problems(name: str, t: dict) -> list[str]:
    out = []
    if not str(t.get("title", "")).strip():
        out.append(f"{name}: no title in kata/curriculum.toml")
    if not float(t.get("weight", 0)) > 0:
        out.append(f"{name}: its weight in kata/curriculum.toml must be above 0")
    exercises = t.get("exercises", {})
    if "demo" not in exercises:
        out.append(f"{name}: no `demo` exercise in kata/curriculum.toml (its demo's smoke test grades it)")
    for ex_name, ex in exercises.items():
        if len(ex.get("hints", ())) < MIN_HINTS:
            out.append(f"{name}.{ex_name}: {len(ex.get('hints', ()))} hint(s), at least {MIN_HINTS} wanted")
    if not t.get("pitfalls"):
        out.append(f"{name}: no pitfalls listed, so nothing proves its tests can fail")
    return out


def pitfall_problems(root: Path, name: str, t: dict) -> list[str]:
    """Every listed pitfall has its mutant file, and every mutant file is listed."""
    listed = {**t.get("pitfalls", {}), **t.get("cuda_pitfalls", {})}
    files = {p.stem for p in (root / "mutants" / name).glob("*.py")}
    out = [f"{name}: pitfall {stem!r} ({listed[stem]}) has no mutants/{name}/{stem}.py"
           for stem in sorted(listed.keys() - files)]
    out += [f"{name}: mutants/{name}/{stem}.py is not listed under [topics.{name}.pitfalls] (a stray mutant)"
            for stem in sorted(files - listed.keys())]
    return out


def file_problems(root: Path, name: str) -> list[str]:
    needed = [f"exercises/{name}.py", f"solutions/{name}.py", f"tests/test_{name}.py", f"demos/{name}.py"]
    return [f"{name}: {path} is missing" for path in needed if not (root / path).is_file()]


def readme_problems(root: Path, names: list[str]) -> list[str]:
    readme = root / "README.md"
    rows = ROW.findall(readme.read_text()) if readme.is_file() else []
    listed = [topic for _, topic in rows]
    out = [f"{name}: no row in the README's curriculum table" for name in names if name not in listed]
    out += [f"README.md: the curriculum table lists {topic!r}, which is no topic of the manifest"
            for topic in listed if topic not in names]
    if not out and (listed != names or [int(n) for n, _ in rows] != list(range(1, len(names) + 1))):
        out.append(f"README.md: the curriculum table should number the manifest's topics 1..{len(names)} in its "
                   f"order ({', '.join(names)}); it has {', '.join(f'{n} {t}' for n, t in rows)}")
    return out


def stray_problems(root: Path, names: list[str]) -> list[str]:
    known = set(names)
    out = []
    for folder in ("exercises", "solutions", "demos"):
        out += [f"{folder}/{p.name} belongs to no topic of the manifest" for p in sorted((root / folder).glob("*.py"))
                if p.stem != "__init__" and p.stem not in known]
    out += [f"tests/{p.name} belongs to no topic of the manifest" for p in sorted((root / "tests").glob("test_*.py"))
            if p.stem[len("test_"):] not in known]
    for folder in ("mutants", "alternatives"):
        out += [f"{folder}/{p.name}/ belongs to no topic of the manifest"
                for p in sorted((root / folder).glob("*")) if p.is_dir() and p.name not in known
                and p.name != "__pycache__"]
    return out


def problems(root: Path) -> list[str]:
    root = Path(root).resolve()
    topics = _topics(root)
    out = []
    for name, t in topics.items():
        out += manifest_problems(name, t) + file_problems(root, name) + pitfall_problems(root, name, t)
    out += readme_problems(root, list(topics))
    out += stray_problems(root, list(topics))
    return out


def main(argv: list[str]) -> int:
    found = problems(Path(argv[0]) if argv else manifest.ROOT)
    for line in found:
        print(f"topics: {line}")
    print(f"topics: {len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
