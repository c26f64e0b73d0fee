"""Regions that stand out from the ring around them, found among the levels.

Two uses in the objects level (see :mod:`napari_cuts.objects`): the objects that lie
inside a surround (a lesion in the fundus) are cut out of it whole, and dim objects that
every grouping put with the background (dim nuclei) are added. Both take candidates from
several levels at once, connected and compact, fine to coarse, so that each object can be
found at its own size; of overlapping candidates, the one that stands out most wins.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .regions import region_means, section_solidity

#: an object inside a surround holds between these fractions of the surround
SALIENT_SIZES = (0.02, 0.25)
#: and its mean point lies at least this far from its ring's, in units of their spread
#: (squared distance over the mean of their spreads; parts closer than the alike merge
#: threshold squared, 0.25, are joined again anyway)
SALIENT_MIN_CONTRAST = 0.5
#: of nested candidates, the largest that stands out at least this fraction as much as
#: the most distinct one (the whole lesion rather than its brightest core)
SALIENT_WHOLE = 0.5

#: a dim object may touch the objects already found along at most this fraction of its ring
DIM_MAX_CONTACT = 0.3
#: and must stand out from the rest of its ring by this much (on the background-to-objects line)
DIM_MIN_CONTRAST = 0.15
#: dim objects are looked for only where the background's pixels lie within this (root
#: mean square, on the line from the background's mean, 0, to the objects' mean, 1) of
#: the background's mean: a quiet background, not textures
DIM_MAX_NOISE = 0.2
#: the rest of its ring must look like the background (on that line: at least this)
DIM_RING_LOW = -0.25
#: its size, relative to the median object's
DIM_SIZES = (0.2, 3.0)


def candidates(partitions: list[np.ndarray], keep) -> list[np.ndarray]:
    """The node sets of the regions of node `partitions` for which ``keep(partition)``
    (a boolean array over that partition's region ids) is true, each set once."""
    found: dict[tuple[int, int], np.ndarray] = {}
    for part in partitions:
        ok = keep(part)
        if not ok.any():
            continue
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(len(ok) + 1))
        for r in np.flatnonzero(ok):
            nodes = order[bounds[r]:bounds[r + 1]]
            if len(nodes):
                found.setdefault((int(nodes[0]), len(nodes)), nodes)
    return list(found.values())


def disjoint_best(scored: list[tuple[float, np.ndarray]], n_nodes: int, accept=None,
                  whole: float = 0.0) -> list[np.ndarray]:
    """Of (score, node set) candidates, the highest scoring that overlap none chosen before
    (and that ``accept(nodes)``, asked only of those, allows).

    With `whole` > 0 a chosen candidate gives way to the largest free candidate that
    contains it and scores at least `whole` times as much (an object rather than its
    most distinct part).
    """
    taken = np.zeros(n_nodes, bool)
    chosen = []
    ranked = sorted(scored, key=lambda c: -c[0])
    for score, nodes in ranked:
        if taken[nodes].any() or not (accept is None or accept(nodes)):
            continue
        if whole > 0:
            inside = np.zeros(n_nodes, bool)
            inside[nodes] = True
            parents = [p for s, p in ranked if len(p) > len(nodes) and s >= whole * score
                       and inside[p].sum() == len(nodes) and not taken[p].any()]
            for parent in sorted(parents, key=len, reverse=True):
                if accept is None or accept(parent):
                    nodes = parent
                    break
        taken[nodes] = True
        chosen.append(nodes)
    return chosen


def _node_boxes(pixel_nodes: np.ndarray) -> list:
    """The bounding box (slices) of every node's pixels."""
    from scipy import ndimage

    return ndimage.find_objects(pixel_nodes.astype(np.int32) + 1)


def _box(boxes: list, nodes: np.ndarray, margin: int = 0) -> tuple[slice, ...]:
    """The bounding box of some nodes' pixels, grown by `margin` pixels (clipped at 0)."""
    return tuple(slice(max(min(boxes[n][a].start for n in nodes) - margin, 0),
                       max(boxes[n][a].stop for n in nodes) + margin) for a in range(len(boxes[nodes[0]])))


def salient_regions(within: np.ndarray, partitions: list[np.ndarray], pixel_nodes: np.ndarray,
                    nodes, solidity: float) -> np.ndarray:
    """The objects inside a surround: (n_nodes,) ids 1..k (0 elsewhere).

    `within` marks the surround's nodes. Candidates are the regions of the node
    `partitions`, restricted to the surround, that hold :data:`SALIENT_SIZES` of it;
    one becomes an object where its mean point stands out from the ring of surround
    nodes that touch it (:data:`SALIENT_MIN_CONTRAST`) and its shape is compact (area-
    weighted solidity of its sections at least `solidity`); of overlapping ones, the one
    that stands out most, or the largest containing it that stands out at least
    :data:`SALIENT_WHOLE` as much. `nodes` is a :class:`~napari_cuts.objects.NodeStats` (means,
    counts, spread and which nodes touch).
    """
    n = len(nodes.counts)
    out = np.zeros(n, np.int64)
    mass = np.asarray(nodes.counts, np.float64)
    total = mass[within].sum()
    lo, hi = SALIENT_SIZES
    restricted = [np.where(within, part, -1) for part in partitions]  # -1: outside the surround

    def keep(part):
        size = np.bincount(part[within], mass[within], minlength=int(part.max()) + 1)
        return (size >= lo * total) & (size <= hi * total)

    mu = nodes.means.astype(np.float64)
    a, b = nodes.edges[:, 0], nodes.edges[:, 1]

    def pooled_stats(sel):
        w = mass[sel]
        centre = (mu[sel] * w[:, None]).sum(0) / w.sum()
        return centre, float(((nodes.spread[sel] + ((mu[sel] - centre) ** 2).sum(1)) * w).sum() / w.sum())

    scored = []
    for region in candidates(restricted, keep):
        inside = np.zeros(n, bool)
        inside[region] = True
        ring = np.zeros(n, bool)
        ring[b[inside[a] & ~inside[b] & within[b]]] = True
        ring[a[inside[b] & ~inside[a] & within[a]]] = True
        if not ring.any():
            continue
        (c_in, s_in), (c_ring, s_ring) = pooled_stats(inside), pooled_stats(ring)
        contrast = float(((c_in - c_ring) ** 2).sum()) / max((s_in + s_ring) / 2, 1e-12)
        if contrast >= SALIENT_MIN_CONTRAST:
            scored.append((contrast, region))
    boxes = _node_boxes(pixel_nodes) if scored else []

    def compact(region):
        box = _box(boxes, region)
        return section_solidity(np.isin(pixel_nodes[box], region)) >= solidity

    for k, region in enumerate(disjoint_best(scored, n, compact, whole=SALIENT_WHOLE)):
        out[region] = k + 1
    return out


