"""Language model: pretrain a tiny character-level GPT, then generate from it and measure it.

Everything of the Transformer topic comes together in one model: token embeddings, learned
positional embeddings, causal self-attention, feed-forward blocks and a head tied to the token
embedding. Pretraining is nothing but next-token prediction on raw text: the targets are the inputs
shifted by one, so any text is its own labels. Inference is not training: generation runs without
autograd and with dropout off, one token at a time, each step fed the last ``block_size`` tokens.

Shapes: ``B`` batch, ``T`` sequence length (at most ``block_size``), ``V`` vocabulary size,
``d_model`` the width of the model. Token ids are int64.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _training_flags(model: nn.Module) -> dict[nn.Module, bool]:
    """Every submodule's own `training` flag (the model itself included)."""
    return {module: module.training for module in model.modules()}


def _restore_training_flags(flags: dict[nn.Module, bool]) -> None:
    # Each module gets its own flag back: model.train(was) would push one value down to every child.
    for module, was_training in flags.items():
        module.training = was_training


# ---------------------------------------------------------------- CharTokenizer


class CharTokenizer:
    """A character-level tokenizer: one token id per distinct character of a text.

    ``CharTokenizer(text)`` builds the vocabulary: ``chars`` (``list[str]``) holds the distinct
    characters of ``text`` in sorted order, so character ``chars[i]`` has id ``i``, and
    ``vocab_size`` (``int``) is ``len(chars)``.

    - ``encode(s: str) -> Tensor (len(s),)`` int64 ids (an empty string gives an empty tensor).
    - ``decode(ids) -> str`` for a 1-D tensor of ids or a list of ints.

    Raises:
        ValueError: ``encode`` meets a character that is not in the vocabulary (the message names
            it); ``decode`` meets an id outside ``[0, vocab_size)`` (the message names it; a
            negative id must not wrap around to the end of the vocabulary).

    Pitfall: ``list(set(text))`` gives the characters in hash order, which changes from one Python
    process to the next: a model saved with one order decodes garbage with another. Sort them.
    """

    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.vocab_size = len(self.chars)
        self._ids = {ch: i for i, ch in enumerate(self.chars)}

    def encode(self, s: str) -> torch.Tensor:
        """``s`` -> int64 ids ``(len(s),)``; a character outside the vocabulary raises ValueError."""
        ids = []
        for ch in s:
            if ch not in self._ids:
                raise ValueError(f"character {ch!r} is not in the vocabulary of {self.vocab_size} characters")
            ids.append(self._ids[ch])
        return torch.tensor(ids, dtype=torch.int64)

    def decode(self, ids) -> str:
        """A 1-D tensor or a list of ids -> the string; an id outside [0, vocab_size) raises ValueError."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        out = []
        for i in ids:
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} is outside the vocabulary [0, {self.vocab_size})")
            out.append(self.chars[i])
        return "".join(out)


# ---------------------------------------------------------------- next_token_batch


def next_token_batch(
    data: torch.Tensor, block_size: int, batch_size: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch of next-token examples: inputs and the same windows shifted by one.

    Args:
        data: a 1-D int64 tensor of ``N`` token ids (the whole text), on any device.
        block_size: the length ``T`` of every window.
        batch_size: the number of windows ``B``.
        generator: a CPU ``torch.Generator`` for the starts; ``None`` uses torch's global one.

    Returns:
        ``(x, y)``, both int64 ``(B, T)`` on ``data``'s device. Each row draws a start ``s``
        uniformly from ``0 .. N - T - 1`` (every start that leaves room for the targets, the last
        one included), independently of the other rows (with replacement), and holds
        ``x[b] = data[s : s + T]``, ``y[b] = data[s + 1 : s + T + 1]``. The same generator state
        gives the same batch.

    Raises:
        ValueError: ``N <= block_size`` (no window has a target for its last token; the message
            names both).

    Pitfalls: ``y = x`` teaches the model to copy its input (the targets must be shifted by one);
    ``randint(N - T - 1)`` never draws the last start (``randint``'s upper bound is exclusive), so
    the last token of the text is never a target.
    """
    n = data.shape[0]
    if n <= block_size:
        raise ValueError(f"data has N={n} tokens, need more than block_size={block_size}")
    starts = torch.randint(n - block_size, (batch_size,), generator=generator)  # (B,) in 0 .. N-T-1
    offsets = torch.arange(block_size + 1)  # (T+1,)
    windows = data[(starts[:, None] + offsets).to(data.device)]  # (B, T+1)
    return windows[:, :-1], windows[:, 1:]  # (B, T), (B, T)


# ---------------------------------------------------------------- lm_loss


