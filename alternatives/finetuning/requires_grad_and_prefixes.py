"""finetuning, a correct style: Module.requires_grad_ for freezing, parameter names and prefixes for stages and the
head, a module lookup table for norm layers, model.apply for the BatchNorm modes."""

from __future__ import annotations

import bisect

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

_NORMS = (_BatchNorm, _InstanceNorm, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)


def freeze(module: nn.Module) -> nn.Module:
    return module.requires_grad_(False)


def unfreeze(module: nn.Module) -> nn.Module:
    return module.requires_grad_(True)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    unique = {id(p): p for p in module.parameters()}  # parameters() already skips duplicates; this says it twice
    return int(sum(p.numel() for p in unique.values() if p.requires_grad or not trainable_only))


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    old = model.fc
    w = old.weight
    model.fc = nn.Linear(old.in_features, num_classes, device=w.device, dtype=w.dtype)
    return model


def prepare_linear_probe(model: nn.Module, num_classes: int) -> nn.Module:
    return replace_head(freeze(model), num_classes)


def unfreeze_last_blocks(model: nn.Module, n: int) -> nn.Module:
    if n not in range(5):
        raise ValueError(f"unfreeze_last_blocks: n must be 0..4, got n={n}")
    thawed = ("fc.", *(f"layer{i}." for i in range(4, 4 - n, -1)))
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(thawed))
    return model


def trainable_param_groups(model: nn.Module, head_lr: float, backbone_lr: float,
                           weight_decay: float = 0.0) -> list[dict]:
    modules = dict(model.named_modules())
    head = {id(p) for p in model.fc.parameters()} if hasattr(model, "fc") else set()
    buckets: dict[tuple[float, float], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        owner, _, leaf = name.rpartition(".")
        exempt = "bias" in leaf or isinstance(modules[owner], _NORMS)
        key = (head_lr if id(p) in head else backbone_lr, 0.0 if exempt else weight_decay)
        buckets.setdefault(key, []).append(p)
    return [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in buckets.items()]


def set_train_mode(model: nn.Module) -> nn.Module:
    model.train()

    def settle(m: nn.Module) -> None:
        ps = list(m.parameters())
        if isinstance(m, _BatchNorm) and ps and all(not p.requires_grad for p in ps):
            m.train(False)

    model.apply(settle)
    return model


def choose_strategy(n_labeled: int, similar_domain: bool, model_params: int) -> str:
    for name, value, low in (("n_labeled", n_labeled, 0), ("model_params", model_params, 1)):
        if value < low:
            raise ValueError(f"{name}={value} is below {low}")
    if model_params >= 1e9:
        return "lora"
    band = bisect.bisect_right([1_000, 100_000], n_labeled)  # 0: few labels, 1: some, 2: plenty
    return [("partial", "linear_probe"), ("full", "partial"), ("full", "full")][band][similar_domain]
