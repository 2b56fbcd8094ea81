"""Stubs and solutions cannot drift: same public names, signatures and docstrings, and every
exercise body is either a stub that raises NotImplementedError("<topic>.<name>: ..."), a bug hunt
named in the manifest, or code given to the learner unchanged from the solution.

Run by `nox -s check`; also `python -m kata.maintain.drift`.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap

from kata.core import manifest
from kata.learn.impl import load_topic
from kata.learn.stubs import is_stub, members, public


def _same_source(a, b) -> bool:
    return ast.dump(ast.parse(textwrap.dedent(inspect.getsource(a)))) == ast.dump(
        ast.parse(textwrap.dedent(inspect.getsource(b)))
    )


def compare_topic(topic: str) -> list[str]:
    t = manifest.topic(topic)
    try:
        ex = load_topic(topic, manifest.ROOT / "exercises")
        sol = load_topic(topic, manifest.ROOT / "solutions")
    except Exception as err:  # noqa: BLE001
        return [str(err)]
    problems = []
    if inspect.getdoc(ex) != inspect.getdoc(sol):
        problems.append(f"{topic}: module docstrings differ")
    pub_ex, pub_sol = public(ex), public(sol)
    for name in sorted(pub_sol.keys() - pub_ex.keys()):
        problems.append(f"{topic}.{name}: in solutions but not in exercises")
    for name in sorted(pub_ex.keys() - pub_sol.keys()):
        problems.append(f"{topic}.{name}: in exercises but not in solutions")
    bughunts = {e.name for e in t.exercises if e.bughunt}
    for name in sorted(pub_ex.keys() & pub_sol.keys()):
        a, b = pub_ex[name], pub_sol[name]
        pairs = [(name, a, b)]
        if inspect.isclass(a):
            if inspect.getdoc(a) != inspect.getdoc(b):
                problems.append(f"{topic}.{name}: class docstrings differ")
            ma, mb = members(a), members(b)
            if ma.keys() != mb.keys():
                problems.append(f"{topic}.{name}: methods differ: {sorted(ma)} vs {sorted(mb)}")
            pairs = [(f"{name}.{m}", ma[m], mb[m]) for m in sorted(ma.keys() & mb.keys())]
        for qual, fa, fb in pairs:
            if str(inspect.signature(fa)) != str(inspect.signature(fb)):
                problems.append(f"{topic}.{qual}: signature {inspect.signature(fa)} != {inspect.signature(fb)}")
            if inspect.getdoc(fa) != inspect.getdoc(fb):
                problems.append(f"{topic}.{qual}: docstrings differ")
            if not (is_stub(fa, topic) or name in bughunts or _same_source(fa, fb)):
                problems.append(
                    f"{topic}.{qual}: the exercise is neither a stub raising NotImplementedError"
                    f"('{topic}.…'), a bug hunt in the manifest, nor identical to the solution"
                )
    for name in bughunts:
        if name in pub_ex and _same_source(pub_ex[name], pub_sol[name]):
            problems.append(f"{topic}.{name}: the bug hunt ships the solution itself")
    return problems


def main(argv: list[str]) -> int:
    names = argv or manifest.topic_names()
    problems = [p for t in names for p in compare_topic(t)]
    for p in problems:
        print(f"drift: {p}")
    print(f"drift: {len(names)} topic(s) compared, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
