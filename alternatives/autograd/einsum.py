"""autograd, a correct alternative: einsum and torch.where, a setup_context SiLU, vectorised bookkeeping.

Red-team style for the test suite: written from the contract alone, in a style unlike solutions/.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def linear_backward(x: Tensor, weight: Tensor, bias: Tensor | None, grad_out: Tensor):
    """(grad_x, grad_weight, grad_bias) of y = x @ weight.T + bias, x of shape (*, in)."""
    grad_x = torch.einsum("...o,oi->...i", grad_out, weight)
    grad_weight = torch.einsum("...o,...i->oi", grad_out, x)
    grad_bias = None if bias is None else grad_out.reshape(-1, grad_out.shape[-1]).sum(0)
    return grad_x, grad_weight, grad_bias


def relu_backward(x: Tensor, grad_out: Tensor) -> Tensor:
    """grad_out where x > 0, 0 elsewhere."""
    return torch.where(x > 0, grad_out, torch.zeros((), dtype=grad_out.dtype, device=grad_out.device))


def mse_loss_backward(pred: Tensor, target: Tensor) -> Tensor:
    """d/dpred of mean((pred - target) ** 2)."""
    return (pred - target).mul(2.0 / pred.numel())


def cross_entropy_backward(logits: Tensor, targets: Tensor) -> Tensor:
    """(softmax(logits) - one_hot(targets)) / N."""
    probs = torch.softmax(logits, dim=-1)
    one_hot = F.one_hot(targets, num_classes=logits.shape[-1]).to(probs.dtype)
    return (probs - one_hot) / logits.shape[0]


def mlp_backward(x: Tensor, targets: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> dict[str, Tensor]:
    """Hand-written gradients of the two-layer MLP's mean cross-entropy."""
    z1 = torch.einsum("nd,hd->nh", x, w1) + b1
    h = torch.relu(z1)
    grad_logits = cross_entropy_backward(torch.einsum("nh,ch->nc", h, w2) + b2, targets)
    grad_h, grad_w2, grad_b2 = linear_backward(h, w2, b2, grad_logits)
    _, grad_w1, grad_b1 = linear_backward(x, w1, b1, relu_backward(z1, grad_h))
    return {"w1": grad_w1, "b1": grad_b1, "w2": grad_w2, "b2": grad_b2}


class SiLU(torch.autograd.Function):
    """x * sigmoid(x) with a hand-written backward (the forward / setup_context split)."""

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        """x * sigmoid(x)."""
        return x * torch.sigmoid(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x, torch.sigmoid(x))

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tensor:
        """grad_out * (s + x * s * (1 - s))."""
        x, s = ctx.saved_tensors
        return grad_out * torch.addcmul(s, x * s, 1 - s)


def silu(x: Tensor) -> Tensor:
    """SiLU.apply(x)."""
    return SiLU.apply(x)


def numerical_gradient(f: Callable[[Tensor], Tensor | float], x: Tensor, eps: float = 1e-6) -> Tensor:
    """Central differences, one basis direction at a time, built from an identity matrix."""
    point = x.detach().reshape(-1)
    steps = torch.eye(point.numel(), dtype=x.dtype, device=x.device) * eps
    values = [
        (float(f((point + step).reshape(x.shape))) - float(f((point - step).reshape(x.shape)))) / (2 * eps)
        for step in steps
    ]
    return torch.tensor(values, dtype=x.dtype, device=x.device).reshape(x.shape)
