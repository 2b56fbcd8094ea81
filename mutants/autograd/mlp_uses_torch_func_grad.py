"""Pitfall: torch.func.grad does the work instead of a hand-written backward pass (autograd.mlp_backward).

torch.func.grad runs even under torch.inference_mode() and on inputs that do not require grad.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from solutions.autograd import *  # noqa: F403


def mlp_backward(x, targets, w1, b1, w2, b2):
    def loss(params):
        h = torch.relu(x @ params["w1"].T + params["b1"])
        return F.cross_entropy(h @ params["w2"].T + params["b2"], targets)

    return torch.func.grad(loss)({"w1": w1, "b1": b1, "w2": w2, "b2": b2})
