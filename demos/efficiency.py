"""Demo of efficiency: each counted cost beside the wall-clock time it causes on this machine.

    python -m exercises.efficiency [--quick]

1. A host synchronisation per step: loss.item() in the loop vs train_step and one mean_loss.
2. The Python loop: pairwise distances row by row vs pairwise_sq_distances, in launches and time.
3. The key/value cache: FLOPs and time of greedy decoding, with generate_cached and without a cache.
4. Activation checkpointing: bytes autograd saves and the time of forward + backward, by segments.
5. The memory of one training step of a 6.7-billion-parameter decoder, sized on the meta device:
   fp32 / bf16 / bf16 autocast, with Adam or SGD.

Counts come from kata/learn/counters.py and are the same on every machine; the times are this
machine's (on a GPU the synchronisations and launches cost far more than on a CPU).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from kata.learn.counters import count_costs, count_flops, count_saved_bytes


def _timed(fn, *args, repeat: int = 1):
    """(fn(*args), the best of `repeat` wall-clock times in seconds)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return result, best


def _syncs(m, quick: bool) -> dict:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(64, 32, generator=g), torch.randint(0, 10, (64,), generator=g))
               for _ in range(20 if quick else 400)]

    def item_step(batch):
        opt.zero_grad()
        loss = F.cross_entropy(model(batch[0]), batch[1])
        loss.backward()
        opt.step()
        return loss.item()

    def epoch_item():
        return sum(item_step(b) for b in batches) / len(batches)

    def epoch_counted():
        return m.mean_loss([m.train_step(model, b, F.cross_entropy, opt) for b in batches])

    _, item_costs = count_costs(item_step, batches[0])
    _, step_costs = count_costs(m.train_step, model, batches[0], F.cross_entropy, opt)
    _, mean_costs = count_costs(m.mean_loss, [torch.tensor(1.0)] * len(batches))
    t_item = t_step = float("inf")
    for _ in range(1 if quick else 3):  # interleaved, best of 3: this machine's other work moves both alike
        t_item = min(t_item, _timed(epoch_item)[1])
        t_step = min(t_step, _timed(epoch_counted)[1])
    n = len(batches)
    print(f"1. host synchronisations ({n} steps of a small MLP, SGD with momentum)")
    print(f"   {'loss.item() in every step':<36} {item_costs.host_syncs * n:>4} syncs   {t_item * 1e3:7.1f} ms")
    print(f"   {'train_step, mean_loss at the end':<36} {step_costs.host_syncs * n + mean_costs.host_syncs:>4} syncs"
          f"   {t_step * 1e3:7.1f} ms")
    print("   a sync makes the host wait for the device: on a CPU it costs nearly nothing, on a GPU it empties the "
          "queue every step")
    return {"syncs_per_step": {"item": item_costs.host_syncs, "train_step": step_costs.host_syncs},
            "epoch_item_s": t_item, "epoch_train_step_s": t_step}


def _loop(m, quick: bool) -> dict:
    n, d = (128, 16) if quick else (1024, 32)
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)

    def rows(x, y):
        return torch.stack([((row - y) ** 2).sum(dim=1) for row in x])

    _, loop_costs = count_costs(rows, x, y)
    _, t_loop = _timed(rows, x, y)
    _, vec_costs = count_costs(m.pairwise_sq_distances, x, y)
    _, t_vec = _timed(m.pairwise_sq_distances, x, y, repeat=10)
    big = 4096
    xm, ym = torch.empty(big, 1024, device="meta"), torch.empty(big, 1024, device="meta")
    _, wide = count_costs(lambda: ((xm[:, None] - ym[None]) ** 2).sum(-1), memory=True)
    _, narrow = count_costs(m.pairwise_sq_distances, xm, ym, memory=True)
    print(f"\n2. the Python loop: squared distances between {n} and {n} points of dimension {d}")
    print(f"   {'a loop over rows':<36} {loop_costs.ops:>6} ops   {t_loop * 1e3:7.2f} ms")
    print(f"   {'pairwise_sq_distances':<36} {vec_costs.ops:>6} ops   {t_vec * 1e3:7.2f} ms")
    print(f"   largest temporary for {big} x {big} points of dimension 1024 (sized on meta): (N, M, D) broadcast "
          f"{wide.largest_bytes / 2**30:.0f} GiB, the expansion {narrow.largest_bytes / 2**20:.0f} MiB")
    print("   every launch has a fixed cost: a loop pays it per row, the vectorised version a handful of times")
    return {"loop_ops": loop_costs.ops, "vectorised_ops": vec_costs.ops, "loop_s": t_loop, "vectorised_s": t_vec}


class _Decoder(nn.Module):
    """The decoder generate_cached expects, with the uncached causal forward."""

    def __init__(self, vocab: int = 64, d: int = 64, heads: int = 4, layers: int = 2, block_size: int = 160):
        super().__init__()
        self.block_size = block_size
        self.tok_emb, self.pos_emb = nn.Embedding(vocab, d), nn.Embedding(block_size, d)
        self.layers = nn.ModuleList(nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, batch_first=True,
                                                               norm_first=True) for _ in range(layers))
        self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, vocab)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(t, device=idx.device))
        mask = nn.Transformer.generate_square_subsequent_mask(t, dtype=x.dtype)
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=True)
        return self.head(self.norm(x))


