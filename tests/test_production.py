"""Tests of the production topic: atomic checkpoints that resume exactly, mixed precision, peak GPU memory.

Checkpoint files live in pytest's tmp_path. Crashes are simulated: an `extra` object that cannot
be pickled, and a torch.save that writes half a file and raises.
"""

from __future__ import annotations

import copy
import os
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from kata.learn.checks import expect, expect_close, expect_dtype, expect_equal, expect_raises, fail

save_checkpoint = pytest.mark.exercise("save_checkpoint")
amp_train_step = pytest.mark.exercise("amp_train_step")
peak_memory_bytes = pytest.mark.exercise("peak_memory_bytes")
demo = pytest.mark.exercise("demo")

MiB = 2**20


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def _setup(seed: int, *, dropout: float = 0.0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    return model, optimizer, scheduler


def _train_steps(model, optimizer, n: int = 3) -> None:
    g = torch.Generator().manual_seed(1)
    for _ in range(n):
        x, y = torch.randn(8, 4, generator=g), torch.randint(0, 3, (8,), generator=g)
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()


def _expect_same_params(actual: nn.Module, expected: nn.Module, situation: str, hint: str) -> None:
    for (name, p), q in zip(actual.named_parameters(), expected.parameters(), strict=True):
        expect_equal(p.detach(), q.detach(), what=f"{situation}: parameter {name}", hint=hint)


def _call(what: str, hint: str, fn, *args, errors=(Exception,), **kwargs):
    """fn(*args, **kwargs); an exception (not a stub's NotImplementedError) becomes a teaching failure."""
    __tracebackhide__ = True
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except errors as err:
        problem = f"{what}: {type(err).__name__}: {str(err)[:300]}"
    fail(problem, hint)  # outside the except block: the message, without the chained traceback


def _load(impl, path, model, optimizer=None, **kwargs):
    """load_checkpoint, with a teaching failure when the file cannot be read at all."""
    __tracebackhide__ = True
    return _call("load_checkpoint could not read the checkpoint",
                 "is the file complete, and made only of what torch.load(weights_only=True) accepts?",
                 impl.load_checkpoint, path, model, optimizer, **kwargs)


class CannotBePickled:
    """An `extra` value whose pickling fails: a crash in the middle of torch.save."""

    def __reduce__(self):
        raise RuntimeError("simulated crash in the middle of torch.save")


# ---------------------------------------------------------------- save_checkpoint / load_checkpoint


@save_checkpoint
def test_checkpoint_round_trip_restores_the_model(impl, tmp_path):
    model, opt, _ = _setup(0)
    _train_steps(model, opt)
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=1, step=3)
    fresh, fresh_opt, _ = _setup(1)
    _load(impl, tmp_path / "ckpt.pt", fresh, fresh_opt)
    _expect_same_params(fresh, model, "after load_checkpoint", "save model.state_dict() and load_state_dict it back")


@save_checkpoint
def test_load_checkpoint_returns_epoch_step_and_extra(impl, tmp_path):
    model, opt, _ = _setup(0)
    extra = {"best_acc": 0.875, "history": [1.5, 0.75], "run": "baseline", "confusion": torch.eye(3)}
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=4, step=120, extra=extra)
    info = _load(impl, tmp_path / "ckpt.pt", _setup(1)[0], _setup(1)[1])
    expect(isinstance(info, dict), f"load_checkpoint should return a dict, got {type(info).__name__}")
    for key in ("epoch", "step", "extra"):
        expect(key in info, f"the returned dict has no {key!r} key: {sorted(info)}")
    expect(info["epoch"] == 4 and info["step"] == 120,
           f"expected epoch 4 and step 120 back, got epoch {info['epoch']!r} and step {info['step']!r}")
    got = info["extra"]
    expect(isinstance(got, dict) and set(got) == set(extra), f"extra came back as {got!r}")
    expect(got["best_acc"] == 0.875 and got["history"] == [1.5, 0.75] and got["run"] == "baseline",
           f"extra's values changed: {got!r}")
    expect_equal(got["confusion"], extra["confusion"], what="extra['confusion']")


@save_checkpoint
def test_extra_defaults_to_none(impl, tmp_path):
    model, opt, _ = _setup(0)
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=0, step=0)
    info = _load(impl, tmp_path / "ckpt.pt", model, opt)
    expect(info["extra"] is None, f"without extra= the loaded extra should be None, got {info['extra']!r}")


@save_checkpoint
def test_checkpoint_loads_with_weights_only(impl, tmp_path):
    model, opt, sched = _setup(0)
    _train_steps(model, opt)
    sched.step()
    path = tmp_path / "ckpt.pt"
    impl.save_checkpoint(path, model, opt, scheduler=sched, epoch=1, step=3, extra={"note": "ok"})
    _call("torch.load(path) (weights_only=True, the default) refuses the checkpoint",
          "store only tensors, numbers, strings, lists, tuples and dicts: np.random.get_state() holds an "
             "ndarray (convert it, e.g. with .tolist()); never pickle whole objects (the model, the optimizer)",
          torch.load, path, weights_only=True)  # what plain torch.load(path) does in current PyTorch


@save_checkpoint
def test_load_checkpoint_restores_adam_moments(impl, tmp_path):
    model, opt, _ = _setup(0)
    _train_steps(model, opt)
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=1, step=3)
    fresh, fresh_opt, _ = _setup(1)
    _load(impl, tmp_path / "ckpt.pt", fresh, fresh_opt)
    hint = "save optimizer.state_dict() and load it into the new optimizer: Adam's moments are training state"
    for i, (p, q) in enumerate(zip(fresh.parameters(), model.parameters(), strict=True)):
        state, expected = fresh_opt.state.get(p, {}), opt.state[q]
        expect(state, f"the restored optimizer has no state for parameter {i}: Adam's moments were lost", hint)
        for key in ("exp_avg", "exp_avg_sq"):
            expect_equal(state[key], expected[key], what=f"optimizer state {key} of parameter {i}", hint=hint)
        expect(float(state["step"]) == float(expected["step"]),
               f"Adam's step count is {float(state['step'])}, expected {float(expected['step'])}", hint)


