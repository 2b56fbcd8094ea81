"""`nox -s grade -- SUBMISSION...`: grade a whole class with the pristine tests of this repository.

A submission is a learner's folder of topic files (`autograd.py`, ...) or a clone of the
repository (its `exercises/` is graded). Each (submission, topic) runs in its own process (forked from a worker
that imported torch once, see kata/zygote.py), in a
fresh sandbox holding a copy of this repository's tests and harness (never the submission's own
tests, never solutions/), with a per-test timeout (pytest-timeout), a whole-topic timeout and an
address-space cap. A topic that loops, exits, crashes, runs out of memory, fails to import or
tampers with the grader scores 0 with the reason; everything else is still graded. A test
counts as passed only on positive evidence: reported passed, by a process that finished and
carried this run's nonce, whose canaries failed and whose sandbox files were left unchanged.

Writes into --out (default grades/): grades.csv (a row per submission, a column per topic and
the total, in percent), summary.md, and <submission>/results.json in Gradescope's autograder
format (per test: name, score, max_score, status, output), plus <submission>/logs/<topic>.txt.

    python -m kata.grade [--out DIR] [--jobs N] [--test-timeout S] [--topic-timeout S]
                         [--memory-mb M] [--topics a,b] SUBMISSION...
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kata import manifest, progress
from kata.protocol import Job, Reply, WorkerDied, WorkerPool

ROOT = manifest.ROOT
SANDBOX_ITEMS = ("tests", "kata", "demos", "conftest.py", "pyproject.toml")
CANARY = "kata/canary/test_canary.py"


@dataclass
class TopicResult:
    topic: str
    earned: float = 0.0  # points
    possible: float = 0.0
    reason: str = ""  # why the topic scored 0 as a whole, if it did
    tests: list[dict] = field(default_factory=list)  # nodeid, points, status, output
    seconds: float = 0.0
    log: str = ""

    @property
    def percent(self) -> float:
        return 100.0 * self.earned / self.possible if self.possible else 0.0


def _impl_dir(submission: Path) -> Path:
    return submission / "exercises" if (submission / "exercises").is_dir() else submission


def _hash_tree(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def make_template(dest: Path) -> dict[str, str]:
    """Copy the pristine harness and tests into `dest`; return their hashes."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SANDBOX_ITEMS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return _hash_tree(dest)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KATA_"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0", CUDA_VISIBLE_DEVICES="", **{progress.DISABLE_ENV: "1"})
    return env


def collect(template: Path, topics: list[str]) -> dict[str, list[dict]]:
    """The graded tests of each topic, from the pristine suite alone (no submission involved)."""
    code = (
        "import json, sys, pytest\n"
        "class P:\n"
        "    items = []\n"
        "    def pytest_collection_finish(self, session):\n"
        "        for it in session.items:\n"
        "            m = it.get_closest_marker('points')\n"
        "            P.items.append({'nodeid': it.nodeid, 'points': float(m.args[0]) if m else 1.0,\n"
        "                            'cuda': it.get_closest_marker('cuda') is not None})\n"
        "rc = pytest.main(['--collect-only', '-q', '--impl-dir=.', *sys.argv[1:]],"
        " plugins=[P()])\n"
        "print('KATA-COLLECT' + json.dumps(P.items))\n"
        "sys.exit(0 if rc == 0 else rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *[f"tests/test_{t}.py" for t in topics]],
                          cwd=template, capture_output=True, text=True, env=_env())
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("KATA-COLLECT")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"grade: could not collect the pristine suite:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    by_topic: dict[str, list[dict]] = {t: [] for t in topics}
    for item in json.loads(line[len("KATA-COLLECT"):]):
        topic = item["nodeid"].split("::")[0][len("tests/test_"):-3]
        if not item["cuda"]:  # graded on the CPU: CUDA tests are not part of the grade
            by_topic[topic].append(item)
    return by_topic


