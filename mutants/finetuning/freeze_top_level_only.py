"""Pitfall: only the module's own parameters are frozen, not those of nested submodules (finetuning.freeze)."""

from __future__ import annotations

from solutions.finetuning import *  # noqa: F403


def freeze(module):
    for p in module.parameters(recurse=False):
        p.requires_grad_(False)
    return module
