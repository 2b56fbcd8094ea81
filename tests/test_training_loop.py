"""Tests of the training_loop topic: the zero_grad bug, train/eval modes, per-sample means, accumulation, best weights.

Every training test runs the implementation and a reference loop written here on copies of the same
tiny float64 model with plain SGD, then compares the parameters: a loop whose steps used the wrong
gradient (stale, summed, missing, one batch late) cannot match. Where a result matches a known wrong
loop instead, the message names that mistake.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from kata.learn.checks import expect, expect_close, expect_raises, fail
from kata.learn.fakes import Boom, FailingLoader

train_one_epoch = pytest.mark.exercise("train_one_epoch")
evaluate = pytest.mark.exercise("evaluate")
train_with_accumulation = pytest.mark.exercise("train_with_accumulation")
fit = pytest.mark.exercise("fit")
demo = pytest.mark.exercise("demo")

N_IN, N_CLASSES, LR = 4, 3, 0.5
RTOL, ATOL = 1e-9, 1e-12  # float64, same operations as the reference: agreement is near bit-exact

STALE_HINT = (  # the symptom's question; the cause and the fix are the bug hunt's hints, one at a time
    "what does .grad hold at the moment optimizer.step() reads it? (this is a bug hunt: "
    "nox -s hint -- training_loop.train_one_epoch gives the cause, one hint at a time)"
)


# ---------------------------------------------------------------- fixtures and references


def make_model(*, batchnorm: bool = False, seed: int = 0) -> nn.Module:
    """A tiny float64 classifier N_IN -> N_CLASSES, the same weights for the same seed."""
    torch.manual_seed(seed)
    layers = [nn.Linear(N_IN, 6)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(6))
    layers += [nn.Tanh(), nn.Linear(6, N_CLASSES)]
    return nn.Sequential(*layers).double()


def make_batches(sizes, *, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A list of (inputs (n, N_IN) float64, targets (n,) int64) batches of the given sizes."""
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(n, N_IN, generator=g, dtype=torch.float64), torch.randint(0, N_CLASSES, (n,), generator=g))
        for n in sizes
    ]


def as_loader(batches, batch_size: int) -> DataLoader:
    """The same samples as `batches`, served by a DataLoader (no shuffling)."""
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)


def stale_grads(model: nn.Module, *, seed: int = 7) -> list[torch.Tensor]:
    """Large made-up gradients, as if someone had run backward() before the call."""
    g = torch.Generator().manual_seed(seed)
    return [10 * torch.randn(p.shape, generator=g, dtype=p.dtype) for p in model.parameters()]


def set_grads(model: nn.Module, grads) -> None:
    for p, grad in zip(model.parameters(), grads):
        p.grad = grad.clone()


def snapshot(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().cpu().clone() for p in model.parameters()]


def all_close(a, b) -> bool:
    return all(torch.allclose(x, y, rtol=RTOL, atol=ATOL) for x, y in zip(a, b))


def reference_epoch(model, batches, *, variant="correct", train_mode=True, stale=None, lr=LR):
    """Our loop on a copy of `model`. Returns (trained copy, [(batch mean loss, batch size)]).

    variant: "correct" (reset, forward, backward, step) or "no_reset" (gradients never reset).
    """
    model = copy.deepcopy(model)
    model.train(train_mode)
    if stale is not None:
        set_grads(model, stale)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for x, y in batches:
        if variant == "correct":
            opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append((loss.item(), len(y)))
    return model, losses


def per_sample_mean(losses) -> float:
    return sum(loss * n for loss, n in losses) / sum(n for _, n in losses)


def mean_of_means(losses) -> float:
    return sum(loss for loss, _ in losses) / len(losses)


def reference_accumulation(model, batches, accum_steps, *, lr=LR):
    """Gradient accumulation as it should be: each window of micro-batches is one big batch.

    Returns (trained copy, [(micro-batch mean loss, its size, micro-batches in its window)]);
    micro-batches in a window have equal sizes, so the big batch's mean loss is the mean of their
    mean losses.
    """
    model = copy.deepcopy(model)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    records = []
    for start in range(0, len(batches), accum_steps):
        window = batches[start : start + accum_steps]
        with torch.no_grad():
            records += [(F.cross_entropy(model(x), y).item(), len(y), len(window)) for x, y in window]
        x = torch.cat([b[0] for b in window])
        y = torch.cat([b[1] for b in window])
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model, records


def wrong_accumulation(model, batches, accum_steps, variant, *, stale=None, lr=LR):
    """Known mistakes of gradient accumulation, to name the one a result matches."""
    model = copy.deepcopy(model)
    model.train()
    if stale is not None:
        set_grads(model, stale)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    n = len(batches)
    if variant != "stale_leak":
        opt.zero_grad()
    for i, (x, y) in enumerate(batches):
        start = i - i % accum_steps
        size = min(accum_steps, n - start)
        if variant == "drop_last" and n - start < accum_steps:
            break
        if variant == "zero_every":
            opt.zero_grad()
        divisor = {"no_divide": 1, "divide_by_accum": accum_steps}.get(variant, size)
        (F.cross_entropy(model(x), y) / divisor).backward()
        window_ends = i + 1 == start + size
        if window_ends or variant in ("step_every", "step_and_reset_every"):
            opt.step()
        if (window_ends and variant != "no_reset") or variant == "step_and_reset_every":
            opt.zero_grad()
    return model


def expect_trained_like(model, reference, *, start, suspects=(), what="the parameters after the epoch"):
    """The parameters of `model` equal those of `reference`; otherwise name the mistake they match.

    suspects: (model trained the wrong way, message, hint) tuples, tried in order.
    """
    __tracebackhide__ = True
    got, want = snapshot(model), snapshot(reference)
    if all_close(got, want):
        return
    if all(torch.equal(a, b) for a, b in zip(got, start)):
        fail(
            f"{what}: the parameters did not move at all",
            "optimizer.step() reads .grad: were the gradients reset between backward() and step(), "
            "or step() called before backward()?",
        )
    for wrong, message, hint in suspects:
        if all_close(got, snapshot(wrong)):
            fail(f"{what}: {message}", hint)
    for (name, p), w in zip(model.named_parameters(), want):
        expect_close(
            p.detach().cpu(),
            w,
            what=f"{what}: parameter {name!r}",
            rtol=RTOL,
            atol=ATOL,
            hint="compare each step with the recipe: reset the gradients, forward, loss, backward, step",
        )


def expect_float(value, what: str) -> float:
    __tracebackhide__ = True
    if isinstance(value, torch.Tensor):
        fail(
            f"{what}: expected a Python float, got a tensor ({value!r})",
            "turn a one-element tensor into a number with .item(); keeping loss tensors also keeps their graphs alive",
        )
    expect(
        isinstance(value, float) and not isinstance(value, bool),
        f"{what}: expected a Python float, got {type(value).__name__} {value!r}",
    )
    return value


