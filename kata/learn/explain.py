"""A failure that does not teach, made into one that does.

The topic tests fail through kata.learn.checks, whose messages start with `[topic.exercise]`. Anything
else that ends a test (an exception from the learner's code or from inside torch, of any type, or a
bare `assert`) reaches the learner through the plugin's report hook, which asks `explain` for:

    [cnn.conv2d_unfold] RuntimeError inside torch, in a call your code made: The size of tensor a (4) ...
      the call: exercises/cnn.py:88, in conv2d_unfold: out = out + bias
      with: out (2, 4, 20) float64, bias (4,) float64
      likely: two shapes that do not line up: compare the shapes above with those the docstring promises

The call is the deepest frame of the learner's own code (else of a demo, else of the test), the
tensors are those of that frame named on its line, and the likely cause comes from the exception's
type and message: the exercise's own `causes` in kata/curriculum.toml first, then `CAUSES`.
"""

from __future__ import annotations

import linecache
import os
import re
import sys
import sysconfig
from pathlib import Path
from types import TracebackType

import torch

from kata.core import manifest

_TORCH = str(Path(torch.__file__).resolve().parent)
_LIBRARIES = tuple({str(Path(p).resolve()) for p in (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
                                                     sysconfig.get_paths()["platlib"], sys.prefix, sys.base_prefix)})
_HARNESS = str(manifest.ROOT / "kata")
_TESTS = str(manifest.ROOT / "tests")
_DEMOS = str(manifest.ROOT / "demos")

# (exception type name or "", pattern in its message, the likely cause): the first that matches wins
CAUSES: tuple[tuple[str, str, str], ...] = (
    ("ValueError", r"empty parameter list",
     "no parameter requires grad: the optimizer was handed an empty list (was everything frozen, the new "
     "parts too?)"),
    ("", r"probability tensor contains either `inf`, `nan` or element < 0",
     "the probabilities hold NaN or inf: a fully masked row (softmax over nothing but -inf), or logits that "
     "overflowed"),
    ("ValueError", r"Expected more than 1 value per channel when training",
     "BatchNorm in training mode got one value per channel (a batch of one): it cannot take a batch statistic; "
     "is the model in eval mode, or the batch dimension squeezed away?"),
    ("", r"does not require grad and does not have a grad_fn|does not require grad",
     "the graph was cut before this point: a detach(), .data, torch.no_grad() or a tensor built anew"),
    ("", r"backward through the graph a second time|saved tensors.*freed",
     "backward() ran twice through one graph: build the graph anew for each backward"),
    ("", r"modified by an inplace operation|a leaf Variable that requires grad is being used in an in-place",
     "an in-place change (x += ..., x.mul_(...), x[...] = ...) to a tensor autograd still needs"),
    ("", r"Expected all tensors to be on the same device|same device|device type",
     "tensors on different devices met in one call: move them to one device first"),
    ("", r"expected scalar type|dtype|Double but found Float|Float but found Double|expected both",
     "tensors of different dtypes met in one call: keep the input's dtype throughout"),
    ("", r"operator.invert\) is only implemented on integer and Boolean",
     "~ on a float tensor: a mask is bool (torch.bool), and ~ flips only bool or integer tensors"),
    ("", r"Expected target size|Expected input batch_size|target .* size",
     "the loss got logits and targets of shapes it cannot pair: cross_entropy wants (N, C) logits with (N,) "
     "targets, so flatten (B, T, C) and (B, T) first"),
    ("IndexError", r"Dimension out of range",
     "a tensor has fewer dimensions than this call expects: compare the shapes above with the docstring's"),
    ("", r"size of tensor|must match the size|shapes? .* cannot be multiplied|mat1 and mat2|not broadcast|"
         r"invalid for input of size|shape '\[",
     "two shapes that do not line up: compare the shapes above with those the docstring promises"),
    ("", r"view size is not compatible|not contiguous|contiguous",
     "view() needs a contiguous tensor: after transpose/permute use reshape() or .contiguous().view()"),
    ("IndexError", r"", "an index outside the tensor or list: check the sizes and the axis"),
    ("TypeError", r"", "a call with arguments it does not take, or a value of the wrong type: compare with "
                       "the docstring's signature and return type"),
    ("AttributeError", r"", "an object without that attribute: a value of another type than the docstring "
                            "promises, or a submodule under another name"),
    ("KeyError", r"", "a key that is not there: compare the names with those the docstring gives"),
    ("ZeroDivisionError", r"", "a division by zero: an empty batch, list or count?"),
    ("NameError", r"", "a name this code never defined or imported (import torch.nn.functional as F?)"),
    ("RecursionError", r"", "a call that never stops calling itself: does the recursion reach its base case?"),
    ("", r"[Tt]imeout", "the test ran past its time limit: a loop that never ends?"),
)


def _kind(filename: str) -> str:
    """Whose frame: "torch", "library", "harness", "test", "demo" or "yours" (the graded code)."""
    if filename.startswith("<") and not filename.startswith("<ipython-input"):
        return "library"  # <frozen ...>, <string>
    try:
        path = str(Path(filename).resolve())
    except (OSError, ValueError):
        return "yours"
    if path.startswith(_TORCH + os.sep):
        return "torch"
    if any(path.startswith(lib + os.sep) for lib in _LIBRARIES):
        return "library"
    for prefix, kind in ((_HARNESS, "harness"), (_TESTS, "test"), (_DEMOS, "demo")):
        if path.startswith(prefix + os.sep):
            return kind
    return "yours"


