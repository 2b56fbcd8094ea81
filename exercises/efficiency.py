"""efficiency - cost you can count on any machine: host synchronisations, launches, FLOPs, saved bytes, memory.

A wall-clock time belongs to one machine; these costs do not. Each exercise here is graded by
counting: the host synchronisations and dispatched operations a function makes, the floating-point
operations of generating a token, the bytes autograd keeps for backward, the bytes a training step
needs, measured on the ``meta`` device (tensors with a shape and a dtype but no data) so that even
a 7-billion-parameter model is sized without allocating it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint_sequential

# ---------------------------------------------------------------- the host waits: synchronisations


def train_step(model: nn.Module, batch, loss_fn: Callable, optimizer: torch.optim.Optimizer) -> torch.Tensor:
    """One optimizer step that never makes the host wait for the device; returns the loss, detached.

    Args:
        model: the module to train (in whatever mode the caller set).
        batch: ``(inputs, targets)``, on the model's device.
        loss_fn: ``loss_fn(model(inputs), targets)`` is a 0-dim tensor.
        optimizer: steps the model's parameters.

    Returns:
        The loss as a 0-dim tensor on the model's device with no graph (``requires_grad`` False):
        the caller decides when to read it (see ``mean_loss``).

    Gradients are reset first, then forward, loss, backward and ``optimizer.step()``: the same
    parameters afterwards as that plain step. No host synchronisation: no ``.item()``, ``float()``,
    ``.tolist()``, ``.cpu()``, ``print`` of a tensor, or Python ``if`` on a tensor's value (the count
    of ``aten._local_scalar_dense`` calls and copies to the CPU is 0, on the CPU, on ``meta`` and on
    CUDA alike).

    Pitfall: ``loss.item()`` in every step. On a GPU the host queues work and runs ahead; reading a
    value back makes it wait until the queue is empty, every step, so the device idles while Python
    prepares the next batch.
    """
    raise NotImplementedError("efficiency.train_step: one plain step; return loss.detach(), never .item()")


def mean_loss(losses: list[torch.Tensor]) -> float:
    """The mean of 0-dim loss tensors as a Python float, with exactly one host synchronisation.

    Args:
        losses: a non-empty list of 0-dim tensors on one device (e.g. what ``train_step`` returned
            over an epoch).

    Returns:
        Their mean, a Python float: the one value read back at the end of an epoch, whatever the
        number of losses (one ``aten._local_scalar_dense``).

    Raises:
        ValueError: ``losses`` is empty (the mean of nothing).

    Pitfall: ``sum(l.item() for l in losses) / len(losses)`` waits for the device once per loss.
    """
    raise NotImplementedError("efficiency.mean_loss: stack on the device, mean, one read-back")


# ---------------------------------------------------------------- launches and intermediates


def pairwise_sq_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances between every row of ``x`` and every row of ``y``.

    Args:
        x: ``(N, D)`` floating point.
        y: ``(M, D)``, same dtype and device.

    Returns:
        ``(N, M)`` with ``out[i, j] = ||x[i] - y[j]||^2``, in the inputs' dtype and on their device:
        the values of ``torch.cdist(x, y) ** 2`` within float tolerance, and never negative
        (rounding can make the expansion below slightly negative for identical points: clamp at 0).

    Vectorised: the number of dispatched operations is the same for 4 points as for 4,000 (no
    Python loop over rows), and no intermediate holds ``N * M * D`` elements: expand
    ``||x||^2 + ||y||^2 - 2 x y^T``, whose largest intermediate is ``(N, M)``. Works on any device,
    ``meta`` included.

    Pitfalls: a Python loop over rows (one batch of kernel launches per row: the cost grows with
    ``N``); ``(x[:, None, :] - y[None, :, :]) ** 2`` (an ``(N, M, D)`` temporary: memory grows with
    the product, 4 GiB for 1,024 x 1,024 points of dimension 1,024 in float32).
    """
    raise NotImplementedError("efficiency.pairwise_sq_distances: ||x||^2 + ||y||^2 - 2 x y^T, clamped at 0")


# ---------------------------------------------------------------- a key/value cache


