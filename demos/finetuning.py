"""Transfer learning on the digits: a backbone pretrained on plenty of labels, then a new task with few.

A small ResNet-shaped CNN (stem, four stages `layer1..layer4`, head `fc`) is pretrained on one half
of the training digits (all ten classes, every label). The new task has only the other half's images
and a handful of labels per class; it is held out on the test split. Four ways to learn it: from
scratch, a linear probe on the frozen pretrained features, partial fine-tuning (head and `layer4`),
and full fine-tuning (everything, the backbone at a lower learning rate). Then the sweep: accuracy
of scratch, linear probe and full fine-tuning from 1 label per class up to all of them, the table
behind `choose_strategy`. The frozen backbone's BatchNorm statistics drift under `model.train()` and
stay put under `set_train_mode`. Last, the same tools on a torchvision resnet18 (random weights, no
download).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

import demos
from kata.learn.data import digits


def _stage(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class DigitNet(nn.Module):
    """(N, 1, 8, 8) digits -> (N, num_classes) logits, laid out like a ResNet: conv1, bn1, layer1..4, fc."""

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = _stage(width, width, 1)  # (N, w, 8, 8)
        self.layer2 = _stage(width, 2 * width, 2)  # (N, 2w, 4, 4)
        self.layer3 = _stage(2 * width, 2 * width, 1)  # (N, 2w, 4, 4)
        self.layer4 = _stage(2 * width, 4 * width, 2)  # (N, 4w, 2, 2)
        self.fc = nn.Linear(4 * width * 2 * 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return self.fc(h.flatten(1))  # (N, 4w * 2 * 2): an 8x8 digit is too small to average its map away


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def _train(model, m, x, y, *, steps, batch_size, head_lr, backbone_lr, weight_decay=1e-4, seed=0):
    """AdamW over `m.trainable_param_groups`, `m.set_train_mode` before every step."""
    opt = torch.optim.AdamW(m.trainable_param_groups(model, head_lr, backbone_lr, weight_decay))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randperm(len(y), generator=gen)[:batch_size].to(y.device)
        m.set_train_mode(model)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def _few_labels(y: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for c in y.unique():
        where = (y == c).nonzero().squeeze(1)
        picks.append(where[torch.randperm(len(where), generator=gen)[:per_class]])
    return torch.cat(picks)


def _bn_drift(model: nn.Module, running_means: list[torch.Tensor]) -> float:
    now = [m.running_mean for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    return max((a - b).abs().max().item() for a, b in zip(now, running_means))


SWEEP = (1, 2, 5, 10, 50, None)  # labels per class; None: every label of the new task's pool


def main(m, *, quick: bool = False, save_png: str | None = None) -> dict:
    dev = demos.device()
    per_class = 10
    pre_steps, ft_steps = (20, 20) if quick else (150, 60)
    sweep = (1, per_class) if quick else SWEEP
    x_tr, y_tr = digits("train")
    x_te, y_te = digits("test")
    x_tr, y_tr, x_te, y_te = x_tr.to(dev), y_tr.to(dev), x_te.to(dev), y_te.to(dev)
    halves = torch.randperm(len(y_tr), generator=torch.Generator().manual_seed(0)).to(dev)
    pre_idx, new_idx = halves[: len(halves) // 2], halves[len(halves) // 2 :]

    # 1. pretraining: one half of the training images, every label of all ten digits
    torch.manual_seed(0)
    pretrained = DigitNet(num_classes=10).to(dev)
    _train(pretrained, m, x_tr[pre_idx], y_tr[pre_idx], steps=pre_steps, batch_size=64, head_lr=3e-3,
           backbone_lr=3e-3)
    pretrain_acc = _accuracy(pretrained, x_te, y_te)

    # 2. the new task: the other half's images, only a few of them labelled; held out on the test split
    x_new, y_new = x_tr[new_idx], y_tr[new_idx]

    def scratch():
        return DigitNet(num_classes=10)

    def linear_probe():
        return m.prepare_linear_probe(copy.deepcopy(pretrained), 10)

    def partial():
        return m.unfreeze_last_blocks(m.replace_head(copy.deepcopy(pretrained), 10), 1)

    def full():
        return m.unfreeze(m.replace_head(copy.deepcopy(pretrained), 10))

    makers = {"scratch": scratch, "linear_probe": linear_probe, "partial": partial, "full": full}

    def learn(name: str, labels: int | None) -> tuple[float, int, int]:
        few = torch.arange(len(y_new)) if labels is None else _few_labels(y_new.cpu(), labels, seed=1)
        x_few, y_few = x_new[few.to(dev)], y_new[few.to(dev)]
        torch.manual_seed(0)
        model = makers[name]().to(dev)  # .to() keeps requires_grad; a new head may have been built on the CPU
        trainable, total = m.count_parameters(model, trainable_only=True), m.count_parameters(model)
        # a pretrained backbone moves 10x slower than its new head: keep the features close to what was learnt
        head_lr, backbone_lr = (3e-3, 3e-3) if name == "scratch" else (1e-2, 1e-3)
        _train(model, m, x_few, y_few, steps=ft_steps, batch_size=min(len(y_few), 64), head_lr=head_lr,
               backbone_lr=backbone_lr)
        return _accuracy(model, x_te, y_te), trainable, total

    n_few = 10 * per_class
    print(f"pretrained on {len(pre_idx)} labelled digits (all ten classes): held-out accuracy {pretrain_acc:.3f}")
    print(f"new task: {len(new_idx)} other images, {per_class} labels per class ({n_few} images), "
          f"held out on {len(y_te)} test images\n")
    print(f"  {'strategy':<14} {'trainable params':>16} {'of':>8}   held-out accuracy")
    result = {"pretrain_acc": pretrain_acc}
    for name in makers:
        acc, trainable, total = learn(name, per_class)
        result[f"acc_{name}"], result[f"trainable_{name}"] = acc, trainable
        print(f"  {name:<14} {trainable:>16,} {total:>8,}   {acc:.3f}")
    best = max(("linear_probe", "partial", "full"), key=lambda k: result[f"acc_{k}"])
    print(f"  best use of the pretrained backbone: {best} ({result[f'acc_{best}']:.3f}) vs from scratch "
          f"{result['acc_scratch']:.3f}; the probe trains "
          f"{100 * result['trainable_linear_probe'] / result['trainable_full']:.1f}% of the weights")

    # 3. the sweep: how many labels does each strategy need?
    print(f"\nlabels per class vs held-out accuracy ({ft_steps} steps each, one draw of the labelled images):")
    print(f"  {'labels/class':>12} {'images':>7} {'scratch':>9} {'probe':>9} {'full':>9}")
    table = {}
    for labels in sweep:
        row = {name: result[f"acc_{name}"] if labels == per_class else learn(name, labels)[0]
               for name in ("scratch", "linear_probe", "full")}
        key = "all" if labels is None else labels
        table[key] = row
        n_images = len(y_new) if labels is None else 10 * labels
        print(f"  {key!s:>12} {n_images:>7} " + " ".join(f"{row[k]:>9.3f}" for k in row))
    result["sweep"] = table
    first, last = table[next(iter(table))], table[list(table)[-1]]
    print(f"  with the fewest labels the probe is {100 * (first['linear_probe'] - first['scratch']):+.1f} points "
          f"from scratch: the frozen features need only a new head,\n  which a handful of images can fit; with the "
          f"most labels the three are within {100 * (max(last.values()) - min(last.values())):.1f} points")
    recommended = m.choose_strategy(n_few, True, m.count_parameters(pretrained))
    result["strategy"] = recommended
    print(f"\nchoose_strategy({n_few}, similar_domain=True, {m.count_parameters(pretrained):,}) -> {recommended!r}")

    # 4. BatchNorm drift: a frozen backbone in model.train() still rewrites its running statistics
    drift = {}
    for mode in ("model.train()", "set_train_mode"):
        torch.manual_seed(0)
        model = linear_probe().to(dev)
        before = [b.running_mean.clone() for b in model.modules() if isinstance(b, nn.BatchNorm2d)]
        model.train() if mode == "model.train()" else m.set_train_mode(model)
        with torch.no_grad():
            for _ in range(5):
                model(x_new[:n_few])
        drift[mode] = _bn_drift(model, before)
    result["bn_drift_train"], result["bn_drift_set_train_mode"] = drift["model.train()"], drift["set_train_mode"]
    print("\nlinear probe, 5 forwards on the new digits: max |change| of the frozen backbone's BN running_mean")
    for mode, d in drift.items():
        print(f"  {mode:<15} {d:.4f}")
    moved = {mode: d for mode, d in drift.items() if d > 0}
    print("  -> " + (f"model.train() moved the frozen backbone's statistics by {drift.get('model.train()', 0):.4f}"
                     f"{' and set_train_mode left them still' if not moved.get('set_train_mode') else ''}: "
                     "requires_grad=False freezes the weights, not BatchNorm's running statistics"
                     if moved else "neither mode moved the frozen backbone's statistics here"))

    # 5. the same on a torchvision resnet18 (random weights: nothing is downloaded)
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    result["resnet18_params"] = m.count_parameters(net)
    m.prepare_linear_probe(net, 10)
    result["resnet18_probe_trainable"] = m.count_parameters(net, trainable_only=True)
    print(f"\nresnet18: {result['resnet18_params']:,} parameters; after prepare_linear_probe(net, 10) "
          f"{result['resnet18_probe_trainable']:,} trainable (512 x 10 + 10)")
    for n in (1, 2):
        m.unfreeze_last_blocks(net, n)
        result[f"resnet18_last{n}_trainable"] = m.count_parameters(net, trainable_only=True)
        print(f"  unfreeze_last_blocks(net, {n}): {result[f'resnet18_last{n}_trainable']:,} trainable")

    plt = demos.pyplot() if save_png else None
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        xs = [10 * k if k != "all" else len(y_new) for k in table]
        for name, color in (("scratch", "grey"), ("linear_probe", "C0"), ("full", "C2")):
            ax.plot(xs, [table[k][name] for k in table], marker="o", color=color, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("labelled images of the new task (10 classes)")
        ax.set_ylabel("held-out accuracy")
        ax.set_ylim(0, 1)
        ax.set_title("backbone pretrained on the other half of the digits")
        ax.legend()
        fig.tight_layout()
        fig.savefig(save_png, dpi=120)
        print(f"saved {save_png}")
    return result
