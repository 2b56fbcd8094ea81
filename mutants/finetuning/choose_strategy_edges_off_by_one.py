"""Pitfall: the table's edges off by one (finetuning.choose_strategy).

1_000 labels still count as few, 100_000 as some, and 1e9 parameters are not yet 'lora'.
"""

from __future__ import annotations

from solutions.finetuning import *  # noqa: F403


def choose_strategy(n_labeled, similar_domain, model_params):
    if n_labeled < 0 or model_params <= 0:
        raise ValueError(f"n_labeled={n_labeled!r} and model_params={model_params!r} must be counts")
    if model_params > 1_000_000_000:
        return "lora"
    if n_labeled <= 1_000:
        return "linear_probe" if similar_domain else "partial"
    if n_labeled <= 100_000:
        return "partial" if similar_domain else "full"
    return "full"
