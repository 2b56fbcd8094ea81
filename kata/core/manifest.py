"""Read the curriculum manifest (kata/curriculum.toml): topics in order, exercises, hints, pitfalls."""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # kata/core/manifest.py -> the repository
MANIFEST = ROOT / "kata" / "curriculum.toml"
# The learner's own state (hints seen, last outcomes, reset backups): never committed.
STATE_DIR = Path(os.environ.get("KATA_STATE_DIR") or ROOT / ".kata")


@dataclass(frozen=True)
class Exercise:
    topic: str
    name: str
    hints: tuple[str, ...]
    bughunt: bool = False
    causes: tuple[tuple[str, str], ...] = ()  # (regex on an error's message, its likely cause here)

    @property
    def qualname(self) -> str:
        return f"{self.topic}.{self.name}"


@dataclass(frozen=True)
class Topic:
    name: str
    title: str
    weight: float
    exercises: tuple[Exercise, ...]
    pitfalls: dict[str, str] = field(default_factory=dict)
    cuda_pitfalls: dict[str, str] = field(default_factory=dict)  # mutants only CUDA tests can reject

    def exercise(self, name: str) -> Exercise:
        for ex in self.exercises:
            if ex.name == name:
                return ex
        raise KeyError(f"{self.name} has no exercise {name!r} in {MANIFEST.name}")


@functools.cache
def topics() -> tuple[Topic, ...]:
    """All topics, in curriculum order."""
    with MANIFEST.open("rb") as f:
        raw = tomllib.load(f)["topics"]
    out = []
    for name, t in raw.items():
        exercises = tuple(
            Exercise(name, ex_name, tuple(ex.get("hints", ())), bool(ex.get("bughunt", False)),
                     tuple(ex.get("causes", {}).items()))
            for ex_name, ex in t.get("exercises", {}).items()
        )
        out.append(
            Topic(
                name,
                t["title"],
                float(t.get("weight", 1.0)),
                exercises,
                dict(t.get("pitfalls", {})),
                dict(t.get("cuda_pitfalls", {})),
            )
        )
    return tuple(out)


def topic(name: str) -> Topic:
    for t in topics():
        if t.name == name:
            return t
    raise KeyError(f"no topic {name!r} in {MANIFEST.name}; topics: {', '.join(t.name for t in topics())}")


def topic_names() -> list[str]:
    return [t.name for t in topics()]


def find_exercise(qualname: str) -> Exercise:
    """`autograd.linear_backward` -> its Exercise; raises KeyError with the valid names."""
    topic_name, _, ex_name = qualname.partition(".")
    if not ex_name:  # a bare exercise name: fine when one topic has it
        matches = [e for t in topics() for e in t.exercises if e.name == topic_name]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise KeyError(f"name the topic too: {' or '.join(e.qualname for e in matches)}")
    t = topic(topic_name)
    try:
        return t.exercise(ex_name)
    except KeyError:
        names = ", ".join(e.qualname for e in t.exercises)
        raise KeyError(f"no exercise {qualname!r}; {topic_name} has: {names}") from None