def lm_loss(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """The language-modelling loss: mean cross-entropy of every next-token prediction.

    Args:
        logits: ``(B, T, V)`` float, one score per vocabulary entry at every position.
        targets: ``(B, T)`` int64, the id that should come next at every position.
        ignore_index: a target with this value takes no part in the loss (padding).

    Returns:
        a scalar tensor in the dtype of ``logits``, with a graph: the mean over every position
        whose target is not ``ignore_index`` of ``-log softmax(logits)[target]``, i.e.
        ``F.cross_entropy`` on the flattened ``(B*T, V)`` logits and ``(B*T,)`` targets.

    Pitfall: ``F.cross_entropy(logits, targets)`` on the 3-D logits reads them as ``(N, C, d1)``:
    the class axis is taken to be the time axis. It raises when ``T != V`` and silently computes
    nonsense when ``T == V``. Flatten first (``reshape``, which also copes with non-contiguous
    logits where ``view`` fails).
    """
    B, T, V = logits.shape
    flat_logits, flat_targets = logits.reshape(B * T, V), targets.reshape(B * T)  # (B*T, V), (B*T,)
    return F.cross_entropy(flat_logits, flat_targets, ignore_index=ignore_index)


# ---------------------------------------------------------------- TinyGPT


class TinyGPT(nn.Module):
    """A small decoder-only Transformer: token ids ``(B, T)`` -> next-token logits ``(B, T, V)``.

    ``TinyGPT(vocab_size, block_size, d_model=64, n_heads=4, n_layers=2, dropout=0.0)`` with
    submodules

    - ``tok_emb``: ``nn.Embedding(vocab_size, d_model)``, what each token means;
    - ``pos_emb``: ``nn.Embedding(block_size, d_model)``, learned positions ``0 .. T-1``, added to
      the token embeddings as they are: ``tok_emb(idx) + pos_emb(positions)`` (no scale factor) is
      what the first block reads, after dropout;
    - ``blocks``: an ``nn.ModuleList`` of ``n_layers`` pre-LayerNorm Transformer blocks, each causal
      self-attention then a feed-forward network, both on the residual stream (any correct
      implementation: the feed-forward width, activation and initialisation are yours);
    - ``ln_f``: ``nn.LayerNorm(d_model)``, the final norm;
    - ``head``: ``nn.Linear(d_model, vocab_size, bias=False)`` whose ``weight`` IS
      ``tok_emb.weight`` (the very same Parameter: weight tying);

    and the attribute ``block_size``. ``forward(idx (B, T) int64) -> (B, T, vocab_size)`` for any
    ``1 <= T <= block_size``, in the dtype of the parameters. Causal: the logits at position ``t``
    depend only on ``idx[:, : t + 1]``.

    Raises:
        ValueError: ``T > block_size`` in ``forward`` (there is no learned position for it; the
            message names ``T``).

    Pitfalls: without the causal mask each position sees the token it has to predict (training
    loss near zero, generation garbage); ``nn.TransformerEncoderLayer`` reads a boolean mask as
    True = NOT allowed, the opposite of ``F.scaled_dot_product_attention``, so a ``tril`` mask
    there lets every token see only the future; without positional embeddings attention treats
    the context as a bag of characters; an untied head has its own ``V x d_model`` weight to learn.
    """

    def __init__(
        self, vocab_size: int, block_size: int, d_model: int = 64, n_heads: int = 4, n_layers: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(block_size, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, n_heads, 4 * d_model, dropout, activation="gelu",
                                       batch_first=True, norm_first=True)
            for _ in range(n_layers)
        )
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying: one Parameter, two uses
        nn.init.normal_(self.tok_emb.weight, std=0.02)  # small logits at the start: loss near log(V)
        nn.init.normal_(self.pos_emb.weight, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, vocab_size)`` for token ids ``idx (B, T)``; see the class docstring."""
        B, T = idx.shape
        if T > self.block_size:
            raise ValueError(f"sequence length T={T} is longer than block_size={self.block_size}")
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))  # (B, T, d_model) + (T, d_model)
        # nn.TransformerEncoderLayer: a boolean mask is True where attention is NOT allowed, the future
        future = torch.ones(T, T, dtype=torch.bool, device=idx.device).triu(1)  # (T, T)
        for block in self.blocks:
            x = block(x, src_mask=future)  # (B, T, d_model)
        return self.head(self.ln_f(x))  # (B, T, V)


# ---------------------------------------------------------------- generate


def generate(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Continue the prompts ``idx`` by ``max_new_tokens`` tokens, one token per step.

    Each step makes one forward call on the last ``min(T, model.block_size)`` tokens, takes the
    logits of the LAST position ``(B, V)``, divides them by ``temperature``, keeps only the
    ``top_k`` largest when ``top_k`` is given (the others get probability 0; a ``top_k`` above the
    vocabulary size keeps every token) and samples one token per row from the softmax with
    ``generator``. ``temperature == 0`` means greedy: the argmax, no sampling, no division.

    Args:
        model: any module with a ``block_size`` attribute mapping ids ``(B, T)`` to logits
            ``(B, T, V)``, e.g. a ``TinyGPT``.
        idx: the prompts, int64 ``(B, T0)`` on the model's device (``T0`` may exceed
            ``block_size``).
        max_new_tokens: how many tokens to append.
        temperature: ``> 0`` sharpens (``< 1``) or flattens (``> 1``) the distribution; ``0`` is greedy.
        top_k: sample only among the ``top_k`` most likely tokens; ``None`` keeps them all.
        generator: a ``torch.Generator`` on the model's device; ``None`` uses the global one.

    Returns:
        int64 ``(B, T0 + max_new_tokens)``: the prompts followed by the new tokens. Runs without
        autograd and in eval mode (dropout off), and leaves every submodule's ``training`` flag as
        it was, also when the model raises.

    Raises:
        ValueError: ``temperature < 0`` or ``top_k < 1`` (the message names the value).

    Pitfalls: sampling from the first position's logits instead of the last; feeding the whole
    growing sequence (past ``block_size`` the model has no positions for it); generating in
    training mode (dropout makes the model worse and random); ``logits / 0`` for greedy decoding;
    returning only the new tokens.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got temperature={temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got top_k={top_k}")
    flags = _training_flags(model)
    model.eval()
    try:
        with torch.no_grad():
            for _ in range(max_new_tokens):
                context = idx[:, -model.block_size :]  # (B, min(T, block_size))
                logits = model(context)[:, -1, :]  # (B, V): the prediction for the next position
                if temperature == 0:
                    next_id = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
                else:
                    logits = logits / temperature
                    if top_k is not None:
                        k = min(top_k, logits.shape[-1])
                        kth = torch.topk(logits, k, dim=-1).values[:, -1:]  # (B, 1): the k-th largest
                        logits = logits.masked_fill(logits < kth, float("-inf"))
                    probs = torch.softmax(logits, dim=-1)  # (B, V)
                    next_id = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
                idx = torch.cat([idx, next_id], dim=1)  # (B, T + 1)
    finally:
        _restore_training_flags(flags)
    return idx


# ---------------------------------------------------------------- perplexity


def _windows(data: torch.Tensor, block_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive non-overlapping (inputs, targets) windows: the full ones stacked, then the shorter last one."""
    n_targets = data.shape[0] - 1
    n_full = n_targets // block_size  # windows of exactly block_size targets
    end = n_full * block_size
    out = []
    if n_full:
        inputs, targets = data[:end].reshape(n_full, block_size), data[1 : end + 1].reshape(n_full, block_size)
        out.append((inputs, targets))  # (W, T) each
    if end < n_targets:
        out.append((data[end:n_targets][None], data[end + 1 :][None]))  # (1, n_targets - end)
    return out


def perplexity(model: nn.Module, data: torch.Tensor, block_size: int, batch_size: int = 32) -> float:
    """How surprised the model is by ``data``: ``exp`` of the mean next-token negative log-likelihood.

    ``data`` (1-D int64, ``N`` tokens, on the model's device) is read in consecutive,
    non-overlapping windows of ``block_size`` inputs: window ``w`` feeds
    ``data[w*block_size : (w+1)*block_size]`` and is scored on the same positions shifted by one,
    the last window shorter when ``N - 1`` is not a multiple of ``block_size``. So every target
    ``data[1] .. data[N-1]`` is predicted exactly once; windows go through the model
    ``batch_size`` at a time.

    Returns:
        a Python float, ``exp(sum of the N - 1 negative log-likelihoods / (N - 1))``. A uniform
        guess over ``V`` tokens scores ``V``; a perfect model 1. Runs without autograd and in eval
        mode, and leaves every submodule's ``training`` flag as it was, also when the model raises.

    Raises:
        ValueError: ``len(data) < 2`` (nothing to predict) or ``block_size > model.block_size``
            (the message names the value).

    Pitfall: the mean of per-window (or per-batch) means weighs the tokens of a short last window
    more than the others; the mean is over tokens.
    """
    n = data.shape[0]
    if n < 2:
        raise ValueError(f"perplexity needs at least 2 tokens, got len(data)={n}")
    if block_size > model.block_size:
        raise ValueError(f"block_size={block_size} is above the model's block_size={model.block_size}")
    flags = _training_flags(model)
    model.eval()
    total_nll = 0.0
    try:
        with torch.no_grad():
            for x, y in _windows(data, block_size):  # (W, T) each
                for i in range(0, x.shape[0], batch_size):
                    logits = model(x[i : i + batch_size])  # (b, T, V)
                    V = logits.shape[-1]
                    nll = F.cross_entropy(logits.reshape(-1, V).double(), y[i : i + batch_size].reshape(-1),
                                          reduction="sum")  # (b*T, V) against (b*T,)
                    total_nll += nll.item()
    finally:
        _restore_training_flags(flags)
    return math.exp(total_nll / (n - 1))


if __name__ == "__main__":  # python -m solutions.language_model: pretrain, sample, fine-tune
    from demos import run

    run("language_model")
