"""`nox -s notebooks`: write notebooks/<topic>.ipynb for every topic of the manifest, from exercises/
and the manifest (with nbformat; never edit a notebook by hand: `nox -s check` refuses one that
differs from what this writes).

A topic's notebook, cell by cell:
- its introduction: the manifest's title, exercises/<topic>.py's docstring, how to work in it;
- the set-up cell: on Colab (or anywhere outside a clone) it clones REPO_URL (kata/learn/notebook.py) and
  installs what requirements.txt asks for and the runtime lacks, keeping the runtime's own torch;
  then it imports check, demo and hint;
- exercises/<topic>.py's own code in order: its imports and shared helpers in a given cell, then
  each exercise's definition (stub and docstring, or a bug hunt's shipped code) in a cell of its
  own, with any definition that follows it before the next exercise (a companion such as
  `unfreeze` after `freeze`), followed by its check cell, `check("<topic>.<exercise>")`;
- `check("<topic>")` for the whole topic, then the topic's demo on the notebook's code.

    python -m kata.maintain.notebook_build          # write them
    python -m kata.maintain.notebook_build --check  # list the notebooks that differ (a step of nox -s check)
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

from kata.core import manifest
from kata.learn import notebook

INSTALL_EXTRAS = "pip install -r requirements-notebooks.txt"

SETUP = f'''{notebook.SETUP_MARK} Outside a clone of the kata (on Colab) it clones the kata and
# installs what requirements.txt asks for and this runtime lacks, keeping the runtime's own torch and
# torchvision; inside a clone it only finds the kata. Then it imports check, demo and hint.
import os
import subprocess
import sys
from pathlib import Path

REPO_URL = "{notebook.REPO_URL}"
root = next((p for p in (Path.cwd(), *Path.cwd().parents) if (p / "kata" / "curriculum.toml").is_file()), None)
if root is None:
    root = Path.cwd() / "{notebook.REPO_URL.rstrip("/").rsplit("/", 1)[-1]}"
    if not root.is_dir():
        subprocess.run(["git", "clone", "--quiet", "--depth=1", REPO_URL, str(root)], check=True)
os.chdir(root)
if str(root) not in sys.path:
    sys.path.insert(0, str(root))

from kata.learn.notebook import check, demo, hint, install_requirements

install_requirements()'''

HOW = """**How this notebook works.** Run the set-up cell first. Each exercise is a code cell with its
docstring, the spec: replace the `raise NotImplementedError(...)` with your code (keep the name and
the signature), run the cell, then the check cell under it. `check("{topic}.<exercise>")` runs the
kata's own tests on the code this notebook defines and prints what went wrong, with a hint;
`hint("{topic}.<exercise>")` reveals further hints, one at a time. The cell after the set-up holds
the imports and helpers the exercises share: run it too.