def _frames(tb: TracebackType | None) -> list:
    out = []
    while tb is not None:
        out.append((tb.tb_frame, tb.tb_lineno, _kind(tb.tb_frame.f_code.co_filename)))
        tb = tb.tb_next
    return out


def _describe(value: object) -> str | None:
    if isinstance(value, torch.Tensor):
        where = "" if value.device.type == "cpu" else f" on {value.device}"
        dtype = str(value.dtype).removeprefix("torch.")
        return f"{tuple(value.shape)} {dtype}{where}"
    return None


def _tensors_on_line(frame, line: str, limit: int = 6) -> list[str]:
    """`name (shape) dtype` for each tensor the line names (locals, and their attributes: self.weight)."""
    found, seen = [], set()
    for name in re.findall(r"[A-Za-z_][A-Za-z_0-9]*(?:\.[A-Za-z_][A-Za-z_0-9]*)*", line):
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            dotted = ".".join(parts[:end])
            if dotted in seen or parts[0] not in frame.f_locals:
                continue
            value = frame.f_locals[parts[0]]
            try:
                for attr in parts[1:end]:
                    if isinstance(value, type(os)):  # a module: torch.x is a function, never a tensor to show
                        value = None
                        break
                    value = getattr(value, attr)
            except Exception:  # noqa: BLE001 - a property that raises: nothing to show
                continue
            text = _describe(value)
            if text:
                seen.add(dotted)
                found.append(f"{dotted} {text}")
                break
        if len(found) >= limit:
            break
    return found


def likely_cause(exc: BaseException, exercise: manifest.Exercise | None = None) -> str:
    """The exercise's own word for this error (its `causes` in kata/curriculum.toml), else the general one."""
    text = f"{type(exc).__name__}: {exc}"
    for pattern, cause in exercise.causes if exercise is not None else ():
        if re.search(pattern, text):
            return cause
    for type_name, pattern, cause in CAUSES:
        if type_name and not any(c.__name__ == type_name for c in type(exc).__mro__):
            continue
        if re.search(pattern, text):
            return cause
    return ""


def _relative(filename: str) -> str:
    try:
        shown = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if shown.startswith("..") else shown


def raised(exc: BaseException) -> str:
    """`Type: message`, then where it was raised in the learner's code and with which tensors: for a
    test that catches an error to word it itself."""
    first = (str(exc).strip().splitlines() or [""])[0]
    text = f"{type(exc).__name__}: {first}".rstrip(": ")
    mine = [f for f in _frames(exc.__traceback__) if f[2] == "yours"]
    if mine:
        frame, lineno, _ = mine[-1]
        source = linecache.getline(frame.f_code.co_filename, lineno, frame.f_globals).strip()
        text += f"\n    at {_relative(frame.f_code.co_filename)}:{lineno}: {source}"
        tensors = _tensors_on_line(frame, source)
        if tensors:
            text += f"\n    with {', '.join(tensors)}"
    return text


def teaches(qualname: str, exc: BaseException) -> bool:
    """The failure already starts with its `[topic.exercise]` line."""
    return str(exc).lstrip().startswith(f"[{qualname}]")


def explain(qualname: str, exc: BaseException) -> tuple[str, str, int]:
    """The teaching text for a failure that lacks it, with the file and line it points at."""
    message = str(exc).strip().splitlines()
    first = message[0] if message else ""
    name = type(exc).__name__
    frames = _frames(exc.__traceback__)
    if isinstance(exc, AssertionError):
        lines = [f"[{qualname}] the test's check failed: {first or 'assert'}"]
        lines += [f"    {ln}" for ln in message[1:8]]
        test_frames = [f for f in frames if f[2] == "test"]
        frame, lineno, _ = test_frames[-1] if test_frames else frames[-1] if frames else (None, 0, "")
        return "\n".join(lines), frame.f_code.co_filename if frame else "", lineno
    raised_in = frames[-1][2] if frames else "yours"
    if raised_in == "harness":  # a test's stand-in or torch function mode, passing the call on to torch
        raised_in = "torch"
    call = None
    for kind in ("yours", "demo", "test"):
        mine = [f for f in frames if f[2] == kind]
        if mine:
            call = mine[-1]
            break
    who = {"yours": "your code", "demo": "the demo", "test": "the test"}.get(call[2], "") if call else ""
    if not frames:
        where = "raised"
    elif call is None:
        where = "raised inside " + ("torch" if raised_in == "torch" else "a library")
    elif call is frames[-1]:
        where = f"raised in {who}" if who != "the test" else "raised in the test, on what your code returned"
    elif raised_in == "torch":
        where = f"inside torch, in a call {who} made" + (" with what your code returned" if who == "the test" else "")
    else:
        where = f"inside a library, in a call {who} made"
    lines = [f"[{qualname}] {name} {where}: {first}".rstrip(": ")]
    lines += [f"    {ln}" for ln in message[1:4] if ln.strip()]
    path, lineno = "", 0
    if call is not None:
        frame, lineno, _ = call
        path = frame.f_code.co_filename
        source = linecache.getline(path, lineno, frame.f_globals).strip()
        lines.append(f"  the call: {_relative(path)}:{lineno}, in {frame.f_code.co_name}: {source}")
        tensors = _tensors_on_line(frame, source)
        if tensors:
            lines.append(f"  with: {', '.join(tensors)}")
    try:
        exercise = manifest.find_exercise(qualname)
    except KeyError:
        exercise = None
    cause = likely_cause(exc, exercise)
    if cause:
        lines.append(f"  likely: {cause}")
    return "\n".join(lines), path, lineno
