"""Topic 1 - tensors: devices, moving nested containers, NumPy, bytes."""

import pytest
import torch

from kata.checks import expect, expect_raises

pick_device = pytest.mark.exercise("pick_device")


@pick_device
def test_pick_device_default_follows_availability(impl, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    got = impl.pick_device()
    expect(isinstance(got, torch.device), f"expected a torch.device, got {type(got).__name__}")
    expect(got.type == "cpu", f"with neither CUDA nor MPS available expected cpu, got {got}")


@pick_device
def test_pick_device_unavailable_preferred_raises(impl, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with expect_raises(ValueError, "pick_device('cuda') without CUDA", names="cuda"):
        impl.pick_device("cuda")
