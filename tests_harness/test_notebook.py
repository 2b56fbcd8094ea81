"""The kata in notebooks: check() on a notebook's namespace, the generated notebooks, their export
to topic files, and notebooks executed headlessly in a real Jupyter kernel (nbclient). The tests that
need the notebooks' extras (requirements-notebooks.txt) skip with that reason where they are absent."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import textwrap

import pytest

from kata.core import manifest
from kata.learn import notebook

ROOT = manifest.ROOT
TOPIC = "tensors"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
EXTRAS = "the notebooks' extras are not installed: pip install -r requirements-notebooks.txt"


def _extras(*names: str) -> None:
    for name in names:
        pytest.importorskip(name, reason=EXTRAS)


def _shipped(topic: str = TOPIC) -> dict:
    return json.loads((ROOT / "notebooks" / f"{topic}.ipynb").read_text())


def _solved(nb: dict, topic: str = TOPIC) -> dict:
    """The notebook with the solutions' code pasted into its exercise cells: each exercise's
    definition, preceded by the solution's own code above it (its helpers), in the solution's order."""
    from kata.maintain import notebook_build

    parts = notebook_build._parts(topic, (ROOT / "solutions" / f"{topic}.py").read_text())
    code: dict[str, str] = {}
    pending: list[str] = []
    last = None
    for name, source in parts:
        source = "\n".join(ln for ln in source.splitlines() if not ln.startswith("from __future__"))
        if name is None:
            pending.append(source)
            continue
        code[name], pending, last = "\n\n".join([*pending, source]), [], name
    code[last] += "".join(f"\n\n{p}" for p in pending)
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        kata = cell["metadata"].get("kata", {})
        if kata.get("role") == "exercise":
            cell["source"] = code[kata["exercise"]]
    return nb


def _run_python(code: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- check() in-process, without Jupyter


def test_check_grades_the_callers_namespace_and_runs_again_in_the_same_process():
    script = textwrap.dedent(f"""
        import ast, torch
        from kata.learn.notebook import check

        def load(path):
            tree = ast.parse(open(path).read())
            tree.body = [n for n in tree.body if not (isinstance(n, ast.If) and "__name__" in ast.unparse(n.test))]
            exec(compile(tree, path, "exec"), globals())

        torch.set_num_threads(2)
        load("solutions/{TOPIC}.py")
        print("RESULT solved", check("{TOPIC}"))
        print("RESULT threads", torch.get_num_threads())
        print("RESULT again", check("{TOPIC}"))
        load("exercises/{TOPIC}.py")
        print("RESULT stubs", check("{TOPIC}.move_to"))
        load("solutions/{TOPIC}.py")
        del move_to
        print("RESULT missing", check("{TOPIC}.move_to", "-x"))
    """)
    proc = _run_python(script)
    out = proc.stdout
    results = dict(line.split()[1:] for line in out.splitlines() if line.startswith("RESULT "))
    assert results == {"solved": "True", "threads": "2", "again": "True", "stubs": "False", "missing": "False"}, (
        out[-3000:] + proc.stderr[-2000:])
    stubs = out.split("RESULT again")[1].split("RESULT stubs")[0]
    assert "kata progress: your notebook" in stubs
    assert "not implemented yet (1 exercise(s))" in stubs and "tensors.move_to" in stubs
    assert "(a selection:" in stubs, "one exercise's tests are a selection of the topic"
    assert 'more: hint("tensors.move_to")' in stubs
    missing = out.split("RESULT stubs")[1]
    assert "tensors.move_to is missing from your notebook" in missing
    assert "Traceback" not in proc.stderr


def test_check_names_the_valid_targets():
    with pytest.raises(KeyError, match="tensors has: tensors.pick_device"):
        notebook.check("tensors.no_such_exercise", namespace={})
    with pytest.raises(KeyError, match="no topic 'tensor'"):
        notebook.check("tensor", namespace={})


# ---------------------------------------------------------------- set-up: what pip is asked for


REQUIREMENTS = ["torch>=2.4,<2.15", "torchvision>=0.19,<0.30", "numpy>=1.26", "pytest>=8.0", "nox>=2024.3"]


def test_setup_keeps_a_runtimes_newer_torch_and_installs_only_what_is_missing():
    installed = {"torch": "2.16.0+cu126", "torchvision": "0.31.0+cu126", "numpy": "2.0.2", "pytest": "7.4.4"}
    todo, constraints, notes = notebook.plan_install(REQUIREMENTS, installed)
    assert todo == ["pytest>=8.0", "nox>=2024.3"]
    assert constraints == ["torch==2.16.0+cu126", "torchvision==0.31.0+cu126"]
    assert any("keeping this runtime's torch 2.16.0+cu126" in n for n in notes)


def test_setup_installs_nothing_where_everything_is_there():
    installed = {"torch": "2.14.1", "torchvision": "0.29.1", "numpy": "2.4", "pytest": "9.2", "nox": "2025.1"}
    assert notebook.plan_install(REQUIREMENTS, installed) == ([], ["torch==2.14.1", "torchvision==0.29.1"], [])


def test_setup_installs_torch_where_there_is_none_or_it_is_too_old():
    for installed in ({}, {"torch": "2.1.0", "torchvision": "0.16.0"}):
        todo, constraints, _ = notebook.plan_install(REQUIREMENTS, installed)
        assert todo[:2] == REQUIREMENTS[:2] and constraints == []


# ---------------------------------------------------------------- export: a notebook's code as a topic file


def _definitions(text: str) -> dict[str, str]:
    import ast

    return {node.name: ast.dump(node) for node, _, _ in notebook.spans(text)
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def test_the_shipped_notebook_exports_the_shipped_exercises():
    exported = notebook.export_source(_shipped(), TOPIC)
    assert _definitions(exported) == _definitions((ROOT / "exercises" / f"{TOPIC}.py").read_text())
    assert "check(" not in exported and "demo(" not in exported and "REPO_URL" not in exported
    assert exported.count("from __future__ import annotations") == 1


def test_a_solved_notebook_exports_a_file_that_passes_the_topics_tests(tmp_path):
    nb = _solved(_shipped())
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                        "source": "%time x = 1\nmove_to([1], 'cpu')\nscratch = 3\nok = check('tensors')"})
    path = tmp_path / "my-copy.ipynb"  # the topic comes from the notebook's metadata, not its name
    path.write_text(json.dumps(nb))
    dest = tmp_path / "graded"
    assert notebook.main(["export", str(path), str(dest)]) == 0
    exported = (dest / f"{TOPIC}.py").read_text()
    assert "scratch = 3" in exported  # a definition stays; a magic, a call and a check do not
    assert "%time" not in exported and "move_to([1]" not in exported and "check(" not in exported
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--impl-dir={dest}",
                           f"tests/test_{TOPIC}.py"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_a_cell_that_does_not_parse_is_exported_whole_for_grading_to_report():
    nb = _shipped()
    nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "source": "def broken(:\n    pass"})
    assert "def broken(:" in notebook.export_source(nb, TOPIC)


# ---------------------------------------------------------------- the generated notebooks


def test_every_topic_has_its_notebook_as_generated():
    _extras("nbformat")
    from kata.maintain import notebook_build

    assert notebook_build.problems(ROOT) == []


def test_a_notebook_edited_by_hand_run_or_stray_is_refused(tmp_path):
    _extras("nbformat")
    from kata.maintain import notebook_build

    folder = tmp_path / "notebooks"
    folder.mkdir()
    for topic in manifest.topic_names():
        (folder / f"{topic}.ipynb").write_text((ROOT / "notebooks" / f"{topic}.ipynb").read_text())
    edited, run = manifest.topic_names()[:2]
    nb = json.loads((folder / f"{edited}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c["metadata"]["kata"]["role"] == "exercise")
    cell["source"] = "".join(cell["source"]).replace("raise NotImplementedError", "return None  # ")
    (folder / f"{edited}.ipynb").write_text(json.dumps(nb))
    nb = json.loads((folder / f"{run}.ipynb").read_text())
    nb["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi"}]
    nb["metadata"]["widgets"] = {}  # what Jupyter adds is not a difference
    (folder / f"{run}.ipynb").write_text(json.dumps(nb))
    (folder / "old_topic.ipynb").write_text("{}")
    found = notebook_build.problems(tmp_path)
    assert len(found) == 3, found
    assert f"notebooks/{edited}.ipynb differs" in found[1] and f"'{cell['id']}'" in found[1]
    assert f"notebooks/{run}.ipynb was saved with outputs" in found[2]
    assert "old_topic.ipynb belongs to no topic" in found[0]


@pytest.mark.parametrize("topic", manifest.topic_names())
def test_each_exercise_has_its_cell_then_its_check_in_the_manifests_order(topic):
    nb = _shipped(topic)
    roles = [(c["metadata"]["kata"]["role"], c["metadata"]["kata"].get("exercise")) for c in nb["cells"]]
    exercises = [e.name for e in manifest.topic(topic).exercises if e.name != "demo"]
    head = [("intro", None), ("setup", None), ("given", None)]
    body = [(role, name) for name in exercises for role in ("about", "exercise", "check")]
    tail = [("about", None), ("check", None), ("about", "demo"), ("demo", "demo")]
    assert roles == head + body + tail  # nothing given after an exercise: its check would run before it
    first = "".join(nb["cells"][1]["source"])
    assert first.startswith(notebook.SETUP_MARK) and notebook.REPO_URL in first


def test_the_readmes_colab_links_open_the_notebooks_of_repo_url():
    links = re.findall(r"https://colab\.research\.google\.com/\S+?\.ipynb", (ROOT / "README.md").read_text())
    assert links, "the README has no Open in Colab link"
    for link in links:
        assert link in [notebook.colab_url(t) for t in manifest.topic_names()], link


# ---------------------------------------------------------------- in a real Jupyter kernel (nbclient)


def _execute(nb: dict, timeout: int = 600) -> list[str]:
    """Run the notebook in a fresh kernel from notebooks/; each code cell's output as plain text."""
    import nbformat
    from nbclient import NotebookClient

    node = nbformat.reads(json.dumps(nb), as_version=4)  # as Jupyter reads a file: sources joined
    NotebookClient(node, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    texts = []
    for cell in node.cells:
        if cell.cell_type != "code":
            continue
        parts = [o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs]
        texts.append(ANSI.sub("", "".join(parts)))
    return texts


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_a_kernel_that_runs_the_solutions_passes_check_and_the_exercises_fail_it():
    _extras("nbformat", "nbclient", "ipykernel")
    import nbformat

    load = textwrap.dedent("""
        import ast, sys
        sys.path.insert(0, {root!r})
        from kata.learn.notebook import check

        def load(path):
            tree = ast.parse(open(path).read())
            tree.body = [n for n in tree.body if not (isinstance(n, ast.If) and "__name__" in ast.unparse(n.test))]
            exec(compile(tree, path, "exec"), globals())
    """).format(root=str(ROOT))
    cells = [load, f'load("{ROOT}/solutions/{TOPIC}.py")\ncheck("{TOPIC}")',
             f'load("{ROOT}/exercises/{TOPIC}.py")\ncheck("{TOPIC}")']
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    _, solved, stubs = _execute(nb)
    assert solved.rstrip().endswith("True") and "every test that ran passes" in solved, solved[-2000:]
    assert stubs.rstrip().endswith("False"), stubs[-2000:]
    assert "not implemented yet" in stubs and "next: tensors.pick_device in your notebook" in stubs


def test_the_generated_notebook_solved_passes_every_check():
    _extras("nbformat", "nbclient", "ipykernel")
    nb = _solved(_shipped())
    for cell in _code_cells(nb):
        if cell["metadata"]["kata"]["role"] == "demo":
            cell["source"] = f'result = demo("{TOPIC}", quick=True)\nprint(sorted(result))'
    outputs = _execute(nb)
    roles = [c["metadata"]["kata"] for c in _code_cells(nb)]
    checks = [(r.get("exercise"), out) for r, out in zip(roles, outputs, strict=True) if r["role"] == "check"]
    for exercise, out in checks:
        assert out.rstrip().endswith("True"), f"check of {exercise}:\n{out[-2000:]}"
    assert "[" in outputs[-1] and "'fp32_bytes'" in outputs[-1], outputs[-1]


def test_the_generated_notebook_as_shipped_fails_every_check_with_the_teaching_message():
    _extras("nbformat", "nbclient", "ipykernel")
    nb = _shipped()
    outputs = _execute(nb)
    roles = [c["metadata"]["kata"] for c in _code_cells(nb)]
    assert "set-up:" in outputs[0]
    for role, out in zip(roles, outputs, strict=True):
        if role["role"] != "check":
            continue
        assert out.rstrip().endswith("False"), out[-2000:]
        if role.get("exercise"):
            qualname = f"{TOPIC}.{role['exercise']}"
            assert "not implemented yet (1 exercise(s))" in out and qualname in out, out[-2000:]
            assert f'more: hint("{qualname}")' in out
    assert "Still stubs in your notebook: pick_device" in outputs[-1]
