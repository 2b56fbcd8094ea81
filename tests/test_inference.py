"""Tests of the inference topic, inference is not training: eval(), no_grad, MC dropout and BatchNorm statistics.

The models here record, through forward pre-hooks on every submodule, the mode each module was in
and whether autograd was on while it ran, so the tests see what happened inside the call and not
only what came out of it.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import update_bn

from kata.learn.checks import expect, expect_close, expect_equal, expect_raises, expect_shape, expect_tensor, fail
from kata.learn.fakes import Boom, FailingLoader

predict = pytest.mark.exercise("predict")
mc_dropout_predict = pytest.mark.exercise("mc_dropout_predict")
update_bn_stats = pytest.mark.exercise("update_bn_stats")
demo = pytest.mark.exercise("demo")

F64 = torch.float64


# ---------------------------------------------------------------- helpers


def mlp(*, p: float = 0.5) -> nn.Sequential:
    """Linear -> BatchNorm -> ReLU -> Dropout -> Linear in float64, in train mode, with stored
    running statistics that differ from any batch's."""
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(p), nn.Linear(16, 3)).to(F64)
    bn = model[1]
    with torch.no_grad():
        bn.running_mean.uniform_(-1.0, 1.0)
        bn.running_var.uniform_(0.5, 2.0)
        bn.num_batches_tracked.fill_(7)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return model


