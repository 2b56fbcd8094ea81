"""The kata in a notebook (Jupyter, Colab): the same tests, run on the code the notebook defines.

In a notebook (notebooks/<topic>.ipynb sets this up in its first cell):

    from kata.learn.notebook import check, demo, hint
    check("tensors.move_to")   # that exercise's tests, on the move_to defined in this notebook
    check("tensors")           # every test of the topic: True when every test that ran passed
    hint("tensors.move_to")    # the next hint, one at a time
    demo("tensors")            # the topic's demo, on this notebook's code

`check` runs pytest in-process on tests/test_<topic>.py, unchanged: the `impl` fixture gets a module
built from the caller's namespace (the notebook's globals) instead of a file, and the output is the
terminal's, teaching failures and progress summary included. A notebook's work is graded as files:

    python -m kata.learn.notebook export NOTEBOOK... DEST   # DEST/<topic>.py from each notebook's code
    pytest --impl-dir=DEST                             # or nox -s grade -- DEST

Only the standard library is imported here at first: the set-up cell imports this module to
install what the runtime lacks (`install_requirements`) before pytest or torch are needed.
"""

from __future__ import annotations

import argparse
import ast
import gc
import importlib
import importlib.metadata
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from kata.core import manifest

# Where the kata is published: the notebooks' set-up cell clones it on Colab, and Colab opens the
# notebooks from it. A placeholder until the repository has its public address (then run
# `nox -s notebooks`, which writes it into every notebook).
REPO_URL = "https://github.com/YOUR-ORG/pytorch-fundamentals-kata"
WHERE = "your notebook"
HINT_COMMAND = 'hint("{qualname}")'
REQUIREMENTS = manifest.ROOT / "requirements.txt"
# The runtime's own build of these is kept (Colab's is built for its GPU); see install_requirements.
KEPT = ("torch", "torchvision")


def colab_url(topic: str) -> str:
    """The address that opens notebooks/<topic>.ipynb of REPO_URL in Colab."""
    owner_repo = REPO_URL.split("github.com/", 1)[1]
    return f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{topic}.ipynb"


# ---------------------------------------------------------------- check, hint, demo


def _namespace(namespace: dict | None, depth: int) -> dict:
    """The namespace given, else the globals of the notebook cell (or script) that called us."""
    return namespace if namespace is not None else sys._getframe(depth + 1).f_globals


def module_from(topic: str, namespace: dict) -> ModuleType:
    """A module holding the namespace's names (a snapshot: the functions still see the live globals)."""
    module = ModuleType(f"kata_notebook_{topic}", f"{topic}, as defined in {WHERE}")
    module.__dict__.update({k: v for k, v in namespace.items() if not k.startswith("__")})
    module.__file__ = WHERE
    return module


def _target(target: str) -> tuple[str, str | None]:
    """`tensors` or `tensors.move_to` -> (topic, exercise qualname or None); KeyError names the valid ones."""
    if "." in target:
        return manifest.find_exercise(target).topic, target
    return manifest.topic(target).name, None


def check(target: str, *args: str, namespace: dict | None = None) -> bool:
    """Run the tests of a topic (`"tensors"`) or of one exercise (`"tensors.move_to"`) on the code
    defined in the notebook; print the terminal's report; True when every test that ran passed.

    `args` go to pytest as they are (`"-x"`, `"-v"`, `"-k", "namedtuple"`); `namespace` defaults to
    the caller's globals (a notebook's, or a script's). Each call is a fresh pytest session (new
    collection, fixtures and plugin state); the test modules themselves are imported once per
    process, like torch (restart the kernel after updating the kata's tests)."""
    import pytest
    import torch

    from kata.learn.impl import InProcess

    topic, exercise = _target(target)
    source = InProcess({topic: module_from(topic, _namespace(namespace, 1))}, WHERE, HINT_COMMAND)
    argv = [str(manifest.ROOT / "tests" / f"test_{topic}.py"), f"--rootdir={manifest.ROOT}", "-q", *args]
    if exercise:
        argv.append(f"--kata-exercise={exercise}")
    if "ipykernel" in sys.modules:  # Jupyter and Colab show the terminal's colours; pytest cannot tell
        argv.append("--color=yes")
    threads = torch.get_num_threads()  # the plugin runs tests on one thread (kata/core/threads.py) ...
    # pytest collects garbage at the end of a run to find unraisable exceptions; with torch and the
    # notebook's objects in the heap that took half the time of a small check. The objects that
    # existed before the run cannot come from it: they sit out those collections, and return after.
    gc.freeze()
    try:
        code = pytest.main(argv, plugins=[source])
    finally:
        gc.unfreeze()
        torch.set_num_threads(threads)  # ... and the notebook gets its own setting back
    sys.stdout.flush()
    return code == pytest.ExitCode.OK


