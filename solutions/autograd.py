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
    grad_x = grad_out @ weight  # (*, out) @ (out, in) -> (*, in)
    x_2d = x.reshape(-1, x.shape[-1])  # (N, in), N = product of the leading dimensions
    grad_out_2d = grad_out.reshape(-1, grad_out.shape[-1])  # (N, out)
    grad_weight = grad_out_2d.T @ x_2d  # (out, N) @ (N, in) -> (out, in)
    grad_bias = grad_out_2d.sum(dim=0) if bias is not None else None  # (out,)
    return grad_x, grad_weight, grad_bias


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
    return grad_out.masked_fill(x <= 0, 0.0)  # selects: NaN * 0 would still be NaN


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
    return 2.0 * (pred - target) / pred.numel()


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
    n = logits.shape[0]
    shifted = logits - logits.amax(dim=1, keepdim=True)  # (N, C), every row's max is 0
    exp = shifted.exp()
    probs = exp / exp.sum(dim=1, keepdim=True)  # (N, C), softmax
    rows = torch.arange(n, device=logits.device)
    probs[rows, targets] -= 1.0  # probs is a fresh tensor: the caller's logits are untouched
    return probs / n


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
    z1 = x @ w1.T + b1  # (N, H)
    h = z1.clamp(min=0)  # (N, H)
    logits = h @ w2.T + b2  # (N, C)
    grad_logits = cross_entropy_backward(logits, targets)  # (N, C)
    grad_h, grad_w2, grad_b2 = linear_backward(h, w2, b2, grad_logits)  # (N, H), (C, H), (C,)
    grad_z1 = relu_backward(z1, grad_h)  # (N, H)
    _, grad_w1, grad_b1 = linear_backward(x, w1, b1, grad_z1)  # (H, D), (H,)
    return {"w1": grad_w1, "b1": grad_b1, "w2": grad_w2, "b2": grad_b2}


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
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tensor:
        """dLoss/dx = ``grad_out * d silu(x) / dx``, shaped like ``x``."""
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad_out * (s + x * s * (1 - s))


def silu(x: Tensor) -> Tensor:
    """``SiLU.apply(x)``: ``x * sigmoid(x)`` whose gradient comes from ``SiLU.backward``."""
    return SiLU.apply(x)


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
    base = x.detach().clone().contiguous()
    grad = torch.zeros_like(base)
    flat_grad = grad.view(-1)
    for i in range(base.numel()):
        plus = base.clone()
        plus.view(-1)[i] += eps
        minus = base.clone()
        minus.view(-1)[i] -= eps
        flat_grad[i] = (float(f(plus)) - float(f(minus))) / (2 * eps)
    return grad


if __name__ == "__main__":  # python -m solutions.autograd: the concept at work, with real numbers
    from demos import run

    run("autograd")