def two_blocks() -> nn.Sequential:
    """A backbone and a head, each with BatchNorm and Dropout, float64, all in train mode."""
    backbone = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3))
    head = nn.Sequential(nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    model = nn.Sequential(backbone, head).to(F64)
    with torch.no_grad():
        for bn in (backbone[1], head[1]):
            bn.running_mean.uniform_(-1.0, 1.0)
            bn.running_var.uniform_(0.5, 2.0)
    return model


def make_mixed(model: nn.Sequential) -> None:
    """Mixed modes, as after freezing a backbone: the model and its backbone in eval, except one
    BatchNorm deep inside left in train; the head in train, except its Dropout in eval."""
    backbone, head = model[0], model[1]
    model.eval()
    backbone[1].train()
    head.train()
    head[3].eval()


def flags(model: nn.Module) -> dict[str, bool]:
    return {name or "<model>": module.training for name, module in model.named_modules()}


def expect_flags_restored(model: nn.Module, before: dict[str, bool], fn: str) -> None:
    after = flags(model)
    changed = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    expect(
        not changed,
        f"after {fn} these modules' training flags changed (before -> after): "
        + ", ".join(f"{n}: {'train' if a else 'eval'} -> {'train' if b else 'eval'}" for n, (a, b) in changed.items()),
        "save every submodule's own flag before (model.modules()) and set each one back afterwards: "
        "model.train() flips modules that were in eval, and model.train(was_training) pushes the top-level "
        "flag down to every child",
    )


class ModeLog:
    """Forward pre-hooks on every submodule: (name, class, training, grad enabled) per call."""

    def __init__(self, model: nn.Module):
        self.calls: list[tuple[str, str, bool, bool]] = []
        for name, module in model.named_modules():
            module.register_forward_pre_hook(self._hook(name or "<model>"))

    def _hook(self, name: str):
        def hook(module, args):
            self.calls.append((name, type(module).__name__, module.training, torch.is_grad_enabled()))

        return hook

    def ran_in_train(self) -> list[str]:
        return list(dict.fromkeys(f"{name} ({cls})" for name, cls, training, _ in self.calls if training))

    def ran_with_grad(self) -> list[str]:
        return list(dict.fromkeys(f"{name} ({cls})" for name, cls, _, grad in self.calls if grad))


def expect_ran_in_eval(log: ModeLog, fn: str) -> None:
    expect(log.calls, f"{fn} never called the model")
    in_train = log.ran_in_train()
    expect(
        not in_train,
        f"during {fn} these modules ran in training mode: {', '.join(in_train)}",
        PREDICT_HUNT if fn == "predict" else
        "torch.no_grad() does not change how layers behave; call model.eval() before the forward pass "
        "so Dropout is off and BatchNorm uses its running statistics",
    )


def expect_ran_without_grad(log: ModeLog, fn: str) -> None:
    with_grad = log.ran_with_grad()
    expect(
        not with_grad,
        f"during {fn} autograd was recording: these modules ran with grad enabled: {', '.join(with_grad)}",
        "wrap the forward passes in torch.no_grad() (or torch.inference_mode()): inference needs no graph",
    )


def eval_reference(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's eval-mode output, computed on a copy so the model itself is untouched."""
    ref = copy.deepcopy(model).eval()
    with torch.no_grad():
        return ref(x)


def bn_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        name: buf.clone()
        for name, buf in model.named_buffers()
        if name.endswith(("running_mean", "running_var", "num_batches_tracked"))
    }


def expect_bn_state_untouched(model: nn.Module, before: dict[str, torch.Tensor], fn: str, hint: str) -> None:
    for name, buf in bn_state(model).items():
        expect(
            torch.equal(buf, before[name]),
            f"{fn} changed the BatchNorm buffer {name}: inference must leave the stored statistics alone "
            f"(max change {(buf.double() - before[name].double()).abs().max().item():.3g})",
            hint,
        )


class Raiser(nn.Module):
    """Passes its input through `calls_before` times, then raises Boom: a forward pass that fails."""

    def __init__(self, calls_before: int = 0):
        super().__init__()
        self.calls_before = calls_before

    def forward(self, x):
        if self.calls_before == 0:
            raise Boom("a forward pass failed inside the model")
        self.calls_before -= 1
        return x


def expect_boom(fn, *args, what: str, **kwargs) -> None:
    """Call fn, which must let the Boom raised inside it through (a stub's NotImplementedError passes untouched)."""
    __tracebackhide__ = True
    try:
        fn(*args, **kwargs)
    except Boom:
        return
    fail(f"{what}: the model (or loader) raised an error inside the call, and the call returned normally",
         "let errors propagate to the caller; restore the modes in a `finally:` block instead of catching")


def expect_grad_mode(enabled: bool, situation: str) -> None:
    __tracebackhide__ = True
    now = torch.is_grad_enabled()
    expect(
        now == enabled and not torch.is_inference_mode_enabled(),
        f"{situation}: autograd is {'on' if now else 'off'}"
        + (" (inference mode)" if torch.is_inference_mode_enabled() else "")
        + f" for the caller, and it was {'on' if enabled else 'off'} before the call",
        "switch autograd off only around the forward passes with a context manager (with torch.no_grad(): or "
        "with torch.inference_mode():): it puts back whatever was in force, also when the block raises. "
        "torch.set_grad_enabled(True) afterwards turns it on for a caller who had it off",
    )


# ---------------------------------------------------------------- predict

BN_IN_TRAIN = "a BatchNorm in training mode updates running_mean, running_var and num_batches_tracked on every forward"
PREDICT_HUNT = ("which layers behave differently when a model is trained and when it is used? (predict is a bug "
                "hunt: nox -s hint -- inference.predict gives the cause, one hint at a time)")


@predict
def test_predict_turns_dropout_off(impl):
    model = mlp(p=0.5)
    x = torch.randn(8, 6, dtype=F64)
    expected = eval_reference(model, x)
    first, second = impl.predict(model, x), impl.predict(model, x)
    expect_tensor(first, "predict(model, x)")
    if isinstance(second, torch.Tensor) and first.shape == second.shape and not torch.equal(first, second):
        row = (first - second).abs().flatten(1).amax(1).argmax().item()
        fail(f"predict gave two different outputs for the same input: row {row} came back as "
             f"{[round(v, 4) for v in first[row].tolist()]} and then as {[round(v, 4) for v in second[row].tolist()]}"
             f" (largest difference {(first - second).abs().max().item():.3g})", PREDICT_HUNT)
    expect_close(
        first, expected, what="predict(model, x) vs the eval-mode forward", rtol=1e-12, atol=1e-12,
        hint="predict must compute what model.eval() computes: dropout off, BatchNorm on its running statistics",
    )


@predict
def test_predict_leaves_batchnorm_statistics_untouched(impl):
    model = mlp()
    before = bn_state(model)
    impl.predict(model, torch.randn(8, 6, dtype=F64) * 3 + 2)
    expect_bn_state_untouched(model, before, "predict", PREDICT_HUNT)


@predict
def test_predict_result_has_no_graph(impl):
    model = mlp()
    x = torch.randn(8, 6, dtype=F64, requires_grad=True)
    log = ModeLog(model)
    out = impl.predict(model, x)
    expect_tensor(out, "predict(model, x)")
    expect(
        not out.requires_grad and out.grad_fn is None,
        f"predict returned a tensor with a graph (requires_grad={out.requires_grad}, grad_fn={out.grad_fn})",
        "run the forward pass under torch.no_grad() or torch.inference_mode(): inference records no graph",
    )
    expect(all(p.grad is None for p in model.parameters()), "predict left .grad on the model's parameters")
    expect_ran_without_grad(log, "predict")
    expect_ran_in_eval(log, "predict")
    expect(torch.is_grad_enabled(), "after predict autograd is switched off for the caller's code",
           "switch autograd off only around the forward passes, with a context manager (with torch.no_grad(): "
           "or with torch.inference_mode():), not with torch.set_grad_enabled(False)")


@predict
@pytest.mark.parametrize("modes", ["all train", "mixed"])
def test_predict_restores_every_training_flag(impl, modes):
    model = two_blocks()
    if modes == "mixed":
        make_mixed(model)
    before = flags(model)
    log = ModeLog(model)
    impl.predict(model, torch.randn(8, 6, dtype=F64))
    expect_ran_in_eval(log, "predict")
    expect_flags_restored(model, before, "predict")


@predict
def test_predict_equals_eval_forward_float64(impl):
    model = two_blocks()
    make_mixed(model)
    x = torch.randn(10, 6, dtype=F64)
    expected = eval_reference(model, x)
    expect_close(
        impl.predict(model, x), expected, what="predict(model, x) in float64 vs model.eval()(x)",
        rtol=1e-12, atol=1e-12,
        hint=PREDICT_HUNT,
    )


@predict
def test_predict_restores_every_flag_and_autograd_when_the_model_raises(impl):
    model = two_blocks()
    make_mixed(model)
    model.append(Raiser())  # the forward pass fails at its last module
    before = flags(model)
    log = ModeLog(model)
    expect_boom(impl.predict, model, torch.randn(8, 6, dtype=F64), what="predict")
    expect_ran_in_eval(log, "predict")
    expect_ran_without_grad(log, "predict")
    expect_flags_restored(model, before, "predict, when the model raised,")
    expect_grad_mode(True, "after predict, when the model raised")


@predict
def test_predict_leaves_the_callers_no_grad_in_force(impl):
    model = mlp()
    log = ModeLog(model)
    with torch.no_grad():
        out = impl.predict(model, torch.randn(8, 6, dtype=F64))
        still_off = not torch.is_grad_enabled()
    expect_tensor(out, "predict(model, x)")
    expect_ran_in_eval(log, "predict")
    expect(still_off, "predict, called inside the caller's `with torch.no_grad():`, switched autograd back on",
           "put back the grad mode that was in force, not a fixed one: with torch.no_grad(): (or "
           "torch.inference_mode()) as a context manager does that, torch.set_grad_enabled(True) does not")


@predict
@pytest.mark.cuda
def test_predict_on_cuda_matches_cpu_eval_forward(impl):
    model = mlp()
    x = torch.randn(8, 6, dtype=F64)
    expected = eval_reference(model, x)
    model = model.to("cuda")
    before = bn_state(model)
    out = impl.predict(model, x.to("cuda"))
    expect_close(
        out, expected.to("cuda"), what="predict on CUDA vs the eval-mode forward on the CPU", rtol=1e-9, atol=1e-9,
        hint="predict must compute what model.eval() computes, on the model's own device",
    )
    expect_bn_state_untouched(model, before, "predict", BN_IN_TRAIN)


# ---------------------------------------------------------------- mc_dropout_predict


class TwoPaths(nn.Module):
    """Output columns 0-3 come from a path without dropout, columns 4-6 from one with dropout."""

    def __init__(self):
        super().__init__()
        self.steady = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4))
        self.noisy = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Dropout(0.5), nn.Linear(16, 3))

    def forward(self, x):
        return torch.cat([self.steady(x), self.noisy(x)], dim=1)


