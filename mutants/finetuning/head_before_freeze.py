"""Pitfall: the head is created before freezing, and so frozen too (finetuning.prepare_linear_probe)."""

from __future__ import annotations

from solutions.finetuning import *  # noqa: F403
from solutions.finetuning import freeze, replace_head


def prepare_linear_probe(model, num_classes):
    replace_head(model, num_classes)
    return freeze(model)
