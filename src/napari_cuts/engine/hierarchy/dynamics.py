"""The basins merged by their dynamics: how deep each lies below the pass to a deeper one.

A basin of the points' gradient is a low place between boundaries. Flooding the gradient,
two basins meet at the lowest point of the boundary between them (the pass); the
shallower one then ends, and its *dynamics* is how far its lowest point lies below that
pass: the contrast of the region against its surround, whatever its size (Grimaud 1992;
higra's ``watershed_hierarchy_by_dynamics`` on pixels). The hierarchy that merges the
basins of lowest dynamics first keeps a small region of strong contrast (a nucleus)
apart while it merges faint boundaries inside larger regions; its cuts are the levels
finer than the default where the gradient marks the boundaries (not inside a texture).
Computed on the basins' adjacency graph, so its cost is that of the basins, not of the
pixels.
"""

from __future__ import annotations

import numpy as np


def passes(labels: np.ndarray, values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(E,) lowest value along the boundary of each pair of touching `labels` in `edges`
    ((E, 2), i < j, sorted as :func:`napari_cuts.engine.hierarchy.nodes.boundaries`
    gives them): the mean of the two pixels of each face, as there."""
    n = int(labels.max()) + 1
    keys, lows = [], []
    for axis in range(labels.ndim):
        if labels.shape[axis] < 2:
            continue
        a = np.moveaxis(labels, axis, 0)
        v = np.moveaxis(values, axis, 0)
        lo, hi = a[:-1].ravel(), a[1:].ravel()
        diff = lo != hi
        keys.append(np.minimum(lo[diff], hi[diff]).astype(np.int64) * n + np.maximum(lo[diff], hi[diff]))
        lows.append((v[:-1].ravel()[diff] + v[1:].ravel()[diff]) / 2)
    out = np.full(len(edges), np.inf)
    if keys:
        index = np.searchsorted(edges[:, 0].astype(np.int64) * n + edges[:, 1], np.concatenate(keys))
        np.minimum.at(out, index, np.concatenate(lows))
    return out


def extinctions(depth: np.ndarray, edges: np.ndarray, passes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flood the basins (lowest value `depth` each) through their `passes`: the edges of
    the minimum spanning forest, in flooding order, and per edge the dynamics of the
    shallower of the two groups it joins (which ends there)."""
    parent = np.arange(len(depth))
    low = np.asarray(depth, np.float64).copy()  # deepest point of each group, at its root

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    tree, ends = [], []
    for e in np.argsort(passes, kind="stable"):
        a, b = root(edges[e, 0]), root(edges[e, 1])
        if a == b:
            continue
        ends.append(passes[e] - max(low[a], low[b]))
        if low[a] > low[b]:
            a, b = b, a
        parent[b] = a  # the deeper group goes on
        tree.append(e)
    return np.asarray(tree, np.int64), np.asarray(ends, np.float64)


def dynamics_partitions(depth: np.ndarray, edges: np.ndarray, passes: np.ndarray,
                        counts) -> dict[int, np.ndarray]:
    """Per wanted region count, the basins' partition (ids 0..k-1) in which the basins of
    lowest dynamics have merged into their deeper neighbours (a horizontal cut of the
    watershed hierarchy by dynamics)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(depth)
    tree, ends = extinctions(depth, edges, passes)
    order = tree[np.argsort(ends, kind="stable")]  # the merges, least contrast first
    pieces = n - len(tree)  # groups that never meet (a graph in pieces)
    out = {}
    for k in sorted({int(c) for c in counts}, reverse=True):
        if not pieces <= k <= n:
            continue
        merged = n - k
        chosen = edges[order[:merged]]
        graph = coo_matrix((np.ones(len(chosen)), (chosen[:, 0], chosen[:, 1])), shape=(n, n))
        out[k] = connected_components(graph, directed=False)[1].astype(np.int64)
    return out