def expect_pair(result, shape, fn: str) -> tuple[torch.Tensor, torch.Tensor]:
    expect(
        isinstance(result, tuple) and len(result) == 2,
        f"{fn} should return a tuple (mean, std), got {type(result).__name__}"
        + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""),
    )
    mean, std = result
    expect_shape(mean, shape, f"{fn}: mean", "average over the samples dimension only: mean has the output's shape")
    expect_shape(std, shape, f"{fn}: std", "spread over the samples dimension only: std has the output's shape")
    return mean, std


@mc_dropout_predict
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16], ids=str)
def test_mc_dropout_returns_mean_and_std_with_the_output_shape_and_dtype(impl, dtype):
    model = mlp().to(dtype)
    x = torch.randn(5, 6, dtype=F64).to(dtype)
    mean, std = expect_pair(impl.mc_dropout_predict(model, x, n_samples=4), (5, 3), "mc_dropout_predict")
    expect(mean.dtype == dtype and std.dtype == dtype, f"mean and std should keep the output's dtype {dtype}, got "
           f"{mean.dtype} and {std.dtype}", "stack the passes and reduce them as they are: no cast to another dtype")


@mc_dropout_predict
@pytest.mark.parametrize("n_samples", [None, 2, 7])
def test_mc_dropout_is_mean_and_sample_std_of_n_passes(impl, n_samples):
    model = mlp()
    outputs = []
    model[-1].register_forward_hook(lambda module, args, out: outputs.append(out.detach().clone()))
    x = torch.randn(5, 6, dtype=F64)
    if n_samples is None:
        n_samples, result = 20, impl.mc_dropout_predict(model, x)
    else:
        result = impl.mc_dropout_predict(model, x, n_samples=n_samples)
    mean, std = expect_pair(result, (5, 3), "mc_dropout_predict")
    expect(
        len(outputs) == n_samples,
        f"mc_dropout_predict(n_samples={n_samples}) ran the model {len(outputs)} times instead of {n_samples}",
        "one forward pass model(x) per sample",
    )
    samples = torch.stack(outputs)  # (n_samples, 5, 3)
    expect_close(mean, samples.mean(0), what="mean over the passes", rtol=1e-12, atol=1e-12,
                 hint="average the n_samples outputs over the samples dimension")
    expect_close(std, samples.std(0), what="std over the passes", rtol=1e-10, atol=1e-12,
                 hint="torch.std's default is the sample standard deviation (divides by n_samples - 1)")


