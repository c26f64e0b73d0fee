"""Diffusion condensation on a sparse graph of weighted nodes (our own implementation).

:func:`condense_graph_iter` repeatedly diffuses the nodes over a graph with a Gaussian
kernel (X <- P X), merges nodes that come closer than a threshold, and grows the
bandwidth when nothing merges. The graph is either given (which basins touch: every
cluster stays connected) or the kNN graph of the current points (alike points anywhere
merge). Every merge is a partition. Graphs are sparse, so cost grows with the number of
edges, not its square.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from napari_cuts.engine.hierarchy.nodes import boundary_means, contract

#: a boundary is a wall by how far its mean gradient exceeds this percentile of the
#: first (basin) boundaries, most of which lie inside regions (evidence: docs/engine.md)
WALL_QUANTILE = 75


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
    return d.clamp_min_(0)


@dataclass
class MergeHistory:
    """What a graph condensation merged: per merge event, each current node's new cluster.

    ``steps[k]`` maps the clusters before event k to those after it, so the partition of
    the original nodes after event k is the composition of ``steps[0..k]``. Storing the
    steps rather than full partitions keeps memory proportional to the nodes merged.
    """

    n_nodes: int
    steps: list[np.ndarray] = field(default_factory=list)
    persistence: list[int] = field(default_factory=list)  # iterations each partition survived
    epsilons: list[float] = field(default_factory=list)
    iterations: int = 0
    start_epsilon: float = 0.0  # the bandwidth before the first merge

    @property
    def n_clusters(self) -> list[int]:
        return [int(s.max()) + 1 for s in self.steps]

    def partitions(self, events=None) -> dict[int, np.ndarray]:
        """{event: (n_nodes,) cluster of every original node} for the given events."""
        wanted = set(range(len(self.steps)) if events is None else events)
        label = np.arange(self.n_nodes)
        out = {}
        for k, step in enumerate(self.steps):
            label = step[label]
            if k in wanted:
                out[k] = label.copy()
        return out


def _knn_edges(x: torch.Tensor, k: int, chunk: int = 4096) -> np.ndarray:
    """Symmetric kNN graph of the rows of x as (E, 2) pairs i < j."""
    n = len(x)
    k = min(k, n - 1)
    rows = []
    for s in range(0, n, chunk):
        d2 = _sq_dists(x[s : s + chunk], x)
        idx = torch.topk(d2, k + 1, largest=False).indices.numpy()
        src = np.repeat(np.arange(s, s + len(idx)), k + 1)
        rows.append(np.stack([src, idx.ravel()], 1))
    e = np.concatenate(rows)
    e = e[e[:, 0] != e[:, 1]]
    e = np.sort(e, 1).astype(np.int64)
    keys = np.unique(e[:, 0] * n + e[:, 1])
    return np.stack([keys // n, keys % n], 1)


def condense_graph_iter(
    nodes: np.ndarray,
    weights: np.ndarray,
    edges: np.ndarray | None = None,
    *,
    knn: int = 10,
    merge_fraction: float = 0.05,
    epsilon_growth: float = 1.25,
    mass_power: float = 0.5,
    max_iterations: int = 20000,
    stop_at: int = 1,
    spread: np.ndarray | None = None,
    spread_floor: float = 0.1,
    ward: float = 0.0,
    boundary: np.ndarray | None = None,
    interior: np.ndarray | None = None,
    step_response: float = 1.0,
) -> Generator[tuple[int, int], None, MergeHistory]:
    """Diffusion condensation of weighted points on a sparse graph.

    With `edges` ((E, 2) node pairs, e.g. which basins touch), points diffuse and
    merge only along those edges, and the graph is contracted at every merge: every
    cluster stays connected in the graph. Without, the graph is the kNN graph of the
    current points, recomputed every iteration (alike points anywhere can merge).
    Each iteration: X <- P X with a Gaussian kernel on the graph's edges (bandwidth
    epsilon, neighbours weighted by mass ** mass_power, the point itself included); pairs
    closer than ``merge_fraction * epsilon`` merge; epsilon grows when nothing merged.

    `spread` (each node's mean squared deviation of its pixels' points) makes the
    kernel self-tuning: distances are measured in units of the two nodes' own spread
    (floored at `spread_floor` x the median), so noisy regions merge more easily than
    quiet ones. `ward` > 0 makes merging two large clusters cost more than absorbing a
    fragment (distances x (harmonic mean mass / median mass) ** ward).
    `boundary` ((E, 2), with `edges`: the summed gradient along each pair's shared boundary
    and its number of pixel faces) makes a wall keep two nodes apart even where their
    points agree (two touching nuclei alike inside): an edge's distance is the points'
    distance and the wall's height in quadrature. The height is the mean gradient along
    the boundary above what a boundary has without a wall (the upper quartile of the
    first boundaries, most of which lie inside regions, and the mean gradient inside
    either node, `interior`), divided by `step_response` (the gradient a step of one unit
    gives): a step height, in the points' units. Merged nodes add their boundaries up
    and pool their interiors.
    Stops at `stop_at` clusters (or when the graph has no edges left). A generator:
    yields ``(iteration, n_clusters)``; returns a :class:`MergeHistory`.
    """
    from scipy.sparse import csr_matrix

    x = np.array(nodes, np.float32)
    w = np.asarray(weights, np.float64).copy()
    n = len(x)
    history = MergeHistory(n)
    if n <= stop_at:
        return history
    var = None if spread is None else np.asarray(spread, np.float64).copy()
    if var is not None:
        typical = float(np.median(var[var > 0])) if (var > 0).any() else 1.0
        floor = max(spread_floor * typical, 1e-12)
    spatial = edges is not None
    e = np.asarray(edges, np.int64).reshape(-1, 2) if spatial else None
    w0 = float(np.median(w))

    def graph():
        return e if spatial else _knn_edges(torch.from_numpy(x), knn)

    def factor(i, j):
        """What an edge's squared distance is divided by (self-tuning and size)."""
        f = np.ones(len(i), np.float32)
        if var is not None:
            f *= (np.sqrt((var[i] + floor) * (var[j] + floor)) / (typical + floor)).astype(np.float32)
        if ward:
            f /= ((2 * w[i] * w[j] / (w[i] + w[j]) / w0) ** ward).astype(np.float32)
        return f

    walls = None  # per edge: summed gradient along the boundary, faces
    if spatial and boundary is not None and len(e):
        walls = np.asarray(boundary, np.float64).reshape(-1, 2).copy()
        quartile = float(np.percentile(boundary_means(walls), WALL_QUANTILE))
        inside = np.zeros(n) if interior is None else np.asarray(interior, np.float64).copy()

    def wall_heights():
        """Squared height of the wall along each edge of the current graph (0 without)."""
        if walls is None:
            return 0.0
        floor = np.maximum(quartile, np.maximum(inside[e[:, 0]], inside[e[:, 1]]))
        height = np.clip(boundary_means(walls) - floor, 0, None) / step_response
        return height.astype(np.float32) ** 2

    heights = wall_heights()  # they change only when nodes merge

    def sq(i, j):
        """Squared distance of each edge (i, j): points, and the wall's height."""
        d = x[i] - x[j]
        return np.einsum("ij,ij->i", d, d) + heights  # spatial: (i, j) is the graph, edge for edge

    g = graph()
    if not len(g):
        return history
    d = np.sqrt(sq(g[:, 0], g[:, 1]) / factor(g[:, 0], g[:, 1]))
    nearest = np.full(n, np.inf)
    np.minimum.at(nearest, g[:, 0], d)
    np.minimum.at(nearest, g[:, 1], d)
    # Start at the typical nearest-neighbour distance, but not below a thousandth of the
    # points' spread: differences of rounding size are not structure.
    floor_eps = 1e-3 * float(np.sqrt(np.average((x - np.average(x, 0, w)) ** 2, 0, w).sum()))
    eps = float(max(np.median(nearest[np.isfinite(nearest)]), floor_eps, 1e-12))
    history.start_epsilon = eps
    stable, it = 0, 0
    while len(x) > stop_at and it < max_iterations and len(g):
        it += 1
        n = len(x)
        i, j = g[:, 0], g[:, 1]
        f = factor(i, j)
        kern = np.exp(-sq(i, j) / f / eps**2)
        m = (w**mass_power).astype(np.float32)
        a = csr_matrix((np.concatenate([kern * m[j], kern * m[i], m]),
                        (np.concatenate([i, j, np.arange(n)]), np.concatenate([j, i, np.arange(n)]))),
                       shape=(n, n))
        x = (a @ x) / np.asarray(a.sum(1), np.float32)
        close = sq(i, j) / f < (merge_fraction * eps) ** 2
        if close.any():
            merge = coo_matrix((np.ones(int(close.sum())), (i[close], j[close])), shape=(n, n))
            n_comp, comp = connected_components(merge, directed=False)
            comp = comp.astype(np.int64)
            mass = np.bincount(comp, w, minlength=n_comp)
            pool = csr_matrix((w, (comp, np.arange(n))), shape=(n_comp, n))
            xm = ((pool @ x.astype(np.float64)) / mass[:, None]).astype(np.float32)
            if var is not None:  # pooled spread: within parts plus between them
                dev = var + sq_rows(x - xm[comp])
                var = np.bincount(comp, dev * w, minlength=n_comp) / mass
            if walls is not None:
                inside = np.bincount(comp, inside * w, minlength=n_comp) / mass
            x, w = xm, mass
            if history.steps:
                history.persistence.append(stable)
            history.steps.append(comp.astype(np.int32))
            history.epsilons.append(eps)
            stable = 1
            if spatial:  # the graph between the merged nodes; their boundaries add up
                e, walls = contract(comp, e, walls)
                heights = wall_heights()
            g = graph() if len(x) > 1 else np.zeros((0, 2), np.int64)
        else:
            stable += 1
            eps *= epsilon_growth
            if not spatial and stable % 4 == 0:
                g = graph()  # the points moved (slowly: every fourth quiet iteration)
        yield it, len(x)
    if history.steps:
        history.persistence.append(stable)
    history.iterations = it
    return history


def sq_rows(d: np.ndarray) -> np.ndarray:
    """Squared length of every row."""
    return np.einsum("ij,ij->i", d, d).astype(np.float64)


def condense(nodes: np.ndarray, weights: np.ndarray | None = None, edges: np.ndarray | None = None,
             **kwargs) -> MergeHistory:
    """Diffusion condensation to one cluster; see :func:`condense_graph_iter`."""
    w = np.ones(len(nodes)) if weights is None else weights
    gen = condense_graph_iter(nodes, w, edges, **kwargs)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
