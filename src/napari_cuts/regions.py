"""Superpixels that follow boundaries, and the graph of which touch which.

The condensation's nodes are small connected regions of alike pixels (SLIC on the pixels'
points), not clusters of pixels from anywhere: so a node never straddles two touching
objects, and merging only along the adjacency graph keeps every region connected.
"""

from __future__ import annotations

import numpy as np


def superpixels(points: np.ndarray, pixels_per_node: int, compactness: float,
                min_nodes: int = 2048, max_nodes: int = 1 << 30,
                spacing: tuple[float, ...] | None = None) -> np.ndarray:
    """SLIC superpixels of a (Z, Y, X, F) volume of points; (Z, Y, X) int32 labels 0..n-1.

    About one superpixel per `pixels_per_node` pixels, but at least `min_nodes` (with at
    least 8 pixels each) so small images keep fine boundaries, and at most `max_nodes`. 2D images (Z = 1) are
    segmented as planes, stacks in 3D. Images over 2 Mpx get 5 SLIC passes instead of 10. `compactness` weighs position against the
    points' differences (in units of the points).
    """
    from skimage.segmentation import slic

    z, y, x, _ = points.shape
    total = z * y * x
    n = int(max(min(total // pixels_per_node, max_nodes), min(min_nodes, total // 8), 2))
    iterations = 10 if total <= 1 << 21 else 5  # large images: half the refinement passes
    if z == 1:
        lab = slic(points[0], n_segments=n, compactness=compactness, channel_axis=-1,
                   convert2lab=False, start_label=0, enforce_connectivity=True, max_num_iter=iterations)
        lab = lab[None]
    else:
        lab = slic(points, n_segments=n, compactness=compactness, channel_axis=-1,
                   convert2lab=False, start_label=0, enforce_connectivity=True, max_num_iter=iterations,
                   spacing=spacing)
    _, lab = np.unique(lab, return_inverse=True)
    return lab.reshape(z, y, x).astype(np.int32)


def adjacency(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) of labels that touch along an axis, and how many pixel faces they share."""
    pairs = []
    for axis in range(labels.ndim):
        if labels.shape[axis] < 2:
            continue
        a = np.moveaxis(labels, axis, 0)
        lo, hi = a[:-1].ravel(), a[1:].ravel()
        diff = lo != hi
        lo, hi = lo[diff], hi[diff]
        pairs.append(np.stack([np.minimum(lo, hi), np.maximum(lo, hi)], 1))
    if not pairs:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
    both = np.concatenate(pairs).astype(np.int64)
    n = int(labels.max()) + 1
    keys, counts = np.unique(both[:, 0] * n + both[:, 1], return_counts=True)
    return np.stack([keys // n, keys % n], 1), counts


def region_means(labels: np.ndarray, values: np.ndarray, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(n, F) mean of `values` (..., F) over every label, and the (n,) pixel counts."""
    flat = labels.ravel()
    n = int(flat.max()) + 1 if n is None else n
    counts = np.bincount(flat, minlength=n).astype(np.float64)
    vals = values.reshape(len(flat), -1)
    sums = np.stack([np.bincount(flat, vals[:, f], minlength=n) for f in range(vals.shape[1])], 1)
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32), counts



def pooled(partition: np.ndarray, values: np.ndarray, counts: np.ndarray,
           minlength: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mass-weighted mean of node `values` over the clusters of `partition` (at least
    `minlength` of them; 0 for a cluster without nodes), and their mass."""
    m = max(int(partition.max()) + 1, minlength)
    mass = np.bincount(partition, counts, minlength=m)
    means = np.stack([np.bincount(partition, values[:, f] * counts, minlength=m)
                      for f in range(values.shape[1])], 1) / np.maximum(mass, 1e-300)[:, None]
    return means, mass


def node_majority(pixel_nodes: np.ndarray, pixel_labels: np.ndarray, n_nodes: int) -> np.ndarray:
    """For every node, the pixel label most of its pixels carry."""
    from scipy.sparse import coo_matrix

    lab = pixel_labels.ravel().astype(np.int64)
    _, inv = np.unique(lab, return_inverse=True)
    counts = coo_matrix((np.ones(len(lab)), (pixel_nodes.ravel(), inv)), shape=(n_nodes, inv.max() + 1)).tocsr()
    return np.asarray(counts.argmax(1)).ravel()


def labelled_pieces(mask: np.ndarray, min_size: int) -> tuple[np.ndarray, int]:
    """Connected pieces of a (Z, Y, X) mask (labels) and how many have `min_size` pixels or more."""
    from skimage.measure import label

    lab = label(mask[0] if mask.shape[0] == 1 else mask, connectivity=1).reshape(mask.shape)
    return lab, int((np.bincount(lab.ravel())[1:] >= min_size).sum())


def pieces(mask: np.ndarray, min_size: int) -> tuple[np.ndarray, int, float]:
    """Connected pieces of a (Z, Y, X) mask: labels, how many have `min_size` pixels or
    more, and their area-weighted solidity (1: every piece convex). For stacks the
    solidity is that of the pieces' 2D sections, so that it means the same as in 2D."""
    from skimage.measure import label, regionprops

    lab, n_big = labelled_pieces(mask, min_size)
    area, solidity = [], []
    for plane in lab:
        for p in regionprops(label(plane > 0, connectivity=1)):
            if p.area >= max(4, min_size // max(1, mask.shape[0] // 4) if mask.shape[0] > 1 else min_size):
                area.append(p.area)
                solidity.append(_solidity(p))
    if not area:
        return lab, n_big, 0.0
    area = np.asarray(area, float)
    return lab, n_big, float((area * np.asarray(solidity)).sum() / area.sum())


def section_solidity(mask: np.ndarray) -> float:
    """Area-weighted solidity of a (Z, Y, X) mask's 2D sections, each taken whole (a
    section of two blobs has the convex hull of both); 0 for an empty mask."""
    from skimage.measure import regionprops

    areas, solidity = [], []
    for plane in mask:
        if plane.any():
            prop = regionprops(plane.astype(np.uint8))[0]
            areas.append(prop.area)
            solidity.append(_solidity(prop))
    return float(np.average(solidity, weights=areas)) if areas else 0.0


def _solidity(prop) -> float:
    try:
        return float(prop.solidity)
    except Exception:  # flat pieces have no convex hull (qhull refuses)
        return 1.0


def shape_anisotropy(mask: np.ndarray, min_size: int, limits: tuple[float, float] = (0.25, 4.0)) -> float:
    """How much wider than deep the pieces of a (Z, Y, X) mask are: the square root of
    their coordinates' variance in y and x over that in z, a geometric mean weighted by
    size over the pieces of `min_size` voxels or more (1 for planes or no such pieces).
    Scaling z by it makes the typical piece round, as the splitting of blobs assumes."""
    from skimage.measure import label, regionprops

    if mask.shape[0] < 2:
        return 1.0
    ratios, weights = [], []
    for p in regionprops(label(mask, connectivity=1)):
        var = p.coords.var(0) if p.area >= min_size else None
        if var is not None and var[0] > 0:
            ratios.append(0.5 * np.log((var[1] + var[2]) / 2 / var[0]))
            weights.append(p.area)
    if not ratios:
        return 1.0
    return float(np.clip(np.exp(np.average(ratios, weights=weights)), *limits))


def split_touching(mask: np.ndarray, anisotropy: float = 1.0, min_distance: int = 4) -> np.ndarray:
    """Instances of a (Z, Y, X) mask: connected pieces, touching blobs split apart.

    Watershed of the distance to the background from its local maxima (one per blob);
    `anisotropy` is the z spacing relative to y and x.
    """
    from scipy import ndimage
    from skimage.feature import peak_local_max
    from skimage.measure import label
    from skimage.segmentation import watershed

    m = mask[0] if mask.shape[0] == 1 else mask
    sampling = None if m.ndim == 2 else (anisotropy, 1.0, 1.0)
    dist = ndimage.gaussian_filter(ndimage.distance_transform_edt(m, sampling=sampling), 1.0)
    pieces_ = label(m, connectivity=1)
    peaks = peak_local_max(dist, min_distance=min_distance, labels=pieces_, exclude_border=False)
    markers = np.zeros(m.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    out = watershed(-dist, markers, mask=m)
    # pieces without a peak (tiny ones) keep their own label
    missing = m & (out == 0)
    if missing.any():
        out[missing] = pieces_[missing] + out.max()
    return out.reshape(mask.shape)
