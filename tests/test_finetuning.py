"""Tests of the finetuning topic: freezing, counting, new heads, partial unfreezing, optimizer groups, BatchNorm."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kata.learn.checks import (
    expect,
    expect_close,
    expect_device,
    expect_dtype,
    expect_equal,
    expect_raises,
    expect_shape,
    fail,
)

freeze = pytest.mark.exercise("freeze")
count_parameters = pytest.mark.exercise("count_parameters")
replace_head = pytest.mark.exercise("replace_head")
prepare_linear_probe = pytest.mark.exercise("prepare_linear_probe")
unfreeze_last_blocks = pytest.mark.exercise("unfreeze_last_blocks")
trainable_param_groups = pytest.mark.exercise("trainable_param_groups")
set_train_mode = pytest.mark.exercise("set_train_mode")
choose_strategy = pytest.mark.exercise("choose_strategy")
demo = pytest.mark.exercise("demo")

RESNET18_PARAMS = 11_689_512  # torchvision.models.resnet18(): weights and biases, no buffers
STAGES = ["layer4", "layer3", "layer2", "layer1"]  # the order unfreeze_last_blocks thaws them in


# ---------------------------------------------------------------- models


@pytest.fixture(scope="module")
def _resnet18_prototype():
    from torchvision.models import resnet18

    with torch.random.fork_rng():  # built once, before any test's seeding: leave the global RNG alone
        torch.manual_seed(0)
        return resnet18(weights=None)  # random weights: nothing is downloaded


@pytest.fixture
def resnet(_resnet18_prototype):
    """A fresh torchvision resnet18 for every test (a copy of one built per module: cheap)."""
    return copy.deepcopy(_resnet18_prototype)


class SmallNet(nn.Module):
    """(N, 3, 6, 6) -> (N, 3): a backbone `features` with two BatchNorms, a Dropout and a head `fc`."""

    def __init__(self, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Sequential(nn.Conv2d(4, 6, 3, bias=False), nn.BatchNorm2d(6), nn.ReLU()),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(self.drop(self.features(x)))


class NormZoo(nn.Module):
    """(N, 2, 5, 5) -> (N, 3) through every kind of normalisation layer the contract names."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.gn = nn.GroupNorm(2, 4)
        self.inorm = nn.InstanceNorm2d(4, affine=True)
        self.bn = nn.BatchNorm2d(4)
        self.proj = nn.Linear(4, 4)
        self.ln = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = self.bn(self.inorm(self.gn(self.conv(x)))).mean(dim=(2, 3))
        return self.fc(self.ln(self.proj(h)))


class Tied(nn.Module):
    """Two layers sharing one weight matrix (tied weights), plus a head."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(6, 6)
        self.dec = nn.Linear(6, 6)
        self.dec.weight = self.enc.weight
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        return self.fc(self.dec(torch.relu(self.enc(x))))


class NormMLP(nn.Module):
    """(N, 4) -> (N, 2): a backbone with a BatchNorm1d and a layer named fc1 (not the head), and the head fc."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.bn = nn.BatchNorm1d(8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.fc1(x))))


def trainable_names(model):
    return {name for name, p in model.named_parameters() if p.requires_grad}


def frozen_names(model):
    return {name for name, p in model.named_parameters() if not p.requires_grad}


def snapshot(named):
    return {name: t.detach().clone() for name, t in named}


def sgd_steps(model, params, x, y, steps=3):
    """Real training steps with momentum and weight decay: the setting where frozen weights could move."""
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1)
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def stage_of(name):
    return name.split(".")[0]


# ---------------------------------------------------------------- freeze / unfreeze


@freeze
def test_freeze_sets_requires_grad_false_on_every_parameter(impl):
    model = SmallNet()
    got = impl.freeze(model)
    expect(got is model, f"freeze should return the module it froze (for chaining), got {type(got).__name__}",
           "end with `return module`")
    still = sorted(trainable_names(model))
    expect(not still, f"after freeze these parameters still have requires_grad=True: {still}",
           "freezing means requires_grad=False on every parameter, nested submodules included "
           "(module.parameters() recurses); model.eval() does not freeze anything")


@freeze
def test_freeze_does_not_touch_other_submodules(impl):
    model = SmallNet()
    impl.freeze(model.features)
    expect(trainable_names(model) == {"fc.weight", "fc.bias"},
           f"freeze(model.features) should leave the head trainable; trainable now: {sorted(trainable_names(model))}",
           "iterate over the parameters of the module you were given, not of anything else")


@freeze
def test_frozen_weights_do_not_move_under_sgd_with_momentum_and_weight_decay(impl):
    model = SmallNet(dropout=0.0)
    impl.freeze(model.features)
    before = snapshot(model.named_parameters())
    x, y = torch.randn(8, 3, 6, 6), torch.randint(0, 3, (8,))
    sgd_steps(model, model.parameters(), x, y)
    moved = [n for n, p in model.named_parameters() if n.startswith("features") and not torch.equal(p, before[n])]
    expect(not moved, f"3 SGD steps (momentum 0.9, weight_decay 0.1) changed the 'frozen' backbone weights {moved}",
           "model.eval() only changes how Dropout and BatchNorm behave; gradients still flow and the optimizer "
           "still updates. A frozen parameter has requires_grad=False, so it never gets a .grad")
    expect(not torch.equal(model.fc.weight, before["fc.weight"]),
           "the head did not change in training after freeze(model.features): it should stay trainable")


@freeze
def test_unfreeze_sets_requires_grad_true_on_every_parameter(impl):
    model = SmallNet()
    for p in model.parameters():
        p.requires_grad_(False)
    got = impl.unfreeze(model)
    expect(got is model, f"unfreeze should return the module it unfroze, got {type(got).__name__}")
    still = sorted(frozen_names(model))
    expect(not still, f"after unfreeze these parameters are still frozen: {still}",
           "set requires_grad=True on every parameter, nested submodules included")


