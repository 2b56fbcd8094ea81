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
        raise NotImplementedError("language_model.CharTokenizer: sorted distinct characters, a char -> id lookup")

    def encode(self, s: str) -> torch.Tensor:
        """``s`` -> int64 ids ``(len(s),)``; a character outside the vocabulary raises ValueError."""
        raise NotImplementedError("language_model.CharTokenizer.encode: one int64 id per character, unknown ones raise")

    def decode(self, ids) -> str:
        """A 1-D tensor or a list of ids -> the string; an id outside [0, vocab_size) raises ValueError."""
        raise NotImplementedError(
            "language_model.CharTokenizer.decode: ids back to characters; an id outside [0, vocab_size) raises"
        )


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
    raise NotImplementedError(
        "language_model.next_token_batch: starts in 0..N-T-1, x = data[s:s+T], y = the window shifted by one"
    )


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
    raise NotImplementedError(
        "language_model.lm_loss: flatten the logits to (B*T, V) and the targets to (B*T,), then F.cross_entropy"
    )


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
        raise NotImplementedError("language_model.TinyGPT: tok_emb, pos_emb, causal blocks, ln_f, a tied head")

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, vocab_size)`` for token ids ``idx (B, T)``; see the class docstring."""
        raise NotImplementedError(
            "language_model.TinyGPT.forward: token + position embeddings, the blocks under a causal mask, ln_f, head"
        )


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
    raise NotImplementedError(
        "language_model.generate: eval, no_grad; per step crop, last position, temperature, top_k, sample"
    )


# ---------------------------------------------------------------- perplexity


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
    raise NotImplementedError(
        "language_model.perplexity: consecutive windows, the NLL of every target once, exp(total / (N - 1))"
    )


if __name__ == "__main__":  # python -m exercises.language_model: pretrain, sample, fine-tune
    from demos import run

    run("language_model")
