"""lora - LoRA: low-rank adaptation of a frozen model.

Fine-tuning every weight of a big model costs a full copy of its parameters (and their optimiser
state) per task. LoRA freezes the pretrained weight ``W`` of a linear layer and learns a low-rank
update beside it, ``delta_W = B @ A * (alpha / r)`` with ``A`` of shape ``(r, in)`` and ``B`` of
shape ``(out, r)``, ``r`` much smaller than ``in`` and ``out``:

    y = x @ W.T + b + (dropout(x) @ A.T @ B.T) * alpha / r

``B`` starts at zero, so the adapted model starts out computing exactly what the pretrained one
did; ``A`` starts random, so the gradient of ``B`` is not zero and training can move. After
training, ``delta_W`` folds into ``W`` ("merge") and the deployed layer costs nothing extra.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update ``B @ A * (alpha / r)``.

    Args:
        base: the pretrained ``nn.Linear`` (``in_features -> out_features``); it is frozen
            (``requires_grad=False`` on its weight and bias) and kept as the layer's base.
        r: the rank of the update, an int ``>= 1``.
        alpha: the update's scale numerator: ``scaling = alpha / r``.
        dropout: probability of the dropout applied to the input of the LoRA path only, and
            only in train mode (``nn.Dropout``); the base path never sees it.

    Attributes:
        lora_A: ``nn.Parameter`` of shape ``(r, in_features)``, Kaiming-uniform with
            ``a=sqrt(5)`` like ``nn.Linear`` weights (values within ``+-1/sqrt(in_features)``).
        lora_B: ``nn.Parameter`` of shape ``(out_features, r)``, zeros.
            Both take the dtype and device of ``base.weight``.
        scaling: ``alpha / r``.
        merged: True while the update is folded into ``base.weight``.

    Raises:
        TypeError: ``base`` is not an ``nn.Linear`` (the message names its type); subclasses of
            ``nn.Linear`` are ``nn.Linear`` layers and are accepted.
        ValueError: ``r < 1`` (the message names ``r``).

    Pitfalls: a random ``lora_B`` changes the model's output before any training; scaling by
    ``r / alpha`` instead of ``alpha / r``; a base left trainable is full fine-tuning in disguise;
    dropout on the base path, or in eval mode, corrupts the pretrained computation.
    """

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got base of type {type(base).__name__}")
        if r < 1:
            raise ValueError(f"the rank r must be >= 1, got r={r}")
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.r, self.alpha = r, alpha
        self.scaling = alpha / r
        factory = {"dtype": base.weight.dtype, "device": base.weight.device}
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, **factory))  # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, **factory))  # (out, r)
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout)
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        """The update ``lora_B @ lora_A * scaling``, shape ``(out_features, in_features)``."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` of shape ``(*, in_features)`` -> ``(*, out_features)``.

        ``*`` is any number of leading dimensions, none included (a single 1-D sample, as
        ``nn.Linear`` takes), and ``x`` may be a non-contiguous view (transposed, sliced).

        Unmerged: ``base(x) + (dropout(x) @ lora_A.T @ lora_B.T) * scaling``; merged: ``base(x)``
        (the update already lives in ``base.weight``; adding it again would count it twice).
        """
        out = self.base(x)
        if self.merged:
            return out
        return out + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """Fold ``lora_B @ lora_A * scaling`` into ``base.weight`` in place; no-op when merged.

        The base stays frozen: ``base.weight`` records no graph and does not require grad.
        """
        if self.merged:
            return
        self.base.weight += self.delta_weight()
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the update back out of ``base.weight``; no-op when not merged (the base stays frozen)."""
        if not self.merged:
            return
        self.base.weight -= self.delta_weight()
        self.merged = False


def apply_lora(
    model: nn.Module,
    target_modules: Iterable[str] = ("q_proj", "v_proj"),
    r: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.0,
) -> nn.Module:
    """Wrap, in place, every ``nn.Linear`` of ``model`` whose attribute name is in ``target_modules``.

    ``target_modules`` is any iterable of names (a tuple, a list, a set, a generator); an
    ``nn.Linear`` includes its subclasses.

    A layer at the path ``blocks.0.attn.q_proj`` has the attribute name ``q_proj`` (the last part
    of its path); it matches ``"q_proj"``, and ``q_proj_extra`` or ``my_q_proj`` do not. Every
    other parameter of the model is frozen, so only the ``lora_A`` / ``lora_B`` of the new
    ``LoRALinear`` layers (with the given ``r``, ``alpha``, ``dropout``) train.

    Returns:
        ``model`` itself.

    Raises:
        ValueError: no ``nn.Linear`` matched (the message names ``target_modules``); the model
            is left unchanged (nothing frozen, nothing wrapped).

    Pitfall: matching by substring of the full path (``"q_proj" in "blocks.0.q_proj_extra"``)
    adapts layers nobody asked for.
    """
    targets = set(target_modules)
    found = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if name in targets and isinstance(child, nn.Linear)
    ]
    if not found:
        raise ValueError(f"no nn.Linear of the model is named any of target_modules={tuple(target_modules)}")
    for p in model.parameters():
        p.requires_grad_(False)
    for parent, name, child in found:
        setattr(parent, name, LoRALinear(child, r=r, alpha=alpha, dropout=dropout))
    return model


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the LoRA parameters of ``model``: ``{path: tensor}`` for every key containing ``lora_``.

    This is the adapter: a few kilobytes to ship per task, beside one shared frozen base model.

    Pitfall: saving ``model.state_dict()`` stores the whole model again for every adapter.
    """
    return {key: value for key, value in model.state_dict().items() if "lora_" in key}


def load_lora_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Copy an adapter saved by ``lora_state_dict`` into ``model`` (already ``apply_lora``'d), in place.

    The values are copied into the model's own parameters, which keep their dtype and device (an
    adapter saved in float32 loads into a float64 model as float64).

    Raises:
        KeyError: a LoRA parameter of ``model`` is missing from ``state_dict``, or ``state_dict``
            holds a key that is not a LoRA parameter of ``model`` (the message names the key).
    """
    expected = lora_state_dict(model).keys()
    missing = sorted(expected - state_dict.keys())
    unexpected = sorted(state_dict.keys() - expected)
    if missing or unexpected:
        raise KeyError(f"adapter does not fit the model: missing keys {missing}, unexpected keys {unexpected}")
    model.load_state_dict(state_dict, strict=False)


@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """Replace, in place, every ``LoRALinear`` of ``model`` by a plain ``nn.Linear`` with the merged weight.

    The new layer computes what the adapted one did (``W + B @ A * alpha / r``, same bias, dtype
    and device) with zero overhead at inference. A layer that is already merged is not merged
    twice. Returns ``model``; if ``model`` itself is a ``LoRALinear``, returns its merged base.
    """
    if isinstance(model, LoRALinear):
        model.merge()
        return model.base
    found = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, LoRALinear)
    ]
    for parent, name, child in found:
        child.merge()
        setattr(parent, name, child.base)
    return model


if __name__ == "__main__":  # python -m solutions.lora: the concept at work, with real numbers
    from demos import run

    run("lora")
