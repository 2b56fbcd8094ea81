"""language_model, another correct style: hand-written blocks on F.scaled_dot_product_attention(is_causal=True).

Windows by unfold, the loss on flatten(0, 1), sampling with torch.multinomial under a no_grad
decorator, top-k through torch.topk, perplexity on padded windows with ignore_index.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class CharTokenizer:
    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.vocab_size = len(self.chars)
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    def encode(self, s: str) -> torch.Tensor:
        try:
            return torch.tensor([self.stoi[c] for c in s], dtype=torch.long)
        except KeyError as err:
            raise ValueError(f"unknown character {err.args[0]!r}") from None

    def decode(self, ids) -> str:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"id {bad[0]} not in [0, {self.vocab_size})")
        return "".join(self.chars[i] for i in ids)


def next_token_batch(data, block_size, batch_size, generator=None):
    if len(data) <= block_size:
        raise ValueError(f"len(data)={len(data)} must exceed block_size={block_size}")
    windows = data.unfold(0, block_size + 1, 1)  # (N - T, T + 1) views
    starts = torch.randint(0, windows.shape[0], (batch_size,), generator=generator).to(data.device)
    chosen = windows[starts]
    return chosen[:, :block_size].contiguous(), chosen[:, 1:].contiguous()


def lm_loss(logits, targets, ignore_index=-100):
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=ignore_index)


class _Block(nn.Module):
    def __init__(self, d_model, n_heads, dropout):
        super().__init__()
        self.n_heads, self.p = n_heads, dropout
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, k, v = (t.view(B, T, self.n_heads, -1).transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.p if self.training else 0.0)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(B, T, C)))
        return x + self.drop(self.mlp(self.ln2(x)))


class TinyGPT(nn.Module):
    def __init__(self, vocab_size, block_size, d_model=64, n_heads=4, n_layers=2, dropout=0.0):
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(block_size, d_model)
        self.emb_drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([_Block(d_model, n_heads, dropout) for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight
        self.apply(self._init)

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, 0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def forward(self, idx):
        T = idx.size(1)
        if T > self.block_size:
            raise ValueError(f"got {T} tokens, block_size is {self.block_size}")
        x = self.emb_drop(self.tok_emb(idx) + self.pos_emb.weight[:T])
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


@torch.no_grad()
def _continue(model, idx, max_new_tokens, temperature, top_k, generator):
    for _ in range(max_new_tokens):
        logits = model(idx[:, -model.block_size :])[:, -1]
        if temperature == 0:
            nxt = logits.argmax(-1, keepdim=True)
        else:
            logits = logits / temperature
            if top_k is not None:
                values, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < values[:, [-1]]] = -math.inf
            nxt = torch.multinomial(logits.softmax(-1), 1, generator=generator)
        idx = torch.cat((idx, nxt), 1)
    return idx


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    if temperature < 0:
        raise ValueError(f"negative temperature {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be positive, got {top_k}")
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        return _continue(model, idx, max_new_tokens, temperature, top_k, generator)
    finally:
        for m, mode in modes:  # parents first, so each child's own mode is set after its parent's
            m.train(mode)


@torch.no_grad()
def _nll_sum(model, data, block_size, batch_size):
    n = len(data)
    starts = list(range(0, n - 1, block_size))
    total = 0.0
    for i in range(0, len(starts), batch_size):
        chunk = starts[i : i + batch_size]
        x = torch.zeros(len(chunk), block_size, dtype=torch.long, device=data.device)
        y = torch.full((len(chunk), block_size), -100, dtype=torch.long, device=data.device)
        width = 0
        for r, s in enumerate(chunk):
            length = min(block_size, n - 1 - s)
            x[r, :length], y[r, :length] = data[s : s + length], data[s + 1 : s + 1 + length]
            width = max(width, length)
        logits = model(x[:, :width]).float()  # float32 is plenty for a perplexity
        total += F.cross_entropy(logits.flatten(0, 1), y[:, :width].flatten(), reduction="sum").item()
    return total


def perplexity(model, data, block_size, batch_size=32):
    if len(data) < 2:
        raise ValueError(f"need len(data) >= 2, got {len(data)}")
    if block_size > model.block_size:
        raise ValueError(f"block_size {block_size} exceeds the model's {model.block_size}")
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        return math.exp(_nll_sum(model, data, block_size, batch_size) / (len(data) - 1))
    finally:
        for m, mode in modes.items():
            m.training = mode