@freeze
def test_unfreeze_does_not_touch_other_submodules(impl):
    model = SmallNet()
    for p in model.parameters():
        p.requires_grad_(False)
    impl.unfreeze(model.fc)
    expect(trainable_names(model) == {"fc.weight", "fc.bias"},
           f"unfreeze(model.fc) should thaw exactly the head; trainable now: {sorted(trainable_names(model))}")


@freeze
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_freeze_and_unfreeze_leave_the_mode_alone(impl, mode):
    model = SmallNet()
    model.train(mode == "train")
    for fn in ("freeze", "unfreeze"):
        getattr(impl, fn)(model)
        flipped = [name or "the model" for name, m in model.named_modules() if m.training != (mode == "train")]
        expect(not flipped,
               f"{fn} changed the train/eval mode of {flipped[:4]} (the model was in {mode} mode)",
               "freezing is requires_grad and nothing else: train()/eval() switch Dropout and BatchNorm, a different "
               "thing, left to the caller")


# ---------------------------------------------------------------- count_parameters


@count_parameters
def test_count_parameters_resnet18(impl, resnet):
    got = impl.count_parameters(resnet)
    expect(isinstance(got, int) and not isinstance(got, bool),
           f"count_parameters should return a Python int, got {type(got).__name__} {got!r}",
           "p.numel() is an int; a sum of ints is an int (a tensor is not what callers expect)")
    expect(got == RESNET18_PARAMS, f"resnet18 has {RESNET18_PARAMS:,} parameters, got {got:,}",
           "count scalar elements (p.numel()), not parameter tensors, and only parameters (no buffers)")


@count_parameters
def test_count_parameters_counts_a_tied_weight_once(impl):
    model = Tied()  # enc.weight is dec.weight: 36 + 6 + 6 + (12 + 2)
    got = impl.count_parameters(model)
    expect(got == 62, f"with enc and dec sharing one 6x6 weight the model has 62 parameters, got {got}"
           + (" (the shared 36 counted twice)" if got == 98 else ""),
           "a tied weight is one tensor: model.parameters() yields it once, named_parameters("
           "remove_duplicate=False) and state_dict() list it once per name")


@count_parameters
def test_count_parameters_ignores_buffers(impl):
    model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8))  # 24 + 8 + 8 + 8 parameters
    got = impl.count_parameters(model)
    expect(got == 48, f"Linear(3, 8) + BatchNorm1d(8) have 48 parameters, got {got}"
           + (" (that includes BatchNorm's running_mean, running_var and num_batches_tracked)" if got == 65 else ""),
           "running statistics are buffers, not parameters: count module.parameters(), not state_dict()")


@count_parameters
def test_count_parameters_trainable_only(impl):
    model = SmallNet()
    for p in model.features.parameters():
        p.requires_grad_(False)
    head = 6 * 3 + 3
    got = impl.count_parameters(model, trainable_only=True)
    expect(got == head, f"with the backbone frozen only the head's {head} parameters are trainable, got {got}",
           "with trainable_only, count only parameters with requires_grad=True")
    everything = sum(p.numel() for p in model.parameters())
    got = impl.count_parameters(model)
    expect(got == everything, f"by default frozen parameters count too: expected {everything}, got {got}",
           "trainable_only=False (the default) counts every parameter, frozen or not")


@count_parameters
def test_count_parameters_frozen_tied_weight(impl):
    model = Tied()
    model.enc.weight.requires_grad_(False)  # frozen once, frozen under both names
    got = impl.count_parameters(model, trainable_only=True)
    expect(got == 26, f"with the tied 6x6 weight frozen, 26 parameters are trainable, got {got}")


# ---------------------------------------------------------------- replace_head


@replace_head
def test_replace_head_new_linear_of_the_right_widths(impl, resnet):
    old = resnet.fc
    model = impl.replace_head(resnet, 7)
    expect(isinstance(model, nn.Module), f"replace_head should return the model, got {type(model).__name__}")
    fc = model.fc
    expect(isinstance(fc, nn.Linear), f"the new head should be an nn.Linear, got {type(fc).__name__}")
    expect(fc is not old, "model.fc is still the old head object: replace it with a new nn.Linear")
    expect(fc.in_features == 512, f"resnet18's head reads 512 features, the new head has in_features={fc.in_features}",
           "take the input width from the old head (model.fc.in_features)")
    expect(fc.out_features == 7, f"replace_head(model, 7): expected out_features=7, got {fc.out_features}")
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    expect(tuple(out.shape) == (2, 7), f"the model with its new head should output (2, 7), got {tuple(out.shape)}")


@replace_head
def test_replace_head_reads_the_input_width_from_the_old_head(impl):
    model = SmallNet()  # fc reads 6 features
    impl.replace_head(model, 4)
    expect(model.fc.in_features == 6, f"SmallNet's head reads 6 features, the new head has {model.fc.in_features}",
           "do not hard-code 512: read model.fc.in_features before replacing it")
    out = model(torch.randn(2, 3, 6, 6))
    expect(tuple(out.shape) == (2, 4), f"expected output (2, 4), got {tuple(out.shape)}")


@replace_head
def test_replace_head_is_fresh_even_for_the_same_number_of_classes(impl):
    model = SmallNet()
    old_weight = model.fc.weight
    impl.replace_head(model, 3)
    expect(model.fc.weight is not old_weight,
           "replace_head(model, 3) on a 3-class head kept the old weight tensor: the new head must be new")


@replace_head
def test_replace_head_is_trainable_after_freezing(impl):
    model = SmallNet()
    for p in model.parameters():
        p.requires_grad_(False)
    impl.replace_head(model, 5)
    frozen_head = sorted(n for n in frozen_names(model) if n.startswith("fc."))
    expect(not frozen_head, f"the new head of a frozen model should be trainable; frozen: {frozen_head}",
           "a freshly built nn.Linear has requires_grad=True; do not copy the old head's flags onto it")
    thawed = sorted(n for n in trainable_names(model) if not n.startswith("fc."))
    expect(not thawed, f"replace_head should leave the backbone frozen, but {thawed} became trainable")


