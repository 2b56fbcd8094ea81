"""Mutation testing of the suite: `nox -s mutation [-- TOPIC...]`.

The hand-written mutants under mutants/ cover the mistakes someone thought of; this covers the rest.
cosmic-ray's operators (comparison, arithmetic, boolean and number replacements, removed decorators,
break/continue swaps, ...) change solutions/<topic>.py one place at a time; every mutant runs against
tests/test_<topic>.py in a child forked from a worker that imported torch once (kata/core/zygote.py),
two workers on two cores. A mutant is killed when some test fails (or the run times out); it
survives when every test passes.

Not mutated: type annotations (never evaluated: every module has `from __future__ import
annotations`), the `if __name__ == "__main__":` entry point (not part of any contract), and a
mutant whose syntax tree, annotations aside, equals the solution's or an earlier mutant's.

The report, mutants/<topic>/report.toml, holds the hashes of the solution and the tests it
ran on, the counts, and every survivor with its kind and a one-line reason, which a person writes:

- `equivalent`: no observable change (the reason says why, e.g. "1e-12 and 1e-11 both far below
  float32's resolution here");
- `open`: left open by the contract (the reason quotes the docstring sentence that leaves it open,
  or the sentence is added and a test kills the mutant instead);
- `cuda`: only a CUDA-marked test can reject it (the reason names the test), and this machine has
  no CUDA; like the hand-written `cuda_pitfalls`, it is judged where a GPU is (`nox -s cuda`).

Score = killed / (mutants - equivalent - cuda): `open` survivors count against it. `nox -s check`
(step `mutation`) refuses a topic without a report, a report whose solution or tests changed since
its run, a survivor without a kind and a reason, and a score under BAR. CI checks the reports; it
does not rerun the engine.

    python -m kata.maintain.mutation [TOPIC...] [--jobs N]   # run, print survivors, write the reports
    python -m kata.maintain.mutation --check [TOPIC...]       # what nox -s check runs
"""

from __future__ import annotations

import argparse
import ast
import copy
import difflib
import hashlib
import json
import os
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kata.core import manifest
from kata.core.protocol import WorkerPool
from kata.maintain import mutants

BAR = 98.0  # percent of the non-equivalent mutants that the tests must kill, per topic
KINDS = ("equivalent", "open", "cuda")


# ---------------------------------------------------------------- making mutants
@dataclass
class Mutant:
    id: str  # "<operator>#<occurrence>", cosmic-ray's own coordinates of the change
    line: int
    before: str
    after: str
    code: str = field(repr=False)


