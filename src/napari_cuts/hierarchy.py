"""Coarse-to-fine levels with stable region ids, salient levels and a default level."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from .condensation import CondensationResult


def stable_ids(partitions: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Relabel nested node partitions (coarse -> fine) with ids that persist.

    Level 0's regions get 1..n0, largest first. Going finer, the largest child of every
    region keeps its parent's id and the other children get the next free ids, so a
    region that continues keeps its id (and colour) and level k uses ids 1..n_k.

    Returns
    -------
    (L, M) uint32 array: the region id of every node at every level.
    """
    weights = np.asarray(weights, np.float64)
    out = np.zeros((len(partitions), len(weights)), np.uint32)
    prev = None
    next_id = 1
    for li, part in enumerate(partitions):
        n = int(part.max()) + 1
        mass = np.bincount(part, weights, minlength=n)
        ids = np.zeros(n, np.uint32)
        if prev is None:
            for c in np.argsort(-mass, kind="stable"):
                ids[c] = next_id
                next_id += 1
        else:
            parent = np.zeros(n, np.uint32)
            parent[part] = prev  # nesting: every node of a cluster has the same parent
            taken: set[int] = set()
            for c in np.lexsort((np.arange(n), -mass)):
                if parent[c] not in taken:
                    ids[c] = parent[c]
                    taken.add(int(parent[c]))
                else:
                    ids[c] = next_id
                    next_id += 1
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
    extra: dict = field(default_factory=dict)

    @property
    def n_levels(self) -> int:
        return len(self.n_regions)

    def summary(self) -> dict:
        return {
            "default_level": int(self.default_level),
            "levels": [
                {"n_regions": int(n), "salient": bool(s), "persistence": int(p)}
                for n, s, p in zip(self.n_regions, self.salient, self.persistence)
            ],
        }

    def to_json(self, **extra) -> str:
        return json.dumps({**self.summary(), **extra}, indent=2)


def build_hierarchy(
    result: CondensationResult,
    weights: np.ndarray,
    *,
    max_regions: int = 64,
    n_salient: int = 5,
) -> Hierarchy:
    """Order the condensation's partitions coarse -> fine and mark salient levels.

    Levels with one region, or more than `max_regions`, are left out (a single region is
    kept only when nothing else exists). A level is salient when its partition persisted
    for many iterations: the `n_salient` levels with the highest persistence x
    log(regions). The default level is the one with the highest such score.
    """
    parts = list(result.partitions)
    pers = list(result.persistence)
    keep = [i for i, p in enumerate(parts) if 2 <= p.max() + 1 <= max_regions]
    if not keep:  # uniform image, or everything merged at once
        keep = [len(parts) - 1] if parts else []
        if not parts:
            parts, pers, keep = [np.zeros(len(weights), np.int64)], [1], [0]
    keep = keep[::-1]  # coarse -> fine
    partitions = [parts[i] for i in keep]
    persistence = [int(pers[i]) for i in keep]
    n_regions = [int(p.max()) + 1 for p in partitions]
    # Salience: persistence weighted by how much a partition says (log of its regions),
    # so a long-lived 2-region split does not outrank a nearly as stable detailed one.
    score = [p * np.log(n) for p, n in zip(persistence, n_regions)]
    order = sorted(range(len(keep)), key=lambda i: (-score[i], i))
    top = set(order[: max(1, n_salient)])
    salient = [i in top for i in range(len(keep))]
    default = order[0]
    return Hierarchy(stable_ids(partitions, weights), n_regions, persistence, salient, default)
