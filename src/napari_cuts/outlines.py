"""Object outlines redrawn pixel by pixel.

The objects level is built from superpixels, and a superpixel holds tens of pixels (some
64 voxels in a stack): an outline that follows them misses a small object's edge by a
pixel or two, which costs a nucleus a large part of its Dice. :func:`redraw_outlines`
redraws every object's outline at pixel resolution near its edge: a pixel within `reach`
of the object belongs to it where its point lies nearer the object's mean point than the
mean point of the ring just outside it (measured along the line between the two).
"""

from __future__ import annotations

import numpy as np

from .regions import node_majority, region_means

#: objects of more pixels (voxels) than this, a 256x256 square, keep their superpixel
#: outline: a pixel or two along it is some 2 % of such an object, and redrawing it costs
#: time and memory in proportion to its size (the largest object on the development
#: panel holds 31,384 pixels; a 2048x2048 photo's background objects, millions)
MAX_PIXELS = 65536

#: outlines are redrawn only where the objects' pixels, placed along the line from their
#: ring's mean (0) to their object's mean (1), spread around 0 or 1 by at most this (root
#: mean square, the median over the objects)
MAX_SPREAD = 0.5


def _majority(groups: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of `n` groups the value most of its members carry, and the group sizes."""
    sizes = np.bincount(groups, minlength=n)
    if not len(values):
        return np.zeros(n, np.int64), sizes
    return np.unique(values)[node_majority(groups, values, n)].astype(np.int64), sizes


def _group_means(groups: np.ndarray, points: np.ndarray, n: int) -> np.ndarray:
    return region_means(groups, points, n)[0].astype(np.float64)


def _projection(p: np.ndarray, group: np.ndarray, mean_in: np.ndarray,
                mean_out: np.ndarray, chunk: int = 1 << 18) -> tuple[np.ndarray, np.ndarray]:
    """Where each pixel's point lies on the line from its group's outer mean (0) to its
    inner mean (1), and each group's squared line length (`chunk` pixels at a time, so a
    large image needs no (pixels, features) temporaries)."""
    axis = mean_in - mean_out
    length = (axis * axis).sum(1)
    t = np.empty(len(p))
    for start in range(0, len(p), chunk):
        g = group[start:start + chunk]
        t[start:start + chunk] = (((p[start:start + chunk] - mean_out[g]) * axis[g]).sum(1)
                                  / np.maximum(length[g], 1e-12))
    return t, length


def redraw_outlines(labels: np.ndarray, instances: np.ndarray, points: np.ndarray, reach: float, *,
                    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
                    next_id: int | None = None, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """`labels` with every object of `instances` redrawn at pixel resolution near its edge.

    Parameters
    ----------
    labels : (Z, Y, X) int array
        A level at superpixel resolution (ids > 0).
    instances : (Z, Y, X) int array
        Objects 1..n (0 elsewhere), each mostly covering one region of `labels`.
    points : (Z, Y, X, F) float array
        Every pixel's point (what the superpixels were made from).
    reach : float
        How far from an object (in pixel widths, scaled by `spacing`) its outline may move.
    spacing : tuple of float
        Voxel size along z, y and x.
    next_id : int, optional
        First id for an object with no region of its own in `labels` (default: above
        `labels`' ids).
    max_pixels : int, optional
        Objects larger than this keep their outline from `labels` (None: all redrawn).

    Returns
    -------
    (Z, Y, X) array of `labels`' dtype (or a wider one): each object keeps the pixels of
    its zone (object and ring) whose point projects past the middle between the object's
    mean and its ring's mean (the means measured once on the object and its ring, then
    again on the two sides of that first outline), and every pixel deeper inside it than
    `reach` (noise makes no holes); the other pixels of the zone, and the
    pixels of the object's region beyond its zone, take the region that holds most of the
    ring. `labels` unchanged where the objects' and rings' pixels overlap much along
    those lines (:data:`MAX_SPREAD`).
    """
    from scipy import ndimage
    from skimage.segmentation import expand_labels

    n = int(instances.max()) + 1
    if n == 1 or reach <= 0:
        return labels
    if max_pixels is not None:
        large = np.bincount(instances.ravel(), minlength=n) > max_pixels
        large[0] = False
        if large.any():
            instances = np.where(large[instances], 0, instances)
            if not instances.any():
                return labels
    flat = instances.shape[0] == 1
    zone = expand_labels(instances[0] if flat else instances, distance=reach,
                         spacing=spacing[1:] if flat else spacing).reshape(instances.shape)
    near = zone > 0
    group = zone[near]
    inside = instances[near] > 0
    region = labels[near].astype(np.int64)
    p = points[near]  # float32: the means and the projection are computed in float64
    mean_in = _group_means(group[inside], p[inside], n)
    mean_out = _group_means(group[~inside], p[~inside], n)
    own, n_in = _majority(group[inside], region[inside], n)
    zone_size = np.bincount(group, minlength=n)
    # the object's own region: the one most of it lies in, unless that region is larger
    # than its zone (the surround, or a region it is only a part of)
    region_size = np.bincount(labels.ravel())
    owned = region_size[own] <= zone_size
    ring_all, n_all = _majority(group[~inside], region[~inside], n)
    outside = ~inside & (region != own[group])  # the ring, without the object's own region
    ring_ex, n_ex = _majority(group[outside], region[outside], n)
    leaky = owned & (own == ring_all)  # its own region holds most of its ring
    ring = np.where(leaky, ring_ex, ring_all)
    n_ring = np.where(leaky, n_ex, n_all)
    t, length = _projection(p, group, mean_in, mean_out)
    ok = (n_in > 0) & (n_ring > 0) & (length > 0)
    ok[0] = False
    if not ok.any():
        return labels

    # where the pixels of objects and of their rings overlap much along that line
    # (texture, low contrast), a single pixel's point says little: outlines stay
    centred = t - inside
    spread = np.sqrt(np.bincount(group, centred * centred, minlength=n) / np.maximum(zone_size, 1))
    if np.median(spread[ok]) > MAX_SPREAD:
        return labels
    # the means again, of the pixels on either side of the first outline (those of the
    # superpixels' outline mix both sides), and the outline drawn once more
    member = t > 0.5
    both = (np.bincount(group[member], minlength=n) > 0) & (np.bincount(group[~member], minlength=n) > 0)
    mean_in = np.where(both[:, None], _group_means(group[member], p[member], n), mean_in)
    mean_out = np.where(both[:, None], _group_means(group[~member], p[~member], n), mean_out)
    t, length = _projection(p, group, mean_in, mean_out)
    ok &= length > 0

    # an object without a region of its own, or whose region a larger object took: a new id
    first = int(labels.max()) + 1 if next_id is None else int(next_id)
    owns = ok & owned & (own != ring)
    new = np.flatnonzero(ok & ~owns)
    taken = {}
    for i in np.flatnonzero(owns)[np.argsort(-n_in[owns], kind="stable")]:
        if own[i] in taken:
            new = np.append(new, i)
        taken.setdefault(own[i], i)
    ids = own.copy()
    ids[np.sort(new)] = np.arange(first, first + len(new))
    out = labels.astype(np.result_type(labels.dtype, np.min_scalar_type(first + len(new))), copy=True)

    # the object's region beyond its zone goes to the ring's region
    owner = np.zeros(int(labels.max()) + 1, np.int64)
    for label, i in taken.items():
        owner[label] = i
    left = owner[labels] > 0
    left &= zone != owner[labels]
    out[left] = ring[owner[labels[left]]]

    redrawn = ok[group]
    # pixels deeper inside an object than `reach` stay in it: noise makes no holes
    depth = ndimage.distance_transform_edt(instances[0] if flat else instances,
                                           sampling=spacing[1:] if flat else spacing).reshape(instances.shape)
    values = np.where((t > 0.5) | (depth[near] > reach), ids[group], ring[group])
    view = out[near]
    view[redrawn] = values[redrawn]
    out[near] = view
    return out
