"""autograd - backpropagation: write the backward pass by hand, then check it.

Every function here computes, with plain tensor operations, a gradient that autograd would give
you. Conventions follow ``nn.Linear``: ``y = x @ weight.T + bias`` with ``weight`` of shape
``(out, in)`` and ``x`` of shape ``(*, in)``. A backward function receives ``grad_out``, the
gradient of the loss with respect to its output, and returns the gradients with respect to its
inputs (the chain rule, one layer at a time).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def linear_backward(
    x: Tensor, weight: Tensor, bias: Tensor | None, grad_out: Tensor
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Gradients of ``y = x @ weight.T + bias`` with respect to ``x``, ``weight`` and ``bias``.

    Computed by hand, without autograd: no ``.backward()``, ``torch.autograd.grad`` or
    ``torch.func`` (the tests run it where autograd records nothing and refuse those calls).

    Args:
        x: input, shape ``(*, in)``: any number of leading batch dimensions, none at all too (a
            single sample of shape ``(in,)``); any layout (a non-contiguous view, e.g. a transpose).
        weight: shape ``(out, in)``, the ``nn.Linear`` layout.
        bias: shape ``(out,)``, or None for a layer without bias.
        grad_out: dLoss/dy, shape ``(*, out)``.

    Returns:
        ``(grad_x, grad_weight, grad_bias)`` of shapes ``(*, in)``, ``(out, in)`` and ``(out,)``,
        in the dtype of the inputs; ``grad_bias`` is None when ``bias`` is None. The gradients of
        the parameters are summed over every leading batch dimension, because each sample's
        contribution to the loss adds up. The inputs are left unchanged.

    Pitfalls: ``grad_weight`` must have the shape of ``weight``, ``(out, in)``, not its transpose;
    ``grad_bias`` is a sum over the batch, not a mean (any averaging already happened in the loss).
    """
    raise NotImplementedError("autograd.linear_backward: grad_weight shaped like weight, grad_bias summed")


def relu_backward(x: Tensor, grad_out: Tensor) -> Tensor:
    """Gradient of ``relu(x)`` with respect to ``x``: ``grad_out`` where ``x > 0``, else 0.

    Computed by hand, without autograd (no ``.backward()``, ``torch.autograd.grad`` or ``torch.func``).

    Args:
        x: the input the ReLU saw, any shape.
        grad_out: dLoss/d relu(x), the same shape as ``x``.

    Returns:
        dLoss/dx, the same shape and dtype as ``grad_out``; 0 wherever ``x <= 0`` (at exactly 0 too,
        as PyTorch does), whatever ``grad_out`` holds there, NaN and inf included (PyTorch gives 0
        there too). ``x`` and ``grad_out`` are left unchanged.

    Pitfalls: the mask comes from the forward input ``x``, never from the sign of ``grad_out``; and
    multiplying by a 0/1 mask does not block: ``nan * 0`` and ``inf * 0`` are NaN, so select instead.
    """
    raise NotImplementedError("autograd.relu_backward: pass grad_out where the forward input x was positive")


def mse_loss_backward(pred: Tensor, target: Tensor) -> Tensor:
    """Gradient of the mean-reduced MSE ``mean((pred - target) ** 2)`` with respect to ``pred``.

    Computed by hand, without autograd (no ``.backward()``, ``torch.autograd.grad`` or ``torch.func``).

    Args:
        pred: predictions, any shape (e.g. ``(N,)``, ``(N, D)``, or a 0-dim scalar), any layout.
        target: the same shape as ``pred``.

    Returns:
        dLoss/dpred, the same shape and dtype as ``pred``. The mean runs over every element of
        ``pred``, not only over the batch dimension. ``pred`` and ``target`` are left unchanged.

    Pitfalls: the factor 2 from the square and the ``1/N`` from the mean are both part of the
    gradient; dropping either scales every update of a training loop by the same wrong factor.
    """
    raise NotImplementedError("autograd.mse_loss_backward: mind the 2 and the 1/N")


def cross_entropy_backward(logits: Tensor, targets: Tensor) -> Tensor:
    """Gradient of the mean-reduced cross-entropy (``F.cross_entropy``) with respect to the logits.

    Computed by hand, without autograd (no ``.backward()``, ``torch.autograd.grad`` or ``torch.func``).

    Args:
        logits: shape ``(N, C)``, floating point, possibly a non-contiguous view.
        targets: shape ``(N,)``, int64 class indices in ``[0, C)`` (not every class need appear).

    Returns:
        dLoss/dlogits, shape ``(N, C)``, dtype of ``logits``. Finite for logits of magnitude 1e4
        and beyond; ``logits`` is not modified.

    Pitfall: the softmax inside. ``exp(logits)`` overflows to inf for logits above ~89 (float32)
    or ~709 (float64), and inf / inf is NaN.
    """
    raise NotImplementedError("autograd.cross_entropy_backward: a softmax that cannot overflow")


