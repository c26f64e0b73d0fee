"""The default level: a cut of the merge tree chosen without labels (its own stage).

Diffusion condensation gives every region a lifetime: the bandwidths from which it exists
unchanged until it merges (:class:`napari_cuts.engine.hierarchy.tree.MergeTree`). A region that is really
there, an object against its surround or a tissue against another, lives long; a piece of
noise, or half of an object, merges soon after it forms. The default level is the set of
regions, one per place and possibly at different depths of the tree, whose lifetimes
weigh the most: the excess-of-mass cut of HDBSCAN (Campello et al. 2013), with each
region's lifetime weighed by its size to the power ``region_weight``. The basins
themselves are not regions that formed, so they weigh nothing.

Two settings (``SegmentConfig.default_rule`` and ``region_weight``) are this stage's
whole configuration. ``default_rule="classes"`` shows the class level that lasted longest
instead (tissues in many pieces, one label each: lifetimes cannot tell "one tissue in many
pieces" from "many objects of one kind", so the user says which); ``"persistent"`` turns
the stage off (the connected level that lasted longest, the CUTS paper's persistent
structure), an ablation.
"""

from __future__ import annotations

import numpy as np

from napari_cuts.engine.hierarchy.tree import MergeTree


def excess_of_mass(tree: MergeTree, region_weight: float = 0.5) -> np.ndarray:
    """(n_leaves,) region of every basin in the cut of `tree` that maximises the sum over
    its regions of ``mass ** region_weight * persistence`` (leaves weigh 0; the root,
    which never merges, has no lifetime to weigh, so the cut always has the finer regions
    where nothing speaks for merging them)."""
    n = tree.n_nodes
    score = tree.mass ** region_weight * tree.persistence
    score[: tree.n_leaves] = 0.0
    best = np.zeros(n)
    below = np.zeros(n)
    inner = np.zeros(n, bool)
    for v in range(n):  # children before parents
        best[v] = max(score[v], below[v]) if inner[v] else score[v]
        p = tree.parent[v]
        if p != v:
            below[p] += best[v]
            inner[p] = True
    selected = np.zeros(n, bool)
    covered = np.zeros(n, bool)
    for v in range(n - 1, -1, -1):  # parents before children
        p = tree.parent[v]
        if p != v and covered[p]:
            covered[v] = True
            continue
        if not inner[v] or score[v] > below[v]:  # on a tie, the finer regions
            selected[v] = covered[v] = True
    return tree.leaf_partition(selected)


def most_persistent(persistence: list[int], n_regions: list[int]) -> int:
    """Index of the level of at least two regions that lasted longest (the coarser on
    ties); the finest level when none has two regions."""
    candidates = [i for i, k in enumerate(n_regions) if k >= 2]
    if not candidates:
        return int(np.argmax(n_regions))
    return max(candidates, key=lambda i: (persistence[i], -n_regions[i]))
