"""LoRA on the digits: adapt a pretrained attention model to mirrored digits with a tiny adapter.

A small attention model reads each 8x8 digit as 8 tokens (its rows): `embed` maps a row to a
d-dimensional token, one self-attention layer with `q_proj`, `k_proj`, `v_proj`, `out_proj`
mixes the rows, and `head` classifies. It is pretrained on the digits. The new task is the same
digits mirrored left to right, with only a few hundred labelled images; the pretrained model
does poorly there. Full fine-tuning trains (and must store) every parameter again; LoRA trains
a rank-4 adapter on a few layers, a few percent of the parameters, and leaves the pretrained
weights untouched for the original task. The adapter is saved alone, loaded into a fresh copy,
and finally merged into plain `nn.Linear` layers: same outputs, no LoRA left at inference.

    python -m exercises.lora [--quick] [--png lora.png]
"""

from __future__ import annotations

import copy
import io
import math

import torch
import torch.nn.functional as F
from torch import nn

import demos
from kata.learn.data import digits


class DigitAttention(nn.Module):
    """(N, 1, 8, 8) digits -> (N, 10) logits: rows as 8 tokens, one self-attention layer, a linear head."""

    def __init__(self, d_model: int = 32, n_rows: int = 8, row_width: int = 8):
        super().__init__()
        self.embed = nn.Linear(row_width, d_model)
        self.pos = nn.Parameter(0.1 * torch.randn(n_rows, d_model))
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(n_rows * d_model, 10)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.embed(img.flatten(1, 2)) + self.pos  # (N, 8 rows, d_model)
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)  # (N, 8, 8)
        x = self.norm(x + self.out_proj(att @ v))
        return self.head(x.flatten(1))  # (N, 8 * d_model) -> (N, 10)


