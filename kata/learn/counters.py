"""Costs counted instead of timed: the instruments behind the efficiency topic's tests.

A wall-clock time depends on the machine; these counts do not, so the same test grades a laptop,
CI and a GPU:

- `CostCounter`, a `TorchDispatchMode`: every dispatched ATen operation, the host
  synchronisations (`aten._local_scalar_dense`: `.item()`, `float()`, `bool()`, an `if` on a
  tensor) and device-to-host copies (`.cpu()`, `.tolist()`, `.to("cpu")` of a tensor on another
  device, `meta` included), each with the line of the caller's code that caused it; the largest
  storage an operation created, and the bytes of storages created off the `meta` device (memory
  that was really allocated).
- `count_flops`: floating-point operations, by the formulas of `torch.utils.flop_counter`
  (matrix products and convolutions; elementwise work is not counted).
- `count_saved_bytes`: the bytes autograd keeps for backward (`saved_tensors_hooks`), each
  storage counted once however many saved tensors view it, parameters left out.

    result, costs = count_costs(impl.train_step, model, batch, loss_fn, opt)
    expect(costs.host_syncs == 0, costs.describe_syncs("train_step", expected=0))
"""

from __future__ import annotations

import linecache
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_HERE = os.path.abspath(__file__)
_STDLIB = os.path.dirname(os.__file__) + os.sep
_LOCAL_SCALAR_DENSE = torch.ops.aten._local_scalar_dense.default
_COPIES = (torch.ops.aten._to_copy.default, torch.ops.aten.copy_.default)


@dataclass(frozen=True)
class Site:
    """Where a cost was caused: the innermost frame outside torch, the standard library and this file."""

    file: str
    line: int
    code: str

    def __str__(self) -> str:
        where = f"line {self.line} of {os.path.basename(self.file)}"
        return f"`{self.code}` at {where}" if self.code else where


def _caller() -> Site | None:
    frame = sys._getframe(1)
    while frame is not None:
        name = os.path.abspath(frame.f_code.co_filename)
        if not (name.startswith(_TORCH_DIR) or name == _HERE or name.startswith(_STDLIB) or name.startswith("<frozen")):
            return Site(name, frame.f_lineno, linecache.getline(name, frame.f_lineno).strip())
        frame = frame.f_back
    return None


def _storages(tree) -> list:
    leaves, _ = tree_flatten(tree)
    return [t.untyped_storage() for t in leaves if isinstance(t, torch.Tensor) and t.layout == torch.strided]


