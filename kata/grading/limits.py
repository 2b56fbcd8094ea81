"""The class grader's default limits, each in one home with its reason (`python -m kata.grading.grade` and the
Gradescope bundle read them from here; `--test-timeout`, `--topic-timeout`, `--memory-mb` and
`--disk-mb` override).

The per-test timeout comes from the slowest legitimate test, not from a round number:
`python -m kata.maintain.bench --durations` runs `pytest --solutions --durations=0` and prints the slowest
test (setup, call and teardown added up) and the timeout this file derives from it. Measured
2026-11-29 on 2 CPUs with other work running, twice; the larger is kept:
tests/test_training_loop.py::test_train_one_epoch_steps_on_each_batch_gradient_alone, 5.29 s at a
load average of 3.7 (it pays torch._dynamo's first-optimizer import, which a grading worker has
already paid), and tests/test_finetuning.py::test_demo_quick_reports_accuracies_and_counts,
3.83 s at 4.6.
"""

from __future__ import annotations

import math

SLOWEST_TEST_S = 5.29  # measured as above; rerun `nox -s bench -- --durations` after adding slow tests
TEST_TIMEOUT_FACTOR = 5  # generous: grading runs one process per CPU on a machine that may be busy
TEST_TIMEOUT = float(math.ceil(SLOWEST_TEST_S * TEST_TIMEOUT_FACTOR))  # 27 s
# A whole topic: every exercise may cost one timeout (kata/grading/grading_plugin.py fails the rest of an
# exercise at once after its first), so the deadline must exceed exercises x TEST_TIMEOUT
# (tests_harness/test_limits.py checks it against the manifest) plus a normal run.
TOPIC_TIMEOUT = 300.0
MEMORY_MB = 4096  # address space (not memory in use) a topic may map beyond the preloaded libraries
# What one job may write, so that no submission can fill the grading machine's disk (one that wrote
# 64 MiB chunks at import reached 5.9 GiB before it stopped on its own). A legitimate topic writes
# its copy of the harness (about 1 MiB), pytest's tmp_path (test_production.py's checkpoints of
# small models) and its log: a few MiB. The cap holds three ways: no file larger than it
# (RLIMIT_FSIZE: the job dies of SIGXFSZ), no more than it in the job's folder in all (measured
# every kata.core.zygote.DISK_POLL_S while the job runs; past it the job is killed, so it may
# overshoot by what the disk takes in that time), and, under bubblewrap, a job's /tmp and /dev/shm
# are tmpfs mounts of this size. Either way the topic scores 0 with the reason. With --jobs N a
# grading machine needs about N x (DISK_MB + overshoot) free.
DISK_MB = 512


def derive(slowest_s: float) -> float:
    """The per-test timeout that a measured slowest test implies."""
    return float(math.ceil(slowest_s * TEST_TIMEOUT_FACTOR))
