"""What grading writes: grades.csv, summary.md (grades, then the class statistics of kata/grading/stats.py),
stats.csv and, per submission, Gradescope's results.json and a log per topic. Every score comes from
one score sheet (`sheet`): topics weigh as the manifest says, tests within a topic as their
`points` marker says, and the parts add up to exactly the maximum.

results.json follows Gradescope's autograder specification: score, execution_time, output,
stdout_visibility, and tests[] with name, number, score, max_score, status, output and visibility.
Public tests are visible to the learner (their failures teach); a hidden test has the visibility
its marker gives (kata/grading/hidden.py); the grader's stdout is for the instructor."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from kata.core import manifest
from kata.grading import stats

DIGITS = 4  # results.json scores are rounded to this many decimals, and still add up to exactly 100


@dataclass
class TopicResult:
    topic: str
    earned: float = 0.0  # points
    possible: float = 0.0
    reason: str = ""  # why the topic scored 0 as a whole, if it did
    tests: list[dict] = field(default_factory=list)  # nodeid, exercise, points, status, output
    seconds: float = 0.0
    log: str = ""

    @property
    def percent(self) -> float:
        return 100.0 * self.earned / self.possible if self.possible else 0.0


def split(total: float, weights: list[float], digits: int = DIGITS) -> list[float]:
    """`total` shared in proportion to `weights`, each rounded to `digits` decimals, adding up to
    round(total, digits) exactly (largest remainders get the last units)."""
    if not weights or sum(weights) <= 0:
        return [0.0] * len(weights)
    unit = 10**digits
    exact = [total * unit * w / sum(weights) for w in weights]
    units = [math.floor(x) for x in exact]
    for i in sorted(range(len(exact)), key=lambda i: units[i] - exact[i])[: round(total * unit) - sum(units)]:
        units[i] += 1
    return [u / unit for u in units]


def sheet(results: list[TopicResult], topics: list[str], total: float = 100.0) -> list[dict]:
    """The one score sheet every report reads (grades.csv's total, Gradescope's results.json,
    PrairieLearn's results.json, the class statistics): a row per graded test with its name,
    topic, exercise, score, max_score, status, output and visibility. The manifest's topic weights
    share `total` among the topics and each test's `points` marker shares its topic's part, every
    max_score rounded to DIGITS decimals with the rows adding up to exactly `total`. A topic that
    was not graded is one row, scored 0, with the reason."""
    share, rows = dict(zip(topics, split(total, [manifest.topic(t).weight for t in topics]))), []
    for r in results:
        if r.reason:
            rows.append({"name": f"{r.topic}: topic not graded", "topic": r.topic, "exercise": None, "score": 0.0,
                         "max_score": share[r.topic], "status": "failed", "output": r.reason,
                         "visibility": "visible"})
            continue
        for t, max_score in zip(r.tests, split(share[r.topic], [t["points"] for t in r.tests])):
            rows.append({"name": t["nodeid"], "topic": r.topic, "exercise": t.get("exercise"),
                         "score": max_score if t["status"] == "passed" else 0.0, "max_score": max_score,
                         "status": t["status"], "output": t["output"], "visibility": t.get("visibility", "visible")})
    return rows


def total_percent(results: list[TopicResult], topics: list[str]) -> float:
    """A submission's total out of 100: the sum of its score sheet."""
    return round(sum(row["score"] for row in sheet(results, topics)), DIGITS)


def gradescope_json(results: list[TopicResult], topics: list[str], seconds: float) -> dict:
    tests = [{k: row[k] for k in ("name", "score", "max_score", "status", "output", "visibility")}
             for row in sheet(results, topics)]
    for number, t in enumerate(tests, start=1):
        t["number"] = str(number)
    lines = ["Graded by the PyTorch kata's pristine tests (percent of each topic's tests):"]
    lines += [f"  {r.topic:<15} {r.percent:5.1f}%" + (f"  not graded: {r.reason}" if r.reason else "") for r in results]
    return {"score": round(sum(t["score"] for t in tests), DIGITS), "execution_time": round(seconds, 1),
            "output": "\n".join(lines), "stdout_visibility": "hidden", "tests": tests}


def prairielearn_json(results: list[TopicResult], topics: list[str]) -> dict:
    """PrairieLearn's results.json for one submission, from the score sheet with each test's
    max_points its `points`: score in [0, 1], gradable, and tests[] with name, points, max_points,
    message and output. A hidden test whose visibility is not "visible" shows only its points
    (PrairieLearn shows every test it is given, before and after a deadline alike)."""
    possible = sum(r.possible for r in results) or 1.0
    rows = sheet(results, topics, total=possible) if len(topics) == 1 else sheet(results, topics)
    tests, hidden_count = [], 0
    for row in rows:
        first = row["output"].strip().splitlines()[-1] if row["output"].strip() else ""
        test = {"name": row["name"], "points": row["score"], "max_points": row["max_score"],
                "message": "passed" if row["status"] == "passed" else first, "output": row["output"]}
        if row["visibility"] != "visible":
            hidden_count += 1
            test.update(name=f"hidden test {hidden_count}", message=row["status"], output="")
        tests.append(test)
    earned, most = sum(t["points"] for t in tests), sum(t["max_points"] for t in tests)
    lines = [f"{r.topic}: {r.percent:.1f}%" + (f" (not graded: {r.reason})" if r.reason else "") for r in results]
    return {"gradable": True, "score": round(earned / most, DIGITS + 2) if most else 0.0,
            "message": "; ".join(lines), "output": "\n".join(lines), "tests": tests}


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
    rows = stats.exercise_rows(per_sub, topics)
    stats.write_csv(out / "stats.csv", rows)
    lines += stats.summary_lines(rows, [total_percent(per_sub[i], topics) for i in range(len(names))])
    (out / "summary.md").write_text("\n".join(lines) + "\n")