@mc_dropout_predict
def test_mc_dropout_spreads_only_where_dropout_acts(impl):
    model = TwoPaths().to(F64)
    mean, std = expect_pair(impl.mc_dropout_predict(model, torch.randn(6, 6, dtype=F64), n_samples=20),
                            (6, 7), "mc_dropout_predict")
    expect(
        (std[:, 4:] > 1e-6).all(),
        f"the outputs behind a Dropout have no spread over the passes (min std {std[:, 4:].min().item():.3g})",
        "MC dropout needs the Dropout modules in training mode during the passes: eval() everything, then "
        "train() the dropout modules",
    )
    expect_close(
        std[:, :4], torch.zeros(6, 4, dtype=F64), what="std of the outputs that no Dropout touches", rtol=0,
        atol=1e-10, hint="a path without dropout gives the same output on every pass",
    )


@mc_dropout_predict
def test_mc_dropout_leaves_batchnorm_statistics_untouched(impl):
    model = mlp()
    before = bn_state(model)
    log = ModeLog(model)
    impl.mc_dropout_predict(model, torch.randn(8, 6, dtype=F64) * 3 + 2, n_samples=5)
    expect_bn_state_untouched(
        model, before, "mc_dropout_predict",
        BN_IN_TRAIN + ": switch on the dropout modules only, not the whole model with model.train()",
    )
    modes = {(cls, training) for _, cls, training, _ in log.calls if cls in ("BatchNorm1d", "Dropout")}
    expect(("BatchNorm1d", True) not in modes, "during mc_dropout_predict a BatchNorm ran in training mode",
           "only the dropout modules belong in training mode for MC dropout")
    expect(("Dropout", False) not in modes, "during mc_dropout_predict a Dropout ran in eval mode",
           "MC dropout samples dropout masks: every Dropout module in training mode")


@mc_dropout_predict
@pytest.mark.parametrize("norm", ["BatchNorm1d", "BatchNorm2d"])
def test_mc_dropout_batchnorm_uses_running_statistics(impl, norm):
    if norm == "BatchNorm1d":
        model = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 2)).to(F64)
        x = torch.randn(8, 6, dtype=F64)
    else:
        model = nn.Sequential(nn.Conv2d(1, 5, 3, padding=1), nn.BatchNorm2d(5), nn.Tanh(), nn.Flatten(),
                              nn.Linear(5 * 3 * 3, 2)).to(F64)
        x = torch.randn(8, 1, 3, 3, dtype=F64)
    with torch.no_grad():
        model[1].running_mean.uniform_(-1.0, 1.0)
        model[1].running_var.uniform_(0.5, 2.0)
    expected = eval_reference(model, x)
    mean, std = expect_pair(impl.mc_dropout_predict(model, x, n_samples=3), (8, 2), "mc_dropout_predict")
    expect_close(
        mean, expected, what="mean of a model without dropout vs its eval-mode forward", rtol=1e-10, atol=1e-10,
        hint="BatchNorm must normalise with its running statistics (eval mode) during MC dropout, not with "
        "the batch's: only the dropout modules go to training mode",
    )
    expect_close(std, torch.zeros(8, 2, dtype=F64), what="std of a model without dropout", rtol=0, atol=1e-10)