def train_suspects(model, batches, *, train_mode=True, stale=None):
    """The wrong loops a train_one_epoch result is most likely to match, with their diagnosis."""
    return [
        (
            reference_epoch(model, batches, variant="no_reset", train_mode=train_mode, stale=stale)[0],
            "the parameters moved as if the gradients of the previous steps were still there: step k "
            "followed the sum of the gradients of batches 1..k",
            STALE_HINT,
        ),
    ]


def run_loop(fn, *args, **kwargs):
    """Call a training function, turning autograd's and the devices' complaints into the likely mistake."""
    __tracebackhide__ = True
    try:
        return fn(*args, **kwargs)
    except RuntimeError as err:
        error = err  # diagnosed below, outside the handler, so the report is not a chain of two errors
    text = str(error)
    if "modified by an inplace operation" in text:
        fail(
            "backward() found parameters already changed in place by optimizer.step(): is step() called "
            f"before loss.backward()? ({text[:120]}...)",
            "the order is: reset the gradients, forward, loss, backward, then step",
        )
    if "device" in text and kwargs.get("device", "cpu") != "cpu":
        fail(
            f"the model is on {kwargs['device']} and the batches came on the CPU; the loop failed with: {text[:200]}",
            "move each batch's inputs and targets to `device` before the forward pass",
        )
    raise error


# ---------------------------------------------------------------- train_one_epoch


def followed_gradients(model, batches, opt) -> list[tuple[float, float]]:
    """Records, at each optimizer.step(), the norm of the gradient step() follows (.grad) and that of the
    current batch's own loss at the same parameters: the symptom a bug hunt shows, in numbers."""
    seen: list[tuple[float, float]] = []

    def before_step(*_):
        k = len(seen)
        if k >= len(batches) or any(p.grad is None for p in model.parameters()):
            seen.append((float("nan"), float("nan")))
            return
        x, y = batches[k]
        with torch.enable_grad():
            own = torch.autograd.grad(nn.functional.cross_entropy(model(x), y), list(model.parameters()))
        followed = torch.cat([p.grad.flatten() for p in model.parameters()]).norm().item()
        seen.append((followed, torch.cat([g.flatten() for g in own]).norm().item()))

    opt.register_step_pre_hook(before_step)
    return seen


@train_one_epoch
def test_train_one_epoch_steps_on_each_batch_gradient_alone(impl):
    model, batches = make_model(), make_batches([4, 4, 4])
    ref, _ = reference_epoch(model, batches)
    suspects = train_suspects(model, batches)
    start = snapshot(model)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    seen = followed_gradients(model, batches, opt)
    run_loop(impl.train_one_epoch, model, batches, nn.CrossEntropyLoss(), opt)
    grown = [(a, b) for a, b in seen if not math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)]
    if not all_close(snapshot(model), snapshot(ref)) and len(seen) == len(batches) and grown:
        steps = ", ".join(f"step {k}: {a:.4f} vs {b:.4f}" for k, (a, b) in enumerate(seen, start=1))
        fail(f"after one epoch of 3 batches the parameters are not those of one SGD step per batch: the norm of "
             f"the gradient optimizer.step() followed vs that of the step's own batch, {steps}", STALE_HINT)
    expect_trained_like(model, ref, start=start, suspects=suspects, what="after one epoch of 3 batches")


@train_one_epoch
def test_train_one_epoch_returns_mean_loss_per_sample(impl):
    model, batches = make_model(), make_batches([4, 4, 2])
    _, losses = reference_epoch(model, batches)
    _, stale_losses = reference_epoch(model, batches, variant="no_reset")
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    got = expect_float(run_loop(impl.train_one_epoch, model, batches, nn.CrossEntropyLoss(), opt), "the returned loss")
    want = per_sample_mean(losses)
    if math.isclose(got, want, rel_tol=RTOL, abs_tol=ATOL):
        return
    if math.isclose(got, per_sample_mean(stale_losses), rel_tol=RTOL):
        fail(
            f"the returned loss {got:.10f} is that of a loop whose gradients pile up across batches (expected "
            f"{want:.10f}): the later batches were computed with parameters moved as if the gradients "
            "from the previous steps were still there",
            STALE_HINT,
        )
    if math.isclose(got, mean_of_means(losses), rel_tol=RTOL):
        fail(
            f"the returned loss {got:.10f} is the mean of the batch means; expected the mean per sample {want:.10f}",
            "batches of 4, 4 and 2 samples: the last one must weigh half as much. Sum loss * batch_size, "
            "divide by the number of samples",
        )
    fail(
        f"the returned loss is {got!r}; expected the mean loss per sample over the epoch, {want!r}",
        "each batch's loss (a batch mean, taken before its step) times its size, summed, over the number of samples",
    )


@train_one_epoch
def test_train_one_epoch_puts_the_model_in_train_mode(impl):
    model, batches = make_model(batchnorm=True), make_batches([4, 4, 4])
    model.eval()  # as evaluate() or a caller might have left it
    ref, _ = reference_epoch(model, batches)
    suspects = [
        (
            reference_epoch(model, batches, train_mode=False)[0],
            "the parameters match a loop run in eval mode: BatchNorm used its running statistics instead "
            "of the batch's. The model came in eval mode; is it put in train mode?",
            "model.train() switches every submodule (dropout, BatchNorm) to its training behaviour",
        ),
        *train_suspects(model, batches),
    ]
    start = snapshot(model)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    run_loop(impl.train_one_epoch, model, batches, nn.CrossEntropyLoss(), opt)
    expect_trained_like(
        model, ref, start=start, suspects=suspects, what="after an epoch of a model that started in eval"
    )
    expect_close(
        model[1].running_mean,
        ref[1].running_mean,
        what="BatchNorm's running_mean after the epoch",
        rtol=RTOL,
        atol=ATOL,
        hint="in train mode BatchNorm updates its running statistics at every batch: is model.train() called?",
    )


@train_one_epoch
def test_train_one_epoch_takes_one_optimizer_step_per_batch(impl):
    model, batches = make_model(), make_batches([3, 3, 3, 3])
    ref, _ = reference_epoch(model, batches)
    suspects = train_suspects(model, batches)
    start = snapshot(model)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    steps = []
    opt.register_step_post_hook(lambda *args: steps.append(1))
    run_loop(impl.train_one_epoch, model, batches, nn.CrossEntropyLoss(), opt)
    expect(
        len(steps) == len(batches),
        f"optimizer.step() ran {len(steps)} times for {len(batches)} batches; expected one step per batch",
        "inside the loop over batches: reset, forward, backward, step, once each",
    )
    expect_trained_like(model, ref, start=start, suspects=suspects, what="after 4 steps")