def run_topic(submission: Path, topic: str, expected: list[dict], template: Path, template_hashes: dict,
              args: argparse.Namespace, pool: WorkerPool) -> TopicResult:
    result = TopicResult(topic, possible=sum(item["points"] for item in expected))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"kata-grade-{topic}-") as tmp:
        sandbox, impl = Path(tmp) / "sandbox", Path(tmp) / "impl"
        shutil.copytree(template, sandbox)
        impl.mkdir()
        source = _impl_dir(submission) / f"{topic}.py"
        if source.is_file():
            shutil.copy2(source, impl / f"{topic}.py")
        results_file = Path(tmp) / "results.json"
        nonce = secrets.token_hex(16)
        args_ = [
            f"tests/test_{topic}.py", CANARY, f"--impl-dir={impl}",
            "-p", "kata.grading_plugin", f"--kata-results={results_file}",
            f"--kata-forbid={ROOT / 'solutions'}", f"--kata-forbid={ROOT / 'mutants'}", f"--kata-readonly={ROOT}",
            f"--timeout={args.test_timeout}", "-q", "--tb=short", "-p", "no:cacheprovider",
            "-W", "ignore::pytest.PytestAssertRewriteWarning",  # plugins come preloaded by the worker
        ]
        log_file = Path(tmp) / "log.txt"
        job = Job(sandbox=str(sandbox), args=args_, env={**_env(), "KATA_GRADE_NONCE": nonce}, log=str(log_file),
                  memory_mb=args.memory_mb, timeout=args.topic_timeout, drop_paths=(str(ROOT),))
        try:
            with pool.worker() as worker:
                reply = worker.run(job)
        except WorkerDied:
            reply = Reply(-int(signal.SIGKILL))
            result.reason = "the grading worker running this topic was killed (by the submission?)"
        returncode = reply.returncode
        if reply.timed_out and not result.reason:
            result.reason = f"timed out: the topic ran past its {args.topic_timeout:g} s limit and was stopped"
        out = log_file.read_text(errors="replace") if log_file.is_file() else ""
        result.log = out[-20000:]
        payload = None
        if results_file.is_file():
            try:
                payload = json.loads(results_file.read_text())
            except json.JSONDecodeError:
                payload = None
        if not source.is_file():
            result.reason = result.reason or f"no {topic}.py in the submission"
        elif result.reason:
            pass
        elif returncode < 0:
            name = signal.Signals(-returncode).name
            result.reason = f"the test process crashed ({name})"
        elif payload is None:
            result.reason = f"the test process ended (exit code {returncode}) before reporting its results"
        elif returncode not in (0, 1):
            result.reason = f"pytest exited with code {returncode} (interrupted or an internal error)"
        elif payload.get("nonce") != nonce:
            result.reason = "tampered: the results file did not come from this grading run"
        elif payload.get("tampering"):
            result.reason = "tampered: " + "; ".join(payload["tampering"])
        elif any(v != "failed" for v in payload.get("canaries", {}).values()) or len(payload.get("canaries", {})) < 5:
            result.reason = "tampered: a canary check that must fail did not fail (an assertion helper was disarmed)"
        elif _hash_tree(sandbox) != template_hashes:
            result.reason = "tampered: the submission modified the grader's files on disk"
        outcomes = (payload or {}).get("tests", {}) if not result.reason else {}
        for item in expected:
            got = outcomes.get(item["nodeid"], {})
            passed = got.get("outcome") == "passed" and got.get("called", False)
            status = "passed" if passed else "failed"
            output = got.get("output", "") if got else (result.reason or "no result was reported for this test")
            if "MemoryError" in output or "DefaultCPUAllocator: can't allocate memory" in output:
                output = f"ran out of memory (cap: {args.memory_mb} MiB beyond the preloaded libraries)\n" + output
            result.tests.append({"nodeid": item["nodeid"], "points": item["points"], "status": status,
                                 "output": output})
            result.earned += item["points"] if passed else 0.0
    result.seconds = time.perf_counter() - start
    return result


def _share(topic: str, topics: list[str]) -> float:
    """The topic's share of 100 points, from the manifest's weights."""
    total = sum(manifest.topic(t).weight for t in topics)
    return 100.0 * manifest.topic(topic).weight / total


def total_percent(results: list[TopicResult], topics: list[str]) -> float:
    return sum(_share(r.topic, topics) * r.percent / 100.0 for r in results)