@save_checkpoint
def test_load_checkpoint_restores_the_scheduler(impl, tmp_path):
    model, opt, sched = _setup(0)
    for _ in range(3):
        _train_steps(model, opt, n=1)
        sched.step()
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, scheduler=sched, epoch=3, step=3)
    fresh, fresh_opt, fresh_sched = _setup(1)
    _load(impl, tmp_path / "ckpt.pt", fresh, fresh_opt, scheduler=fresh_sched)
    hint = "save scheduler.state_dict() and load it back, or the learning-rate schedule restarts"
    expect(fresh_sched.last_epoch == sched.last_epoch,
           f"the scheduler's last_epoch is {fresh_sched.last_epoch}, expected {sched.last_epoch}", hint)
    expect(fresh_sched.get_last_lr() == sched.get_last_lr(),
           f"the scheduler's last lr is {fresh_sched.get_last_lr()}, expected {sched.get_last_lr()}", hint)


@save_checkpoint
def test_load_checkpoint_without_optimizer_restores_the_model(impl, tmp_path):
    model, opt, _ = _setup(0)
    _train_steps(model, opt)
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=2, step=6)
    fresh = _setup(1)[0]
    info = impl.load_checkpoint(tmp_path / "ckpt.pt", fresh)
    expect(info["epoch"] == 2, f"expected epoch 2, got {info['epoch']!r}")
    _expect_same_params(fresh, model, "load_checkpoint(path, model) without an optimizer",
                        "optimizer=None means: restore the model only")


MISFITS = {  # a model the checkpoint of _setup's Linear(4, 16) -> ReLU -> Dropout -> Linear(16, 3) does not fit
    "model_has_a_key_more": lambda: nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.0), nn.Linear(16, 3),
                                                  nn.Linear(3, 3)),
    "checkpoint_has_a_layer_more": lambda: nn.Sequential(nn.Linear(4, 16)),
    "checkpoint_has_a_bias_more": lambda: nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.0),
                                                        nn.Linear(16, 3, bias=False)),
}


@save_checkpoint
@pytest.mark.parametrize("misfit", list(MISFITS))
def test_load_checkpoint_is_strict_about_keys(impl, tmp_path, misfit):
    model, opt, _ = _setup(0)
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=1, step=3)
    other = MISFITS[misfit]()
    what = f"load_checkpoint into a model whose keys differ from the checkpoint's ({misfit})"
    with expect_raises(RuntimeError, what):
        impl.load_checkpoint(tmp_path / "ckpt.pt", other)


@save_checkpoint
def test_load_checkpoint_without_scheduler_ignores_a_saved_one(impl, tmp_path):
    model, opt, sched = _setup(0)
    _train_steps(model, opt)
    sched.step()
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, scheduler=sched, epoch=1, step=3)
    fresh, fresh_opt, _ = _setup(1)
    info = _call("load_checkpoint(path, model, optimizer) of a checkpoint that holds a scheduler raised",
                 "scheduler=None means: leave the scheduler out, whatever the checkpoint holds",
                 impl.load_checkpoint, tmp_path / "ckpt.pt", fresh, fresh_opt)
    expect(info["epoch"] == 1, f"expected epoch 1, got {info['epoch']!r}")
    _expect_same_params(fresh, model, "load_checkpoint without a scheduler", "restore the model all the same")


@save_checkpoint
def test_load_checkpoint_runs_no_code_from_the_file(impl, tmp_path):
    model, opt, _ = _setup(0)
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=1, step=3)
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    marker = tmp_path / "code_ran"

    class Payload:
        def __reduce__(self):  # unpickling it calls os.mkdir(marker): code from the file
            return os.mkdir, (str(marker),)

    state["extra"] = Payload()
    torch.save(state, tmp_path / "tampered.pt")
    try:
        impl.load_checkpoint(tmp_path / "tampered.pt", _setup(1)[0], _setup(1)[1])
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001, S110 - refusing the file is what weights_only=True does
        pass
    expect(not marker.exists(), "loading a tampered checkpoint ran code stored in it (it created a folder)",
           "torch.load(path, weights_only=True), the default, refuses anything but tensors and plain containers; "
           "weights_only=False unpickles arbitrary objects and runs their code")


@save_checkpoint
def test_checkpoint_saved_without_cuda_loads_where_cuda_is_available(impl, tmp_path, monkeypatch):
    model, opt, _ = _setup(0)
    _train_steps(model, opt)
    torch.manual_seed(5)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # saved on a machine without CUDA
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=1, step=3)
    expected = torch.rand(5)
    torch.manual_seed(77)
    fresh, fresh_opt, _ = _setup(1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # resumed on one that has it
    _call("load_checkpoint of a checkpoint saved without CUDA, on a machine with CUDA, raised",
          "a checkpoint saved without CUDA holds no CUDA RNG state: restore the CUDA generators only when there is "
          "a saved state for them, not merely because CUDA is available now",
          impl.load_checkpoint, tmp_path / "ckpt.pt", fresh, fresh_opt)
    monkeypatch.undo()
    _expect_same_params(fresh, model, "a checkpoint saved without CUDA, loaded where CUDA is", "load_state_dict")
    expect_equal(torch.rand(5), expected, what="torch.rand(5) after loading a checkpoint saved without CUDA")


@save_checkpoint
def test_save_and_load_take_their_arguments_by_name(impl, tmp_path):
    model, opt, sched = _setup(0)
    _train_steps(model, opt)
    path = tmp_path / "ckpt.pt"
    _call("save_checkpoint(path=..., model=..., optimizer=..., scheduler=..., epoch=..., step=..., extra=...) raised",
          "keep the documented parameter names; everything after the * is keyword-only",
          impl.save_checkpoint, path=path, model=model, optimizer=opt, scheduler=sched, epoch=2, step=5, extra=None)
    fresh, fresh_opt, fresh_sched = _setup(1)
    info = _call("load_checkpoint(path=..., model=..., optimizer=..., scheduler=..., map_location=...) raised",
                 "keep the documented parameter names: path, model, optimizer, then keyword-only scheduler and "
                 "map_location", impl.load_checkpoint, path=path, model=fresh, optimizer=fresh_opt,
                 scheduler=fresh_sched, map_location="cpu")
    expect(info["step"] == 5, f"expected step 5, got {info['step']!r}")
    _expect_same_params(fresh, model, "load_checkpoint called with keyword arguments", "load_state_dict")


@save_checkpoint
def test_load_checkpoint_restores_the_torch_rng(impl, tmp_path):
    model, opt, _ = _setup(0)
    torch.manual_seed(5)
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=0, step=0)
    expected = torch.rand(5)
    torch.manual_seed(77)
    _load(impl, tmp_path / "ckpt.pt", model, opt)
    expect_equal(torch.rand(5), expected, what="torch.rand(5) after load_checkpoint",
                 hint="save torch.get_rng_state() and restore it with torch.set_rng_state: it drives shuffling "
                      "and dropout")


