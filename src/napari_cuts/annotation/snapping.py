"""Snapping a pixel classifier's probabilities to the regions of CUTS levels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.writing import smallest_label_dtype


def vote_in_regions(probabilities: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Give every region of a CUTS level the class with the highest mean probability.

    Parameters
    ----------
    probabilities : (..., K) array
        Per-pixel class probabilities (as from ``predict(..., return_probabilities=True)``).
    regions : array
        A label image of the same spatial shape (for example the finest CUTS level).

    Returns
    -------
    (...,) int array of class indices 0..K-1: pixel predictions snapped to the region
    boundaries of the hierarchy.
    """
    regions = np.asarray(regions)
    proba = np.asarray(probabilities, np.float64).reshape(-1, probabilities.shape[-1])
    flat = regions.reshape(-1)
    if len(flat) != len(proba):
        raise CutsInputError(
            f"regions of shape {regions.shape} do not match probabilities of shape "
            f"{probabilities.shape[:-1]}"
        )
    _, inverse = np.unique(flat, return_inverse=True)
    sums = np.zeros((inverse.max() + 1, proba.shape[1]))
    np.add.at(sums, inverse, proba)
    return sums.argmax(1)[inverse].reshape(regions.shape)


def snap_to_levels(
    probabilities: np.ndarray,
    levels: np.ndarray | Sequence[np.ndarray],
    scribbles: np.ndarray,
    classes: Sequence[int] | np.ndarray,
    *,
    background: int | None = None,
) -> tuple[np.ndarray, int]:
    """Turn scribbles into whole CUTS regions, at the level the classifier agrees with.

    For every level, each region takes the class with the highest mean probability,
    and a region with strokes the class most of its strokes have; the level whose map
    agrees best with the pixel classifier (mean Dice over the classes) is chosen
    (the coarser one on ties). At that level, regions with strokes keep their strokes'
    class and all other regions get `background`. So the strokes pick the regions and
    the classifier picks how coarse they are.

    Parameters
    ----------
    probabilities : (..., K) array
        Per-pixel class probabilities, classes in the order of `classes`.
    levels : (L, ...) label images, coarse to fine
        For example ``Segmentation.levels()`` or the layers of a CUTS result.
    scribbles : (...) int array
        0 = not scribbled; values of `classes` elsewhere.
    classes : sequence of K ints
        The class values, increasing (``ScribbleRefiner.classes_``).
    background : int, optional
        Class of regions without strokes; default the smallest class (class 1).

    Returns
    -------
    (labels, level): labels of the scribbles' shape holding class values, and the index
    of the chosen level.
    """
    classes = np.asarray(classes)
    scr = np.asarray(scribbles)
    spatial = scr.shape
    proba = np.asarray(probabilities, np.float64).reshape(-1, len(classes))
    level_list = [np.asarray(lev) for lev in (levels if not isinstance(levels, np.ndarray)
                                              or levels.ndim > scr.ndim else [levels])]
    if not level_list or any(lev.shape != spatial for lev in level_list):
        raise CutsInputError(f"levels must be label images of the scribbles' shape {spatial}")
    if len(proba) != scr.size:
        raise CutsInputError("probabilities do not match the scribbles' shape")
    bg = int(classes.min() if background is None else background)
    if bg not in set(classes.tolist()):
        raise CutsInputError(f"background class {bg} is not one of the classes {classes.tolist()}")
    pixel_class = proba.argmax(1)
    flat_scr = scr.reshape(-1)
    drawn = flat_scr != 0
    stroke_index = np.searchsorted(classes, flat_scr[drawn])
    best = (-1.0, 0, None)
    for li, lev in enumerate(level_list):
        _, region = np.unique(lev.reshape(-1), return_inverse=True)
        n = int(region.max()) + 1
        sums = np.zeros((n, len(classes)))
        np.add.at(sums, region, proba)
        votes = np.zeros((n, len(classes)))
        np.add.at(votes, (region[drawn], stroke_index), 1)
        has_strokes = votes.sum(1) > 0
        region_class = np.where(has_strokes, votes.argmax(1), sums.argmax(1))
        mapped = region_class[region]
        agreement = np.mean([
            2 * np.sum((mapped == k) & (pixel_class == k))
            / max(np.sum(mapped == k) + np.sum(pixel_class == k), 1)
            for k in range(len(classes))
        ])
        if agreement > best[0] + 1e-12:
            stroke_class = np.where(has_strokes, classes[votes.argmax(1)], bg)
            best = (agreement, li, stroke_class[region])
    labels = best[2].reshape(spatial).astype(smallest_label_dtype(int(classes.max())))
    return labels, best[1]