class KVCache:
    """The keys and values one attention layer has seen so far, for incremental decoding.

    ``KVCache()`` starts empty. ``append(k, v)`` adds the keys and values of the new positions,
    each ``(B, H, T_new, d_head)``, after those already held (along dimension 2, time) and returns
    all of them, ``(B, H, T, d_head)`` each, oldest first. ``len(cache)`` is ``T``, the number of
    positions held (0 when empty).
    """

    def __init__(self):
        """An empty cache: no keys, no values, ``len`` 0."""
        raise NotImplementedError("efficiency.KVCache.__init__: start with no keys and no values")

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add ``k`` and ``v`` (``(B, H, T_new, d_head)``) after the positions held; return all keys and values."""
        raise NotImplementedError("efficiency.KVCache.append: torch.cat after the old ones along dim 2")

    def __len__(self) -> int:
        """The number of positions held."""
        raise NotImplementedError("efficiency.KVCache.__len__: keys.shape[2], or 0 when empty")


def cached_attention_step(attn: nn.MultiheadAttention, x_new: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """Causal self-attention for new positions only, with the earlier keys and values from ``cache``.

    Args:
        attn: an ``nn.MultiheadAttention(d_model, num_heads, batch_first=True)`` (its
            ``in_proj_weight`` ``(3 * d_model, d_model)`` and ``in_proj_bias`` hold the query, key
            and value projections in that order, ``out_proj`` the output projection).
        x_new: ``(B, T_new, d_model)``, the inputs at positions ``len(cache)`` to
            ``len(cache) + T_new - 1``.
        cache: the layer's ``KVCache``; this call appends the new positions' keys and values to it.

    Returns:
        ``(B, T_new, d_model)``: exactly the rows of ``attn(x, x, x, attn_mask=causal)`` for those
        positions, where ``x`` is the whole sequence so far: each new position attends to every
        cached position and, among the new ones, to itself and those before it (a causal mask
        within the chunk when ``T_new > 1``, as when a prompt is read in one go). No dropout.

    Only the new positions are projected: the cost of a call grows with ``T_new`` and, through the
    attention scores, linearly with ``len(cache)``, never with a recomputed prefix.
    """
    raise NotImplementedError("efficiency.cached_attention_step: project x_new only, append k and v, causal mask")


def generate_cached(model: nn.Module, prompt: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Greedy decoding with one ``KVCache`` per layer: the tokens of the uncached loop, at linear cost.

    Args:
        model: a decoder-only language model made of PyTorch parts: ``model.tok_emb``
            (``nn.Embedding(V, d_model)``), ``model.pos_emb`` (``nn.Embedding(block_size, d_model)``,
            positions ``0, 1, ...``), ``model.layers`` (an ``nn.ModuleList`` of
            ``nn.TransformerEncoderLayer(d_model, nhead, batch_first=True, norm_first=True)``),
            ``model.norm`` (``nn.LayerNorm``) and ``model.head`` (``nn.Linear(d_model, V)``), with
            ``model.block_size``. ``model(idx)`` is its uncached causal forward: logits ``(B, T, V)``.
        prompt: ``(B, T0)`` int64 token ids, ``T0 >= 1``.
        max_new_tokens: how many tokens to append, ``>= 0``.

    Returns:
        ``(B, T0 + max_new_tokens)`` int64: the prompt followed by the new tokens, each the argmax
        of the last position's logits: exactly the tokens of the uncached loop
        ``idx = cat([idx, model(idx)[:, -1].argmax(-1, keepdim=True)], 1)``.

    Raises:
        ValueError: ``T0 + max_new_tokens > model.block_size`` (the message names both), since the
            positions run out.

    The prompt is read in one call (one chunk through each layer), then each new token alone: its
    queries, keys and values are computed once and the earlier ones come from the caches. Generating
    token ``t`` then costs FLOPs linear in ``t``, so 64 new tokens cost at most 2.5x the FLOPs of 32
    (the uncached loop recomputes every earlier position at every step: about 4x). Decoding is
    inference: no graph is built (``torch.no_grad``), no dropout is applied, and the model's
    modules and training flags are left as they are.

    Pitfall: recomputing the whole prefix at every generated token (a quadratic total).
    """
    raise NotImplementedError("efficiency.generate_cached: a KVCache per layer, the prompt, then a token at a time")


# ---------------------------------------------------------------- bytes kept for backward


def activation_bytes(fn: Callable, *args) -> int:
    """The bytes autograd saves for backward while ``fn(*args)`` runs.

    Every tensor autograd saves passes through ``torch.autograd.graph.saved_tensors_hooks``; the
    result is the sum of the ``untyped_storage().nbytes()`` of the distinct storages they live in:
    each storage counted once, however many saved tensors view it (``x`` and ``x.t()`` saved by
    one matmul are one storage), and parameters (``nn.Parameter`` objects and views of one) not
    counted: they are not activations. Works on the ``meta`` device too, where every
    ``data_ptr()`` is 0.

    Exact on these cases (float32 unless said): an ``nn.Linear`` on an input ``(B, in)`` saves its
    input: ``4 * B * in`` bytes, whether or not the input requires grad; ``w.t() @ w`` for a
    ``w`` that requires grad saves ``w`` once: ``4 * w.numel()``; a ReLU saves its output; nothing
    is saved under ``torch.no_grad()`` (0).

    Returns:
        A Python int. The value of ``fn(*args)`` is discarded.

    Pitfalls: counting each saved tensor (a storage saved twice counted twice); counting the
    parameters as activations.
    """
    raise NotImplementedError("efficiency.activation_bytes: a pack hook; each storage once; no parameters")