@replace_head
def test_replace_head_keeps_the_backbone(impl):
    model = SmallNet()
    before = snapshot((n, t) for n, t in model.state_dict().items() if not n.startswith("fc."))
    impl.replace_head(model, 5)
    after = model.state_dict()
    for name, value in before.items():
        expect(name in after, f"the backbone lost {name} when the head was replaced")
        expect_equal(after[name], value, what=f"backbone {name} after replace_head",
                     hint="only model.fc changes; the pretrained backbone is the point of fine-tuning")


@replace_head
def test_replace_head_takes_the_dtype_of_the_old_head(impl):
    model = SmallNet().double()
    impl.replace_head(model, 4)
    hint = ("create the new head with the old head's dtype and device: nn.Linear(..., dtype=old.weight.dtype, "
            "device=old.weight.device); a plain nn.Linear is float32 on the CPU")
    expect_dtype(model.fc.weight, torch.float64, "the new head's weight on a float64 model", hint)
    out = model(torch.randn(2, 3, 6, 6, dtype=torch.float64))
    expect_dtype(out, torch.float64, "the output of a float64 model with its new head", hint)


@replace_head
@pytest.mark.cuda
def test_replace_head_on_cuda_lives_on_cuda(impl):
    model = SmallNet().cuda()
    impl.replace_head(model, 4)
    expect_device(model.fc.weight, model.features[0].weight.device, "the new head's weight on a CUDA model",
                  "create the new head on the old head's device (device=old.weight.device)")
    expect_shape(model(torch.randn(2, 3, 6, 6, device="cuda")), (2, 4), "the CUDA model's output with its new head")


# ---------------------------------------------------------------- prepare_linear_probe


@prepare_linear_probe
def test_linear_probe_only_the_head_is_trainable(impl, resnet):
    model = impl.prepare_linear_probe(resnet, 10)
    expect(isinstance(model, nn.Module), f"prepare_linear_probe should return the model, got {type(model).__name__}")
    expect(isinstance(model.fc, nn.Linear) and model.fc.out_features == 10,
           f"expected a new nn.Linear head with 10 outputs, got {model.fc!r}")
    trainable = trainable_names(model)
    expect(trainable, "nothing is trainable after prepare_linear_probe, not even the new head",
           "was the head created before freezing, and so frozen with everything else? Freeze first, then "
           "create the head")
    expect(trainable == {"fc.weight", "fc.bias"},
           f"a linear probe trains the head only; trainable: {sorted(trainable)[:6]}"
           f"{' ...' if len(trainable) > 6 else ''}",
           "freeze every parameter of the pretrained model (not model.eval()), then put the new head on")


@prepare_linear_probe
def test_linear_probe_trainable_count_is_the_head(impl, resnet):
    model = impl.prepare_linear_probe(resnet, 10)
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    expect(n == 512 * 10 + 10, f"a linear probe on resnet18 trains 512 x 10 + 10 = 5130 parameters, got {n}")


@prepare_linear_probe
def test_linear_probe_on_a_partly_trainable_model_freezes_the_rest(impl):
    model = SmallNet()
    for p in model.features[0].parameters():
        p.requires_grad_(False)  # the rest of the backbone is still trainable
    impl.prepare_linear_probe(model, 2)
    expect(trainable_names(model) == {"fc.weight", "fc.bias"},
           f"expected only the new head trainable, got {sorted(trainable_names(model))}")


@prepare_linear_probe
def test_linear_probe_training_changes_only_the_head(impl):
    model = impl.prepare_linear_probe(SmallNet(dropout=0.0), 2)
    before = snapshot(model.named_parameters())
    x, y = torch.randn(8, 3, 6, 6), torch.randint(0, 2, (8,))
    trainable = [p for p in model.parameters() if p.requires_grad]
    expect(trainable, "after prepare_linear_probe no parameter requires grad, so an optimizer has nothing to train",
           "freeze the backbone first, then put the new head in: a fresh nn.Linear requires grad (a head made "
           "before freezing is frozen with everything else)")
    sgd_steps(model, trainable, x, y)
    moved = [n for n, p in model.named_parameters() if not n.startswith("fc.") and not torch.equal(p, before[n])]
    expect(not moved, f"training the probe moved backbone weights {moved}")
    expect(not torch.equal(model.fc.weight, before["fc.weight"]), "training the probe did not change the head")


# ---------------------------------------------------------------- unfreeze_last_blocks


def _expect_stages(model, n, context=""):
    chosen = {"fc", *STAGES[:n]}
    expected = {name for name, _ in model.named_parameters() if stage_of(name) in chosen}
    got = trainable_names(model)
    extra = sorted({stage_of(name) for name in got - expected})
    missing = sorted({stage_of(name) for name in expected - got})
    what = f"unfreeze_last_blocks(model, {n}){context}"
    want = " + ".join(["fc", *STAGES[:n]])
    expect(not extra, f"{what}: expected exactly {want} trainable, but parts of {extra} are trainable too",
           "freeze the whole model first (the stem conv1/bn1 included), then unfreeze the head and the last n "
           "stages; careful: stages[-0:] is the whole list")
    expect(not missing, f"{what}: expected exactly {want} trainable, but parts of {missing} are frozen",
           "count from the top: n=1 is layer4, n=2 adds layer3, ... and the head fc is always trainable")


@unfreeze_last_blocks
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4])
def test_unfreeze_last_blocks_exactly_head_and_last_n_stages(impl, resnet, n):
    model = impl.unfreeze_last_blocks(resnet, n)
    expect(isinstance(model, nn.Module), f"unfreeze_last_blocks should return the model, got {type(model).__name__}")
    _expect_stages(model, n)


@unfreeze_last_blocks
def test_unfreeze_last_blocks_refreezes_what_was_trainable(impl, resnet):
    impl.unfreeze_last_blocks(resnet, 3)
    impl.unfreeze_last_blocks(resnet, 1)
    _expect_stages(resnet, 1, " after unfreeze_last_blocks(model, 3)")