class CostCounter(TorchDispatchMode):
    """Counts what the operations run inside `with CostCounter() as costs:` cost.

    Attributes:
        ops: the number of dispatched ATen operations (`op_names` counts them by name).
        syncs: one `Site` per `aten._local_scalar_dense` (a value read back to Python).
        copies_to_host: one `Site` per copy from another device (meta included) to the CPU.
        largest_bytes: the largest storage an operation created (a view creates none).
        real_bytes: the bytes of the storages operations created on any device but `meta`.
        (These two only with `memory=True`: inspecting every output costs time.)
    """

    def __init__(self, *, memory: bool = False) -> None:
        super().__init__()
        self.memory = memory  # track the storages operations create (slower: every output is inspected)
        self.ops = 0
        self.op_names: Counter = Counter()
        self.syncs: list[Site | None] = []
        self.copies_to_host: list[Site | None] = []
        self.largest_bytes = 0
        self.real_bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.ops += 1
        self.op_names[func] += 1
        if func is _LOCAL_SCALAR_DENSE:
            self.syncs.append(_caller())
        elif func in _COPIES and self._to_host(func, args, kwargs):
            self.copies_to_host.append(_caller())
        out = func(*args, **kwargs)
        if self.memory:
            self._created(args, kwargs, out)
        return out

    def _created(self, args, kwargs, out) -> None:
        given = {s._cdata for s in _storages((args, kwargs))}
        for storage in _storages(out):
            if storage._cdata in given:
                continue  # in place, or a view of an input: nothing new
            nbytes = storage.nbytes()
            self.largest_bytes = max(self.largest_bytes, nbytes)
            if storage.device.type != "meta":
                self.real_bytes += nbytes

    @staticmethod
    def _to_host(func, args, kwargs) -> bool:
        if func is torch.ops.aten._to_copy.default:
            src, dst = args[0], kwargs.get("device")
            return dst is not None and torch.device(dst).type == "cpu" and src.device.type != "cpu"
        dst, src = args[0], args[1]
        return dst.device.type == "cpu" and isinstance(src, torch.Tensor) and src.device.type != "cpu"

    @property
    def host_syncs(self) -> int:
        """Every time the host waited for a value: reads back to Python plus copies to the CPU."""
        return len(self.syncs) + len(self.copies_to_host)

    def describe_syncs(self, what: str, *, expected: int) -> str:
        """'train_step synchronised with the host 3 times (expected 0): `loss.item()` at line 12 of ...'."""
        n = self.host_syncs
        text = f"{what} synchronised with the host {n} time{'s' if n != 1 else ''} (expected {expected})"
        parts = []
        for kind, sites in (("reading a value back to Python: .item(), float(), bool(), an `if` on a tensor",
                             self.syncs),
                            ("a copy to the CPU: .cpu(), .tolist(), .to('cpu'), .numpy()", self.copies_to_host)):
            if sites:
                where = Counter(str(s) if s else "a line outside your code" for s in sites)
                lines = ", ".join(f"{w}" + (f" x{c}" if c > 1 else "") for w, c in where.items())
                parts.append(f"{lines} ({kind})")
        return text + (": " + "; ".join(parts) if parts else "")


def count_costs(fn: Callable, /, *args, memory: bool = False, **kwargs) -> tuple[object, CostCounter]:
    """`fn(*args, **kwargs)` under a `CostCounter`; returns (its result, the counter).

    An exception from `fn` propagates with the counter attached as `err.costs`, so a test can
    still say which synchronisation came before it (on `meta`, `.item()` raises after it is counted).
    """
    costs = CostCounter(memory=memory)
    try:
        with costs:
            result = fn(*args, **kwargs)
    except Exception as err:
        err.costs = costs
        raise
    return result, costs


class _FlopCounter(TorchDispatchMode):
    """FLOPs by PyTorch's own formulas (`torch.utils.flop_counter`'s registry), without the module
    tracking `FlopCounterMode` adds to every module call: the same totals, several times faster."""

    def __init__(self) -> None:
        super().__init__()
        from torch.utils.flop_counter import flop_registry

        self.registry = flop_registry
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = self.registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += int(formula(*args, **kwargs, out_val=out))
        return out


def count_flops(fn: Callable, /, *args, **kwargs) -> tuple[object, int]:
    """`fn(*args, **kwargs)` with its floating-point operations counted as `FlopCounterMode` counts them
    (matrix products, convolutions, attention; elementwise work is not counted): (its result, FLOPs)."""
    counter = _FlopCounter()
    with counter:
        result = fn(*args, **kwargs)
    return result, counter.flops


def _is_parameter(t: torch.Tensor) -> bool:
    return isinstance(t, nn.Parameter) or isinstance(t._base, nn.Parameter)


def count_saved_bytes(fn: Callable, /, *args, **kwargs) -> tuple[object, int]:
    """`fn(*args, **kwargs)` with autograd's saved tensors counted: returns (its result, bytes).

    Each storage counts once, whole (`untyped_storage().nbytes()`), however many saved tensors view
    it; parameters (`nn.Parameter` and views of one) are not activations and are left out. The
    storages are held until the end, so a freed one cannot return at the same address and be
    taken for one already counted. Works on `meta` tensors (their data pointer is 0, so storages
    are told apart by the storage object itself).
    """
    seen: dict[int, torch.UntypedStorage] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if not _is_parameter(t):
            storage = t.untyped_storage()
            seen.setdefault(storage._cdata, storage)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = fn(*args, **kwargs)
    return result, sum(s.nbytes() for s in seen.values())
