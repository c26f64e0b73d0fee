"""Per-region measurements (shape, intensity, GLCM texture) and an atomic CSV writer.

:func:`measure_regions` returns a dict of columns, one row per region, which napari's
``layer.features`` takes as is (see :func:`layer_features`) and :func:`write_csv` saves.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.writing import atomic_write, label_image

__all__ = ["LUMINANCE_WEIGHTS", "label_counts", "layer_features", "region_table", "luminance", "measure_regions",
           "write_csv"]

#: Weights of R, G and B in the luminance (those of ``skimage.color.rgb2gray``).
LUMINANCE_WEIGHTS = (0.2125, 0.7154, 0.0721)
DEFAULT_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)


def luminance(channels: np.ndarray) -> np.ndarray:
    """Luminance of a channels-last array (..., C), float64.

    One channel: itself. Three (RGB) or four (RGBA, alpha ignored): weighted by
    :data:`LUMINANCE_WEIGHTS`. Any other count: the mean of the channels.
    """
    c = channels.shape[-1]
    x = channels.astype(np.float64, copy=False)
    if c == 1:
        return x[..., 0]
    if c in (3, 4):
        return x[..., :3] @ np.asarray(LUMINANCE_WEIGHTS)
    return x.mean(-1)


def _pair(labels: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The image as channels-last (*labels.shape, C)."""
    if image.shape == labels.shape:
        return image[..., None]
    if image.ndim == labels.ndim + 1:
        if image.shape[:-1] == labels.shape:
            return image
        if image.shape[1:] == labels.shape:
            return np.moveaxis(image, 0, -1)
    raise CutsInputError(
        f"the labels (shape {labels.shape}) do not fit the image (shape {image.shape}); "
        "they must have the image's height and width (and slices)"
    )


def _glcm_texture(q: np.ndarray, levels: int, distances, angles) -> tuple[float, float]:
    """GLCM contrast and homogeneity of the nonzero pixels of a quantised 2D crop.

    `q` holds grey levels 1..levels inside the region and 0 outside; pairs that touch
    an outside pixel are dropped (row and column 0 of the co-occurrence matrix), and
    offsets without any pair are left out of the mean.
    """
    from skimage.feature import graycomatrix, graycoprops

    glcm = graycomatrix(q, distances=list(distances), angles=list(angles), levels=levels + 1,
                        symmetric=True, normed=False)[1:, 1:]
    valid = glcm.sum(axis=(0, 1)) > 0  # (n_distances, n_angles)
    if not valid.any():
        return math.nan, math.nan
    pairs = glcm[:, :, valid][:, :, :, None]  # graycoprops normalises each offset itself
    return (float(graycoprops(pairs, "contrast").mean()),
            float(graycoprops(pairs, "homogeneity").mean()))


def _shape_2d(region: np.ndarray) -> tuple[float, float]:
    """Perimeter and eccentricity of a 2D boolean mask (all its pieces together)."""
    from skimage.measure import regionprops

    props = regionprops(region.astype(np.uint8))
    if not props:
        return math.nan, math.nan
    return float(props[0].perimeter), float(props[0].eccentricity)


