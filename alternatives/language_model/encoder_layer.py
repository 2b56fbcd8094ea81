"""language_model, another correct style: nn.TransformerEncoderLayer blocks with an additive float mask.

Starts drawn with torch.multinomial over uniform weights, the loss as nll_loss on the (B, V, T)
class-second layout, the causal mask from nn.Transformer.generate_square_subsequent_mask (0 where
allowed, -inf where not), sampling by inverse CDF on torch.distributions.Categorical's probs,
perplexity from windows cut with unfold.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical


class CharTokenizer:
    def __init__(self, text: str):
        self.chars = sorted({*text})
        self.vocab_size = len(self.chars)
        self._lookup = {ch: i for i, ch in enumerate(self.chars)}

    def encode(self, s: str) -> torch.Tensor:
        missing = [ch for ch in s if ch not in self._lookup]
        if missing:
            raise ValueError(f"character {missing[0]!r} is outside the vocabulary")
        return torch.tensor(list(map(self._lookup.__getitem__, s)), dtype=torch.int64)

    def decode(self, ids) -> str:
        if torch.is_tensor(ids):
            ids = ids.tolist()
        chars = []
        for i in ids:
            if i < 0 or i >= self.vocab_size:
                raise ValueError(f"id {i} is not in range(0, {self.vocab_size})")
            chars.append(self.chars[i])
        return "".join(chars)


def next_token_batch(data, block_size, batch_size, generator=None):
    n_starts = data.shape[0] - block_size
    if n_starts < 1:
        raise ValueError(f"data holds {data.shape[0]} tokens; block_size={block_size} needs at least one more")
    starts = torch.multinomial(torch.ones(n_starts), batch_size, replacement=True, generator=generator)
    idx = (starts.unsqueeze(1) + torch.arange(block_size + 1).unsqueeze(0)).to(data.device)  # (B, T+1)
    window = data[idx]
    return window[:, :-1], window[:, 1:]


def lm_loss(logits, targets, ignore_index=-100):
    # nll_loss takes (N, C, d1): move the vocabulary to axis 1 instead of flattening
    return F.nll_loss(F.log_softmax(logits, dim=-1).transpose(1, 2), targets, ignore_index=ignore_index)


class TinyGPT(nn.Module):
    def __init__(self, vocab_size, block_size, d_model=64, n_heads=4, n_layers=2, dropout=0.0):
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(block_size, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([
            nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=2 * d_model, dropout=dropout,
                                       activation=F.gelu, batch_first=True, norm_first=True)
            for _ in range(n_layers)
        ])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        with torch.no_grad():
            self.tok_emb.weight.mul_(0.1)
        self.head.weight = self.tok_emb.weight

    def forward(self, idx):
        n, t = idx.shape
        if not 1 <= t <= self.block_size:
            raise ValueError(f"TinyGPT takes 1 to {self.block_size} tokens, got T={t}")
        h = self.drop(self.tok_emb(idx) + self.pos_emb(torch.arange(t, device=idx.device)))
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=idx.device, dtype=h.dtype)
        for layer in self.blocks:
            h = layer(h, src_mask=mask, is_causal=True)
        return self.head(self.ln_f(h))


class _Modes:
    """Remembers every submodule's training flag and puts it back on exit, however the block ends."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.flags = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        return self

    def __exit__(self, *exc):
        for m, flag in self.flags:
            m.training = flag
        return False


def _inverse_cdf(logits, generator):
    probs = Categorical(logits=logits).probs  # (B, V), rows sum to 1
    cdf = probs.cumsum(-1)
    u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device, dtype=probs.dtype) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).clamp_max(probs.shape[-1] - 1)


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    if temperature < 0:
        raise ValueError(f"temperature={temperature} is negative")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k={top_k} is below 1")
    pieces = [idx]
    seq = idx
    with _Modes(model), torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model(seq[:, -model.block_size :])[:, -1, :].float()
            if temperature == 0:
                nxt = torch.argmax(logits, dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None and top_k < logits.shape[-1]:
                    kth = torch.kthvalue(logits, logits.shape[-1] - top_k + 1, dim=-1, keepdim=True).values
                    logits = logits.masked_fill(logits < kth, -math.inf)
                nxt = _inverse_cdf(logits, generator)
            pieces.append(nxt)
            seq = torch.cat([seq, nxt], dim=1)
    return torch.cat(pieces, dim=1)


def perplexity(model, data, block_size, batch_size=32):
    if data.shape[0] < 2:
        raise ValueError(f"len(data)={data.shape[0]}, need 2 or more")
    if block_size > model.block_size:
        raise ValueError(f"requested block_size={block_size} exceeds model.block_size={model.block_size}")
    inputs, targets = data[:-1], data[1:]
    m = inputs.shape[0]
    full = m // block_size * block_size
    chunks = []
    if full:
        cut = (inputs[:full].unfold(0, block_size, block_size), targets[:full].unfold(0, block_size, block_size))
        chunks.append(cut)
    if full < m:
        chunks.append((inputs[full:].unsqueeze(0), targets[full:].unsqueeze(0)))
    total = 0.0
    with _Modes(model), torch.no_grad():
        for xs, ys in chunks:
            for b in range(0, xs.shape[0], batch_size):
                logits = model(xs[b : b + batch_size]).to(torch.float64)
                total += F.cross_entropy(logits.transpose(1, 2), ys[b : b + batch_size], reduction="sum").item()
    return math.exp(total / m)
