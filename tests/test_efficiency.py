"""Tests of the efficiency topic: costs counted, never timed.

Every cost here is a count that does not depend on the machine (kata/learn/counters.py): host
synchronisations and dispatched operations (a TorchDispatchMode), FLOPs (PyTorch's flop formulas),
bytes autograd saves (saved_tensors_hooks), and memory sized on the `meta` device, where a
tensor has a shape and a dtype and no data. On `meta` a copy to the CPU or a `.item()` cannot
even run, which is how a CPU-only machine catches what would stall a GPU.
"""

from __future__ import annotations

import resource

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kata.learn.checks import devices, expect, expect_close, expect_equal, expect_raises, expect_shape, fail
from kata.learn.counters import count_costs, count_flops, count_saved_bytes

train_step = pytest.mark.exercise("train_step")
mean_loss = pytest.mark.exercise("mean_loss")
pairwise_sq_distances = pytest.mark.exercise("pairwise_sq_distances")
KVCache = pytest.mark.exercise("KVCache")
cached_attention_step = pytest.mark.exercise("cached_attention_step")
generate_cached = pytest.mark.exercise("generate_cached")
activation_bytes = pytest.mark.exercise("activation_bytes")
checkpointed_forward = pytest.mark.exercise("checkpointed_forward")
training_memory = pytest.mark.exercise("training_memory")
demo = pytest.mark.exercise("demo")

MB = 2**20


def _mlp(seed: int = 0, device="cpu", dtype=torch.float32) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)).to(device=device, dtype=dtype)


def _batch(seed: int = 1, n: int = 8, device="cpu", dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 6, generator=g, dtype=dtype), torch.randint(0, 3, (n,), generator=g)
    return x.to(device), y.to(device)


def _sgd(model: nn.Module) -> torch.optim.Optimizer:
    """SGD with momentum: its step makes no host synchronisation of its own (Adam's step counter does on the CPU)."""
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def _plain_step(model, batch, opt) -> torch.Tensor:
    opt.zero_grad()
    loss = F.cross_entropy(model(batch[0]), batch[1])
    loss.backward()
    opt.step()
    return loss.detach()


# ---------------------------------------------------------------- train_step


@train_step
def test_train_step_returns_the_loss_as_a_detached_0_dim_tensor(impl):
    model, batch = _mlp(), _batch()
    with torch.no_grad():
        expected = F.cross_entropy(model(batch[0]), batch[1])
    loss = impl.train_step(model, batch, F.cross_entropy, _sgd(model))
    expect(isinstance(loss, torch.Tensor), f"expected the loss as a tensor, got {type(loss).__name__} {loss!r}",
           "return loss.detach(): a Python float would have been read back from the device (a synchronisation)")
    expect_shape(loss, (), "the returned loss", "the loss of the step is a 0-dim tensor")
    expect(not loss.requires_grad and loss.grad_fn is None,
           "the returned loss still carries its graph (requires_grad=True)",
           "return loss.detach(): a caller that keeps the losses of an epoch would keep every step's graph alive")
    expect_close(loss, expected, what="the returned loss", rtol=1e-6, atol=1e-7,
                 hint="return the loss of this step's forward pass, computed before optimizer.step()")


@train_step
def test_train_step_updates_like_the_plain_step(impl):
    model, ref = _mlp(), _mlp()
    opt, ref_opt = _sgd(model), _sgd(ref)
    for seed in (1, 2):
        impl.train_step(model, _batch(seed), F.cross_entropy, opt)
        _plain_step(ref, _batch(seed), ref_opt)
    for (name, p), q in zip(model.named_parameters(), ref.parameters(), strict=True):
        expect_close(p.detach(), q.detach(), what=f"parameter {name} after 2 steps", rtol=1e-6, atol=1e-7,
                     hint="zero_grad, forward, loss_fn, backward, optimizer.step(): one of each")


