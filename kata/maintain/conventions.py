"""House conventions, checked: one line per problem, naming the file, the line and the rule.

- marker: tests/test_<topic>.py names each exercise's marker alias exactly like the exercise,
  `<name> = pytest.mark.exercise("<name>")`, and has one for every exercise of the manifest;
- divider: a section divider is one line, `# ` + 64 dashes + ` ` + the section's name;
- mutant-import: a mutant imports the reference only as `from solutions import <topic> as reference`
  (and optionally `from solutions.<topic> import *`);
- mutant-docstring: a mutant's docstring's first line is `Pitfall: <what is wrong> (<topic>.<exercise>).`;
- topic-number: a module docstring names its topic, never its number (the word "topic" and a digit);
- exercise-solutions: exercises/ never mention solutions/ (the student edition ships without it);
- rooms: kata/ holds only `__init__.py` and its four packages, and imports run one way,
  maintain -> grading -> learn -> core (a module imports its own room or one below, never above).

    python -m kata.maintain.conventions [ROOT]
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
import tomllib
from collections import Counter
from pathlib import Path

from kata.core import manifest

DIVIDER = re.compile(r"# -{64} \S.*")
SKIPPED_DIRS = {".venv", ".nox", ".git", "__pycache__", "node_modules"}
_TOPIC_NUMBER = re.compile(r"\btopic\s+#?\d", re.IGNORECASE)
_SOLUTIONS_WORD = re.compile(r"\bsolutions\b")
_PITFALL = re.compile(r"Pitfall: \S.* \((\w+)\.(\w+)\)\.")


def _py_files(root: Path) -> list[Path]:
    """The .py files git knows of (tracked, or new and not ignored); every .py file outside a git checkout."""
    proc = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.py"],
                          cwd=root, capture_output=True, text=True)
    if proc.returncode == 0 and (root / ".git").exists():
        names = sorted({n for n in proc.stdout.split("\0") if n})
        files = [root / n for n in names]
    else:
        files = sorted(p for p in root.rglob("*.py") if not SKIPPED_DIRS & set(p.relative_to(root).parts))
    return [p for p in files if p.is_file() and not SKIPPED_DIRS & set(p.relative_to(root).parts)]


def _exercises(root: Path) -> dict[str, list[str]]:
    """Topic -> its exercises, in the order of root's kata/curriculum.toml."""
    path = root / "kata" / "curriculum.toml"
    if not path.is_file():
        return {}
    with path.open("rb") as f:
        raw = tomllib.load(f).get("topics", {})
    return {name: list(t.get("exercises", {})) for name, t in raw.items()}


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _parse(root: Path, path: Path, out: list[str]) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
        line = getattr(exc, "lineno", None) or 1
        out.append(f"{_rel(root, path)}:{line}: [parse] cannot be read as Python: {exc.__class__.__name__}")
        return None


