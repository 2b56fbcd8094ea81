"""autograd, a correct alternative: explicit 2-D bookkeeping and in-place updates on fresh tensors.

Red-team style for the test suite: written from the contract alone, in a style unlike solutions/.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def linear_backward(x: Tensor, weight: Tensor, bias: Tensor | None, grad_out: Tensor):
    """(grad_x, grad_weight, grad_bias): matmuls on the batch flattened to (N, features)."""
    n_in, n_out = weight.shape[1], weight.shape[0]
    flat_x = x.reshape(-1, n_in)
    flat_g = grad_out.reshape(-1, n_out)
    grad_weight = torch.zeros_like(weight)
    grad_weight.addmm_(flat_g.t(), flat_x)
    grad_x = torch.mm(flat_g, weight).reshape(x.shape)
    grad_bias = None
    if bias is not None:
        grad_bias = torch.zeros_like(bias)
        grad_bias += flat_g.sum(dim=0)
    return grad_x, grad_weight, grad_bias


def relu_backward(x: Tensor, grad_out: Tensor) -> Tensor:
    """A copy of grad_out with the entries where x <= 0 zeroed."""
    grad = grad_out.clone()
    grad[(x <= 0).expand_as(grad)] = 0
    return grad


def mse_loss_backward(pred: Tensor, target: Tensor) -> Tensor:
    """2 (pred - target) / N, built in a copy of pred."""
    grad = pred.clone()
    grad.sub_(target).mul_(2.0).div_(pred.numel())
    return grad


def cross_entropy_backward(logits: Tensor, targets: Tensor) -> Tensor:
    """Stable softmax computed in place on a copy, minus 1 at the targets, over N."""
    n = logits.shape[0]
    p = logits.clone()
    p.sub_(p.max(dim=1, keepdim=True).values).exp_()
    p.div_(p.sum(dim=1, keepdim=True))
    p[torch.arange(n, device=p.device), targets] -= 1
    return p.div_(n)


def mlp_backward(x: Tensor, targets: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> dict[str, Tensor]:
    """Forward with kept intermediates, then the layers backwards."""
    z1 = torch.addmm(b1, x, w1.t())
    h = z1.clamp_min(0)
    logits = torch.addmm(b2, h, w2.t())
    grad_h, grad_w2, grad_b2 = linear_backward(h, w2, b2, cross_entropy_backward(logits, targets))
    _, grad_w1, grad_b1 = linear_backward(x, w1, b1, relu_backward(z1, grad_h))
    return {"w2": grad_w2, "b2": grad_b2, "w1": grad_w1, "b1": grad_b1}


class SiLU(torch.autograd.Function):
    """x * sigmoid(x) with a hand-written backward; the sigmoid is kept on ctx."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        """x * sigmoid(x)."""
        s = torch.sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tensor:
        """grad_out * sigmoid(x) * (1 + x * (1 - sigmoid(x)))."""
        x, s = ctx.saved_tensors
        local = 1 - s
        local.mul_(x).add_(1).mul_(s)
        return grad_out * local


def silu(x: Tensor) -> Tensor:
    """SiLU.apply(x)."""
    return SiLU.apply(x)


def numerical_gradient(f: Callable[[Tensor], Tensor | float], x: Tensor, eps: float = 1e-6) -> Tensor:
    """Central differences on one contiguous working copy, each entry put back from its saved value."""
    work = x.detach().contiguous().clone()
    flat = work.view(-1)
    grad = torch.empty_like(flat)
    for i in range(flat.numel()):
        saved = flat[i].item()
        flat[i] = saved + eps
        up = float(f(work))
        flat[i] = saved - eps
        down = float(f(work))
        flat[i] = saved
        grad[i] = (up - down) / (2 * eps)
    return grad.view(x.shape)
