"""Class statistics: which exercises the class got wrong, and how the totals spread.

An exercise's tests are the tests marked with it (`@pytest.mark.exercise`, recorded per test by
`--kata-collect`). For each exercise: the share of submissions that passed every one of its
tests ("solved by") and the share of all its test runs that passed ("tests passed"), each test
counted with its `points`, as in the grades (kata/grading/reports.py's score sheet). The
weakest come first, each with the pitfall it teaches: the manifest's words for the first
pitfall whose mutant names that exercise (`Pitfall: ... (<topic>.<exercise>).`), else its first
hint. `stats.csv` holds the table; `summary.md` gets it with the distribution of the totals;
`--png` draws both where matplotlib is installed.
"""

from __future__ import annotations

import ast
import csv
import functools
import re
import statistics
from pathlib import Path

from kata.core import manifest

BUCKETS = [(lo, lo + 10) for lo in range(0, 100, 10)]  # [lo, hi) in percent; exactly 100 has a row of its own
_NAMES = re.compile(r"\((\w+)\.(\w+)\)\.?\s*$")


@functools.cache
def _mutant_exercise(topic: str, stem: str) -> str | None:
    path = manifest.ROOT / "mutants" / topic / f"{stem}.py"
    try:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    except (OSError, SyntaxError):
        return None
    found = _NAMES.search(doc.splitlines()[0] if doc else "")
    return found.group(2) if found and found.group(1) == topic else None


def teaches(topic: str, exercise: str) -> str:
    """The pitfall an exercise teaches, in the manifest's words (or its first hint, if no mutant names it)."""
    t = manifest.topic(topic)
    pitfalls = [text for stem, text in t.pitfalls.items() if _mutant_exercise(topic, stem) == exercise]
    if pitfalls:
        more = f" (and {len(pitfalls) - 1} more pitfall(s))" if len(pitfalls) > 1 else ""
        return f"pitfall: {pitfalls[0]}{more}"
    hints = t.exercise(exercise).hints if exercise in {e.name for e in t.exercises} else ()
    return f"hint: {hints[0]}" if hints else ""


def exercise_rows(per_sub: dict[int, list], topics: list[str]) -> list[dict]:
    """One row per graded exercise, weakest first. `per_sub` maps a submission to its TopicResults."""
    rows = []
    for topic in topics:
        results = [r for results in per_sub.values() for r in results if r.topic == topic]
        order = [e.name for e in manifest.topic(topic).exercises]
        names = sorted({t.get("exercise") for r in results for t in r.tests if t.get("exercise")},
                       key=lambda n: order.index(n) if n in order else len(order))
        for name in names:
            runs = [[(t["status"] == "passed", t.get("points", 1.0)) for t in r.tests if t.get("exercise") == name]
                    for r in results]
            runs = [run for run in runs if run]
            points = sum(p for run in runs for _, p in run)
            solved = sum(all(ok for ok, _ in run) for run in runs)
            rows.append({
                "topic": topic, "exercise": name, "tests": len(runs[0]) if runs else 0, "submissions": len(runs),
                "solved_by": solved, "solved_pct": 100.0 * solved / len(runs) if runs else 0.0,
                "tests_passed_pct": 100.0 * sum(p for run in runs for ok, p in run if ok) / points if points else 0.0,
                "teaches": teaches(topic, name),
            })
    return sorted(rows, key=lambda r: (r["tests_passed_pct"], r["solved_pct"]))


def distribution(totals: list[float]) -> list[tuple[str, int]]:
    rows = [(f"{lo}-{hi}", sum(lo <= t < hi for t in totals)) for lo, hi in BUCKETS]
    return [*rows, ("100", sum(t >= 100.0 for t in totals))]


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["topic", "exercise", "tests", "submissions", "solved_by", "solved_pct",
                                    "tests_passed_pct", "teaches"])
        writer.writeheader()
        for r in rows:
            writer.writerow({**r, "solved_pct": f"{r['solved_pct']:.1f}",
                             "tests_passed_pct": f"{r['tests_passed_pct']:.1f}"})


def summary_lines(rows: list[dict], totals: list[float], weakest: int = 10) -> list[str]:
    lines = ["", "## Exercises, weakest first", "",
             f"Across {len(totals)} submission(s); all {len(rows)} exercises are in stats.csv.", "",
             "| exercise | solved by | tests passed | what it teaches |", "|---|---:|---:|---|"]
    for r in rows[:weakest]:
        lines.append(f"| {r['topic']}.{r['exercise']} | {r['solved_by']}/{r['submissions']} "
                     f"({r['solved_pct']:.0f}%) | {r['tests_passed_pct']:.0f}% | {r['teaches'].replace('|', '/')} |")
    lines += ["", "## Distribution of totals", ""]
    if totals:
        lines += [f"mean {statistics.fmean(totals):.1f}, median {statistics.median(totals):.1f}, "
                  f"lowest {min(totals):.1f}, highest {max(totals):.1f}", ""]
    width = max([n for _, n in distribution(totals)] + [1])
    lines += ["```"] + [f"{label:>6} % | {'#' * round(30 * n / width):<30} {n}" for label, n in distribution(totals)]
    return [*lines, "```"]


def draw_png(path: Path, rows: list[dict], totals: list[float], weakest: int = 15) -> str:
    """Draw the distribution and the weakest exercises into `path`; say what was done."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return "--png: matplotlib is not installed (pip install matplotlib): no figure drawn"
    shown = rows[:weakest][::-1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, max(4.0, 0.35 * len(shown) + 1.5)))
    labels, counts = zip(*distribution(totals))
    left.bar(range(len(counts)), counts, color="tab:blue")
    left.set_xticks(range(len(counts)), labels, rotation=45)
    left.set(title=f"totals of {len(totals)} submission(s)", xlabel="total (%)", ylabel="submissions")
    left.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    right.barh([f"{r['topic']}.{r['exercise']}" for r in shown], [r["tests_passed_pct"] for r in shown],
               color="tab:orange")
    right.set(title="weakest exercises", xlabel="tests passed across the class (%)", xlim=(0, 100))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"--png: wrote {path}"
