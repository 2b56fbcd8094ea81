"""language_model: the tokenizer, next-token batches, the loss, TinyGPT, generation and perplexity.

generate and perplexity work with any module that has a `block_size` and maps (B, T) ids to (B, T, V)
logits. Their tests use scripted fakes with exactly known logits that record every call (the ids they
were fed, their own and their child's training flag, whether autograd was on), so the tests see what
happened inside the call, not only what came out. Sampling is tested by its distribution over
thousands of draws with loose, statistically safe bounds: any correct sampler passes (multinomial,
Gumbel-max, inverse CDF...), whatever random numbers it consumes.
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kata.learn.checks import (
    devices,
    expect,
    expect_close,
    expect_device,
    expect_dtype,
    expect_equal,
    expect_raises,
    expect_shape,
    fail,
)

CharTokenizer = pytest.mark.exercise("CharTokenizer")
next_token_batch = pytest.mark.exercise("next_token_batch")
lm_loss = pytest.mark.exercise("lm_loss")
TinyGPT = pytest.mark.exercise("TinyGPT")
generate = pytest.mark.exercise("generate")
perplexity = pytest.mark.exercise("perplexity")
demo = pytest.mark.exercise("demo")

F64 = torch.float64
I64 = torch.int64
TEXT = "the cat sat on the mat; the dog sat on the log."


def _expect_value_error(fn, what: str, *names) -> None:
    """Expect ValueError from fn() with a message naming one of `names` (any one of the values at fault)."""
    try:
        fn()
    except NotImplementedError:
        raise
    except ValueError as err:
        expect(any(str(n) in str(err) for n in names),
               f"{what}: raised ValueError as it should, but its message {str(err)!r} names none of "
               f"{', '.join(map(str, names))}", "say which value was wrong, so the caller can fix it without reading "
                                                "your code")
        return
    except Exception as err:  # noqa: BLE001
        fail(f"{what}: expected ValueError, got {type(err).__name__}: {err}")
    fail(f"{what}: expected ValueError, but nothing was raised")


def _gen(seed: int, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _perm_data(n: int, seed: int = 0) -> torch.Tensor:
    """N distinct int64 ids in random order: a window's start is found from its first id."""
    return torch.randperm(n, generator=_gen(seed))