@mc_dropout_predict
@pytest.mark.parametrize("kind", ["Dropout1d", "Dropout2d", "AlphaDropout"])
def test_mc_dropout_samples_every_kind_of_dropout(impl, kind):
    shape = (4, 3) if kind == "Dropout1d" else (4, 3, 1)  # (C, L) per sample for Dropout1d, (C, H, W) otherwise
    model = nn.Sequential(nn.Linear(6, 12), nn.Unflatten(1, shape), getattr(nn, kind)(0.5), nn.Flatten(),
                          nn.Linear(12, 3)).to(F64)
    log = ModeLog(model)
    mean, std = expect_pair(impl.mc_dropout_predict(model, torch.randn(6, 6, dtype=F64), n_samples=20),
                            (6, 3), "mc_dropout_predict")
    expect(("2", kind, False) not in {call[:3] for call in log.calls},
           f"during mc_dropout_predict the {kind} module ran in eval mode",
           f"every dropout module samples masks in MC dropout, {kind} too: they all derive from "
           "nn.modules.dropout._DropoutNd, not from nn.Dropout")
    expect((std > 1e-6).all(), f"the outputs behind an {kind} have no spread over the passes",
           f"switch every dropout module to training mode, {kind} included")


@mc_dropout_predict
def test_mc_dropout_records_no_graph(impl):
    model = mlp()
    log = ModeLog(model)
    x = torch.randn(5, 6, dtype=F64, requires_grad=True)
    mean, std = expect_pair(impl.mc_dropout_predict(model, x, n_samples=3), (5, 3), "mc_dropout_predict")
    for what, t in (("mean", mean), ("std", std)):
        expect(
            not t.requires_grad and t.grad_fn is None,
            f"mc_dropout_predict returned a {what} with a graph (requires_grad={t.requires_grad}, "
            f"grad_fn={t.grad_fn})",
            "run the passes under torch.no_grad() or torch.inference_mode()",
        )
    expect_ran_without_grad(log, "mc_dropout_predict")
    expect(torch.is_grad_enabled(), "after mc_dropout_predict autograd is switched off for the caller's code",
           "switch autograd off only around the forward passes, with a context manager (with torch.no_grad(): "
           "or with torch.inference_mode():), not with torch.set_grad_enabled(False)")


@mc_dropout_predict
@pytest.mark.parametrize("modes", ["all train", "all eval", "mixed"])
def test_mc_dropout_restores_every_training_flag(impl, modes):
    model = two_blocks()
    if modes == "mixed":
        make_mixed(model)
    elif modes == "all eval":
        model.eval()
    before = flags(model)
    impl.mc_dropout_predict(model, torch.randn(8, 6, dtype=F64), n_samples=3)
    expect_flags_restored(model, before, "mc_dropout_predict")


@mc_dropout_predict
def test_mc_dropout_is_reproducible_under_a_seed(impl):
    model = mlp()
    x = torch.randn(5, 6, dtype=F64)
    runs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        runs.append(impl.mc_dropout_predict(model, x, n_samples=5))
    for i in range(2):
        expect_tensor(runs[0][i], f"mc_dropout_predict(...)[{i}]")
    expect(
        torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1]),
        "mc_dropout_predict gave different results under the same torch.manual_seed",
        "the randomness should come only from the dropout masks, drawn from torch's generator",
    )
    expect(not torch.equal(runs[0][1], runs[2][1]), "mc_dropout_predict gave the same std under different seeds",
           "each pass must draw fresh dropout masks")


@mc_dropout_predict
def test_mc_dropout_restores_every_flag_and_autograd_when_a_pass_raises(impl):
    model = two_blocks()
    make_mixed(model)
    model.append(Raiser(calls_before=2))  # the third pass fails
    before = flags(model)
    log = ModeLog(model)
    expect_boom(impl.mc_dropout_predict, model, torch.randn(8, 6, dtype=F64), n_samples=5, what="mc_dropout_predict")
    modes = {(cls, training) for _, cls, training, _ in log.calls if cls in ("BatchNorm1d", "Dropout")}
    expect(("BatchNorm1d", True) not in modes and ("Dropout", False) not in modes,
           "during mc_dropout_predict a BatchNorm ran in training mode or a Dropout in eval mode",
           "eval() everything, then train() the dropout modules only")
    expect_ran_without_grad(log, "mc_dropout_predict")
    expect_flags_restored(model, before, "mc_dropout_predict, when the third pass raised,")
    expect_grad_mode(True, "after mc_dropout_predict, when a pass raised")


