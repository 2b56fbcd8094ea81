"""Pitfall: a short input gets the last T positions of block_size (language_model.TinyGPT).

A short input gets the LAST T positions of block_size, so a position's meaning depends on the length."""

from __future__ import annotations

import torch

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


class TinyGPT(reference.TinyGPT):
    def forward(self, idx):
        B, T = idx.shape
        if T > self.block_size:
            raise ValueError(f"T={T} > block_size={self.block_size}")
        pos = torch.arange(self.block_size - T, self.block_size, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        mask = torch.ones(T, T, dtype=torch.bool, device=idx.device).triu(1)
        for block in self.blocks:
            x = block(x, src_mask=mask)
        return self.head(self.ln_f(x))