@save_checkpoint
def test_load_checkpoint_restores_python_random(impl, tmp_path):
    model, opt, _ = _setup(0)
    random.seed(5)
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=0, step=0)
    expected = [random.random() for _ in range(3)]
    random.seed(77)
    _load(impl, tmp_path / "ckpt.pt", model, opt)
    got = [random.random() for _ in range(3)]
    expect(got == expected, f"random.random() after load_checkpoint gave {got}, expected {expected}",
           "save random.getstate() and restore it with random.setstate (augmentations often use it)")


@save_checkpoint
def test_load_checkpoint_restores_numpy_random(impl, tmp_path):
    model, opt, _ = _setup(0)
    np.random.seed(5)
    np.random.randn()  # leaves a cached Gaussian in the state: it must survive too
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=0, step=0)
    expected = np.random.randn(3)
    np.random.seed(77)
    _load(impl, tmp_path / "ckpt.pt", model, opt)
    got = np.random.randn(3)
    expect(np.array_equal(got, expected), f"np.random.randn(3) after load_checkpoint gave {got}, expected {expected}",
           "save all of np.random.get_state() (in types torch.load(weights_only=True) accepts) and restore it "
           "with np.random.set_state")


def _loader(dataset):
    return DataLoader(dataset, batch_size=6, shuffle=True)


def _train_epoch(model, opt, sched, loader) -> None:
    model.train()
    for xb, yb in loader:
        xb = xb + 0.01 * torch.from_numpy(np.random.randn(*xb.shape)).float()  # NumPy-driven noise
        if random.random() < 0.5:  # a Python-random-driven augmentation
            xb = -xb
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
    sched.step()


@save_checkpoint
def test_resume_at_epoch_boundary_reproduces_the_uninterrupted_run(impl, tmp_path):
    g = torch.Generator().manual_seed(3)
    data = TensorDataset(torch.randn(24, 4, generator=g), torch.randint(0, 3, (24,), generator=g))

    # uninterrupted: 2 epochs, checkpointing after the first as a real run would
    _seed_all(0)
    model, opt, sched = _setup(0, dropout=0.3)
    loader = _loader(data)
    _train_epoch(model, opt, sched, loader)
    impl.save_checkpoint(tmp_path / "a.pt", model, opt, scheduler=sched, epoch=1, step=4)
    _train_epoch(model, opt, sched, loader)

    # interrupted: 1 epoch, save, the process "dies", a new one starts elsewhere and resumes
    _seed_all(0)
    first, first_opt, first_sched = _setup(0, dropout=0.3)
    _train_epoch(first, first_opt, first_sched, _loader(data))
    impl.save_checkpoint(tmp_path / "b.pt", first, first_opt, scheduler=first_sched, epoch=1, step=4)
    _seed_all(1234)
    resumed, resumed_opt, resumed_sched = _setup(99, dropout=0.3)
    info = _load(impl, tmp_path / "b.pt", resumed, resumed_opt, scheduler=resumed_sched)
    expect(info["epoch"] == 1, f"expected to resume after epoch 1, got epoch {info['epoch']!r}")
    _train_epoch(resumed, resumed_opt, resumed_sched, _loader(data))

    _expect_same_params(
        resumed, model, "resumed run vs uninterrupted run after 2 epochs",
        "everything that shapes the next epoch must be restored: weights, Adam's moments, the scheduler, and "
        "the torch/Python/NumPy RNG states (DataLoader shuffle order, dropout masks, augmentations)")


@save_checkpoint
def test_repeated_saves_leave_no_temporary_files_behind(impl, tmp_path):
    model, opt, _ = _setup(0)
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=0, step=0)
    _train_steps(model, opt)
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=1, step=3)
    after_two = sorted(p.name for p in tmp_path.iterdir())
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=2, step=6)
    after_three = sorted(p.name for p in tmp_path.iterdir())
    expect("ckpt.pt" in after_three, f"after three saves the folder holds {after_three}, without ckpt.pt")
    expect(after_three == after_two,
           f"every save leaves another file behind: {after_two} after two saves, {after_three} after three",
           "the temporary file should become the checkpoint (os.replace), not stay behind")
    info = _load(impl, tmp_path / "ckpt.pt", _setup(1)[0])
    expect(info["epoch"] == 2, f"the last save should replace the earlier ones: got epoch {info['epoch']!r}")


@save_checkpoint
def test_save_renames_a_temporary_file_from_the_same_folder(impl, tmp_path, monkeypatch):
    renames = []
    for name in ("replace", "rename"):
        real = getattr(os, name)

        def spy(src, dst, *args, _real=real, **kwargs):
            renames.append((os.path.realpath(os.fspath(src)), os.path.realpath(os.fspath(dst))))
            return _real(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, name, spy)
    path = tmp_path / "ckpt.pt"
    model, opt, _ = _setup(0)
    impl.save_checkpoint(path, model, opt, epoch=0, step=0)
    onto = [src for src, dst in renames if dst == os.path.realpath(path)]
    hint = ("write the state to a temporary file next to the checkpoint, then os.replace(tmp, path): a rename "
            "within one folder (one file system) is atomic, so readers see the old file or the new one, never half")
    expect(onto, "the checkpoint was not put in place by os.replace (or os.rename) of a temporary file", hint)
    expect(all(os.path.dirname(src) == os.path.realpath(tmp_path) for src in onto),
           f"the temporary file {onto[0]} is not in the checkpoint's folder {tmp_path}", hint)