def checkpointed_forward(blocks: nn.Sequential, x: torch.Tensor, segments: int) -> torch.Tensor:
    """``blocks(x)`` with activation checkpointing: the same output and gradients, fewer saved bytes.

    Args:
        blocks: an ``nn.Sequential`` of blocks.
        x: the input of the first block (it may or may not require grad).
        segments: into how many consecutive segments to cut ``blocks``, ``1 <= segments <= len(blocks)``.

    Returns:
        The output of ``blocks(x)``, with the same values and, after ``backward``, the same
        gradients for ``x`` and every parameter (dropout included: the recomputation replays the
        same random numbers). Each segment (the last may run plainly) goes through
        ``torch.utils.checkpoint`` with ``use_reentrant=False``: only its input is saved, and its
        activations are recomputed during backward.

    Bound the tests use: for ``n`` equal blocks and ``segments`` dividing ``n``,
    ``activation_bytes`` of the checkpointed forward is at most
    ``activation_bytes(blocks, x) / segments + segments * (bytes of x)``.

    Raises:
        ValueError: ``segments < 1`` or ``segments > len(blocks)`` (the message names it).

    How the blocks are cut into segments beyond that (sizes, which ones) is yours: any cut that
    gives the same output and gradients within the bound is right.

    Pitfalls: ``use_reentrant=True`` with an input that does not require grad (the parameters of
    the checkpointed segments get no gradient at all); a checkpoint that does not replay the random
    numbers (dropout masks differ in the recomputation: wrong gradients); checkpointing that keeps
    every activation anyway.
    """
    raise NotImplementedError("efficiency.checkpointed_forward: checkpoint(segment, x, use_reentrant=False)")


# ---------------------------------------------------------------- the memory of a training step


def training_memory(model: nn.Module, batch_shape, *, optimizer: str = "adam",
                    param_dtype: torch.dtype = torch.float32, autocast_dtype: torch.dtype | None = None
                    ) -> dict[str, int]:
    """The bytes one training step of ``model`` needs, found without allocating any of them.

    Args:
        model: any module, on any device, ``meta`` included (a model built under
            ``torch.device("meta")`` has shapes and no data). It is left unchanged.
        batch_shape: the shape of one input batch. The input is ``param_dtype`` (or
            ``autocast_dtype``) values, or int64 token ids when the first module of
            ``model.modules()`` that holds parameters of its own is an ``nn.Embedding``.
        optimizer: ``"adam"`` (two moments per parameter), ``"sgd"`` (none) or
            ``"sgd_momentum"`` (one), each moment in ``param_dtype`` like the parameter.
        param_dtype: the dtype the parameters, their gradients and the moments are kept in.
        autocast_dtype: ``None``, or the lower precision the forward computes in (mixed
            precision): the activations are then counted in that dtype, the rest stays
            ``param_dtype``.

    Returns:
        ``{"params", "grads", "optimizer_state", "activations", "total"}``, Python ints of bytes,
        whatever the caller's grad mode:
        every parameter once (tied weights are one parameter); a gradient and the optimizer's
        moments for each parameter that requires grad (frozen ones have neither); the activations
        as ``activation_bytes`` of one forward in the model's current mode, run on the ``meta``
        device with the parameters and buffers replaced by ``meta`` tensors of the dtype above (the
        floating ones; nothing is allocated, so a 7-billion-parameter model answers in seconds);
        ``total`` their sum. Buffers, the optimizer's step counters and temporaries are not counted.

    Agrees with a real step on the CPU within 1% for each entry: the bytes of the parameters, of
    their ``.grad`` after backward, of the optimizer's moment tensors after ``step()``, and of what
    autograd saves in the same forward.

    Raises:
        ValueError: an unknown ``optimizer`` name (the message names it).

    Pitfall: forgetting Adam's two moments: in float32 a training step needs about 4x the weights'
    memory (weights, gradients, two moments) before a single activation.
    """
    raise NotImplementedError("efficiency.training_memory: numel x bytes; activations by a forward on meta")


if __name__ == "__main__":  # python -m exercises.efficiency: the concept at work, with real numbers
    from demos import run

    run("efficiency")
