"""The grading verdict (kata/grading/verdict.py) as a table: each row changes one piece of evidence from a
clean run and names the reason it must give; and the reports' arithmetic (kata/grading/reports.py)."""

from __future__ import annotations

import dataclasses

import pytest

from kata.grading import reports
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
