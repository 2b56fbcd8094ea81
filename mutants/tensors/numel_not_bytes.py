"""Pitfall: tensor_nbytes counts elements (numel) instead of bytes (tensors.tensor_nbytes)."""

from __future__ import annotations

from solutions.tensors import *  # noqa: F403


def tensor_nbytes(t):
    return t.numel()
