"""`nox -s prairielearn -- DEST`: the kata as a PrairieLearn course fragment, one externally graded
question per topic, and the grader image they run in.

DEST gets, for every topic of the manifest:

    questions/kata/<topic>/info.json      v3 question, gradingMethod External, externalGradingOptions
                                          (image, entrypoint, timeout; no network, PrairieLearn's default)
    questions/kata/<topic>/question.html  the topic's file to write: a file editor seeded with the
                                          stub (or an upload, --upload), and the grader's results
    questions/kata/<topic>/tests/         kata.json (which topic this question grades) and the stub

and once, the grader image's build folder:

    graders/kata/Dockerfile               python:3.11-slim, CPU-only torch and torchvision from
                                          PyTorch's index, the pinned requirements, bubblewrap; grading
                                          runs offline, so everything is baked in
    graders/kata/harness/                 the pristine harness and tests from the last commit (as in
                                          the Gradescope bundle), run_prairielearn, and with --hidden
                                          DIR the instructor's hidden tests as hidden/

Copy questions/kata/ into the course's questions/, build and push the image under the name given
with --image, and sync the course (README: Instructors, PrairieLearn).

PrairieLearn runs the entrypoint, /kata/run_prairielearn, with the question's tests/ in /grade/tests
and the student's file in /grade/student. It grades through kata.grading.grade, the code of
`nox -s grade` (its sandbox, limits and hidden tests), and writes /grade/results/results.json:
score in [0, 1] from the score sheet of kata/grading/reports.py, gradable, message, output and
tests[] with name, points, max_points, message and output. A submission that fails, loops,
crashes or does not import scores 0 with the reason, as in class grading; a fault of the grader
itself (its files missing, an error in grading) gives gradable: false with a message, so the
student loses no attempt and gets no zero. KATA_PL_PYTHON (instead of the image's Python) lets the
kata's own tests run the entrypoint in a temporary folder laid out like /grade.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
import uuid
from pathlib import Path

from kata.core import manifest
from kata.grading import gradescope, hidden, limits, reports

ROOT = manifest.ROOT
IMAGE = "your-dockerhub-user/pytorch-kata-grader"
ENTRYPOINT = "/kata/run_prairielearn"
TIMEOUT = min(600, int(limits.TOPIC_TIMEOUT) + 120)  # PrairieLearn's ceiling is 600 s; the topic's own + start-up
NAMESPACE = uuid.UUID("6f1d2c1e-3b7a-4c55-9a43-6b7a1c0e5d21")  # question uuids derive from it and the topic

DOCKERFILE = """# The PyTorch kata's PrairieLearn grader: `docker build -t IMAGE .` in this folder, then push it.
# Grading runs without network, so torch (CPU-only, from PyTorch's own index) and every requirement
# are baked in here.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*
COPY harness/requirements-autograder.txt /tmp/requirements-autograder.txt
RUN python -m venv {venv} \\
 && {venv}/bin/pip install --no-cache-dir --index-url {cpu_index} {torch_pins} \\
 && {venv}/bin/pip install --no-cache-dir -r /tmp/requirements-autograder.txt \\
 && {venv}/bin/python -c "import torch, torchvision; print('grader:', torch.__version__, torchvision.__version__)"
COPY harness/ /kata/
RUN chmod +x /kata/run_prairielearn
ENV PYTHONDONTWRITEBYTECODE=1
WORKDIR /kata
"""

RUN = """#!/usr/bin/env bash
# PrairieLearn runs this for every submission: it grades /grade/student with the code of `nox -s grade`
# and writes /grade/results/results.json. KATA_PL_ROOT (instead of /grade) and KATA_PL_PYTHON (instead
# of the image's Python) let the kata's own tests run it in a temporary folder laid out the same way.
set -uo pipefail
root="${{KATA_PL_ROOT:-/grade}}"
python="${{KATA_PL_PYTHON:-{venv}/bin/python}}"
cd "$(dirname "$0")"
"$python" -m kata.grading.prairielearn --run --root "$root"
status=$?
if [ ! -s "$root/results/results.json" ]; then  # Python itself did not run: still never a zero
  mkdir -p "$root/results"
  printf '{{"gradable": false, "message": "the grader did not start (exit code %s); this attempt does not count"}}' \\
    "$status" > "$root/results/results.json"
fi
"""

QUESTION = """<pl-question-panel>
  <p><strong>{title}</strong></p>
  <p>Write <code>{topic}.py</code>: every exercise of the topic <code>{topic}</code> of the PyTorch kata
  ({exercises}). Each docstring says what the function must do; the kata's tests grade it
  {hidden_note}on submission, each test for its points.</p>
  {widget}
</pl-question-panel>

<pl-submission-panel>
  <pl-external-grader-results></pl-external-grader-results>
  <pl-file-preview></pl-file-preview>
