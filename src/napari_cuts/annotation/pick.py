"""From clusters to annotations: pick regions of a level and paint them into a class.

The functions here never touch napari. :func:`apply_pick` computes only the pixels an
edit changes and their new values, which is exactly what napari's undoable
``Labels.data_setitem(indices, values)`` takes, so a widget does::

    mask = pick_regions(level, [clicked_point])
    edit = apply_pick(layer.data, mask, class_id=2, fill_holes=True, min_size=20)
    with layer.block_history():          # one undo step
        layer.data_setitem(*edit)

Everything works on 2D label images (Y, X) and on stacks (Z, Y, X); the labels of an
RGB image are 2D.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
from scipy import ndimage

from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.writing import label_image

__all__ = [
    "Edit",
    "apply_pick",
    "clean_mask",
    "fill_holes",
    "ids_at",
    "pick_regions",
    "remove_small",
]


class Edit(NamedTuple):
    """Pixels an edit changes and their new values.

    Unpacks as ``indices, values`` for ``Labels.data_setitem(indices, values)``.

    Attributes
    ----------
    indices : tuple of ndarray
        One int array per axis of the annotation (numpy fancy indexing).
    values : ndarray
        New value of every indexed pixel, in the annotation's dtype.
    """

    indices: tuple[np.ndarray, ...]
    values: np.ndarray

    @property
    def n_changed(self) -> int:
        """How many pixels the edit changes."""
        return int(self.values.size)

    def applied(self, annotation: np.ndarray, *, copy: bool = True) -> np.ndarray:
        """The annotation with the edit applied (a copy unless ``copy=False``)."""
        out = np.array(annotation, copy=True) if copy else annotation
        out[self.indices] = self.values
        return out


def _as_labels(labels: np.ndarray, name: str = "labels") -> np.ndarray:
    return label_image(labels, name)


def _points_to_indices(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Round points to pixel indices; keep the last len(shape) coordinates; drop outsiders."""
    pts = np.asarray(points, np.float64)
    if pts.ndim == 1:
        pts = pts[None]
    if pts.ndim != 2 or pts.shape[1] < len(shape):
        raise CutsInputError(
            f"points need {len(shape)} coordinates each for labels of shape {shape}; got {pts.shape}"
        )
    pts = pts[:, pts.shape[1] - len(shape):]
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    idx = np.floor(pts + 0.5).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < np.asarray(shape)), axis=1)
    return idx[inside]


def ids_at(level_labels: np.ndarray, points: np.ndarray | Sequence[Sequence[float]]) -> list[int]:
    """Region id under each point (0 for background); points outside are skipped.

    Parameters
    ----------
    level_labels : ndarray, (Y, X) or (Z, Y, X)
        One level of a segmentation.
    points : array-like, (n, d) or (d,)
        Data coordinates (row, column order as in napari); fractional coordinates are
        rounded. Extra leading coordinates (e.g. of a time axis) are ignored.
    """
    labels = _as_labels(level_labels, "level labels")
    idx = _points_to_indices(points, labels.shape)
    return [int(v) for v in labels[tuple(idx.T)]]


def pick_regions(
    level_labels: np.ndarray,
    points_or_ids: np.ndarray | Sequence | int,
    *,
    kind: Literal["auto", "points", "ids"] = "auto",
    connected: bool = False,
    same_slice: bool = False,
) -> np.ndarray:
    """Boolean mask of the union of the regions under the given clicks (or with given ids).

    Parameters
    ----------
    level_labels : ndarray, (Y, X) or (Z, Y, X), any integer dtype
        One level of a segmentation (e.g. ``Segmentation.level(i)``); 0 is background
        and is never picked.
    points_or_ids : array-like or int
        Clicked points, an (n, d) array of data coordinates; or region ids, an int or a
        1D sequence of ints.
    kind : {"auto", "points", "ids"}
        How to read `points_or_ids`. ``"auto"``: a 2D array is points, an int or a 1D
        sequence is ids. Pass a single point as ``[point]`` or with ``kind="points"``.
    connected : bool
        Only the connected piece of the region that holds the click (CUTS regions may
        have several pieces). Needs points.
    same_slice : bool
        For stacks: only the pixels in the clicked slice. Needs points.

    Returns
    -------
    ndarray of bool, the shape of `level_labels`
    """
    labels = _as_labels(level_labels, "level labels")
    data = np.asarray(points_or_ids)
    if kind == "auto":
        kind = "points" if data.ndim == 2 else "ids"
    if kind not in ("points", "ids"):
        raise ValueError(f"kind must be 'auto', 'points' or 'ids', not {kind!r}")
    if kind == "ids":
        if connected or same_slice:
            raise CutsInputError("'connected' and 'same_slice' need clicked points, not ids")
        ids = np.unique(data.ravel()).astype(np.int64) if data.size else np.zeros(0, np.int64)
        ids = ids[ids != 0]
        return np.isin(labels, ids)

    idx = _points_to_indices(data, labels.shape)
    mask = np.zeros(labels.shape, bool)
    if not len(idx):
        return mask
    values = labels[tuple(idx.T)]
    keep = values != 0
    idx, values = idx[keep], values[keep]
    if not connected and not same_slice:
        return np.isin(labels, np.unique(values))
    for point, value in zip(idx, values):
        if same_slice and labels.ndim == 3:
            z = int(point[0])
            piece = labels[z] == value
            if connected:
                lab, _ = ndimage.label(piece)
                piece = lab == lab[tuple(point[1:])]
            mask[z] |= piece
        else:
            piece = labels == value
            if connected:
                lab, _ = ndimage.label(piece)
                piece = lab == lab[tuple(point)]
            mask |= piece
    return mask