def _starts_of(x: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """The start of every row of `x` in `data` (whose ids are distinct)."""
    where = torch.empty(int(data.max()) + 1, dtype=I64)
    where[data.cpu()] = torch.arange(len(data))
    return where[x[:, 0].cpu()]


# ---------------------------------------------------------------- CharTokenizer


@CharTokenizer
def test_tokenizer_chars_are_the_sorted_distinct_characters(impl):
    tok = impl.CharTokenizer(TEXT)
    expect(isinstance(tok.chars, list), f"chars should be a list of str, got {type(tok.chars).__name__}",
           "keep the vocabulary as a list: chars[i] is the character of id i")
    expect(tok.chars == sorted(set(TEXT)),
           f"chars should be the distinct characters in sorted order {sorted(set(TEXT))}, got {tok.chars}",
           "a set's order changes from one Python process to the next (string hashing is randomised), so a "
           "saved model would decode garbage: sort the distinct characters")
    expect(isinstance(tok.vocab_size, int) and tok.vocab_size == len(set(TEXT)),
           f"vocab_size should be the int {len(set(TEXT))}, got {tok.vocab_size!r}", "vocab_size = len(chars)")


@CharTokenizer
def test_tokenizer_vocabulary_does_not_depend_on_the_order_of_the_text(impl):
    shuffled = "".join(TEXT[i] for i in torch.randperm(len(TEXT), generator=_gen(1)).tolist())
    tokenizers = [impl.CharTokenizer(t) for t in (TEXT, TEXT[::-1], shuffled)]
    got = [tok.chars for tok in tokenizers]
    expect(got[0] == got[1] == got[2],
           f"the same characters in another order gave other vocabularies: {got}",
           "ids must depend only on which characters occur, never on where they first occur: sort them")
    ids = [tok.encode("a cat") for tok in tokenizers]
    expect(all(torch.equal(i, ids[0]) for i in ids), f"'a cat' was encoded differently: {ids}",
           "sorted characters give every tokenizer of the same alphabet the same ids")


@CharTokenizer
def test_tokenizer_encode_gives_int64_ids_in_sorted_order(impl):
    tok = impl.CharTokenizer(TEXT)
    ids = tok.encode("dog sat")
    chars = sorted(set(TEXT))
    expected = torch.tensor([chars.index(c) for c in "dog sat"])
    expect_shape(ids, (7,), "encode('dog sat')", "one id per character: a 1-D tensor of len(s)")
    expect_dtype(ids, I64, "encode('dog sat')", "token ids are int64 (torch.long): nn.Embedding and "
                 "F.cross_entropy want them so")
    expect_equal(ids, expected, what="encode('dog sat')", hint="the id of a character is its index in the sorted chars")


@CharTokenizer
def test_tokenizer_encode_of_an_empty_string_is_an_empty_int64_tensor(impl):
    ids = impl.CharTokenizer(TEXT).encode("")
    expect_shape(ids, (0,), "encode('')", "no characters, no ids: shape (0,)")
    expect_dtype(ids, I64, "encode('')", "torch.tensor([]) is float32: say dtype=torch.int64")


@CharTokenizer
def test_tokenizer_decode_inverts_encode_for_a_tensor_and_a_list(impl):
    tok = impl.CharTokenizer(TEXT)
    ids = tok.encode("the log sat")
    for given, what in ((ids, "a 1-D tensor"), (ids.tolist(), "a list of ints"), ([], "an empty list")):
        want = "the log sat" if len(given) else ""
        got = tok.decode(given)
        expect(got == want, f"decode of {what} gave {got!r}, expected {want!r}",
               "decode maps each id back through chars and joins the characters; a tensor becomes a list "
               "with .tolist()")


@CharTokenizer
def test_tokenizer_encode_raises_on_an_unknown_character_naming_it(impl):
    tok = impl.CharTokenizer(TEXT)
    with expect_raises(ValueError, "encode('cat!') with '!' not in the vocabulary", names="!"):
        tok.encode("cat!")


@CharTokenizer
@pytest.mark.parametrize("bad", [-1, "vocab_size", 99], ids=["-1", "vocab_size", "99"])
def test_tokenizer_decode_raises_on_an_id_outside_the_vocabulary(impl, bad):
    tok = impl.CharTokenizer(TEXT)
    bad = tok.vocab_size if bad == "vocab_size" else bad
    with expect_raises(ValueError, f"decode([2, {bad}]) with vocab_size={tok.vocab_size}", names=bad):
        tok.decode([2, bad])


# ---------------------------------------------------------------- next_token_batch


def _batch(impl, data, block_size, batch_size, generator=None):
    got = impl.next_token_batch(data, block_size, batch_size, generator=generator)
    expect(isinstance(got, tuple) and len(got) == 2,
           f"next_token_batch should return a tuple (x, y), got {type(got).__name__}")
    x, y = got
    for t, name in ((x, "x"), (y, "y")):
        expect_shape(t, (batch_size, block_size), name, "one row per example, block_size tokens each")
        expect_dtype(t, I64, name, "token ids stay int64")
    return x, y


@next_token_batch
def test_batch_targets_are_the_inputs_shifted_by_one(impl):
    data = _perm_data(40)
    x, y = _batch(impl, data, 6, 16, _gen(0))
    starts = _starts_of(x, data)
    window = starts[:, None] + torch.arange(6)
    expect_equal(x, data[window], what="x[b] vs data[s : s + block_size]",
                 hint="each row of x is block_size consecutive tokens of data")
    hint = "the target of position t is the NEXT token: y[b] = data[s + 1 : s + block_size + 1]"
    if torch.equal(y, x):
        hint = "y equals x: a model trained on it learns to copy its input. Shift the targets by one token"
    expect_equal(y, data[window + 1], what="y[b] vs data[s + 1 : s + block_size + 1]", hint=hint)


@next_token_batch
def test_batch_draws_every_start_including_the_last(impl):
    N, block_size = 12, 4  # starts 0 .. N - block_size - 1 = 0 .. 7
    data = _perm_data(N)
    x, _ = _batch(impl, data, block_size, 2000, _gen(1))
    seen = set(_starts_of(x, data).tolist())
    want = set(range(N - block_size))
    hint = "a start s needs s + block_size + 1 <= N: every s in 0 .. N - block_size - 1 is valid"
    if want - seen == {N - block_size - 1}:
        hint = ("the last start N - block_size - 1 is never drawn, so the text's last token is never a target: "
                "torch.randint(high) excludes high, so high = N - block_size")
    expect(seen == want, f"over 2000 rows from N={N} tokens with block_size={block_size}, the starts drawn were "
           f"{sorted(seen)}; expected every one of {sorted(want)}", hint)


@next_token_batch
def test_batch_with_a_single_possible_start(impl):
    data = _perm_data(7)
    x, y = _batch(impl, data, 6, 3, _gen(2))
    expect_equal(x, data[:6].expand(3, 6), what="x when N = block_size + 1",
                 hint="with N = block_size + 1 the only start is 0: randint(N - block_size) draws from {0}")
    expect_equal(y, data[1:].expand(3, 6), what="y when N = block_size + 1")


@next_token_batch
def test_batch_starts_are_uniform(impl):
    N, block_size, rows = 13, 5, 8000  # 8 starts, 1000 expected each (std ~30)
    data = _perm_data(N)
    x, _ = _batch(impl, data, block_size, rows, _gen(3))
    counts = torch.bincount(_starts_of(x, data), minlength=N - block_size)[: N - block_size]
    expected = rows / (N - block_size)
    worst = (counts - expected).abs().max().item() / expected
    expect(worst < 0.15, f"start counts over {rows} rows: {counts.tolist()}; expected about {expected:.0f} each "
           f"(off by {worst:.0%})", "draw every start with equal probability, each row independently "
                                    "(torch.randint over all N - block_size starts)")


@next_token_batch
def test_batch_rows_are_drawn_independently(impl):
    N, block_size, rows = 13, 5, 8000  # 8 starts: 64 (start, next row's start) pairs, 125 expected each (std ~11)
    data = _perm_data(N)
    x, _ = _batch(impl, data, block_size, rows, _gen(6))
    starts = _starts_of(x, data)
    pairs = torch.bincount(starts[:-1] * 8 + starts[1:], minlength=64)
    expected = (rows - 1) / 64
    worst = (pairs - expected).abs().max().item() / expected
    expect(worst < 0.5, f"the start of a row predicts the start of the next one: counts of (start, next start) pairs "
           f"range from {pairs.min().item()} to {pairs.max().item()}, expected about {expected:.0f} each",
           "draw one independent start per row (torch.randint(high, (batch_size,))), not one start for the batch")


@next_token_batch
def test_batch_same_generator_state_gives_the_same_batch(impl):
    data = _perm_data(60)
    x1, y1 = _batch(impl, data, 5, 8, _gen(7))
    x2, y2 = _batch(impl, data, 5, 8, _gen(7))
    hint = "draw the starts with generator=generator, so a seeded generator reproduces the batch"
    expect_equal(x2, x1, what="x from two generators seeded alike", hint=hint)
    expect_equal(y2, y1, what="y from two generators seeded alike", hint=hint)
    x3, _ = _batch(impl, data, 5, 8, _gen(8))
    expect(not torch.equal(x3, x1), "generators seeded 7 and 8 gave the same batch", hint)


@next_token_batch
def test_batch_without_generator_uses_the_global_rng(impl):
    data = _perm_data(60)
    torch.manual_seed(11)
    x1, _ = _batch(impl, data, 5, 8)
    torch.manual_seed(11)
    x2, _ = _batch(impl, data, 5, 8)
    torch.manual_seed(12)
    x3, _ = _batch(impl, data, 5, 8)
    hint = "generator=None means torch's global generator: torch.randint(..., generator=None) uses it"
    expect_equal(x2, x1, what="x after torch.manual_seed(11) twice", hint=hint)
    expect(not torch.equal(x3, x1), "torch.manual_seed(11) and (12) gave the same batch", hint)


@next_token_batch
def test_batch_reads_a_non_contiguous_data_view(impl):
    base = _perm_data(80)
    data = base[::2]  # 40 distinct ids, stride 2
    x, y = _batch(impl, data, 5, 12, _gen(4))
    window = _starts_of(x, data)[:, None] + torch.arange(5)
    hint = "index data by positions (data[idx] or unfold), which respects its stride; do not assume contiguity"
    expect_equal(x, data[window], what="x from data = base[::2]", hint=hint)
    expect_equal(y, data[window + 1], what="y from data = base[::2]", hint=hint)


@next_token_batch
@pytest.mark.parametrize("N", [6, 4], ids=["N=block_size", "N<block_size"])
def test_batch_raises_when_data_is_too_short(impl, N):
    _expect_value_error(lambda: impl.next_token_batch(_perm_data(N), 6, 2, generator=_gen(0)),
                        f"next_token_batch(data of {N} tokens, block_size=6, ...)", N, 6)


@next_token_batch
@pytest.mark.parametrize("device", devices())
def test_batch_lives_on_the_device_of_data(impl, device):
    data = _perm_data(30).to(device)
    x, y = _batch(impl, data, 4, 6, _gen(5))
    hint = "draw the starts on the CPU with the CPU generator, then index data where it lives"
    expect_device(x, device, "x", hint)
    expect_device(y, device, "y", hint)
    window = _starts_of(x, data)[:, None] + torch.arange(4)
    expect_equal(y.cpu(), data.cpu()[window + 1], what=f"y on {device}")


# ---------------------------------------------------------------- lm_loss


def _logits(B, T, V, seed, dtype=F64):
    return (torch.randn(B, T, V, generator=_gen(seed), dtype=F64) * 2).to(dtype)


def _targets(B, T, V, seed):
    return torch.randint(V, (B, T), generator=_gen(seed))


def _check_loss(impl, logits, targets, **kwargs):
    loss = impl.lm_loss(logits, targets, **kwargs)
    B, T, V = logits.shape
    ref = F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T), **kwargs)
    expect_shape(loss, (), "lm_loss(...)", "the loss is one number: a 0-d tensor (mean over positions)")
    hint = "flatten: F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T)), the mean over every position"
    if T == V and isinstance(loss, torch.Tensor) and loss.shape == ():
        wrong = F.cross_entropy(logits, targets, **kwargs)
        if torch.allclose(loss.detach(), wrong):
            hint = ("F.cross_entropy on (B, T, V) reads axis 1 as the classes: here it took the time axis as the "
                    "vocabulary. Flatten to (B*T, V) and (B*T,) first")
    expect_close(loss, ref, what=f"lm_loss for logits {tuple(logits.shape)}", rtol=1e-10, atol=1e-12, hint=hint)
    return loss


