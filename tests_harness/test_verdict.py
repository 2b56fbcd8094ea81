"""The grading verdict (kata/grading/verdict.py) as a table: each row changes one piece of evidence from a
clean run and names the reason it must give; and the reports' arithmetic (kata/grading/reports.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from kata.grading import reports, stats
from kata.grading.verdict import Evidence, verdict

NONCE = "n0nce"
CLEAN = Evidence(source="tensors.py", source_present=True, worker_died=False, timed_out=False, returncode=1,
                 payload={"nonce": NONCE, "tests": {}, "canaries": {f"c{i}": "failed" for i in range(5)},
                          "tampering": [], "blocked": []},
                 nonce=NONCE, canaries=5, sandbox_unchanged=True, topic_timeout=300.0)


def _with(**changes) -> Evidence:
    return dataclasses.replace(CLEAN, **changes)


def _payload(**changes) -> dict:
    return {**CLEAN.payload, **changes}


TABLE = [
    ("clean, some tests failed", CLEAN, ""),
    ("clean, every test passed", _with(returncode=0), ""),
    ("worker killed", _with(worker_died=True, returncode=-9, payload=None), "grading worker running this topic"),
    ("past the deadline", _with(timed_out=True, returncode=-9), "timed out: the topic ran past its 300 s limit"),
    ("folder past the disk cap", _with(disk_full=True, disk_mb=512, returncode=-9, payload=None),
     "out of disk: the topic wrote more than the 512 MiB"),
    ("a file past the disk cap", _with(disk_mb=512, returncode=-25, payload=None), "out of disk"),
    ("no file", _with(source_present=False), "no tensors.py in the submission"),
    ("segfault", _with(returncode=-11, payload=None), "crashed (SIGSEGV)"),
    ("exit before the report", _with(returncode=0, payload=None), "ended (exit code 0) before reporting"),
    ("internal error", _with(returncode=3), "pytest exited with code 3"),
    ("forged results", _with(payload=_payload(nonce="forged")), "did not come from this grading run"),
    ("helper replaced", _with(payload=_payload(tampering=["kata.learn.checks.expect was replaced"])),
     "tampered: kata.learn.checks.expect was replaced"),
    ("refused access", _with(payload=_payload(blocked=["open /repo/solutions/tensors.py"])),
     "tried what grading refuses (open /repo/solutions/tensors.py)"),
    ("a canary passed", _with(payload=_payload(canaries={**CLEAN.payload["canaries"], "c0": "passed"})),
     "a canary check that must fail did not fail"),
    ("a canary missing", _with(payload=_payload(canaries={"c0": "failed"})), "a canary check that must fail"),
    ("files edited", _with(sandbox_unchanged=False), "modified the grader's files on disk"),
]


@pytest.mark.parametrize("evidence, reason", [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_verdict(evidence, reason):
    got = verdict(evidence)
    assert (got == "") if reason == "" else (reason in got), got


def test_a_dead_worker_outranks_every_later_check():
    assert "worker" in verdict(_with(worker_died=True, timed_out=True, source_present=False, payload=None))


@pytest.mark.parametrize("total, weights", [(100.0, [1.0] * 33), (100.0, [1, 2, 3]), (33.3333, [1.0] * 7)])
def test_split_adds_up_exactly_after_rounding(total, weights):
    parts = reports.split(total, weights)
    assert round(sum(parts), reports.DIGITS) == round(total, reports.DIGITS)
    assert all(round(p, reports.DIGITS) == p for p in parts)
    assert max(parts) - min(parts) <= total / sum(weights) * (max(weights) - min(weights)) + 1.5e-4


def test_results_json_max_scores_add_up_to_100():
    results = [reports.TopicResult(t, earned=1.0, possible=33.0, tests=[
        {"nodeid": f"tests/test_{t}.py::t{i}", "points": 1.0, "status": "passed" if i == 0 else "failed",
         "output": ""} for i in range(33)]) for t in ("tensors", "autograd", "cnn")]
    out = reports.gradescope_json(results, ["tensors", "autograd", "cnn"], 1.0)
    assert round(sum(t["max_score"] for t in out["tests"]), 9) == 100.0
    assert out["score"] == round(sum(t["score"] for t in out["tests"]), reports.DIGITS)


def _class(topics: list[str]) -> dict[int, list[reports.TopicResult]]:
    """Three submissions over `topics`, tests of unequal points, passes spread unevenly, one topic not graded."""
    per_sub = {}
    for i in range(3):
        results = []
        for k, topic in enumerate(topics):
            tests = [{"nodeid": f"tests/test_{topic}.py::t{j}", "exercise": f"e{j % 2}", "points": 1.0 + j % 3,
                      "status": "passed" if (i * j + k + 1) % 3 else "failed", "output": ""} for j in range(7)]
            r = reports.TopicResult(topic, possible=sum(t["points"] for t in tests), tests=tests)
            r.earned = sum(t["points"] for t in tests if t["status"] == "passed")
            r.reason = "timed out" if (i, k) == (2, 1) else ""
            results.append(r)
        per_sub[i] = results
    return per_sub


def test_one_score_sheet_feeds_the_csv_gradescope_and_the_statistics(tmp_path, monkeypatch):
    topics = ["tensors", "autograd", "cnn"]
    weights = {"tensors": 1.0, "autograd": 2.0, "cnn": 3.5}  # unequal, so a report that ignores them differs
    from kata.core import manifest
    real = manifest.topic
    monkeypatch.setattr(manifest, "topic", lambda t: dataclasses.replace(real(t), weight=weights[t]))
    per_sub = _class(topics)
    reports.write_reports(tmp_path, ["a", "b", "c"], per_sub, topics)
    import csv
    with (tmp_path / "grades.csv").open() as f:
        csv_totals = [float(row["total"]) for row in csv.DictReader(f)]
    for i, name in enumerate("abc"):
        sheet = reports.sheet(per_sub[i], topics)
        assert round(sum(row["max_score"] for row in sheet), reports.DIGITS) == 100.0
        by_topic = {t: sum(row["max_score"] for row in sheet if row["topic"] == t) for t in topics}
        assert by_topic["cnn"] == pytest.approx(100.0 * 3.5 / 6.5, abs=1e-3)  # the manifest's weight
        points = [row["max_score"] for row in sheet if row["topic"] == "tensors"]
        assert points[1] == pytest.approx(2 * points[0], abs=1e-3)  # a test's points marker
        gradescope = json.loads((tmp_path / name / "results.json").read_text())
        assert gradescope["score"] == reports.total_percent(per_sub[i], topics) == round(
            sum(row["score"] for row in sheet), reports.DIGITS)
        assert csv_totals[i] == round(gradescope["score"], 1)
    summary = (tmp_path / "summary.md").read_text()
    totals = [reports.total_percent(per_sub[i], topics) for i in range(3)]
    assert f"mean {sum(totals) / 3:.1f}" in summary
    row = next(r for r in stats.exercise_rows(per_sub, topics) if (r["topic"], r["exercise"]) == ("tensors", "e0"))
    tests = [t for i in range(3) for t in per_sub[i][0].tests if t["exercise"] == "e0"]
    earned = sum(t["points"] for t in tests if t["status"] == "passed")
    assert row["tests_passed_pct"] == pytest.approx(100.0 * earned / sum(t["points"] for t in tests))
