"""Pitfall: tensor_nbytes reads the storage's size, which counts a view's whole base (tensors.tensor_nbytes)."""

from __future__ import annotations

from solutions.tensors import *  # noqa: F403


def tensor_nbytes(t):
    return t.untyped_storage().nbytes()
