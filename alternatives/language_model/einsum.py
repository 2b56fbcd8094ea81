"""language_model, another correct style: einsum attention with masked_fill, a Gumbel-max sampler.

Rows stacked one by one, the loss by log_softmax and gather, attention heads written with einsum
over a registered causal buffer, default (unit-scale) initialisation, generation under
inference_mode with a top-k threshold from a sort, perplexity one window at a time.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class CharTokenizer:
    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.vocab_size = len(self.chars)
        self._index = dict(zip(self.chars, range(self.vocab_size)))

    def encode(self, s: str) -> torch.Tensor:
        out = torch.empty(len(s), dtype=torch.int64)
        for i, ch in enumerate(s):
            if ch not in self._index:
                raise ValueError(f"{ch!r} is not one of the {self.vocab_size} known characters")
            out[i] = self._index[ch]
        return out

    def decode(self, ids) -> str:
        ids = torch.as_tensor(ids, dtype=torch.int64).reshape(-1)
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.vocab_size):
            bad = ids[(ids < 0) | (ids >= self.vocab_size)][0].item()
            raise ValueError(f"token id {bad} out of range for vocab_size {self.vocab_size}")
        return "".join(map(self.chars.__getitem__, ids.tolist()))


def next_token_batch(data, block_size, batch_size, generator=None):
    n = data.numel()
    if n <= block_size:
        raise ValueError(f"{n} tokens cannot make a window of block_size={block_size} plus a target")
    starts = torch.randint(n - block_size, (batch_size,), generator=generator).tolist()
    x = torch.stack([data[s : s + block_size] for s in starts])
    y = torch.stack([data[s + 1 : s + 1 + block_size] for s in starts])
    return x, y


def lm_loss(logits, targets, ignore_index=-100):
    logp = torch.log_softmax(logits, dim=-1)  # (B, T, V)
    keep = targets != ignore_index
    picked = logp.gather(-1, torch.where(keep, targets, 0).unsqueeze(-1)).squeeze(-1)  # (B, T)
    return -(picked * keep).sum() / keep.sum()


class _CausalSelfAttention(nn.Module):
    def __init__(self, d_model, n_heads, block_size, dropout):
        super().__init__()
        self.h = n_heads
        self.q, self.k, self.v = (nn.Linear(d_model, d_model) for _ in range(3))
        self.o = nn.Linear(d_model, d_model)
        self.attn_drop = nn.Dropout(dropout)
        self.register_buffer("allowed", torch.tril(torch.ones(block_size, block_size, dtype=torch.bool)),
                             persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        d = C // self.h
        q, k, v = (f(x).reshape(B, T, self.h, d) for f in (self.q, self.k, self.v))
        scores = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(d)
        scores = scores.masked_fill(~self.allowed[:T, :T], float("-inf"))
        w = self.attn_drop(scores.softmax(dim=-1))
        return self.o(torch.einsum("bhts,bshd->bthd", w, v).reshape(B, T, C))


class _Block(nn.Module):
    def __init__(self, d_model, n_heads, block_size, dropout):
        super().__init__()
        self.norm_a, self.norm_b = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = _CausalSelfAttention(d_model, n_heads, block_size, dropout)
        self.up, self.down = nn.Linear(d_model, 4 * d_model), nn.Linear(4 * d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.drop(self.attn(self.norm_a(x)))
        return x + self.drop(self.down(torch.nn.functional.gelu(self.up(self.norm_b(x)))))


class TinyGPT(nn.Module):
    def __init__(self, vocab_size, block_size, d_model=64, n_heads=4, n_layers=2, dropout=0.0):
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(block_size, d_model)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, block_size, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.tok_emb.weight = self.head.weight  # tied the other way round: one Parameter either way
        nn.init.normal_(self.tok_emb.weight)  # nn.Embedding's own default: unit scale

    def forward(self, idx):
        if idx.shape[-1] > self.block_size:
            raise ValueError(f"sequence of length {idx.shape[-1]} > block_size {self.block_size}")
        positions = torch.arange(idx.shape[-1], device=idx.device)
        h = self.dropout(self.tok_emb(idx) + self.pos_emb(positions)[None])
        for blk in self.blocks:
            h = blk(h)
        return self.head(self.ln_f(h))


def _top_k_threshold(logits, k):
    k = min(k, logits.shape[-1])
    kth = logits.sort(dim=-1, descending=True).values[..., k - 1 : k]
    return torch.where(logits >= kth, logits, torch.full_like(logits, float("-inf")))


def _gumbel_max(logits, generator):
    u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(u.dtype).tiny)))
    return (logits + gumbel).argmax(dim=-1, keepdim=True)


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if top_k is not None and top_k <= 0:
        raise ValueError(f"top_k={top_k} keeps no token")
    saved = [m.training for m in model.modules()]
    model.train(False)
    try:
        with torch.inference_mode():
            out = idx.clone()
            for _ in range(max_new_tokens):
                last = model(out[:, max(0, out.shape[1] - model.block_size) :])[:, -1, :]
                if temperature == 0:
                    token = last.argmax(dim=-1, keepdim=True)
                else:
                    scaled = last / temperature
                    if top_k is not None:
                        scaled = _top_k_threshold(scaled, top_k)
                    token = _gumbel_max(scaled, generator)
                out = torch.cat([out, token], dim=-1)
            return out
    finally:
        for m, flag in zip(model.modules(), saved):
            m.training = flag


def perplexity(model, data, block_size, batch_size=32):
    n = data.shape[0]
    if n < 2:
        raise ValueError(f"len(data) = {n}: at least 2 tokens are needed")
    if block_size > model.block_size:
        raise ValueError(f"block_size={block_size} > model.block_size={model.block_size}")
    saved = [m.training for m in model.modules()]
    model.train(False)
    nll, count = torch.zeros((), dtype=torch.float64), 0
    try:
        with torch.inference_mode():
            starts = list(range(0, n - 1, block_size))
            # windows of the same length, batch_size of them per forward pass
            groups = [[s for s in starts if min(block_size, n - 1 - s) == t] for t in {min(block_size, n - 1 - s)
                                                                                       for s in starts}]
            for group in groups:
                for i in range(0, len(group), batch_size):
                    chunk = torch.tensor(group[i : i + batch_size], device=data.device)
                    t = min(block_size, n - 1 - group[0])
                    offsets = torch.arange(t, device=data.device)
                    x, target = data[chunk[:, None] + offsets], data[chunk[:, None] + offsets + 1]  # (b, t) each
                    logp = torch.log_softmax(model(x).double(), dim=-1)  # (b, t, V)
                    nll -= torch.einsum("btv,btv->", logp, nn.functional.one_hot(target, logp.shape[-1]).double()).cpu()
                    count += target.numel()
    finally:
        for m, flag in zip(model.modules(), saved):
            m.training = flag
    return math.exp(nll.item() / count)