def hint(qualname: str) -> None:
    """Print the next hint of an exercise (`"tensors.move_to"`), with those already seen."""
    from kata.learn import hint as hints

    hints.main([qualname])


def demo(topic: str, *, quick: bool = False, save_png: str | None = None, namespace: dict | None = None):
    """Run the topic's demo (demos/<topic>.py) on the notebook's code; return its headline numbers."""
    module = module_from(manifest.topic(topic).name, _namespace(namespace, 1))
    try:
        return importlib.import_module(f"demos.{topic}").main(module, quick=quick, save_png=save_png)
    except NotImplementedError as err:
        from kata.learn import stubs

        print(stubs.unfinished(topic, err, stubs.stubs(module, topic, defined_in="__main__"), WHERE,
                               f"check({topic!r})"))
        return None


# ---------------------------------------------------------------- set-up on Colab


def _requirements(text: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower().replace("_", "-")


def plan_install(requirements: list[str], installed: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    """(requirements to install, constraints, notes) for a runtime with `installed` {name: version}.

    Only what is missing or too old is installed. An installed torch at or above the requirement's
    lowest version is kept, with its torchvision: the requirements of both are left out, and the
    constraints pin them to the installed versions so that no other package can replace them. An
    older torch (or none) is installed from the requirements like everything else."""
    from packaging.requirements import Requirement
    from packaging.version import InvalidVersion, Version

    def satisfied(req: Requirement, version: str | None, floor_only: bool = False) -> bool:
        if version is None:
            return False
        try:
            v = Version(version)
        except InvalidVersion:
            return False
        specs = [s for s in req.specifier if s.operator in (">=", ">")] if floor_only else req.specifier
        return all(s.contains(v, prereleases=True) for s in specs)

    reqs = {_name(r): Requirement(r) for r in requirements}
    torch_req = reqs.get("torch")
    keep = torch_req is not None and satisfied(torch_req, installed.get("torch"), floor_only=True)
    notes, constraints, todo = [], [], []
    if keep:
        if "torchvision" not in installed:
            notes.append(f"torch {installed['torch']} is installed but torchvision is not: install the torchvision "
                         "built for that torch (pytorch.org lists the pairs); the CNN and fine-tuning topics need it")
        if not satisfied(torch_req, installed["torch"]):
            notes.append(f"keeping this runtime's torch {installed['torch']} (the kata is tested with {torch_req})")
        constraints = [f"{name}=={installed[name]}" for name in KEPT if name in installed]
    for line in requirements:
        name = _name(line)
        if keep and name in KEPT:
            continue
        if not satisfied(reqs[name], installed.get(name)):
            todo.append(line)
    return todo, constraints, notes


def install_requirements(requirements: Path = REQUIREMENTS) -> None:
    """`pip install -r requirements.txt`, keeping the runtime's own torch (see plan_install)."""
    try:
        import packaging  # noqa: F401  (pip's own resolver decides where it is missing)
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "packaging"], check=True)
        importlib.invalidate_caches()
    lines = _requirements(requirements.read_text())
    installed = {}
    for line in lines:
        try:
            installed[_name(line)] = importlib.metadata.version(_name(line))
        except importlib.metadata.PackageNotFoundError:
            pass
    todo, constraints, notes = plan_install(lines, installed)
    for note in notes:
        print(f"set-up: {note}")
    if not todo:
        print("set-up: every requirement is already installed")
        return
    with tempfile.TemporaryDirectory() as tmp:
        req, con = Path(tmp, "requirements.txt"), Path(tmp, "constraints.txt")
        req.write_text("\n".join(todo) + "\n")
        con.write_text("\n".join(constraints) + "\n")
        print(f"set-up: pip install {' '.join(todo)}" + (f" (keeping {', '.join(constraints)})" if constraints else ""))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", str(req), "-c", str(con)], check=True)
    importlib.invalidate_caches()