@train_one_epoch
def test_train_one_epoch_ignores_gradients_left_before_the_call(impl):
    model, batches = make_model(), make_batches([5])
    stale = stale_grads(model)
    ref, _ = reference_epoch(model, batches)
    suspects = [
        (
            reference_epoch(model, batches, stale=stale, variant="no_reset")[0],
            "the gradients left on the parameters before the call leaked into the first step: the "
            "parameters moved as if gradients from a previous step were still there",
            STALE_HINT,
        )
    ]
    set_grads(model, stale)
    start = snapshot(model)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    run_loop(impl.train_one_epoch, model, batches, nn.CrossEntropyLoss(), opt)
    expect_trained_like(
        model, ref, start=start, suspects=suspects, what="after one batch, with stale .grad before the call"
    )


def count_steps(optimizer) -> list[int]:
    steps: list[int] = []
    optimizer.register_step_post_hook(lambda *args: steps.append(1))
    return steps


@train_one_epoch
def test_train_one_epoch_of_a_single_sample_returns_its_loss(impl):
    model, batches = make_model(), make_batches([1])
    stale = stale_grads(model)
    ref, losses = reference_epoch(model, batches, stale=stale)
    suspects = train_suspects(model, batches, stale=stale)
    set_grads(model, stale)
    start = snapshot(model)
    got = run_loop(impl.train_one_epoch, model, batches, nn.CrossEntropyLoss(),
                   torch.optim.SGD(model.parameters(), lr=LR))
    got = expect_float(got, "the returned loss")
    expect(math.isclose(got, losses[0][0], rel_tol=RTOL, abs_tol=ATOL),
           f"an epoch of one batch of one sample returned {got!r}; expected that sample's loss {losses[0][0]!r}",
           "divide the summed loss by the number of samples, however few there are")
    expect_trained_like(model, ref, start=start, suspects=suspects, what="one batch of one sample, after stale .grad")


@train_one_epoch
def test_train_one_epoch_works_with_a_dataloader(impl):
    model, batches = make_model(), make_batches([4, 4, 2])
    ref, losses = reference_epoch(model, batches)
    suspects = train_suspects(model, batches)
    start = snapshot(model)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    got = run_loop(impl.train_one_epoch, model, as_loader(batches, 4), nn.CrossEntropyLoss(), opt)
    expect_trained_like(model, ref, start=start, suspects=suspects, what="after an epoch over a DataLoader")
    got = expect_float(got, "the returned loss")
    expect(
        math.isclose(got, per_sample_mean(losses), rel_tol=RTOL, abs_tol=ATOL),
        f"over a DataLoader of 10 samples in batches of 4, 4 and 2 the returned loss is {got!r}; expected the "
        f"mean per sample {per_sample_mean(losses)!r}",
        "weigh each batch's mean loss by its number of samples",
    )


@train_one_epoch
@pytest.mark.cuda
def test_train_one_epoch_moves_batches_to_cuda(impl):
    model, batches = make_model(), make_batches([4, 4, 2])
    ref, losses = reference_epoch(model, batches)
    gpu = copy.deepcopy(model).to("cuda")
    opt = torch.optim.SGD(gpu.parameters(), lr=LR)
    got = run_loop(impl.train_one_epoch, gpu, batches, nn.CrossEntropyLoss(), opt, device="cuda")
    for (name, p), w in zip(gpu.named_parameters(), snapshot(ref)):
        expect_close(
            p.detach().cpu(),
            w,
            what=f"parameter {name!r} after an epoch on cuda",
            rtol=1e-7,
            atol=1e-9,
            hint="the same loop as on the CPU: reset, forward, backward, step",
        )
    got = expect_float(got, "the returned loss")
    expect(
        math.isclose(got, per_sample_mean(losses), rel_tol=1e-7),
        f"the loss returned on cuda is {got!r}; expected {per_sample_mean(losses)!r}",
    )


# ---------------------------------------------------------------- evaluate


