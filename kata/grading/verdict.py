"""Whether a graded topic's reported outcomes can be trusted: a pure function of its evidence.

`verdict(evidence)` is "" when the outcomes stand, else the reason the whole topic scores 0. The
order of the checks is the order of trust: nothing the submission could write is read before
the process is known to have finished normally, and every tamper check must pass.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass


@dataclass(frozen=True)
class Evidence:
    source: str  # the topic's file name, for the message
    source_present: bool  # the submission has it
    worker_died: bool  # the worker process running the job ended with it
    timed_out: bool  # the job ran past the topic's deadline and was killed
    returncode: int  # pytest's exit code, or minus the signal that ended the process
    payload: dict | None  # what the grading plugin wrote; None when there is no readable file
    nonce: str  # this run's secret, which a genuine payload carries
    canaries: int  # canary tests collected, every one of which must be reported failed
    sandbox_unchanged: bool  # the grader's files hash as they did before the run
    topic_timeout: float = 0.0  # seconds, for the message
    disk_full: bool = False  # the job's folder grew past the disk cap and the job was killed
    disk_mb: int = 0  # the disk cap, for the message


def verdict(e: Evidence) -> str:
    if e.worker_died:
        return "the grading worker running this topic was killed (by the submission?)"
    if e.timed_out:
        return f"timed out: the topic ran past its {e.topic_timeout:g} s limit and was stopped"
    if e.disk_full or e.returncode == -signal.SIGXFSZ:
        return (f"out of disk: the topic wrote more than the {e.disk_mb} MiB a job may write "
                "(a file or its folder in all) and was stopped")
    if not e.source_present:
        return f"no {e.source} in the submission"
    if e.returncode < 0:
        try:
            name = signal.Signals(-e.returncode).name
        except ValueError:
            name = f"signal {-e.returncode}"
        return f"the test process crashed ({name})"
    if e.payload is None:
        return f"the test process ended (exit code {e.returncode}) before reporting its results"
    if e.returncode not in (0, 1):
        return f"pytest exited with code {e.returncode} (interrupted or an internal error)"
    if e.payload.get("nonce") != e.nonce:
        return "tampered: the results file did not come from this grading run"
    if e.payload.get("tampering"):
        return "tampered: " + "; ".join(e.payload["tampering"])
    if e.payload.get("blocked"):
        return f"tampered: the submission tried what grading refuses ({e.payload['blocked'][0]})"
    canaries = e.payload.get("canaries", {})
    if len(canaries) < e.canaries or any(v != "failed" for v in canaries.values()):
        return "tampered: a canary check that must fail did not fail (an assertion helper was disarmed)"
    if not e.sandbox_unchanged:
        return "tampered: the submission modified the grader's files on disk"
    return ""
