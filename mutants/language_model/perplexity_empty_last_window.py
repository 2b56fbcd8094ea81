"""Pitfall: an empty last window fed to the model when block_size divides N - 1 (language_model.perplexity)."""

from __future__ import annotations

import math  # noqa: F401 - read by the rebuilt perplexity
import types

import torch  # noqa: F401 - read by the rebuilt perplexity
import torch.nn.functional as F  # noqa: F401, N812 - read by the rebuilt perplexity

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403

_training_flags, _restore_training_flags = reference._training_flags, reference._restore_training_flags


def _windows(data, block_size):
    n_targets = data.shape[0] - 1
    out = reference._windows(data, block_size)
    if n_targets % block_size == 0:  # "the rest" is taken even when there is none
        out.append((data[n_targets:n_targets][None], data[n_targets + 1 :][None]))  # (1, 0) each
    return out


# perplexity as in the solution, but reading this module's _windows
perplexity = types.FunctionType(reference.perplexity.__code__, globals(), "perplexity",
                                reference.perplexity.__defaults__)