@save_checkpoint
def test_save_never_deletes_the_previous_checkpoint(impl, tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    model, opt, _ = _setup(0)
    impl.save_checkpoint(path, model, opt, epoch=1, step=10)
    deleted = []
    for name in ("remove", "unlink"):
        real = getattr(os, name)

        def spy(target, *args, _real=real, **kwargs):
            if os.path.realpath(os.fspath(target)) == os.path.realpath(path):
                deleted.append(os.fspath(target))
            return _real(target, *args, **kwargs)

        monkeypatch.setattr(os, name, spy)
    _train_steps(model, opt)
    impl.save_checkpoint(path, model, opt, epoch=2, step=20)
    monkeypatch.undo()
    expect(not deleted,
           "save_checkpoint deleted the previous checkpoint before putting the new one in place: a crash between the "
           "delete and the rename leaves no checkpoint at all",
           "os.replace(tmp, path) overwrites the old checkpoint in one atomic step (on every OS): no delete needed")
    info = _load(impl, path, _setup(1)[0])
    expect(info["epoch"] == 2, f"the second save should replace the first: got epoch {info['epoch']!r}")


@save_checkpoint
def test_crash_while_pickling_leaves_the_previous_checkpoint(impl, tmp_path):
    path = tmp_path / "ckpt.pt"
    model, opt, _ = _setup(0)
    impl.save_checkpoint(path, model, opt, epoch=1, step=10)
    saved = copy.deepcopy(model)
    _train_steps(model, opt)
    try:
        impl.save_checkpoint(path, model, opt, epoch=2, step=20, extra={"bad": CannotBePickled()})
    except NotImplementedError:
        raise
    except Exception:  # the crash we caused
        pass
    hint = ("torch.save onto the checkpoint itself truncates it first: a crash leaves no checkpoint at all. "
            "Save to a temporary file in the same folder, then os.replace it onto the checkpoint")
    fresh = _setup(1)[0]
    info = _call("after a crash in the middle of a save, the previous checkpoint cannot be loaded", hint,
                 impl.load_checkpoint, path, fresh)
    expect(info["epoch"] == 1, f"after the crashed save the checkpoint should still be epoch 1, got {info['epoch']!r}",
           hint)
    _expect_same_params(fresh, saved, "the checkpoint after a crashed save", hint)


@save_checkpoint
def test_crash_while_writing_leaves_the_previous_checkpoint(impl, tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    model, opt, _ = _setup(0)
    impl.save_checkpoint(path, model, opt, epoch=1, step=10)
    calls = []

    def save_half_then_crash(obj, f, *args, **kwargs):
        calls.append(f)
        half = b"PK\x03\x04 half a checkpoint, then the power went out"
        if hasattr(f, "write"):
            f.write(half)
            f.flush()
        else:
            with open(f, "wb") as out:
                out.write(half)
        raise OSError("simulated crash: no space left on device")

    monkeypatch.setattr(torch, "save", save_half_then_crash)
    monkeypatch.setattr(torch.serialization, "save", save_half_then_crash)
    try:
        impl.save_checkpoint(path, model, opt, epoch=2, step=20)
    except NotImplementedError:
        raise
    except Exception:  # the crash we caused
        pass
    monkeypatch.undo()
    if not calls:
        pytest.skip("save_checkpoint did not call torch.save through the torch module; this crash cannot be simulated")
    info = _load(impl, path, _setup(1)[0])
    expect(info["epoch"] == 1, f"after the crashed save the checkpoint should still be epoch 1, got {info['epoch']!r}",
           "write to a temporary file in the same folder and os.replace it onto the checkpoint only once complete")


@save_checkpoint
def test_save_and_load_take_a_str_path(impl, tmp_path):
    path = str(tmp_path / "ckpt.pt")  # a plain string, as most scripts pass it
    model, opt, _ = _setup(0)
    _train_steps(model, opt)
    hint = "path may be a str or a pathlib.Path: wrap it once, e.g. Path(path), or use os.path functions"
    for epoch in (1, 2):  # the second save replaces the first
        _call(f"save_checkpoint(str path, ...) raised (epoch {epoch})", hint, impl.save_checkpoint, path, model, opt,
              epoch=epoch, step=epoch)
    fresh = _setup(1)[0]
    info = _call("load_checkpoint(str path, ...) raised", hint, impl.load_checkpoint, path, fresh)
    expect(info["epoch"] == 2, f"after two saves to a str path the checkpoint holds epoch {info['epoch']!r}")
    _expect_same_params(fresh, model, "after a save and load through a str path", hint)
    expect(sorted(q.name for q in tmp_path.iterdir()) == ["ckpt.pt"],
           f"saving to a str path left {sorted(q.name for q in tmp_path.iterdir())} in the folder")


@save_checkpoint
def test_save_to_a_relative_path_writes_the_temporary_file_beside_it(impl, tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(run)
    renames = []
    for name in ("replace", "rename"):
        real = getattr(os, name)

        def spy(src, dst, *args, _real=real, **kwargs):
            renames.append((os.path.realpath(os.fspath(src)), os.path.realpath(os.fspath(dst))))
            return _real(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, name, spy)
    model, opt, _ = _setup(0)
    impl.save_checkpoint("ckpt.pt", model, opt, epoch=0, step=0)  # relative: its folder is the working directory
    onto = [src for src, dst in renames if dst == os.path.realpath(run / "ckpt.pt")]
    hint = ("the folder of a bare file name is the working directory: os.path.dirname('ckpt.pt') is '' (not None, "
            "which tempfile reads as the system's temporary folder); Path('ckpt.pt').parent is Path('.')")
    expect(onto, "the checkpoint at the relative path 'ckpt.pt' was not put in place by os.replace of a temporary "
           "file", hint)
    expect(all(os.path.dirname(src) == os.path.realpath(run) for src in onto),
           f"for the relative path 'ckpt.pt' the temporary file was {onto[0]}, not in the working directory {run}: a "
           "rename across file systems is a copy, not atomic", hint)


@save_checkpoint
def test_a_failed_save_raises_and_leaves_no_temporary_file(impl, tmp_path):
    path = tmp_path / "ckpt.pt"
    model, opt, _ = _setup(0)
    impl.save_checkpoint(path, model, opt, epoch=1, step=10)
    raised = None
    try:
        impl.save_checkpoint(path, model, opt, epoch=2, step=20, extra={"bad": CannotBePickled()})
    except NotImplementedError:
        raise
    except Exception as err:  # the crash we caused, in whatever wrapping torch.save gives it
        raised = err
    expect(raised is not None,
           "save_checkpoint returned normally although torch.save failed (an extra that cannot be pickled): the "
           "caller believes the state is saved",
           "remove the temporary file on the way out (try/except BaseException: unlink; raise), and re-raise")
    left = sorted(q.name for q in tmp_path.iterdir())
    expect(left == ["ckpt.pt"],
           f"after a failed save the folder holds {left}: the half-written temporary file stayed behind",
           "on an error, delete the temporary file before letting the error through (a `finally:` or "
           "`except BaseException:` around torch.save and os.replace)")


@save_checkpoint
@pytest.mark.cuda
def test_checkpoint_restores_cuda_model_and_cuda_rng(impl, tmp_path):
    model, opt, _ = _setup(0)
    model.cuda()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.randn(8, 4, device="cuda"), torch.randint(0, 3, (8,), device="cuda")
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()
    torch.cuda.manual_seed_all(5)
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=1, step=1)
    expected = torch.rand(5, device="cuda")
    torch.cuda.manual_seed_all(77)
    fresh = _setup(1)[0].cuda()
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1e-2)
    _load(impl, tmp_path / "ckpt.pt", fresh, fresh_opt)
    _expect_same_params(fresh, model, "a CUDA model after load_checkpoint", "load_state_dict copies onto the GPU")
    expect_equal(torch.rand(5, device="cuda"), expected, what="torch.rand(5, device='cuda') after load_checkpoint",
                 hint="save torch.cuda.get_rng_state_all() when CUDA is present and restore it")
    state = next(iter(fresh_opt.state.values()))
    expect(state["exp_avg"].is_cuda, "the restored Adam moments should live on the GPU with their parameters")


@save_checkpoint
@pytest.mark.cuda
def test_load_checkpoint_onto_cuda_with_map_location(impl, tmp_path):
    model, opt, _ = _setup(0)
    _train_steps(model, opt)
    torch.manual_seed(5)
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=1, step=3)
    expected = torch.rand(5)
    torch.manual_seed(77)
    fresh = _setup(1)[0].cuda()
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1e-2)
    _call("load_checkpoint(..., map_location='cuda') raised",
          "map_location moves every saved tensor, the RNG states too: torch.set_rng_state wants a CPU ByteTensor, "
          "so hand it state.cpu()", impl.load_checkpoint, tmp_path / "ckpt.pt", fresh, fresh_opt, map_location="cuda")
    _expect_same_params(fresh.cpu(), model, "a model loaded with map_location='cuda'", "load_state_dict copies it")
    expect_equal(torch.rand(5), expected, what="torch.rand(5) after load_checkpoint(map_location='cuda')",
                 hint="restore the CPU generator from the saved state, moved back to the CPU")


