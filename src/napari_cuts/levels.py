"""Which levels a segmentation offers, and which one the user sees first.

Condensation runs three times (see :func:`hierarchy_iter`): along the superpixels'
adjacency graph, so its levels are connected *regions* from the superpixels up; from a
start level of that run, on the kNN graph of its regions' mean points, so alike regions
anywhere group into *classes*; and on the superpixels' points with their position, so
alike regions near each other form *compact* regions. The levels offered are log-spaced
choices of each run's partitions and one *objects* level made from the most persistent
classes: each class becomes one region ("stuff": tissue spread over the image), its
connected pieces (a class of a few large regions, split further along the most
persistent connected level, or a piece that surrounds the rest along a compact level),
or its instances with touching blobs split apart ("things": compact objects such as
nuclei); see :mod:`napari_cuts.objects`. That level is the default: it is what the
user looks at first.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .condensation import MergeHistory
from .hierarchy import Level
from .objects import NodeStats, objects_partition
from .outlines import redraw_outlines
from .regions import pooled
from .standout import add_dim_objects


def spread_events(n_clusters: Sequence[int], count: int, low: int = 2) -> list[int]:
    """Up to `count` merge events whose cluster counts are spread log-evenly from the
    finest down to `low`."""
    nc = np.asarray(n_clusters)
    ok = np.flatnonzero(nc >= low)
    if not len(ok):
        return []
    targets = np.geomspace(nc[ok].max(), max(low, nc[ok].min()), max(count, 1))
    events = {int(ok[np.argmin(np.abs(np.log(nc[ok]) - np.log(t)))]) for t in targets}
    return sorted(events)


def start_event(history: MergeHistory, fraction: float, minimum: int = 16) -> int | None:
    """The first-run event with about `fraction` of the nodes left (at least `minimum`)."""
    nc = np.asarray(history.n_clusters)
    if not len(nc):
        return None
    target = max(minimum, fraction * history.n_nodes)
    return int(np.argmin(np.abs(np.log(nc) - np.log(target))))


def salient_event(history: MergeHistory, max_regions: int, min_regions: int = 2) -> int | None:
    """The partition with min_regions..max_regions clusters of highest persistence x
    log(clusters)."""
    nc = np.asarray(history.n_clusters)
    cand = [e for e in range(len(nc)) if max(2, min_regions) <= nc[e] <= max_regions]
    if not cand or max_regions < 2:
        return None
    return max(cand, key=lambda e: (history.persistence[e] * np.log(nc[e]), e))


def class_events(history: MergeHistory, max_classes: int, within: float = 1.0) -> list[int]:
    """The most persistent second-run partition with 2..max_classes classes (the coarser
    on ties), then the finer partitions just before it, as long as each is at least
    `within` (below 1) times as persistent and lasted more than one merge."""
    nc = np.asarray(history.n_clusters)
    pers = np.asarray(history.persistence)
    cand = [e for e in range(len(nc)) if 2 <= nc[e] <= max_classes]
    if not cand:
        return []
    top = max(cand, key=lambda e: (pers[e], e))
    events = [top]
    for e in range(top - 1, -1, -1) if within < 1 else ():
        if not (2 <= nc[e] <= max_classes and pers[e] >= within * pers[top] and pers[e] > 1):
            break
        events.append(e)
    return events


def candidate_levels(first: MergeHistory, start: int | None, second: MergeHistory | None,
                     objects: np.ndarray | None, *, fine_levels: int, max_classes: int,
                     compact: list[Level] = ()) -> tuple[list[Level], int]:
    """The levels to offer and the index of the default among them.

    First-run levels (log-spaced, connected regions), second-run classes (2..max_classes,
    composed with the start level), the objects level (the default) and the given
    compact levels. Without a second run, the default is the first run's start level.
    """
    levels: list[Level] = list(compact)
    pers1 = first.persistence
    for e, part in first.partitions(spread_events(first.n_clusters, fine_levels)).items():
        levels.append(Level(part, "regions", pers1[e]))
    default = None
    if second is not None and start is not None:
        start_part = first.partitions([start])[start]
        ev = [e for e, n in enumerate(second.n_clusters) if 2 <= n <= max_classes]
        for e, part in second.partitions(ev).items():
            levels.append(Level(part[start_part], "classes", second.persistence[e]))
        if objects is not None:
            levels.append(Level(objects, "objects", max(second.persistence, default=1)))
            default = len(levels) - 1
    if default is None:
        if start is not None and start not in spread_events(first.n_clusters, fine_levels):
            levels.append(Level(first.partitions([start])[start], "regions", pers1[start]))
            default = len(levels) - 1
        else:
            default = max(range(len(levels)), key=lambda i: levels[i].n_regions) if levels else 0
            if start is not None:
                target = int(first.n_clusters[start])
                default = min(range(len(levels)), key=lambda i: (levels[i].kind != "regions",
                                                                 abs(levels[i].n_regions - target)))
    if not levels:
        levels.append(Level(np.zeros(first.n_nodes, np.int64), "regions", 1))
        default = 0
    return levels, default


LARGE = 1 << 21  # pixels
#: a surrounding piece is split along the most salient compact level of at least this
#: many regions (coarser ones group objects with their surround)
SURROUND_MIN_REGIONS = 16


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
    """Mean point, pixel count and spread (mean squared deviation) of every superpixel.

    `extra` yields further (Z, Y, X) channels (e.g. texture statistics); together they
    are scaled to an RMS spread of `extra_weight` over the pixels.
    """
    from .regions import region_means

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


def hierarchy_iter(points: np.ndarray, config, n_texture: int = 0, texture_weight: float | None = None):
    """Superpixels, the three condensation runs and the levels, from (Z, Y, X, F) points.

    The first `n_texture` channels (the vectors) also describe the superpixels by
    their local texture statistics (:func:`texture_channels`) when the config asks,
    weighted by `texture_weight` (default: the config's; its *auto* counts as 0 here,
    :func:`napari_cuts.pipeline.segment_iter` decides it per image).

    A generator yielding ``(stage, done, total, message)``; returns ``(pixel_nodes,
    hierarchy, info, pixel_levels)`` where ``pixel_nodes`` is the (Z, Y, X) superpixel of
    every pixel and ``pixel_levels`` holds levels drawn per pixel ({level: (Z, Y, X)
    labels}: the objects level with its outlines redrawn, see :mod:`napari_cuts.outlines`).
    """
    from .condensation import condense_graph_iter
    from .hierarchy import build_hierarchy
    from .regions import adjacency, region_means, superpixels

    cfg = config
    yield "superpixels", 0, 1, "superpixels"
    z_spacing = cfg.z_spacing or 1.0  # None: not known, cubic voxels
    spacing = (z_spacing if points.shape[0] > 1 else 1.0, 1.0, 1.0)  # voxel size, in pixel widths
    pixel_nodes = superpixels(points, cfg.pixels_per_node, cfg.compactness, max_nodes=cfg.max_superpixels,
                              spacing=spacing)
    extra = ()
    if texture_weight is None:
        texture_weight = cfg.texture_weight or 0.0
    if n_texture and cfg.texture_scale > 0 and texture_weight > 0:
        extra = texture_channels(points, n_texture, cfg.texture_scale)
    means, counts, spread = node_points(pixel_nodes, points, extra, texture_weight)
    edges, _ = adjacency(pixel_nodes)
    n = len(means)
    yield "superpixels", 1, 1, f"{n} superpixels"

    def drive(gen, stage, total):
        while True:
            try:
                _, left = next(gen)
            except StopIteration as stop:
                return stop.value
            yield stage, total - left, max(total - 1, 1), f"{left} regions"

    common = dict(merge_fraction=cfg.merge_fraction, epsilon_growth=cfg.epsilon_growth,
                  mass_power=cfg.mass_power)
    first = yield from drive(condense_graph_iter(means, counts, edges, spread=spread,
                                                 ward=cfg.size_penalty, **common), "condensing", n)
    compact, surround = [], None
    if cfg.spatial_weight > 0 and cfg.compact_levels > 0:
        # Compact regions: alike and nearby superpixels (or, on large images, connected
        # regions) merge, whether they touch or not: each node's point with its position.
        nc1 = np.asarray(first.n_clusters)
        fit = np.flatnonzero(nc1 <= cfg.compact_nodes)
        base = np.arange(n) if n <= cfg.compact_nodes or not len(fit) else first.partitions([fit[0]])[fit[0]]
        extent = [k * d for k, d in zip(pixel_nodes.shape, spacing)]
        grid = np.stack(np.meshgrid(*[np.arange(k, dtype=np.float32) * d for k, d in
                                      zip(pixel_nodes.shape, spacing)], indexing="ij"), -1) / max(extent)
        position, _ = region_means(pixel_nodes, grid, n)
        centres, mass = pooled(base, np.concatenate([means, position * cfg.spatial_weight], 1), counts)
        third = yield from drive(condense_graph_iter(
            centres, mass, None, knn=cfg.knn, merge_fraction=cfg.class_merge_fraction,
            epsilon_growth=cfg.class_epsilon_growth, mass_power=cfg.mass_power), "compact regions", len(mass))
        for e, part in third.partitions(spread_events(third.n_clusters, cfg.compact_levels)).items():
            compact.append(Level(part[base], "compact", third.persistence[e]))
        e3 = salient_event(third, cfg.piece_regions, min_regions=SURROUND_MIN_REGIONS)
        if e3 is not None:  # the compact regions a surrounding piece is split along
            surround = third.partitions([e3])[e3][base]
    start = start_event(first, cfg.start_fraction)
    second = objects = None
    fate: list[str] = []
    n_dim = 0
    if start is not None:
        start_part = first.partitions([start])[start]
        centres, mass = pooled(start_part, means, counts)
        m = len(mass)
        second = yield from drive(condense_graph_iter(
            centres, mass, None, knn=cfg.knn, merge_fraction=cfg.class_merge_fraction,
            epsilon_growth=cfg.class_epsilon_growth, mass_power=cfg.mass_power),
                                  "grouping", m)
        min_size = max(16, int(pixel_nodes.size * 2e-4))
        e1 = salient_event(first, cfg.piece_regions)
        sub = None if e1 is None else first.partitions([e1])[e1]
        # of the most persistent class partition and the finer ones just before it that
        # are nearly as persistent, the one whose objects cover the most (dim objects
        # grouped with the background are objects in a finer one); the first on ties
        covered = -1
        # candidates for the objects inside a surround and for dim objects: the connected
        # and compact levels, fine to coarse
        connected = list(first.partitions(spread_events(first.n_clusters, cfg.fine_levels)).values())
        stats = NodeStats(means, counts, spread, edges)
        for k in class_events(second, cfg.max_classes, cfg.class_tolerance):
            class_of_node = second.partitions([k])[k][start_part]
            found = objects_partition(
                pixel_nodes, class_of_node, min_size=min_size, thing_solidity=cfg.thing_solidity,
                few_pieces=cfg.few_pieces, regions=sub, anisotropy=cfg.z_spacing,
                surround_regions=surround, surround=cfg.surround_fraction,
                nodes=stats, alike=cfg.alike_merge,
                levels=[level.partition for level in compact] + connected)
            area = np.count_nonzero(found.instances)
            if area > covered:
                objects, covered = found, area
        if objects is not None:
            objects, n_dim = add_dim_objects(objects, pixel_nodes, connected, points, cfg.dim_objects,
                                             nodes=stats)
            fate = objects.fate
    levels, default = candidate_levels(first, start, second, None if objects is None else objects.partition,
                                       fine_levels=cfg.fine_levels, max_classes=cfg.max_classes,
                                       compact=compact)
    hierarchy = build_hierarchy(levels, counts, default, n_salient=cfg.n_salient,
                                max_levels=cfg.max_levels)
    pixel_levels = {}
    if objects is not None and cfg.outline_reach > 0 and objects.instances.any():
        yield "outlines", 0, 1, "redrawing the objects' outlines"
        d = hierarchy.default_level  # the objects level
        drawn = redraw_outlines(hierarchy.node_labels[d][pixel_nodes], objects.instances, points,
                                cfg.outline_reach, spacing=(objects.z_scale, 1.0, 1.0),
                                next_id=int(hierarchy.node_labels.max()) + 1)
        pixel_levels[d] = drawn
        hierarchy.n_regions[d] = len(np.unique(drawn))
        yield "outlines", 1, 1, "outlines redrawn"
    info = {"n_superpixels": int(n), "iterations": int(first.iterations), "classes": fate,
            "dim_objects": n_dim}
    if second is not None:
        info["grouping"] = [[int(c), int(p)] for c, p in zip(second.n_clusters, second.persistence)
                            if c <= cfg.max_classes]
    return pixel_nodes, hierarchy, info, pixel_levels
