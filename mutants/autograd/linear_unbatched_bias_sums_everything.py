"""Pitfall: grad_bias summed over dim=() for an unbatched x, so over everything (autograd.linear_backward).

torch.sum(dim=()) reduces over every dimension, so a single 1-D sample gets a scalar grad_bias.
"""

from __future__ import annotations

import torch

from solutions.autograd import *  # noqa: F403


def linear_backward(x, weight, bias, grad_out):
    grad_x = grad_out @ weight
    grad_weight = torch.einsum("...o,...i->oi", grad_out, x)
    grad_bias = grad_out.sum(dim=tuple(range(grad_out.dim() - 1))) if bias is not None else None
    return grad_x, grad_weight, grad_bias