</pl-submission-panel>
"""
EDITOR = '<pl-file-editor file-name="{topic}.py" ace-mode="ace/mode/python" source-file-name="tests/{topic}.py">' \
         '</pl-file-editor>'
UPLOAD = '<pl-file-upload file-names="{topic}.py"></pl-file-upload>'


def info(topic: str, image: str) -> dict:
    t = manifest.topic(topic)
    return {"uuid": str(uuid.uuid5(NAMESPACE, topic)).upper(), "title": f"PyTorch kata: {t.title}",
            "topic": "PyTorch kata", "tags": ["pytorch-kata", topic], "type": "v3", "singleVariant": True,
            "gradingMethod": "External",
            "externalGradingOptions": {"enabled": True, "image": image, "entrypoint": ENTRYPOINT, "timeout": TIMEOUT}}


def build(dest: Path, image: str = IMAGE, upload: bool = False, hidden_dir: Path | None = None) -> list[Path]:
    """Write the course fragment and the grader's build folder into `dest`; return the question folders."""
    baked = hidden.files(hidden_dir) if hidden_dir is not None else {}
    folders = []
    for topic in manifest.topic_names():
        q = dest / "questions" / "kata" / topic
        (q / "tests").mkdir(parents=True)
        (q / "info.json").write_text(json.dumps(info(topic, image), indent=2) + "\n")
        exercises = ", ".join(f"<code>{e.name}</code>" for e in manifest.topic(topic).exercises)
        widget = (UPLOAD if upload else EDITOR).format(topic=topic)
        (q / "question.html").write_text(QUESTION.format(
            title=manifest.topic(topic).title, topic=topic, exercises=exercises, widget=widget,
            hidden_note="with tests you can see and some you cannot, " if topic in baked else ""))
        (q / "tests" / "kata.json").write_text(json.dumps({"topic": topic}) + "\n")
        shutil.copy2(ROOT / "exercises" / f"{topic}.py", q / "tests" / f"{topic}.py")  # the editor's starting file
        folders.append(q)
    grader = dest / "graders" / "kata"
    pins = gradescope.pinned()
    files = {**gradescope.committed(),
             "run_prairielearn": (RUN.format(venv=gradescope.VENV).encode(), 0o755),
             "requirements-autograder.txt": ("\n".join(pins).encode() + b"\n", 0o644),
             **(hidden.baked_files(hidden_dir) if hidden_dir is not None else {})}
    for name, (data, mode) in files.items():
        target = grader / "harness" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode & 0o777 | 0o644)
    (grader / "Dockerfile").write_text(DOCKERFILE.format(venv=gradescope.VENV, cpu_index=gradescope.CPU_INDEX,
                                                         torch_pins=gradescope.torch_pins(pins)))
    return folders


def not_gradable(why: str) -> dict:
    return {"gradable": False, "message": f"The grader could not grade this submission: {why}. This attempt "
            "does not count; please tell your instructor.", "format_errors": [why]}


def run(root: Path) -> int:
    """Grade root/student as `nox -s grade` does; write root/results/results.json."""
    from kata.grading import grade  # this module is an entry point: it may drive the grader

    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    try:
        topic = json.loads((root / "tests" / "kata.json").read_text())["topic"]
        manifest.topic(topic)
        graded: dict = {}
        with tempfile.TemporaryDirectory(prefix="kata-prairielearn-") as out:
            argv = [*hidden.baked_args(), "--out", out, "--jobs", "1", "--sandbox", "auto", "--topics", topic,
                    str(root / "student")]
            grade.main(argv, graded)
        data = reports.prairielearn_json(graded["per_sub"][0], graded["topics"])
    except BaseException as err:  # noqa: BLE001 - the grader's own fault: not gradable, never a zero
        traceback.print_exc()
        data = not_gradable(f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
    results.write_text(json.dumps(data, indent=1))
    print(f"prairielearn: {'score ' + str(data['score']) if data['gradable'] else 'not gradable'} -> {results}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s prairielearn --", description=__doc__.splitlines()[0])
    parser.add_argument("dest", nargs="?", type=Path, help="an empty folder for the course fragment")
    parser.add_argument("--image", default=IMAGE, help=f"the grader image's name on Docker Hub (default {IMAGE})")
    parser.add_argument("--upload", action="store_true", help="students upload their file instead of editing it")
    parser.add_argument("--hidden", type=Path, help="bake this folder's hidden tests into the grader image")
    parser.add_argument("--run", action="store_true", help="(the entrypoint) grade ROOT/student")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("KATA_PL_ROOT", "/grade")))
    args = parser.parse_args(argv)
    if args.run:
        return run(args.root)
    if args.dest is None:
        parser.error("give the folder to write the course fragment into")
    dest = args.dest.resolve()
    if dest.exists() and any(dest.iterdir()):
        parser.error(f"{dest} exists and is not empty; choose a new folder")
    folders = build(dest, args.image, args.upload, args.hidden)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    print(f"prairielearn: wrote {len(folders)} questions to {dest / 'questions' / 'kata'} and the grader image's "
          f"build folder to {dest / 'graders' / 'kata'} from commit {head.strip()}; next: "
          f"docker build -t {args.image} {dest / 'graders' / 'kata'} && docker push {args.image}, copy "
          "questions/kata into the course, sync (README: Instructors, PrairieLearn)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
