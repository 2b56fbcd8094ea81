"""Teaching assertions for the topic tests.

Every failure names the exercise under test (the plugin sets it from the test's `exercise`
marker), says what was expected and what came back, and adds a hint in the concept's terms.
Type, shape, dtype and device are checked before values, each with its own message.

    from kata.learn.checks import expect_close
    expect_close(grad_w, ref.grad, what="grad_weight", rtol=1e-10, atol=1e-12,
                 hint="nn.Linear stores weight as (out, in): is grad_weight transposed?")
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import pytest
import torch
from torch.overrides import TorchFunctionMode

from kata.learn.explain import raised  # noqa: F401

# `raised(err)` is re-exported: a test that catches an error words it with it

_current_exercise: str | None = None


def set_current_exercise(qualname: str | None) -> None:
    """Called by the plugin around each test; prefixes every failure message."""
    global _current_exercise
    _current_exercise = qualname


def _prefix() -> str:
    return f"[{_current_exercise}] " if _current_exercise else ""


def fail(message: str, hint: str = "") -> None:
    """Fail the test with a message that names the exercise."""
    __tracebackhide__ = True
    text = _prefix() + message
    if hint:
        text += f"\n  hint: {hint}"
    raise AssertionError(text)


def expect(condition: object, message: str, hint: str = "") -> None:
    """Fail with `message` unless `condition` is truthy."""
    __tracebackhide__ = True
    if not condition:
        fail(message, hint)


def _describe(x: object) -> str:
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)}, dtype {x.dtype}, on {x.device}"
    return f"{type(x).__name__} {x!r}"[:200]


def expect_tensor(x: object, what: str, hint: str = "") -> torch.Tensor:
    __tracebackhide__ = True
    if not isinstance(x, torch.Tensor):
        fail(f"{what}: expected a torch.Tensor, got {_describe(x)}", hint)
    return x


def expect_shape(x: object, shape, what: str, hint: str = "") -> None:
    __tracebackhide__ = True
    expect_tensor(x, what, hint)
    shape = tuple(shape)
    if tuple(x.shape) != shape:
        fail(f"{what}: expected shape {shape}, got {tuple(x.shape)}", hint)


def expect_dtype(x: object, dtype: torch.dtype, what: str, hint: str = "") -> None:
    __tracebackhide__ = True
    expect_tensor(x, what, hint)
    if x.dtype != dtype:
        fail(f"{what}: expected dtype {dtype}, got {x.dtype}", hint)


def same_device(a: torch.device | str, b: torch.device | str) -> bool:
    """`cuda` and `cuda:0` are the same device when the current device is 0."""
    a, b = torch.device(a), torch.device(b)
    if a.type != b.type:
        return False
    if a.type == "cuda":
        current = torch.cuda.current_device() if torch.cuda.is_available() else 0
        return (a.index if a.index is not None else current) == (b.index if b.index is not None else current)
    return a.index == b.index or a.index is None or b.index is None


def expect_device(x: object, device: torch.device | str, what: str, hint: str = "") -> None:
    __tracebackhide__ = True
    expect_tensor(x, what, hint)
    if not same_device(x.device, device):
        fail(f"{what}: expected a tensor on {torch.device(device)}, got one on {x.device}", hint)


def expect_close(
    actual: object,
    expected: torch.Tensor,
    *,
    what: str,
    rtol: float,
    atol: float,
    hint: str = "",
    check_dtype: bool = True,
    equal_nan: bool = False,
) -> None:
    """Type, shape, dtype (unless check_dtype=False) and device first, then values within rtol/atol."""
    __tracebackhide__ = True
    expect_tensor(actual, what, hint)
    expect_shape(actual, expected.shape, what, hint)
    if check_dtype:
        expect_dtype(actual, expected.dtype, what, hint)
    expect_device(actual, expected.device, what, hint)
    if not torch.isfinite(actual).all() and torch.isfinite(expected).all() and not equal_nan:
        bad = (~torch.isfinite(actual)).sum().item()
        fail(f"{what}: {bad} of {actual.numel()} values are inf or NaN where the reference is finite", hint)
    mismatch = _mismatch(actual.detach().to(expected.dtype), expected.detach(), rtol, atol, equal_nan)
    if mismatch:
        fail(f"{what}: values differ from the reference (rtol={rtol:g}, atol={atol:g}).\n    {mismatch}", hint)


def _mismatch(actual: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float, equal_nan: bool) -> str:
    """"" when |actual - expected| <= atol + rtol * |expected| everywhere, else a description.

    The same rule as torch.testing.assert_close, written out: its first call costs about two
    seconds of imports, which a learner would pay on every run.
    """
    if actual.is_complex() or expected.is_complex():
        actual, expected = torch.view_as_real(actual), torch.view_as_real(expected)
    if not (actual.is_floating_point() or expected.is_floating_point()):
        actual, expected = actual.to(torch.float64), expected.to(torch.float64)
    a, e = actual.to(torch.float64), expected.to(torch.float64)
    both_nan = torch.isnan(a) & torch.isnan(e)
    same_inf = torch.isinf(a) & torch.isinf(e) & (a == e)
    diff = (a - e).abs()
    ok = (diff <= atol + rtol * e.abs()) | same_inf | (both_nan if equal_nan else torch.zeros_like(both_nan))
    if bool(ok.all()):
        return ""
    bad = int((~ok).sum())
    diff = torch.where(ok, torch.zeros_like(diff), diff.nan_to_num(nan=float("inf")))
    flat = int(diff.argmax())
    index, rest = [], flat
    for size in reversed(a.shape):  # unravel by hand: torch.unravel_index imports sympy on first use
        index.append(rest % size)
        rest //= size
    index = tuple(reversed(index))
    return (
        f"{bad} of {a.numel()} elements differ; the largest difference is {float(diff.flatten()[flat]):.3g} "
        f"at index {index}: got {float(a.flatten()[flat]):.6g}, expected {float(e.flatten()[flat]):.6g}"
    )


def expect_equal(actual: object, expected: torch.Tensor, *, what: str, hint: str = "") -> None:
    """Exact equality (bit for bit), with the same order of checks as expect_close."""
    __tracebackhide__ = True
    expect_close(actual, expected, what=what, rtol=0.0, atol=0.0, hint=hint)


@contextlib.contextmanager
def expect_raises(exc_type: type[BaseException], what: str, *, names: object = None) -> Iterator[None]:
    """Expect exactly `exc_type` (a subclass passes too) whose message names `names` when given.

    NotImplementedError from an unfinished stub is let through untouched, so it is reported as
    "not implemented yet" rather than as a wrong exception.
    """
    __tracebackhide__ = True
    try:
        yield
    except NotImplementedError:
        raise
    except exc_type as err:
        if names is not None and str(names) not in str(err):
            fail(
                f"{what}: raised {exc_type.__name__} as it should, but its message {str(err)!r} "
                f"does not name the offending value {names!r}",
                "say which value was wrong, so the caller can fix it without reading your code",
            )
        return
    except Exception as err:  # noqa: BLE001
        fail(f"{what}: expected {exc_type.__name__}, got {type(err).__name__}: {err}")
    fail(f"{what}: expected {exc_type.__name__}, but nothing was raised")


def devices() -> list:
    """Parametrise a test over `cpu` (always) and `cuda` (marked, skipped without CUDA)."""
    return [pytest.param("cpu", id="cpu"), pytest.param("cuda", id="cuda", marks=pytest.mark.cuda)]


# ---------------------------------------------------------------- refusing a shortcut


class _RefuseByName(TorchFunctionMode):
    """Refuses every torch function whose name contains one of `words`, whatever path reaches it
    (torch.x, torch.nn.functional.x, torch._C._nn.x, torch.ops.aten.x)."""

    def __init__(self, words: tuple[str, ...], refuse: Callable[[str], None]):
        super().__init__()
        self.words, self.refuse = words, refuse

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "") or str(func)
        if any(word in name for word in self.words):
            self.refuse(f"torch function {name}")
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def refusing(rule: str, attributes: Iterable[tuple[object, str, str]] = (), names: Iterable[str] = ()
             ) -> Iterator[list[str]]:
    """While active, each shortcut raises RuntimeError("<call> is off limits here: <rule>").

    `attributes` are `(owner, attribute, shown name)` triples, replaced for the duration (one the
    installed torch lacks is skipped); every torch function whose name contains one of `names` is
    refused too. Yields the list of refused calls, so code that caught the error is found out all
    the same.
    """
    calls: list[str] = []

    def refuse(shown: str) -> None:
        calls.append(shown)
        raise RuntimeError(f"{shown} is off limits here: {rule}")

    def stand_in(shown: str):
        def refused(*args, **kwargs):
            refuse(shown)

        return refused

    words = tuple(names)
    with pytest.MonkeyPatch.context() as mp:
        for owner, attribute, shown in attributes:
            if hasattr(owner, attribute):
                mp.setattr(owner, attribute, stand_in(shown))
        with _RefuseByName(words, refuse) if words else contextlib.nullcontext():
            yield calls


def call_refusing(fn: Callable, /, *args, rule: str, hint: str, attributes: Iterable[tuple[object, str, str]] = (),
                  names: Iterable[str] = (), **kwargs):
    """`fn(*args, **kwargs)` with the shortcuts refused (see `refusing`); fails naming the call if `fn`
    tried one, even if it caught the error. Any other error propagates unchanged."""
    __tracebackhide__ = True
    with refusing(rule, attributes, names) as calls:
        try:
            result = fn(*args, **kwargs)
        except NotImplementedError:
            raise
        except Exception:
            if not calls:
                raise
            caught = False
        else:
            caught = True
    if calls:
        fail(f"it called {calls[0]}" + (" (and caught the error)" if caught else "") + f", but {rule}", hint)
    return result
