"""Pitfall: the strategy ignores data and model size: always full fine-tuning (finetuning.choose_strategy)."""

from __future__ import annotations

from solutions.finetuning import *  # noqa: F403


def choose_strategy(n_labeled, similar_domain, model_params):
    return "full"