@lm_loss
def test_loss_matches_cross_entropy_on_the_flattened_logits(impl):
    _check_loss(impl, _logits(3, 5, 7, seed=0), _targets(3, 5, 7, seed=1))


@lm_loss
def test_loss_when_the_sequence_is_as_long_as_the_vocabulary(impl):
    _check_loss(impl, _logits(2, 6, 6, seed=2), _targets(2, 6, 6, seed=3))


@lm_loss
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float64, 1e-12), (torch.bfloat16, 1e-2)],
                         ids=["float32", "float64", "bfloat16"])
def test_loss_keeps_the_dtype_of_the_logits(impl, dtype, tol):
    logits, targets = _logits(2, 4, 5, seed=4, dtype=dtype), _targets(2, 4, 5, seed=5)
    loss = impl.lm_loss(logits, targets)
    expect_dtype(loss, dtype, f"lm_loss of {dtype} logits", "no casts needed: cross-entropy keeps the dtype")
    expect_close(loss, F.cross_entropy(logits.reshape(8, 5), targets.reshape(8)), what=f"lm_loss ({dtype})",
                 rtol=tol, atol=tol)


@lm_loss
@pytest.mark.parametrize("ignore_index", [None, 3], ids=["default -100", "ignore_index=3"])
def test_loss_leaves_out_ignored_targets(impl, ignore_index):
    logits, targets = _logits(3, 6, 8, seed=6), _targets(3, 6, 8, seed=7)
    ignored = torch.rand(3, 6, generator=_gen(8)) < 0.4
    targets[ignored] = -100 if ignore_index is None else 3
    kwargs = {} if ignore_index is None else {"ignore_index": ignore_index}
    _check_loss(impl, logits, targets, **kwargs)


@lm_loss
def test_loss_has_a_graph_with_the_reference_gradient(impl):
    logits, targets = _logits(2, 5, 6, seed=9).requires_grad_(), _targets(2, 5, 6, seed=10)
    targets[0, 1] = -100
    loss = impl.lm_loss(logits, targets)
    expect(isinstance(loss, torch.Tensor) and loss.requires_grad,
           "lm_loss returned a result without a graph", "compute it with tensor operations, no .item() or detach")
    loss.backward()
    ref_logits = logits.detach().clone().requires_grad_()
    F.cross_entropy(ref_logits.reshape(10, 6), targets.reshape(10)).backward()
    expect_close(logits.grad, ref_logits.grad, what="gradient of lm_loss w.r.t. the logits", rtol=1e-10, atol=1e-12)


@lm_loss
def test_loss_accepts_non_contiguous_logits(impl):
    logits = _logits(2, 7, 5, seed=11).transpose(1, 2)  # (B, T, V) = (2, 5, 7), not contiguous
    expect(not logits.is_contiguous(), "internal: the logits should be a strided view")
    _check_loss(impl, logits, _targets(2, 5, 7, seed=12))


# ---------------------------------------------------------------- TinyGPT

V_SMALL, BLOCK, D_MODEL = 13, 8, 32


def _gpt(impl, *, seed: int = 0, vocab_size=V_SMALL, block_size=BLOCK, d_model=D_MODEL, n_heads=4, n_layers=2,
         dropout=0.0):
    torch.manual_seed(seed)
    return impl.TinyGPT(vocab_size, block_size, d_model=d_model, n_heads=n_heads, n_layers=n_layers, dropout=dropout)


def _ids(B, T, seed, vocab_size=V_SMALL):
    return torch.randint(vocab_size, (B, T), generator=_gen(seed))


def _spread_embeddings(model: nn.Module, seed: int) -> None:
    """Unit-scale token and position embeddings, whatever the initialisation: positions matter visibly."""
    g = _gen(seed)
    with torch.no_grad():
        for emb in (model.tok_emb, model.pos_emb):
            emb.weight.copy_(torch.randn(emb.weight.shape, generator=g, dtype=F64).to(emb.weight.dtype))


def _logits_of(model, idx, what):
    out = model(idx)
    expect_shape(out, (*idx.shape, V_SMALL), what, "TinyGPT maps (B, T) ids to (B, T, vocab_size) logits")
    return out


@TinyGPT
@pytest.mark.parametrize("n_layers", [1, 3])
def test_gpt_has_the_named_submodules(impl, n_layers):
    m = _gpt(impl, n_layers=n_layers, n_heads=2)
    expect(isinstance(m, nn.Module), f"TinyGPT should be an nn.Module, got {type(m).__name__}")
    expect(getattr(m, "block_size", None) == BLOCK, f"TinyGPT.block_size should be {BLOCK}, got "
           f"{getattr(m, 'block_size', None)!r}", "keep the block_size argument as an attribute: generate reads it")
    for name, shape in (("tok_emb", (V_SMALL, D_MODEL)), ("pos_emb", (BLOCK, D_MODEL))):
        sub = getattr(m, name, None)
        expect(isinstance(sub, nn.Embedding) and tuple(sub.weight.shape) == shape,
               f"TinyGPT.{name} should be nn.Embedding{shape}, got {sub!r}",
               "tok_emb: one vector per vocabulary entry; pos_emb: one learned vector per position 0..block_size-1")
    blocks = getattr(m, "blocks", None)
    expect(isinstance(blocks, nn.ModuleList) and len(blocks) == n_layers,
           f"TinyGPT.blocks should be an nn.ModuleList of n_layers={n_layers} blocks, got {blocks!r}"[:300])
    ln_f = getattr(m, "ln_f", None)
    expect(isinstance(ln_f, nn.LayerNorm) and tuple(ln_f.normalized_shape) == (D_MODEL,),
           f"TinyGPT.ln_f should be nn.LayerNorm({D_MODEL}), got {ln_f!r}")
    head = getattr(m, "head", None)
    expect(isinstance(head, nn.Linear) and (head.in_features, head.out_features) == (D_MODEL, V_SMALL)
           and head.bias is None, f"TinyGPT.head should be nn.Linear({D_MODEL}, {V_SMALL}, bias=False), got {head!r}")


@TinyGPT
def test_gpt_head_weight_is_the_token_embedding(impl):
    m = _gpt(impl)
    expect(m.head.weight is m.tok_emb.weight,
           "head.weight and tok_emb.weight are different Parameters",
           "weight tying: the same (V, d_model) matrix embeds a token and scores it at the output; assign the "
           "embedding's Parameter to the head so both are one tensor (equal values are not enough: they would "
           "drift apart in training)")


@TinyGPT
def test_gpt_logits_have_shape_b_t_v_for_every_length(impl):
    m = _gpt(impl)
    for T in range(1, BLOCK + 1):
        out = _logits_of(m, _ids(3, T, seed=T), f"TinyGPT(...)(idx of shape (3, {T}))")
        expect_dtype(out, torch.float32, "logits", "the logits have the parameters' dtype")
        expect(bool(torch.isfinite(out).all()), f"logits for T={T} contain NaN or inf",
               "a row of the attention mask with nothing allowed gives NaN: position t must see 0..t, itself included")


@TinyGPT
def test_gpt_raises_when_the_sequence_is_longer_than_block_size(impl):
    m = _gpt(impl)
    _expect_value_error(lambda: m(_ids(2, BLOCK + 1, seed=0)),
                        f"TinyGPT(block_size={BLOCK}) on a sequence of {BLOCK + 1} tokens", BLOCK + 1, BLOCK)


