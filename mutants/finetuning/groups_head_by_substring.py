"""Pitfall: the head found by "fc" anywhere in the parameter name (finetuning.trainable_param_groups).

A backbone layer named fc1 gets head_lr.
"""

from __future__ import annotations

from solutions.finetuning import *  # noqa: F403


def trainable_param_groups(model, head_lr, backbone_lr, weight_decay=0.0):
    groups = {}
    seen = set()
    for module_name, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            full = f"{module_name}.{name}" if module_name else name
            decays = not ("bias" in name or "norm" in type(module).__name__.lower())
            groups.setdefault(("fc" in full, decays), []).append(p)
    return [{"params": ps, "lr": head_lr if head else backbone_lr, "weight_decay": weight_decay if decays else 0.0}
            for (head, decays), ps in groups.items()]