class Probe(nn.Module):
    """Passes its input through and records, at every call, its training flag and whether a graph is built."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.calls.append((self.training, x.requires_grad))
        return x


def probed_model() -> tuple[nn.Module, Probe]:
    torch.manual_seed(0)
    probe = Probe()
    return nn.Sequential(nn.Linear(N_IN, 6), probe, nn.Tanh(), nn.Linear(6, N_CLASSES)).double(), probe


def bn_model_with_stats() -> nn.Module:
    """A BatchNorm classifier whose running statistics are far from the defaults (0 and 1)."""
    model = make_model(batchnorm=True)
    g = torch.Generator().manual_seed(5)
    bn = model[1]
    bn.running_mean.copy_(torch.randn(6, generator=g, dtype=torch.float64))
    bn.running_var.copy_(0.2 + torch.rand(6, generator=g, dtype=torch.float64))
    bn.num_batches_tracked.fill_(11)
    return model


def eval_batches(model):
    """Batches of 4, 4 and 2 whose targets make 4 of 10 predictions right (1, 1, 2 per batch)."""
    batches = make_batches([4, 4, 2], seed=3)
    x = torch.cat([b[0] for b in batches])
    was = model.training
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(dim=1)
    model.train(was)
    y = (pred + 1) % N_CLASSES  # wrong everywhere ...
    for i in (0, 4, 8, 9):  # ... but here
        y[i] = pred[i]
    return [(x[:4], y[:4]), (x[4:8], y[4:8]), (x[8:], y[8:])]


def reference_eval(model, batches):
    """Mean loss per sample and accuracy of the whole set, in eval mode (done on a copy)."""
    model = copy.deepcopy(model).eval()
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    with torch.no_grad():
        logits = model(x)
    return F.cross_entropy(logits, y).item(), (logits.argmax(dim=1) == y).double().mean().item()


@evaluate
def test_evaluate_returns_two_floats(impl):
    model = bn_model_with_stats()
    got = impl.evaluate(model, eval_batches(model), nn.CrossEntropyLoss())
    expect(
        isinstance(got, tuple) and len(got) == 2,
        f"expected a tuple (mean loss, accuracy), got {type(got).__name__} {got!r}"[:300],
    )
    expect_float(got[0], "the mean loss (first element)")
    expect_float(got[1], "the accuracy (second element)")


@evaluate
def test_evaluate_loss_is_the_mean_per_sample_in_eval_mode(impl):
    model = bn_model_with_stats()  # in train mode, as fit() would hand it over
    batches = eval_batches(model)
    want, _ = reference_eval(model, batches)
    got = impl.evaluate(model, batches, nn.CrossEntropyLoss())[0]
    got = expect_float(got, "the mean loss")
    if math.isclose(got, want, rel_tol=RTOL, abs_tol=ATOL):
        return
    train_copy = copy.deepcopy(model).train()
    with torch.no_grad():
        in_train_mode = per_sample_mean([(F.cross_entropy(train_copy(x), y).item(), len(y)) for x, y in batches])
    eval_copy = copy.deepcopy(model).eval()
    with torch.no_grad():
        batch_losses = [(F.cross_entropy(eval_copy(x), y).item(), len(y)) for x, y in batches]
    if math.isclose(got, in_train_mode, rel_tol=1e-6):
        fail(
            f"the loss {got:.10f} is what the model gives in train mode (expected {want:.10f}): BatchNorm "
            "normalised with each batch's own statistics",
            "put the model in eval mode for the measurement",
        )
    if math.isclose(got, mean_of_means(batch_losses), rel_tol=RTOL):
        fail(
            f"the loss {got:.10f} is the mean of the batch means; expected the mean per sample {want:.10f}",
            "batches of 4, 4 and 2 samples: weigh each batch's mean loss by its size",
        )
    fail(f"the mean loss is {got!r}; expected {want!r} (the cross-entropy of all 10 samples in eval mode)")


@evaluate
def test_evaluate_accuracy_is_the_fraction_of_correct_samples(impl):
    model = bn_model_with_stats().eval()
    batches = eval_batches(model)  # 4 of 10 right: 1 of 4, 1 of 4, 2 of 2
    _, want = reference_eval(model, batches)
    got = impl.evaluate(model, as_loader(batches, 4), nn.CrossEntropyLoss())[1]
    got = expect_float(got, "the accuracy")
    if math.isclose(got, want, rel_tol=1e-12):
        return
    if math.isclose(got, 100 * want, rel_tol=1e-12):
        fail(f"the accuracy is {got}, a percentage; expected the fraction {want}", "return a number in [0, 1]")
    if math.isclose(got, (0.25 + 0.25 + 1.0) / 3, rel_tol=1e-12):
        fail(
            f"the accuracy {got} is the mean of the batch accuracies (1/4, 1/4, 2/2); expected {want}, 4 right of 10",
            "count the correct samples over all batches, divide by the number of samples",
        )
    fail(
        f"the accuracy is {got!r}; expected {want} (4 of 10 samples have the target as their arg-max logit)",
        "a prediction is logits.argmax(dim=1); compare it with the targets",
    )


@evaluate
def test_evaluate_of_a_single_sample_gives_its_loss_and_accuracy(impl):
    model = bn_model_with_stats()
    batches = [(b[0][:1], b[1][:1]) for b in eval_batches(model)[:1]]
    want_loss, want_acc = reference_eval(model, batches)
    loss, acc = impl.evaluate(model, batches, nn.CrossEntropyLoss())
    loss, acc = expect_float(loss, "the mean loss"), expect_float(acc, "the accuracy")
    expect(math.isclose(loss, want_loss, rel_tol=RTOL, abs_tol=ATOL) and acc == want_acc,
           f"one batch of one sample gave ({loss!r}, {acc!r}); expected ({want_loss!r}, {want_acc!r})",
           "divide the sums by the number of samples, however few there are")


@evaluate
def test_evaluate_runs_the_model_in_eval_mode(impl):
    model, probe = probed_model()
    model.train()
    impl.evaluate(model, make_batches([4, 3]), nn.CrossEntropyLoss())
    expect(probe.calls, "the model was never called")
    expect(
        not any(training for training, _ in probe.calls),
        f"a submodule saw training=True during evaluate ({[t for t, _ in probe.calls]}): the model was measured in "
        "train mode, with dropout active and BatchNorm using batch statistics",
        "switch the model to eval mode before the forward passes (and back afterwards)",
    )


@evaluate
def test_evaluate_builds_no_autograd_graph(impl):
    model, probe = probed_model()
    model.eval()
    start = snapshot(model)
    impl.evaluate(model, make_batches([4, 3]), nn.CrossEntropyLoss())
    expect(probe.calls, "the model was never called")
    expect(
        not any(graph for _, graph in probe.calls),
        "during evaluate the activations required grad: autograd recorded a graph nobody will use",
        "run the forward passes under torch.no_grad() (or torch.inference_mode())",
    )
    with_grad = [name for name, p in model.named_parameters() if p.grad is not None]
    expect(not with_grad, f"evaluate created .grad on {with_grad}", "measuring needs no backward pass")
    expect(all(torch.equal(a, b) for a, b in zip(snapshot(model), start)), "evaluate changed the parameters")


@evaluate
def test_evaluate_leaves_autograd_switched_on(impl):
    model = make_model()
    impl.evaluate(model, make_batches([4, 3]), nn.CrossEntropyLoss())
    expect(
        torch.is_grad_enabled() and not torch.is_inference_mode_enabled(),
        "after evaluate autograd is switched off for the whole program: the training that follows builds no "
        "graph, and its backward() fails",
        "use torch.no_grad() (or torch.inference_mode()) as a context manager, `with ...:`, so it ends with the "
        "block; torch.set_grad_enabled(False) called on its own stays in force",
    )


@evaluate
def test_evaluate_leaves_batchnorm_statistics_untouched(impl):
    model = bn_model_with_stats()
    model.train()
    bn = model[1]
    before = {k: v.clone() for k, v in bn.state_dict().items() if k.startswith(("running", "num_batches"))}
    impl.evaluate(model, eval_batches(model), nn.CrossEntropyLoss())
    for name, value in before.items():
        expect(
            torch.equal(getattr(bn, name), value),
            f"BatchNorm's {name} changed during evaluate: the validation data leaked into the model's statistics",
            "in eval mode BatchNorm uses and keeps its running statistics; put the model in eval mode first",
        )


@evaluate
def test_evaluate_restores_train_mode(impl):
    model = bn_model_with_stats().train()
    impl.evaluate(model, eval_batches(model), nn.CrossEntropyLoss())
    left = [name or "the model" for name, m in model.named_modules() if not m.training]
    expect(
        not left,
        f"the model came in train mode and left in eval mode ({', '.join(left)}): the training that follows "
        "would run with dropout off and BatchNorm frozen",
        "remember each submodule's training flag before switching, and set each one back at the end",
    )


@evaluate
def test_evaluate_keeps_eval_mode(impl):
    model = bn_model_with_stats().eval()
    impl.evaluate(model, eval_batches(model), nn.CrossEntropyLoss())
    flipped = [name or "the model" for name, m in model.named_modules() if m.training]
    expect(
        not flipped,
        f"the model came in eval mode and left in train mode ({', '.join(flipped)}): restore the previous mode, "
        "do not assume it was train",
        "remember each submodule's training flag before switching, and set each one back at the end",
    )


@evaluate
def test_evaluate_restores_the_mode_and_autograd_when_the_loader_raises(impl):
    model, probe = probed_model()
    model.train()
    try:
        impl.evaluate(model, FailingLoader(make_batches([4, 4, 3]), 1), nn.CrossEntropyLoss())
    except Boom:
        pass
    else:
        fail("the loader raised in the middle of evaluate, and evaluate returned normally",
             "let the error reach the caller; put the mode back in a `finally:` block instead of catching it")
    expect(probe.calls, "the model was never called before the loader failed")
    expect(not any(training for training, _ in probe.calls), "evaluate ran the model in train mode",
           "switch the model to eval mode before the forward passes")
    left = [name or "the model" for name, m in model.named_modules() if not m.training]
    expect(not left,
           f"the loader raised during evaluate, and the model, which came in train mode, was left in eval mode "
           f"({', '.join(left)})",
           "restore the flags in a `finally:` block (try: ... finally: put each module's flag back): they come back "
           "on every way out, an error included")
    expect(torch.is_grad_enabled() and not torch.is_inference_mode_enabled(),
           "the loader raised during evaluate, and autograd was left switched off for the caller",
           "torch.no_grad() / torch.inference_mode() as a `with` block put autograd back also when the block raises")


def mixed_mode_model(pattern: str) -> nn.Module:
    """A model whose submodules are not all in one mode, as fine-tuning and topic 8 leave them."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(N_IN, 6), nn.BatchNorm1d(6), nn.Dropout(0.5), nn.Tanh(),
                          nn.Linear(6, N_CLASSES)).double()
    if pattern == "train, with a frozen BatchNorm in eval":
        model.train()
        model[1].eval()
    elif pattern == "eval, with its Dropout in train (MC dropout)":
        model.eval()
        model[2].train()
    else:  # "train at the top, every layer inside in eval"
        model.train()
        for layer in model:
            layer.eval()
    return model


