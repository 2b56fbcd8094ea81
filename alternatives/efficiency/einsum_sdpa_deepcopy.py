"""efficiency, a correct style: einsum distances, a preallocated cache that doubles, scaled_dot_product_attention
with a boolean mask, the prompt fed one token at a time, storages told apart by identity, unequal segments
each checkpointed through a closure (the last too), and the model sized as a deep copy moved to meta."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


def train_step(model: nn.Module, batch, loss_fn: Callable, optimizer: torch.optim.Optimizer) -> torch.Tensor:
    inputs, targets = batch
    optimizer.zero_grad(set_to_none=False)
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.detach().clone()


def mean_loss(losses: list[torch.Tensor]) -> float:
    if len(losses) == 0:
        raise ValueError(f"mean_loss needs at least one loss, got {losses!r}")
    return (sum(loss.detach() for loss in losses) / len(losses)).item()


def pairwise_sq_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    xx = torch.einsum("nd,nd->n", x, x)
    yy = torch.einsum("md,md->m", y, y)
    xy = torch.einsum("nd,md->nm", x, y)
    return torch.clamp(xx[:, None] + yy[None, :] - 2 * xy, min=0)


class KVCache:
    def __init__(self):
        self._k = self._v = None
        self._t = 0

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t_new = k.shape[2]
        if self._k is None or self._t + t_new > self._k.shape[2]:
            capacity = max(2 * (self._t + t_new), 8)
            grown_k = k.new_empty(*k.shape[:2], capacity, k.shape[3])
            grown_v = v.new_empty(*v.shape[:2], capacity, v.shape[3])
            if self._k is not None:
                grown_k[:, :, :self._t] = self._k[:, :, :self._t]
                grown_v[:, :, :self._t] = self._v[:, :, :self._t]
            self._k, self._v = grown_k, grown_v
        self._k[:, :, self._t:self._t + t_new] = k
        self._v[:, :, self._t:self._t + t_new] = v
        self._t += t_new
        return self._k[:, :, :self._t], self._v[:, :, :self._t]

    def __len__(self) -> int:
        return self._t


def cached_attention_step(attn: nn.MultiheadAttention, x_new: torch.Tensor, cache: KVCache) -> torch.Tensor:
    b, t, d = x_new.shape
    h = attn.num_heads
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.in_proj_bias.chunk(3)

    def heads(z):
        return z.view(b, t, h, d // h).permute(0, 2, 1, 3)

    q, k, v = heads(x_new @ w_q.T + b_q), heads(x_new @ w_k.T + b_k), heads(x_new @ w_v.T + b_v)
    past = len(cache)
    keys, values = cache.append(k, v)
    allowed = torch.ones(t, past + t, dtype=torch.bool, device=x_new.device).tril(diagonal=past)
    out = F.scaled_dot_product_attention(q, keys, values, attn_mask=allowed)
    return F.linear(out.permute(0, 2, 1, 3).reshape(b, t, d), attn.out_proj.weight, attn.out_proj.bias)


@torch.no_grad()
def generate_cached(model: nn.Module, prompt: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    total = prompt.size(1) + max_new_tokens
    if total > model.block_size:
        raise ValueError(f"{prompt.size(1)} prompt tokens + {max_new_tokens} new ones > block_size {model.block_size}")
    caches = [KVCache() for _ in model.layers]

    def step(token, position):
        x = model.tok_emb(token) + model.pos_emb.weight[position]
        for layer, cache in zip(model.layers, caches):
            x = x + cached_attention_step(layer.self_attn, layer.norm1(x), cache)
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm2(x))))
        return model.head(model.norm(x))[:, -1]

    out = [prompt[:, i:i + 1] for i in range(prompt.size(1))]
    if max_new_tokens == 0:
        return prompt
    for i in range(prompt.size(1)):  # the prompt one token at a time: slower, same cache
        logits = step(prompt[:, i:i + 1], i)
    for position in range(prompt.size(1), total):
        token = logits.argmax(dim=-1, keepdim=True)
        out.append(token)
        if position + 1 < total:
            logits = step(token, position)
    return torch.cat(out, dim=1)


def activation_bytes(fn: Callable, *args) -> int:
    kept: list = []

    def pack(t):
        is_param = isinstance(t, nn.Parameter) or (t._base is not None and isinstance(t._base, nn.Parameter))
        if not is_param:
            storage = t.untyped_storage()
            if not any(storage is other for other in kept):
                kept.append(storage)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args)
    return int(sum(s.nbytes() for s in kept))


def checkpointed_forward(blocks: nn.Sequential, x: torch.Tensor, segments: int) -> torch.Tensor:
    if segments < 1 or segments > len(blocks):
        raise ValueError(f"segments={segments} is not between 1 and {len(blocks)}")
    size, extra = divmod(len(blocks), segments)  # the first `extra` segments take one block more
    start = 0
    for i in range(segments):
        end = start + size + (1 if i < extra else 0)
        x = checkpoint(lambda inp, a=start, b=end: _run(blocks, a, b, inp), x, use_reentrant=False)
        start = end
    return x


def _run(blocks: nn.Sequential, start: int, end: int, x: torch.Tensor) -> torch.Tensor:
    for i in range(start, end):
        x = blocks[i](x)
    return x


def training_memory(model: nn.Module, batch_shape, *, optimizer: str = "adam",
                    param_dtype: torch.dtype = torch.float32, autocast_dtype: torch.dtype | None = None
                    ) -> dict[str, int]:
    per_param = {"sgd": 0, "sgd_momentum": 1, "adam": 2}.get(optimizer)
    if per_param is None:
        raise ValueError(f"optimizer {optimizer!r} is not one of adam, sgd, sgd_momentum")
    item = torch.finfo(param_dtype).bits // 8
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    shadow = copy.deepcopy(model).to(device="meta", dtype=autocast_dtype or param_dtype)
    owners = [m for m in shadow.modules() if len(m._parameters) and any(v is not None for v in m._parameters.values())]
    if owners and isinstance(owners[0], nn.Embedding):
        x = torch.zeros(*batch_shape, dtype=torch.long, device="meta")
    else:
        x = torch.zeros(*batch_shape, dtype=autocast_dtype or param_dtype, device="meta")
    with torch.enable_grad():
        act = activation_bytes(shadow, x)
    result = {"params": total * item, "grads": trainable * item, "optimizer_state": per_param * trainable * item,
              "activations": act}
    result["total"] = result["params"] + result["grads"] + result["optimizer_state"] + result["activations"]
    return result
