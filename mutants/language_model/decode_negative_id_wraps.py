"""Pitfall: a negative id decodes as a character from the end (language_model.CharTokenizer).

Decode indexes chars with any id, so -1 silently decodes as the last character."""

from __future__ import annotations

import torch

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


class CharTokenizer(reference.CharTokenizer):
    def decode(self, ids):
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        for i in ids:
            if i >= self.vocab_size:
                raise ValueError(f"token id {i} is outside the vocabulary [0, {self.vocab_size})")
        return "".join(self.chars[i] for i in ids)