def training_flags(model: nn.Module) -> dict[str, bool]:
    return {name or "the model": m.training for name, m in model.named_modules()}


MIXED_MODES = ["train, with a frozen BatchNorm in eval", "eval, with its Dropout in train (MC dropout)",
               "train at the top, every layer inside in eval"]


@evaluate
@pytest.mark.parametrize("raises", [False, True], ids=["returns", "loader raises"])
@pytest.mark.parametrize("pattern", MIXED_MODES)
def test_evaluate_restores_every_submodules_own_mode(impl, pattern, raises):
    model = mixed_mode_model(pattern)
    before = training_flags(model)
    batches = make_batches([4, 4, 3])
    loader = FailingLoader(batches, 1) if raises else batches
    try:
        impl.evaluate(model, loader, nn.CrossEntropyLoss())
    except Boom:
        pass
    after = training_flags(model)
    flipped = [f"{name}: {before[name]} -> {after[name]}" for name in before if after[name] != before[name]]
    when = "the loader raised midway" if raises else "it returned normally"
    expect(
        not flipped,
        f"a model in mixed modes ({pattern}) went through evaluate ({when}); these training flags changed: "
        f"{'; '.join(flipped)}",
        "model.train(was_training) sets ONE mode on every submodule: remember each submodule's own flag "
        "({m: m.training for m in model.modules()}) and put each one back, in a `finally:` block",
    )


@evaluate
def test_evaluate_leaves_the_callers_no_grad_in_force(impl):
    model = make_model()
    with torch.no_grad():
        result = impl.evaluate(model, make_batches([4, 3]), nn.CrossEntropyLoss())
        still_off = not torch.is_grad_enabled()
    expect(isinstance(result, tuple) and len(result) == 2, f"expected a tuple (mean loss, accuracy), got {result!r}")
    expect(still_off, "evaluate, called inside the caller's `with torch.no_grad():`, switched autograd back on",
           "put back the grad mode that was in force: torch.no_grad() (or torch.inference_mode()) as a context "
           "manager does that, torch.set_grad_enabled(True) afterwards does not")


@evaluate
@pytest.mark.cuda
def test_evaluate_moves_batches_to_cuda(impl):
    model = bn_model_with_stats()
    batches = eval_batches(model)
    want_loss, want_acc = reference_eval(model, batches)
    gpu = copy.deepcopy(model).to("cuda")
    loss, acc = run_loop(impl.evaluate, gpu, batches, nn.CrossEntropyLoss(), device="cuda")
    loss, acc = expect_float(loss, "the mean loss"), expect_float(acc, "the accuracy")
    expect(math.isclose(loss, want_loss, rel_tol=1e-7), f"the loss on cuda is {loss!r}; expected {want_loss!r}")
    expect(math.isclose(acc, want_acc, rel_tol=1e-12), f"the accuracy on cuda is {acc!r}; expected {want_acc!r}")


# ---------------------------------------------------------------- train_with_accumulation


def accumulation_suspects(model, batches, accum_steps, *, stale=None):
    k = accum_steps
    return [
        (
            wrong_accumulation(model, batches, k, "no_divide"),
            f"each step followed the SUM of the {k} micro-batch gradients, {k} times the gradient of their mean",
            "backward() sums into .grad: divide each micro-batch's loss by the number of micro-batches in its window",
        ),
        (
            wrong_accumulation(model, batches, k, "step_every"),
            "the optimizer stepped after every micro-batch instead of once per window",
            "step (and reset) only after the window's last micro-batch",
        ),
        (
            wrong_accumulation(model, batches, k, "step_and_reset_every"),
            "the optimizer stepped (and reset) after every micro-batch instead of once per window",
            "step and reset only after the window's last micro-batch",
        ),
        (
            wrong_accumulation(model, batches, k, "zero_every"),
            "only the last micro-batch of each window reached the step: the gradients were reset before every "
            "micro-batch, throwing the earlier ones away",
            "reset once per window (after its step), not before every backward()",
        ),
        (
            wrong_accumulation(model, batches, k, "no_reset"),
            "the gradients of the previous windows were still there at each step: as if from the previous step "
            "they were never reset",
            "after each window's step, reset the gradients before the next window's first backward()",
        ),
        (
            wrong_accumulation(model, batches, k, "drop_last"),
            "the final partial window never stepped: its micro-batches were computed and thrown away",
            "after the loop (or at the last micro-batch) step on whatever the last window accumulated",
        ),
        (
            wrong_accumulation(model, batches, k, "divide_by_accum"),
            f"the final partial window was averaged over accum_steps={k}, not over the micro-batches it holds",
            "the last window may hold fewer micro-batches: divide by how many it actually has (len(loader) helps)",
        ),
    ]