# ---------------------------------------------------------------- amp_train_step


def _amp_setup(seed: int = 0, device: str = "cpu"):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(seed + 1)
    x, y = torch.randn(16, 8, generator=g).to(device), torch.randn(16, 4, generator=g).to(device)
    return model, opt, x, y


def _reference_step(model, opt, x, y, loss_fn, *, device_type="cpu", dtype=torch.bfloat16, scaler=None) -> float:
    opt.zero_grad()
    with torch.autocast(device_type, dtype=dtype):
        loss = loss_fn(model(x), y)
    if scaler is None:
        loss.backward()
        opt.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    return loss.item()


def _clone(model, opt):
    model2 = copy.deepcopy(model)
    opt2 = type(opt)(model2.parameters(), **opt.defaults)
    opt2.load_state_dict(opt.state_dict())
    return model2, opt2


@amp_train_step
def test_amp_forward_runs_in_bfloat16(impl):
    model, opt, x, y = _amp_setup()
    seen = {}

    def record(i):
        def hook(module, inputs, out):
            seen.setdefault(i, out.dtype)

        return hook

    for i in (0, 2):
        model[i].register_forward_hook(record(i))
    impl.amp_train_step(model, x, y, F.mse_loss, opt)
    expect(len(seen) == 2, "the model's forward never ran")
    for i, out_dtype in seen.items():
        expect(out_dtype == torch.bfloat16, f"Linear {i}'s output was {out_dtype}, expected torch.bfloat16",
               "run the whole forward pass and the loss inside `with torch.autocast(device_type, dtype=dtype):`")


@amp_train_step
def test_amp_parameters_stay_float32(impl):
    model, opt, x, y = _amp_setup()
    impl.amp_train_step(model, x, y, F.mse_loss, opt)
    hint = ("autocast computes in low precision but keeps the float32 master weights; model.half() or "
            "model.to(bfloat16) throws them away")
    for name, p in model.named_parameters():
        expect_dtype(p, torch.float32, f"parameter {name} after the step", hint)
        if p.grad is not None:
            expect_dtype(p.grad, torch.float32, f"{name}.grad after the step", hint)


@amp_train_step
def test_amp_step_matches_the_reference(impl):
    model, opt, x, y = _amp_setup()
    ref_model, ref_opt = _clone(model, opt)
    for i in range(2):
        loss = impl.amp_train_step(model, x, y, F.mse_loss, opt)
        ref_loss = _reference_step(ref_model, ref_opt, x, y, F.mse_loss)
        expect(isinstance(loss, float), f"expected the loss as a Python float, got {type(loss).__name__}",
               "loss.item() gives a float (and frees the graph)")
        expect(abs(loss - ref_loss) <= 1e-6 * abs(ref_loss), f"step {i}: loss {loss} differs from {ref_loss}")
    for (name, p), q in zip(model.named_parameters(), ref_model.parameters(), strict=True):
        expect_close(p.detach(), q.detach(), what=f"parameter {name} after 2 steps", rtol=1e-5, atol=1e-7,
                     hint="one step: reset gradients, autocast forward and loss, backward, optimizer.step()")


