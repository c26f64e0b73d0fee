"""Lloyd's k-means on torch, for the benchmarks' k-means baselines (not used by napari-cuts)."""

from __future__ import annotations

import numpy as np
import torch


def _nearest(points: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centre: argmin of |c|^2 - 2 p.c (|p|^2 does not matter)."""
    cc = (centres * centres).sum(1)
    return torch.addmm(cc[None, :], points, centres.T, alpha=-2).argmin(1)


def assign_nearest(points: np.ndarray, centres: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """Index of the nearest centre for every point, computed in chunks."""
    c = torch.from_numpy(np.ascontiguousarray(centres, np.float32))
    out = np.empty(len(points), np.int32)
    with torch.inference_mode():
        for i in range(0, len(points), chunk):
            p = torch.from_numpy(np.ascontiguousarray(points[i : i + chunk], np.float32))
            out[i : i + chunk] = _nearest(p, c).numpy()
    return out


def kmeans(
    points: np.ndarray, k: int, *, iterations: int = 10, seed: int = 0
) -> np.ndarray:
    """Lloyd's k-means from random seeds; returns the (k', d) centres (k' <= k)."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(np.ascontiguousarray(points, np.float32))
    n = len(x)
    k = min(k, n)
    # Seeds: distinct random points (k-means++ costs k passes over the data, too slow
    # for the ~1000 nodes wanted here; Lloyd iterations then spread the centres).
    c = x[np.sort(rng.choice(n, k, replace=False))].clone()
    for _ in range(iterations):
        lab = _nearest(x, c)
        counts = torch.bincount(lab, minlength=len(c)).float()
        sums = torch.zeros_like(c).index_add_(0, lab, x)
        keep = counts > 0
        new = c.clone()
        new[keep] = sums[keep] / counts[keep, None]
        moved = float((new - c).abs().max())
        c = new[keep]
        if moved < 1e-6:
            break
    return c.numpy()