@train_with_accumulation
def test_train_with_accumulation_step_equals_one_big_batch(impl):
    model, batches = make_model(), make_batches([3] * 6)
    ref, _ = reference_accumulation(model, batches, 3)
    suspects = accumulation_suspects(model, batches, 3)
    start = snapshot(model)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    run_loop(impl.train_with_accumulation, model, batches, nn.CrossEntropyLoss(), opt, 3)
    expect_trained_like(
        model, ref, start=start, suspects=suspects,
        what="6 micro-batches of 3 with accum_steps=3 (should be 2 steps on batches of 9)",
    )


@train_with_accumulation
def test_train_with_accumulation_steps_once_per_window_over_a_long_epoch(impl):
    model, batches = make_model(), make_batches([1] * 300)  # window ends past 256: no small-int coincidences
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    steps = count_steps(opt)
    run_loop(impl.train_with_accumulation, model, batches, nn.CrossEntropyLoss(), opt, 3)
    expect(len(steps) == 100, f"300 micro-batches with accum_steps=3 took {len(steps)} optimizer steps; expected 100",
           "one step per window: compare window positions with ==, never with `is` (ints above 256 are distinct "
           "objects)")


@train_with_accumulation
def test_train_with_accumulation_of_a_single_sample_returns_its_loss(impl):
    model, batches = make_model(), make_batches([1])
    ref, records = reference_accumulation(model, batches, 2)
    start = snapshot(model)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    got = expect_float(run_loop(impl.train_with_accumulation, model, batches, nn.CrossEntropyLoss(), opt, 2),
                       "the returned loss")
    expect(math.isclose(got, records[0][0], rel_tol=RTOL, abs_tol=ATOL),
           f"an epoch of one micro-batch of one sample returned {got!r}; expected that sample's loss {records[0][0]!r}",
           "divide the summed loss by the number of samples, however few there are")
    expect_trained_like(model, ref, start=start, what="one micro-batch of one sample, accum_steps=2")


@train_with_accumulation
def test_train_with_accumulation_takes_one_step_per_window(impl):
    model, batches = make_model(), make_batches([3] * 5)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    steps = []
    opt.register_step_post_hook(lambda *args: steps.append(1))
    run_loop(impl.train_with_accumulation, model, batches, nn.CrossEntropyLoss(), opt, 2)
    if len(steps) == 2:
        fail(
            "5 micro-batches with accum_steps=2 took 2 steps; expected 3: the final partial window (one "
            "micro-batch) never stepped",
            "a window that is cut short by the end of the loader still steps",
        )
    expect(
        len(steps) == 3,
        f"5 micro-batches with accum_steps=2 took {len(steps)} optimizer steps; expected 3 (2 + 2 + 1)",
        "one step per window of accum_steps micro-batches, the last window may be shorter",
    )


@train_with_accumulation
def test_train_with_accumulation_partial_window_averages_its_own_micro_batches(impl):
    model, batches = make_model(), make_batches([3] * 5)
    ref, _ = reference_accumulation(model, batches, 3)
    suspects = accumulation_suspects(model, batches, 3)
    start = snapshot(model)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    run_loop(impl.train_with_accumulation, model, as_loader(batches, 3), nn.CrossEntropyLoss(), opt, 3)
    expect_trained_like(
        model, ref, start=start, suspects=suspects,
        what="a DataLoader of 5 micro-batches with accum_steps=3 (windows of 3 and 2)",
    )


def reference_mean_of_losses(model, batches, accum_steps, *, lr=LR):
    """Accumulation by the contract's reading: each step on the gradient of the mean of the window's
    micro-batch mean losses, every micro-batch counting once whatever its size."""
    model = copy.deepcopy(model)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for start in range(0, len(batches), accum_steps):
        window = batches[start : start + accum_steps]
        opt.zero_grad()
        (sum(F.cross_entropy(model(x), y) for x, y in window) / len(window)).backward()
        opt.step()
    return model


@train_with_accumulation
def test_train_with_accumulation_short_micro_batch_in_a_full_window_counts_once(impl):
    model, batches = make_model(), make_batches([3, 3, 3, 3, 3, 1])  # windows [3, 3, 3] and [3, 3, 1]
    ref = reference_mean_of_losses(model, batches, 3)
    big_batch, _ = reference_accumulation(model, batches, 3)  # samples weighted: not the contract's reading
    suspects = [(big_batch, "the window [3, 3, 1] was weighed as one big batch of 7 samples; the contract takes "
                 "the mean of its 3 micro-batch losses, each counting once",
                 "divide each micro-batch's mean loss by the number of micro-batches in its window, whatever its "
                 "size")] + accumulation_suspects(model, batches, 3)
    start = snapshot(model)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    run_loop(impl.train_with_accumulation, model, batches, nn.CrossEntropyLoss(), opt, 3)
    expect_trained_like(
        model, ref, start=start, suspects=suspects,
        what="micro-batches of 3, 3, 3, 3, 3 and 1 with accum_steps=3 (the second window ends with a short one)",
    )


@train_with_accumulation
def test_train_with_accumulation_returns_mean_loss_per_sample(impl):
    model, batches = make_model(), make_batches([4, 4, 4, 4, 2])
    _, records = reference_accumulation(model, batches, 2)
    want = per_sample_mean([(loss, n) for loss, n, _ in records])
    divided = per_sample_mean([(loss / window, n) for loss, n, window in records])
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    got = run_loop(impl.train_with_accumulation, model, batches, nn.CrossEntropyLoss(), opt, 2)
    got = expect_float(got, "the returned loss")
    if math.isclose(got, want, rel_tol=RTOL, abs_tol=ATOL):
        return
    if math.isclose(got, divided, rel_tol=1e-6):
        fail(
            f"the returned loss {got:.10f} was summed from the losses divided for backward(); expected the "
            f"mean loss per sample {want:.10f}",
            "divide for backward() only; report the undivided loss of each micro-batch",
        )
    if math.isclose(got, mean_of_means([(loss, n) for loss, n, _ in records]), rel_tol=1e-6):
        fail(
            f"the returned loss {got:.10f} is the mean of the micro-batch means; expected the mean per sample "
            f"{want:.10f}",
            "micro-batches of 4, 4, 4, 4 and 2 samples: weigh each micro-batch's mean loss by its size",
        )
    fail(
        f"the returned loss is {got!r}; expected the mean loss per sample over the epoch, {want!r} (micro-batches "
        "of 4, 4, 4, 4 and 2, each loss taken with the parameters of its window)",
        "weigh each micro-batch's (undivided) mean loss by its size; divide by the number of samples",
    )


