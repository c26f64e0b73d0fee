"""Region statistics over a label volume: which labels touch, and their mean values.

The condensation's nodes are the basins of :mod:`napari_cuts.engine.hierarchy.basins`; merging only along
the graph of which basins touch keeps every region connected.
"""

from __future__ import annotations

import numpy as np


def region_means(labels: np.ndarray, values: np.ndarray, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(n, F) mean of `values` (..., F) over every label, and the (n,) pixel counts."""
    flat = labels.ravel()
    n = int(flat.max()) + 1 if n is None else n
    counts = np.bincount(flat, minlength=n).astype(np.float64)
    vals = values.reshape(len(flat), -1)
    sums = np.stack([np.bincount(flat, vals[:, f], minlength=n) for f in range(vals.shape[1])], 1)
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32), counts



def pooled(partition: np.ndarray, values: np.ndarray, counts: np.ndarray,
           minlength: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mass-weighted mean of node `values` over the clusters of `partition` (at least
    `minlength` of them; 0 for a cluster without nodes), and their mass."""
    m = max(int(partition.max()) + 1, minlength)
    mass = np.bincount(partition, counts, minlength=m)
    means = np.stack([np.bincount(partition, values[:, f] * counts, minlength=m)
                      for f in range(values.shape[1])], 1) / np.maximum(mass, 1e-300)[:, None]
    return means, mass


def boundaries(labels: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) of labels that touch, and per pair the sum over their shared pixel
    faces of `values` (the mean of the two pixels') and the number of faces: (E, 2)."""
    keys, sums, n = [], [], int(labels.max()) + 1
    for axis in range(labels.ndim):
        if labels.shape[axis] < 2:
            continue
        a = np.moveaxis(labels, axis, 0)
        v = np.moveaxis(values, axis, 0)
        lo, hi = a[:-1].ravel(), a[1:].ravel()
        diff = lo != hi
        keys.append(np.minimum(lo[diff], hi[diff]).astype(np.int64) * n + np.maximum(lo[diff], hi[diff]))
        sums.append(((v[:-1].ravel()[diff] + v[1:].ravel()[diff]) / 2).astype(np.float64))
    if not keys:
        return np.zeros((0, 2), np.int64), np.zeros((0, 2))
    k, inv = np.unique(np.concatenate(keys), return_inverse=True)
    inv = inv.ravel()
    s = np.concatenate(sums)
    out = np.stack([np.bincount(inv, s, minlength=len(k)), np.bincount(inv, minlength=len(k)).astype(np.float64)], 1)
    return np.stack([k // n, k % n], 1), out


def boundary_means(sums: np.ndarray) -> np.ndarray:
    """Mean value along each boundary from (E, 2) sums and face counts (:func:`boundaries`)."""
    return sums[:, 0] / np.maximum(sums[:, 1], 1)


def contract(labels: np.ndarray, edges: np.ndarray, sums: np.ndarray | None = None):
    """The edges between the groups of `labels` (a partition of the nodes) that touch,
    and per new edge the sum of `sums` ((E, k) per old edge) over the old edges it joins
    (``None`` without `sums`)."""
    ci, cj = labels[edges[:, 0]], labels[edges[:, 1]]
    keep = ci != cj
    k = int(labels.max()) + 1
    keys, inv = np.unique(np.minimum(ci[keep], cj[keep]) * k + np.maximum(ci[keep], cj[keep]), return_inverse=True)
    out = None
    if sums is not None:
        inv = inv.ravel()
        out = np.stack([np.bincount(inv, sums[keep, c], minlength=len(keys)) for c in range(sums.shape[1])], 1)
    return np.stack([keys // k, keys % k], 1), out
