"""Pitfall: a True-may-attend mask given to nn.TransformerEncoderLayer (language_model.TinyGPT).

A tril mask (True = may attend) given to nn.TransformerEncoderLayer, which blocks where True."""

from __future__ import annotations

import torch

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


class TinyGPT(reference.TinyGPT):
    def forward(self, idx):
        B, T = idx.shape
        if T > self.block_size:
            raise ValueError(f"T={T} > block_size={self.block_size}")
        x = self.drop(self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device)))
        mask = torch.ones(T, T, dtype=torch.bool, device=idx.device).tril()  # the SDPA convention, wrong here
        for block in self.blocks:
            x = block(x, src_mask=mask)
        return self.head(self.ln_f(x))