@TinyGPT
def test_gpt_is_causal(impl):
    m = _gpt(impl, seed=1).double()
    _spread_embeddings(m, seed=2)
    idx = _ids(2, BLOCK, seed=3)
    changed = idx.clone()
    changed[:, 5:] = (changed[:, 5:] + 1 + _ids(2, BLOCK - 5, seed=4) % (V_SMALL - 1)) % V_SMALL
    out, out2 = _logits_of(m, idx, "logits"), _logits_of(m, changed, "logits")
    expect_close(out2[:, :5], out[:, :5], what="logits at positions 0..4 after changing the tokens at 5..7",
                 rtol=0, atol=1e-9,
                 hint="position t must not see tokens after t: give every block a causal mask. Mind the convention: "
                      "nn.TransformerEncoderLayer and nn.MultiheadAttention block where a boolean mask is True (the "
                      "upper triangle), F.scaled_dot_product_attention attends where it is True (or is_causal=True)")
    expect(not torch.allclose(out2[:, 5:], out[:, 5:]), "changing the tokens at 5..7 did not change their own logits",
           "the logits at position t must depend on the token at t")


@TinyGPT
def test_gpt_logits_of_a_prefix_equal_the_first_logits_of_the_whole(impl):
    m = _gpt(impl, seed=5).double()
    _spread_embeddings(m, seed=6)
    idx = _ids(2, BLOCK, seed=7)
    full = _logits_of(m, idx, "logits of the full sequence")
    for T in (1, 3, BLOCK - 1):
        expect_close(_logits_of(m, idx[:, :T], f"logits of the first {T} tokens"), full[:, :T],
                     what=f"logits of idx[:, :{T}] vs the first {T} positions of the logits of idx",
                     rtol=1e-9, atol=1e-9,
                     hint="position t is position t whatever follows: use pos_emb of positions 0..T-1 (not the "
                          "last T of block_size), and a causal mask so later tokens change nothing")


@TinyGPT
def test_gpt_logits_depend_on_the_order_of_the_tokens(impl):
    # One layer: with more, the causal mask itself leaks order (position 1 sees two tokens, position 0 one),
    # so only a single block shows whether the position embeddings are used.
    m = _gpt(impl, seed=8, n_layers=1).double()
    _spread_embeddings(m, seed=9)
    idx = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8], [9, 0, 11, 2, 3, 12, 5, 10]])
    swapped = idx[:, [1, 0, 2, 3, 4, 5, 6, 7]]  # the first two tokens swapped
    diff = (_logits_of(m, swapped, "logits")[:, 2:] - _logits_of(m, idx, "logits")[:, 2:]).abs().max().item()
    expect(diff > 1e-6, "swapping the first two tokens left the logits at positions 2..7 unchanged "
           f"(max difference {diff:.2g})",
           "causal attention alone sees the context as a bag of tokens: add the learned position embeddings "
           "pos_emb(arange(T)) to the token embeddings so the order counts")


@TinyGPT
def test_gpt_dropout_is_active_in_train_mode_only(impl):
    m = _gpt(impl, seed=10, dropout=0.5)
    idx = _ids(2, BLOCK, seed=11)
    m.train()
    expect(not torch.equal(m(idx), m(idx)), "TinyGPT(dropout=0.5) in train mode gave the same logits twice",
           "use the dropout argument (nn.Dropout on the embeddings and inside the blocks)")
    m.eval()
    expect_equal(m(idx), m(idx), what="two eval-mode forwards with dropout=0.5",
                 hint="nn.Dropout is the identity in eval mode")


def _ln_f_io(m, idx):
    """(input, output) of m.ln_f in a forward pass: the residual stream after the last block, normalised."""
    seen = {}
    pre = m.ln_f.register_forward_pre_hook(lambda module, args: seen.__setitem__("in", args[0].detach().clone()))
    post = m.ln_f.register_forward_hook(lambda module, args, out: seen.__setitem__("out", out.detach().clone()))
    try:
        with torch.no_grad():
            m(idx)
    finally:
        pre.remove()
        post.remove()
    expect("in" in seen, "TinyGPT's forward never called ln_f", "logits = head(ln_f(blocks(...)))")
    return seen["in"], seen["out"]


@TinyGPT
def test_gpt_adds_the_position_embeddings_to_the_token_embeddings(impl):
    m = _gpt(impl, seed=14).double()
    _spread_embeddings(m, seed=15)
    idx = _ids(2, BLOCK, seed=16)
    shifted = copy.deepcopy(m)
    c = torch.randn(D_MODEL, generator=_gen(17), dtype=F64)
    with torch.no_grad():  # tok + pos is unchanged when c moves from one table to the other
        shifted.tok_emb.weight += c
        shifted.pos_emb.weight -= c
    expect_close(_ln_f_io(shifted, idx)[1], _ln_f_io(m, idx)[1],
                 what="the final hidden states after adding c to every token embedding and subtracting it from "
                      "every position embedding", rtol=1e-9, atol=1e-9,
                 hint="the input of the first block is tok_emb(idx) + pos_emb(positions): a plain sum, no other "
                      "combination and no scale factor on either")


@TinyGPT
def test_gpt_blocks_are_pre_layernorm(impl):
    m = _gpt(impl, seed=18).double()
    g = _gen(19)
    with torch.no_grad():  # embeddings of scale 10: a residual stream that no block normalises keeps that scale
        for emb in (m.tok_emb, m.pos_emb):
            emb.weight.copy_(torch.randn(emb.weight.shape, generator=g, dtype=F64) * 10)
    stream, _ = _ln_f_io(m, _ids(2, BLOCK, seed=20))
    spread = stream.std(dim=-1)  # (B, T): per position, over d_model
    expect(bool((spread > 3).all()),
           f"the input of ln_f has a spread of {spread.min().item():.3g} .. {spread.max().item():.3g} per position, "
           "as if the last block normalised its output, though the embeddings have a spread near 14",
           "pre-LayerNorm blocks normalise only what goes into each sublayer, x + attn(ln_1(x)) then "
           "x + mlp(ln_2(x)); the residual stream itself is normalised once, by ln_f (norm_first=True)")


@TinyGPT
def test_gpt_blocks_have_a_feed_forward_network(impl):
    # One block, one token: attention over a single position is an affine map of ln_1(x), and a layer norm
    # forgets a positive scale, so without a feed-forward network block(lam * v) - lam * v is the same for every
    # lam. The feed-forward network reads ln_2(lam * v + attention), which does change with lam.
    m = _gpt(impl, seed=23, n_layers=1).double().eval()
    g = _gen(24)
    v = torch.randn(D_MODEL, generator=g, dtype=F64)
    lams = torch.tensor([1.0, 2.0, 5.0], dtype=F64)
    with torch.no_grad():
        for p in m.blocks.parameters():  # weights of unit gain, whatever the initialisation: every part counts
            p.copy_(torch.randn(p.shape, generator=g, dtype=F64) / (p.shape[-1] ** 0.5 if p.dim() > 1 else 2))
        m.pos_emb.weight.zero_()
        m.tok_emb.weight[:3] = lams[:, None] * v  # tokens 0, 1, 2 embed as v, 2v, 5v
    stream, _ = _ln_f_io(m, torch.tensor([[0], [1], [2]]))  # (3, 1, d_model)
    update = stream[:, 0] - lams[:, None] * v  # what the block added to each input
    spread = (update - update[0]).abs().max().item()
    expect(spread > 1e-3, f"the block added the same vector to v, 2v and 5v (largest difference {spread:.2g}): it "
           "computes attention but no feed-forward network",
           "a Transformer block is attention then a feed-forward network (Linear, activation, Linear), each on "
           "its own layer norm of the residual stream: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))")