@unfreeze_last_blocks
def test_unfreeze_last_blocks_keeps_the_head(impl, resnet):
    head = nn.Linear(512, 7)
    resnet.fc = head
    for p in resnet.parameters():
        p.requires_grad_(False)  # a linear probe after training: now thaw layer4 and layer3
    impl.unfreeze_last_blocks(resnet, 2)
    expect(resnet.fc is head, "unfreeze_last_blocks replaced the head: it should keep the (trained) model.fc")
    _expect_stages(resnet, 2, " on a frozen model")


@unfreeze_last_blocks
@pytest.mark.parametrize("n", [-1, 5])
def test_unfreeze_last_blocks_rejects_n_outside_0_to_4(impl, resnet, n):
    with expect_raises(ValueError, f"unfreeze_last_blocks(model, {n})", names=n):
        impl.unfreeze_last_blocks(resnet, n)


# ---------------------------------------------------------------- trainable_param_groups

DEFAULT_LR, DEFAULT_WD = 123.0, 456.0  # optimizer defaults that no group may fall back on


def make_groups(impl, model, head_lr, backbone_lr, weight_decay):
    """Call trainable_param_groups and check the shape of its answer; return the groups, params as lists."""
    groups = impl.trainable_param_groups(model, head_lr, backbone_lr, weight_decay=weight_decay)
    expect(isinstance(groups, list),
           f"trainable_param_groups should return a list of dicts, got {type(groups).__name__}")
    out = []
    for i, g in enumerate(groups):
        expect(isinstance(g, dict) and "params" in g, f"group {i} should be a dict with a 'params' key, got {g!r:.120}")
        params = [g["params"]] if isinstance(g["params"], torch.Tensor) else list(g["params"])
        out.append({**g, "params": params})
    return out


def group_settings(impl, model, head_lr=0.1, backbone_lr=0.01, weight_decay=0.05):
    """{parameter name: (lr, weight_decay)} as an SGD built from the groups sees them; each parameter once."""
    groups = make_groups(impl, model, head_lr, backbone_lr, weight_decay)
    names = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), name)
    seen = {}
    for g in groups:
        for p in g["params"]:
            name = names.get(id(p), "a tensor that is not a parameter of the model")
            expect(id(p) not in seen, f"{name} appears twice in the groups",
                   "each parameter once: a tied weight is one tensor held by two layers, keep track of what you added")
            seen[id(p)] = name
    opt = torch.optim.SGD(groups, lr=DEFAULT_LR, weight_decay=DEFAULT_WD)
    settings = {}
    for g in opt.param_groups:
        expect(g["lr"] != DEFAULT_LR, "a group has no 'lr' of its own and falls back on the optimizer's default",
               "every group sets its own lr")
        expect(g["weight_decay"] != DEFAULT_WD,
               "a group has no 'weight_decay' of its own and falls back on the optimizer's default",
               "every group sets its own weight_decay, 0.0 included")
        for p in g["params"]:
            settings[names[id(p)]] = (g["lr"], g["weight_decay"])
    return settings


def _expect_exactly(settings, model):
    expected = trainable_names(model)
    frozen = sorted(set(settings) & frozen_names(model))
    expect(not frozen, f"frozen parameters were handed to the optimizer: {frozen[:5]}",
           "keep only parameters with requires_grad=True; frozen ones waste optimizer state and start moving "
           "the moment someone unfreezes them")
    missing = sorted(expected - set(settings))
    expect(not missing, f"trainable parameters missing from the groups: {missing[:5]}")


@trainable_param_groups
def test_groups_hold_exactly_the_trainable_parameters(impl, resnet):
    for name, p in resnet.named_parameters():
        p.requires_grad_(stage_of(name) in {"fc", "layer4"})
    settings = group_settings(impl, resnet)
    _expect_exactly(settings, resnet)


@trainable_param_groups
def test_groups_leave_out_a_frozen_backbone(impl):
    model = NormZoo()
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("fc."))
    settings = group_settings(impl, model)
    expect(set(settings) == {"fc.weight", "fc.bias"},
           f"with everything but the head frozen, the groups should hold fc.weight and fc.bias, got {sorted(settings)}",
           "skip parameters with requires_grad=False")


@trainable_param_groups
def test_groups_hold_a_tied_weight_once(impl):
    model = Tied()
    settings = group_settings(impl, model)  # fails on a duplicate
    _expect_exactly(settings, model)


@trainable_param_groups
def test_groups_head_lr_on_fc_backbone_lr_elsewhere(impl, resnet):
    settings = group_settings(impl, resnet, head_lr=0.1, backbone_lr=0.001)
    _expect_exactly(settings, resnet)
    for name, (lr, _) in settings.items():
        want = 0.1 if name.startswith("fc.") else 0.001
        expect(lr == want, f"{name} has lr={lr}, expected {want} ({'head' if want == 0.1 else 'backbone'})",
               "model.fc's parameters get head_lr, every other trainable parameter backbone_lr")


@trainable_param_groups
def test_groups_no_weight_decay_on_biases_and_batchnorm(impl, resnet):
    settings = group_settings(impl, resnet, weight_decay=0.05)
    _expect_exactly(settings, resnet)
    batchnorms = {name for name, m in resnet.named_modules() if isinstance(m, nn.BatchNorm2d)}
    for name, (_, wd) in settings.items():
        owner = name.rsplit(".", 1)[0]
        if name.endswith("bias") or owner in batchnorms:
            what = "a bias" if name.endswith("bias") else "the weight of a BatchNorm layer"
            expect(wd == 0.0, f"{name} is {what} and should get weight_decay=0, got {wd}",
                   "weight decay pulls biases and norm scales toward 0 for no benefit; find norm layers by their "
                   "type (layer4.0.downsample.1 is a BatchNorm too), biases by their name")
        else:
            expect(wd == 0.05, f"{name} should get weight_decay=0.05, got {wd}",
                   "conv and linear weights keep the weight decay they were given")


