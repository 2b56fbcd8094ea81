"""Pitfall: "freezing" with model.eval(); the parameters still get gradients and move (finetuning.freeze)."""

from __future__ import annotations

from solutions.finetuning import *  # noqa: F403


def freeze(module):
    module.eval()
    return module
