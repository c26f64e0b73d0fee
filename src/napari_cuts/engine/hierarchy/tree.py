"""The merge tree of a condensation run: basins -> connected regions -> one region.

Every node records how long it lived: the log of the bandwidth at which it merged into
its parent over the bandwidth at which it formed (diffusion condensation's persistence,
per region rather than per level). Every cut of the tree is a partition of the basins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_cuts.engine.hierarchy.condensation import MergeHistory


@dataclass
class MergeTree:
    """Nodes 0..n-1 are the basins; every parent comes after its children; the root is
    last and is its own parent."""

    parent: np.ndarray  # (T,) int64
    persistence: np.ndarray  # (T,) log(bandwidth at merging / bandwidth at forming); 0 for the root
    mass: np.ndarray  # (T,) pixels
    n_leaves: int

    @property
    def n_nodes(self) -> int:
        return len(self.parent)

    def leaf_partition(self, selected: np.ndarray) -> np.ndarray:
        """(n_leaves,) region 0..k-1 of every basin, for an antichain of `selected` nodes
        that covers every leaf (each leaf takes its selected ancestor)."""
        top = np.full(self.n_nodes, -1, np.int64)
        for v in range(self.n_nodes - 1, -1, -1):  # parents before children
            p = self.parent[v]
            if selected[v]:
                top[v] = v
            elif p != v:
                top[v] = top[p]
        leaves = top[: self.n_leaves]
        if (leaves < 0).any():
            raise ValueError("the selected nodes do not cover every basin")
        _, out = np.unique(leaves, return_inverse=True)
        return out.astype(np.int64)


class _Builder:
    """Adds one merge history's events to a growing tree."""

    def __init__(self, n: int, birth: float) -> None:
        self.parent: list[int] = list(range(n))
        self.birth: list[float] = [birth] * n
        self.death: list[float] = [np.nan] * n
        self.node_of = np.arange(n)  # tree node of every current cluster

    def add(self, step: np.ndarray, eps: float) -> None:
        m = int(step.max()) + 1
        size = np.bincount(step, minlength=m)
        merged = size > 1
        ids = np.full(m, -1, np.int64)
        ids[merged] = np.arange(len(self.parent), len(self.parent) + int(merged.sum()))
        for new in ids[merged]:
            self.parent.append(int(new))
            self.birth.append(eps)
            self.death.append(np.nan)
        for old in np.flatnonzero(merged[step]):
            node = int(self.node_of[old])
            self.parent[node] = int(ids[step[old]])
            self.death[node] = eps
        nodes = ids.copy()
        stay = ~merged[step]
        nodes[step[stay]] = self.node_of[stay]
        self.node_of = nodes


def merge_tree(counts: np.ndarray, history: MergeHistory) -> MergeTree:
    """The tree of a condensation run over nodes of `counts` pixels; clusters left apart
    at the end (a graph in several pieces) get a common root."""
    n = history.n_nodes
    build = _Builder(n, history.start_epsilon)
    for step, eps in zip(history.steps, history.epsilons):
        build.add(step, eps)
    roots = np.unique(build.node_of)
    if len(roots) > 1:
        root = len(build.parent)
        build.parent.append(root)
        build.birth.append(np.nan)
        build.death.append(np.nan)
        for r in roots:
            build.parent[int(r)] = root
    parent = np.asarray(build.parent, np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        persistence = np.log(np.asarray(build.death) / np.asarray(build.birth))
    persistence[~np.isfinite(persistence)] = 0.0  # the root lives on
    persistence = np.clip(persistence, 0.0, None)
    mass = np.zeros(len(parent))
    mass[:n] = counts
    for v in range(len(parent)):
        if parent[v] != v:
            mass[parent[v]] += mass[v]
    return MergeTree(parent, persistence, mass, n)
