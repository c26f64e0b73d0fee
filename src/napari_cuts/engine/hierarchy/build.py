"""The hierarchy of a segmentation, from pixel points: basins, condensation, levels.

Stages (:func:`hierarchy_iter`):

1. **Basins** (:mod:`napari_cuts.engine.hierarchy.basins`): the watershed basins of the points' gradient,
   pixel-precise, about one per ``pixels_per_node`` pixels; the condensation's nodes.
2. **Condensation** (:mod:`napari_cuts.engine.hierarchy.condensation`) along the basins' adjacency: a
   tree of connected regions (:mod:`napari_cuts.engine.hierarchy.tree`), each with its lifetime.
   Two touching basins are as far apart as their points and the contrast of the boundary
   between them, so alike objects that touch (dense nuclei) stay apart while a wall is there.
3. **Default level** (:mod:`napari_cuts.engine.hierarchy.default_level`): the cut of that tree whose
   regions live longest, chosen without labels.
4. **Classes**: condensation of the default level's regions on the kNN graph of their
   mean points, so alike regions anywhere group (one tissue in many pieces).
5. **Objects within the classes**: the default's touching regions merged along their
   weakest boundary first (mean gradient along it), within the classes of the class
   level that lasted longest: an object the default cuts in pieces, each piece closer
   to its surround than to the other pieces, is offered whole.

The levels offered, coarse to fine: the classes down to the one that lasted longest, its
classes split by the boundary merges, the default level, then the connected run's
partitions within the default's regions. Every level nests in the coarser ones, and every
outline is a basin's, so it follows the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from napari_cuts.config import TEXTURE_WEIGHT
from napari_cuts.engine.hierarchy.default_level import excess_of_mass, most_persistent
from napari_cuts.engine.hierarchy.levels import Level, build_hierarchy
from napari_cuts.engine.hierarchy.nodes import boundary_means
from napari_cuts.engine.hierarchy.tree import merge_tree


def spread_events(n_clusters: Sequence[int], count: int, low: int = 2) -> list[int]:
    """Up to `count` merge events whose cluster counts are spread log-evenly from the
    finest down to `low`."""
    nc = np.asarray(n_clusters)
    ok = np.flatnonzero(nc >= low)
    if not len(ok) or count < 1:
        return []
    targets = np.geomspace(nc[ok].max(), max(low, nc[ok].min()), max(count, 1))
    events = {int(ok[np.argmin(np.abs(np.log(nc[ok]) - np.log(t)))]) for t in targets}
    return sorted(events)


LARGE = 1 << 21  # pixels


def texture_channels(points: np.ndarray, channels: int, sigma: float):
    """Local mean and standard deviation of each of the first `channels` point channels
    over a Gaussian window of `sigma` pixels (half that along z), one (Z, Y, X) array at
    a time: what the texture looks like around each pixel, never held all at once.
    On large images (over 2 Mpx), windows of 4 pixels or more are computed on a grid of
    half the resolution (the time of the biggest filters, for a small loss of detail)."""
    from scipy import ndimage

    z, y, x = points.shape[:3]
    step = 2 if sigma >= 4 and z * y * x > LARGE else 1
    sig = (0 if z == 1 else sigma / 2, sigma / step, sigma / step)

    def smooth(a):
        if step > 1:  # mean of 2x2 blocks, filtered, then repeated back
            a = np.pad(a, ((0, 0), (0, y % 2), (0, x % 2)), mode="edge")
            a = a.reshape(z, a.shape[1] // 2, 2, a.shape[2] // 2, 2).mean((2, 4))
        a = ndimage.gaussian_filter(a, sig, mode="reflect")
        if step > 1:
            a = a.repeat(2, 1).repeat(2, 2)[:, :y, :x]
        return a

    for c in range(channels):
        v = points[..., c]
        mean = smooth(v)
        sq = smooth(v * v)
        yield mean
        np.subtract(sq, mean * mean, out=sq)
        yield np.sqrt(np.clip(sq, 0, None, out=sq), out=sq)


def node_points(pixel_nodes: np.ndarray, points: np.ndarray, extra=(), extra_weight: float = 1.0):
    """Mean point, pixel count and spread (mean squared deviation) of every basin.

    `extra` yields further (Z, Y, X) channels (e.g. texture statistics); together they
    are scaled to an RMS spread of `extra_weight` over the pixels.
    """
    from napari_cuts.engine.hierarchy.nodes import region_means

    means, counts = region_means(pixel_nodes, points)
    sq, _ = region_means(pixel_nodes, (points * points).sum(-1, keepdims=True))
    spread = np.clip(sq[:, 0].astype(np.float64) - (means.astype(np.float64) ** 2).sum(1), 0, None)
    flat = pixel_nodes.ravel()
    cols, var_cols, total_var = [], [], 0.0
    for channel in extra:
        v = channel.ravel().astype(np.float64)
        mu, var = v.mean(), v.var()
        m = np.bincount(flat, v, minlength=len(counts)) / np.maximum(counts, 1)
        m2 = np.bincount(flat, v * v, minlength=len(counts)) / np.maximum(counts, 1)
        cols.append(m - mu)
        var_cols.append(np.clip(m2 - m * m, 0, None))
        total_var += var
    if cols:
        scale = extra_weight / max(np.sqrt(total_var), 1e-12)
        means = np.concatenate([means, np.stack(cols, 1).astype(np.float32) * scale], 1)
        spread = spread + np.sum(var_cols, 0) * scale**2
    return means, counts, spread


def relabel(partition: np.ndarray) -> np.ndarray:
    """The same partition with ids 0..k-1."""
    _, out = np.unique(partition, return_inverse=True)
    return out.astype(np.int64).ravel()


def meet(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The coarsest partition finer than both `a` and `b` (of the same nodes)."""
    return relabel(a.astype(np.int64) * (int(b.max()) + 1) + b)


