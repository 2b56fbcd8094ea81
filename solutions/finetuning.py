"""finetuning - pretrained vs fine-tuned: freeze what was learned, train a new head, then decide how much more to thaw.

A pretrained network (here `torchvision.models.resnet18(weights=None)` or any `nn.Module` with an
`fc` head) already turns images into useful features. Fine-tuning reuses them: freeze the backbone
(`requires_grad=False`, which is not what `model.eval()` does), put a new head on top, hand only the
trainable parameters to the optimizer, keep frozen BatchNorm layers from updating their running
statistics, and unfreeze more of the network (last blocks first) when there is data to support it.
"""

from __future__ import annotations

from torch import nn

# Layers whose weight is a per-channel scale, not a feature detector: no weight decay on them.
NORM_LAYERS = (
    nn.modules.batchnorm._BatchNorm,  # BatchNorm1d/2d/3d, SyncBatchNorm and the lazy variants
    nn.modules.instancenorm._InstanceNorm,  # InstanceNorm1d/2d/3d
    nn.LayerNorm,
    nn.GroupNorm,
    nn.RMSNorm,
)


def freeze(module: nn.Module) -> nn.Module:
    """Stop gradients for every parameter of `module` (recursively): `requires_grad = False`.

    Returns the same module (changed in place), so calls can be chained. Buffers (BatchNorm running
    statistics) and the train/eval mode are left alone.

    Pitfall: `module.eval()` does not freeze anything. It switches Dropout and BatchNorm to inference
    behaviour; the parameters still get gradients and the optimizer still updates them.
    """
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    """Let gradients flow into every parameter of `module` again: `requires_grad = True`.

    Returns the same module (changed in place).
    """
    for p in module.parameters():
        p.requires_grad_(True)
    return module


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters (elements, not tensors) in `module`, as a Python int.

    A parameter shared by several layers (tied weights) counts once. Buffers such as BatchNorm's
    `running_mean` are not parameters and do not count. With `trainable_only`, only parameters with
    `requires_grad=True` count.

    Pitfall: summing over `state_dict()` counts buffers, and a tied weight once per name.
    """
    # module.parameters() yields each Parameter object once, however many layers hold it
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Put a new, freshly initialised, trainable `nn.Linear` head on `model.fc` for `num_classes`.

    The input width is read from the old head (`model.fc.in_features`, 512 for a resnet18), and the
    new head is created on the old head's device and dtype. Every other parameter is kept as it is,
    frozen or not. Returns the same model (changed in place).

    Pitfall: a head created before the backbone is frozen is frozen with it; a head created after is
    trainable, because a new `nn.Linear`'s parameters require grad.
    """
    old = model.fc
    model.fc = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
    return model


def prepare_linear_probe(model: nn.Module, num_classes: int) -> nn.Module:
    """Freeze the whole pretrained `model`, then give it a new trainable head for `num_classes`.

    Afterwards exactly the parameters of the new `model.fc` are trainable: training only learns a
    linear classifier on the frozen features (a "linear probe"). Returns the same model.

    Pitfall: the order matters. Replace the head first and then freeze, and nothing at all is
    trainable.
    """
    freeze(model)
    return replace_head(model, num_classes)


def unfreeze_last_blocks(model: nn.Module, n: int) -> nn.Module:
    """For a ResNet: make exactly the head `model.fc` and the last `n` residual stages trainable.

    The stages count from the top: `n=1` is `layer4`, `n=2` adds `layer3`, up to `n=4` (all of
    `layer4, layer3, layer2, layer1`); `n=0` is the head only. Everything else, the stem (`conv1`,
    `bn1`) and every stage not chosen included, is frozen, whatever it was before. The head is kept
    (not replaced). Returns the same model.

    Raises:
        ValueError: `n` is outside `0..4` (the message names it).

    Pitfall: off by one. `stages[-n:]` with `n=0` is the whole list, not an empty one.
    """
    if not 0 <= n <= 4:
        raise ValueError(f"n={n!r}: a ResNet has 4 stages (layer1..layer4), so n must be in 0..4")
    freeze(model)
    unfreeze(model.fc)
    for stage in [model.layer4, model.layer3, model.layer2, model.layer1][:n]:
        unfreeze(stage)
    return model