def measure_regions(
    labels: np.ndarray,
    image: np.ndarray,
    *,
    glcm_levels: int = 32,
    distances: Sequence[int] = (1,),
    angles: Sequence[float] = DEFAULT_ANGLES,
) -> dict[str, list]:
    """Measure every region of a label image over an intensity image.

    Parameters
    ----------
    labels : ndarray, (Y, X) or (Z, Y, X), integer
        0 = background; every other value is one region (pieces count together).
        Labels without any region are refused.
    image : ndarray
        The labels' shape, with or without a channel axis last (or first), any dtype.
    glcm_levels : int
        Grey levels for the GLCM. Luminance is quantised to 1..glcm_levels over its
        range in the labelled pixels (the same scale for every region), 0 marks pixels
        outside the region, and row and column 0 of the GLCM are dropped.
    distances, angles :
        GLCM offsets; contrast and homogeneity are averaged over them.

    Returns
    -------
    dict of lists, one row per region in increasing label order:
        ``label``; ``area`` (pixels, or voxels for a stack); ``perimeter`` and
        ``eccentricity`` (scikit-image's ``regionprops``); ``mean_intensity`` and
        ``std_intensity`` (of the luminance, see :func:`luminance`; population std);
        ``glcm_contrast`` and ``glcm_homogeneity`` (of the luminance, on the region's
        bounding box with pixels outside the region excluded; ``graycoprops``). Images
        with more than one channel also get ``mean_intensity_<c>`` and
        ``std_intensity_<c>`` per channel. For stacks, perimeter, eccentricity and
        texture are those of the region's largest slice, given in the extra column
        ``largest_slice``; area, means and stds are over all its voxels. Undefined
        values (e.g. the texture of a one-pixel region) are NaN.
    """
    labels = label_image(labels, "labels")
    image = np.asarray(image)
    if not (np.issubdtype(image.dtype, np.number) or image.dtype == bool) or np.iscomplexobj(image):
        raise CutsInputError(f"the image must hold real numbers, not {image.dtype}")
    if glcm_levels < 2 or glcm_levels > 255:
        raise CutsInputError("GLCM levels must be between 2 and 255")
    if not labels.any():
        raise CutsInputError("the labels have no regions (every pixel is 0)")
    channels = _pair(labels, image).astype(np.float64)
    ids, dense = _dense_ids(labels)  # costs follow the number of regions, not the largest id
    lum = luminance(channels)
    stack = labels.ndim == 3
    flat = dense.ravel()
    area = np.bincount(flat, minlength=len(ids) + 1)[1:]
    mean, std = _region_stats(flat, lum.ravel(), len(ids))
    per_channel = [_region_stats(flat, channels[..., c].ravel(), len(ids))
                   for c in range(channels.shape[-1])] if channels.shape[-1] > 1 else []

    finite = np.isfinite(lum)  # missing (NaN or infinite) pixels are left out of the texture
    inside = lum[(dense > 0) & finite]
    lo, hi = (float(inside.min()), float(inside.max())) if inside.size else (0.0, 0.0)
    scale = glcm_levels / (hi - lo) if hi > lo else 0.0
    quant = np.clip(np.floor((np.where(finite, lum, lo) - lo) * scale), 0, glcm_levels - 1).astype(np.uint8) + 1
    quant[~finite] = 0

    perimeter, eccentricity, contrast, homogeneity, largest = [], [], [], [], []
    for k, box in enumerate(ndimage.find_objects(dense), start=1):
        if stack:
            sub = dense[box] == k
            z = int(np.argmax(sub.reshape(len(sub), -1).sum(1))) + box[0].start
            plane = dense[z] == k
            ys, xs = ndimage.find_objects(plane.astype(np.uint8))[0]
            region, qcrop = plane[ys, xs], quant[z][ys, xs]
            largest.append(z)
        else:
            region, qcrop = dense[box] == k, quant[box]
        per, ecc = _shape_2d(region)
        con, hom = _glcm_texture(np.where(region, qcrop, 0).astype(np.uint8), glcm_levels, distances, angles)
        perimeter.append(per)
        eccentricity.append(ecc)
        contrast.append(con)
        homogeneity.append(hom)

    table: dict[str, list] = {
        "label": [int(i) for i in ids],
        "area": [int(a) for a in area],
        "perimeter": perimeter,
        "eccentricity": eccentricity,
        "mean_intensity": [float(v) for v in mean],
        "std_intensity": [float(v) for v in std],
        "glcm_contrast": contrast,
        "glcm_homogeneity": homogeneity,
    }
    for stat in (0, 1):
        for c, values in enumerate(per_channel):
            table[f"{('mean', 'std')[stat]}_intensity_{c}"] = [float(v) for v in values[stat]]
    if stack:
        table["largest_slice"] = largest
    return table


def label_counts(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The region ids of `labels` in increasing order (0 left out) and their pixel counts.

    Costs follow the number of pixels whatever the ids (1, 7 and 4,000,000,000 cost what
    three small ids cost)."""
    flat = np.asarray(labels).ravel()
    top = int(flat.max()) if flat.size else 0
    if top <= max(flat.size, 255):  # ids no larger than the pixel count: count them directly
        counts = np.bincount(flat.astype(np.intp, copy=False), minlength=1)
        ids = np.flatnonzero(counts[1:]) + 1
        return ids, counts[ids]
    ids, counts = np.unique(flat, return_counts=True)
    keep = ids != 0
    return ids[keep], counts[keep]


def region_table(labels: np.ndarray) -> dict:
    """Region id (`index`, as napari expects) and pixel count of every region."""
    ids, counts = label_counts(labels)  # any ids: costs follow the pixels, not the largest id
    return {"index": ids, "pixels": counts}


def _dense_ids(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The region ids in increasing order, and the labels renumbered 1..n (0 stays 0)."""
    ids, _ = label_counts(labels)
    if len(ids) and int(ids[-1]) <= max(labels.size, 255):
        lookup = np.zeros(int(ids[-1]) + 1, np.int32)
        lookup[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
        return ids, lookup[labels]
    dense = np.searchsorted(ids, labels).astype(np.int32) + 1  # ids sorted: their rank
    dense[labels == 0] = 0
    return ids, dense


def _region_stats(dense: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std of `values` per region 1..n of the flat `dense` labels,
    over the finite values only (NaN for a region without any)."""
    ok = np.isfinite(values)
    where, vals = dense[ok], values[ok]
    count = np.bincount(where, minlength=n + 1)[1:].astype(np.float64)
    total = np.bincount(where, weights=vals, minlength=n + 1)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        spread = np.bincount(where, weights=(vals - np.append(0.0, mean)[where]) ** 2, minlength=n + 1)[1:]
        return mean, np.sqrt(spread / count)


def layer_features(table: Mapping[str, Sequence], key: str = "label") -> dict[str, list]:
    """A table as napari ``Labels.features``: its `key` column copied to ``index``.

    napari matches rows to label values through the ``index`` column.
    """
    out = {"index": list(table[key])}
    out.update({k: list(v) for k, v in table.items()})
    return out


def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value)) if math.isfinite(value) else ("nan" if math.isnan(value) else str(float(value)))
    return str(value)


def write_csv(table: Mapping[str, Sequence], path: str | os.PathLike) -> Path:
    """Write a dict of columns as CSV (header row, then one row per entry), atomically.

    The file is written to a temporary file beside `path` and renamed over it, so a
    reader never sees half a file. NaN is written as ``nan``.
    """
    path = Path(path)
    keys = list(table)
    lengths = {len(table[k]) for k in keys}
    if len(lengths) > 1:
        raise ValueError(f"columns differ in length: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    with atomic_write(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(keys)
        for i in range(n):
            writer.writerow([_cell(table[k][i]) for k in keys])
    return path