def _strip_annotations(tree: ast.AST) -> ast.AST:
    tree = copy.deepcopy(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            node.annotation = None
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
        elif isinstance(node, ast.AnnAssign):
            node.annotation = ast.Constant(None)
    return tree


def _main_guard(tree: ast.Module) -> range:
    """Lines of the top-level `if __name__ == "__main__":` block (empty if none)."""
    for node in tree.body:
        if isinstance(node, ast.If) and "__name__" in ast.unparse(node.test) and "__main__" in ast.unparse(node.test):
            return range(node.lineno, node.end_lineno + 1)
    return range(0)


def skeleton(code: str) -> str | None:
    """The syntax tree without annotations, as text; None where the code does not parse."""
    try:
        return ast.dump(_strip_annotations(ast.parse(code)))
    except SyntaxError:
        return None


def _change(original: str, mutated: str) -> tuple[int, str, str]:
    a, b = original.splitlines(), mutated.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            before = " / ".join(s.strip() for s in a[i1:i2]) or "(nothing)"
            after = " / ".join(s.strip() for s in b[j1:j2]) or "(removed)"
            return i1 + 1, before[:160], after[:160]
    return 0, "", ""


def operators() -> list[tuple[str, object]]:
    """cosmic-ray's operators that take no arguments (every one of its core set but the
    configurable ones), by name."""
    import cosmic_ray.plugins

    out = []
    for name in cosmic_ray.plugins.operator_names():
        cls = cosmic_ray.plugins.get_operator(name)
        if not cls.arguments():
            out.append((name, cls()))
    return out


def make_mutants(source: str) -> tuple[list[Mutant], int]:
    """Every distinct mutant of `source` outside annotations and the entry point; also how many
    cosmic-ray made in all (before those were dropped)."""
    from cosmic_ray.ast import ast_nodes, get_ast
    from cosmic_ray.mutating import mutate_code

    guard = _main_guard(ast.parse(source))
    seen = {skeleton(source)}
    out, made = [], 0
    tree = get_ast(source)
    for name, op in operators():
        positions = [pos for node in ast_nodes(tree) for pos in op.mutation_positions(node)]
        for occurrence, (start, _end) in enumerate(positions):
            made += 1
            if start[0] in guard:
                continue
            code = mutate_code(source, op, occurrence)
            if code is None:
                continue
            shape = skeleton(code)
            if shape is not None and shape in seen:
                continue  # only annotations changed, or the same change as an earlier mutant
            seen.add(shape)
            line, before, after = _change(source, code)
            out.append(Mutant(f"{name.split('/', 1)[-1]}#{occurrence}", line, before, after, code))
    return out, made


# ---------------------------------------------------------------- running them
def _run(pool: WorkerPool, topic: str, code: str, env: dict[str, str], timeout: float) -> tuple[int, bool, float]:
    with tempfile.TemporaryDirectory(prefix=f"mutation-{topic}-") as tmp:
        Path(tmp, f"{topic}.py").write_text(code)
        start = time.perf_counter()
        with pool.worker() as worker:
            reply = worker.run(mutants.topic_job(topic, Path(tmp), env, "-x", "--tb=no", timeout=timeout))
        return reply.returncode, reply.timed_out, time.perf_counter() - start


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_topic(topic: str, pool: WorkerPool, env: dict[str, str], jobs: int) -> dict:
    solution = manifest.ROOT / "solutions" / f"{topic}.py"
    source = solution.read_text()
    mutants, made = make_mutants(source)
    rc, _, clean = _run(pool, topic, source, env, 600)
    if rc != 0:
        raise SystemExit(f"mutation: the solution of {topic} fails its own tests (pytest exit {rc}); fix that first")
    timeout = max(30.0, 5 * clean)
    print(f"mutation: {topic}: {len(mutants)} mutants ({made} made, annotation-only, entry-point and duplicate "
          f"ones dropped); a clean run takes {clean:.1f}s, a mutant's limit {timeout:.0f}s", flush=True)
    start = time.perf_counter()
    survivors, timeouts = [], 0

    def one(m: Mutant) -> tuple[Mutant, int, bool]:
        rc, timed_out, _ = _run(pool, topic, m.code, env, timeout)
        return m, rc, timed_out

    with ThreadPoolExecutor(jobs) as threads:
        for i, (m, rc, timed_out) in enumerate(threads.map(one, mutants), 1):
            timeouts += timed_out
            if rc == 0:
                survivors.append(m)
                print(f"  survived  {m.id:<48} line {m.line}: {m.before}  ->  {m.after}", flush=True)
            if i % 50 == 0:
                print(f"  ... {i}/{len(mutants)} run, {len(survivors)} survived", flush=True)
    return {"topic": topic, "solution_sha256": sha256(solution),
            "tests_sha256": sha256(manifest.ROOT / "tests" / f"test_{topic}.py"),
            "mutants": len(mutants), "killed": len(mutants) - len(survivors), "timeouts": timeouts,
            "seconds": round(time.perf_counter() - start, 1), "survivors": survivors}


# ---------------------------------------------------------------- the report
def report_path(topic: str, root: Path | None = None) -> Path:
    """Beside the topic's hand-written mutants: like them, it quotes the solution, and goes wherever mutants/
    goes (never into the edition, a grading sandbox or a bundle)."""
    return (root or manifest.ROOT) / "mutants" / topic / "report.toml"


def load(topic: str, root: Path | None = None) -> dict | None:
    path = report_path(topic, root)
    if not path.is_file():
        return None
    with path.open("rb") as f:
        return tomllib.load(f)


def score(report: dict) -> float:
    unjudged = sum(s.get("kind") in ("equivalent", "cuda") for s in report.get("survivor", []))
    judged = report["mutants"] - unjudged
    return 100.0 if judged <= 0 else 100.0 * report["killed"] / judged


def _q(s: str) -> str:
    return json.dumps(s)  # a JSON string is a TOML basic string


def write(result: dict, old: dict | None) -> Path:
    """Write the report, keeping the kind and reason of every survivor that is still the same change."""
    earlier = (old or {}).get("survivor", [])
    by_id = {(s["id"], s["before"], s["after"]): s for s in earlier}  # the same mutant, if nothing moved
    kept = {(s["id"].split("#")[0], s["before"], s["after"]): s for s in earlier}  # else the same change
    survivors = []
    for m in result["survivors"]:
        prior = by_id.get((m.id, m.before, m.after)) or kept.get((m.id.split("#")[0], m.before, m.after), {})
        survivors.append({"id": m.id, "line": m.line, "before": m.before, "after": m.after,
                          "kind": prior.get("kind", ""), "reason": prior.get("reason", "")})
    report = {**result, "survivor": survivors}
    lines = [
        f"# Mutation report of {result['topic']}: written by `nox -s mutation -- {result['topic']}` (kata/maintain/"
        "mutation.py).",
        "# Each survivor needs kind = \"equivalent\" (no observable change), \"open\" (left open by the contract:",
        "# quote the docstring sentence) or \"cuda\" (only a CUDA test rejects it: name it) and a one-line reason;",
        "# or a test that kills it, and a rerun.",
        f"topic = {_q(result['topic'])}",
        f"solution_sha256 = {_q(result['solution_sha256'])}",
        f"tests_sha256 = {_q(result['tests_sha256'])}",
        f"mutants = {result['mutants']}",
        f"killed = {result['killed']}",
        f"timeouts = {result['timeouts']}  # killed by the time limit",
        f"seconds = {result['seconds']}  # wall time of the run on the machine that wrote it",
    ]
    for s in survivors:
        lines += ["", "[[survivor]]"] + [f"{k} = {_q(v) if isinstance(v, str) else v}" for k, v in s.items()]
    path = report_path(result["topic"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"mutation: {result['topic']}: {result['killed']}/{result['mutants']} killed, score {score(report):.1f}% "
          f"(killed / not equivalent), {len(survivors)} survivor(s), {result['seconds']}s -> "
          f"{path.relative_to(manifest.ROOT)}")
    return path


def problems(topic: str, root: Path | None = None) -> list[str]:
    """Why topic's report does not hold (empty if it does)."""
    root = root or manifest.ROOT
    rel = report_path(topic, root).relative_to(root)
    report = load(topic, root)
    if report is None:
        return [f"{topic}: no report ({rel}): run nox -s mutation -- {topic}"]
    out = []
    for key, path in (("solution_sha256", root / "solutions" / f"{topic}.py"),
                      ("tests_sha256", root / "tests" / f"test_{topic}.py")):
        if not path.is_file() or report.get(key) != sha256(path):
            out.append(f"{topic}: {path.relative_to(root)} changed since its report was written: rerun "
                       f"nox -s mutation -- {topic}")
    for s in report.get("survivor", []):
        if s.get("kind") not in KINDS or not s.get("reason", "").strip():
            out.append(f"{topic}: survivor {s.get('id')} (line {s.get('line')}: {s.get('before')} -> {s.get('after')}) "
                       f"has no reason: kill it with a test, or give it kind = \"equivalent\" or \"open\" and a reason")
    if score(report) < BAR:
        out.append(f"{topic}: mutation score {score(report):.1f}% is under {BAR:.0f}%: kill more survivors")
    return out


def check(topics: list[str], root: Path | None = None) -> int:
    found = [p for t in topics for p in problems(t, root)]
    for p in found:
        print(f"mutation: {p}")
    for t in topics:
        report = load(t, root)
        if report is not None:
            survivors = report.get("survivor", [])
            kinds = {k: sum(s.get("kind") == k for s in survivors) for k in KINDS}
            print(f"  {t:<16} {score(report):5.1f}%  {report['killed']}/{report['mutants']} killed, "
                  f"{kinds['equivalent']} equivalent, {kinds['open']} open, {kinds['cuda']} cuda, "
                  f"{len(survivors) - sum(kinds.values())} unexplained")
    print(f"mutation: {len(topics)} report(s) checked, {len(found)} problem(s)")
    return 1 if found else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m kata.maintain.mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("topics", nargs="*", help="topics to mutate (default: every topic)")
    parser.add_argument("--check", action="store_true", help="check the reports only (what nox -s check runs)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="mutants run at once (default: CPUs)")
    args = parser.parse_args(argv)
    topics = args.topics or manifest.topic_names()
    unknown = [t for t in topics if t not in manifest.topic_names()]
    if unknown:
        parser.error(f"no topic {', '.join(unknown)} (topics: {', '.join(manifest.topic_names())})")
    if args.check:
        return check(topics)
    env = mutants.worker_env()
    jobs = max(1, args.jobs)
    pool = WorkerPool(jobs, env, preload=mutants.PRELOAD)
    try:
        for topic in topics:
            write(run_topic(topic, pool, env, jobs), load(topic))
    finally:
        pool.close()
    return check(topics)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