@train_with_accumulation
def test_train_with_accumulation_ignores_gradients_left_before_the_call(impl):
    model, batches = make_model(), make_batches([3] * 4)
    stale = stale_grads(model)
    ref, _ = reference_accumulation(model, batches, 2)
    suspects = [
        (
            wrong_accumulation(model, batches, 2, "stale_leak", stale=stale),
            "the gradients left on the parameters before the call leaked into the first step",
            "reset the gradients before the first window too, not only after each step",
        )
    ]
    set_grads(model, stale)
    start = snapshot(model)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    run_loop(impl.train_with_accumulation, model, batches, nn.CrossEntropyLoss(), opt, 2)
    expect_trained_like(model, ref, start=start, suspects=suspects, what="with stale .grad before the call")


@train_with_accumulation
def test_train_with_accumulation_puts_the_model_in_train_mode(impl):
    model, probe = probed_model()
    model.eval()  # as evaluate() or a caller might have left it
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    run_loop(impl.train_with_accumulation, model, make_batches([3] * 4), nn.CrossEntropyLoss(), opt, 2)
    expect(probe.calls, "the model was never called")
    expect(
        all(training for training, _ in probe.calls),
        f"the model came in eval mode and a submodule saw training=False during the training passes "
        f"({[t for t, _ in probe.calls]}): dropout stayed off and BatchNorm frozen while training",
        "call model.train() before the first micro-batch, as in train_one_epoch",
    )


@train_with_accumulation
def test_train_with_accumulation_of_one_is_plain_training(impl):
    model, batches = make_model(), make_batches([4, 4, 2])
    ref, losses = reference_epoch(model, batches)
    start = snapshot(model)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    got = run_loop(impl.train_with_accumulation, model, batches, nn.CrossEntropyLoss(), opt, 1)
    expect_trained_like(model, ref, start=start, what="accum_steps=1 (should be one step per batch)")
    got = expect_float(got, "the returned loss")
    expect(
        math.isclose(got, per_sample_mean(losses), rel_tol=RTOL, abs_tol=ATOL),
        f"with accum_steps=1 the returned loss is {got!r}; expected {per_sample_mean(losses)!r}",
        "weigh each micro-batch's mean loss by its size",
    )


@train_with_accumulation
def test_train_with_accumulation_window_longer_than_the_loader_is_one_step(impl):
    model, batches = make_model(), make_batches([3] * 3)
    ref, _ = reference_accumulation(model, batches, 5)
    suspects = accumulation_suspects(model, batches, 5)
    start = snapshot(model)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    steps = []
    opt.register_step_post_hook(lambda *args: steps.append(1))
    run_loop(impl.train_with_accumulation, model, batches, nn.CrossEntropyLoss(), opt, 5)
    expect(len(steps) == 1,
           f"3 micro-batches with accum_steps=5 took {len(steps)} optimizer steps; expected 1: the only window is "
           "the final, partial one",
           "a window cut short by the end of the loader still steps, once")
    expect_trained_like(
        model, ref, start=start, suspects=suspects,
        what="3 micro-batches with accum_steps=5 (one step, averaged over the 3 micro-batches)",
    )


@train_with_accumulation
@pytest.mark.parametrize("accum_steps", [0, -2])
def test_train_with_accumulation_rejects_accum_steps_below_one(impl, accum_steps):
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    with expect_raises(ValueError, f"train_with_accumulation(..., accum_steps={accum_steps})", names=accum_steps):
        impl.train_with_accumulation(model, make_batches([3, 3]), nn.CrossEntropyLoss(), opt, accum_steps)


@train_with_accumulation
@pytest.mark.cuda
def test_train_with_accumulation_moves_batches_to_cuda(impl):
    model, batches = make_model(), make_batches([3] * 5)
    ref, records = reference_accumulation(model, batches, 2)
    want = per_sample_mean([(loss, n) for loss, n, _ in records])
    gpu = copy.deepcopy(model).to("cuda")
    opt = torch.optim.SGD(gpu.parameters(), lr=LR)
    got = run_loop(impl.train_with_accumulation, gpu, batches, nn.CrossEntropyLoss(), opt, 2, device="cuda")
    for (name, p), w in zip(gpu.named_parameters(), snapshot(ref)):
        expect_close(p.detach().cpu(), w, what=f"parameter {name!r} after accumulation on cuda", rtol=1e-7, atol=1e-9)
    got = expect_float(got, "the returned loss")
    expect(math.isclose(got, want, rel_tol=1e-7), f"the loss returned on cuda is {got!r}; expected {want!r}")


# ---------------------------------------------------------------- fit


def fit_problem():
    """A model, data and learning rate whose validation loss is lowest at epoch 2 of 5, then rises.

    The training set is separable, so training keeps growing the weights; one validation sample is
    mislabelled, and once the weights are large enough its loss outgrows what the others gain.
    """
    model = nn.Linear(2, 2).double()
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    xt = torch.tensor(
        [[1, 0.5], [-1, 0.2], [0.8, -0.3], [-0.6, -0.9], [1.2, 0.1], [-1.1, 0.4], [0.5, 0.7], [-0.7, -0.2]],
        dtype=torch.float64,
    )
    yt = (xt[:, 0] > 0).long()
    xv = torch.tensor([[0.4, 0.1], [-0.3, 0.5], [0.2, -0.6], [-0.5, -0.2], [0.8, 0.0]], dtype=torch.float64)
    yv = torch.tensor([1, 0, 1, 0, 0])  # the last one is mislabelled
    train = [(xt[:4], yt[:4]), (xt[4:], yt[4:])]
    val = [(xv[:3], yv[:3]), (xv[3:], yv[3:])]
    return model, train, val, 0.3


def reference_fit(model, train, val, lr, epochs):
    """Returns the per-epoch (train_loss, val_loss, val_acc) and the weights after each epoch."""
    model = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    records, weights = [], []
    for _ in range(epochs):
        model.train()
        losses = []
        for x, y in train:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append((loss.item(), len(y)))
        val_loss, val_acc = reference_eval(model, val)
        records.append((per_sample_mean(losses), val_loss, val_acc))
        weights.append(snapshot(model))
    return records, weights


