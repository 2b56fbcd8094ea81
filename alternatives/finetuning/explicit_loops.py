"""finetuning, a correct style: explicit loops over parameters, a stage list sliced from the top, head membership
by identity, groups collected per module with recurse=False, the BatchNorm modes set in one pass."""

from __future__ import annotations

from torch import nn

_NORM_TYPES = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d,
    nn.LayerNorm, nn.GroupNorm, nn.RMSNorm,
)


def freeze(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.requires_grad = False
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.requires_grad = True
    return module


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    total = 0
    for p in module.parameters():
        if trainable_only and not p.requires_grad:
            continue
        total += p.numel()
    return total


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    width = model.fc.weight.shape[1]
    head = nn.Linear(width, num_classes)
    model.fc = head.to(device=model.fc.weight.device, dtype=model.fc.weight.dtype)
    return model


def prepare_linear_probe(model: nn.Module, num_classes: int) -> nn.Module:
    for p in model.parameters():
        p.requires_grad = False
    replace_head(model, num_classes)
    return model


def unfreeze_last_blocks(model: nn.Module, n: int) -> nn.Module:
    if n < 0 or n > 4:
        raise ValueError(f"n={n} is outside 0..4")
    freeze(model)
    unfreeze(model.fc)
    stages = [model.layer1, model.layer2, model.layer3, model.layer4]
    for stage in stages[len(stages) - n:]:
        unfreeze(stage)
    return model


def trainable_param_groups(model: nn.Module, head_lr: float, backbone_lr: float,
                           weight_decay: float = 0.0) -> list[dict]:
    fc = getattr(model, "fc", None)
    head_ids = set() if fc is None else {id(p) for p in fc.parameters()}
    head_decay, head_plain, body_decay, body_plain = [], [], [], []
    seen = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if id(p) in seen or not p.requires_grad:
                continue
            seen.add(id(p))
            plain = "bias" in name or isinstance(module, _NORM_TYPES)
            if id(p) in head_ids:
                (head_plain if plain else head_decay).append(p)
            else:
                (body_plain if plain else body_decay).append(p)
    groups = [
        {"params": head_decay, "lr": head_lr, "weight_decay": weight_decay},
        {"params": head_plain, "lr": head_lr, "weight_decay": 0.0},
        {"params": body_decay, "lr": backbone_lr, "weight_decay": weight_decay},
        {"params": body_plain, "lr": backbone_lr, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def set_train_mode(model: nn.Module) -> nn.Module:
    for module in model.modules():
        frozen_bn = (
            isinstance(module, nn.modules.batchnorm._BatchNorm)
            and len(list(module.parameters())) > 0
            and not any(p.requires_grad for p in module.parameters())
        )
        module.training = not frozen_bn
    return model


def choose_strategy(n_labeled: int, similar_domain: bool, model_params: int) -> str:
    if n_labeled < 0 or model_params < 1:
        bad = "n_labeled" if n_labeled < 0 else "model_params"
        raise ValueError(f"{bad} cannot be {n_labeled if n_labeled < 0 else model_params}")
    # the table's rows as (is it this row?, strategy), walked in order
    rows = [
        (model_params >= 10**9, "lora"),
        (n_labeled < 10**3 and similar_domain, "linear_probe"),
        (n_labeled < 10**3, "partial"),
        (n_labeled < 10**5 and similar_domain, "partial"),
    ]
    for applies, strategy in rows:
        if applies:
            return strategy
    return "full"