def _mirror(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1)


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def _train(model: nn.Module, x, y, *, steps: int, lr: float, batch_size: int = 64, seed: int = 0) -> nn.Module:
    """Adam on the parameters that require grad (all of them, or only the adapters after apply_lora)."""
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randperm(len(y), generator=gen)[:batch_size].to(y.device)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def _count(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _nbytes(state: dict[str, torch.Tensor]) -> int:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getbuffer().nbytes


def main(m, *, quick: bool = False, save_png: str | None = None) -> dict:
    dev = demos.device()
    pre_steps, adapt_steps, n_adapt = (60, 40, 300) if quick else (800, 400, 300)
    x_tr, y_tr = digits("train")
    x_te, y_te = digits("test")
    x_tr, y_tr, x_te, y_te = x_tr.to(dev), y_tr.to(dev), x_te.to(dev), y_te.to(dev)

    # 1. pretraining on the digits as they are
    torch.manual_seed(0)
    pretrained = _train(DigitAttention().to(dev), x_tr, y_tr, steps=pre_steps, lr=3e-3)
    n_total = _count(pretrained)
    result = {
        "pretrained_acc": _accuracy(pretrained, x_te, y_te),
        "pretrained_shifted_acc": _accuracy(pretrained, _mirror(x_te), y_te),
    }
    print(f"pretrained DigitAttention ({n_total:,} parameters) on {len(y_tr)} digits: "
          f"test accuracy {result['pretrained_acc']:.3f}")
    print(f"the shifted task, mirrored digits: the pretrained model scores {result['pretrained_shifted_acc']:.3f}")

    # 2. adapt to the mirrored digits from n_adapt labelled images: full fine-tuning vs LoRA
    x_new, y_new = _mirror(x_tr[:n_adapt]), y_tr[:n_adapt]
    print(f"\nadapting on {n_adapt} mirrored images, {adapt_steps} Adam steps each; held out on {len(y_te)}\n")
    print(f"  {'method':<34} {'trainable':>9} {'fraction':>9} {'to store':>10}   mirrored acc   original acc")
    runs = [
        ("full fine-tuning", None),
        ("LoRA r=4 on q_proj, v_proj", ("q_proj", "v_proj")),
        ("LoRA r=4 on embed, q_proj, v_proj", ("embed", "q_proj", "v_proj")),
    ]
    models = {}
    for name, targets in runs:
        torch.manual_seed(0)
        model = copy.deepcopy(pretrained)
        if targets is None:
            lr = 1e-3
        else:
            m.apply_lora(model, target_modules=targets, r=4, alpha=8.0)
            lr = 1e-2
        trainable = _count(model, trainable_only=True)
        _train(model, x_new, y_new, steps=adapt_steps, lr=lr)
        store = _nbytes(model.state_dict() if targets is None else m.lora_state_dict(model))
        acc_new = _accuracy(model, _mirror(x_te), y_te)
        # LoRA leaves the pretrained weights alone: the original task is served by the base model itself
        acc_old = _accuracy(model if targets is None else pretrained, x_te, y_te)
        models[name] = model
        print(f"  {name:<34} {trainable:>9,} {trainable / _count(model):>9.1%} {store / 1024:>8.1f}kB"
              f"   {acc_new:>12.3f}   {acc_old:>12.3f}")
        key = {None: "full", ("q_proj", "v_proj"): "lora", ("embed", "q_proj", "v_proj"): "lora_embed"}[targets]
        result[f"{key}_trainable"], result[f"{key}_acc"], result[f"{key}_bytes"] = trainable, acc_new, store
        result[f"{key}_original_acc"] = acc_old
    lora_model = models["LoRA r=4 on q_proj, v_proj"]
    result["lora_trainable_fraction"] = result["lora_trainable"] / _count(lora_model)
    print("  (original acc: full fine-tuning overwrote the pretrained weights; LoRA's base is untouched)")
    print("  the layers an adapter targets matter: the mirror flips each row, which `embed` reads")

    # 3. ship the adapter alone: load it into a fresh copy of the pretrained model
    adapter = m.lora_state_dict(lora_model)
    fresh = m.apply_lora(copy.deepcopy(pretrained), target_modules=("q_proj", "v_proj"), r=4, alpha=8.0)
    m.load_lora_state_dict(fresh, adapter)
    lora_model.eval()
    fresh.eval()
    with torch.no_grad():
        reload_diff = (fresh(x_te) - lora_model(x_te)).abs().max().item()
    result["reload_max_abs_diff"] = reload_diff
    print(f"\nadapter: {len(adapter)} tensors, {sum(v.numel() for v in adapter.values()):,} numbers; "
          f"loaded into a fresh pretrained copy, max |logit difference| = {reload_diff:.2g}")

    # 4. merge for deployment: plain nn.Linear layers, same function
    with torch.no_grad():
        before = lora_model(x_te)
        merged = m.merge_lora(lora_model).eval()
        after = merged(x_te)
    n_lora_left = sum(1 for mod in merged.modules() if isinstance(mod, m.LoRALinear))
    result["merge_max_abs_diff"] = (after - before).abs().max().item()
    result["merged_params"] = _count(merged)
    print(f"merge_lora: {n_lora_left} LoRALinear left, {result['merged_params']:,} parameters (as pretrained: "
          f"{n_total:,}), max |logit difference| = {result['merge_max_abs_diff']:.2g}, "
          f"accuracy {_accuracy(merged, _mirror(x_te), y_te):.3f}")

    plt = demos.pyplot() if save_png else None
    if plt is not None:
        names = ["full", "lora", "lora_embed"]
        labels = ["full FT", "LoRA q,v", "LoRA embed,q,v"]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.2))
        ax1.bar(labels, [result[f"{k}_trainable"] for k in names], color=["C3", "C0", "C2"])
        ax1.set_yscale("log")
        ax1.set_ylabel("trainable parameters")
        ax2.bar(labels, [result[f"{k}_acc"] for k in names], color=["C3", "C0", "C2"])
        ax2.axhline(result["pretrained_shifted_acc"], color="grey", ls="--", label="pretrained, no adaptation")
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("accuracy on mirrored digits")
        ax2.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(save_png, dpi=120)
        print(f"saved {save_png}")
    return result
