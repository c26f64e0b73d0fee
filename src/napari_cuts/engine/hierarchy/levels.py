"""Coarse-to-fine levels with stable region ids, salient levels and a default level."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def stable_ids(partitions: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Relabel node partitions (coarse -> fine) with ids that persist from level to level.

    Level 0's regions get 1..n0, largest first. Going finer, every region's parent is the
    coarser region holding most of its mass; the largest child of a parent keeps the
    parent's id and the other children get the next free ids, so a region that continues
    keeps its id (and colour). For nested partitions, level k uses ids 1..n_k.

    Returns
    -------
    (L, M) uint32 array: the region id of every node at every level.
    """
    from scipy.sparse import coo_matrix

    weights = np.asarray(weights, np.float64)
    out = np.zeros((len(partitions), len(weights)), np.uint32)
    prev = None
    next_id = 1
    for li, part in enumerate(partitions):
        part = np.asarray(part, np.int64)
        n = int(part.max()) + 1
        mass = np.bincount(part, weights, minlength=n)
        ids = np.zeros(n, np.uint32)
        if prev is None:
            ids[np.argsort(-mass, kind="stable")] = np.arange(next_id, next_id + n, dtype=np.uint32)
            next_id += n
        else:
            overlap = coo_matrix((weights, (part, prev.astype(np.int64))), shape=(n, int(prev.max()) + 1)).tocsr()
            parent = np.asarray(overlap.argmax(1)).ravel()
            order = np.lexsort((np.arange(n), -mass))  # largest first
            _, first = np.unique(parent[order], return_index=True)
            keeps = np.zeros(n, bool)
            keeps[order[first]] = True  # the largest child of each parent keeps its id
            ids[keeps] = parent[keeps]
            others = order[~keeps[order]]
            ids[others] = np.arange(next_id, next_id + len(others), dtype=np.uint32)
            next_id += len(others)
        out[li] = ids[part]
        prev = out[li]
    return out


@dataclass
class Hierarchy:
    """Levels of a segmentation over nodes, coarse (level 0) to fine."""

    node_labels: np.ndarray  # (L, M) region id per node and level
    n_regions: list[int]
    persistence: list[int]
    salient: list[bool]
    default_level: int
    kinds: list[str] = field(default_factory=list)  # "classes", "default" or "regions" per level
    extra: dict = field(default_factory=dict)

    @property
    def n_levels(self) -> int:
        return len(self.n_regions)

    def summary(self) -> dict:
        kinds = self.kinds or ["regions"] * self.n_levels
        return {
            "default_level": int(self.default_level),
            "levels": [
                {"n_regions": int(n), "salient": bool(s), "persistence": int(p), "kind": k}
                for n, s, p, k in zip(self.n_regions, self.salient, self.persistence, kinds)
            ],
        }


@dataclass
class Level:
    """One candidate level: each node's cluster, what it is and how stable it was."""

    partition: np.ndarray  # (M,) cluster 0..n-1 of every node
    kind: str  # "classes" (alike regions grouped anywhere), "default" or "regions" (connected)
    persistence: int = 1

    @property
    def n_regions(self) -> int:
        return int(self.partition.max()) + 1 if len(self.partition) else 0


def build_hierarchy(levels: Sequence[Level], weights: np.ndarray, default: int, *,
                    n_salient: int = 5, max_levels: int = 64) -> Hierarchy:
    """Order candidate levels coarse -> fine, keep at most `max_levels`, mark salient ones.

    `default` indexes `levels`; it is always kept and always salient. Levels are ordered by
    their number of regions (classes before connected regions of the same count); where
    there are too many, the most persistent are kept. Salient: the default and the
    `n_salient - 1` most persistent others.
    """
    levels = list(levels)
    if not levels:
        raise ValueError("no levels")
    order = sorted(range(len(levels)), key=lambda i: (levels[i].n_regions, levels[i].kind != "classes", i))
    if len(order) > max_levels:
        ranked = sorted(order, key=lambda i: (i != default, -levels[i].persistence, i))
        keep = set(ranked[:max_levels])
        order = [i for i in order if i in keep]
    chosen = [levels[i] for i in order]
    d = order.index(default)
    others = sorted((k for k in range(len(chosen)) if k != d), key=lambda k: (-chosen[k].persistence, k))
    top = {d, *others[: max(0, n_salient - 1)]}
    return Hierarchy(
        stable_ids([lv.partition for lv in chosen], weights),
        [lv.n_regions for lv in chosen],
        [int(lv.persistence) for lv in chosen],
        [k in top for k in range(len(chosen))],
        d,
        [lv.kind for lv in chosen],
    )