def _fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    """Fill holes of a 2D mask, or of every 2D slice of a (Z, Y, X) stack."""
    mask = np.asarray(mask, bool)
    if mask.ndim == 2:
        return ndimage.binary_fill_holes(mask)
    return np.stack([ndimage.binary_fill_holes(s) for s in mask]) if len(mask) else mask.copy()


#: Public name (``apply_pick`` has a parameter of the same name).
fill_holes = _fill_holes_per_slice


def remove_small(mask: np.ndarray, min_size: int, *, connectivity: int = 1) -> np.ndarray:
    """Drop connected objects of fewer than `min_size` pixels (voxels, in 3D, for a stack).

    Same as ``skimage.morphology.remove_small_objects`` with the pre-0.26 ``min_size``
    meaning (strictly smaller objects go), independent of the scikit-image version.
    `connectivity` is 1 (faces) up to ``mask.ndim`` (also corners).
    """
    mask = np.asarray(mask, bool)
    if min_size <= 1 or not mask.any():
        return mask.copy()
    structure = ndimage.generate_binary_structure(mask.ndim, connectivity)
    lab, n = ndimage.label(mask, structure)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    keep = sizes >= min_size
    keep[0] = False
    return keep[lab]


def clean_mask(mask: np.ndarray, *, fill: bool = False, min_size: int = 0) -> np.ndarray:
    """Optionally fill holes (per 2D slice), then drop objects below `min_size` pixels."""
    mask = np.asarray(mask, bool)
    if fill:
        mask = _fill_holes_per_slice(mask)
    if min_size > 1:
        mask = remove_small(mask, min_size)
    return mask


def apply_pick(
    annotation: np.ndarray,
    mask: np.ndarray,
    class_id: int | None,
    remove: bool = False,
    fill_holes: bool = False,
    min_size: int = 0,
    *,
    overwrite: bool = True,
) -> Edit:
    """The pixels that change when a picked mask is painted into (or erased from) a class.

    Parameters
    ----------
    annotation : ndarray, (Y, X) or (Z, Y, X), integer dtype
        The annotation labels (0 = unlabelled); not modified.
    mask : ndarray of bool, same shape
        What was picked, e.g. from :func:`pick_regions`.
    class_id : int or None
        The class painted (>= 1). When removing, only pixels of this class are
        cleared; ``None`` (or 0) clears every class under the mask.
    remove : bool
        Erase instead of paint.
    fill_holes : bool
        Painting: fill the holes of the class's area after the edit (per 2D slice for
        stacks), so holes enclosed by the picked regions, or by them and what the class
        already had, are painted too. Erasing: fill the holes of the mask first.
    min_size : int
        Drop objects of the mask smaller than this many pixels (voxels, connected in
        3D, for stacks) first, so specks of a region are not painted or erased.
    overwrite : bool
        Painting: also repaint pixels of other classes (else only unlabelled pixels).

    Returns
    -------
    Edit
        ``(indices, values)`` of the changed pixels only (possibly none); pass to
        ``layer.data_setitem(indices, values)`` or use ``edit.applied(annotation)``.
    """
    annotation = np.asarray(annotation)
    mask = np.asarray(mask)
    if annotation.ndim not in (2, 3):
        raise CutsInputError(f"the annotation must be 2D or a (Z, Y, X) stack; got shape {annotation.shape}")
    if mask.shape != annotation.shape:
        raise CutsInputError(
            f"the picked mask has shape {mask.shape} but the annotation has {annotation.shape}"
        )
    if not (np.issubdtype(annotation.dtype, np.integer) or annotation.dtype == bool):
        raise CutsInputError(f"the annotation must be an integer label image, not {annotation.dtype}")
    if class_id is not None:
        class_id = int(class_id)
        if class_id < 0:
            raise CutsInputError("class ids must not be negative")
        if annotation.dtype == bool:
            top = 1
        else:
            top = int(np.iinfo(annotation.dtype).max)
        if class_id > top:
            raise CutsInputError(f"class {class_id} does not fit the annotation's type {annotation.dtype}")
    if not remove and not class_id:
        raise CutsInputError("choose a class (1 or more) to paint")

    mask = mask.astype(bool, copy=False)
    if remove:
        mask = clean_mask(mask, fill=fill_holes, min_size=min_size)
        target = mask & (annotation != 0) if not class_id else mask & (annotation == class_id)
        new_value = 0
    else:
        mask = clean_mask(mask, min_size=min_size)
        has_class = annotation == class_id
        target = mask | has_class
        if fill_holes:
            target = _fill_holes_per_slice(target)
        target &= ~has_class
        if not overwrite:
            target &= annotation == 0
        new_value = class_id
    indices = tuple(np.nonzero(target))
    values = np.full(len(indices[0]), new_value, dtype=annotation.dtype)
    return Edit(indices, values)