@TinyGPT
def test_gpt_defaults(impl):
    torch.manual_seed(21)
    m = impl.TinyGPT(V_SMALL, BLOCK)
    expect(m.tok_emb.weight.shape[1] == 64, f"TinyGPT(vocab_size, block_size) has d_model="
           f"{m.tok_emb.weight.shape[1]}, expected the default 64", "the defaults: d_model=64, n_heads=4, n_layers=2")
    expect(len(m.blocks) == 2, f"TinyGPT(vocab_size, block_size) has {len(m.blocks)} blocks, expected n_layers=2")
    m.train()
    idx = _ids(2, BLOCK, seed=22)
    expect_equal(m(idx), m(idx), what="two train-mode forwards of TinyGPT with the default dropout",
                 hint="the default is dropout=0.0: nothing is dropped, even in train mode")


def _adam_step(params, grads, moments, step: int, lr: float, betas=(0.9, 0.999), eps=1e-8) -> None:
    """One Adam step by hand: the first use of torch.optim imports torch._dynamo, seconds a learner would wait."""
    with torch.no_grad():
        for p, g, (m1, m2) in zip(params, grads, moments):
            g = torch.zeros_like(p) if g is None else g
            m1.mul_(betas[0]).add_(g, alpha=1 - betas[0])
            m2.mul_(betas[1]).addcmul_(g, g, value=1 - betas[1])
            p -= lr * (m1 / (1 - betas[0] ** step)) / ((m2 / (1 - betas[1] ** step)).sqrt() + eps)


@TinyGPT
def test_gpt_learns_a_repetitive_text(impl):
    text = "hello world! " * 5
    chars = sorted(set(text))
    data = torch.tensor([chars.index(c) for c in text])
    V, steps = len(chars), 30
    torch.manual_seed(0)
    m = impl.TinyGPT(V, BLOCK, d_model=D_MODEL, n_heads=4, n_layers=1)
    params = list(m.parameters())
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    window = torch.arange(len(data) - BLOCK)[:, None] + torch.arange(BLOCK)  # every window, (57, BLOCK)
    x, y = data[window], data[window + 1]
    for step in range(1, steps + 1):
        loss = F.cross_entropy(m(x).reshape(-1, V), y.reshape(-1))
        _adam_step(params, torch.autograd.grad(loss, params, allow_unused=True), moments, step, lr=1e-2)
    m.eval()
    with torch.no_grad():
        final = F.cross_entropy(m(x).reshape(-1, V), y.reshape(-1)).item()
    expect(final < 0.3 * math.log(V), f"after {steps} Adam steps (lr 1e-2) on {text[:13]!r} * 5 the loss is "
           f"{final:.3f}; a uniform guess scores log(V) = {math.log(V):.3f}",
           "a pattern this regular is learnt in a few steps: check that every parameter is registered "
           "(nn.ModuleList, not a Python list), that nothing is detached, and that the logits come from the head")


@TinyGPT
@pytest.mark.parametrize("device", devices())
def test_gpt_runs_on_the_device_of_its_parameters(impl, device):
    m = _gpt(impl, seed=12)
    idx = _ids(2, 5, seed=13)
    expected = m(idx).detach()
    m.to(device)
    got = m(idx.to(device))
    expect_device(got, device, "logits", "create the positions (and any mask) on idx.device")
    expect_close(got.detach().cpu(), expected, what=f"logits on {device} vs the CPU", rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------- generate


class _Call(NamedTuple):
    ids: torch.Tensor
    training: bool
    child_training: bool
    grad_enabled: bool


class _ScriptedLM(nn.Module):
    """A fake language model whose logits are known exactly and which records every call.

    The logits at position t of a context are by_last[idx[t]] + by_first[idx[0]] + by_pos[t]: they
    depend on the token there, on the context's first token and on the position, so feeding the wrong
    context or reading the wrong position changes them. Raises ValueError on a context longer than
    block_size or an empty one (TinyGPT takes 1 <= T <= block_size), and RuntimeError on call number `fail_on`
    when it is set.
    """

    def __init__(self, vocab_size: int = 7, block_size: int = 4, seed: int = 0, fail_on: int | None = None):
        super().__init__()
        g = _gen(seed)
        self.block_size = block_size
        self.register_buffer("by_last", torch.randn(vocab_size, vocab_size, generator=g, dtype=F64) * 3)
        self.register_buffer("by_first", torch.randn(vocab_size, vocab_size, generator=g, dtype=F64) * 3)
        self.register_buffer("by_pos", torch.randn(block_size, vocab_size, generator=g, dtype=F64) * 3)
        self.scale = nn.Parameter(torch.ones((), dtype=F64))  # under autograd the logits carry a graph
        self.dropout = nn.Dropout(0.5)  # a child whose flag is watched (never applied: the logits stay exact)
        self.fail_on = fail_on
        self.calls: list[_Call] = []

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        return (self.by_last[idx] + self.by_first[idx[:, :1]] + self.by_pos[:T]) * self.scale  # (B, T, V)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        self.calls.append(_Call(idx.detach().cpu().clone(), self.training, self.dropout.training,
                                torch.is_grad_enabled()))
        if self.fail_on is not None and len(self.calls) == self.fail_on:
            raise RuntimeError("the scripted model fails on purpose")
        if idx.dim() != 2 or not 1 <= idx.shape[1] <= self.block_size:
            raise ValueError(f"the model got ids of shape {tuple(idx.shape)}: 1 to block_size={self.block_size} "
                             "tokens fit; crop the context to its last block_size tokens, and feed no empty window")
        return self.logits(idx)


class _FixedLM(nn.Module):
    """A fake language model whose logits are the same vector at every position of every row."""

    def __init__(self, logits: list[float], block_size: int = 4):
        super().__init__()
        self.block_size = block_size
        self.register_buffer("row", torch.tensor(logits, dtype=F64))
        self.scale = nn.Parameter(torch.ones((), dtype=F64))  # a parameter, like any real model

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return (self.row * self.scale).expand(*idx.shape, len(self.row))


def _greedy_path(model: _ScriptedLM, idx: torch.Tensor, n: int, *, position: int = -1, divide: bool = False):
    """The greedy continuation, step by step (position=0 and divide=True build the classic mistakes)."""
    with torch.no_grad():
        for _ in range(n):
            context = idx[:, -model.block_size :]
            logits = model.logits(context)[:, position]  # (B, V)
            if divide:
                logits = logits / 0.0  # +-inf and NaN
            idx = torch.cat([idx, logits.argmax(-1, keepdim=True)], dim=1)
    return idx


def _run_generate(impl, model, idx, n, hint="", **kwargs):
    try:
        out = impl.generate(model, idx, n, **kwargs)
    except NotImplementedError:
        raise
    except Exception as err:  # noqa: BLE001 - a teaching failure instead of a traceback
        if "block_size" in str(err):
            hint = "the model has positions for block_size tokens only: feed it the last ones, idx[:, -block_size:]"
        fail(f"generate(model, idx of shape {tuple(idx.shape)}, {n}, {kwargs}) raised {type(err).__name__}: {err}",
             hint)
    expect_shape(out, (idx.shape[0], idx.shape[1] + n), f"generate(..., max_new_tokens={n})",
                 "return the prompt followed by the new tokens: (B, T0 + max_new_tokens), not only the new ones")
    expect_dtype(out, I64, "generated ids", "token ids stay int64")
    return out