@fit
def test_fit_returns_one_record_per_epoch(impl):
    model, train, val, lr = fit_problem()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    history = run_loop(impl.fit, model, train, val, nn.CrossEntropyLoss(), opt, 3)
    expect(isinstance(history, list), f"expected a list with one dict per epoch, got {type(history).__name__}")
    expect(len(history) == 3, f"3 epochs gave {len(history)} records; expected one per epoch")
    keys = {"epoch", "train_loss", "val_loss", "val_acc"}
    for i, record in enumerate(history):
        expect(isinstance(record, dict), f"record {i} is a {type(record).__name__}; expected a dict")
        missing = keys - record.keys()
        expect(not missing, f"record {i} lacks the key(s) {sorted(missing)}; it has {sorted(record)}")
        for key in ("train_loss", "val_loss", "val_acc"):
            expect_float(record[key], f"record {i}[{key!r}]")
        expect(0.0 <= record["val_acc"] <= 1.0, f"record {i}: val_acc {record['val_acc']} is not a fraction in [0, 1]")
    epochs = [record["epoch"] for record in history]
    expect(
        epochs in ([1, 2, 3], [0, 1, 2]),
        f"the epoch numbers are {epochs}; expected the epochs in order (1, 2, 3, or 0, 1, 2)",
    )


@fit
def test_fit_history_matches_training_and_evaluation(impl):
    model, train, val, lr = fit_problem()
    want, _ = reference_fit(model, train, val, lr, 3)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    history = run_loop(impl.fit, model, train, val, nn.CrossEntropyLoss(), opt, 3)
    expect(len(history) == 3, f"3 epochs gave {len(history)} records")
    for i, (record, (train_loss, val_loss, val_acc)) in enumerate(zip(history, want)):
        for key, value in (("train_loss", train_loss), ("val_loss", val_loss), ("val_acc", val_acc)):
            got = record[key]
            expect(
                isinstance(got, float) and math.isclose(got, value, rel_tol=1e-9, abs_tol=1e-12),
                f"epoch {i + 1}: {key} is {got!r}; expected {value!r}",
                "train_loss is train_one_epoch's result for that epoch; val_loss and val_acc are evaluate's "
                "on val_loader right after it",
            )


@fit
def test_fit_ends_with_the_weights_of_the_best_epoch(impl):
    model, train, val, lr = fit_problem()
    epochs = 5
    records, weights = reference_fit(model, train, val, lr, epochs)
    val_losses = [r[1] for r in records]
    best = min(range(epochs), key=val_losses.__getitem__)
    assert 0 < best < epochs - 1, "test setup: the best epoch should be in the middle"
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    run_loop(impl.fit, model, train, val, nn.CrossEntropyLoss(), opt, epochs)
    got = snapshot(model)
    if all_close(got, weights[best]):
        return
    losses = ", ".join(f"{v:.4f}" for v in val_losses)
    for i in range(epochs):
        if all_close(got, weights[i]):
            last = " (the last epoch)" if i == epochs - 1 else ""
            fail(
                f"the model holds the weights of epoch {i + 1}{last}, but epoch {best + 1} had the lowest val_loss "
                f"(val_loss per epoch: {losses})",
                "keep a copy of the weights whenever val_loss improves and load it into the model at the end; "
                "model.state_dict() shares storage with the parameters, so an uncopied one follows training",
            )
    fail(
        f"the final weights are those of no epoch; expected those of epoch {best + 1}, the lowest val_loss ({losses})",
        "load the saved copy into the same model object the caller passed in",
    )


def fit_tie_problem():
    """Training moves only the weights of feature 2; validation reads only feature 1: every epoch has the same
    val_loss (bit for bit) and different weights."""
    model = nn.Linear(2, 2, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.3, -0.2], [-0.1, 0.4]], dtype=torch.float64))
    xt = torch.tensor([[0.0, 1.0], [0.0, -0.5], [0.0, 0.8], [0.0, -1.2]], dtype=torch.float64)
    yt = torch.tensor([1, 0, 0, 1])
    xv = torch.tensor([[1.0, 0.0], [-0.7, 0.0], [0.4, 0.0]], dtype=torch.float64)
    yv = torch.tensor([0, 1, 1])
    return model, [(xt[:2], yt[:2]), (xt[2:], yt[2:])], [(xv, yv)], 0.5


@fit
def test_fit_keeps_the_earliest_epoch_on_a_tie(impl):
    model, train, val, lr = fit_tie_problem()
    epochs = 3
    records, weights = reference_fit(model, train, val, lr, epochs)
    assert len({r[1] for r in records}) == 1, "test setup: every epoch should have the same val_loss"
    assert not all_close(weights[0], weights[-1]), "test setup: the weights should differ between epochs"
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    run_loop(impl.fit, model, train, val, nn.CrossEntropyLoss(), opt, epochs)
    got = snapshot(model)
    if all_close(got, weights[0]):
        return
    for i in range(1, epochs):
        if all_close(got, weights[i]):
            fail(f"every epoch had the same val_loss ({records[0][1]:.6f}) and the model holds the weights of epoch "
                 f"{i + 1}; on a tie the earliest epoch wins (epoch 1)",
                 "keep a new copy only when val_loss is strictly lower than the best so far (<, not <=)")
    fail("the final weights are those of no epoch; expected those of epoch 1 (every epoch tied on val_loss)",
         "load the saved copy into the same model object the caller passed in")


@fit
@pytest.mark.cuda
def test_fit_runs_on_cuda(impl):
    model, train, val, lr = fit_problem()
    epochs = 5
    records, weights = reference_fit(model, train, val, lr, epochs)
    best = min(range(epochs), key=lambda i: records[i][1])
    gpu = copy.deepcopy(model).to("cuda")
    opt = torch.optim.SGD(gpu.parameters(), lr=lr)
    history = run_loop(impl.fit, gpu, train, val, nn.CrossEntropyLoss(), opt, epochs, device="cuda")
    expect(len(history) == epochs, f"{epochs} epochs gave {len(history)} records")
    for i, (record, (_, val_loss, _)) in enumerate(zip(history, records)):
        expect(
            math.isclose(record["val_loss"], val_loss, rel_tol=1e-7),
            f"epoch {i + 1} on cuda: val_loss {record['val_loss']!r}; expected {val_loss!r}",
        )
    for (name, p), w in zip(gpu.named_parameters(), weights[best]):
        expect_close(p.detach().cpu(), w, what=f"parameter {name!r} after fit on cuda (best epoch {best + 1})",
                     rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------- demo


@demo
def test_demo_shows_the_bug_and_fits(impl):
    from demos.training_loop import main

    result = main(impl.module, quick=True)
    correct, buggy = result["correct_final_loss"], result["buggy_final_loss"]
    expect(
        math.isfinite(correct) and not (correct >= buggy),
        f"the demo's correct loop ended at loss {correct:.4f} and the inline zero_grad-bug copy at {buggy:.4f}: "
        "the correct loop should end lower",
        "the demo trains with your train_one_epoch: if it shows no difference from the bug, the bug is still there",
    )
    expect(
        0.5 < result["val_acc"] <= 1.0,
        f"after fit() the digits model has validation accuracy {result['val_acc']}; expected well above chance (0.1)",
        "fit() should restore the weights of the best epoch; evaluate() returns the accuracy as a fraction",
    )
