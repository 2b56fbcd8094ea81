"""Pitfall: post-LayerNorm blocks, the residual stream normalised in every block (language_model.TinyGPT)."""

from __future__ import annotations

from torch import nn

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


class TinyGPT(reference.TinyGPT):
    def __init__(self, vocab_size, block_size, d_model=64, n_heads=4, n_layers=2, dropout=0.0):
        super().__init__(vocab_size, block_size, d_model, n_heads, n_layers, dropout)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, n_heads, 4 * d_model, dropout, activation="gelu", batch_first=True,
                                       norm_first=False)
            for _ in range(n_layers)
        )