@trainable_param_groups
def test_groups_no_weight_decay_on_every_kind_of_norm(impl):
    model = NormZoo()
    settings = group_settings(impl, model, head_lr=0.1, backbone_lr=0.01, weight_decay=0.05)
    _expect_exactly(settings, model)
    decayed = {"conv.weight", "proj.weight", "fc.weight"}
    for name, (lr, wd) in settings.items():
        want = 0.05 if name in decayed else 0.0
        expect(wd == want, f"{name} should get weight_decay={want}, got {wd}",
               "biases and the weights of BatchNorm, LayerNorm, GroupNorm and InstanceNorm get no weight decay")
        want_lr = 0.1 if name.startswith("fc.") else 0.01
        expect(lr == want_lr, f"{name} should get lr={want_lr}, got {lr}")


@trainable_param_groups
def test_groups_head_lr_only_on_model_fc(impl):
    model = NormMLP()
    settings = group_settings(impl, model, head_lr=0.1, backbone_lr=0.01, weight_decay=0.05)
    _expect_exactly(settings, model)
    for name, (lr, _) in settings.items():
        want = 0.1 if name.startswith("fc.") else 0.01
        expect(lr == want, f"{name} has lr={lr}, expected {want} ({'head' if want == 0.1 else 'backbone'})",
               "the head is the module model.fc itself: compare parameters with model.fc.parameters(); a name "
               "merely containing 'fc' (fc1, a block's fc) is part of the backbone")


@trainable_param_groups
def test_groups_no_weight_decay_on_batchnorm1d(impl):
    model = NormMLP()
    settings = group_settings(impl, model, head_lr=0.1, backbone_lr=0.01, weight_decay=0.05)
    _expect_exactly(settings, model)
    for name, (_, wd) in settings.items():
        want = 0.05 if name in {"fc1.weight", "fc.weight"} else 0.0
        expect(wd == want, f"{name} should get weight_decay={want}, got {wd}",
               "a BatchNorm1d is a BatchNorm too: recognise norm layers by type, all their variants "
               "(nn.modules.batchnorm._BatchNorm covers BatchNorm1d/2d/3d)")


class NestedHead(nn.Module):
    """A head `fc` that is itself a small network (Linear -> LayerNorm -> Linear), on a BatchNorm backbone."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.fc = nn.Sequential(nn.Linear(8, 6), nn.LayerNorm(6), nn.ReLU(), nn.Linear(6, 2))

    def forward(self, x):
        return self.fc(self.features(x))


@trainable_param_groups
def test_groups_head_lr_on_every_parameter_of_a_nested_head(impl):
    model = NestedHead()
    settings = group_settings(impl, model, head_lr=0.1, backbone_lr=0.01, weight_decay=0.05)
    _expect_exactly(settings, model)
    decayed = {"features.0.weight", "fc.0.weight", "fc.3.weight"}
    for name, (lr, wd) in settings.items():
        want_lr = 0.1 if name.startswith("fc.") else 0.01
        expect(lr == want_lr, f"{name} has lr={lr}, expected {want_lr} ({'head' if want_lr == 0.1 else 'backbone'})",
               "the head is everything inside model.fc, nested layers included: model.fc.parameters() recurses")
        want_wd = 0.05 if name in decayed else 0.0
        expect(wd == want_wd, f"{name} should get weight_decay={want_wd}, got {wd}",
               "inside the head too, biases and norm weights (fc.1 is a LayerNorm) get no weight decay")


@trainable_param_groups
def test_groups_of_a_model_without_fc_are_all_backbone(impl):
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    try:
        settings = group_settings(impl, model, head_lr=0.1, backbone_lr=0.01, weight_decay=0.05)
    except AttributeError as err:
        fail(f"trainable_param_groups failed on a model without an `fc` attribute: {err}",
             "a model may have no fc (getattr(model, 'fc', None)): then every parameter is backbone")
    _expect_exactly(settings, model)
    for name, (lr, wd) in settings.items():
        expect(lr == 0.01, f"{name} has lr={lr}; a model without fc has no head, so every lr is backbone_lr=0.01")
        want_wd = 0.05 if name in {"0.weight", "3.weight"} else 0.0
        expect(wd == want_wd, f"{name} should get weight_decay={want_wd}, got {wd}")


class OddParameters(nn.Module):
    """One-dimensional parameters that are neither biases nor norm weights: a learned scale and a PReLU slope."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))
        self.proj = nn.Linear(4, 4)
        self.act = nn.PReLU(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.act(self.proj(x * self.scale)))


@trainable_param_groups
def test_groups_decay_one_dimensional_weights_that_are_not_biases_or_norms(impl):
    model = OddParameters()
    settings = group_settings(impl, model, head_lr=0.1, backbone_lr=0.01, weight_decay=0.05)
    _expect_exactly(settings, model)
    for name, (_, wd) in settings.items():
        want = 0.0 if name.endswith("bias") else 0.05
        expect(wd == want, f"{name} should get weight_decay={want}, got {wd}",
               "only biases and the weights of normalisation layers are exempt: a 1-D parameter is not a bias for "
               "being 1-D (scale, act.weight of a PReLU); decide by name and by the owning layer's type, not p.ndim")