def trainable_param_groups(
    model: nn.Module, head_lr: float, backbone_lr: float, weight_decay: float = 0.0
) -> list[dict]:
    """Optimizer parameter groups for fine-tuning: `torch.optim.AdamW(trainable_param_groups(...))`.

    Returns a list of dicts `{"params": [...], "lr": ..., "weight_decay": ...}` that together hold
    exactly the trainable (`requires_grad=True`) parameters of `model`, each once (tied weights
    too). Parameters of `model.fc` (if the model has one; all of them, when the head is itself a
    small network) get `lr=head_lr`, all others `lr=backbone_lr` (all of them, for a model without
    `fc`). Biases and the parameters of normalisation layers of every dimension (BatchNorm1d/2d/3d,
    LayerNorm, GroupNorm, InstanceNorm1d/2d/3d) get `weight_decay=0.0`, every other parameter
    `weight_decay`, one-dimensional ones included (a learned scale, a PReLU slope). A bias is a
    parameter whose own name (after the last dot) ends in `bias`: the `bias` of any layer and
    `in_proj_bias` of `nn.MultiheadAttention`. Other norms (RMSNorm) and other bias-like names
    (`bias_k`, `bias_ih_l0`) are left open; this solution spares them too. Every
    group sets its own `lr` and `weight_decay`, so the optimizer's defaults never leak in; empty
    groups are left out.

    Pitfalls: frozen parameters handed to the optimizer (they waste its state and start moving the
    moment they are unfrozen); weight decay on biases and norm scales, which pulls them toward 0
    for no benefit.
    """
    fc = getattr(model, "fc", None)
    head = {id(p) for p in fc.parameters()} if fc is not None else set()
    groups = {(is_head, decays): [] for is_head in (True, False) for decays in (True, False)}
    seen = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            decays = not ("bias" in name or isinstance(module, NORM_LAYERS))
            groups[(id(p) in head, decays)].append(p)
    return [
        {
            "params": params,
            "lr": head_lr if is_head else backbone_lr,
            "weight_decay": weight_decay if decays else 0.0,
        }
        for (is_head, decays), params in groups.items()
        if params
    ]


def set_train_mode(model: nn.Module) -> nn.Module:
    """`model.train()`, except BatchNorm layers that have parameters, all frozen, go back to eval mode.

    A frozen BatchNorm in train mode still normalises with the batch's statistics and still
    overwrites its `running_mean`/`running_var` on every forward, so the "frozen" backbone drifts
    away from what it learned. In eval mode it uses, and keeps, its running statistics. BatchNorm
    layers with a trainable parameter, the head and everything else (Dropout) are in train mode.
    A BatchNorm without parameters (`affine=False`) has nothing to be frozen: "all its parameters
    are frozen" is not read as true of none, so it stays in train mode and its running statistics
    keep learning. Call it instead of `model.train()` at the start of every epoch. Returns the
    same model.

    Pitfall: `requires_grad=False` does not stop running statistics from drifting; only eval mode does.
    """
    model.train()
    for module in model.modules():
        params = list(module.parameters())
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and params and not any(p.requires_grad for p in params):
            module.eval()
    return model


def choose_strategy(n_labeled: int, similar_domain: bool, model_params: int) -> str:
    """How much of a pretrained model to train, from the data you have and the model's size.

    Returns one of `"linear_probe"`, `"partial"`, `"full"`, `"lora"`, by this decision table (the
    first row that applies wins):

    | model_params     | n_labeled         | similar_domain | strategy       |
    |------------------|-------------------|----------------|----------------|
    | >= 1_000_000_000 | any               | any            | "lora"         |
    | < 1e9            | < 1_000           | True           | "linear_probe" |
    | < 1e9            | < 1_000           | False          | "partial"      |
    | < 1e9            | 1_000 .. 99_999   | True           | "partial"      |
    | < 1e9            | 1_000 .. 99_999   | False          | "full"         |
    | < 1e9            | >= 100_000        | any            | "full"         |

    Why: a billion-parameter model is too big to fine-tune fully (gradients and optimizer state
    cost several times the weights), while low-rank adapters train well under 1% of it. With few
    labels, every trainable parameter is a chance to overfit: a linear probe on frozen features is
    the safest choice when the features fit the task (similar domain); a different domain needs the
    top blocks re-learnt ("partial", `unfreeze_last_blocks`). More data supports more trainable
    parameters, and with plenty of it full fine-tuning wins in any domain.

    The topic's demo (`python -m exercises.finetuning`) measures the rows for a small model on the
    digits: its sweep of labels per class puts scratch, linear probe and full fine-tuning side by
    side. With a backbone pretrained on other labelled digits, a probe fit on one label per class is
    far ahead of a network trained from scratch on the same ten images; as labels grow the gap closes,
    and with every label the three strategies end within a couple of points.

    Raises:
        ValueError: `n_labeled` is negative or `model_params` is not positive (the message names it).
    """
    if n_labeled < 0:
        raise ValueError(f"n_labeled={n_labeled!r} must be >= 0")
    if model_params <= 0:
        raise ValueError(f"model_params={model_params!r} must be > 0")
    if model_params >= 1_000_000_000:
        return "lora"
    if n_labeled < 1_000:
        return "linear_probe" if similar_domain else "partial"
    if n_labeled < 100_000:
        return "partial" if similar_domain else "full"
    return "full"


if __name__ == "__main__":  # python -m solutions.finetuning: the concept at work, with real numbers
    from demos import run

    run("finetuning")
