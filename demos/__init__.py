"""Runnable demos: each topic's concept at work, with real numbers.

`python -m exercises.<topic>`, once you have solved the topic, runs `demos/<topic>.py`'s
`main(module)` on that file's own functions (before that, it names the exercises still to do).
Options:

    --quick      a smaller, faster run (what the test suite's smoke test uses)
    --png PATH   also save a figure, where the demo has one (needs matplotlib: pip install matplotlib)
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time


def run(topic: str) -> dict:
    """Entry point for `python -m <folder>.<topic>`: run the demo on the module being executed."""
    parser = argparse.ArgumentParser(prog=f"python -m <folder>.{topic}", description=f"demo of the {topic} topic")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run")
    parser.add_argument("--png", metavar="PATH", help="save the demo's figure as a PNG (needs matplotlib)")
    args = parser.parse_args()
    from kata.core import threads

    threads.apply()  # one torch thread unless KATA_TORCH_THREADS says otherwise (kata/core/threads.py)
    demo = importlib.import_module(f"demos.{topic}")
    module = sys.modules["__main__"]
    start = time.perf_counter()
    try:
        result = demo.main(module, quick=args.quick, save_png=args.png)
    except NotImplementedError as err:
        from kata.learn import stubs

        raise SystemExit("\n" + stubs.unfinished(topic, err, stubs.stubs(module, topic), os.path.relpath(
            module.__file__), f"pytest tests/test_{topic}.py")) from None
    print(f"\n[{topic} demo finished in {time.perf_counter() - start:.1f}s]")
    return result


def pyplot():
    """matplotlib's pyplot with a file-only backend, or None (with a note) when it is not installed."""
    try:
        import matplotlib
    except ImportError:
        print("(matplotlib is not installed, so no figure is saved: pip install matplotlib)")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def device():
    """The device the demos compute on: CUDA when present, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
