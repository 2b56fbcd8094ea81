"""lora, a correct style: without active dropout the update is fused into one weight for the forward pass,
recursion over named_children, the adapter checked key by key and loaded with load_state_dict."""

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
            raise TypeError(f"LoRALinear needs an nn.Linear base; {type(base).__name__} is not one")
        if r < 1:
            raise ValueError(f"r={r}: the rank must be at least 1")
        for p in base.parameters():
            p.requires_grad = False
        self.base = base
        self.scaling = alpha / r
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        kw = dict(dtype=base.weight.dtype, device=base.weight.device)
        self.lora_A = nn.Parameter(torch.empty((r, base.in_features), **kw))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros((base.out_features, r), **kw))
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged:
            return self.base(x)
        if isinstance(self.drop, nn.Dropout) and self.training:
            return self.base(x) + F.linear(F.linear(self.drop(x), self.lora_A), self.lora_B) * self.scaling
        return F.linear(x, self.base.weight + self.delta_weight(), self.base.bias)  # one matmul: nothing to drop

    @torch.no_grad()
    def merge(self) -> None:
        if self.merged:
            return
        self.base.weight.copy_(self.base.weight + self.delta_weight())
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if not self.merged:
            return
        self.base.weight.copy_(self.base.weight - self.delta_weight())
        self.merged = False


def _find(module: nn.Module, names: frozenset[str], out: list) -> None:
    for name, child in module.named_children():
        if name in names and isinstance(child, nn.Linear):
            out.append((module, name, child))
        else:
            _find(child, names, out)


def apply_lora(model: nn.Module, target_modules: Iterable[str] = ("q_proj", "v_proj"), r: int = 8,
               alpha: float = 16.0, dropout: float = 0.0) -> nn.Module:
    names = frozenset(target_modules)
    hits: list = []
    _find(model, names, hits)
    if not hits:
        raise ValueError(f"nothing in the model is an nn.Linear named one of {sorted(names)}")
    for p in model.parameters():
        p.requires_grad = False
    for parent, name, child in hits:
        setattr(parent, name, LoRALinear(child, r, alpha, dropout))
    return model


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    return {k: state[k] for k in state if "lora_" in k}


def load_lora_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    wanted = set(lora_state_dict(model))
    missing, extra = sorted(wanted - set(state_dict)), sorted(set(state_dict) - wanted)
    if missing:
        raise KeyError(f"the adapter lacks {missing}")
    if extra:
        raise KeyError(f"the adapter holds keys the model has no LoRA parameter for: {extra}")
    model.load_state_dict(dict(state_dict), strict=False)


def merge_lora(model: nn.Module) -> nn.Module:
    if isinstance(model, LoRALinear):
        model.merge()
        return model.base
    for name, child in list(model.named_children()):
        setattr(model, name, merge_lora(child))
    return model
