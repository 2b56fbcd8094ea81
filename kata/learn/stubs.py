"""Which exercises are still stubs: the finder behind the stub list of the demos (terminal and
notebook) and behind the drift check. A stub's body, after its docstring, is only
`raise NotImplementedError("<topic>.<name>: ...")`."""

from __future__ import annotations

import ast
import inspect
import textwrap
from types import ModuleType


def public(module: ModuleType, defined_in: str | None = None) -> dict[str, object]:
    """Public functions and classes defined in the module (or in `defined_in`: a notebook's are "__main__")."""
    return {
        name: obj
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and getattr(obj, "__module__", None) == (defined_in or module.__name__)
    }


def members(cls: type) -> dict[str, object]:
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


def is_stub(fn, topic: str) -> bool:
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
    for name, obj in public(module, defined_in).items():
        fns = members(obj).values() if inspect.isclass(obj) else [obj]
        try:
            if any(is_stub(fn, topic) for fn in fns):
                out.append(name)
        except (OSError, TypeError):
            continue
    return out


def unfinished(topic: str, err: NotImplementedError, todo: list[str], where: str, then: str) -> str:
    """What a demo says when it reaches a stub: where it stopped, what is left, how to check it."""
    return (f"The {topic} demo runs on your own code, and it reached {str(err).split(':', 1)[0]}, which is not "
            f"implemented yet.\nStill stubs in {where}: {', '.join(todo) or 'none left as stubs'}.\n"
            f"Solve them first: {then}")