def _sample_frequencies(impl, logits: list[float], rows: int, steps: int, **kwargs) -> torch.Tensor:
    model = _FixedLM(logits)
    out = _run_generate(impl, model, torch.zeros(rows, 1, dtype=I64), steps, generator=_gen(2024), **kwargs)
    new = out[:, 1:].cpu()
    return torch.bincount(new.flatten(), minlength=len(logits)).double() / new.numel()


@generate
def test_generate_returns_the_prompt_followed_by_the_new_tokens(impl):
    model = _ScriptedLM()
    prompt = _ids(3, 2, seed=0, vocab_size=7)
    kept = prompt.clone()
    out = _run_generate(impl, model, prompt, 5, generator=_gen(0))
    expect_equal(out[:, :2], kept, what="the first T0 columns of the result",
                 hint="the result starts with the prompt itself; the new tokens follow it")
    expect_equal(prompt, kept, what="the prompt after generate", hint="do not write into the caller's tensor")
    expect(bool(((out >= 0) & (out < 7)).all()), f"generated ids outside [0, 7): {out.tolist()}")


@generate
def test_generate_with_zero_new_tokens_returns_the_prompt(impl):
    prompt = _ids(2, 3, seed=1, vocab_size=7)
    out = _run_generate(impl, _ScriptedLM(), prompt, 0)
    expect_equal(out, prompt, what="generate(model, prompt, 0)", hint="no new tokens: the prompt itself")


@generate
def test_generate_greedy_takes_the_argmax_of_the_last_position(impl):
    model = _ScriptedLM(seed=3)
    prompt = _ids(4, 2, seed=4, vocab_size=7)
    out = _run_generate(impl, model, prompt, 7, temperature=0.0,
                        hint="temperature=0 means greedy: the argmax of the logits, with no division (x / 0 is inf "
                             "or NaN) and no sampling")
    expected = _greedy_path(model, prompt, 7)
    hint = "each step: the logits of the LAST position (logits[:, -1, :]) are the prediction for the next token"
    if torch.equal(out, _greedy_path(model, prompt, 7, position=0)):
        hint = ("the tokens follow the logits of the FIRST position: logits[:, 0] predicts the second token of the "
                "context; the next token is predicted by the last position, logits[:, -1]")
    elif torch.equal(out, _greedy_path(model, prompt, 7, divide=True)):
        hint = ("the logits were divided by temperature 0 (every one becomes +inf, -inf or NaN) before the argmax: "
                "check for temperature == 0 first and take the argmax of the raw logits")
    expect_equal(out, expected, what="greedy continuation (temperature=0) vs argmax step by step", hint=hint)


@generate
def test_generate_feeds_the_model_the_last_block_size_tokens(impl):
    model = _ScriptedLM(block_size=4, seed=5)
    prompt = _ids(2, 6, seed=6, vocab_size=7)  # longer than block_size already
    out = _run_generate(impl, model, prompt, 4, temperature=0.0)
    expect(len(model.calls) == 4, f"4 new tokens took {len(model.calls)} forward calls; expected one per token")
    for step, call in enumerate(model.calls):
        T = 6 + step
        want = out[:, max(0, T - 4) : T]
        expect(torch.equal(call.ids, want), f"step {step}: the model was fed {call.ids.tolist()}, expected the last "
               f"block_size=4 tokens of the sequence so far {want.tolist()}",
               "crop the context to its LAST block_size tokens (idx[:, -block_size:]), the ones nearest the next one")


@generate
def test_generate_runs_in_eval_mode_without_autograd(impl):
    model = _ScriptedLM(seed=7)
    model.train()
    out = _run_generate(impl, model, _ids(2, 1, seed=8, vocab_size=7), 3, generator=_gen(1))
    expect(out.grad_fn is None and not out.requires_grad, "the generated ids carry an autograd graph",
           "generation records nothing for backward: run it under torch.no_grad()")
    expect(len(model.calls) == 3, f"3 new tokens took {len(model.calls)} forward calls")
    for call in model.calls:
        expect(not call.training and not call.child_training,
               f"the model ran with training={call.training} and its dropout with training={call.child_training}",
               "generation is inference: model.eval() first, so dropout is off and the model is deterministic")
        expect(not call.grad_enabled, "the model ran with autograd on",
               "wrap the loop in torch.no_grad() (or torch.inference_mode()): nobody will backpropagate")


@generate
@pytest.mark.parametrize("top", ["train", "eval"])
def test_generate_restores_every_training_flag(impl, top):
    model = _ScriptedLM(seed=9)
    model.train(top == "train")
    model.dropout.train(top != "train")  # mixed modes, as in a fine-tuned model with parts frozen
    _run_generate(impl, model, _ids(2, 1, seed=10, vocab_size=7), 2, generator=_gen(2))
    got = (model.training, model.dropout.training)
    want = (top == "train", top != "train")
    expect(got == want, f"after generate (model, child) training flags are {got}; before they were {want}",
           "record every submodule's own flag (model.modules()) and set each back in a finally block: "
           "model.train() afterwards flips modules that were in eval")


@generate
def test_generate_leaves_autograd_on(impl):
    _run_generate(impl, _ScriptedLM(seed=11), _ids(2, 1, seed=12, vocab_size=7), 2, generator=_gen(3))
    expect(torch.is_grad_enabled(), "autograd is still off after generate",
           "use `with torch.no_grad():` (a context manager), not torch.set_grad_enabled(False) alone")


@generate
def test_generate_restores_the_flags_when_the_model_raises(impl):
    model = _ScriptedLM(seed=13, fail_on=2)
    model.train()
    model.dropout.eval()
    with expect_raises(RuntimeError, "generate with a model that raises on its second call"):
        impl.generate(model, _ids(2, 1, seed=14, vocab_size=7), 5, generator=_gen(4))
    got = (model.training, model.dropout.training, torch.is_grad_enabled())
    expect(got == (True, False, True), f"after the model raised: (model, child) training flags and grad mode are "
           f"{got}, expected (True, False, True)",
           "restore in a finally block (and use no_grad as a context manager): 'restores' holds on every way out")


@generate
@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_generate_samples_from_the_softmax_of_logits_over_temperature(impl, temperature):
    logits = [2.0, 1.0, 0.0, -1.0, 0.5]
    freq = _sample_frequencies(impl, logits, rows=4000, steps=2, temperature=temperature)
    want = torch.softmax(torch.tensor(logits, dtype=F64) / temperature, -1)
    expect_close(freq, want, what=f"frequencies of 8000 sampled tokens at temperature={temperature} vs "
                 f"softmax(logits / {temperature})", rtol=0, atol=0.03,
                 hint="divide the logits by the temperature BEFORE the softmax, then sample one token per row "
                      "from it (torch.multinomial(probs, 1, generator=generator))")