def add_dim_objects(objects, pixel_nodes: np.ndarray, partitions: list[np.ndarray],
                    points: np.ndarray, level: float, nodes=None):
    """Objects the classes missed (dim nuclei grouped with the background) added.

    `objects` is an :class:`~napari_cuts.objects.ObjectsLevel`. Only where the
    background is quiet (:data:`DIM_MAX_NOISE`): not among textures. Candidates are the
    regions of the connected `partitions` of the nodes (any levels, e.g. fine to coarse)
    that lie outside every object, are of an object's size (:data:`DIM_SIZES` times the
    median object) and whose mean point lies at least `level` of the way from the
    background's mean to the objects' mean (0 background, 1 objects) and not beyond the
    objects'. A candidate that stands out from the ring of pixels around it by
    :data:`DIM_MIN_CONTRAST` on that line, whose ring looks like the background
    (:data:`DIM_RING_LOW`) and touches the objects found along at most
    :data:`DIM_MAX_CONTACT` of it becomes an object; of overlapping candidates, the one
    that stands out most. Returns the objects level with them (new ids in the node
    partition, and per pixel: `objects`' instances are updated in place) and how many
    were added. `nodes` (:class:`~napari_cuts.objects.NodeStats`, optional) gives the
    nodes' pixel counts and mean points (its first columns) when they are known already.
    """
    from scipy import ndimage

    inside = objects.instances > 0
    if level >= 1 or not inside.any() or inside.all() or not partitions:
        return objects, 0
    n_nodes = len(objects.partition)
    if nodes is None:
        means, counts = region_means(pixel_nodes, points, n_nodes)
    else:  # the points' own columns (texture statistics may follow them)
        means, counts = nodes.means[:, :points.shape[-1]], nodes.counts
    means, counts = means.astype(np.float64), np.asarray(counts, np.float64)
    in_object = np.bincount(pixel_nodes.ravel(), inside.ravel(), minlength=n_nodes)
    thing = in_object > counts / 2
    mean_in = np.average(means[thing], axis=0, weights=counts[thing])
    mean_out = np.average(means[~thing], axis=0, weights=np.maximum(counts[~thing], 1e-12))
    axis = mean_in - mean_out
    if not float(axis @ axis) > 0:
        return objects, 0

    def along(p):  # position on the line from the background's mean (0) to the objects' (1)
        return (np.asarray(p, np.float64) - mean_out) @ axis / float(axis @ axis)

    step = max(1, inside.size // 200_000)  # a sample of the background's pixels
    sample = points.reshape(-1, points.shape[-1])[::step][~inside.ravel()[::step]]
    if not len(sample) or np.sqrt(np.mean(along(sample) ** 2)) > DIM_MAX_NOISE:
        return objects, 0
    object_sizes = np.bincount(objects.instances[inside])
    typical = float(np.median(object_sizes[object_sizes > 0]))
    lo, hi = DIM_SIZES
    node_t = along(means)

    def keep(part):
        m = int(part.max()) + 1
        size = np.bincount(part, counts, minlength=m)
        t = np.bincount(part, node_t * counts, minlength=m) / np.maximum(size, 1e-12)
        return ((np.bincount(part, in_object, minlength=m) < 0.2 * size) & (t >= level) & (t <= 1)
                & (size >= lo * typical) & (size <= hi * typical))

    found = candidates(partitions, keep)
    if not found:
        return objects, 0
    boxes = _node_boxes(pixel_nodes)
    star = ndimage.generate_binary_structure(3, 1)
    scored, where = [], {}
    for nodes in found:
        box = _box(boxes, nodes, margin=2)
        mask = np.isin(pixel_nodes[box], nodes)
        ring = ndimage.binary_dilation(mask, star, iterations=2) & ~mask
        touching = ring & inside[box]
        rest = ring & ~touching
        if not rest.any() or touching.sum() > DIM_MAX_CONTACT * ring.sum():
            continue
        around = float(along(points[box][rest]).mean())
        t = float(np.average(node_t[nodes], weights=counts[nodes]))
        if t - around >= DIM_MIN_CONTRAST and around >= DIM_RING_LOW:
            scored.append((t - around, nodes))
            where[id(nodes)] = (box, mask)
    partition, instances = objects.partition.copy(), objects.instances
    chosen = disjoint_best(scored, n_nodes)
    for nodes in chosen:
        box, mask = where[id(nodes)]
        partition[nodes] = partition.max() + 1
        instances[box][mask] = instances.max() + 1
    return dataclasses.replace(objects, partition=partition, instances=instances), len(chosen)