def boundary_merges(k: int, edges: np.ndarray, strength: np.ndarray, faces: np.ndarray):
    """The `k` regions merged two at a time along their weakest boundary first (the mean
    `strength` over the `faces` of the whole boundary two groups share; higra's average
    linkage).

    Yields per merge ``(moved, new)``: the regions of the smaller group that merged, and
    the id they take, the larger group's (a group's id is one of its regions)."""
    import higra as hg

    if not len(edges):
        return
    graph = hg.UndirectedGraph(k)
    graph.add_edges(edges[:, 0], edges[:, 1])
    tree, _ = hg.binary_partition_tree_average_linkage(graph, strength, faces)
    parent = np.asarray(tree.parents())
    children = [[] for _ in parent]
    for c in range(len(parent) - 1):
        children[parent[c]].append(c)
    members = {i: [i] for i in range(k)}  # tree node -> its regions, the group's id first
    for v in range(k, len(parent)):  # merges in order (a graph in pieces: fewer than k - 1)
        if len(children[v]) != 2:
            break
        small, big = sorted((members.pop(c) for c in children[v]), key=len)
        yield np.asarray(small), big[0]
        big.extend(small)
        members[v] = big


def coarse_levels(second, edges: np.ndarray, boundary: np.ndarray, room: int) -> list[tuple[np.ndarray, str, int]]:
    """Levels coarser than the default, coarse to fine as one nested chain, at most `room`
    of them, as (partition of the default's regions, kind, persistence).

    The classes (`second`: alike regions grouped anywhere) down to the class level that
    lasted longest; below it, groups of touching regions of one class, merged along their
    weakest boundary first (:func:`boundary_merges`; `edges` and `boundary`, summed
    gradient and faces, say which of the default's regions touch and how strongly apart):
    an object the default cuts in pieces, weak boundaries between them and a strong one
    around, is offered whole without mixing the classes. Boundaries between classes count
    as stronger than any within one, so those groups form first; the chain stops at them
    (every class's connected pieces). Region counts are spread log-evenly over the chain."""
    if not second.steps:
        return []
    parts = second.partitions()
    c = most_persistent(second.persistence, second.n_clusters)
    classes = list(range(c, len(second.steps)))
    kc = parts[c]
    k, seen = len(kc), {second.n_clusters[e] for e in classes}
    strength = boundary_means(boundary)
    if len(strength):
        strength[kc[edges[:, 0]] != kc[edges[:, 1]]] = 2 * strength.max() + 1

    steps = []  # the merges within classes, in order: (regions moved, id they take)
    for moved, new in boundary_merges(k, edges, strength, boundary[:, 1]):
        if kc[moved[0]] != kc[new]:  # the first merge across classes: every one within is done
            break
        steps.append((moved, new))
    within = []  # (merge, regions) of the merges that give a new partition
    for m in range(len(steps)):
        if k - m - 1 not in seen:
            seen.add(k - m - 1)
            within.append((m, k - m - 1))
    counts = [second.n_clusters[e] for e in classes] + [n for _, n in within]
    chosen = spread_events(counts, room)
    out = [(parts[classes[i]], "classes", second.persistence[classes[i]]) for i in chosen if i < len(classes)]
    wanted = {within[i - len(classes)][0] for i in chosen if i >= len(classes)}
    label = np.arange(k)  # every region's group, replayed merge by merge
    for m, (moved, new) in enumerate(steps):
        label[moved] = new
        if m in wanted:
            out.append((relabel(label), "regions", 1))
    return out