@generate
@pytest.mark.parametrize(("top_k", "temperature"), [(1, 1.0), (3, 1.0), (2, 2.0)])
def test_generate_top_k_samples_only_among_the_k_largest(impl, top_k, temperature):
    logits = [0.3, 2.0, -1.0, 1.2, 0.9, -0.4]
    freq = _sample_frequencies(impl, logits, rows=4000, steps=2, temperature=temperature, top_k=top_k)
    scaled = torch.tensor(logits, dtype=F64) / temperature
    keep = torch.topk(scaled, top_k).indices
    want = torch.zeros(len(logits), dtype=F64)
    want[keep] = torch.softmax(scaled[keep], -1)
    outside = [i for i in range(len(logits)) if i not in keep.tolist()]
    expect(bool((freq[outside] == 0).all()),
           f"with top_k={top_k} tokens {outside} (outside the {top_k} largest logits) were sampled with frequencies "
           f"{[round(f, 3) for f in freq[outside].tolist()]}",
           "keep the top_k largest logits per row and set the others to -inf before the softmax (not the smallest, "
           "not k - 1 or k + 1 of them)")
    expect_close(freq, want, what=f"frequencies with top_k={top_k}, temperature={temperature} vs the softmax "
                 "renormalised over the kept tokens", rtol=0, atol=0.03,
                 hint="the kept tokens keep their relative odds: softmax over the surviving logits / temperature")


@generate
def test_generate_top_k_above_the_vocabulary_keeps_every_token(impl):
    logits = [1.0, -0.5, 0.2, 1.5, 0.0]
    freq = _sample_frequencies(impl, logits, rows=4000, steps=2, top_k=50)
    expect_close(freq, torch.softmax(torch.tensor(logits, dtype=F64), -1), what="frequencies with top_k=50 > V=5",
                 rtol=0, atol=0.03, hint="a top_k above the vocabulary keeps every token: use min(top_k, V) "
                                         "(torch.topk raises for k > V)")


@generate
def test_generate_same_generator_state_gives_the_same_tokens(impl):
    model, prompt = _ScriptedLM(seed=15), _ids(8, 1, seed=16, vocab_size=7)
    a = _run_generate(impl, model, prompt, 10, generator=_gen(5))
    b = _run_generate(impl, model, prompt, 10, generator=_gen(5))
    c = _run_generate(impl, model, prompt, 10, generator=_gen(6))
    hint = "sample with generator=generator so that a seeded generator reproduces the text"
    expect_equal(b, a, what="tokens from two generators seeded alike", hint=hint)
    expect(not torch.equal(a, c), "generators seeded 5 and 6 gave the same 80 tokens", hint)


@generate
def test_generate_without_generator_uses_the_global_rng(impl):
    model, prompt = _ScriptedLM(seed=17), _ids(8, 1, seed=18, vocab_size=7)
    torch.manual_seed(21)
    a = _run_generate(impl, model, prompt, 10)
    torch.manual_seed(21)
    b = _run_generate(impl, model, prompt, 10)
    torch.manual_seed(22)
    c = _run_generate(impl, model, prompt, 10)
    hint = "generator=None samples with torch's global generator"
    expect_equal(b, a, what="tokens after torch.manual_seed(21) twice", hint=hint)
    expect(not torch.equal(a, c), "torch.manual_seed(21) and (22) gave the same 80 tokens", hint)


@generate
@pytest.mark.parametrize("kwargs", [{"temperature": -0.5}, {"top_k": 0}, {"top_k": -3}],
                         ids=["temperature=-0.5", "top_k=0", "top_k=-3"])
def test_generate_rejects_bad_sampling_arguments(impl, kwargs):
    (value,) = kwargs.values()
    with expect_raises(ValueError, f"generate(..., {kwargs})", names=value):
        impl.generate(_ScriptedLM(), _ids(1, 2, seed=0, vocab_size=7), 3, **kwargs)


@generate
@pytest.mark.parametrize("device", devices())
def test_generate_on_the_device_of_the_model(impl, device):
    model = _ScriptedLM(seed=19)
    prompt = _ids(3, 2, seed=20, vocab_size=7)
    expected = _greedy_path(model, prompt, 5)
    model.to(device)
    greedy = _run_generate(impl, model, prompt.to(device), 5, temperature=0.0)
    expect_device(greedy, device, "generated ids", "keep the new tokens where the prompt and the model are")
    expect_equal(greedy.cpu(), expected, what=f"greedy continuation on {device}")
    sampled = _run_generate(impl, model, prompt.to(device), 5, top_k=3, generator=_gen(7, device))
    expect_device(sampled, device, "sampled ids", "sample with the generator given, on the model's device")
    expect_equal(sampled[:, :2].cpu(), prompt, what=f"prompt part of the sampled result on {device}")


# ---------------------------------------------------------------- perplexity


def _reference_perplexity(model: nn.Module, data: torch.Tensor, block_size: int, *, reduce="tokens",
                          drop_last=False) -> float:
    """exp(mean NLL) over consecutive windows, in float64 from the model's own logits (knobs: the mistakes)."""
    sums, counts = [], []
    with torch.no_grad():
        for s in range(0, len(data) - 1, block_size):
            x = data[s : min(s + block_size, len(data) - 1)]
            y = data[s + 1 : s + 1 + len(x)]
            logp = torch.log_softmax(model(x[None].to(_device_of(model))).double().cpu(), dim=-1)[0]  # (t, V)
            sums.append(-logp.gather(1, y.cpu()[:, None]).sum().item())
            counts.append(len(y))
    if drop_last and counts[-1] < block_size:
        sums, counts = sums[:-1], counts[:-1]
    if reduce == "windows":
        return math.exp(sum(s / c for s, c in zip(sums, counts)) / len(sums))
    return math.exp(sum(sums) / sum(counts))


def _device_of(model: nn.Module) -> torch.device:
    return next(model.buffers()).device


def _check_perplexity(impl, model, data, block_size, **kwargs):
    got = impl.perplexity(model, data, block_size, **kwargs)
    expect(isinstance(got, float), f"perplexity should return a Python float, got {type(got).__name__} {got!r}"[:200],
           "turn the result into a float: math.exp of a float, or tensor.item()")
    calls = list(getattr(model, "calls", []))
    want = _reference_perplexity(model, data, block_size)
    if hasattr(model, "calls"):
        model.calls[:] = calls  # the reference's own calls are not the learner's
    hint = ("cut data into consecutive windows of block_size inputs (the last one shorter), score each target "
            "data[1] .. data[N-1] once with only its window as context, sum the NLLs, divide by N - 1, exp")
    if len(data) - 1 > block_size and (len(data) - 1) % block_size:
        if math.isclose(got, _reference_perplexity(model, data, block_size, reduce="windows"), rel_tol=1e-5):
            hint = ("this is the mean of the per-window means: the short last window weighs as much as a full one. "
                    "Sum the NLLs of all targets and divide by their number")
        elif math.isclose(got, _reference_perplexity(model, data, block_size, drop_last=True), rel_tol=1e-5):
            hint = "the shorter last window was dropped: its targets count too"
        if hasattr(model, "calls"):
            model.calls[:] = calls
    # rel_tol 1e-5: float32 arithmetic on the way is fine; every mistake named here is off by far more
    expect(math.isclose(got, want, rel_tol=1e-5), f"perplexity(model, {len(data)} tokens, block_size={block_size}"
           f"{', ' if kwargs else ''}{', '.join(f'{k}={v}' for k, v in kwargs.items())}) = {got!r}; expected "
           f"{want:.10g} (float64, from the model's own logits)", hint)
    return got


@perplexity
def test_perplexity_returns_a_python_float(impl):
    got = impl.perplexity(_ScriptedLM(), _ids(1, 9, seed=0, vocab_size=7)[0], 4)
    expect(isinstance(got, float), f"perplexity should return a Python float, got {type(got).__name__}",
           "a tensor or a NumPy number is not a float: use math.exp on a float or tensor.item()")