def _uncached(model, idx, n):
    with torch.no_grad():
        for _ in range(n):
            idx = torch.cat([idx, model(idx)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return idx


def _cache(m, quick: bool) -> dict:
    torch.manual_seed(3)
    model = _Decoder(layers=1 if quick else 2).eval()
    prompt = torch.randint(0, 64, (1, 8), generator=torch.Generator().manual_seed(4))
    lengths = (16, 32) if quick else (64, 128)
    rows = {}
    for name, fn in (("generate_cached", m.generate_cached), ("no cache", _uncached)):
        for n in lengths:
            tokens, flops = count_flops(fn, model, prompt, n)
            _, seconds = _timed(fn, model, prompt, n)
            rows[(name, n)] = (flops, seconds, tokens)
    same = torch.equal(rows[("generate_cached", lengths[1])][2], rows[("no cache", lengths[1])][2])
    print(f"\n3. greedy decoding, a {len(model.layers)}-layer decoder (d_model 64), prompt of 8 tokens; "
          f"the same tokens: {same}")
    for (name, n), (flops, seconds, _) in rows.items():
        print(f"   {name:<18} {n:>4} new tokens   {flops / 1e6:8.2f} MFLOP   {seconds * 1e3:7.1f} ms")
    ratio = {name: rows[(name, lengths[1])][0] / rows[(name, lengths[0])][0]
             for name in ("generate_cached", "no cache")}
    print(f"   twice the tokens: {ratio['generate_cached']:.1f}x the FLOPs with the cache, {ratio['no cache']:.1f}x "
          "without: the uncached loop recomputes the whole prefix at every token")
    return {"cache_flops_ratio": ratio["generate_cached"], "no_cache_flops_ratio": ratio["no cache"],
            "cache_same_tokens": same}


def _checkpointing(m, quick: bool) -> dict:
    torch.manual_seed(5)
    d, n = (64, 8) if quick else (256, 8)
    blocks = nn.Sequential(*[nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d)) for _ in range(n)])
    x = torch.randn(128, d)

    def step(segments):
        blocks.zero_grad()
        out = blocks(x) if segments == 0 else m.checkpointed_forward(blocks, x, segments)
        out.pow(2).mean().backward()

    print(f"\n4. activation checkpointing: {n} blocks Linear({d}, {4 * d}) -> GELU -> Linear, batch 128")
    out = {}
    for segments in (0, 2, 4, 8):  # 0: blocks(x) itself
        fn = (lambda: blocks(x)) if segments == 0 else (lambda s=segments: m.checkpointed_forward(blocks, x, s))
        _, saved = count_saved_bytes(fn)
        _, seconds = _timed(step, segments, repeat=3)
        label = "no checkpointing" if segments == 0 else f"{segments} segments"
        print(f"   {label:<18} saved for backward {saved / 2**10:8.1f} KiB   "
              f"forward + backward {seconds * 1e3:6.1f} ms")
        out[segments] = saved
    print("   checkpointing keeps a segment's input and recomputes the rest in backward: less memory, more compute")
    return {"plain_saved_bytes": out[0], "checkpoint_saved_bytes": out[4]}


def _llm_7b(layers: int = 32) -> nn.Module:
    """A decoder of LLaMA-7B's width and depth (d 4096, 32 layers, 32 heads), built on meta: nothing allocated."""
    d, vocab = 4096, 32000
    with torch.device("meta"):
        layers = [nn.TransformerEncoderLayer(d, 32, 4 * d, dropout=0.0, batch_first=True, norm_first=True)
                  for _ in range(layers)]
        return nn.Sequential(nn.Embedding(vocab, d), *layers, nn.LayerNorm(d), nn.Linear(d, vocab, bias=False))


def _memory(m, quick: bool) -> dict:
    start = time.perf_counter()
    model = _llm_7b(4 if quick else 32)  # quick: 4 of the 32 layers (every meta op runs PyTorch's Python shape code)
    n = sum(p.numel() for p in model.parameters())
    shape = (1, 256) if quick else (1, 2048)
    table = {
        "fp32_adam": m.training_memory(model, shape),
        "bf16_adam": m.training_memory(model, shape, param_dtype=torch.bfloat16),
        "fp32_bf16_autocast_adam": m.training_memory(model, shape, autocast_dtype=torch.bfloat16),
        "fp32_sgd": m.training_memory(model, shape, optimizer="sgd"),
        "bf16_sgd": m.training_memory(model, shape, optimizer="sgd", param_dtype=torch.bfloat16),
    }
    seconds = time.perf_counter() - start
    gib = 2**30
    part = " (--quick: 4 of the 32 layers of the 6.7e9 one)" if quick else ""
    print(f"\n5. one training step of a {n / 1e9:.2f}e9-parameter decoder{part}, {shape[1]} tokens, sized on meta "
          f"in {seconds:.1f} s (nothing allocated)")
    print(f"   {'':<26} {'params':>8} {'grads':>8} {'optim':>8} {'activ.':>8} {'total':>8}   GiB")
    for name, row in table.items():
        print(f"   {name:<26} " + " ".join(f"{row[k] / gib:8.1f}" for k in
                                          ("params", "grads", "optimizer_state", "activations", "total")))
    fp32 = table["fp32_adam"]
    print(f"   in fp32 with Adam the step needs {(fp32['total'] - fp32['activations']) / fp32['params']:.0f}x the "
          "weights before a single activation: weights, gradients and two moments")
    print("   the activations do not halve in bf16: attention here takes PyTorch's math path, which keeps q, k, v and "
          "every head's (T x T) weights in float32; a fused GPU kernel keeps far less")
    return {"memory_table": table, "memory_params": n, "memory_seconds": seconds}


def main(m, *, quick: bool = False, save_png: str | None = None) -> dict:
    out = _syncs(m, quick)
    out.update(_loop(m, quick))
    out.update(_cache(m, quick))
    out.update(_checkpointing(m, quick))
    out.update(_memory(m, quick))
    return out
