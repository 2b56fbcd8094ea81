"""efficiency, a correct style: gradients set to None by hand, addmm distances, a cache of chunk lists, attention
written head by head with an explicit triangle mask, every segment checkpointed (the last too), and meta parameters
handed to torch.func.functional_call."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.checkpoint import checkpoint


def train_step(model: nn.Module, batch, loss_fn: Callable, optimizer: torch.optim.Optimizer) -> torch.Tensor:
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.grad = None
    x, y = batch
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        return loss.clone()


def mean_loss(losses: list[torch.Tensor]) -> float:
    if not len(losses):
        raise ValueError("mean_loss: an empty list of losses ([]) has no mean")
    flat = torch.cat([loss.detach().reshape(1) for loss in losses])
    return float(flat.sum() / flat.numel())


def pairwise_sq_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x_sq = x.pow(2).sum(-1, keepdim=True)
    y_sq = y.pow(2).sum(-1)
    d = torch.addmm(x_sq, x, y.transpose(0, 1), beta=1.0, alpha=-2.0) + y_sq
    return d.clamp_min(0.0)


class KVCache:
    def __init__(self):
        self.k_chunks: list[torch.Tensor] = []
        self.v_chunks: list[torch.Tensor] = []

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.k_chunks.append(k)
        self.v_chunks.append(v)
        if len(self.k_chunks) > 1:  # keep one tensor: concatenating all chunks each time would be quadratic
            self.k_chunks = [torch.cat(self.k_chunks, dim=-2)]
            self.v_chunks = [torch.cat(self.v_chunks, dim=-2)]
        return self.k_chunks[0], self.v_chunks[0]

    def __len__(self) -> int:
        return sum(k.shape[-2] for k in self.k_chunks)


def cached_attention_step(attn: nn.MultiheadAttention, x_new: torch.Tensor, cache: KVCache) -> torch.Tensor:
    B, T, D = x_new.shape
    H = attn.num_heads
    hd = D // H
    qkv = torch.addmm(attn.in_proj_bias, x_new.reshape(B * T, D), attn.in_proj_weight.t()).reshape(B, T, 3, H, hd)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, T, hd)
    start = len(cache)
    keys, values = cache.append(k, v)
    blocked = torch.ones(T, start + T, dtype=torch.bool, device=x_new.device).triu(diagonal=start + 1)
    heads = []
    for h in range(H):
        s = torch.einsum("btd,bsd->bts", q[:, h], keys[:, h]) * (1.0 / math.sqrt(hd))
        s = s.masked_fill(blocked, float("-inf"))
        heads.append(torch.einsum("bts,bsd->btd", torch.softmax(s, dim=-1), values[:, h]))
    merged = torch.cat(heads, dim=-1)
    return attn.out_proj(merged)


def generate_cached(model: nn.Module, prompt: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    if prompt.shape[-1] + max_new_tokens > model.block_size:
        raise ValueError(f"cannot generate {max_new_tokens} tokens after {prompt.shape[-1]}: block_size is "
                         f"{model.block_size}")
    caches = {i: KVCache() for i in range(len(model.layers))}
    tokens = prompt.clone()
    chunk = prompt
    with torch.inference_mode():
        while tokens.shape[1] < prompt.shape[1] + max_new_tokens:
            offset = len(caches[0])
            h = model.tok_emb(chunk) + model.pos_emb(torch.arange(offset, offset + chunk.shape[1]))
            for i, layer in enumerate(model.layers):
                h = h + cached_attention_step(layer.self_attn, layer.norm1(h), caches[i])
                h = h + layer.linear2(layer.activation(layer.linear1(layer.norm2(h))))
            chunk = model.head(model.norm(h[:, -1:])).argmax(dim=-1)
            tokens = torch.cat((tokens, chunk), dim=-1)
    return tokens


def activation_bytes(fn: Callable, *args) -> int:
    storages: dict[int, torch.UntypedStorage] = {}

    def pack(t):
        base = t if t._base is None else t._base
        if not isinstance(base, nn.Parameter):
            s = t.untyped_storage()
            storages[id(s)] = s  # the storage object is kept alive here, so its id stays its own
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args)
    return sum(s.nbytes() for s in storages.values())


def checkpointed_forward(blocks: nn.Sequential, x: torch.Tensor, segments: int) -> torch.Tensor:
    n = len(blocks)
    if not (isinstance(segments, int) and 1 <= segments <= n):
        raise ValueError(f"checkpointed_forward: segments={segments} outside 1..{n}")
    edges = [round(i * n / segments) for i in range(segments + 1)]
    for a, b in zip(edges, edges[1:]):
        x = checkpoint(blocks[a:b], x, use_reentrant=False, preserve_rng_state=True)
    return x


def training_memory(model: nn.Module, batch_shape, *, optimizer: str = "adam",
                    param_dtype: torch.dtype = torch.float32, autocast_dtype: torch.dtype | None = None
                    ) -> dict[str, int]:
    if optimizer == "adam":
        states = 2
    elif optimizer == "sgd":
        states = 0
    elif optimizer == "sgd_momentum":
        states = 1
    else:
        raise ValueError(f"training_memory does not know the optimizer {optimizer!r}")
    nbytes = torch.empty(0, dtype=param_dtype, device="meta").element_size()
    unique = {id(p): p for p in model.parameters()}.values()
    params = sum(p.numel() for p in unique) * nbytes
    grads = sum(p.numel() for p in unique if p.requires_grad) * nbytes
    low = autocast_dtype if autocast_dtype is not None else param_dtype

    def meta(t):
        return torch.empty_like(t, device="meta", dtype=low if torch.is_floating_point(t) else t.dtype)

    swapped = {n: nn.Parameter(meta(p), requires_grad=p.requires_grad) for n, p in model.named_parameters()}
    swapped.update({n: meta(b) for n, b in model.named_buffers()})
    first = None
    for m in model.modules():
        if list(m.parameters(recurse=False)):
            first = m
            break
    if isinstance(first, nn.Embedding):
        x = torch.zeros(batch_shape, dtype=torch.int64, device="meta")
    else:
        x = torch.empty(batch_shape, dtype=low, device="meta")
    with torch.set_grad_enabled(True):
        acts = activation_bytes(lambda: functional_call(model, swapped, (x,)))
    out = dict(params=params, grads=grads, optimizer_state=states * grads, activations=acts)
    out["total"] = params + grads + states * grads + acts
    return out
