"""lora, a correct style: einsum and functional dropout, the base kept under another name, parents found by path,
the adapter read from named_parameters, merge_lora building fresh nn.Linear layers."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"base must be an nn.Linear, not {type(base).__name__}")
        if not r >= 1:
            raise ValueError(f"rank r={r} is below 1")
        base.requires_grad_(False)
        self.frozen = base
        self.p = float(dropout)
        self.scaling = alpha / r
        w = base.weight
        bound = 1.0 / math.sqrt(base.in_features)  # kaiming_uniform_(a=sqrt(5)) on fan_in = in_features
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device).uniform_(-bound,
                                                                                                             bound))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device))
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        return torch.einsum("or,ri->oi", self.lora_B, self.lora_A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.frozen.weight, self.frozen.bias)
        if self.merged:
            return y
        h = F.dropout(x, self.p, training=self.training)
        low = torch.einsum("...i,ri->...r", h, self.lora_A)
        return y + torch.einsum("...r,or->...o", low, self.lora_B) * self.scaling

    def merge(self) -> None:
        if not self.merged:
            with torch.no_grad():
                self.frozen.weight.add_(self.delta_weight())
            self.merged = True

    def unmerge(self) -> None:
        if self.merged:
            with torch.no_grad():
                self.frozen.weight.sub_(self.delta_weight())
            self.merged = False


def _parent(model: nn.Module, path: str) -> tuple[nn.Module, str]:
    head, _, name = path.rpartition(".")
    return (model.get_submodule(head) if head else model), name


def apply_lora(model: nn.Module, target_modules: Iterable[str] = ("q_proj", "v_proj"), r: int = 8,
               alpha: float = 16.0, dropout: float = 0.0) -> nn.Module:
    wanted = frozenset(target_modules)
    paths = [path for path, m in model.named_modules()
             if path and path.rpartition(".")[2] in wanted and isinstance(m, nn.Linear)]
    if not paths:
        raise ValueError(f"target_modules={sorted(wanted)} matched no nn.Linear")
    model.requires_grad_(False)
    for path in paths:
        parent, name = _parent(model, path)
        parent.register_module(name, LoRALinear(getattr(parent, name), r=r, alpha=alpha, dropout=dropout))
    return model


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if "lora_" in name}


def load_lora_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    own = {name: p for name, p in model.named_parameters() if "lora_" in name}
    for key in own:
        if key not in state_dict:
            raise KeyError(f"the adapter lacks {key!r}")
    for key in state_dict:
        if key not in own:
            raise KeyError(f"{key!r} is not a LoRA parameter of the model")
    with torch.no_grad():
        for key, p in own.items():
            p.copy_(state_dict[key])


def merge_lora(model: nn.Module) -> nn.Module:
    def plain(layer: LoRALinear) -> nn.Linear:
        base = layer.frozen
        new = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None,
                        device=base.weight.device, dtype=base.weight.dtype)
        with torch.no_grad():
            weight = base.weight if layer.merged else base.weight + layer.delta_weight()
            new.weight.copy_(weight)
            if base.bias is not None:
                new.bias.copy_(base.bias)
        return new

    if isinstance(model, LoRALinear):
        return plain(model)
    for path, m in list(model.named_modules()):
        if isinstance(m, LoRALinear):
            parent, name = _parent(model, path)
            setattr(parent, name, plain(m))
    return model
