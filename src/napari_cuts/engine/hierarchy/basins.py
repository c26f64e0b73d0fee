"""The finest partition: watershed basins of the points' gradient, pixel-precise.

Every pixel's point (reduced CUTS vector and intensities) changes fast across a boundary
and slowly inside a region. The basins of the gradient magnitude of the points are
small regions whose outlines lie on the boundaries at pixel precision; higra's watershed
hierarchy by area merges the smallest basins first, and its cut at the wanted number of
regions gives the condensation's nodes. Every coarser level is a union of basins, so every
level's outlines follow the image.
"""

from __future__ import annotations

import numpy as np

#: Gaussian smoothing (pixels) before the Sobel gradient: single-pixel noise makes no
#: basin of its own while a boundary moves by less than a pixel (the same smoothing as
#: the watershed baseline of the benchmarks)
GRADIENT_SIGMA = 1.0


def step_response(ndim: int) -> float:
    """What :func:`points_gradient` gives across a step of one unit in an `ndim`-D image,
    in the continuous limit: the Gaussian turns the step into a slope of
    1 / (sqrt(2 pi) sigma) at its centre, and the Sobel filter weighs a difference over two
    pixels by 4 per further axis (8 in 2D, 32 in 3D); a step between two pixels gives 0.8
    of it. Dividing a gradient by it gives a step height, in the points' units."""
    return 2 * 4 ** (ndim - 1) / (np.sqrt(2 * np.pi) * GRADIENT_SIGMA)


def basin_count(n_pixels: int, pixels_per_node: int, max_nodes: int) -> int:
    """How many basins to cut: one per `pixels_per_node` pixels, at most `max_nodes`."""
    return int(max(min(n_pixels // pixels_per_node, max_nodes), 1))


def points_gradient(points: np.ndarray, spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """Gradient magnitude of a (Z, Y, X, F) volume of points: per channel a Gaussian of
    :data:`GRADIENT_SIGMA` pixels then Sobel, summed in quadrature; (Z, Y, X) float32.
    A 2D image (Z = 1) is filtered as a plane; a stack in 3D, smoothed over the same
    distance in z as in y and x (slices ``spacing[0]`` pixel widths apart), with the
    differences between neighbouring voxels, the steps the watershed floods along."""
    from scipy import ndimage

    z = points.shape[0]
    plane = z == 1
    sigma = GRADIENT_SIGMA if plane else (GRADIENT_SIGMA / spacing[0], GRADIENT_SIGMA, GRADIENT_SIGMA)
    axes = range(2) if plane else range(3)
    total = np.zeros(points.shape[1:3] if plane else points.shape[:3], np.float32)
    for c in range(points.shape[-1]):
        channel = points[0, ..., c] if plane else points[..., c]
        smooth = ndimage.gaussian_filter(channel.astype(np.float32), sigma, mode="nearest")
        for a in axes:
            d = ndimage.sobel(smooth, axis=a, mode="nearest")
            total += d * d
    np.sqrt(total, out=total)
    return total.reshape(points.shape[:3])


def watershed_basins(gradient: np.ndarray, n_regions: int) -> np.ndarray:
    """The cut of the watershed hierarchy by area of a (Z, Y, X) gradient with about
    `n_regions` regions (fewer where the gradient has fewer minima: a flat image is one
    region); (Z, Y, X) int32 labels 0..n-1, 4-connected in 2D, 6-connected in 3D."""
    import higra as hg

    shape = gradient.shape[1:] if gradient.shape[0] == 1 else gradient.shape
    graph = hg.get_4_adjacency_graph(shape) if len(shape) == 2 else hg.get_6_adjacency_graph(shape)
    # float32, as the gradient is: the same order of edges, sorted faster than float64
    weights = hg.weight_graph(graph, gradient.reshape(-1).astype(np.float32, copy=False), hg.WeightFunction.mean)
    tree, altitudes = hg.watershed_hierarchy_by_area(graph, weights)
    cut = hg.HorizontalCutExplorer(tree, altitudes).horizontal_cut_from_num_regions(max(int(n_regions), 1))
    labels = np.asarray(cut.labelisation_leaves(tree)).ravel()
    used = np.zeros(int(labels.max()) + 1, bool)  # ids 0..n-1 in the order of the old ids
    used[labels] = True
    ids = np.cumsum(used, dtype=np.int64) - 1
    return ids[labels].reshape(gradient.shape).astype(np.int32)


def basins(points: np.ndarray, pixels_per_node: int, max_nodes: int,
           spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-precise basins of a (Z, Y, X, F) volume of points: (Z, Y, X) int32 labels
    0..n-1, about one per `pixels_per_node` pixels (see :func:`basin_count`), and the
    points' gradient they are the basins of (:func:`points_gradient`)."""
    n = basin_count(int(np.prod(points.shape[:3])), pixels_per_node, max_nodes)
    gradient = points_gradient(points, spacing)
    return watershed_basins(gradient, n), gradient