@mc_dropout_predict
def test_mc_dropout_leaves_the_callers_no_grad_in_force(impl):
    model = mlp()
    with torch.no_grad():
        mean, _ = expect_pair(impl.mc_dropout_predict(model, torch.randn(5, 6, dtype=F64), n_samples=3), (5, 3),
                              "mc_dropout_predict")
        still_off = not torch.is_grad_enabled()
    expect(still_off,
           "mc_dropout_predict, called inside the caller's `with torch.no_grad():`, switched autograd back on",
           "put back the grad mode that was in force: with torch.no_grad(): (or torch.inference_mode()) as a "
           "context manager does that, torch.set_grad_enabled(True) does not")


@mc_dropout_predict
@pytest.mark.parametrize("n_samples", [1, 0])
def test_mc_dropout_rejects_fewer_than_two_samples_and_changes_no_flag(impl, n_samples):
    model = two_blocks()
    make_mixed(model)
    before = flags(model)
    with expect_raises(ValueError, f"mc_dropout_predict(model, x, n_samples={n_samples})", names=n_samples):
        impl.mc_dropout_predict(model, torch.randn(4, 6, dtype=F64), n_samples=n_samples)
    expect_flags_restored(model, before, f"mc_dropout_predict(n_samples={n_samples}), which raised ValueError,")


@mc_dropout_predict
@pytest.mark.cuda
def test_mc_dropout_on_cuda(impl):
    model = mlp().to("cuda")
    before = bn_state(model)
    mean, std = expect_pair(
        impl.mc_dropout_predict(model, torch.randn(5, 6, dtype=F64, device="cuda"), n_samples=8), (5, 3),
        "mc_dropout_predict on CUDA",
    )
    expect(mean.is_cuda and std.is_cuda, f"mean and std should stay on the model's device, got {mean.device}")
    expect((std > 0).any(), "no spread at all over the passes on CUDA: is dropout active?")
    expect_bn_state_untouched(model, before, "mc_dropout_predict", BN_IN_TRAIN)


# ---------------------------------------------------------------- update_bn_stats


def bn_net() -> nn.Sequential:
    """Conv -> BatchNorm2d -> ... -> BatchNorm1d -> ReLU -> Dropout -> Linear, float64, stale statistics,
    BatchNorm weights and biases away from their initial 1 and 0.

    Dropout only after the last BatchNorm, so the statistics do not depend on dropout masks."""
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
        nn.Linear(3 * 4 * 4, 8), nn.BatchNorm1d(8, momentum=0.3), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2),
    ).to(F64)
    stale(model, mean=5.0, var=100.0, count=1000)
    with torch.no_grad():  # learned affine parameters, which the statistics pass must not touch
        for module in (model[1], model[5]):
            module.weight.uniform_(0.5, 1.5)
            module.bias.uniform_(-0.5, 0.5)
    return model


def stale(model: nn.Module, *, mean: float, var: float, count: int) -> None:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.fill_(mean)
                module.running_var.fill_(var)
                module.num_batches_tracked.fill_(count)


def image_loader(form: str = "tuple") -> list:
    """Three batches (the last smaller) of shifted, scaled images with labels."""
    xs = [torch.randn(n, 1, 4, 4, dtype=F64) * 2.0 + 1.5 for n in (8, 8, 5)]
    ys = [torch.randint(0, 2, (len(x),)) for x in xs]
    if form == "tensor":
        return xs
    if form == "list":
        return [[x, y] for x, y in zip(xs, ys)]
    return list(zip(xs, ys))