def mlp_backward(x: Tensor, targets: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> dict[str, Tensor]:
    """Hand-written backward pass of a two-layer MLP with a mean cross-entropy loss.

    Forward: ``h = relu(x @ w1.T + b1)``, ``logits = h @ w2.T + b2``,
    ``loss = F.cross_entropy(logits, targets)``.

    Computed by hand, without autograd (no ``.backward()``, ``torch.autograd.grad`` or
    ``torch.func``): the tests run it where autograd records nothing and refuse those calls.

    Args:
        x: inputs ``(N, D)``; targets: ``(N,)`` int64; w1: ``(H, D)``; b1: ``(H,)``; w2: ``(C, H)``;
        b2: ``(C,)``. None of them needs ``requires_grad``: no autograd is involved.

    Returns:
        ``{"w1": ..., "b1": ..., "w2": ..., "b2": ...}``, each gradient the shape and dtype of its
        parameter, equal to what ``loss.backward()`` would leave in ``.grad``.

    Pitfall: keep the forward intermediates you need (the pre-activation ``z1`` for the ReLU mask,
    ``h`` for ``w2``'s gradient), then run the layers backwards, last layer first.
    """
    raise NotImplementedError("autograd.mlp_backward: keep z1 and h, then go backwards")


class SiLU(torch.autograd.Function):
    """SiLU (swish), ``x * sigmoid(x)``, as an autograd Function with a hand-written backward.

    ``forward(ctx, x)`` saves what backward needs; ``backward(ctx, grad_out)`` returns
    ``grad_out * d silu(x) / dx``, shaped like ``x``, computed by hand: no autograd inside either
    (the tests call ``backward`` directly where autograd records nothing and refuse
    ``torch.autograd.grad``, ``.backward()`` and ``torch.func``). Passes
    ``torch.autograd.gradcheck`` in float64 and stays finite for large ``|x|``. ``grad_out`` may be
    an expanded view (``silu(x).sum().backward()`` sends one): never write into it.

    Pitfall: ``silu`` is a product of two functions of ``x``; a derivative of ``sigmoid(x)`` alone
    misses a term.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        """``x * sigmoid(x)``, same shape and dtype as ``x``; saves what backward needs in ``ctx``."""
        raise NotImplementedError("autograd.SiLU.forward: save what backward needs and return x * sigmoid(x)")

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tensor:
        """dLoss/dx = ``grad_out * d silu(x) / dx``, shaped like ``x``."""
        raise NotImplementedError("autograd.SiLU.backward: product rule on x * sigmoid(x)")


def silu(x: Tensor) -> Tensor:
    """``SiLU.apply(x)``: ``x * sigmoid(x)`` whose gradient comes from ``SiLU.backward``."""
    raise NotImplementedError("autograd.silu: apply the autograd Function")


def numerical_gradient(f: Callable[[Tensor], Tensor | float], x: Tensor, eps: float = 1e-6) -> Tensor:
    """Central-difference estimate of the gradient of a scalar function ``f`` at ``x``.

    Finite differences only, without autograd (no ``.backward()``, ``torch.autograd.grad`` or
    ``torch.func``).

    Args:
        f: takes a tensor shaped like ``x`` and returns a scalar (a 0-dim tensor or a float).
        x: the point, any shape (0-dim too) and any layout (a non-contiguous view too), floating
            point (use float64: finite differences in float32 drown in rounding error).
        eps: the step.

    Returns:
        a tensor of the shape and dtype of ``x`` whose element ``i`` is
        ``(f(x + eps * e_i) - f(x - eps * e_i)) / (2 * eps)``. ``x`` itself is never modified.

    Pitfalls: forward differences ``(f(x + eps) - f(x)) / eps`` have an error proportional to
    ``eps``; central differences cancel it, leaving an error proportional to ``eps ** 2``. Nudging
    ``x`` in place and "undoing" it with ``-= eps`` does not restore it bit for bit (rounding), so
    perturb a copy.
    """
    raise NotImplementedError("autograd.numerical_gradient: central differences, one element at a time, on a copy of x")


if __name__ == "__main__":  # python -m exercises.autograd: the concept at work, with real numbers
    from demos import run

    run("autograd")
