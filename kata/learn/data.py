"""Small, offline data for tests and demos: the handwritten digits bundled with scikit-learn.

1,797 grey 8x8 images of the digits 0-9 (the UCI "Optical Recognition of Handwritten Digits"
set, pixel values 0..16), read from scikit-learn's package files: no download, ever.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch


@functools.cache
def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    # The same file sklearn.datasets.load_digits() reads, read directly: importing scikit-learn
    # costs a second or more, the file itself about 0.1 s.
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the digits data ships inside scikit-learn: pip install -r requirements.txt")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    table = np.loadtxt(path, delimiter=",")  # (N, 65): 64 pixels then the label
    x = torch.tensor(table[:, :64], dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0  # (N, 1, 8, 8) in [0, 1]
    y = torch.tensor(table[:, 64], dtype=torch.int64)  # (N,)
    return x, y


def digits(split: str = "all", *, test_fraction: float = 0.25, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images `(N, 1, 8, 8)` float32 in [0, 1] and labels `(N,)` int64.

    `split` is "train", "test" or "all"; the split is a fixed seeded permutation, the same for
    every caller with the same `seed` and `test_fraction`. Returns fresh tensors (safe to modify).
    """
    x, y = _digits()
    if split == "all":
        return x.clone(), y.clone()
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = round(len(y) * test_fraction)
    idx = {"test": perm[:n_test], "train": perm[n_test:]}[split]
    return x[idx].clone(), y[idx].clone()


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A list of `(inputs, targets)` batches in order; the last one may be smaller."""
    return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(y), batch_size)]