@amp_train_step
def test_amp_step_takes_its_arguments_by_name(impl):
    model, opt, x, y = _amp_setup()
    ref_model, ref_opt = _clone(model, opt)
    loss = _call("amp_train_step(model=..., inputs=..., targets=..., loss_fn=..., optimizer=..., scaler=None, "
                 "device_type='cpu', dtype=torch.bfloat16) raised",
                 "keep the documented parameter names; device_type and dtype are keyword-only",
                 impl.amp_train_step, model=model, inputs=x, targets=y, loss_fn=F.mse_loss, optimizer=opt,
                 scaler=None, device_type="cpu", dtype=torch.bfloat16)
    ref_loss = _reference_step(ref_model, ref_opt, x, y, F.mse_loss)
    expect(abs(loss - ref_loss) <= 1e-6 * abs(ref_loss), f"the loss {loss} differs from {ref_loss}")


@amp_train_step
def test_amp_step_resets_stale_gradients_first(impl):
    model, opt, x, y = _amp_setup()
    ref_model, ref_opt = _clone(model, opt)
    for p in model.parameters():
        p.grad = torch.full_like(p, 100.0)  # left over from an earlier backward
    impl.amp_train_step(model, x, y, F.mse_loss, opt)
    _reference_step(ref_model, ref_opt, x, y, F.mse_loss)
    for (name, p), q in zip(model.named_parameters(), ref_model.parameters(), strict=True):
        expect_close(p.detach(), q.detach(), what=f"parameter {name}", rtol=1e-5, atol=1e-7,
                     hint="backward() adds into .grad: reset the gradients (optimizer.zero_grad()) before the "
                          "forward pass, or the previous step's gradients leak into this one")


@amp_train_step
def test_amp_step_with_grad_scaler_matches_the_reference(impl):
    model, opt, x, y = _amp_setup()
    ref_model, ref_opt = _clone(model, opt)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    ref_scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    for _ in range(2):
        _call("a step with a GradScaler raised", "call scaler.update() after scaler.step(optimizer) in every step",
              impl.amp_train_step, model, x, y, F.mse_loss, opt, scaler, dtype=torch.float16, errors=(RuntimeError,))
        _reference_step(ref_model, ref_opt, x, y, F.mse_loss, dtype=torch.float16, scaler=ref_scaler)
    for (name, p), q in zip(model.named_parameters(), ref_model.parameters(), strict=True):
        expect_close(p.detach(), q.detach(), what=f"parameter {name} after 2 scaled float16 steps", rtol=1e-5,
                     atol=1e-7, hint="scaler.scale(loss).backward(); scaler.step(optimizer); scaler.update()")


@amp_train_step
def test_amp_step_with_grad_scaler_returns_the_unscaled_loss(impl):
    model, opt, x, y = _amp_setup()
    ref_model, ref_opt = _clone(model, opt)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    ref_scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    loss = _call("a step with a GradScaler raised", "call scaler.update() after scaler.step(optimizer) in every step",
                 impl.amp_train_step, model, x, y, F.mse_loss, opt, scaler, dtype=torch.float16,
                 errors=(RuntimeError,))
    ref_loss = _reference_step(ref_model, ref_opt, x, y, F.mse_loss, dtype=torch.float16, scaler=ref_scaler)
    expect(isinstance(loss, float), f"expected the loss as a Python float, got {type(loss).__name__}")
    expect(abs(loss - ref_loss) <= 1e-6 * abs(ref_loss),
           f"with a GradScaler (scale 256) the step returned {loss}, but the loss is {ref_loss}"
           + (" (the scaled loss, 256 times too big)" if abs(loss - 256 * ref_loss) <= 1e-3 * abs(ref_loss) else ""),
           "return the loss itself (loss.item()); scaler.scale(loss) is only for the backward pass")


@amp_train_step
def test_amp_step_with_inf_gradients_is_skipped_and_the_scale_lowered(impl):
    model, opt, x, y = _amp_setup()
    before = copy.deepcopy(model)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)

    def exploding_loss(out, target):
        return F.mse_loss(out, target) * float("inf")  # every gradient becomes inf or NaN

    impl.amp_train_step(model, x, y, exploding_loss, opt, scaler, dtype=torch.float16)
    _expect_same_params(model, before, "after a step whose gradients are inf",
                        "let scaler.step(optimizer) take the step: it skips it when a gradient is inf or NaN")
    expect(scaler.get_scale() < 2.0**8,
           f"the loss scale is still {scaler.get_scale()} after an overflowing step, expected it lowered",
           "scaler.update() after scaler.step() lowers the scale when the step was skipped")


class Boom(Exception):
    """The error a test makes the loss function raise."""


def _classes_setup(seed: int = 0):
    model, opt, x, _ = _amp_setup(seed)
    y = torch.randint(0, 4, (16,), generator=torch.Generator().manual_seed(seed + 2))
    return model, opt, x, y


@amp_train_step
def test_amp_loss_runs_under_autocast(impl):
    model, opt, x, y = _amp_setup()
    seen = []

    def probed_loss(out, target):
        enabled = torch.is_autocast_enabled("cpu")
        seen.append((enabled, torch.get_autocast_dtype("cpu") if enabled else None, out.dtype))
        return F.mse_loss(out, target)

    impl.amp_train_step(model, x, y, probed_loss, opt)
    expect(len(seen) == 1, f"loss_fn was called {len(seen)} times in one step; expected once")
    enabled, dtype, out_dtype = seen[0]
    expect(out_dtype == torch.bfloat16, f"the model's output reached loss_fn as {out_dtype}, expected torch.bfloat16",
           "the forward pass runs under torch.autocast")
    expect(enabled and dtype == torch.bfloat16,
           "loss_fn ran outside autocast" if not enabled else f"loss_fn ran under autocast to {dtype}, not bfloat16",
           "compute the loss inside the same `with torch.autocast(device_type, dtype=dtype):` block as the forward "
           "pass: autocast runs losses and softmax in float32 there, outside it they run in the outputs' precision")
    expect(not torch.is_autocast_enabled("cpu"), "autocast is still on after amp_train_step returned",
           "use torch.autocast as a `with` block: it ends with the block")