def bns(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def expect_stats_match(model: nn.Module, ref: nn.Module, hint: str) -> None:
    for (name, bn), (_, bn_ref) in zip(bns(model), bns(ref)):
        expect_equal(
            bn.num_batches_tracked, bn_ref.num_batches_tracked, what=f"BatchNorm {name}: num_batches_tracked",
            hint="reset the statistics (num_batches_tracked back to 0) and count one per batch of the loader",
        )
        expect_close(bn.running_mean, bn_ref.running_mean, what=f"BatchNorm {name}: running_mean",
                     rtol=1e-10, atol=1e-12, hint=hint)
        expect_close(bn.running_var, bn_ref.running_var, what=f"BatchNorm {name}: running_var",
                     rtol=1e-10, atol=1e-12, hint=hint)


RESET_HINT = (
    "torch.optim.swa_utils.update_bn resets every BatchNorm (reset_running_stats) and sets momentum=None "
    "for the pass, so the result is the plain average over the batches, with nothing of the old statistics"
)


def reference_update(model: nn.Module, loader) -> nn.Module:
    ref = copy.deepcopy(model)
    update_bn(loader, ref)
    return ref


@update_bn_stats
def test_update_bn_stats_matches_torch_update_bn(impl):
    model, loader = bn_net(), image_loader()
    ref = reference_update(model, loader)
    result = impl.update_bn_stats(model, loader)
    expect(result is None, f"update_bn_stats should update the model in place and return None, got {type(result)}")
    expect_stats_match(model, ref, RESET_HINT)


@update_bn_stats
@pytest.mark.parametrize("form", ["tensor", "list"])
def test_update_bn_stats_accepts_the_batches_update_bn_accepts(impl, form):
    model, loader = bn_net(), image_loader(form)
    ref = reference_update(model, loader)
    impl.update_bn_stats(model, loader)
    expect_stats_match(
        model, ref,
        f"batches given as {'bare tensors' if form == 'tensor' else '[inputs, targets] lists'}: a batch is the "
        "input itself, or a list/tuple whose first element is the input",
    )


@update_bn_stats
def test_update_bn_stats_ignores_stale_statistics(impl):
    loader = image_loader()
    a = bn_net()
    b = copy.deepcopy(a)
    stale(b, mean=-3.0, var=0.01, count=1)
    ref = reference_update(a, loader)
    impl.update_bn_stats(a, loader)
    impl.update_bn_stats(b, loader)
    for (name, bn_a), (_, bn_b) in zip(bns(a), bns(b)):
        expect_close(
            bn_a.running_mean, bn_b.running_mean, what=f"BatchNorm {name}: running_mean from two different stale "
            "starts", rtol=1e-10, atol=1e-12, hint=RESET_HINT,
        )
        expect_close(
            bn_a.running_var, bn_b.running_var, what=f"BatchNorm {name}: running_var from two different stale "
            "starts", rtol=1e-10, atol=1e-12, hint=RESET_HINT,
        )
    expect_stats_match(a, ref, RESET_HINT)


@update_bn_stats
def test_update_bn_stats_restores_every_momentum(impl):
    model = bn_net()
    model[1].momentum = None  # a cumulative-average BatchNorm stays one
    momenta = {name: bn.momentum for name, bn in bns(model)}
    loader = image_loader()
    ref = reference_update(model, loader)
    impl.update_bn_stats(model, loader)
    for name, bn in bns(model):
        expect(
            bn.momentum == momenta[name],
            f"BatchNorm {name}: momentum was {momenta[name]} before update_bn_stats and is {bn.momentum} after",
            "set momentum=None only for the pass, then give every BatchNorm its own momentum back: left at None, "
            "later training keeps a cumulative average instead of an exponential one",
        )
    expect_stats_match(model, ref, RESET_HINT)


@update_bn_stats
@pytest.mark.parametrize("modes", ["all train", "all eval", "mixed"])
def test_update_bn_stats_restores_every_training_flag(impl, modes):
    model = bn_net()
    if modes == "all eval":
        model.eval()
    elif modes == "mixed":
        model.eval()
        model[5].train()
        model[7].train()
    before = flags(model)
    loader = image_loader()
    ref = reference_update(model, loader)
    impl.update_bn_stats(model, loader)
    expect_stats_match(
        model, ref,
        "every BatchNorm is recomputed, also those in eval mode: the pass runs in training mode, like update_bn",
    )
    expect_flags_restored(model, before, "update_bn_stats")


@update_bn_stats
def test_update_bn_stats_records_no_graph(impl):
    model = bn_net()
    log = ModeLog(model)
    result = impl.update_bn_stats(model, image_loader())
    expect(result is None, f"update_bn_stats should return None, got {type(result)}")
    expect_ran_without_grad(log, "update_bn_stats")
    expect(all(p.grad is None for p in model.parameters()), "update_bn_stats left .grad on the model's parameters")


@update_bn_stats
def test_update_bn_stats_leaves_the_parameters_alone(impl):
    model = bn_net()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    impl.update_bn_stats(model, image_loader())
    for name, p in model.named_parameters():
        expect_equal(p.detach(), before[name], what=f"parameter {name} after update_bn_stats",
                     hint="only the running statistics are recomputed: reset_running_stats() resets running_mean, "
                     "running_var and num_batches_tracked, while reset_parameters() also wipes BatchNorm's learned "
                     "weight and bias")


@update_bn_stats
def test_update_bn_stats_without_batchnorm_changes_nothing(impl):
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2)).to(F64)
    model[1].eval()
    before_flags, before_params = flags(model), [p.clone() for p in model.parameters()]
    result = impl.update_bn_stats(model, [torch.randn(3, 4, dtype=F64)])
    expect(result is None, f"update_bn_stats should return None, got {type(result)}")
    expect(all(torch.equal(p, q) for p, q in zip(model.parameters(), before_params)),
           "update_bn_stats changed the parameters of a model without BatchNorm")
    expect_flags_restored(model, before_flags, "update_bn_stats")


