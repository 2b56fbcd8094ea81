"""Class statistics (kata/grading/stats.py) on hand-made results, and the live progress of grading
(kata/grading/live.py) on a terminal and off one."""

from __future__ import annotations

import io

import pytest

from kata.grading import live, stats
from kata.grading.reports import TopicResult


def _result(passed: dict[str, list[bool]]) -> TopicResult:
    tests = [{"nodeid": f"tests/test_tensors.py::t_{ex}_{i}", "exercise": ex, "points": 1.0,
              "status": "passed" if ok else "failed", "output": ""}
             for ex, oks in passed.items() for i, ok in enumerate(oks)]
    return TopicResult("tensors", earned=sum(t["status"] == "passed" for t in tests), possible=len(tests), tests=tests)


def test_exercises_come_weakest_first_with_their_pass_rates():
    per_sub = {
        0: [_result({"pick_device": [True, True], "move_to": [True, False, False], "to_numpy": [True]})],
        1: [_result({"pick_device": [True, True], "move_to": [False, False, False], "to_numpy": [True]})],
        2: [_result({"pick_device": [True, False], "move_to": [True, True, True], "to_numpy": [True]})],
    }
    rows = stats.exercise_rows(per_sub, ["tensors"])
    assert [r["exercise"] for r in rows] == ["move_to", "pick_device", "to_numpy"]
    move_to = rows[0]
    assert (move_to["tests"], move_to["submissions"], move_to["solved_by"]) == (3, 3, 1)
    assert move_to["tests_passed_pct"] == pytest.approx(100 * 4 / 9)
    assert move_to["solved_pct"] == pytest.approx(100 / 3)
    assert rows[-1]["solved_pct"] == 100.0


def test_an_exercise_teaches_the_pitfall_its_mutant_names_else_its_first_hint():
    text = stats.teaches("tensors", "tensor_nbytes")  # the first mutant that says (tensors.tensor_nbytes)
    assert text.startswith("pitfall: tensor_nbytes counts elements (numel) instead of bytes")
    assert stats.teaches("tensors", "demo").startswith("hint: The demo calls")


def test_distribution_counts_each_total_once_with_full_marks_apart():
    dist = dict(stats.distribution([0.0, 9.99, 10.0, 55.5, 99.9, 100.0, 100.0]))
    assert dist["0-10"] == 2 and dist["10-20"] == 1 and dist["50-60"] == 1 and dist["90-100"] == 1
    assert dist["100"] == 2 and sum(dist.values()) == 7


def test_png_is_drawn_where_matplotlib_is_installed(tmp_path):
    rows = stats.exercise_rows({0: [_result({"move_to": [True, False]})]}, ["tensors"])
    message = stats.draw_png(tmp_path / "stats.png", rows, [50.0])
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in message and not (tmp_path / "stats.png").exists()
    else:
        assert (tmp_path / "stats.png").read_bytes()[:4] == b"\x89PNG"


def test_progress_off_a_terminal_is_one_plain_line_per_finished_submission():
    out = io.StringIO()
    meter = live.Live(["ann", "bob"], topics=2, stream=out)
    assert meter.bar is None
    assert not meter.topic_done(0)
    assert meter.topic_done(0)
    meter.submission_done(0, 75.0)
    assert meter.topic_done(1) is False and meter.topic_done(1)
    meter.submission_done(1, 0.0, " (1 topic(s) not graded: lora)")
    meter.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("graded ann: 75.0%") and "[1/2 submissions, 2/4 topics," in lines[0]
    assert "elapsed" in lines[0] and "ETA 0:0" in lines[0]
    assert "not graded: lora" in lines[1] and "[2/2 submissions, 4/4 topics," in lines[1]


def test_progress_on_a_terminal_draws_a_bar_with_the_lines_above_it():
    pytest.importorskip("tqdm")
    out = io.StringIO()
    meter = live.Live(["ann"], topics=2, stream=out, bar=True)
    assert meter.bar is not None
    meter.topic_done(0)
    meter.topic_done(0)
    meter.submission_done(0, 100.0)
    meter.close()
    text = out.getvalue()
    assert "graded ann: 100.0%" in text and "grading 1/1 submissions" in text and "topic" in text
