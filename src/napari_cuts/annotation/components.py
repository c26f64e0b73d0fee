"""Ordered, named components: split a mask into objects and number them along a structure.

Typical use: the vertebrae of a spine picked into one class become objects numbered from
the top and named C1..C7, T1..T12, L1..L5::

    labels, table = ordered_components(mask, names="C1-C7,T1-T12,L1-L5", min_size=50)

``table`` is a dict of columns (one row per component, in order), ready for napari's
``layer.features`` (add ``index=table["id"]``) or :func:`napari_cuts.annotation.measure.write_csv`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import ndimage

from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.writing import label_image, smallest_label_dtype

__all__ = ["ORDERS", "component_table", "ordered_components", "parse_names", "table_rows"]

#: Accepted values of ``order``.
ORDERS = ("axis", "top-bottom", "left-right", "z")

_RANGE = re.compile(r"^(?P<p1>.*?)(?P<a>\d+)\s*-\s*(?P<p2>\D*?)(?P<b>\d+)$")
_MAX_RANGE = 100_000


def parse_names(names: str | Sequence[str] | None) -> list[str]:
    """Expand a list of names: ``"C1-C7,T1,T2"`` -> ``["C1", ..., "C7", "T1", "T2"]``.

    Entries are separated by commas (or given as a sequence). An entry ``P<a>-P<b>``
    or ``P<a>-<b>`` with the same prefix P (possibly empty) is a range, counting up or
    down, keeping zero padding (``"A01-A03"`` -> A01, A02, A03). Anything else, such as
    ``"L5-S1"`` (different prefixes), is a single name. Blank entries are skipped.
    """
    if names is None:
        return []
    items = names.split(",") if isinstance(names, str) else [str(n) for n in names]
    out: list[str] = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        m = _RANGE.match(item)
        if m and (m["p2"] == "" or m["p2"] == m["p1"]):
            a, b = int(m["a"]), int(m["b"])
            if abs(b - a) >= _MAX_RANGE:
                raise CutsInputError(f"the name range '{item}' is too long")
            width = len(m["a"]) if m["a"].startswith("0") else 0
            step = 1 if b >= a else -1
            out.extend(f"{m['p1']}{i:0{width}d}" for i in range(a, b + step, step))
        else:
            out.append(item)
    return out


def _foreground(mask: np.ndarray, class_id: int | None) -> np.ndarray:
    mask = label_image(mask, "the mask")
    if class_id is None:
        return mask != 0
    fg = mask == class_id
    if not fg.any():
        raise CutsInputError(f"the mask has no pixel of class {class_id}")
    return fg


def _main_axis(points: np.ndarray) -> np.ndarray:
    """First principal axis of the points, pointing to increasing dominant coordinate."""
    centred = points - points.mean(0)
    if len(points) < 2 or not np.any(centred):
        axis = np.zeros(points.shape[1])
        axis[-2] = 1.0  # rows: top to bottom
        return axis
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axis = vt[0]
    # Orient so the first component is the top-most (or left-most, or first slice)
    # along the axis: the axis's largest coordinate must be positive. Ties (e.g. a
    # diagonal) prefer rows, then columns, then slices.
    prefer = [points.shape[1] - 2, points.shape[1] - 1] + list(range(points.shape[1] - 2))
    mags = np.abs(axis)
    dominant = next(i for i in prefer if mags[i] >= mags.max() - 1e-9)
    if axis[dominant] < 0:
        axis = -axis
    return axis


def ordered_components(
    mask: np.ndarray,
    *,
    class_id: int | None = None,
    min_size: int = 0,
    order: Literal["axis", "top-bottom", "left-right", "z"] = "axis",
    names: str | Sequence[str] | None = None,
    connectivity: int = 1,
    reverse: bool = False,
) -> tuple[np.ndarray, dict[str, list]]:
    """Split a mask into connected components, drop specks, and number them in order.

    Parameters
    ----------
    mask : ndarray, (Y, X) or (Z, Y, X)
        Boolean mask or label image: nonzero pixels are foreground, or only those equal
        to `class_id`. In a stack, components are connected in 3D.
    class_id : int, optional
        The class of a label image to split.
    min_size : int
        Components of fewer pixels (voxels) are dropped (set to 0).
    order : {"axis", "top-bottom", "left-right", "z"}
        ``"axis"``: along the first principal axis of the components' centroids (the
        structure's main axis), starting from the top-most end, or the left-most when
        the structure lies closer to horizontal (stacks: by the axis's largest
        coordinate; slices are taken as one pixel apart). ``"top-bottom"``: by centroid
        row; ``"left-right"``: by centroid column; ``"z"`` (stacks): by centroid slice.
        Ties are broken by the other coordinates.
    names : str or sequence of str, optional
        Names in order, parsed by :func:`parse_names`. Components beyond the names get
        their number as name; extra names are unused.
    connectivity : int
        1 connects pixels sharing a face; up to ``mask.ndim`` also corners.
    reverse : bool
        Number from the other end.

    Returns
    -------
    labels : ndarray
        Ids 1..n in order (0 = background), the smallest unsigned dtype that fits.
    table : dict of lists
        One row per component in order. Columns: ``id``, ``name``, ``area`` (pixels, or
        voxels for stacks), ``centroid_y``, ``centroid_x`` (and ``centroid_z`` first
        for stacks), the bounding box as half-open ranges ``bbox_y0``, ``bbox_y1``,
        ``bbox_x0``, ``bbox_x1`` (and ``bbox_z0``, ``bbox_z1``), and ``orientation``:
        for 2D, scikit-image's angle in radians between the rows axis and the major
        axis of the component, in [-pi/2, pi/2]; for stacks NaN (not defined).
    """
    if order not in ORDERS:
        raise CutsInputError(f"unknown order '{order}' (use one of: {', '.join(ORDERS)})")
    fg = _foreground(mask, class_id)
    ndim = fg.ndim
    if order == "z" and ndim != 3:
        raise CutsInputError("order 'z' needs a stack (Z, Y, X)")
    if not 1 <= connectivity <= ndim:
        raise CutsInputError(f"connectivity must be between 1 and {ndim}")
    structure = ndimage.generate_binary_structure(ndim, connectivity)
    lab, n = ndimage.label(fg, structure)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    kept = np.flatnonzero(sizes >= max(min_size, 1)) + 1
    if len(kept):
        centroids = np.array(ndimage.center_of_mass(fg, lab, kept), np.float64).reshape(len(kept), ndim)
    else:
        centroids = np.zeros((0, ndim))

    if order == "axis":
        key = centroids @ _main_axis(centroids) if len(kept) else np.zeros(0)
        others = [centroids[:, i] for i in range(ndim)]
    else:
        axis = {"top-bottom": ndim - 2, "left-right": ndim - 1, "z": 0}[order]
        key = centroids[:, axis] if len(kept) else np.zeros(0)
        others = [centroids[:, i] for i in range(ndim) if i != axis]
    # np.lexsort sorts by the last key first.
    rank = (np.lexsort([np.round(o, 6) for o in reversed(others)] + [np.round(key, 6)]) if len(kept)
            else np.zeros(0, int))
    if reverse:
        rank = rank[::-1]
    ordered = kept[rank]

    lookup = np.zeros(n + 1, np.int64)
    lookup[ordered] = np.arange(1, len(ordered) + 1)
    labels = lookup[lab].astype(smallest_label_dtype(len(ordered)))

    table = component_table(labels, names)
    return labels, table


def component_table(labels: np.ndarray, names: str | Sequence[str] | None = None) -> dict[str, list]:
    """The table of :func:`ordered_components` for labels numbered 1..n."""
    from skimage.measure import regionprops

    labels = np.asarray(labels)
    ndim = labels.ndim
    axes = "zyx"[3 - ndim:]
    name_list = parse_names(names)
    cols: dict[str, list] = {"id": [], "name": [], "area": []}
    for a in axes:
        cols[f"centroid_{a}"] = []
    for a in axes:
        cols[f"bbox_{a}0"] = []
        cols[f"bbox_{a}1"] = []
    cols["orientation"] = []
    for props in regionprops(labels):
        i = int(props.label)
        cols["id"].append(i)
        cols["name"].append(name_list[i - 1] if i <= len(name_list) else str(i))
        cols["area"].append(int(props.area))
        for a, c in zip(axes, props.centroid):
            cols[f"centroid_{a}"].append(float(c))
        bbox = props.bbox
        for k, a in enumerate(axes):
            cols[f"bbox_{a}0"].append(int(bbox[k]))
            cols[f"bbox_{a}1"].append(int(bbox[k + ndim]))
        cols["orientation"].append(float(props.orientation) if ndim == 2 else float("nan"))
    return cols


def table_rows(table: dict[str, Sequence]) -> list[dict]:
    """A dict of columns as a list of row dicts."""
    keys = list(table)
    n = len(table[keys[0]]) if keys else 0
    return [{k: table[k][i] for k in keys} for i in range(n)]
