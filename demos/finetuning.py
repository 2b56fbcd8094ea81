"""Transfer learning on the digits: pretrain on 0-4, then learn 5-9 from 10 labels per class.

A small ResNet-shaped CNN (stem, four stages `layer1..layer4`, head `fc`) is pretrained on the
digits 0-4. The new task, digits 5-9, gets only a handful of labels. Four ways to learn it:
from scratch, a linear probe on the frozen pretrained features, partial fine-tuning (head and
`layer4`), and full fine-tuning (everything, the backbone at a lower learning rate). Held-out
accuracy shows what the pretrained features are worth; trainable parameter counts show the cost.
The frozen backbone's BatchNorm statistics drift under `model.train()` and stay put under
`set_train_mode`. Last, the same tools on a torchvision resnet18 (random weights, no download).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

import demos
from kata.data import digits


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


def main(m, *, quick: bool = False, save_png: str | None = None) -> dict:
    dev = demos.device()
    per_class = 10
    pre_steps, ft_steps = (20, 20) if quick else (200, 100)
    x_tr, y_tr = digits("train")
    x_te, y_te = digits("test")
    x_tr, y_tr, x_te, y_te = x_tr.to(dev), y_tr.to(dev), x_te.to(dev), y_te.to(dev)
    old_tr, old_te = y_tr < 5, y_te < 5
    new_tr, new_te = ~old_tr, ~old_te

    # 1. pretraining: plenty of labels for the digits 0-4
    torch.manual_seed(0)
    pretrained = DigitNet(num_classes=5).to(dev)
    _train(pretrained, m, x_tr[old_tr], y_tr[old_tr], steps=pre_steps, batch_size=64, head_lr=3e-3, backbone_lr=3e-3)
    pretrain_acc = _accuracy(pretrained, x_te[old_te], y_te[old_te])

    # 2. the new task: digits 5-9 (relabelled 0-4), only `per_class` labels each
    x_new, y_new = x_tr[new_tr], y_tr[new_tr] - 5
    few = _few_labels(y_new.cpu(), per_class, seed=1).to(dev)
    x_few, y_few = x_new[few], y_new[few]
    x_eval, y_eval = x_te[new_te], y_te[new_te] - 5
    n_few = len(y_few)

    def scratch():
        return DigitNet(num_classes=5)

    def linear_probe():
        return m.prepare_linear_probe(copy.deepcopy(pretrained), 5)

    def partial():
        return m.unfreeze_last_blocks(m.replace_head(copy.deepcopy(pretrained), 5), 1)

    def full():
        return m.unfreeze(m.replace_head(copy.deepcopy(pretrained), 5))

    print(f"pretrained on digits 0-4 ({int(old_tr.sum())} labels): held-out accuracy {pretrain_acc:.3f}")
    print(f"new task: digits 5-9 from {per_class} labels per class ({n_few} images), "
          f"held out on {len(y_eval)} test images\n")
    print(f"  {'strategy':<14} {'trainable params':>16} {'of':>8}   accuracy on 5-9")
    result = {"pretrain_acc": pretrain_acc}
    for name, make in [("scratch", scratch), ("linear_probe", linear_probe), ("partial", partial), ("full", full)]:
        torch.manual_seed(0)
        model = make().to(dev)  # .to() keeps requires_grad; a new head may have been built on the CPU
        trainable, total = m.count_parameters(model, trainable_only=True), m.count_parameters(model)
        # a pretrained backbone moves 10x slower than its new head: keep the features close to what was learnt
        head_lr, backbone_lr = (3e-3, 3e-3) if name == "scratch" else (1e-2, 1e-3)
        _train(model, m, x_few, y_few, steps=ft_steps, batch_size=n_few, head_lr=head_lr, backbone_lr=backbone_lr)
        acc = _accuracy(model, x_eval, y_eval)
        result[f"acc_{name}"], result[f"trainable_{name}"] = acc, trainable
        print(f"  {name:<14} {trainable:>16,} {total:>8,}   {acc:.3f}")
    best = max(("linear_probe", "partial", "full"), key=lambda k: result[f"acc_{k}"])
    print(f"  best use of the pretrained backbone: {best} ({result[f'acc_{best}']:.3f}) vs from scratch "
          f"{result['acc_scratch']:.3f}; the probe trains "
          f"{100 * result['trainable_linear_probe'] / result['trainable_full']:.1f}% of the weights")
    recommended = m.choose_strategy(n_few, True, m.count_parameters(pretrained))
    result["strategy"] = recommended
    print(f"\nchoose_strategy({n_few}, similar_domain=True, {m.count_parameters(pretrained):,}) -> {recommended!r}")

    # 3. BatchNorm drift: a frozen backbone in model.train() still rewrites its running statistics
    drift = {}
    for mode in ("model.train()", "set_train_mode"):
        torch.manual_seed(0)
        model = linear_probe().to(dev)
        before = [b.running_mean.clone() for b in model.modules() if isinstance(b, nn.BatchNorm2d)]
        model.train() if mode == "model.train()" else m.set_train_mode(model)
        with torch.no_grad():
            for _ in range(5):
                model(x_few)
        drift[mode] = _bn_drift(model, before)
    result["bn_drift_train"], result["bn_drift_set_train_mode"] = drift["model.train()"], drift["set_train_mode"]
    print("\nlinear probe, 5 forwards on the new digits: max |change| of the frozen backbone's BN running_mean")
    for mode, d in drift.items():
        print(f"  {mode:<15} {d:.4f}")

    # 4. the same on a torchvision resnet18 (random weights: nothing is downloaded)
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
        names = ["scratch", "linear_probe", "partial", "full"]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.bar(names, [result[f"acc_{k}"] for k in names], color=["grey", "C0", "C1", "C2"])
        ax.set_ylabel("held-out accuracy on digits 5-9")
        ax.set_ylim(0, 1)
        ax.set_title(f"{per_class} labels per class, backbone pretrained on 0-4")
        fig.tight_layout()
        fig.savefig(save_png, dpi=120)
        print(f"saved {save_png}")
    return result