@train_step
def test_train_step_resets_stale_gradients_first(impl):
    model, ref = _mlp(), _mlp()
    opt, ref_opt = _sgd(model), _sgd(ref)
    for p in model.parameters():
        p.grad = torch.full_like(p, 50.0)  # left over from an earlier backward
    impl.train_step(model, _batch(), F.cross_entropy, opt)
    _plain_step(ref, _batch(), ref_opt)
    for (name, p), q in zip(model.named_parameters(), ref.parameters(), strict=True):
        expect_close(p.detach(), q.detach(), what=f"parameter {name}", rtol=1e-6, atol=1e-7,
                     hint="backward() adds into .grad: optimizer.zero_grad() before the forward pass")


def _expect_no_syncs(impl, device) -> None:
    __tracebackhide__ = True
    model, batch = _mlp(device=device), _batch(device=device)
    opt = _sgd(model)

    def two_steps():  # the first creates the momentum buffers, the second is a steady-state step
        impl.train_step(model, batch, F.cross_entropy, opt)
        return impl.train_step(model, batch, F.cross_entropy, opt)

    hint = ("keep the loss on the device and return it as a tensor: .item(), float(), .cpu(), .tolist(), print or "
            "an `if` on its value each make the host wait for the device to finish, at every step")
    failure = ""
    try:
        _, costs = count_costs(two_steps)
    except Exception as err:  # on meta a read-back cannot run: what was counted before it says where
        costs = getattr(err, "costs", None)
        if costs is None or not costs.host_syncs:
            raise  # a stub's NotImplementedError included
        failure = f", and then failed: {type(err).__name__}: {err}"
    if failure:  # outside the except block: a teaching failure, not a chained "not implemented yet"
        fail(costs.describe_syncs(f"train_step on {device}", expected=0) + failure, hint)
    expect(costs.host_syncs == 0, costs.describe_syncs(f"2 train_steps on {device}", expected=0), hint)


@train_step
@pytest.mark.parametrize("device", [*devices(), pytest.param("meta", id="meta")])
def test_train_step_never_synchronises(impl, device):
    _expect_no_syncs(impl, device)


# ---------------------------------------------------------------- mean_loss


