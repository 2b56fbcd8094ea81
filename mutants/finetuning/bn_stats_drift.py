"""Pitfall: set_train_mode is plain model.train(), so frozen BatchNorm statistics drift (finetuning.set_train_mode)."""

from __future__ import annotations

from solutions.finetuning import *  # noqa: F403


def set_train_mode(model):
    return model.train()
