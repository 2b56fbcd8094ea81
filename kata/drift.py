"""Stubs and solutions cannot drift: same public names, signatures and docstrings, and every
exercise body is either a stub that raises NotImplementedError("<topic>.<name>: ..."), a bug hunt
named in the manifest, or code given to the learner unchanged from the solution.

Run by `nox -s check`; also `python -m kata.drift`.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from types import ModuleType

from kata import manifest
from kata.impl import load_topic


def _public(module: ModuleType, defined_in: str | None = None) -> dict[str, object]:
    """Public functions and classes defined in the module (or in `defined_in`: a notebook's are "__main__")."""
    return {
        name: obj
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and getattr(obj, "__module__", None) == (defined_in or module.__name__)
    }


def _members(cls: type) -> dict[str, object]:
    out = {}
    for name, obj in vars(cls).items():
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        if isinstance(obj, property):
            obj = obj.fget
        if inspect.isfunction(obj):
            out[name] = obj
    return out


def _is_stub(fn, topic: str) -> bool:
    """The body, after the docstring, is only `raise NotImplementedError("<topic>.…")`."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    body = tree.body[0].body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    statements = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
                                          and ast.unparse(s.value).startswith("super().__init__"))]
    if len(statements) != 1 or not isinstance(statements[0], ast.Raise):
        return False
    exc = statements[0].exc
    if not (isinstance(exc, ast.Call) and ast.unparse(exc.func) == "NotImplementedError" and exc.args):
        return False
    msg = exc.args[0]
    return isinstance(msg, ast.Constant) and isinstance(msg.value, str) and msg.value.startswith(f"{topic}.")


def stubs(module: ModuleType, topic: str, defined_in: str | None = None) -> list[str]:
    """The exercises of `module` whose function, or a method of whose class, is still a stub (a
    definition whose source cannot be read is not known to be one)."""
    out = []
    for name, obj in _public(module, defined_in).items():
        fns = _members(obj).values() if inspect.isclass(obj) else [obj]
        try:
            if any(_is_stub(fn, topic) for fn in fns):
                out.append(name)
        except (OSError, TypeError):
            continue
    return out


def unfinished(topic: str, err: NotImplementedError, todo: list[str], where: str, then: str) -> str:
    """What a demo says when it reaches a stub: where it stopped, what is left, how to check it."""
    return (f"The {topic} demo runs on your own code, and it reached {str(err).split(':', 1)[0]}, which is not "
            f"implemented yet.\nStill stubs in {where}: {', '.join(todo) or 'none left as stubs'}.\n"
            f"Solve them first: {then}")


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
    pub_ex, pub_sol = _public(ex), _public(sol)
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
            ma, mb = _members(a), _members(b)
            if ma.keys() != mb.keys():
                problems.append(f"{topic}.{name}: methods differ: {sorted(ma)} vs {sorted(mb)}")
            pairs = [(f"{name}.{m}", ma[m], mb[m]) for m in sorted(ma.keys() & mb.keys())]
        for qual, fa, fb in pairs:
            if str(inspect.signature(fa)) != str(inspect.signature(fb)):
                problems.append(f"{topic}.{qual}: signature {inspect.signature(fa)} != {inspect.signature(fb)}")
            if inspect.getdoc(fa) != inspect.getdoc(fb):
                problems.append(f"{topic}.{qual}: docstrings differ")
            if not (_is_stub(fa, topic) or name in bughunts or _same_source(fa, fb)):
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