@amp_train_step
def test_amp_cross_entropy_step_matches_the_reference_closely(impl):
    model, opt, x, y = _classes_setup()
    ref_model, ref_opt = _clone(model, opt)
    for i in range(2):
        loss = impl.amp_train_step(model, x, y, F.cross_entropy, opt)
        ref_loss = _reference_step(ref_model, ref_opt, x, y, F.cross_entropy)
        expect(isinstance(loss, float), f"expected the loss as a Python float, got {type(loss).__name__}")
        expect(abs(loss - ref_loss) <= 1e-6 * abs(ref_loss),
               f"step {i}: the cross-entropy loss is {loss}; the autocast step gives {ref_loss}",
               "under autocast cross_entropy runs in float32; computed after the autocast block on bfloat16 "
               "logits it runs in bfloat16, about 3 significant digits")
    for (name, p), q in zip(model.named_parameters(), ref_model.parameters(), strict=True):
        expect_close(p.detach(), q.detach(), what=f"parameter {name} after 2 cross-entropy steps", rtol=1e-6,
                     atol=1e-8, hint="forward and loss inside one autocast block, backward and step after it")


@amp_train_step
def test_amp_step_leaves_autocast_off_when_the_loss_raises(impl):
    model, opt, x, y = _amp_setup()

    def failing_loss(out, target):
        raise Boom("the loss function failed")

    try:
        impl.amp_train_step(model, x, y, failing_loss, opt)
    except Boom:
        pass
    else:
        fail("loss_fn raised inside amp_train_step, and the step returned normally",
             "let the error reach the caller")
    expect(not torch.is_autocast_enabled("cpu"),
           "loss_fn raised inside amp_train_step, and autocast was left on: everything the caller runs next "
           "computes in bfloat16",
           "use torch.autocast as a `with` block: it switches autocast off on every way out, an error included")


@amp_train_step
@pytest.mark.cuda
def test_amp_step_on_cuda_float16_with_grad_scaler(impl):
    model, opt, x, y = _amp_setup(device="cuda")
    ref_model, ref_opt = _clone(model, opt)
    seen, loss_regime = [], []
    model[0].register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))

    def probed_loss(out, target):
        loss_regime.append(torch.is_autocast_enabled("cuda") and torch.get_autocast_dtype("cuda") == torch.float16)
        return F.mse_loss(out, target)

    scaler = torch.amp.GradScaler("cuda", init_scale=2.0**8)
    ref_scaler = torch.amp.GradScaler("cuda", init_scale=2.0**8)
    for _ in range(2):
        impl.amp_train_step(model, x, y, probed_loss, opt, scaler, device_type="cuda", dtype=torch.float16)
        _reference_step(ref_model, ref_opt, x, y, F.mse_loss, device_type="cuda", dtype=torch.float16,
                        scaler=ref_scaler)
    expect(seen and seen[0] == torch.float16, f"the first Linear's output was {seen[:1]}, expected torch.float16")
    expect(loss_regime and all(loss_regime), "loss_fn ran outside autocast to float16 on cuda",
           "compute the loss inside the autocast block, with the forward pass")
    for (name, p), q in zip(model.named_parameters(), ref_model.parameters(), strict=True):
        expect_dtype(p, torch.float32, f"parameter {name}")
        expect_close(p.detach(), q.detach(), what=f"parameter {name} after 2 steps", rtol=1e-4, atol=1e-5)


@amp_train_step
@pytest.mark.cuda
def test_amp_step_on_cuda_skips_inf_step_and_lowers_scale(impl):
    model, opt, x, y = _amp_setup(device="cuda")
    before = copy.deepcopy(model)
    scaler = torch.amp.GradScaler("cuda", init_scale=2.0**8)

    def exploding_loss(out, target):
        return F.mse_loss(out, target) * float("inf")

    impl.amp_train_step(model, x, y, exploding_loss, opt, scaler, device_type="cuda", dtype=torch.float16)
    _expect_same_params(model, before, "after a CUDA step whose gradients are inf", "let scaler.step skip it")
    expect(scaler.get_scale() < 2.0**8, f"the loss scale is still {scaler.get_scale()}, expected it lowered",
           "call scaler.update() after scaler.step()")
    impl.amp_train_step(model, x, y, F.mse_loss, opt, scaler, device_type="cuda", dtype=torch.float16)
    expect(any(not torch.equal(p, q) for p, q in zip(model.parameters(), before.parameters(), strict=True)),
           "the next, finite step did not change the parameters")


# ---------------------------------------------------------------- peak_memory_bytes (CUDA only)