def hierarchy_iter(points: np.ndarray, config, n_texture: int = 0, texture_weight: float | None = None):
    """Basins, condensation, the default level and the classes, from (Z, Y, X, F) points.

    The first `n_texture` channels (the vectors) also describe the basins by their local
    texture statistics (:func:`texture_channels`) when the config asks, weighted by
    `texture_weight` (default: the config's; its *auto* counts as 0 here,
    :func:`napari_cuts.engine.pipeline.segment_iter` decides it per image).

    A generator yielding ``(stage, done, total, message)``; returns ``(pixel_nodes,
    hierarchy, info)`` where ``pixel_nodes`` is the (Z, Y, X) basin of every pixel.
    """
    from napari_cuts.engine.hierarchy.basins import basins, step_response
    from napari_cuts.engine.hierarchy.condensation import condense_graph_iter
    from napari_cuts.engine.hierarchy.nodes import boundaries, contract, pooled, region_means

    cfg = config
    yield "basins", 0, 1, "watershed basins"
    z_spacing = cfg.z_spacing or 1.0  # None: not known, cubic voxels
    spacing = (z_spacing if points.shape[0] > 1 else 1.0, 1.0, 1.0)  # voxel size, in pixel widths
    pixel_nodes, gradient = basins(points, cfg.pixels_per_node, cfg.max_basins, spacing)
    edges, boundary = boundaries(pixel_nodes, gradient)  # which basins touch, how strongly apart
    interior = region_means(pixel_nodes, gradient[..., None])[0][:, 0]  # each basin's mean gradient
    del gradient
    extra = ()
    if texture_weight is None:
        texture_weight = cfg.texture_weight or 0.0
    if n_texture and cfg.texture_scale > 0 and texture_weight > 0:
        extra = texture_channels(points, n_texture, cfg.texture_scale)
    means, counts, spread = node_points(pixel_nodes, points, extra, texture_weight)
    # Inside a texture the gradient is as strong as at its edges: a boundary's gradient is
    # a wall only as far as the image is not texture (the texture statistics' weight)
    wall_weight = float(np.clip(1.0 - texture_weight / TEXTURE_WEIGHT, 0, 1))
    n = len(means)
    yield "basins", 1, 1, f"{n} basins"

    def drive(gen, stage, total):
        while True:
            try:
                _, left = next(gen)
            except StopIteration as stop:
                return stop.value
            yield stage, total - left, max(total - 1, 1), f"{left} regions"

    common = dict(merge_fraction=cfg.merge_fraction, epsilon_growth=cfg.epsilon_growth,
                  mass_power=cfg.mass_power)
    walls = {}  # a wall's height as a step height, weighed by wall_weight
    if wall_weight > 0:
        walls = dict(boundary=boundary, interior=interior,
                     step_response=step_response(2 if points.shape[0] == 1 else 3) / wall_weight)
    first = yield from drive(condense_graph_iter(means, counts, edges, spread=spread, ward=cfg.size_penalty,
                                                 **walls, **common), "condensing", n)
    # the default level: the connected regions that live longest (its own stage)
    if cfg.default_rule == "persistent":  # the stage off: the connected level that lasted longest
        e = most_persistent(first.persistence, first.n_clusters) if first.steps else None
        cut = first.partitions([e])[e] if e is not None else np.zeros(n, np.int64)
    else:
        cut = excess_of_mass(merge_tree(counts, first), cfg.region_weight)
    k = int(cut.max()) + 1
    # finer levels: the connected run's partitions within the default's regions
    levels, seen = [], {k}
    for e, part in first.partitions(spread_events(first.n_clusters, cfg.fine_levels, low=1)).items():
        level = meet(cut, part)
        if int(level.max()) + 1 not in seen:
            seen.add(int(level.max()) + 1)
            levels.append(Level(level, "regions", first.persistence[e]))
    levels.append(Level(cut, "default", max(first.persistence, default=1)))
    default = len(levels) - 1
    if k > 2:  # coarser levels: alike regions of the default level grouped anywhere
        centres, mass = pooled(cut, means, counts)
        second = yield from drive(condense_graph_iter(
            centres, mass, None, knn=cfg.knn, merge_fraction=cfg.class_merge_fraction,
            epsilon_growth=cfg.class_epsilon_growth, mass_power=cfg.mass_power), "grouping", len(mass))
        room = max(cfg.max_levels - len(levels), 0)
        redges, rbound = contract(cut, edges, boundary)  # which regions touch, how strongly apart
        for part, kind, persistence in coarse_levels(second, redges, rbound, room):
            levels.append(Level(part[cut], kind, persistence))
        classes = [i for i, lv in enumerate(levels) if lv.kind == "classes"]
        if cfg.default_rule == "classes" and classes:  # the most persistent class partition
            default = classes[most_persistent([levels[i].persistence for i in classes],
                                              [levels[i].n_regions for i in classes])]
    hierarchy = build_hierarchy(levels, counts, default, n_salient=cfg.n_salient, max_levels=cfg.max_levels)
    info = {"n_basins": int(n), "iterations": int(first.iterations), "default_rule": cfg.default_rule}
    return pixel_nodes, hierarchy, info
