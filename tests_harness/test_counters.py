"""The cost counters of kata/learn/counters.py on their own: each counts what it claims, names the
line that caused a synchronisation, and agrees with PyTorch's own instruments."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kata.learn.counters import CostCounter, count_costs, count_flops, count_saved_bytes


def _reads_back(t: torch.Tensor) -> float:
    return t.sum().item()  # the line a sync message must name


def test_item_float_and_bool_each_count_one_sync():
    t = torch.ones(3)
    _, costs = count_costs(lambda: (t.sum().item(), float(t[0]), bool(t[1] > 0)))
    assert len(costs.syncs) == 3 and costs.host_syncs == 3


def test_arithmetic_on_the_device_counts_no_sync():
    t = torch.ones(3)
    _, costs = count_costs(lambda: (t * 2 + 1).mean())
    assert costs.host_syncs == 0 and costs.ops >= 3


def test_a_sync_names_the_line_and_code_that_caused_it():
    _, costs = count_costs(_reads_back, torch.ones(2))
    text = costs.describe_syncs("fn", expected=0)
    assert "fn synchronised with the host 1 time (expected 0)" in text
    assert "`return t.sum().item()" in text and "test_counters.py" in text
    assert f"line {_reads_back.__code__.co_firstlineno + 1} " in text


def test_copies_from_meta_to_the_cpu_count_before_they_fail():
    t = torch.empty(4, device="meta")
    with pytest.raises(NotImplementedError) as info:
        count_costs(lambda: t.cpu())
    assert len(info.value.costs.copies_to_host) == 1
    assert "a copy to the CPU" in info.value.costs.describe_syncs("step", expected=0)


def test_item_on_meta_counts_before_it_fails():
    t = torch.empty((), device="meta")
    with pytest.raises(RuntimeError) as info:
        count_costs(lambda: t.item())
    assert info.value.costs.host_syncs == 1


def test_cpu_to_cpu_copies_are_not_host_syncs():
    t = torch.ones(3)
    _, costs = count_costs(lambda: (t.cpu(), t.to("cpu", copy=True), t.clone().copy_(t)))
    assert costs.host_syncs == 0


def test_memory_tracking_finds_the_largest_new_storage_and_ignores_views():
    x = torch.empty(64, 32, device="meta")
    _, costs = count_costs(lambda: (x[:, None, :].expand(64, 16, 32), x.t(), x * 2), memory=True)
    assert costs.largest_bytes == 64 * 32 * 4  # only x * 2 is new: expand and t are views
    assert costs.real_bytes == 0


def test_real_bytes_count_cpu_allocations_only():
    _, costs = count_costs(lambda: (torch.zeros(256), torch.zeros(1024, device="meta")), memory=True)
    assert costs.real_bytes == 256 * 4


def test_without_memory_tracking_nothing_is_inspected():
    _, costs = count_costs(lambda: torch.zeros(256), memory=False)
    assert isinstance(costs, CostCounter) and costs.real_bytes == 0 and costs.largest_bytes == 0


def test_flops_agree_with_flop_counter_mode():
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    x = torch.randn(5, 8)
    with FlopCounterMode(display=False) as reference:
        model(x).sum().backward()
    _, flops = count_flops(lambda: model(x).sum().backward())
    assert flops == reference.get_total_flops() > 0


def test_flops_of_a_matmul():
    _, flops = count_flops(torch.mm, torch.randn(3, 4), torch.randn(4, 5))
    assert flops == 2 * 3 * 4 * 5


def test_saved_bytes_count_a_storage_once_and_skip_parameters():
    w = torch.randn(6, 10, requires_grad=True)
    _, saved = count_saved_bytes(lambda: w.t() @ w)
    assert saved == 6 * 10 * 4
    layer, x = nn.Linear(10, 7), torch.randn(3, 10, requires_grad=True)
    _, saved = count_saved_bytes(layer, x)
    assert saved == 3 * 10 * 4  # the input; the weight.t() the Linear also saves is a parameter


def test_saved_bytes_tell_meta_storages_apart():
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))
        x = torch.empty(16, 32)
    _, saved = count_saved_bytes(model, x)
    assert saved == 4 * 16 * 32 + 4 * 16 * 64


def test_saved_bytes_under_no_grad_are_zero():
    with torch.no_grad():
        _, saved = count_saved_bytes(nn.Linear(4, 4), torch.randn(2, 4))
    assert saved == 0
