"""Topic 1 - tensor lifecycle: where a tensor lives, how it moves, and what it costs in bytes."""

from __future__ import annotations

import torch


def pick_device(preferred: str | None = None) -> torch.device:
    """Choose the device to compute on.

    Args:
        preferred: a device string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"mps"``, or
            None to pick the best available: ``cuda`` if ``torch.cuda.is_available()``, else
            ``mps`` if ``torch.backends.mps.is_available()``, else ``cpu``.

    Returns:
        a ``torch.device``.

    Raises:
        ValueError: ``preferred`` names a device that is not available here (the message names it).

    Pitfall: asking for ``"cuda"`` on a machine without one should fail loudly here, not later in
    the middle of a training step.
    """
    if preferred is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(preferred)
    if device.type == "cuda":
        available = torch.cuda.is_available() and (device.index is None or device.index < torch.cuda.device_count())
    elif device.type == "mps":
        available = torch.backends.mps.is_available()
    else:
        available = device.type == "cpu"
    if not available:
        raise ValueError(f"device {preferred!r} is not available on this machine")
    return device
