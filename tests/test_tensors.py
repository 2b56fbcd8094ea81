"""tensors: devices, moving nested containers, NumPy, bytes.

CPU-only machines check device moves on the "meta" device (shapes and dtypes, no data) and with
dtype casts; the CUDA-marked tests check real host<->GPU copies where a GPU exists.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict, namedtuple

import numpy as np
import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from kata.learn.checks import expect, expect_device, expect_dtype, expect_equal, expect_raises, fail

pick_device = pytest.mark.exercise("pick_device")
move_to = pytest.mark.exercise("move_to")
to_numpy = pytest.mark.exercise("to_numpy")
tensor_nbytes = pytest.mark.exercise("tensor_nbytes")
module_nbytes = pytest.mark.exercise("module_nbytes")
demo = pytest.mark.exercise("demo")

Batch = namedtuple("Batch", "images labels")


class Opaque:
    """A non-tensor leaf that a deep copy would duplicate."""


def _fake_availability(monkeypatch, *, cuda: bool, mps: bool, gpus: int = 1) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus if cuda else 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setattr(torch.mps, "is_available", lambda: mps)  # the same question, asked another way


def _expect_device_result(got, kind: str, situation: str) -> None:
    expect(isinstance(got, torch.device), f"{situation}: expected a torch.device, got {type(got).__name__} {got!r}",
           "return torch.device(...), not a string")
    expect(got.type == kind, f"{situation}: expected a {kind} device, got {got}")


# ---------------------------------------------------------------- pick_device


@pick_device
def test_pick_device_falls_back_to_cpu(impl, monkeypatch):
    _fake_availability(monkeypatch, cuda=False, mps=False)
    _expect_device_result(impl.pick_device(), "cpu", "pick_device() with neither CUDA nor MPS available")


@pick_device
def test_pick_device_prefers_cuda_over_mps(impl, monkeypatch):
    _fake_availability(monkeypatch, cuda=True, mps=True)
    _expect_device_result(impl.pick_device(), "cuda", "pick_device() with both CUDA and MPS available")


@pick_device
def test_pick_device_takes_mps_when_there_is_no_cuda(impl, monkeypatch):
    _fake_availability(monkeypatch, cuda=False, mps=True)
    _expect_device_result(impl.pick_device(), "mps", "pick_device() with MPS but no CUDA")


@pick_device
def test_pick_device_takes_cuda_when_there_is_no_mps(impl, monkeypatch):
    _fake_availability(monkeypatch, cuda=True, mps=False)
    _expect_device_result(impl.pick_device(), "cuda", "pick_device() with CUDA but no MPS")


@pick_device
def test_pick_device_honours_available_preferred(impl, monkeypatch):
    _fake_availability(monkeypatch, cuda=True, mps=True)
    _expect_device_result(impl.pick_device("cpu"), "cpu", "pick_device('cpu') on a machine with CUDA")
    _expect_device_result(impl.pick_device("mps"), "mps", "pick_device('mps') on a machine with CUDA and MPS")


@pick_device
def test_pick_device_unavailable_cuda_raises(impl, monkeypatch):
    _fake_availability(monkeypatch, cuda=False, mps=True)
    with expect_raises(ValueError, "pick_device('cuda') without CUDA", names="cuda"):
        impl.pick_device("cuda")


@pick_device
def test_pick_device_missing_cuda_index_raises(impl, monkeypatch):
    _fake_availability(monkeypatch, cuda=True, mps=False)  # one GPU: cuda:0 exists, cuda:1 does not
    with expect_raises(ValueError, "pick_device('cuda:1') on a machine with one GPU", names="cuda:1"):
        impl.pick_device("cuda:1")


@pick_device
def test_pick_device_keeps_the_index_of_an_available_gpu(impl, monkeypatch):
    _fake_availability(monkeypatch, cuda=True, mps=False, gpus=2)
    for preferred in ("cuda:0", "cuda:1"):
        got = impl.pick_device(preferred)
        _expect_device_result(got, "cuda", f"pick_device({preferred!r}) on a machine with two GPUs")
        expect(got == torch.device(preferred), f"pick_device({preferred!r}) on a machine with two GPUs returned {got}",
               "return torch.device(preferred) itself: the index says which GPU, and dropping it means GPU 0")


@pick_device
def test_pick_device_unavailable_mps_raises(impl, monkeypatch):
    _fake_availability(monkeypatch, cuda=True, mps=False)
    with expect_raises(ValueError, "pick_device('mps') without MPS", names="mps"):
        impl.pick_device("mps")


_MACHINES = {  # (cuda, mps, gpus): every combination a machine may present
    "no GPU": (False, False, 0),
    "MPS only": (False, True, 0),
    "one GPU": (True, False, 1),
    "two GPUs": (True, False, 2),
    "two GPUs and MPS": (True, True, 2),
}


def _available_on(machine: str) -> list[str]:
    cuda, mps, gpus = _MACHINES[machine]
    available = ["cpu"]
    if cuda:
        available += ["cuda"] + [f"cuda:{i}" for i in range(gpus)]
    if mps:
        available.append("mps")
    return available


def _unavailable_on(machine: str) -> list[str]:
    cuda, mps, gpus = _MACHINES[machine]
    missing = [f"cuda:{i}" for i in range(gpus, 3)]  # an index at or beyond the device count
    if not cuda:
        missing.append("cuda")
    if not mps:
        missing.append("mps")
    return missing + ["xpu", "hpu", "xla"]  # device types pick_device does not offer (meta is left open)


@pick_device
@pytest.mark.parametrize("machine", list(_MACHINES))
def test_pick_device_returns_every_available_preferred_device_itself(impl, monkeypatch, machine):
    cuda, mps, gpus = _MACHINES[machine]
    _fake_availability(monkeypatch, cuda=cuda, mps=mps, gpus=gpus)
    for preferred in _available_on(machine):
        situation = f"pick_device({preferred!r}) on a machine with {machine}"
        got, error = None, None
        try:
            got = impl.pick_device(preferred)
        except NotImplementedError:
            raise
        except Exception as err:  # noqa: BLE001 - reported below, outside the handler
            error = f"{type(err).__name__}: {err}"
        expect(error is None, f"{situation} raised {error}",
               f"{preferred!r} is available there: return it ('cpu' is available on every machine)")
        expect(isinstance(got, torch.device), f"{situation}: expected a torch.device, got {type(got).__name__}",
               "return torch.device(preferred), not a string")
        expect(got == torch.device(preferred), f"{situation} returned {got}, not torch.device({preferred!r})",
               "a preferred device that is available comes back as that very device, index and all")


@pick_device
@pytest.mark.parametrize("machine", list(_MACHINES))
def test_pick_device_rejects_every_unavailable_preferred_device(impl, monkeypatch, machine):
    cuda, mps, gpus = _MACHINES[machine]
    _fake_availability(monkeypatch, cuda=cuda, mps=mps, gpus=gpus)
    for preferred in _unavailable_on(machine):
        with expect_raises(ValueError, f"pick_device({preferred!r}) on a machine with {machine}", names=preferred):
            impl.pick_device(preferred)


# ---------------------------------------------------------------- move_to


def _batch():
    g = torch.Generator().manual_seed(0)
    return {
        "images": torch.rand(4, 1, 8, 8, generator=g),
        "labels": torch.randint(0, 10, (4,), generator=g),
        "mask": torch.rand(4, generator=g) > 0.5,
    }


@move_to
def test_move_to_moves_every_tensor_to_the_device(impl):
    batch = _batch()
    out = impl.move_to(batch, "meta")  # the meta device: shapes and dtypes, no data; no GPU needed
    expect(isinstance(out, dict), f"expected a dict back, got {type(out).__name__}")
    expect(set(out) == set(batch), f"expected the keys {sorted(batch)}, got {sorted(out)}")
    for key in batch:
        expect_device(out[key], "meta", f"moved[{key!r}]", "call .to(device) on every tensor")
        expect_dtype(out[key], batch[key].dtype, f"moved[{key!r}] without a dtype",
                     "without dtype= the dtype must not change")


@move_to
def test_move_to_accepts_a_plain_tensor_and_torch_device(impl):
    x = torch.rand(3)
    out = impl.move_to(x, torch.device("meta"), non_blocking=True)
    expect_device(out, "meta", "move_to(tensor, torch.device('meta'), non_blocking=True)",
                  "a bare tensor is the simplest input: move it and return it")
    expect(out.shape == x.shape, f"expected shape {tuple(x.shape)}, got {tuple(out.shape)}")


@move_to
def test_move_to_moves_nested_tensors_not_only_the_top_level(impl):
    inner = torch.rand(2, 3)
    deep = torch.rand(5)
    batch = {"top": torch.rand(3), "nested": {"inner": inner, "more": [torch.rand(2), (deep,)]}}
    out = impl.move_to(batch, "meta")
    expect_device(out["top"], "meta", "moved['top']")
    expect_device(out["nested"]["inner"], "meta", "moved['nested']['inner']",
                  "recurse: a dict inside a dict holds tensors too")
    expect_device(out["nested"]["more"][0], "meta", "moved['nested']['more'][0]",
                  "recurse into lists inside dicts")
    expect_device(out["nested"]["more"][1][0], "meta", "moved['nested']['more'][1][0]",
                  "recurse all the way down: a tuple inside a list inside a dict")


@move_to
def test_move_to_keeps_tuples_and_lists(impl):
    x, y = torch.rand(2, 3), torch.randint(0, 3, (2,))
    out = impl.move_to({"pair": (x, y), "list": [x, y]}, "cpu", dtype=torch.float64)
    expect(type(out["pair"]) is tuple,
           f"a tuple came back as {type(out['pair']).__name__}", "rebuild a tuple as a tuple, not a list")
    expect(type(out["list"]) is list, f"a list came back as {type(out['list']).__name__}")
    expect(len(out["pair"]) == 2 and len(out["list"]) == 2, "the containers lost or gained elements")
    expect_dtype(out["pair"][0], torch.float64, "moved['pair'][0]")
    expect_equal(out["pair"][0], x.double(), what="moved['pair'][0]")


@move_to
def test_move_to_keeps_a_namedtuple_that_namedtuple(impl):
    x, y = torch.rand(2, 3), torch.randint(0, 3, (2,))
    out = impl.move_to(Batch(x, y), "cpu", dtype=torch.float64)
    expect(type(out) is Batch, f"a namedtuple Batch came back as {type(out).__name__}",
           "a namedtuple's constructor takes its fields as separate arguments: type(obj)(*items)")
    expect_equal(out.images, x.double(), what="moved.images")
    expect_equal(out.labels, y, what="moved.labels")


@move_to
def test_move_to_keeps_an_ordered_dict(impl):
    x = OrderedDict([("b", torch.rand(2)), ("a", torch.rand(2))])
    out = impl.move_to(x, "cpu", dtype=torch.float64)
    expect(type(out) is OrderedDict, f"an OrderedDict came back as {type(out).__name__}",
           "rebuild a dict subclass with its own type")
    expect(list(out) == ["b", "a"], f"the key order changed: {list(out)}")
    expect_dtype(out["a"], torch.float64, "moved['a']")


@move_to
def test_move_to_casts_only_floating_point_tensors(impl):
    batch = _batch()
    batch["pixels"] = torch.randint(0, 256, (4, 8), dtype=torch.uint8)
    batch["weights"] = torch.rand(4, dtype=torch.float64)
    out = impl.move_to(batch, "cpu", dtype=torch.float16)
    hint = "dtype= is for floating-point tensors only: check t.is_floating_point() before casting"
    expect_dtype(out["images"], torch.float16, "moved['images'] (float32 input)")
    expect_dtype(out["weights"], torch.float16, "moved['weights'] (float64 input)")
    expect_dtype(out["labels"], torch.int64, "moved['labels'] (class indices)", hint)
    expect_dtype(out["mask"], torch.bool, "moved['mask']", hint)
    expect_dtype(out["pixels"], torch.uint8, "moved['pixels']", hint)
    expect_equal(out["labels"], batch["labels"], what="moved['labels']")


@move_to
def test_move_to_with_dtype_still_moves_to_the_device(impl):
    batch = _batch()
    out = impl.move_to(batch, "meta", dtype=torch.float16)
    hint = "cast and move in one call, t.to(device, dtype=dtype): casting alone leaves the tensor where it was"
    expect_device(out["images"], "meta", "moved['images'] (cast to float16)", hint)
    expect_dtype(out["images"], torch.float16, "moved['images']")
    expect_device(out["labels"], "meta", "moved['labels'] (not cast)")
    expect_dtype(out["labels"], torch.int64, "moved['labels']")


@move_to
def test_move_to_casts_half_precision_floats_too(impl):
    batch = {"half": torch.rand(3).half(), "bf16": torch.rand(3).bfloat16(), "labels": torch.arange(3)}
    out = impl.move_to(batch, "cpu", dtype=torch.float32)
    hint = "every floating-point dtype is cast, float16 and bfloat16 included: test t.is_floating_point()"
    expect_dtype(out["half"], torch.float32, "moved['half'] (float16 input)", hint)
    expect_dtype(out["bf16"], torch.float32, "moved['bf16'] (bfloat16 input)", hint)
    expect_dtype(out["labels"], torch.int64, "moved['labels'] (class indices)")
    expect_equal(out["bf16"], batch["bf16"].float(), what="moved['bf16']")


@move_to
def test_move_to_returns_non_tensor_leaves_unchanged(impl):
    leaves = {"name": "digits", "count": 3, "scale": 0.5, "none": None, "array": np.arange(3), "obj": Opaque()}
    batch = {"x": torch.rand(2), **leaves, "inside": [leaves["array"], leaves["obj"]]}
    out = impl.move_to(batch, "cpu", dtype=torch.float64)
    for key, leaf in leaves.items():
        expect(key in out, f"the non-tensor leaf {key!r} is missing from the result",
               "leaves that are not tensors come back too, unchanged")
        expect(out[key] is leaf, f"moved[{key!r}] is not the same object as the input's ({out[key]!r})",
               "hand non-tensor leaves back as they are: no copy, no conversion")
    expect(len(out["inside"]) == 2, f"moved['inside'] has {len(out['inside'])} items instead of 2",
           "non-tensor items of a list must stay in it")
    expect(out["inside"][0] is leaves["array"] and out["inside"][1] is leaves["obj"],
           "the non-tensor items of moved['inside'] are not the input's objects")


@move_to
def test_move_to_does_not_mutate_the_input(impl):
    batch = _batch()
    nested = [torch.rand(2)]
    batch["nested"] = {"list": nested}
    originals = {k: batch[k] for k in ("images", "labels", "mask")}
    out = impl.move_to(batch, "cpu", dtype=torch.float64)
    hint = "build new containers; the caller's batch must still hold its own tensors"
    expect(out is not batch, "move_to returned the input dict itself", hint)
    for key, t in originals.items():
        expect(batch[key] is t, f"the input dict's {key!r} was replaced", hint)
    expect(batch["images"].dtype == torch.float32, f"the input's images became {batch['images'].dtype}", hint)
    expect(batch["nested"]["list"] is nested and len(nested) == 1 and nested[0].dtype == torch.float32,
           "the input's nested list was changed", hint)
    expect_dtype(out["nested"]["list"][0], torch.float64, "moved['nested']['list'][0]")


class _ToCalls(TorchFunctionMode):
    """Records the non_blocking of every Tensor.to call (the first bool positional argument after self is
    non_blocking in each of its overloads)."""

    def __init__(self):
        super().__init__()
        self.non_blocking: list[bool] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.to:
            positional = next((a for a in args[1:] if isinstance(a, bool)), False)
            self.non_blocking.append(bool(kwargs.get("non_blocking", positional)))
        return func(*args, **kwargs)


@move_to
@pytest.mark.parametrize("given", [None, False, True], ids=["omitted", "False", "True"])
def test_move_to_passes_non_blocking_on_to_tensor_to(impl, given):
    batch = {"images": torch.rand(2, 3), "pair": (torch.arange(3), [torch.rand(2)])}
    kwargs = {} if given is None else {"non_blocking": given}
    spy = _ToCalls()
    with spy:
        out = impl.move_to(batch, "meta", **kwargs)
    expect_device(out["images"], "meta", "moved['images']")
    want = bool(given)
    call = f"move_to(batch, 'meta'{'' if given is None else f', non_blocking={given}'})"
    expect(spy.non_blocking, f"{call} moved the tensors without calling Tensor.to",
           "the docstring says non_blocking is passed on to Tensor.to: move each tensor with t.to(...)")
    hint = ("pass non_blocking=non_blocking on to each t.to(...) that moves a tensor, and keep its default False: "
            "an asynchronous copy back to the host may be read before it has arrived")
    if want:  # each of the 3 tensors is moved by at least one asynchronous Tensor.to
        expect(sum(spy.non_blocking) >= 3,
               f"{call} called Tensor.to with non_blocking={spy.non_blocking}; expected True for each of the 3 "
               "tensors", hint)
    else:
        expect(not any(spy.non_blocking),
               f"{call} called Tensor.to with non_blocking={spy.non_blocking}; expected False every time", hint)


@move_to
def test_move_to_takes_its_arguments_by_their_names(impl):
    x = torch.rand(3)
    out = impl.move_to(obj={"x": x}, device="meta", dtype=torch.float16, non_blocking=False)
    expect_device(out["x"], "meta", "move_to(obj=..., device='meta', dtype=..., non_blocking=False)['x']",
                  "the contract names the parameters obj, device, dtype and non_blocking: a caller may pass each "
                  "by its name")
    expect_dtype(out["x"], torch.float16, "move_to(obj=..., device='meta', dtype=torch.float16)['x']")


@move_to
def test_move_to_handles_empty_containers_and_a_defaultdict(impl):
    out = impl.move_to({"empty_list": [], "empty_tuple": (), "empty_dict": {}}, "meta")
    for key, kind in (("empty_list", list), ("empty_tuple", tuple), ("empty_dict", dict)):
        expect(type(out[key]) is kind and len(out[key]) == 0,
               f"an empty {kind.__name__} came back as {out[key]!r}", "an empty container comes back empty, same type")
    counts = defaultdict(list, {"x": torch.rand(2), "labels": torch.arange(2)})
    try:
        moved = impl.move_to(counts, "meta", dtype=torch.float16)
    except NotImplementedError:
        raise
    except Exception as err:  # noqa: BLE001 - reported below, outside the handler
        problem = f"{type(err).__name__}: {err}"
    else:
        problem = None
    if problem:
        fail(f"move_to(defaultdict(list, ...)) raised {problem}",
             "a dict subclass keeps its type where it can be rebuilt: defaultdict(pairs) takes its first argument "
             "as the default factory, so copy the dict (copy.copy) and assign the moved values, or fall back to a "
             "plain dict")
    expect(isinstance(moved, dict), f"a defaultdict came back as {type(moved).__name__}")
    expect_device(moved["x"], "meta", "moved['x'] from a defaultdict")
    expect_dtype(moved["x"], torch.float16, "moved['x'] from a defaultdict")
    expect_dtype(moved["labels"], torch.int64, "moved['labels'] from a defaultdict")
    expect(set(counts) == {"x", "labels"}, f"the input defaultdict changed its keys: {sorted(counts)}")


# ---------------------------------------------------------------- to_numpy


def _to_numpy(impl, t, what, hint):
    __tracebackhide__ = True
    try:
        return impl.to_numpy(t)
    except NotImplementedError:  # a stub: let the harness say "not implemented yet"
        raise
    except (RuntimeError, TypeError) as err:
        problem = f"raised on {what}: {type(err).__name__}: {err}"
    fail(problem, hint)  # outside the except block: no chained traceback


@to_numpy
def test_to_numpy_returns_an_ndarray_with_the_values(impl):
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    got = impl.to_numpy(t)
    expect(isinstance(got, np.ndarray), f"expected an np.ndarray, got {type(got).__name__}")
    expect(got.shape == (2, 3), f"expected shape (2, 3), got {got.shape}")
    expect(got.dtype == np.float32, f"float32 should stay float32, got {got.dtype}")
    expect(np.array_equal(got, t.numpy()), f"values differ: {got} vs {t.numpy()}")


@to_numpy
def test_to_numpy_works_on_a_tensor_that_requires_grad(impl):
    w = torch.randn(3, requires_grad=True)
    for t, what in [(w, "a leaf with requires_grad=True"), (w * 2, "a non-leaf output of autograd")]:
        got = _to_numpy(impl, t, what, ".numpy() refuses tensors in the autograd graph: detach() first")
        expect(np.array_equal(got, t.detach().numpy()), f"values differ for {what}")


@to_numpy
def test_to_numpy_bfloat16_comes_back_as_float32(impl):
    t = torch.tensor([1.0, -2.5, 3.140625, 1e-3], dtype=torch.bfloat16)
    got = _to_numpy(impl, t, "a bfloat16 tensor", "NumPy has no bfloat16: convert to float32 before .numpy()")
    expect(isinstance(got, np.ndarray), f"expected an np.ndarray, got {type(got).__name__}")
    expect(got.dtype == np.float32, f"bfloat16 should come back as float32, got {got.dtype}",
           "NumPy has no bfloat16: convert to float32 (exact: every bfloat16 is a float32) before .numpy()")
    expect(np.array_equal(got, t.float().numpy()), f"values differ: {got}")


@to_numpy
def test_to_numpy_keeps_other_dtypes(impl):
    cases = [
        (torch.tensor([0.5, -1.0], dtype=torch.float16), np.float16),
        (torch.tensor([1.0, 2.0], dtype=torch.float64), np.float64),
        (torch.tensor([1, -2]), np.int64),
        (torch.tensor([1, 2], dtype=torch.int32), np.int32),
        (torch.tensor([-3, 2], dtype=torch.int16), np.int16),
        (torch.tensor([-3, 2], dtype=torch.int8), np.int8),
        (torch.tensor([200, 2], dtype=torch.uint8), np.uint8),
        (torch.tensor([True, False]), np.bool_),
        (torch.tensor([1 + 2j, -0.5j], dtype=torch.complex64), np.complex64),
        (torch.tensor([1 + 2j, -0.5j], dtype=torch.complex128), np.complex128),
    ]
    for t, np_dtype in cases:
        got = impl.to_numpy(t)
        expect(isinstance(got, np.ndarray) and got.dtype == np_dtype,
               f"a {t.dtype} tensor should give a {np.dtype(np_dtype)} array, got {getattr(got, 'dtype', got)!r}",
               "only bfloat16 needs a conversion; every other dtype has its NumPy twin")
        expect(np.array_equal(got, t.numpy()), f"values differ for {t.dtype}")


@to_numpy
def test_to_numpy_zero_dim_tensor_gives_an_ndarray(impl):
    t = torch.tensor(2.5, requires_grad=True) * 2  # a scalar loss, say
    got = _to_numpy(impl, t, "a 0-d tensor that requires grad", "detach() first, then .numpy()")
    expect(isinstance(got, np.ndarray), f"a 0-d tensor should give a 0-d np.ndarray, got {type(got).__name__} {got!r}",
           ".item() gives a Python number, not an array: use .numpy() for every shape")
    expect(got.shape == () and got.dtype == np.float32 and got == 5.0,
           f"expected a 0-d float32 array holding 5.0, got shape {got.shape}, {got.dtype}, {got!r}")


@to_numpy
def test_to_numpy_takes_non_contiguous_views(impl):
    base = torch.randn(3, 4, requires_grad=True)
    cases = {
        "a transposed view that requires grad": (base.T, np.float32),
        "every other column, in bfloat16": (base.detach().bfloat16()[:, ::2], np.float32),
        "an expanded float16 view (stride 0)": (torch.tensor([0.5, -1.0], dtype=torch.float16).expand(3, 2),
                                                np.float16),
    }
    for what, (t, np_dtype) in cases.items():
        got = _to_numpy(impl, t, what, "detach(), cpu(), and float() for bfloat16: .numpy() handles any layout")
        expect(isinstance(got, np.ndarray) and got.shape == tuple(t.shape) and got.dtype == np_dtype,
               f"for {what} expected a {np.dtype(np_dtype)} array of shape {tuple(t.shape)}, got {got!r}")
        expected = t.detach().float().numpy() if t.dtype == torch.bfloat16 else t.detach().numpy()
        expect(np.array_equal(got, expected), f"values differ for {what}: {got} vs {expected}")


def _copy_cases() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    grad_leaf = torch.rand(2, 3, generator=g).requires_grad_()
    cases = {f"a {dtype} tensor": (torch.rand(2, 3, generator=g) * 5).to(dtype)
             for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16,
                           torch.int64, torch.int32, torch.int8, torch.uint8)}
    cases["a bool tensor"] = torch.rand(2, 3, generator=g) > 0.5
    cases["a leaf that requires grad"] = grad_leaf
    cases["a 0-d tensor"] = torch.tensor(1.5)
    cases["a transposed view"] = torch.rand(3, 2, generator=g).T
    return cases


@to_numpy
@pytest.mark.parametrize("what", list(_copy_cases()))
def test_to_numpy_returns_a_copy_that_shares_no_memory(impl, what):
    t = _copy_cases()[what]
    before = t.detach().clone()
    got = _to_numpy(impl, t, what, "detach(), cpu(), float() for bfloat16, then .numpy()")
    expect(isinstance(got, np.ndarray), f"for {what} expected an np.ndarray, got {type(got).__name__}")
    hint = ("on a CPU tensor .numpy() is a view of the tensor's own memory (detach() and cpu() are no-ops "
            "there): copy it, e.g. .numpy().copy()")
    expect(got.flags.writeable, f"for {what} the array came back read-only", hint)
    got[...] = np.logical_not(got) if got.dtype == np.bool_ else got + 1  # every element changes
    expect(torch.equal(t.detach(), before), f"writing into to_numpy's result for {what} changed the tensor", hint)
    snapshot = got.copy()
    with torch.no_grad():
        t.copy_(~t if t.dtype == torch.bool else t + 1)
    expect(np.array_equal(got, snapshot), f"changing {what} after to_numpy changed the returned array", hint)


# ---------------------------------------------------------------- tensor_nbytes


@tensor_nbytes
def test_tensor_nbytes_counts_bytes_not_elements(impl):
    t = torch.zeros(3, 4)
    got = impl.tensor_nbytes(t)
    expect(isinstance(got, int) and not isinstance(got, bool), f"expected a Python int, got {type(got).__name__}",
           "numel() and element_size() are ints already")
    expect(got == 48, f"a float32 (3, 4) tensor takes 48 bytes, got {got}",
           "12 elements of 4 bytes: is it counting elements (numel) instead of bytes?")


@tensor_nbytes
def test_tensor_nbytes_depends_on_the_dtype(impl):
    sizes = {torch.float64: 8, torch.float32: 4, torch.bfloat16: 2, torch.float16: 2, torch.int64: 8,
             torch.int32: 4, torch.uint8: 1, torch.bool: 1, torch.complex64: 8}
    for dtype, size in sizes.items():
        got = impl.tensor_nbytes(torch.zeros(5, 2, dtype=dtype))
        expect(got == 10 * size, f"10 elements of {dtype} take {10 * size} bytes, got {got}",
               "bytes = elements x the size of one element (t.element_size())")
    got = impl.tensor_nbytes(torch.zeros(0, 7))
    expect(got == 0, f"an empty tensor takes 0 bytes, got {got}")


@tensor_nbytes
def test_tensor_nbytes_counts_the_tensors_own_elements(impl):
    base = torch.zeros(6, 10)  # 240 bytes of storage
    cases = {
        "a 0-dim float32 tensor": (torch.tensor(1.0), 4),
        "a (6, 2) slice of a (6, 10) float32 tensor": (base[:, :2], 48),
        "every other row of it, transposed": (base[::2].T, 120),
    }
    for what, (t, nbytes) in cases.items():
        got = impl.tensor_nbytes(t)
        expect(got == nbytes, f"tensor_nbytes of {what} should be {nbytes} (its numel x element_size), got {got}",
               "count the tensor's own elements, numel() * element_size(): a view shares its base's storage, so "
               "the storage's size (untyped_storage().nbytes()) counts the whole base")


# ---------------------------------------------------------------- module_nbytes


@module_nbytes
def test_module_nbytes_counts_parameter_bytes(impl):
    layer = nn.Linear(3, 4)  # 12 weights + 4 biases
    got = impl.module_nbytes(layer)
    expect(isinstance(got, int) and not isinstance(got, bool), f"expected a Python int, got {type(got).__name__}")
    expect(got == 64, f"nn.Linear(3, 4) in float32 takes (12 + 4) x 4 = 64 bytes, got {got}",
           "16 parameters of 4 bytes: count bytes, not elements")
    got = impl.module_nbytes(layer.to(torch.bfloat16))
    expect(got == 32, f"nn.Linear(3, 4) in bfloat16 takes 16 x 2 = 32 bytes, got {got}",
           "the size of an element depends on the dtype")


@module_nbytes
def test_module_nbytes_skips_absent_parameters_and_buffers(impl):
    cases = {
        "nn.Linear(3, 4, bias=False) (its bias is None)": (nn.Linear(3, 4, bias=False), 48),
        "nn.BatchNorm1d(4, track_running_stats=False) (its running stats are None)": (
            nn.BatchNorm1d(4, track_running_stats=False), 32),
        "nn.ReLU() (no parameters at all)": (nn.ReLU(), 0),
    }
    for what, (module, nbytes) in cases.items():
        try:
            got = impl.module_nbytes(module)
        except NotImplementedError:
            raise
        except Exception as err:  # noqa: BLE001 - reported below, outside the handler
            got = f"{type(err).__name__}: {err}"
        expect(got == nbytes, f"module_nbytes({what}) should be {nbytes}, got {got}",
               "a module may register a parameter or buffer as None (no bias, no running stats): "
               "module.parameters() and module.buffers() skip those, a walk over _parameters/_buffers does not")


@module_nbytes
def test_module_nbytes_takes_its_arguments_by_their_names(impl):
    got = impl.module_nbytes(module=nn.BatchNorm1d(4), include_buffers=False)
    expect(got == 32, f"module_nbytes(module=nn.BatchNorm1d(4), include_buffers=False) should be 32, got {got}",
           "the contract names the parameters module and include_buffers: a caller may pass each by its name")


@module_nbytes
def test_module_nbytes_counts_tied_weights_once(impl):
    class TiedLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.head = nn.Linear(4, 10, bias=False)
            self.head.weight = self.embed.weight  # the same Parameter: 40 floats, stored once

    got = impl.module_nbytes(TiedLM())
    expect(got == 160, f"a (10, 4) float32 weight shared by two layers takes 160 bytes, got {got}",
           "tied weights are one tensor in memory: count each Parameter object once "
           "(state_dict() lists it under both names; module.parameters() yields it once)")


@module_nbytes
def test_module_nbytes_counts_buffers(impl):
    bn = nn.BatchNorm1d(4)  # params: weight, bias; buffers: running_mean, running_var, num_batches_tracked
    got = impl.module_nbytes(bn)
    expect(got == 72, f"BatchNorm1d(4) holds 32 bytes of parameters + 32 of running stats + 8 "
           f"(int64 num_batches_tracked) = 72 bytes, got {got}",
           "buffers live in memory too: module.buffers() (and they count only when include_buffers)")
    got = impl.module_nbytes(bn, include_buffers=False)
    expect(got == 32, f"BatchNorm1d(4) without buffers is its weight and bias: 32 bytes, got {got}")


@module_nbytes
def test_module_nbytes_counts_frozen_parameters(impl):
    layer = nn.Linear(3, 4)
    layer.weight.requires_grad_(False)  # frozen, as in fine-tuning: still in memory
    got = impl.module_nbytes(layer)
    expect(got == 64, f"nn.Linear(3, 4) with a frozen weight still takes (12 + 4) x 4 = 64 bytes, got {got}",
           "memory is memory: count every parameter, whether or not it requires grad")


@module_nbytes
def test_module_nbytes_counts_non_persistent_buffers(impl):
    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(2, 2)  # 6 floats: 24 bytes
            self.register_buffer("mask", torch.ones(4, 4), persistent=False)  # 64 bytes, not in state_dict()

    got = impl.module_nbytes(Masked())
    expect(got == 88, f"a Linear(2, 2) (24 bytes) and a non-persistent (4, 4) float32 buffer (64 bytes) take 88 "
           f"bytes, got {got}",
           "state_dict() leaves out non-persistent buffers; module.buffers() lists every buffer")
    got = impl.module_nbytes(Masked(), include_buffers=False)
    expect(got == 24, f"without buffers only the Linear's 24 bytes count, got {got}")


@module_nbytes
def test_module_nbytes_counts_each_buffer_in_its_own_dtype(impl):
    net = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4)).to(torch.bfloat16)
    # Linear 12 x 2 + BatchNorm weight/bias 8 x 2 + running stats 8 x 2 + num_batches_tracked int64 8
    got = impl.module_nbytes(net)
    expect(got == 64, f"expected 24 + 16 + 16 + 8 = 64 bytes, got {got}",
           "after .to(bfloat16) floats take 2 bytes but num_batches_tracked stays an 8-byte int64")


# ---------------------------------------------------------------- CUDA


@move_to
@pytest.mark.cuda
def test_move_to_cuda_and_back(impl):
    batch = {"pair": Batch(torch.rand(4, 3), torch.randint(0, 3, (4,))), "name": "b"}
    on_gpu = impl.move_to(batch, "cuda")
    expect_device(on_gpu["pair"].images, "cuda", "moved['pair'].images")
    expect_device(on_gpu["pair"].labels, "cuda", "moved['pair'].labels")
    back = impl.move_to(on_gpu, "cpu")
    expect(type(back["pair"]) is Batch, "the namedtuple did not survive the round trip")
    expect_equal(back["pair"].images, batch["pair"].images, what="images after cpu -> cuda -> cpu")
    expect_equal(back["pair"].labels, batch["pair"].labels, what="labels after cpu -> cuda -> cpu")


@move_to
@pytest.mark.cuda
def test_move_to_pinned_non_blocking_gives_the_values_after_synchronize(impl):
    x = torch.rand(1 << 20).pin_memory()
    y = torch.randint(0, 10, (1 << 16,)).pin_memory()
    out = impl.move_to({"x": x, "y": y}, "cuda", non_blocking=True)
    torch.cuda.synchronize()
    expect_device(out["x"], "cuda", "moved['x']")
    expect_equal(out["x"].cpu(), x, what="pinned float tensor copied with non_blocking=True")
    expect_equal(out["y"].cpu(), y, what="pinned int tensor copied with non_blocking=True")
    src = torch.rand(1 << 20, device="cuda")
    back = impl.move_to(src, "cpu", non_blocking=True)
    torch.cuda.synchronize()  # a non-blocking device->host copy is only complete after synchronising
    expect_equal(back, src.cpu(), what="device -> host with non_blocking=True, read after synchronize")


@to_numpy
@pytest.mark.cuda
def test_to_numpy_works_on_a_gpu_tensor(impl):
    w = torch.randn(5, device="cuda", requires_grad=True)
    got = impl.to_numpy(w * 3)
    expect(isinstance(got, np.ndarray), f"expected an np.ndarray, got {type(got).__name__}",
           "copy to the host (.cpu()) before .numpy()")
    expect(np.array_equal(got, (w * 3).detach().cpu().numpy()), "values differ for a CUDA tensor")
    got = impl.to_numpy(w.detach().to(torch.bfloat16))
    expect(got.dtype == np.float32, f"a CUDA bfloat16 tensor should give float32, got {got.dtype}")


@tensor_nbytes
@pytest.mark.cuda
def test_tensor_nbytes_matches_memory_allocated_on_the_gpu(impl):
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    t = torch.empty(1 << 20, dtype=torch.float32, device="cuda")
    nbytes = impl.tensor_nbytes(t)
    expect(nbytes == 4 << 20, f"a float32 tensor of 2**20 elements takes 4 MiB, got {nbytes} bytes")
    rise = torch.cuda.memory_allocated() - before
    expect(rise >= nbytes, f"memory_allocated rose by {rise} bytes, less than tensor_nbytes = {nbytes}")
    del t
    after = torch.cuda.memory_allocated()
    expect(after <= before, f"after del, memory_allocated is {after}, above the {before} before the allocation")


@module_nbytes
@pytest.mark.cuda
def test_module_nbytes_matches_memory_allocated_on_the_gpu(impl):
    model = nn.Sequential(nn.Linear(256, 512), nn.BatchNorm1d(512), nn.Linear(512, 10))
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    model.to("cuda")
    rise = torch.cuda.memory_allocated() - before
    nbytes = impl.module_nbytes(model)
    expect(rise >= nbytes, f"moving the model raised memory_allocated by {rise} bytes, less than "
           f"module_nbytes = {nbytes}")
    expect(nbytes >= 4 * sum(p.numel() for p in model.parameters()), "module_nbytes is below 4 bytes a parameter")


@pick_device
@pytest.mark.cuda
def test_pick_device_on_a_real_gpu(impl):
    _expect_device_result(impl.pick_device(), "cuda", "pick_device() on a machine with CUDA")
    _expect_device_result(impl.pick_device("cuda:0"), "cuda", "pick_device('cuda:0')")
    missing = f"cuda:{torch.cuda.device_count()}"
    with expect_raises(ValueError, f"pick_device({missing!r}) (no such GPU index)", names=missing):
        impl.pick_device(missing)


# ---------------------------------------------------------------- demo


@demo
def test_demo_runs_and_reports_model_bytes(impl):
    from demos.tensors import main

    out = main(impl.module, quick=True)
    expect(isinstance(out, dict), f"the demo should return a dict of headline numbers, got {type(out).__name__}")
    fp32, bf16, n = out["fp32_bytes"], out["bf16_bytes"], out["n_params"]
    expect(fp32 >= 4 * n, f"float32 model bytes {fp32} < 4 x {n} parameters", "module_nbytes counts bytes")
    expect(0.49 < bf16 / fp32 < 0.52, f"bfloat16 model should take about half the float32 bytes: {bf16} vs {fp32}")
    expect(all(ms > 0 for ms in out["timings_ms"].values()), f"timings should be positive: {out['timings_ms']}")