# ---------------------------------------------------------------- export: a notebook's code as topic files

# Top-level statements a topic file is made of; anything else in a notebook cell (calls such as
# check(...), displays, loops of experiments) stays in the notebook, or it would run at import.
_KEPT_STATEMENTS = tuple(getattr(ast, name) for name in ("Import", "ImportFrom", "FunctionDef", "AsyncFunctionDef",
                                                         "ClassDef", "Assign", "AnnAssign", "TypeAlias")
                         if hasattr(ast, name))  # TypeAlias (`type X = ...`) is Python 3.12's
SETUP_MARK = "# Set-up: run this cell first."


def spans(text: str) -> list[tuple[ast.stmt, int, int]]:
    """Each top-level statement with its decorators and the comment lines right above it (kata/learn/reset.py's
    span finder, which reset uses without the comments)."""
    from kata.learn.reset import spans as definition_spans

    return definition_spans(text, comments=True)


def _magics_as_comments(source: str) -> str:
    """IPython's `%magic` and `!shell` lines, which are not Python, as comments."""
    return "".join(f"# {line}" if line.lstrip().startswith(("%", "!")) else line
                   for line in source.splitlines(keepends=True))


def _notebook_only(node: ast.stmt) -> bool:
    """`from kata.learn.notebook import ...`, or a result of check(...), demo(...), hint(...)."""
    if isinstance(node, ast.ImportFrom):
        return node.module == "kata.learn.notebook"
    if isinstance(node, ast.Import):
        return any(a.name == "kata.learn.notebook" for a in node.names)
    value = getattr(node, "value", None)
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
            and value.func.id in ("check", "demo", "hint", "install_requirements"))


def _role(cell: dict) -> str | None:
    role = cell.get("metadata", {}).get("kata", {}).get("role")
    source = "".join(cell.get("source", ""))
    return role or ("setup" if source.startswith(SETUP_MARK) else None)


def _topic_of(notebook: dict, path: Path) -> str:
    topic = notebook.get("metadata", {}).get("kata", {}).get("topic") or path.stem
    return manifest.topic(topic).name


def export_source(notebook: dict, topic: str) -> str:
    """The topic file that the notebook's code cells make: their definitions, imports and assignments,
    in order, without the set-up cell and without calls such as check(...). A cell that does not
    parse is kept whole, so that grading reports its syntax error where it is."""
    futures, parts = [], []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code" or _role(cell) in ("setup", "check", "demo"):
            continue
        source = _magics_as_comments("".join(cell.get("source", "")))
        try:
            found = spans(source)
        except SyntaxError:
            parts.append(source.rstrip("\n"))
            continue
        lines = source.splitlines(keepends=True)
        kept = []
        for node, start, end in found:
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                futures += [a.name for a in node.names if a.name not in futures]
            elif isinstance(node, _KEPT_STATEMENTS) and not _notebook_only(node):
                kept.append("".join(lines[start:end]).rstrip("\n"))
        if kept:
            parts.append("\n\n".join(kept))
    head = [f'"""{topic}, exported from a notebook (the code of its cells, without its checks)."""', ""]
    if futures:
        head += [f"from __future__ import {', '.join(futures)}", ""]
    entry = (f'if __name__ == "__main__":  # python -m exercises.{topic}: the demo, on this file\'s code\n'
             f"    from demos import run\n\n    run({topic!r})\n")
    return "\n".join(head) + "\n" + "\n\n\n".join(parts) + "\n\n\n" + entry


def export(notebook_path: Path, dest: Path) -> Path:
    """Write DEST/<topic>.py from the notebook; return its path."""
    notebook = json.loads(Path(notebook_path).read_text())
    topic = _topic_of(notebook, Path(notebook_path))
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"{topic}.py"
    out.write_text(export_source(notebook, topic))
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m kata.learn.notebook", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write DEST/<topic>.py from each notebook's code, for pytest --impl-dir=DEST")
    ex.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    ex.add_argument("dest", type=Path, metavar="DEST")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        try:
            out = export(path, args.dest)
        except (OSError, ValueError, KeyError) as err:
            print(f"export: {path}: {err}", file=sys.stderr)
            return 2
        print(f"export: {path} -> {out}")
    print(f"grade it: pytest --impl-dir={args.dest}  (or nox -s grade -- {args.dest})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
