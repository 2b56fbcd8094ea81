"""Pitfall: the vocabulary in order of first occurrence, not sorted (language_model.CharTokenizer).

The vocabulary in order of first occurrence, so the ids depend on the text's order."""

from __future__ import annotations

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


class CharTokenizer(reference.CharTokenizer):
    def __init__(self, text):
        super().__init__(text)
        self.chars = list(dict.fromkeys(text))
        self._ids = {ch: i for i, ch in enumerate(self.chars)}
