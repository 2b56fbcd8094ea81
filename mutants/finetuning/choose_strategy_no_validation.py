"""Pitfall: impossible counts accepted (finetuning.choose_strategy).

A negative n_labeled or a model without parameters gets a strategy instead of a ValueError.
"""

from __future__ import annotations

from solutions.finetuning import *  # noqa: F403


def choose_strategy(n_labeled, similar_domain, model_params):
    if model_params >= 1_000_000_000:
        return "lora"
    if n_labeled < 1_000:
        return "linear_probe" if similar_domain else "partial"
    if n_labeled < 100_000:
        return "partial" if similar_domain else "full"
    return "full"