def _losses(n: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return list(torch.rand(n, generator=g).unbind())


@mean_loss
def test_mean_loss_is_the_mean_as_a_python_float(impl):
    losses = _losses(7)
    got = impl.mean_loss(losses)
    expect(type(got) is float, f"expected a Python float, got {type(got).__name__} {got!r}",
           "the one read-back at the end of the epoch: .item() on the mean")
    expected = sum(float(t) for t in losses) / len(losses)
    expect(abs(got - expected) <= 1e-6 * abs(expected), f"mean_loss gave {got}, expected {expected}",
           "the mean of all the losses: their sum divided by their number")


@pytest.mark.parametrize("n", [1, 8, 64])
@mean_loss
def test_mean_loss_synchronises_exactly_once(impl, n):
    losses = _losses(n)
    _, costs = count_costs(impl.mean_loss, losses)
    expect(costs.host_syncs == 1, costs.describe_syncs(f"mean_loss of {n} losses", expected=1),
           "combine the losses on the device (torch.stack(...).mean()) and read back only the result: "
           "one .item() per loss waits for the device once per loss")


@mean_loss
def test_mean_loss_of_nothing_raises(impl):
    with expect_raises(ValueError, "mean_loss([])"):
        impl.mean_loss([])


# ---------------------------------------------------------------- pairwise_sq_distances


def _points(n: int, d: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pairwise_sq_distances
def test_pairwise_matches_cdist_squared(impl):
    x, y = _points(7, 5, 0), _points(4, 5, 1)
    got = impl.pairwise_sq_distances(x, y)
    expect_close(got, torch.cdist(x, y) ** 2, what="pairwise_sq_distances(x (7, 5), y (4, 5))", rtol=1e-10,
                 atol=1e-12, hint="out[i, j] = ||x[i]||^2 + ||y[j]||^2 - 2 x[i].y[j]")


@pairwise_sq_distances
def test_pairwise_takes_non_contiguous_views(impl):
    x, y = _points(5, 7, 2).T, _points(5, 3, 3).T  # (7, 5) and (3, 5), neither contiguous
    expect_close(impl.pairwise_sq_distances(x, y), torch.cdist(x, y) ** 2, what="distances of transposed views",
                 rtol=1e-10, atol=1e-12)


@pairwise_sq_distances
def test_pairwise_is_never_negative(impl):
    x = _points(40, 16, 4, torch.float32) * 10 + 3  # far from the origin: the expansion cancels badly
    got = impl.pairwise_sq_distances(x, x)  # the diagonal is exactly 0
    expect_shape(got, (40, 40), "pairwise_sq_distances(x, x)")
    expect(got.dtype == torch.float32, f"float32 inputs gave a {got.dtype} result")
    expect(bool((got >= 0).all()), f"{int((got < 0).sum())} distances are negative (smallest {float(got.min()):.3g})",
           "the expansion ||x||^2 + ||y||^2 - 2 x.y rounds slightly below 0 for identical points: clamp at 0")
    expected = torch.cdist(x.double(), x.double()) ** 2
    expect_close(got, expected.float(), what="pairwise_sq_distances in float32", rtol=1e-4, atol=0.05)


@pairwise_sq_distances
def test_pairwise_launches_as_many_ops_for_40_points_as_for_4(impl):
    counts = {}
    for n in (4, 40):
        _, costs = count_costs(impl.pairwise_sq_distances, _points(n, 3, 5), _points(n, 3, 6))
        counts[n] = costs.ops
    expect(counts[40] == counts[4],
           f"pairwise_sq_distances dispatched {counts[4]} operations for 4 x 4 points and {counts[40]} for 40 x 40",
           "vectorise: a Python loop over rows launches a batch of kernels per row, so its cost grows with N")


@pairwise_sq_distances
def test_pairwise_makes_no_n_by_m_by_d_intermediate(impl):
    n, m, d = 1024, 512, 256  # on meta: sizes without data, nothing allocated
    x, y = torch.empty(n, d, device="meta"), torch.empty(m, d, device="meta")
    out, costs = count_costs(impl.pairwise_sq_distances, x, y, memory=True)
    expect_shape(out, (n, m), "pairwise_sq_distances on meta")
    expect(out.device.type == "meta", f"the result is on {out.device}, expected meta (the inputs' device)")
    expect(costs.largest_bytes < n * m * d * 4 // 8,
           f"an intermediate of {costs.largest_bytes / MB:.0f} MiB for N={n}, M={m}, D={d}: the result itself "
           f"is {n * m * 4 / MB:.0f} MiB",
           "x[:, None] - y[None] materialises an (N, M, D) tensor, memory growing with the product: expand "
           "||x||^2 + ||y||^2 - 2 x y^T, whose largest intermediate is (N, M)")


# ---------------------------------------------------------------- KVCache and cached_attention_step


@KVCache
def test_kv_cache_appends_along_time(impl):
    g = torch.Generator().manual_seed(0)
    k1, v1 = torch.randn(2, 3, 4, 5, generator=g), torch.randn(2, 3, 4, 5, generator=g)
    k2, v2 = torch.randn(2, 3, 1, 5, generator=g), torch.randn(2, 3, 1, 5, generator=g)
    cache = impl.KVCache()
    expect(len(cache) == 0, f"a new KVCache has len {len(cache)}, expected 0")
    impl.KVCache().append(k1, v1)  # another cache: nothing shared between instances
    keys, values = cache.append(k1, v1)
    expect_equal(keys, k1, what="keys after the first append")
    expect_equal(values, v1, what="values after the first append")
    keys, values = cache.append(k2, v2)
    expect_equal(keys, torch.cat([k1, k2], dim=2), what="keys after appending a (2, 3, 1, 5) step",
                 hint="(B, H, T, d_head): the new positions go after the old ones along dim 2, time")
    expect_equal(values, torch.cat([v1, v2], dim=2), what="values after the second append")
    expect(len(cache) == 5, f"after 4 + 1 positions len(cache) is {len(cache)}, expected 5")


def _attn(seed: int = 0, d: int = 8, heads: int = 2) -> nn.MultiheadAttention:
    torch.manual_seed(seed)
    attn = nn.MultiheadAttention(d, heads, batch_first=True).double()
    with torch.no_grad():
        attn.in_proj_bias.normal_()  # not zero, so a bias left out is seen
        attn.out_proj.bias.normal_()
    return attn.eval()


def _causal_reference(attn, x):
    t = x.shape[1]
    mask = torch.ones(t, t, dtype=torch.bool).triu(1)  # True = may not attend
    with torch.no_grad():
        return attn(x, x, x, attn_mask=mask, need_weights=False)[0]


def _run_in_chunks(impl, attn, x, chunks):
    cache, outs, start = impl.KVCache(), [], 0
    with torch.no_grad():
        for size in chunks:
            outs.append(impl.cached_attention_step(attn, x[:, start:start + size], cache))
            start += size
    return torch.cat(outs, dim=1), cache


@cached_attention_step
def test_cached_attention_one_token_at_a_time_matches_full_causal_attention(impl):
    attn, x = _attn(), torch.randn(2, 6, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got, cache = _run_in_chunks(impl, attn, x, [1] * 6)
    expect_close(got, _causal_reference(attn, x), what="outputs fed one token at a time", rtol=1e-10, atol=1e-12,
                 hint="project only the new token, append its key and value to the cache, attend over all cached "
                      "keys (scaled by 1/sqrt(d_head)), then out_proj")
    expect(len(cache) == 6, f"after 6 steps the cache holds {len(cache)} positions, expected 6")


@cached_attention_step
def test_cached_attention_reads_a_prompt_in_one_chunk(impl):
    attn, x = _attn(1), torch.randn(2, 7, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    got, cache = _run_in_chunks(impl, attn, x, [5, 1, 1])
    expect_close(got, _causal_reference(attn, x), what="outputs of a 5-token chunk, then 2 single tokens",
                 rtol=1e-10, atol=1e-12,
                 hint="within a chunk the new positions are causal too: position past + i sees the cache and the "
                      "new positions 0..i, not those after it")
    expect(len(cache) == 7, f"after 5 + 1 + 1 positions the cache holds {len(cache)}, expected 7")


# ---------------------------------------------------------------- generate_cached


class TinyDecoder(nn.Module):
    """The decoder generate_cached's docstring describes, made of PyTorch parts."""

    def __init__(self, vocab: int = 16, d: int = 32, heads: int = 2, ff: int = 128, layers: int = 1,
                 block_size: int = 80):
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab, d)
        self.pos_emb = nn.Embedding(block_size, d)
        self.layers = nn.ModuleList(nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True,
                                                               norm_first=True) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(t, device=idx.device))
        mask = nn.Transformer.generate_square_subsequent_mask(t, dtype=x.dtype)
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=True)
        return self.head(self.norm(x))


def _decoder(seed: int = 0, **kwargs) -> TinyDecoder:
    torch.manual_seed(seed)
    return TinyDecoder(**kwargs).double().eval()


def _prompt(b: int = 2, t: int = 6, seed: int = 3) -> torch.Tensor:
    return torch.randint(0, 16, (b, t), generator=torch.Generator().manual_seed(seed))


def _uncached(model, idx, n):
    with torch.no_grad():
        for _ in range(n):
            idx = torch.cat([idx, model(idx)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return idx


@generate_cached
def test_generate_cached_gives_the_uncached_tokens(impl):
    model, prompt = _decoder(layers=2), _prompt()
    got = impl.generate_cached(model, prompt, 12)
    expect_shape(got, (2, 18), "generate_cached(model, prompt (2, 6), 12)", "the prompt followed by 12 new tokens")
    expect(got.dtype == torch.int64, f"the tokens came back as {got.dtype}, expected torch.int64")
    expect_equal(got, _uncached(model, prompt, 12), what="tokens of cached greedy decoding",
                 hint="the same model, computed position by position: tok_emb + pos_emb at the right positions, "
                      "each layer as x + attn(norm1(x)), then x + linear2(activation(linear1(norm2(x)))), norm, head")


@generate_cached
def test_generate_cached_flops_grow_linearly(impl):
    model, prompt = _decoder(seed=1), _prompt(b=1, t=4)
    flops = {n: count_flops(impl.generate_cached, model, prompt, n)[1] for n in (32, 64)}
    expect(flops[32] > 0, "generate_cached made no matrix products that could be counted")
    ratio = flops[64] / flops[32]
    expect(ratio <= 2.5,
           f"FLOPs for 64 new tokens are {ratio:.1f}x those for 32 ({flops[64]:,} vs {flops[32]:,}): "
           "is the prefix recomputed at every step?",
           "with a cache, each step projects only the new token and reads the earlier keys and values: the "
           "cost of token t grows linearly in t, so twice the tokens cost about twice the FLOPs (without, about 4x)")


@generate_cached
def test_generate_cached_may_fill_the_block_exactly(impl):
    model, prompt = _decoder(block_size=10), _prompt()
    got = impl.generate_cached(model, prompt, 4)  # 6 + 4 = block_size: every position exists
    expect_equal(got, _uncached(model, prompt, 4), what="tokens generated up to block_size exactly",
                 hint="positions 0..block_size-1 all exist: only prompt + max_new_tokens > block_size is refused")


@generate_cached
def test_generate_cached_refuses_to_run_past_block_size(impl):
    model = _decoder(block_size=10)
    with expect_raises(ValueError, "generate_cached with 6 + 5 tokens and block_size 10", names=10):
        impl.generate_cached(model, _prompt(), 5)


# ---------------------------------------------------------------- activation_bytes


@activation_bytes
@pytest.mark.parametrize("requires_grad", [False, True], ids=["input", "input_requires_grad"])
def test_activation_bytes_of_a_linear_is_its_input(impl, requires_grad):
    torch.manual_seed(0)
    layer, x = nn.Linear(24, 40), torch.randn(5, 24).requires_grad_(requires_grad)
    got = impl.activation_bytes(layer, x)
    expect(isinstance(got, int), f"expected a Python int, got {type(got).__name__} {got!r}")
    expect(got == 4 * 5 * 24,
           f"a Linear(24, 40) on a (5, 24) float32 input saves {4 * 5 * 24} bytes (its input); got {got}"
           + (f", {got - 4 * 5 * 24} more: the size of the weight" if got - 4 * 5 * 24 == 4 * 24 * 40 else ""),
           "count what saved_tensors_hooks' pack hook sees, except parameters (nn.Parameter, or a view of one "
           "such as weight.t()): they live in the model whether or not there is a backward")


@activation_bytes
def test_activation_bytes_counts_a_storage_once(impl):
    w = torch.randn(6, 10, requires_grad=True)
    got = impl.activation_bytes(lambda a: a.t() @ a, w)  # mm saves w.t() and w: one storage
    expect(got == 4 * 60, f"w.t() @ w saves w (and a view of it): {4 * 60} bytes of storage, got {got}",
           "key the saved tensors by their storage (t.untyped_storage()) and add each storage's nbytes() once")


@activation_bytes
def test_activation_bytes_of_an_mlp_on_meta(impl):
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))
        x = torch.empty(16, 32)
    got = impl.activation_bytes(model, x)
    expected = 4 * 16 * 32 + 4 * 16 * 64  # the input, and the ReLU's output (saved by the ReLU and the Linear)
    expect(got == expected,
           f"on meta, Linear-ReLU-Linear on (16, 32) saves {expected} bytes in 2 storages; got {got}",
           "meta tensors all have data_ptr() 0: tell storages apart by the storage itself, not its address")


@activation_bytes
def test_activation_bytes_under_no_grad_is_zero(impl):
    layer, x = nn.Linear(8, 8), torch.randn(4, 8)
    with torch.no_grad():
        got = impl.activation_bytes(layer, x)
    expect(got == 0, f"under torch.no_grad() nothing is saved for backward, but activation_bytes gave {got}")


# ---------------------------------------------------------------- checkpointed_forward


def _blocks(seed: int = 0, n: int = 8, d: int = 16, dropout: float = 0.0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(*[nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * d, d))
                           for _ in range(n)]).double()