@peak_memory_bytes
@pytest.mark.cuda
def test_peak_memory_covers_a_big_temporary(impl):
    nbytes = 64 * MiB

    def fn():
        tmp = torch.ones(nbytes // 4, device="cuda")  # float32: 4 bytes an element
        return tmp.sum()

    peak = impl.peak_memory_bytes(fn, "cuda")
    expect(isinstance(peak, int), f"expected a Python int, got {type(peak).__name__}")
    expect(peak >= nbytes, f"fn allocates a {nbytes} byte temporary, but the reported peak is {peak}",
           "torch.cuda.max_memory_allocated(device) after the run, with the peak reset before it")
    peak = impl.peak_memory_bytes(fn, torch.device("cuda"))
    expect(peak >= nbytes, f"with device=torch.device('cuda') the reported peak is {peak} < {nbytes}")


@peak_memory_bytes
@pytest.mark.cuda
def test_peak_memory_is_reset_before_running(impl):
    big = torch.empty(256 * MiB // 4, device="cuda")  # an earlier, bigger peak
    del big
    torch.cuda.synchronize()
    baseline = torch.cuda.memory_allocated()
    peak = impl.peak_memory_bytes(lambda: torch.ones(MiB // 4, device="cuda").sum(), "cuda")
    expect(peak >= MiB, f"fn allocates 1 MiB but the reported peak is {peak} bytes")
    expect(peak < baseline + 64 * MiB,
           f"the peak of a 1 MiB fn is reported as {peak / MiB:.1f} MiB: an earlier 256 MiB peak leaked in",
           "torch.cuda.reset_peak_memory_stats(device) before running fn")


@peak_memory_bytes
@pytest.mark.cuda
def test_peak_memory_counts_tensors_alive_before_fn(impl):
    torch.cuda.synchronize()
    kept = torch.empty(32 * MiB // 4, device="cuda")  # alive during fn: it is part of the device's peak
    before = torch.cuda.memory_allocated()
    peak = impl.peak_memory_bytes(lambda: torch.ones(4 * MiB // 4, device="cuda").sum(), "cuda")
    del kept
    expect(isinstance(peak, int), f"expected a Python int, got {type(peak).__name__}")
    expect(peak >= before + 4 * MiB,
           f"with {before / MiB:.1f} MiB already allocated and a 4 MiB temporary, the reported peak is "
           f"{peak / MiB:.1f} MiB",
           "report torch.cuda.max_memory_allocated(device) as it is: the peak of the device, tensors allocated "
           "before fn included, not the growth during fn")


@peak_memory_bytes
@pytest.mark.cuda
def test_peak_memory_is_read_after_synchronizing(impl, monkeypatch):
    fn_returned = [False]
    busy_reads = []

    def spy(real):
        def read(*args, **kwargs):
            if fn_returned[0]:
                if not torch.cuda.current_stream().query():
                    busy_reads.append(real.__name__)
            return real(*args, **kwargs)

        return read

    for name in ("_cuda_memoryStats", "_accelerator_getDeviceStats"):  # under every memory-stats reader
        if hasattr(torch._C, name):
            monkeypatch.setattr(torch._C, name, spy(getattr(torch._C, name)))

    def fn():
        tmp = torch.ones(4 * MiB, device="cuda")
        torch.cuda._sleep(200_000_000)  # ~0.1 s of GPU work queued behind the Python call
        tmp.add_(1.0)
        fn_returned[0] = True

    impl.peak_memory_bytes(fn, "cuda")
    monkeypatch.undo()
    torch.cuda.synchronize()
    expect(not busy_reads,
           "the memory statistics were read while the GPU was still running fn's work",
           "CUDA calls return before the GPU finishes: torch.cuda.synchronize(device) after fn(), then read")


# ---------------------------------------------------------------- demo


@demo
def test_demo_resumes_exactly(impl):
    from demos.production import main

    out = main(impl.module, quick=True)
    expect(isinstance(out, dict), f"the demo should return a dict of headline numbers, got {type(out).__name__}")
    expect(out["resumed_checksum"] == out["uninterrupted_checksum"],
           f"the resumed run's checksum {out['resumed_checksum']} differs from the uninterrupted "
           f"{out['uninterrupted_checksum']}", "make test_resume_at_epoch_boundary... pass first")
    expect(out["autocast_output_dtype"] == "torch.bfloat16" and out["param_dtype"] == "torch.float32",
           f"the demo's autocast step reports output {out['autocast_output_dtype']} and params {out['param_dtype']}")
    if torch.cuda.is_available():
        peaks = out["peak_bytes"]
        expect(peaks and all(isinstance(v, int) and v > 0 for v in peaks.values()),
               f"with CUDA the demo should report positive peak bytes, got {peaks}")


# ---------------------------------------------------------------- counted on any machine: the CUDA lessons' CPU twins


@amp_train_step
def test_amp_step_keeps_the_activations_for_backward_in_bfloat16(impl):
    """The CPU twin of the peak-memory lesson: what autograd saves during the step, counted, not read from CUDA."""
    from kata.learn.counters import count_saved_bytes

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 1024), nn.ReLU(), nn.Linear(1024, 8))  # the hidden layer dominates
    ref = copy.deepcopy(model)
    x, y = torch.randn(256, 64), torch.randn(256, 8)
    _, amp = count_saved_bytes(impl.amp_train_step, model, x, y, F.mse_loss, torch.optim.SGD(model.parameters(), 0.01))
    _, fp32 = count_saved_bytes(lambda: F.mse_loss(ref(x), y).backward())
    expect(amp <= 0.6 * fp32,
           f"the bfloat16 autocast step kept {amp:,} bytes for backward; a float32 step keeps {fp32:,} "
           f"({amp / fp32:.2f}x, expected at most 0.6x)",
           "under torch.autocast the matmuls' inputs and outputs are bfloat16, so the activations saved for "
           "backward take half the bytes: the forward belongs inside the autocast block")


@save_checkpoint
def test_checkpoint_holds_the_weights_and_both_adam_moments(impl, tmp_path):
    """What a checkpoint holds, counted: with Adam, the weights and two moments, about 3x the weights' bytes."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 64))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    F.mse_loss(model(torch.randn(8, 64)), torch.randn(8, 64)).backward()
    opt.step()
    impl.save_checkpoint(tmp_path / "ckpt.pt", model, opt, epoch=1, step=1)

    def tensor_bytes(obj) -> int:
        if isinstance(obj, torch.Tensor):
            return obj.untyped_storage().nbytes()
        if isinstance(obj, dict):
            return sum(tensor_bytes(v) for v in obj.values())
        if isinstance(obj, (list, tuple)):
            return sum(tensor_bytes(v) for v in obj)
        return 0

    held = tensor_bytes(torch.load(tmp_path / "ckpt.pt", weights_only=True))
    weights = sum(p.nbytes for p in model.parameters())
    expect(held >= 3 * weights,
           f"the checkpoint holds {held:,} bytes of tensors; the weights alone are {weights:,}, and Adam adds two "
           f"moments of the same size: at least {3 * weights:,}",
           "save optimizer.state_dict(): Adam's exp_avg and exp_avg_sq are as big as the weights, and training "
           "state as much as they are")