# ---------------------------------------------------------------- marker aliases
def _is_exercise_marker(node: ast.AST) -> bool:
    """`pytest.mark.exercise(...)`."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "exercise"
            and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "mark"
            and isinstance(node.func.value.value, ast.Name) and node.func.value.value.id == "pytest")


def check_markers(root: Path, exercises: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for topic, names in exercises.items():
        path = root / "tests" / f"test_{topic}.py"
        rel = _rel(root, path)
        if not path.is_file():
            out.append(f"{rel}:1: [marker] no test file for topic {topic!r}")
            continue
        tree = _parse(root, path, [])  # a file that cannot be parsed is reported once, by problems()
        if tree is None:
            continue
        aliased = set()
        for node in tree.body:
            value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            if value is None or not _is_exercise_marker(value):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            arg = value.args[0] if len(value.args) == 1 and not value.keywords else None
            name = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
            target = targets[0].id if len(targets) == 1 and isinstance(targets[0], ast.Name) else None
            if name is None or target is None:
                out.append(f"{rel}:{node.lineno}: [marker] write the alias as "
                           f"<name> = pytest.mark.exercise(\"<name>\")")
                continue
            aliased.add(name)
            if target != name:
                out.append(f"{rel}:{node.lineno}: [marker] alias {target!r} for exercise {name!r}: "
                           f"name it {name} = pytest.mark.exercise({name!r})")
            if name not in names:
                out.append(f"{rel}:{node.lineno}: [marker] {name!r} is not an exercise of topic {topic!r}")
        for name in names:
            if name not in aliased:
                out.append(f"{rel}:1: [marker] exercise {topic}.{name} has no alias "
                           f"{name} = pytest.mark.exercise({name!r})")
    return out


# ---------------------------------------------------------------- section dividers
def _looks_like_divider(comment: str) -> bool:
    if comment.startswith(("# --", "# ==")):
        return True
    marks = sum(c in "-=#" for c in comment)
    if marks >= 10 and set(comment) <= set("#-= "):
        return True
    return re.search(r"[-=]{10,}\s*$", comment) is not None


def check_dividers(root: Path, files: list[Path]) -> list[str]:
    out: list[str] = []
    for path in files:
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline))
        except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
            continue  # reported by the checks that parse the file
        code_rows = {t.start[0] for t in tokens if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                                                                  tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)}
        for tok in tokens:
            if tok.type != tokenize.COMMENT or tok.start[0] in code_rows:
                continue
            comment = tok.string.rstrip()
            if _looks_like_divider(comment) and not DIVIDER.fullmatch(comment):
                out.append(f"{_rel(root, path)}:{tok.start[0]}: [divider] write a divider as one line, "
                           f"'# ' + 64 dashes + ' ' + the section's name")
    return out


# ---------------------------------------------------------------- mutants
def _solutions_module(name: str | None) -> bool:
    return name is not None and (name == "solutions" or name.startswith("solutions."))


def _public_names(root: Path, topic: str) -> set[str]:
    """Top-level functions and classes of exercises/<topic>.py (the names a learner sees)."""
    path = root / "exercises" / f"{topic}.py"
    tree = _parse(root, path, []) if path.is_file() else None
    if tree is None:
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")}


def check_mutants(root: Path, exercises: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    names: dict[str, set[str]] = {}
    for path in sorted((root / "mutants").glob("*/*.py")):
        topic, rel = path.parent.name, _rel(root, path)
        if topic not in names:
            names[topic] = set(exercises.get(topic, ())) | _public_names(root, topic)
        tree = _parse(root, path, [])
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and _solutions_module(node.module):
                ok_reference = (node.module == "solutions" and len(node.names) == 1
                                and node.names[0].name == topic and node.names[0].asname == "reference")
                ok_star = node.module == f"solutions.{topic}" and [a.name for a in node.names] == ["*"]
                if not (ok_reference or ok_star):
                    out.append(f"{rel}:{node.lineno}: [mutant-import] import the reference only as "
                               f"`from solutions import {topic} as reference` (or `from solutions.{topic} import *`)")
            elif isinstance(node, ast.Import) and any(_solutions_module(a.name) for a in node.names):
                out.append(f"{rel}:{node.lineno}: [mutant-import] import the reference only as "
                           f"`from solutions import {topic} as reference` (or `from solutions.{topic} import *`)")
        doc = ast.get_docstring(tree, clean=False)
        first = doc.splitlines()[0] if doc else ""
        m = _PITFALL.fullmatch(first)
        if not m or m.group(1) != topic or m.group(2) not in names[topic]:
            out.append(f"{rel}:1: [mutant-docstring] the docstring's first line should read "
                       f"`Pitfall: <what is wrong> ({topic}.<exercise>).`, naming an exercise "
                       f"(or a public function) of {topic}")
    return out


# ---------------------------------------------------------------- module docstrings
def check_topic_numbers(root: Path, files: list[Path]) -> list[str]:
    out: list[str] = []
    for path in files:
        tree = _parse(root, path, [])
        doc = ast.get_docstring(tree, clean=False) if tree is not None else None
        if not doc:
            continue
        start = tree.body[0].lineno
        for i, line in enumerate(doc.splitlines()):
            if _TOPIC_NUMBER.search(line):
                out.append(f"{_rel(root, path)}:{start + i}: [topic-number] name the topic, not its number "
                           f"(the manifest holds the order)")
    return out


# ---------------------------------------------------------------- exercises
def check_exercises(root: Path) -> list[str]:
    out: list[str] = []
    for path in sorted((root / "exercises").glob("*.py")):
        for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if _SOLUTIONS_WORD.search(line):
                out.append(f"{_rel(root, path)}:{i}: [exercise-solutions] mentions solutions, which the student "
                           f"edition does not ship (point at exercises/ instead)")
    return out


# ---------------------------------------------------------------- rooms
ROOMS = ("core", "learn", "grading", "maintain")  # lowest first: a room may import its own and those before it


def _imported(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, dotted name) of every kata module a tree imports, at any depth (lazy imports count)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return [(line, name) for line, name in out if name.split(".")[0] == "kata"]


def check_rooms(root: Path, files: list[Path]) -> list[str]:
    out: list[str] = []
    kata = root / "kata"
    for path in sorted(kata.glob("*.py")):
        if path.name != "__init__.py":
            out.append(f"{_rel(root, path)}:1: [rooms] a module directly in kata/: move it into the room of "
                       f"whoever uses it ({', '.join(ROOMS)}; CONTRIBUTING.md has the map)")
    for path in files:
        parts = path.relative_to(root).parts
        if len(parts) < 3 or parts[0] != "kata" or parts[1] not in ROOMS:
            continue
        mine = ROOMS.index(parts[1])
        tree = _parse(root, path, [])  # a file that cannot be parsed is reported once, by problems()
        if tree is None:
            continue
        for line, name in _imported(tree):
            room = name.split(".")[1] if name.count(".") else ""
            if room in ROOMS and ROOMS.index(room) > mine:
                module = ".".join(name.split(".")[:3])
                out.append(f"{_rel(root, path)}:{line}: [rooms] kata.{parts[1]}.{Path(parts[-1]).stem} imports "
                           f"{module}: imports run maintain -> grading -> learn -> core, never back up (move the "
                           f"shared code down, or let the caller pass it in)")
    return out


def problems(root: Path) -> list[str]:
    """Every convention broken under root, one line each: `path:line: [rule] what to do`."""
    root = Path(root).resolve()
    files = _py_files(root)
    exercises = _exercises(root)
    out: list[str] = []
    for path in files:
        _parse(root, path, out)
    out += check_markers(root, exercises)
    out += check_dividers(root, files)
    out += check_mutants(root, exercises)
    out += check_topic_numbers(root, files)
    out += check_exercises(root)
    out += check_rooms(root, files)
    return out


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else manifest.ROOT
    found = problems(root)
    for line in found:
        print(line)
    counts = Counter(re.search(r"\[([\w-]+)\]", line).group(1) for line in found)
    detail = ", ".join(f"{rule}: {n}" for rule, n in sorted(counts.items()))
    print(f"conventions: {len(found)} problem(s)" + (f" ({detail})" if detail else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