def _grads(blocks, x, out) -> list[torch.Tensor]:
    out.pow(2).sum().backward()
    return [p.grad.clone() if p.grad is not None else None for p in blocks.parameters()] + [x.grad]


def _expect_same(impl, blocks, x, segments, seed=None, what="") -> None:
    __tracebackhide__ = True
    ref_blocks, ref_x = _blocks_copy(blocks), x.detach().clone().requires_grad_(x.requires_grad)
    if seed is not None:
        torch.manual_seed(seed)
    ref = ref_blocks(ref_x)
    ref_grads = _grads(ref_blocks, ref_x, ref)
    if seed is not None:
        torch.manual_seed(seed)
    out = impl.checkpointed_forward(blocks, x, segments)
    expect_close(out, ref.detach(), what=f"{what}: output with {segments} segments", rtol=1e-12, atol=1e-12)
    grads = _grads(blocks, x, out)
    names = [name for name, _ in blocks.named_parameters()] + ["x"]
    for name, g, r in zip(names, grads, ref_grads, strict=True):
        if r is None:
            continue
        expect(g is not None, f"{what}: {name} got no gradient",
               "use_reentrant=True gives the parameters inside a checkpoint no gradient when the input does not "
               "require grad: use_reentrant=False")
        expect_close(g, r, what=f"{what}: gradient of {name}", rtol=1e-10, atol=1e-12,
                     hint="the recomputation must replay the forward exactly, random numbers included "
                          "(preserve_rng_state, the default)")


