"""Demo of tensors: where a tensor lives, and what moving and casting it costs.

    python -m exercises.tensors [--quick]

Prints the bytes of a model in float32 and bfloat16 (parameters vs buffers, elements vs bytes),
moves a nested batch to the compute device, and times host<->device copies (pageable vs pinned
memory) when CUDA is present, or dtype casts on the CPU otherwise.
"""

from __future__ import annotations

import time
from collections import namedtuple

import torch
from torch import nn

import demos

Batch = namedtuple("Batch", "images labels")


def _model(quick: bool) -> nn.Module:
    if quick:
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Flatten(),
                             nn.Linear(16 * 8 * 8, 10))
    from torchvision.models import resnet18

    return resnet18(weights=None)  # 11.7M parameters, random init: no download


def _time_ms(fn, sync, repeats: int) -> float:
    fn()  # warm-up (allocator, kernels)
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats * 1e3


def _mb(n: int) -> str:
    return f"{n / 2**20:8.2f} MiB"


def main(m, *, quick: bool = False, save_png: str | None = None) -> dict:
    device = demos.device()
    print(f"compute device: {device}   (pick_device() says {m.pick_device()})")

    # 1. bytes of a model: elements are not bytes, and buffers count too
    model = _model(quick)
    n_params = sum(p.numel() for p in model.parameters())
    fp32 = m.module_nbytes(model)
    fp32_params = m.module_nbytes(model, include_buffers=False)
    bf16_model = model.to(torch.bfloat16)  # casts floating-point params and buffers only
    bf16 = m.module_nbytes(bf16_model)
    print(f"\nmodel: {type(model).__name__}, {n_params:,} parameters")
    print(f"  float32 : {_mb(fp32)}  ({_mb(fp32_params)} parameters + {_mb(fp32 - fp32_params)} buffers)")
    print(f"  bfloat16: {_mb(bf16)}  ({bf16 / fp32:.4f} of float32: int64 num_batches_tracked stays 8 bytes)")
    print(f"  Adam adds two float32 moments per parameter: +{_mb(2 * 4 * n_params)} during training")

    # 2. a nested batch moved in one call; labels keep int64 when casting to bfloat16
    images, labels = torch.rand(32, 1, 8, 8), torch.randint(0, 10, (32,))
    batch = {"batch": Batch(images, labels), "ids": list(range(3)), "note": "kept as is"}
    moved = m.move_to(batch, device, dtype=torch.bfloat16)
    b = moved["batch"]
    print(f"\nmove_to(batch, {device}, dtype=bfloat16):")
    print(f"  images {tuple(b.images.shape)} {b.images.dtype} on {b.images.device}, {m.tensor_nbytes(b.images)} bytes "
          f"(was {m.tensor_nbytes(images)})")
    print(f"  labels {tuple(b.labels.shape)} {b.labels.dtype} on {b.labels.device} (labels are never cast)")
    same = moved["note"] is batch["note"]
    print(f"  type(moved['batch']) is {type(b).__name__}; moved['note'] is batch['note']: {same}")
    print(f"  to_numpy(bfloat16 tensor).dtype = {m.to_numpy(b.images).dtype} (NumPy has no bfloat16)")

    # 3. what a move or a cast costs
    n = 2**20 if quick else 2**23  # 4 MiB or 32 MiB of float32
    repeats = 3 if quick else 5
    x = torch.rand(n)
    nbytes = m.tensor_nbytes(x)
    timings: dict[str, float] = {}
    if device.type == "cuda":
        def sync():
            torch.cuda.synchronize()

        pinned = x.pin_memory()
        on_gpu = x.to(device)
        timings["host->device pageable"] = _time_ms(lambda: x.to(device), sync, repeats)
        timings["host->device pinned, non_blocking"] = _time_ms(
            lambda: pinned.to(device, non_blocking=True), sync, repeats)
        timings["device->host"] = _time_ms(lambda: on_gpu.to("cpu"), sync, repeats)
        title = f"copies of {_mb(nbytes)} (float32)"
    else:
        def sync():
            pass

        for dt in (torch.bfloat16, torch.float16, torch.float64):
            timings[f"float32 -> {str(dt).removeprefix('torch.')}"] = _time_ms(lambda dt=dt: x.to(dt), sync, repeats)
        timings["copy float32 (clone)"] = _time_ms(lambda: x.clone(), sync, repeats)
        title = f"CPU casts of {_mb(nbytes)} (float32); no CUDA here, so no host<->device copies to time"
    print(f"\n{title}:")
    for name, ms in timings.items():
        print(f"  {name:<36} {ms:8.3f} ms  ({nbytes / ms / 1e6:6.2f} GB/s)")
    fast, slow = min(timings, key=timings.get), max(timings, key=timings.get)
    print(f"  -> {fast} is the fastest here ({timings[fast]:.3f} ms), {slow} the slowest ({timings[slow]:.3f} ms, "
          f"{timings[slow] / timings[fast]:.1f} times as long) for the same {_mb(nbytes).strip()}: moving and "
          "converting bytes costs time, so convert and move once, not per step")

    return {
        "device": str(device),
        "n_params": n_params,
        "fp32_bytes": fp32,
        "bf16_bytes": bf16,
        "fp32_param_bytes": fp32_params,
        "timings_ms": timings,
    }