def gradescope_json(results: list[TopicResult], topics: list[str], seconds: float) -> dict:
    tests, number = [], 0
    for r in results:
        share = _share(r.topic, topics)
        scale = share / r.possible if r.possible else 0.0
        if r.reason:
            number += 1
            tests.append({"number": str(number), "name": f"{r.topic}: topic not graded", "score": 0.0,
                          "max_score": round(share, 4), "status": "failed", "output": r.reason})
            continue
        for t in r.tests:
            number += 1
            tests.append({
                "number": str(number),
                "name": t["nodeid"],
                "score": round(t["points"] * scale if t["status"] == "passed" else 0.0, 4),
                "max_score": round(t["points"] * scale, 4),
                "status": t["status"],
                "output": t["output"],
            })
    return {"score": round(total_percent(results, topics), 2), "execution_time": round(seconds, 1),
            "output": "Graded by the PyTorch kata's pristine tests.", "tests": tests}


def _names(submissions: list[Path]) -> list[str]:
    names, seen = [], {}
    for s in submissions:
        base = s.resolve().name or "submission"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s grade --", description=__doc__.splitlines()[0])
    parser.add_argument("submissions", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "grades")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes at once (default: all CPUs)")
    parser.add_argument("--test-timeout", type=float, default=60.0, help="seconds per test")
    parser.add_argument("--topic-timeout", type=float, default=300.0, help="seconds per topic")
    parser.add_argument("--memory-mb", type=int, default=4096,
                        help="address space in MiB a topic may map beyond the preloaded torch (default 4096)")
    parser.add_argument("--topics", default="", help="comma-separated topics (default: all)")
    args = parser.parse_args(argv)
    topics = [t for t in args.topics.split(",") if t] or manifest.topic_names()
    for t in topics:
        manifest.topic(t)
    missing = [str(s) for s in args.submissions if not s.is_dir()]
    if missing:
        parser.error(f"not a folder: {', '.join(missing)}")
    names = _names(args.submissions)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kata-grade-template-") as tmp:
        template = Path(tmp)
        hashes = make_template(template)
        expected = collect(template, topics)
        jobs = [(i, t) for i in range(len(args.submissions)) for t in topics]
        workers = WorkerPool(max(1, args.jobs), _env())
        try:
            with ThreadPoolExecutor(max(1, args.jobs)) as threads:
                done = list(threads.map(
                    lambda job: run_topic(args.submissions[job[0]].resolve(), job[1], expected[job[1]], template,
                                          hashes, args, workers), jobs))
        finally:
            workers.close()
    elapsed = time.perf_counter() - start
    per_sub: dict[int, list[TopicResult]] = {i: [] for i in range(len(names))}
    for (i, _), r in zip(jobs, done):
        per_sub[i].append(r)
    write_reports(args.out, names, per_sub, topics)
    print(f"graded {len(names)} submission(s) x {len(topics)} topic(s) in {elapsed:.1f}s "
          f"({elapsed / len(names):.1f}s per submission, {args.jobs} job(s) at once) -> {args.out}")
    return 0


def write_reports(out: Path, names: list[str], per_sub: dict[int, list[TopicResult]], topics: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "grades.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", *topics, "total"])
        for i, name in enumerate(names):
            results = per_sub[i]
            writer.writerow([name, *(f"{r.percent:.1f}" for r in results), f"{total_percent(results, topics):.1f}"])
    lines = ["# Grades", "", "| submission | " + " | ".join(topics) + " | total |",
             "|---|" + "---:|" * (len(topics) + 1)]
    notes = []
    for i, name in enumerate(names):
        results = per_sub[i]
        cells = [("0.0*" if r.reason else f"{r.percent:.1f}") for r in results]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {total_percent(results, topics):.1f} |")
        notes += [f"- {name} / {r.topic}: {r.reason}" for r in results if r.reason]
        sub_dir = out / name
        (sub_dir / "logs").mkdir(parents=True, exist_ok=True)
        seconds = sum(r.seconds for r in results)
        (sub_dir / "results.json").write_text(json.dumps(gradescope_json(results, topics, seconds), indent=1))
        for r in results:
            (sub_dir / "logs" / f"{r.topic}.txt").write_text(r.log)
    if notes:
        lines += ["", "\\* the topic was not graded; why:", "", *notes]
    lines += ["", "Scores are percent of each topic's test points; the total weighs topics as the manifest says."]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
