"""tensors - tensor lifecycle: where a tensor lives, how it moves, and what it costs in bytes."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn


def pick_device(preferred: str | None = None) -> torch.device:
    """Choose the device to compute on.

    Args:
        preferred: a device string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``, or
            None to pick the best available: ``cuda`` if ``torch.cuda.is_available()``, else
            ``mps`` if ``torch.backends.mps.is_available()``, else ``cpu``.

    Returns:
        a ``torch.device``; for a preferred device, that very device (``"cuda:1"`` keeps its index).

    Raises:
        ValueError: ``preferred`` names a device that is not available here (the message names it):
            ``cuda`` without CUDA, a CUDA index at or beyond ``torch.cuda.device_count()``
            (``"cuda:2"`` on a two-GPU machine), ``mps`` without MPS, and any device type other than
            cpu, cuda and mps that this machine lacks (``"xpu"``, ...). ``"cpu"`` is always available;
            ``"meta"`` (no data, always there) is left open.

    Pitfall: asking for ``"cuda"`` on a machine without one should fail loudly here, not later in
    the middle of a training step.
    """
    raise NotImplementedError("tensors.pick_device: pick cuda, then mps, then cpu; check a preferred device")


def move_to(obj, device, *, dtype: torch.dtype | None = None, non_blocking: bool = False):
    """Move every tensor inside ``obj`` (nested dicts, lists, tuples, namedtuples) to ``device``.

    Args:
        obj: a tensor, or a container of containers of ... tensors and other values (a batch).
        device: where the tensors should go (``"cuda"``, ``torch.device("cpu")``, ...).
        dtype: when given, floating-point tensors are cast to it; integer and bool tensors
            (labels, masks, token ids) keep their dtype.
        non_blocking: passed on to ``Tensor.to``; an asynchronous copy when the source is in
            pinned (page-locked) host memory.

    Returns:
        a new structure of the same shape and container types: a tuple stays a tuple, a
        namedtuple stays that namedtuple, an ``OrderedDict`` stays one (a dict subclass keeps its
        type where it can be rebuilt). Leaves that are not tensors come back as the very same
        objects. ``obj`` itself is not modified.

    Pitfalls: rebuilding tuples as lists; ``tuple(...)`` on a namedtuple (its fields are gone);
    casting the labels to float16 too; dropping or copying the non-tensor leaves; writing the moved
    tensors back into the caller's dict; moving only the top level of a nested batch.
    """
    raise NotImplementedError("tensors.move_to: recurse into containers and rebuild each one as its own type")


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A NumPy copy of ``t``'s values, whatever its autograd state, device, precision or layout.

    Args:
        t: any tensor: one that requires grad, one on a GPU, one in bfloat16 or float16.

    Returns:
        a new ``np.ndarray`` of the same shape that shares no memory with ``t``: writing into it
        leaves ``t`` unchanged, and changing ``t`` later leaves it unchanged. bfloat16 comes back
        as float32 (NumPy has no bfloat16); every other dtype keeps its NumPy equivalent (float16
        stays float16).

    Pitfalls: ``t.numpy()`` raises on a tensor that requires grad (detach it from the graph first)
    and on a CUDA tensor (copy it to the host first); and on a CPU tensor ``.numpy()`` (after
    ``detach()`` and ``cpu()``, which are no-ops there) is a view of the tensor's memory, not a copy.
    """
    raise NotImplementedError("tensors.to_numpy: leave the autograd graph and the GPU before calling .numpy()")


def tensor_nbytes(t: torch.Tensor) -> int:
    """The bytes the tensor's elements take: ``numel * element_size`` (a Python int).

    float32 is 4 bytes an element, bfloat16/float16 2, int64 8, bool and int8/uint8 1. A view (a
    slice, a transpose) counts its own elements, not the storage it shares with its base.

    Pitfall: ``numel()`` counts elements, not bytes: a float32 model is 4x its parameter count.
    """
    raise NotImplementedError("tensors.tensor_nbytes: elements times the bytes of one element")


def module_nbytes(module: nn.Module, *, include_buffers: bool = True) -> int:
    """The bytes of a module's parameters, plus its buffers when ``include_buffers``.

    Shared (tied) parameters, such as an embedding reused as the output layer, count once.
    Buffers are the non-trained state: BatchNorm's ``running_mean``/``running_var`` and its int64
    ``num_batches_tracked``. A parameter or buffer registered as None (``bias=False``,
    ``track_running_stats=False``) takes no memory.

    Returns:
        a Python int.

    Pitfalls: counting elements instead of bytes; counting a tied weight once per module that
    uses it (``state_dict()`` lists it under every name); forgetting the buffers.
    """
    raise NotImplementedError("tensors.module_nbytes: each parameter (and buffer) once, in bytes")


if __name__ == "__main__":  # python -m exercises.tensors: the concept at work, with real numbers
    from demos import run

    run("tensors")
