"""Hints, one at a time: `nox -s hint -- autograd.linear_backward` (or `python -m kata.learn.hint ...`).

Each call reveals the next hint of that exercise and repeats the ones already seen; the count is
kept in .kata/hints.json (yours, not committed). Hints come from kata/curriculum.toml, never from
the solutions. `--reset` forgets what was revealed; no argument lists the exercises.
"""

from __future__ import annotations

import argparse
import json
import sys

from kata.core import manifest

STATE = manifest.STATE_DIR / "hints.json"


def _load() -> dict[str, int]:
    try:
        return json.loads(STATE.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _save(state: dict[str, int]) -> None:
    STATE.parent.mkdir(exist_ok=True)
    STATE.write_text(json.dumps(state, indent=1, sort_keys=True))


def reveal(qualname: str, state: dict[str, int]) -> list[str]:
    """Advance the exercise's revealed count by one (up to all) and return the hints now shown."""
    ex = manifest.find_exercise(qualname)
    shown = min(state.get(ex.qualname, 0) + 1, len(ex.hints))
    state[ex.qualname] = shown
    return list(ex.hints[:shown])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s hint --", description=__doc__.splitlines()[0])
    parser.add_argument("exercise", nargs="?", help="<topic>.<exercise>, as the progress summary names it")
    parser.add_argument("--reset", action="store_true", help="forget which hints were revealed")
    args = parser.parse_args(argv)
    state = _load()
    if args.reset:
        if args.exercise:
            state.pop(args.exercise, None)
        else:
            state.clear()
        _save(state)
        print("hints reset")
        return 0
    if not args.exercise:
        for t in manifest.topics():
            names = ", ".join(f"{e.name} ({state.get(e.qualname, 0)}/{len(e.hints)})" for e in t.exercises)
            print(f"{t.name}: {names}")
        print("\nusage: nox -s hint -- <topic>.<exercise>")
        return 0
    try:
        hints = reveal(args.exercise, state)
    except KeyError as err:
        print(err.args[0], file=sys.stderr)
        return 2
    _save(state)
    total = len(manifest.find_exercise(args.exercise).hints)
    if not hints:
        print(f"{args.exercise} has no hints yet.")
    for i, text in enumerate(hints, start=1):
        print(f"hint {i}/{total}: {text}")
    if len(hints) < total:
        print(f"(run it again for hint {len(hints) + 1})")
    else:
        print("(that was the last hint: reread the docstring and the failing test's message)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
