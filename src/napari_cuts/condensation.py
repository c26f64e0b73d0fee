"""Diffusion condensation on compressed pixel vectors (our own, O(pixels) implementation).

1. :class:`PCA` reduces the vectors; it is fitted on a sample of pixels.
2. :func:`kmeans` compresses the pixels to at most a few thousand weighted nodes.
3. :func:`condense` repeatedly diffuses the nodes over their kNN graph with a Gaussian
   kernel (X <- P X), merges nodes that come closer than a threshold, and grows the
   bandwidth when nothing merges, until one cluster is left. Every merge is a partition.

Only the nodes are ever compared pairwise, so time and memory grow linearly with the
number of pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generator

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


@dataclass
class PCA:
    """Principal-component projection fitted on a sample of vectors."""

    mean: np.ndarray
    components: np.ndarray  # (D, d)

    @classmethod
    def fit(cls, vectors: np.ndarray, n_components: int, whiten: float = 0.0,
            whiten_floor: float = 0.1) -> "PCA":
        """Fit on (n, D) vectors; components are scaled by variance ** (-whiten / 2).

        ``whiten=0`` keeps the variances, ``1`` gives every component unit variance.
        """
        x = np.asarray(vectors, np.float64)
        mean = x.mean(0)
        cov = np.cov(x - mean, rowvar=False)
        vals, vecs = np.linalg.eigh(np.atleast_2d(cov))
        order = np.argsort(vals)[::-1][: min(n_components, x.shape[1])]
        comps = vecs[:, order]
        # Fix signs so the result does not depend on the eigen solver.
        comps *= np.sign(comps[np.abs(comps).argmax(0), np.arange(comps.shape[1])])
        if whiten:
            var = np.clip(vals[order], 0, None)
            # Regularised: a component far weaker than the average kept one is not blown
            # up to unit variance (it would be noise on nearly uniform images).
            floor = whiten_floor * max(float(var.mean()) if var.size else 0.0, 1e-12)
            comps = comps / (var + floor) ** (whiten / 2)
        return cls(mean.astype(np.float32), comps.astype(np.float32))

    @property
    def n_components(self) -> int:
        return self.components.shape[1]

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        return (np.asarray(vectors, np.float32) - self.mean) @ self.components


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
    return d.clamp_min_(0)


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


@dataclass
class CondensationResult:
    """Partitions of the nodes, from the first merge to one cluster.

    ``partitions[i]`` gives each node's cluster (0..n-1) and ``persistence[i]`` how many
    iterations it stayed unchanged; ordered as found (fine to coarse).
    """

    partitions: list[np.ndarray]
    persistence: list[int]
    epsilons: list[float] = field(default_factory=list)
    iterations: int = 0

    @property
    def n_clusters(self) -> list[int]:
        return [int(p.max()) + 1 for p in self.partitions]


def condense(nodes: np.ndarray, weights: np.ndarray | None = None, **kwargs) -> CondensationResult:
    """Diffusion condensation of weighted points; see :func:`condense_iter` for parameters."""
    gen = condense_iter(nodes, weights, **kwargs)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def condense_iter(
    nodes: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    knn: int = 10,
    merge_fraction: float = 0.05,
    epsilon_growth: float = 1.25,
    max_iterations: int = 5000,
    mass_power: float = 0.5,
) -> Generator[tuple[int, int], None, CondensationResult]:
    """Diffusion condensation of weighted points until one cluster is left.

    A generator: yields ``(iteration, n_clusters)`` after every iteration (so callers can
    report progress or stop) and returns a :class:`CondensationResult`.

    Parameters
    ----------
    nodes : (M, d) array
        Points (for example k-means centres of pixel vectors).
    weights : (M,) array, optional
        Mass of each point (for example its pixel count); the diffusion operator
        weights neighbours by mass.
    knn : int
        Neighbours per point in the graph.
    merge_fraction : float
        Points closer than ``merge_fraction * epsilon`` merge.
    epsilon_growth : float
        Factor by which the bandwidth grows after an iteration without merges.
    mass_power : float
        Neighbours are weighted by mass ** mass_power (0: all alike; 1: by pixel count).
    """
    x = torch.from_numpy(np.array(nodes, np.float32))
    m = len(x)
    w = torch.ones(m, dtype=torch.float32) if weights is None else torch.as_tensor(
        np.asarray(weights, np.float32))
    label = np.arange(m)  # original node -> current cluster
    partitions: list[np.ndarray] = []
    persistence: list[int] = []
    epsilons: list[float] = []
    if m <= 1:
        return CondensationResult([np.zeros(m, np.int64)], [1], [0.0], 0)
    # Start at the typical nearest-neighbour distance, so the first merges are local.
    d2 = _sq_dists(x, x)
    nearest = torch.topk(d2, 2, largest=False).values[:, -1]
    eps = float(nearest.sqrt().median().clamp_min(1e-12))
    stable = 0
    it = 0
    while len(x) > 1 and it < max_iterations:
        it += 1
        n = len(x)
        d2 = _sq_dists(x, x)
        k = min(knn, n - 1)
        neighbours = torch.topk(d2, k + 1, largest=False).indices  # includes the point itself
        mask = torch.zeros(n, n, dtype=torch.bool).scatter_(1, neighbours, True)
        i, j = torch.nonzero(mask | mask.T, as_tuple=True)  # symmetric kNN graph
        kern = torch.zeros(n, n, dtype=x.dtype)
        kern[i, j] = torch.exp(-d2[i, j] / eps**2) * w[j] ** mass_power  # only on the graph
        x = (kern / kern.sum(1, keepdim=True)) @ x
        # Merge points that came within the threshold.
        d2 = _sq_dists(x, x)
        close = d2 < (merge_fraction * eps) ** 2
        close.fill_diagonal_(False)
        if bool(close.any()):
            i, j = torch.nonzero(close, as_tuple=True)
            graph = coo_matrix((np.ones(len(i)), (i.numpy(), j.numpy())), shape=(n, n))
            n_comp, comp = connected_components(graph, directed=False)
            comp_t = torch.from_numpy(comp)
            mass = torch.zeros(n_comp, dtype=torch.float32).index_add_(0, comp_t, w)
            x = torch.zeros(n_comp, x.shape[1], dtype=torch.float32).index_add_(
                0, comp_t, x * w[:, None]) / mass[:, None]
            w = mass
            label = comp[label]
            if partitions:
                persistence.append(stable)
            partitions.append(label.copy())
            epsilons.append(eps)
            stable = 1
        else:
            stable += 1
            eps *= epsilon_growth
        yield it, len(x)
    persistence.append(stable)
    return CondensationResult(partitions, persistence, epsilons, it)
