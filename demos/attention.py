"""Demo of attention: a causal Transformer block on a tiny sentence, with real numbers.

1. the attention weights of one head of a causal block (nothing above the diagonal, rows sum to 1);
2. a query that may attend to nothing: zeros from your attention, NaN from a naive -inf softmax;
3. permutation equivariance: without positions the block treats tokens as a set;
4. causality: with causal_mask a later token never changes an earlier output;
5. why 1/sqrt(d): how peaked the softmax gets as the width d grows, for three scalings.

    python -m exercises.attention [--quick] [--png weights.png]
"""

from __future__ import annotations

import math

import torch

import demos

TOKENS = ["the", "cat", "sat", "on", "the", "mat", "and", "slept"]


def _matrix(w: torch.Tensor, labels: list[str]) -> str:
    head = " " * 7 + "".join(f"{t:>7}" for t in labels)
    rows = [f"{q:>7}" + "".join(f"{v:7.2f}" for v in row) for q, row in zip(labels, w.tolist())]
    return "\n".join([head, *rows])


def _head_weights(m, block, x: torch.Tensor, mask: torch.Tensor, n_heads: int) -> torch.Tensor:
    """The attention weights inside block.attn, rebuilt with the topic's own scaled_dot_product_attention."""
    B, T, d_model = x.shape
    attn, h = block.attn, block.norm1(x)

    def split(t):
        return t.view(B, T, n_heads, d_model // n_heads).transpose(1, 2)  # (B, H, T, d_head)

    _, weights = m.scaled_dot_product_attention(split(attn.q_proj(h)), split(attn.k_proj(h)),
                                                split(attn.v_proj(h)), mask)
    return weights  # (B, H, T, T)


@torch.no_grad()
def main(m, *, quick: bool = False, save_png: str | None = None) -> dict:
    device = demos.device()
    torch.manual_seed(0)
    d_model, n_heads, d_ff = 16, 2, 32
    T = 6 if quick else len(TOKENS)
    words = TOKENS[:T]
    vocab = sorted(set(TOKENS))
    embed = torch.nn.Embedding(len(vocab), d_model).to(device)
    ids = torch.tensor([[vocab.index(w) for w in words]], device=device)
    tokens = embed(ids)  # (1, T, d_model)
    pe = m.sinusoidal_positional_encoding(T, d_model).to(device)
    block = m.TransformerBlock(d_model, n_heads, d_ff).to(device).eval()
    mask = m.causal_mask(T, device=device)
    print(f"A causal TransformerBlock(d_model={d_model}, n_heads={n_heads}, d_ff={d_ff}) on {T} tokens, on {device}.")

    # 1. one head's weights
    weights = _head_weights(m, block, tokens + pe, mask, n_heads)
    head0 = weights[0, 0].cpu()
    future = weights.triu(1).abs().max().item()
    row_sum_error = (weights.sum(-1) - 1).abs().max().item()
    print("\n1. Attention weights of head 0 (row = query, column = key):")
    print(_matrix(head0, words))
    print(f"   largest weight above the diagonal (the future): {future:.1f}; rows sum to 1 within {row_sum_error:.1e}")
    print("   the first token can only attend to itself; each later one spreads its attention over its past.")

    # 2. a fully masked query
    q, k, v = torch.randn(4, 8, device=device), torch.randn(5, 8, device=device), torch.randn(5, 3, device=device)
    row_mask = torch.ones(4, 5, dtype=torch.bool, device=device)
    row_mask[2] = False
    out, w = m.scaled_dot_product_attention(q, k, v, row_mask)
    naive = torch.softmax((q @ k.T / math.sqrt(8)).masked_fill(~row_mask, float("-inf")), dim=-1)
    masked_max = max(w[2].abs().max().item(), out[2].abs().max().item())
    has_nan = bool(torch.isnan(w).any() or torch.isnan(out).any())
    print("\n2. Query 2 may attend to no key at all (its whole mask row is False):")
    print(f"   your weights row {[round(x, 2) for x in w[2].tolist()]}, "
          f"output row {[round(x, 2) for x in out[2].tolist()]}")
    print(f"   naive masked_fill(-inf) + softmax gives {naive[2].tolist()}  (0/0 = NaN, which spreads)")

    # 3. permutation equivariance
    perm = torch.randperm(T, device=device)
    perm_err = (block(tokens[:, perm]) - block(tokens)[:, perm]).abs().max().item()
    perm_err_pe = (block(tokens[:, perm] + pe) - block(tokens + pe)[:, perm]).abs().max().item()
    print(f"\n3. Shuffle the tokens with {perm.tolist()}:")
    print(f"   no positions:   max |block(shuffled) - shuffled(block)| = {perm_err:.1e}  (attention sees a set)")
    print(f"   + sinusoidal PE: max |block(shuffled) - shuffled(block)| = {perm_err_pe:.3f}  (order now matters)")

    # 4. causality
    x = tokens + pe
    x_changed = x.clone()
    x_changed[:, -1] = torch.randn(d_model, device=device) * 3
    causal_leak = (block(x_changed, mask)[:, :-1] - block(x, mask)[:, :-1]).abs().max().item()
    open_leak = (block(x_changed)[:, :-1] - block(x)[:, :-1]).abs().max().item()
    print(f"\n4. Replace the last token ({words[-1]!r}) by noise and look at the outputs before it:")
    print(f"   with causal_mask: max change {causal_leak:.1e};  without a mask: max change {open_leak:.3f}")

    # 5. the scale
    print("\n5. Mean largest softmax weight over 16 keys for random q, k (1/16 = flat, 1 = one-hot):")
    print(f"   {'d':>5} {'1/sqrt(d)':>10} {'1/d':>8} {'none':>8}")
    for d in (16, 64) if quick else (16, 64, 256, 1024):
        qs, ks = torch.randn(256, 1, d, device=device), torch.randn(256, 16, d, device=device)
        scores = (qs @ ks.transpose(-2, -1)).squeeze(1)
        peak = [torch.softmax(scores * s, -1).max(-1).values.mean().item() for s in (d**-0.5, 1 / d, 1.0)]
        print(f"   {d:>5} {peak[0]:>10.2f} {peak[1]:>8.2f} {peak[2]:>8.2f}")
    print("   1/sqrt(d) keeps the softmax equally peaked at every width; 1/d flattens it, none saturates it.")

    plt = demos.pyplot() if save_png else None
    if plt is not None:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.imshow(head0.numpy(), cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(T), words, rotation=45)
        ax.set_yticks(range(T), words)
        ax.set_xlabel("key")
        ax.set_ylabel("query")
        ax.set_title("causal attention, head 0")
        fig.tight_layout()
        fig.savefig(save_png, dpi=120)
        print(f"\nsaved the heatmap to {save_png}")

    return {
        "causal_future_weight": future,
        "row_sum_error": row_sum_error,
        "masked_row_max_abs": masked_max,
        "masked_row_has_nan": has_nan,
        "permutation_error": perm_err,
        "permutation_error_with_positions": perm_err_pe,
        "causal_leak": causal_leak,
        "noncausal_leak": open_leak,
    }