@perplexity
@pytest.mark.parametrize(("N", "block_size"), [(11, 4), (9, 4), (13, 3), (12, 3), (10, 3), (3, 4), (2, 4), (261, 4)],
                         ids=["4+4+2", "4+4", "3+3+3+3", "3+3+3+2", "3+3+3", "one short window", "one target",
                              "65 full windows"])
def test_perplexity_is_the_token_mean_over_consecutive_windows(impl, N, block_size):
    model = _ScriptedLM(block_size=4, seed=N)
    _check_perplexity(impl, model, _ids(1, N, seed=N, vocab_size=7)[0], block_size)


@perplexity
@pytest.mark.parametrize("batch_size", [1, 2, 32])
def test_perplexity_does_not_depend_on_the_batch_size(impl, batch_size):
    model = _ScriptedLM(block_size=4, seed=30)
    _check_perplexity(impl, model, _ids(1, 23, seed=31, vocab_size=7)[0], 4, batch_size=batch_size)


@perplexity
@pytest.mark.parametrize("batch_size", [None, 8], ids=["default 32", "8"])
def test_perplexity_feeds_the_windows_batch_size_at_a_time(impl, batch_size):
    model = _ScriptedLM(block_size=4, seed=37)
    data = _ids(1, 257, seed=38, vocab_size=7)[0]  # 64 full windows of 4 targets, none shorter
    if batch_size is None:
        batch_size, _ = 32, impl.perplexity(model, data, 4)
    else:
        impl.perplexity(model, data, 4, batch_size=batch_size)
    rows = [call.ids.shape[0] for call in model.calls]
    expect(max(rows, default=0) <= batch_size and len(rows) == 64 // batch_size,
           f"perplexity with batch_size={batch_size} fed 64 windows in {len(rows)} calls of {rows[:8]}"
           f"{' ...' if len(rows) > 8 else ''} windows", f"stack the windows and run them batch_size={batch_size} "
           f"at a time: {64 // batch_size} calls of {batch_size} windows (batch_size defaults to 32)")


@perplexity
def test_perplexity_of_a_uniform_model_is_the_vocabulary_size(impl):
    got = impl.perplexity(_FixedLM([0.7] * 9), _ids(1, 20, seed=32, vocab_size=9)[0], 4)
    expect(isinstance(got, float) and math.isclose(got, 9.0, rel_tol=1e-6),
           f"a model that gives every one of 9 tokens the same logit scored perplexity {got!r}; expected 9.0",
           "perplexity = exp(mean of -log p(target)); a uniform p = 1/9 gives exactly 9")


@perplexity
def test_perplexity_reads_a_non_contiguous_data_view(impl):
    base = _ids(1, 30, seed=33, vocab_size=7)[0]
    _check_perplexity(impl, _ScriptedLM(seed=34), base[::2], 4)


@perplexity
def test_perplexity_runs_in_eval_mode_without_autograd(impl):
    model = _ScriptedLM(seed=35)
    model.train()
    _check_perplexity(impl, model, _ids(1, 14, seed=36, vocab_size=7)[0], 4)
    expect(len(model.calls) > 0, "perplexity never called the model")
    for call in model.calls:
        expect(not call.training and not call.child_training,
               f"the model ran with training={call.training} and its dropout with training={call.child_training}",
               "evaluation is inference: model.eval() first, so dropout is off")
        expect(not call.grad_enabled, "the model ran with autograd on", "wrap the passes in torch.no_grad()")
        expect(call.ids.shape[1] <= 4, f"the model was fed {call.ids.shape[1]} tokens at once with block_size=4",
               "windows hold at most block_size inputs")


@perplexity
@pytest.mark.parametrize("top", ["train", "eval"])
def test_perplexity_restores_every_training_flag(impl, top):
    model = _ScriptedLM(seed=37)
    model.train(top == "train")
    model.dropout.train(top != "train")
    impl.perplexity(model, _ids(1, 10, seed=38, vocab_size=7)[0], 4)
    got = (model.training, model.dropout.training, torch.is_grad_enabled())
    want = (top == "train", top != "train", True)
    expect(got == want, f"after perplexity (model, child) training flags and grad mode are {got}; expected {want}",
           "record every submodule's own flag and set each back in a finally block; no_grad as a context manager")


@perplexity
def test_perplexity_restores_the_flags_when_the_model_raises(impl):
    model = _ScriptedLM(seed=39, fail_on=1)
    model.train()
    model.dropout.eval()
    with expect_raises(RuntimeError, "perplexity with a model that raises"):
        impl.perplexity(model, _ids(1, 10, seed=40, vocab_size=7)[0], 4, batch_size=1)
    got = (model.training, model.dropout.training, torch.is_grad_enabled())
    expect(got == (True, False, True), f"after the model raised: (model, child) training flags and grad mode are "
           f"{got}, expected (True, False, True)", "restore in a finally block: 'restores' holds on every way out")


@perplexity
@pytest.mark.parametrize("N", [1, 0])
def test_perplexity_rejects_data_with_nothing_to_predict(impl, N):
    with expect_raises(ValueError, f"perplexity on {N} token(s)", names=f"{N}"):
        impl.perplexity(_ScriptedLM(), torch.zeros(N, dtype=I64), 4)


@perplexity
def test_perplexity_rejects_a_block_size_above_the_model(impl):
    model = _FixedLM([0.1, 0.2, 0.3], block_size=4)  # would accept longer windows: the check is perplexity's own
    with expect_raises(ValueError, "perplexity(model with block_size=4, ..., block_size=5)", names=5):
        impl.perplexity(model, _ids(1, 12, seed=41, vocab_size=3)[0], 5)


@perplexity
@pytest.mark.parametrize("device", devices())
def test_perplexity_on_the_device_of_the_model(impl, device):
    model = _ScriptedLM(seed=42).to(device)
    _check_perplexity(impl, model, _ids(1, 15, seed=43, vocab_size=7)[0].to(device), 4)


# ---------------------------------------------------------------- demo


@demo
def test_demo_quick_run_pretrains_samples_and_fine_tunes(impl):
    from demos.language_model import main

    out = main(impl.module, quick=True)
    expect(isinstance(out, dict), f"demos.language_model.main should return a dict, got {type(out).__name__}")
    keys = {"vocab_size", "losses", "ppl_before", "ppl_after", "samples", "heldout"}
    missing = keys - out.keys()
    if missing:
        fail(f"the demo's result lacks {sorted(missing)}")
    losses = out["losses"]
    expect(len(losses) >= 2 and all(math.isfinite(v) for v in losses), f"the loss curve is {losses}",
           "the training loss must stay finite: is the causal mask inverted (a fully masked row gives NaN)?")
    expect(losses[-1] < losses[0], f"pretraining did not lower the loss: {losses[0]:.3f} -> {losses[-1]:.3f}")
    expect(1.0 < out["ppl_after"] < out["ppl_before"],
           f"perplexity before and after pretraining: {out['ppl_before']:.2f} -> {out['ppl_after']:.2f}",
           "pretraining should make the text less surprising")
    for name, text in out["samples"].items():
        expect(isinstance(text, str) and len(text) > 0, f"sample {name!r} is {text!r}")
    held = out["heldout"]
    for key in ("scratch", "finetuned"):
        expect(math.isfinite(held[key]) and held[key] > 1.0, f"held-out perplexity {key}: {held[key]!r}")
