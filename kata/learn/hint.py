"""Hints, one at a time: `nox -s hint -- autograd.linear_backward` (or `python -m kata.learn.hint ...`).

Each call reveals the next hint of that exercise and repeats the ones already seen; `--again` rereads
those without revealing another. The count is kept in .kata/hints.json (yours, not committed). Hints
come from kata/curriculum.toml, never from the solutions. `--reset` forgets what was revealed; no
argument lists the exercises. Any name the stub list prints works: `autograd.silu` and
`autograd.SiLU.forward` are the exercise autograd.SiLU.
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


def resolve(name: str) -> manifest.Exercise:
    """The exercise a name means: its qualname, or a name the stub list prints for it (a method,
    `autograd.SiLU.forward`; a function that belongs to it, `autograd.silu`, `lora.load_lora_state_dict`,
    `production.load_checkpoint`). Raises KeyError with the valid names."""
    try:
        return manifest.find_exercise(name)
    except KeyError as err:
        first = err
    topic_name, _, rest = name.partition(".")
    try:
        topic = manifest.topic(topic_name)
    except KeyError:
        raise first from None
    head = rest.split(".")[0]
    words = set(head.lower().split("_"))
    for same in (lambda e: e.name == head, lambda e: e.name.lower() == head.lower(),
                 lambda e: e.name.lower() in head.lower(), lambda e: words & set(e.name.lower().split("_"))):
        found = [e for e in topic.exercises if e.name != "demo" and same(e)]
        if len(found) == 1:
            return found[0]
    raise first


def reveal(qualname: str, state: dict[str, int], *, again: bool = False) -> list[str]:
    """Advance the exercise's revealed count by one (up to all; not with `again`) and return the hints
    now shown."""
    ex = resolve(qualname)
    shown = min(state.get(ex.qualname, 0) + (0 if again else 1), len(ex.hints))
    state[ex.qualname] = shown
    return list(ex.hints[:shown])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nox -s hint --", description=__doc__.splitlines()[0])
    parser.add_argument("exercise", nargs="?", help="<topic>.<exercise>, as the progress summary names it")
    parser.add_argument("--again", action="store_true", help="reread the hints seen, without revealing another")
    parser.add_argument("--reset", action="store_true", help="forget which hints were revealed")
    args = parser.parse_args(argv)
    state = _load()
    if args.reset:
        if args.exercise:
            try:
                state.pop(resolve(args.exercise).qualname, None)
            except KeyError:
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
        ex = resolve(args.exercise)
        hints = reveal(ex.qualname, state, again=args.again)
    except KeyError as err:
        print(err.args[0], file=sys.stderr)
        return 2
    _save(state)
    total = len(ex.hints)
    if ex.qualname != args.exercise:
        print(f"({args.exercise} is part of the exercise {ex.qualname})")
    if not ex.hints:
        print(f"{ex.qualname} has no hints yet.")
    elif not hints:
        print(f"no hint of {ex.qualname} seen yet: run it without --again for the first")
        return 0
    for i, text in enumerate(hints, start=1):
        print(f"hint {i}/{total}: {text}")
    if len(hints) < total:
        print(f"(run it {'without --again' if args.again else 'again'} for hint {len(hints) + 1})")
    else:
        print("(that was the last hint: reread the docstring and the failing test's message)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
