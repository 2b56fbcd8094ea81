"""Live progress while a class is graded: topics and submissions done, elapsed time and ETA, and a
line per finished submission.

On a terminal it draws a tqdm bar (tqdm: one small pure-Python package without dependencies,
maintained, that does the rate and ETA arithmetic and prints lines above its bar with
`tqdm.write`; rich would bring its own console and a markdown stack for one bar). Where stdout is
not a terminal (a log file, CI, Gradescope) or tqdm is not installed, it prints only the plain
lines, one per finished submission, each with the same counts, elapsed time and ETA.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class Live:
    """Call `topic_done(i, percent_of_topic)` from any thread as each (submission i, topic) ends;
    `submission_done` gets the submission's total when its last topic ends."""

    def __init__(self, names: list[str], topics: int, stream: TextIO | None = None, *, bar: bool | None = None):
        self.names, self.topics = names, topics
        self.stream = stream or sys.stdout
        self.total = len(names) * topics
        self.done = 0
        self.left = {i: topics for i in range(len(names))}
        self.subs_done = 0
        self.start = self.began = time.perf_counter()
        self.lock = threading.Lock()
        self.bar = None
        if bar if bar is not None else self.stream.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=self.total, unit="topic", file=self.stream, dynamic_ncols=True,
                                desc=f"grading 0/{len(names)} submissions", leave=False)

    def begin(self) -> None:
        """The workers are ready: the ETA counts the pace of grading from here, not their start-up."""
        self.began = time.perf_counter()

    def eta(self) -> float | None:
        if not self.done:
            return None
        return (time.perf_counter() - self.began) / self.done * (self.total - self.done)

    def topic_done(self, index: int) -> bool:
        """Count one finished topic; True when it was the submission's last."""
        with self.lock:
            self.done += 1
            self.left[index] -= 1
            last = self.left[index] == 0
            self.subs_done += last
            if self.bar is not None:
                self.bar.set_description(f"grading {self.subs_done}/{len(self.names)} submissions", refresh=False)
                self.bar.update(1)
            return last

    def submission_done(self, index: int, total: float, note: str = "") -> None:
        with self.lock:
            elapsed = time.perf_counter() - self.start
            eta = self.eta()
            line = (f"graded {self.names[index]}: {total:.1f}%{note}  [{self.subs_done}/{len(self.names)} submissions,"
                    f" {self.done}/{self.total} topics, {_clock(elapsed)} elapsed, "
                    f"ETA {_clock(eta) if eta is not None else '?'}]")
            if self.bar is not None:
                self.bar.write(line, file=self.stream)
            else:
                print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