class MoreNorms(nn.Module):
    """Norm layers of other dimensions: BatchNorm3d, InstanceNorm1d and InstanceNorm3d (affine)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(2, 4, 1)
        self.bn3 = nn.BatchNorm3d(4)
        self.in3 = nn.InstanceNorm3d(4, affine=True)
        self.in1 = nn.InstanceNorm1d(4, affine=True)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        h = self.in3(self.bn3(self.conv(x))).flatten(2)  # (N, 4, D*H*W)
        return self.fc(self.in1(h).mean(dim=2))


@trainable_param_groups
def test_groups_no_weight_decay_on_norms_of_every_dimension(impl):
    model = MoreNorms()
    settings = group_settings(impl, model, head_lr=0.1, backbone_lr=0.01, weight_decay=0.05)
    _expect_exactly(settings, model)
    for name, (_, wd) in settings.items():
        want = 0.05 if name in {"conv.weight", "fc.weight"} else 0.0
        expect(wd == want, f"{name} should get weight_decay={want}, got {wd}",
               "recognise norm layers by their base classes, every dimension included: "
               "nn.modules.batchnorm._BatchNorm (BatchNorm1d/2d/3d) and nn.modules.instancenorm._InstanceNorm "
               "(InstanceNorm1d/2d/3d), besides nn.LayerNorm and nn.GroupNorm")


class _OneLayer(nn.Module):
    """A backbone of one layer `layer` (after a bias-free projection) and a head `fc`."""

    def __init__(self, layer):
        super().__init__()
        self.proj = nn.Linear(4, 4, bias=False)
        self.layer = layer
        self.fc = nn.Linear(4, 2)


NORM_KINDS = {  # every normalisation layer the docstring names, with 4 channels
    "BatchNorm1d": lambda: nn.BatchNorm1d(4),
    "BatchNorm2d": lambda: nn.BatchNorm2d(4),
    "BatchNorm3d": lambda: nn.BatchNorm3d(4),
    "LayerNorm": lambda: nn.LayerNorm(4),
    "GroupNorm": lambda: nn.GroupNorm(2, 4),
    "InstanceNorm1d": lambda: nn.InstanceNorm1d(4, affine=True),
    "InstanceNorm2d": lambda: nn.InstanceNorm2d(4, affine=True),
    "InstanceNorm3d": lambda: nn.InstanceNorm3d(4, affine=True),
}  # RMSNorm is left open: the contract's list stops at InstanceNorm


@trainable_param_groups
@pytest.mark.parametrize("kind", list(NORM_KINDS))
def test_groups_no_weight_decay_on_each_kind_of_norm(impl, kind):
    model = _OneLayer(NORM_KINDS[kind]())
    settings = group_settings(impl, model, head_lr=0.1, backbone_lr=0.01, weight_decay=0.05)
    _expect_exactly(settings, model)
    for name, (_, wd) in settings.items():
        want = 0.05 if name in {"proj.weight", "fc.weight"} else 0.0
        expect(wd == want, f"{name} should get weight_decay={want} (layer is an nn.{kind}), got {wd}",
               "no weight decay on any parameter of a normalisation layer, whatever its kind: recognise them by "
               "type (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.LayerNorm, "
               "nn.GroupNorm)")


BIASED_LAYERS = {  # layer -> the own names of its parameters that are not biases (they decay); bias_k, bias_ih_l0: open
    "MultiheadAttention": (lambda: nn.MultiheadAttention(4, 2), {"in_proj_weight", "out_proj.weight"}),
    "Conv1d": (lambda: nn.Conv1d(4, 4, 3), {"weight"}),
    "Bilinear": (lambda: nn.Bilinear(4, 4, 4), {"weight"}),
}


@trainable_param_groups
@pytest.mark.parametrize("kind", list(BIASED_LAYERS))
def test_groups_no_weight_decay_on_biases_of_every_name(impl, kind):
    make, weights = BIASED_LAYERS[kind]
    model = _OneLayer(make())
    settings = group_settings(impl, model, head_lr=0.1, backbone_lr=0.01, weight_decay=0.05)
    _expect_exactly(settings, model)
    decayed = {"proj.weight", "fc.weight", *(f"layer.{name}" for name in weights)}
    for name, (_, wd) in settings.items():
        want = 0.05 if name in decayed else 0.0
        expect(wd == want, f"{name} should get weight_decay={want} (layer is an nn.{kind}), got {wd}",
               "a bias is a parameter whose own name ends in 'bias': nn.MultiheadAttention's in_proj_bias is one "
               "too, not only parameters named exactly 'bias'")


@trainable_param_groups
def test_groups_default_weight_decay_is_zero(impl):
    groups = impl.trainable_param_groups(SmallNet(), 0.1, 0.01)
    wds = [g.get("weight_decay") for g in groups if isinstance(g, dict)]
    expect(wds and all(wd == 0.0 for wd in wds), f"without weight_decay every group should say 0.0, got {wds}")


@trainable_param_groups
@pytest.mark.parametrize("optimizer", ["SGD", "AdamW"])
def test_groups_train_with_torch_optimizers(impl, optimizer):
    model = SmallNet(dropout=0.0)
    for p in model.features[0].parameters():
        p.requires_grad_(False)
    groups = make_groups(impl, model, 0.1, 0.01, 0.05)
    opt = torch.optim.SGD(groups, momentum=0.9) if optimizer == "SGD" else torch.optim.AdamW(groups)
    before = snapshot(model.named_parameters())
    x, y = torch.randn(8, 3, 6, 6), torch.randint(0, 3, (8,))
    for _ in range(2):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for name, p in model.named_parameters():
        if p.requires_grad:
            expect(not torch.equal(p, before[name]), f"{optimizer} over the groups did not update trainable {name}")
        else:
            expect_equal(p.detach(), before[name], what=f"frozen {name} after {optimizer} steps")


# ---------------------------------------------------------------- set_train_mode


def _probe(dropout=0.5):
    model = SmallNet(dropout)
    for p in model.features.parameters():
        p.requires_grad_(False)
    return model


def bn_buffers(model):
    return snapshot((n, b) for n, b in model.named_buffers() if "running" in n or "num_batches" in n)


def _expect_stats_kept(model, before, names, context):
    after = dict(model.named_buffers())
    for name in names:
        expect(torch.equal(after[name], before[name]),
               f"{context}: the frozen BatchNorm buffer {name} changed (max change "
               f"{(after[name].double() - before[name].double()).abs().max().item():.3g})",
               "a BatchNorm in train mode updates running_mean/var on every forward, frozen or not: put BatchNorm "
               "layers that have parameters, all of them frozen, back in eval mode after model.train()")


@set_train_mode
def test_set_train_mode_frozen_batchnorm_statistics_do_not_drift(impl):
    model = _probe()
    model.eval()
    before = bn_buffers(model)
    got = impl.set_train_mode(model)
    expect(got is model, f"set_train_mode should return the model, got {type(got).__name__}")
    for _ in range(3):
        F.cross_entropy(model(torch.randn(8, 3, 6, 6) * 3 + 1), torch.randint(0, 3, (8,))).backward()
    _expect_stats_kept(model, before, before, "3 training forwards after set_train_mode")


@set_train_mode
def test_set_train_mode_head_and_dropout_train(impl):
    model = _probe()
    model.eval()
    impl.set_train_mode(model)
    expect(model.training, "after set_train_mode the model itself should be in train mode (model.training)",
           "start from model.train(), then put only the frozen BatchNorm layers back in eval mode")
    expect(model.fc.training, "the trainable head should be in train mode")
    expect(model.drop.training, "Dropout should be in train mode: it regularises the training of the head",
           "only BatchNorm layers that have parameters, all of them frozen, go to eval mode")


@set_train_mode
def test_set_train_mode_trainable_batchnorm_keeps_learning_statistics(impl):
    model = SmallNet()
    for p in model.features[:3].parameters():
        p.requires_grad_(False)  # the first conv and BatchNorm frozen, the inner block trainable
    before = bn_buffers(model)
    impl.set_train_mode(model)
    model(torch.randn(8, 3, 6, 6) * 3 + 1)
    inner = model.features[3][1]
    expect(inner.training, "a BatchNorm with trainable parameters should be in train mode",
           "only BatchNorm layers that have parameters, all of them frozen, go to eval mode")
    expect(not torch.equal(inner.running_mean, before["features.3.1.running_mean"]),
           "the trainable BatchNorm's running_mean did not update in a training forward after set_train_mode")
    _expect_stats_kept(model, before, ["features.1.running_mean", "features.1.running_var"],
                       "a training forward after set_train_mode")


@set_train_mode
def test_set_train_mode_frozen_batchnorm_uses_running_statistics(impl):
    model = _probe(dropout=0.0)
    x = torch.randn(8, 3, 6, 6) * 3 + 1
    model.eval()
    with torch.no_grad():
        want = model(x)
    impl.set_train_mode(model)
    with torch.no_grad():
        got = model(x)
    expect_close(got, want, what="output of a frozen backbone (no dropout) after set_train_mode", rtol=1e-6,
                 atol=1e-6, hint="a frozen BatchNorm should normalise with its running statistics, as in eval mode, "
                 "not with the batch's statistics")


@set_train_mode
def test_set_train_mode_batchnorm_with_one_trainable_parameter_trains(impl):
    model = SmallNet()
    for p in model.features.parameters():
        p.requires_grad_(False)
    model.features[1].bias.requires_grad_(True)  # weight frozen, bias trainable
    model.features[3][1].weight.requires_grad_(True)  # weight trainable, bias frozen
    before = bn_buffers(model)
    impl.set_train_mode(model)
    model(torch.randn(8, 3, 6, 6) * 3 + 1)
    for name in ("features.1", "features.3.1"):
        bn = model.get_submodule(name)
        expect(bn.training, f"the BatchNorm {name} has a trainable parameter but was put in eval mode",
               "only BatchNorm layers whose parameters are ALL frozen stay in eval mode: check every parameter "
               "of the layer (weight and bias), not just one")
        expect(not torch.equal(bn.running_mean, before[f"{name}.running_mean"]),
               f"the partly trainable BatchNorm {name} did not update its running_mean in a training forward")


@set_train_mode
def test_set_train_mode_frozen_batchnorm1d_statistics_do_not_drift(impl):
    model = NormMLP()
    for p in [*model.fc1.parameters(), *model.bn.parameters()]:
        p.requires_grad_(False)
    before = bn_buffers(model)
    impl.set_train_mode(model)
    expect(not model.bn.training, "a frozen BatchNorm1d was left in train mode",
           "every BatchNorm kind (1d, 2d, 3d) drifts in train mode: nn.modules.batchnorm._BatchNorm covers them all")
    expect(model.fc.training, "the trainable head should be in train mode")
    model(torch.randn(8, 4) * 3 + 1)
    _expect_stats_kept(model, before, before, "a training forward of a frozen BatchNorm1d after set_train_mode")


@set_train_mode
def test_set_train_mode_resnet18_linear_probe_statistics_stay(impl, resnet):
    for name, p in resnet.named_parameters():
        p.requires_grad_(name.startswith("fc."))
    before = bn_buffers(resnet)
    impl.set_train_mode(resnet)
    resnet(torch.randn(2, 3, 32, 32)).sum().backward()
    _expect_stats_kept(resnet, before, before, "a resnet18 linear probe, one training forward")


class _BNNet(nn.Module):
    """A BatchNorm of the given dimension (1, 2 or 3) on 4 channels, then a head `fc`."""

    def __init__(self, dim, affine=True):
        super().__init__()
        self.bn = getattr(nn, f"BatchNorm{dim}d")(4, affine=affine)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        h = self.bn(x)
        return self.fc(h.flatten(2).mean(dim=2) if h.dim() > 2 else h)


BN_CASES = {  # how the BatchNorm is set up -> whether set_train_mode leaves it in train mode
    "all_frozen": False,
    "one_trainable": True,
    "all_trainable": True,
    "affine_false": True,
}


@set_train_mode
@pytest.mark.parametrize("dim", [1, 2, 3], ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("case", list(BN_CASES))
def test_set_train_mode_batchnorm_mode_and_statistics(impl, case, dim):
    model = _BNNet(dim, affine=case != "affine_false")
    if case in ("all_frozen", "one_trainable"):
        for p in model.bn.parameters():
            p.requires_grad_(False)
    if case == "one_trainable":
        model.bn.bias.requires_grad_(True)
    model.eval()
    before = model.bn.running_mean.clone()
    impl.set_train_mode(model)
    want_train = BN_CASES[case]
    setup = {"all_frozen": "whose weight and bias are frozen", "one_trainable": "with a trainable bias",
             "all_trainable": "with trainable parameters", "affine_false": "without parameters (affine=False)"}[case]
    expect(model.bn.training == want_train,
           f"a BatchNorm{dim}d {setup} should be in {'train' if want_train else 'eval'} mode after set_train_mode, "
           f"it is in {'train' if model.bn.training else 'eval'} mode",
           "only a BatchNorm that has parameters, every one of them frozen, goes back to eval mode; one with no "
           "parameters at all has nothing frozen and trains its running statistics like any trainable layer")
    expect(model.fc.training, "the head should be in train mode after set_train_mode")
    model(torch.randn(8, 4, *[2] * (dim if dim > 1 else 0)) * 3 + 1)  # (N, C), (N, C, H, W) or (N, C, D, H, W)
    moved = not torch.equal(model.bn.running_mean, before)
    expect(moved == want_train,
           f"a training forward after set_train_mode {'did not update' if want_train else 'changed'} the running_mean "
           f"of a BatchNorm{dim}d {setup}")


# ---------------------------------------------------------------- choose_strategy

ALLOWED = {"linear_probe", "partial", "full", "lora"}


@choose_strategy
@pytest.mark.parametrize(
    ("n_labeled", "similar_domain", "model_params", "want", "why"),
    [
        (100, True, 11_000_000, "linear_probe", "a hundred labels overfit anything but a linear head on good features"),
        (1_000_000, False, 11_000_000, "full", "a million labels support training every weight, new domain or not"),
        (1_000_000, True, 11_000_000, "full", "a million labels support training every weight"),
        (10_000, True, 7_000_000_000, "lora", "a 7B model is too big to fine-tune fully; adapters train <1% of it"),
    ],
    ids=["few_labels", "many_labels_new_domain", "many_labels_same_domain", "huge_model"],
)
def test_choose_strategy_documented_cases(impl, n_labeled, similar_domain, model_params, want, why):
    got = impl.choose_strategy(n_labeled, similar_domain, model_params)
    expect(got == want, f"choose_strategy({n_labeled:_}, {similar_domain}, {model_params:_}) should be {want!r}, "
           f"got {got!r}", why)


@choose_strategy
def test_choose_strategy_returns_only_the_four_strategies(impl):
    for n_labeled in (1, 50, 500, 5_000, 50_000, 500_000, 5_000_000):
        for similar in (True, False):
            for model_params in (100_000, 11_000_000, 350_000_000, 7_000_000_000, 70_000_000_000):
                got = impl.choose_strategy(n_labeled, similar, model_params)
                expect(got in ALLOWED, f"choose_strategy({n_labeled}, {similar}, {model_params}) returned {got!r}, "
                       f"not one of {sorted(ALLOWED)}")


TABLE_ROWS = [  # (n_labeled, similar_domain, model_params, strategy): both edges of every row of the docstring's table
    (0, True, 1_000_000_000, "lora"),
    (10_000_000, False, 70_000_000_000, "lora"),
    (0, True, 999_999_999, "linear_probe"),
    (999, True, 1, "linear_probe"),
    (0, False, 1, "partial"),
    (999, False, 999_999_999, "partial"),
    (1_000, True, 11_000_000, "partial"),
    (99_999, True, 999_999_999, "partial"),
    (1_000, False, 11_000_000, "full"),
    (99_999, False, 1, "full"),
    (100_000, True, 999_999_999, "full"),
    (100_000, False, 11_000_000, "full"),
]


@choose_strategy
@pytest.mark.parametrize(("n_labeled", "similar_domain", "model_params", "want"), TABLE_ROWS,
                         ids=[f"{n}-{'similar' if s else 'different'}-{m}-{w}" for n, s, m, w in TABLE_ROWS])
def test_choose_strategy_follows_every_row_of_the_table(impl, n_labeled, similar_domain, model_params, want):
    got = impl.choose_strategy(n_labeled, similar_domain, model_params)
    expect(got == want, f"choose_strategy({n_labeled:_}, {similar_domain}, {model_params:_}) should be {want!r} by "
           f"the docstring's table, got {got!r}",
           "first row that applies wins: model_params >= 1_000_000_000 is 'lora'; then n_labeled < 1_000, "
           "1_000 .. 99_999 and >= 100_000 are three bands, the first two split by similar_domain")


@choose_strategy
@pytest.mark.parametrize(("n_labeled", "model_params", "bad"),
                         [(-1, 11_000_000, "n_labeled"), (10, 0, "model_params"), (10, -5, "model_params")],
                         ids=["n_labeled_negative", "model_params_zero", "model_params_negative"])
def test_choose_strategy_rejects_impossible_counts(impl, n_labeled, model_params, bad):
    with expect_raises(ValueError, f"choose_strategy({n_labeled}, True, {model_params})", names=bad):
        impl.choose_strategy(n_labeled, True, model_params)


# ---------------------------------------------------------------- demo


@demo
def test_demo_quick_reports_accuracies_and_counts(impl):
    from demos.finetuning import main

    out = main(impl.module, quick=True)
    expect(isinstance(out, dict), f"the demo should return a dict of headline numbers, got {type(out).__name__}")
    for key in ("acc_scratch", "acc_linear_probe", "acc_partial", "acc_full"):
        expect(0.0 <= out[key] <= 1.0, f"{key} should be an accuracy in [0, 1], got {out[key]}")
    expect(out["resnet18_params"] == RESNET18_PARAMS,
           f"count_parameters(resnet18) should be {RESNET18_PARAMS:,}, the demo got {out['resnet18_params']:,}")
    expect(out["resnet18_probe_trainable"] == 5130,
           "a 10-class linear probe on resnet18 trains 5,130 parameters, the demo got "
           f"{out['resnet18_probe_trainable']:,}")
    expect(out["trainable_linear_probe"] < out["trainable_partial"] < out["trainable_full"] == out["trainable_scratch"],
           "trainable counts should grow from linear probe to partial to full fine-tuning (= training from scratch), "
           f"got {out['trainable_linear_probe']}, {out['trainable_partial']}, {out['trainable_full']}, "
           f"{out['trainable_scratch']}")
    expect(out["bn_drift_set_train_mode"] == 0.0 < out["bn_drift_train"],
           "the frozen backbone's BatchNorm statistics should drift under model.train() and stay under "
           f"set_train_mode; the demo measured {out['bn_drift_train']:.3g} and {out['bn_drift_set_train_mode']:.3g}")
    expect(out["strategy"] in ALLOWED, f"choose_strategy gave {out['strategy']!r} in the demo")