On Colab, a GPU runtime (Runtime > Change runtime type) also runs the tests that need CUDA; without
one they are skipped, and the summary says how many. To have your work graded, download the notebook
and export its code to a topic file: `python -m kata.learn.notebook export {topic}.ipynb DEST`, then
`pytest --impl-dir=DEST` (see the README)."""

BUGHUNT = ("**Bug hunt**: this code is given, runs, and is wrong. Read the docstring, run the check, "
           "and find the bug the tests describe.")


def _nbformat():
    try:
        import nbformat
    except ImportError:
        raise SystemExit(f"the notebooks need nbformat: {INSTALL_EXTRAS}") from None
    return nbformat


def _parts(topic: str, text: str) -> list[tuple[str | None, str]]:
    """exercises/<topic>.py as (exercise name or None, source) in file order: the code above the first
    exercise (imports, shared helpers) as (None, ...), then each exercise's definition with whatever
    follows it up to the next exercise (a companion the same tests use, such as `unfreeze` after
    `freeze`); the module docstring and the `if __name__ == "__main__":` entry point left out."""
    names = {ex.name for ex in manifest.topic(topic).exercises}
    lines = text.splitlines(keepends=True)
    parts: list[list] = []  # [name or None, first line index, end line index]
    for i, (node, start, end) in enumerate(notebook.spans(text)):
        docstring = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        entry = isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'"
        if docstring or entry:
            continue
        name = getattr(node, "name", None)
        if name in names:
            parts.append([name, start, end])
        elif parts:
            parts[-1][2] = end
        else:
            parts.append([None, start, end])
    defined = {name for name, _, _ in parts if name}
    missing = [n for n in names - defined if n != "demo"]
    if missing:
        raise ValueError(f"exercises/{topic}.py: no top-level definition of {', '.join(sorted(missing))}, "
                         "an exercise of the manifest")
    return [(name, "".join(lines[start:end]).strip("\n")) for name, start, end in parts]


def _companions(name: str, source: str) -> list[str]:
    """The other functions and classes a cell defines besides its exercise."""
    return [node.name for node, _, _ in notebook.spans(source)
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name != name]


def _cell(nbf, kind: str, source: str, cell_id: str, role: str, exercise: str | None = None):
    meta = {"kata": {"role": role, **({"exercise": exercise} if exercise else {})}}
    make = nbf.v4.new_code_cell if kind == "code" else nbf.v4.new_markdown_cell
    return make(source, id=cell_id, metadata=meta)


def build(topic: str):
    """The notebook of a topic, as nbformat's NotebookNode (deterministic: the same sources give the
    same notebook, cell ids included)."""
    nbf = _nbformat()
    t = manifest.topic(topic)
    text = (manifest.ROOT / "exercises" / f"{topic}.py").read_text()
    doc = ast.get_docstring(ast.parse(text)) or ""
    cells = [
        _cell(nbf, "markdown", f"# {t.title}\n\n{doc}\n\n{HOW.format(topic=topic)}", "intro", "intro"),
        _cell(nbf, "code", SETUP, "setup", "setup"),
    ]
    bughunts = {ex.name for ex in t.exercises if ex.bughunt}
    for name, source in _parts(topic, text):
        if name is None:
            cells.append(_cell(nbf, "code", source, "given", "given"))
            continue
        heading = f"## `{topic}.{name}`" + (f"\n\n{BUGHUNT}" if name in bughunts else "")
        also = _companions(name, source)
        if also:
            heading += f"\n\nThis cell also defines {', '.join(f'`{n}`' for n in also)}."
        cells += [
            _cell(nbf, "markdown", heading, f"about-{name}", "about", name),
            _cell(nbf, "code", source, f"exercise-{name}", "exercise", name),
            _cell(nbf, "code", f'check("{topic}.{name}")', f"check-{name}", "check", name),
        ]
    cells += [
        _cell(nbf, "markdown", f"## The whole topic\n\nEvery test of `{topic}`, the demo's smoke test included.",
              "about-topic", "about"),
        _cell(nbf, "code", f'check("{topic}")', "check-topic", "check"),
        _cell(nbf, "markdown", f"## The demo\n\n`demos/{topic}.py` on the code of this notebook: the concept at "
              f'work, with real numbers (`demo("{topic}", quick=True)` runs a smaller version).',
              "about-demo", "about", "demo"),
        _cell(nbf, "code", f'result = demo("{topic}")', "demo", "demo", "demo"),
    ]
    nb = nbf.v4.new_notebook(cells=cells)
    nb.metadata = {
        "kata": {"topic": topic},
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "accelerator": "GPU",  # Colab opens it on a GPU runtime where it has one to give
        "colab": {"provenance": []},
    }
    nbf.validate(nb)
    return nb


def render(topic: str) -> str:
    return _nbformat().writes(build(topic)) + "\n"


def _comparable(nb: dict) -> dict:
    """What the sources decide; what Jupyter or Colab add when they open or run a notebook is ignored
    (the outputs are reported on their own)."""
    return {
        "kata": nb.get("metadata", {}).get("kata"),
        "cells": [(c.get("cell_type"), c.get("id"), "".join(c.get("source", "")), c.get("metadata", {}).get("kata"))
                  for c in nb.get("cells", [])],
    }


def problems(root: Path = manifest.ROOT) -> list[str]:
    """Notebooks missing, stray, run (outputs saved), or different from what their sources generate."""
    folder = root / "notebooks"
    names = manifest.topic_names()
    out = [f"notebooks/{p.name} belongs to no topic of the manifest" for p in sorted(folder.glob("*.ipynb"))
           if p.stem not in names]
    for topic in names:
        path = folder / f"{topic}.ipynb"
        if not path.is_file():
            out.append(f"notebooks/{topic}.ipynb is missing (nox -s notebooks)")
            continue
        try:
            saved = json.loads(path.read_text())
        except ValueError as err:
            out.append(f"notebooks/{topic}.ipynb is not JSON: {err}")
            continue
        want = _comparable(json.loads(render(topic)))
        have = _comparable(saved)
        if have != want:
            out.append(f"notebooks/{topic}.ipynb differs from what exercises/{topic}.py and the manifest generate "
                       f"({_first_difference(have, want)}); regenerate it: nox -s notebooks")
        if any(c.get("outputs") or c.get("execution_count") for c in saved.get("cells", [])):
            out.append(f"notebooks/{topic}.ipynb was saved with outputs; regenerate it: nox -s notebooks")
    return out


def _first_difference(have: dict, want: dict) -> str:
    if have["kata"] != want["kata"]:
        return "its metadata"
    for i, (a, b) in enumerate(zip(have["cells"], want["cells"], strict=False)):
        if a != b:
            return f"cell {i + 1}, {b[1]!r}"
    return f"{len(have['cells'])} cells instead of {len(want['cells'])}"


def write_all(root: Path = manifest.ROOT) -> list[Path]:
    folder = root / "notebooks"
    folder.mkdir(exist_ok=True)
    written = []
    for topic in manifest.topic_names():
        path = folder / f"{topic}.ipynb"
        text = render(topic)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    for stray in sorted(folder.glob("*.ipynb")):
        if stray.stem not in manifest.topic_names():
            print(f"notebooks: {stray.relative_to(root)} belongs to no topic of the manifest (remove it)")
    return written


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        found = problems()
        for p in found:
            print(f"notebooks: {p}")
        print(f"notebooks: {len(manifest.topic_names())} topic(s), {len(found)} problem(s)")
        return 1 if found else 0
    if argv:
        print("usage: python -m kata.maintain.notebook_build [--check]", file=sys.stderr)
        return 2
    written = write_all()
    for path in written:
        print(f"notebooks: wrote {path.relative_to(manifest.ROOT)}")
    print(f"notebooks: {len(manifest.topic_names())} topic(s), {len(written)} written, the rest unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