def _blocks_copy(blocks):
    import copy

    return copy.deepcopy(blocks)


@checkpointed_forward
@pytest.mark.parametrize("segments", [1, 2, 4, 8])
def test_checkpointed_forward_gives_the_same_output_and_gradients(impl, segments):
    x = torch.randn(4, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    _expect_same(impl, _blocks(), x, segments, what="an input that requires grad")


@checkpointed_forward
def test_checkpointed_forward_trains_parameters_of_an_input_without_grad(impl):
    x = torch.randn(4, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    _expect_same(impl, _blocks(), x, 4, what="an input that does not require grad")


@checkpointed_forward
def test_checkpointed_forward_replays_dropout(impl):
    x = torch.randn(4, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    blocks = _blocks(dropout=0.5).train()
    _expect_same(impl, blocks, x, 4, seed=7, what="blocks with dropout in training mode")


@checkpointed_forward
@pytest.mark.parametrize("segments", [2, 4])
def test_checkpointed_forward_saves_about_one_segment(impl, segments):
    blocks, x = _blocks(), torch.randn(8, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    _, plain = count_saved_bytes(blocks, x)
    _, saved = count_saved_bytes(impl.checkpointed_forward, blocks, x, segments)
    bound = plain / segments + segments * x.nbytes
    expect(saved <= bound,
           f"with {segments} segments autograd saved {saved:,} bytes; without checkpointing {plain:,}; the bound is "
           f"{plain:,} / {segments} + {segments} x {x.nbytes:,} (the input of each segment) = {bound:,.0f}",
           "torch.utils.checkpoint(segment, x, use_reentrant=False) keeps only each segment's input and recomputes "
           "the rest during backward")


@checkpointed_forward
@pytest.mark.parametrize("segments", [0, -1, 9])
def test_checkpointed_forward_refuses_a_meaningless_segment_count(impl, segments):
    x = torch.randn(2, 16, dtype=torch.float64)
    with expect_raises(ValueError, f"checkpointed_forward(8 blocks, x, segments={segments})", names=segments):
        impl.checkpointed_forward(_blocks(), x, segments)


# ---------------------------------------------------------------- training_memory


def _real_step_bytes(model, x, opt) -> dict[str, int]:
    """The bytes a real step on the CPU holds, each kind measured where it lives."""
    out, saved = count_saved_bytes(model, x)
    out.float().pow(2).mean().backward()
    opt.step()
    moments = sum(v.nbytes for state in opt.state.values() for k, v in state.items()
                  if isinstance(v, torch.Tensor) and k != "step")
    return {"params": sum(p.nbytes for p in model.parameters()),
            "grads": sum(p.grad.nbytes for p in model.parameters() if p.grad is not None),
            "optimizer_state": moments, "activations": saved}


def _expect_agrees(got, real, situation) -> None:
    __tracebackhide__ = True
    expect(isinstance(got, dict), f"{situation}: expected a dict, got {type(got).__name__}")
    keys = {"params", "grads", "optimizer_state", "activations", "total"}
    expect(set(got) == keys, f"{situation}: the keys are {sorted(got)}, expected {sorted(keys)}")
    hints = {"params": "every parameter once, numel() x the dtype's bytes",
             "grads": "one gradient per parameter that requires grad, like the parameter",
             "optimizer_state": "adam keeps two moments per parameter (exp_avg, exp_avg_sq), sgd none, sgd with "
                                "momentum one",
             "activations": "what autograd saves in one forward, run on the meta device"}
    for key, value in real.items():
        expect(isinstance(got[key], int), f"{situation}: {key} is {type(got[key]).__name__}, expected int")
        expect(abs(got[key] - value) <= 0.01 * value,
               f"{situation}: {key} is {got[key]:,} bytes; a real step on the CPU holds {value:,}", hints[key])
    expect(got["total"] == sum(got[k] for k in real), f"{situation}: total {got['total']:,} is not the sum of the rest")


def _memory_mlp(seed: int = 0, dtype=torch.float32) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(20, 64), nn.GELU(), nn.LayerNorm(64), nn.Dropout(0.1),
                         nn.Linear(64, 5)).to(dtype)


@training_memory
@pytest.mark.parametrize("optimizer", ["adam", "sgd", "sgd_momentum"])
def test_training_memory_agrees_with_a_real_step(impl, optimizer):
    model = _memory_mlp()
    got = impl.training_memory(model, (16, 20), optimizer=optimizer)
    make = {"adam": lambda p: torch.optim.Adam(p), "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
            "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)}[optimizer]
    real = _real_step_bytes(model, torch.randn(16, 20), make(model.parameters()))
    _expect_agrees(got, real, f"training_memory(MLP, (16, 20), optimizer={optimizer!r})")


@training_memory
def test_training_memory_in_bfloat16_agrees_with_a_bfloat16_step(impl):
    got = impl.training_memory(_memory_mlp(), (16, 20), param_dtype=torch.bfloat16)
    model = _memory_mlp(dtype=torch.bfloat16)
    real = _real_step_bytes(model, torch.randn(16, 20, dtype=torch.bfloat16), torch.optim.Adam(model.parameters()))
    _expect_agrees(got, real, "training_memory(MLP, (16, 20), param_dtype=torch.bfloat16)")


@training_memory
def test_training_memory_with_autocast_counts_activations_in_low_precision(impl):
    got = impl.training_memory(_memory_mlp(), (16, 20), autocast_dtype=torch.bfloat16)
    model = _memory_mlp()
    real = _real_step_bytes(model, torch.randn(16, 20), torch.optim.Adam(model.parameters()))
    low = _memory_mlp(dtype=torch.bfloat16)
    real["activations"] = count_saved_bytes(low, torch.randn(16, 20, dtype=torch.bfloat16))[1]
    _expect_agrees(got, real, "training_memory(MLP, (16, 20), autocast_dtype=torch.bfloat16)")


@training_memory
def test_training_memory_counts_no_gradient_or_moments_for_frozen_parameters(impl):
    model = _memory_mlp()
    model[0].requires_grad_(False)
    got = impl.training_memory(model=model, batch_shape=(16, 20))  # the contract's names, as keywords
    real = _real_step_bytes(model, torch.randn(16, 20), torch.optim.Adam(model.parameters()))
    _expect_agrees(got, real, "training_memory(MLP with its first Linear frozen, (16, 20))")


@training_memory
def test_training_memory_measures_activations_under_a_callers_no_grad(impl):
    model = _memory_mlp()
    with torch.no_grad():
        got = impl.training_memory(model, (16, 20))
    expected = count_saved_bytes(model, torch.randn(16, 20))[1]
    expect(got["activations"] == expected,
           f"called under torch.no_grad(), training_memory reports {got['activations']:,} bytes of activations; "
           f"a training forward saves {expected:,}",
           "the step it sizes is a training step: run the meta forward under torch.enable_grad()")


@training_memory
def test_training_memory_counts_tied_weights_once(impl):
    torch.manual_seed(0)
    emb, head = nn.Embedding(50, 16), nn.Linear(16, 50, bias=False)
    head.weight = emb.weight  # one Parameter, two modules
    model = nn.Sequential(emb, nn.LayerNorm(16), head)
    got = impl.training_memory(model, (4, 12))
    real = _real_step_bytes(model, torch.randint(0, 50, (4, 12)), torch.optim.Adam(model.parameters()))
    _expect_agrees(got, real, "training_memory of an embedding model with a tied head, token ids (4, 12)")


@training_memory
def test_training_memory_rejects_an_unknown_optimizer(impl):
    with expect_raises(ValueError, "training_memory(..., optimizer='lion')", names="lion"):
        impl.training_memory(_memory_mlp(), (4, 20), optimizer="lion")


@training_memory
def test_training_memory_leaves_the_model_as_it_was(impl):
    model = _memory_mlp()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    impl.training_memory(model, (4, 20), param_dtype=torch.bfloat16)
    for name, p in model.named_parameters():
        expect(p.device.type == "cpu" and p.dtype == torch.float32,
               f"after training_memory, {name} is {p.dtype} on {p.device}: the caller's model was converted",
               "size the step on meta copies of the tensors (torch.func.functional_call, or a deepcopy moved to "
               "meta): never .to() the caller's model")
        expect_equal(p.detach(), before[name], what=f"{name} after training_memory")


@training_memory
def test_training_memory_of_a_small_cpu_model_allocates_nothing(impl):
    model = _memory_mlp()
    _, costs = count_costs(impl.training_memory, model, (512, 20), memory=True)
    expect(costs.real_bytes < 64 * 1024,
           f"training_memory created {costs.real_bytes:,} bytes of real tensors for a model whose activations alone "
           "would be hundreds of KiB",
           "run the forward on the meta device: shapes and dtypes, no data")


@training_memory
def test_training_memory_sizes_a_7b_model_on_meta_without_allocating(impl):
    with torch.device("meta"):
        model = nn.Sequential(*[nn.Linear(8192, 8192, bias=False) for _ in range(104)])  # 6.98e9 parameters
    n = sum(p.numel() for p in model.parameters())
    count_costs(torch.zeros, 1, memory=True)  # the first dispatch mode imports torch._dynamo: not the exercise's bytes
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, the process's peak so far
    got, costs = count_costs(impl.training_memory, model, (8, 8192), memory=True)
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) * 1024
    expect(costs.real_bytes < MB and grown < 200 * MB,
           f"sizing a {n / 1e9:.2f}e9-parameter model created {costs.real_bytes / MB:,.0f} MiB of real tensors and "
           f"grew the process's peak memory by {grown / MB:,.0f} MiB",
           "everything on the meta device: count numel() x bytes for the parameters, gradients and moments, and "
           "run the forward on meta tensors")
    expected = {"params": 4 * n, "grads": 4 * n, "optimizer_state": 8 * n, "activations": 104 * 8 * 8192 * 4}
    for key, value in expected.items():
        expect(got[key] == value, f"for {n:,} float32 parameters with Adam, {key} is {got[key]:,}, expected {value:,}",
               "params, grads: 4 bytes each; Adam: two 4-byte moments each; activations: each Linear saves its "
               "(8, 8192) input")


# ---------------------------------------------------------------- demo


@demo
def test_demo_counts_every_cost(impl):
    from demos.efficiency import main

    out = main(impl.module, quick=True)
    expect(isinstance(out, dict), f"the demo should return a dict of headline numbers, got {type(out).__name__}")
    expect(out["syncs_per_step"] == {"item": 1, "train_step": 0},
           f"the demo counted {out['syncs_per_step']} host synchronisations per step",
           "make the train_step tests pass first")
    expect(out["cache_flops_ratio"] <= 2.5 < out["no_cache_flops_ratio"],
           f"FLOPs for twice the tokens: {out['cache_flops_ratio']:.1f}x with the cache, "
           f"{out['no_cache_flops_ratio']:.1f}x without", "make the generate_cached tests pass first")
    expect(out["checkpoint_saved_bytes"] < out["plain_saved_bytes"],
           f"checkpointing saved {out['checkpoint_saved_bytes']:,} bytes, plain {out['plain_saved_bytes']:,}")
    row = out["memory_table"]["fp32_adam"]
    expect(row["total"] == 4 * row["params"] + row["activations"],
           f"the memory table's fp32 Adam row: {row}", "make the training_memory tests pass first")