@update_bn_stats
def test_update_bn_stats_restores_momenta_flags_and_autograd_when_the_loader_raises(impl):
    model = bn_net()
    model.eval()
    model[5].train()  # mixed modes
    model[1].momentum = None
    momenta = {name: bn.momentum for name, bn in bns(model)}
    before = flags(model)
    log = ModeLog(model)
    expect_boom(impl.update_bn_stats, model, FailingLoader(image_loader(), 2), what="update_bn_stats")
    expect(log.calls, "update_bn_stats never called the model before the loader failed")
    expect_ran_without_grad(log, "update_bn_stats")
    for name, bn in bns(model):
        expect(bn.momentum == momenta[name],
               f"BatchNorm {name}: momentum was {momenta[name]} before update_bn_stats and is {bn.momentum} after the "
               "loader raised in the middle of the pass",
               "restore the momenta (and the training flags) in a `finally:` block: they must come back on every way "
               "out, an error in the loader included")
    expect_flags_restored(model, before, "update_bn_stats, when the loader raised,")
    expect_grad_mode(True, "after update_bn_stats, when the loader raised")


@update_bn_stats
def test_update_bn_stats_reads_a_one_shot_loader(impl):
    model, batches = bn_net(), image_loader()
    ref = reference_update(model, batches)
    try:
        impl.update_bn_stats(model, (batch for batch in batches))  # a generator: it can be read once
    except TypeError as err:
        fail(f"update_bn_stats failed on a loader that is a generator: {err}",
             "the loader is any iterable: iterate over it once, without len() or indexing")
    expect_stats_match(
        model, ref,
        "the loader is any iterable, read once: a generator has no len() and is empty the second time round; "
        "do one pass over it, as update_bn does",
    )


@update_bn_stats
@pytest.mark.cuda
def test_update_bn_stats_moves_batches_to_the_device(impl):
    loader = image_loader()  # batches on the CPU
    model = bn_net()
    ref = reference_update(model, loader)
    model = model.to("cuda")
    impl.update_bn_stats(model, loader, device="cuda")
    for (name, bn), (_, bn_ref) in zip(bns(model), bns(ref)):
        expect_equal(bn.num_batches_tracked, bn_ref.num_batches_tracked.to("cuda"),
                     what=f"BatchNorm {name}: num_batches_tracked on CUDA")
        expect_close(bn.running_mean, bn_ref.running_mean.to("cuda"), what=f"BatchNorm {name}: running_mean on CUDA",
                     rtol=1e-8, atol=1e-10, hint="move each input batch to `device` before the forward pass")
        expect_close(bn.running_var, bn_ref.running_var.to("cuda"), what=f"BatchNorm {name}: running_var on CUDA",
                     rtol=1e-8, atol=1e-10, hint="move each input batch to `device` before the forward pass")


# ---------------------------------------------------------------- demo


@demo
def test_demo_quick_run_shows_train_and_eval_apart(impl):
    from demos.inference import main

    out = main(impl.module, quick=True)
    expect(isinstance(out, dict), f"the demo should return a dict of headline numbers, got {type(out).__name__}")
    expect(out["eval_changed_fraction"] == 0.0,
           f"predict changed {out['eval_changed_fraction']:.1%} of its answers between two runs",
           "predict must run in eval mode: the same input gives the same answer")
    expect(out["train_changed_fraction"] > 0.0,
           "in train mode the demo's predictions never changed between runs: is dropout in the model?")
    expect(out["bn_drift"] > 0.0, "inference in train mode did not move the BatchNorm statistics")
    expect(out["acc_after_update_bn"] >= out["acc_after_drift"],
           f"update_bn_stats did not repair the accuracy ({out['acc_after_drift']:.3f} after the drift, "
           f"{out['acc_after_update_bn']:.3f} after update_bn_stats)",
           "update_bn_stats should recompute the statistics from the training data")
    expect(out["mc_bn_untouched"], "mc_dropout_predict changed the model's BatchNorm running statistics",
           "only the dropout modules go to training mode for MC dropout")
    expect(out["mc_std_noise"] > out["mc_std_digits"],
           f"MC dropout was not more uncertain on noise ({out['mc_std_noise']:.4f}) than on digits "
           f"({out['mc_std_digits']:.4f})")
