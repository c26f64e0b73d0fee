"""The ``.cuts`` format: a result's levels file and its ``<stem>.cuts.json`` summary.

This module is the one owner of the format: it writes a result (the levels and their
summary), reads and checks one back, and builds the ``metadata["napari_cuts"]`` of a
levels layer. The command line, the npe2 reader and writer and the docks all use it.

A levels file (``<stem>.cuts``, or ``<stem>.cuts.tif`` from earlier versions) is a TIFF
of every level, coarse to fine. Levels are written with their axes in tifffile's metadata
(:func:`~napari_cuts.formats.writing.save_labels_tiff`; ImageJ axes in files of earlier
versions): levels as T, or for a time-lapse, time as T and levels as channels (C). Axes
of length 1 are read back unsqueezed: a result with one level keeps its level axis. The
``<stem>.cuts.json`` beside it says which levels are salient and which is the default.

Everything is checked from the file's header before a pixel is decoded: a result that is
truncated, whose summary is malformed or describes another number of levels, or that is
not a label image (floats, negative ids, RGB) is refused in one line
(:class:`~napari_cuts.formats.errors.CutsInputError`), and so is one too large for memory.

No napari import here.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.writing import LEVELS_SUFFIX, atomic_write, atomic_write_all, save_labels_tiff

#: Key of napari-cuts' entry in a levels layer's ``metadata``.
META_KEY = "napari_cuts"
#: Group of levels read from a file, until linked to an image layer.
FILE_GROUP = "file:"
#: A result's levels file: ``<stem>.cuts`` (and ``.cuts.tif`` of earlier versions).
SUFFIXES = (LEVELS_SUFFIX, ".cuts.tif", ".cuts.tiff")
#: Suffix of a result's summary.
SUMMARY_SUFFIX = ".cuts.json"


def is_levels_file(path: str | os.PathLike) -> bool:
    """Whether `path` is named as a levels file (``.cuts``, ``.cuts.tif``, ``.cuts.tiff``)."""
    return str(path).lower().endswith(SUFFIXES)


def result_stem(path: str | os.PathLike) -> str:
    """``retina`` for ``retina.cuts`` (or ``retina.cuts.tif``)."""
    path = Path(path)
    for suffix in SUFFIXES:
        if path.name.lower().endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def summary_path(path: str | os.PathLike) -> Path:
    """The ``<stem>.cuts.json`` that goes with a ``<stem>.cuts`` (or ``.cuts.tif``)."""
    path = Path(path)
    return path.with_name(f"{result_stem(path)}{SUMMARY_SUFFIX}")


# ---- writing ---------------------------------------------------------------------------
def summary_body(image: str, levels: list[dict], default_level: int,
                 n_levels: int | None = None, frames: int | None = None) -> dict:
    """The ``.cuts.json`` of a levels file that holds `levels`.

    `levels` describes the file's levels in order (``n_regions``, ``salient``, ``kind``
    and, when the file holds some levels of a hierarchy only, their ``level`` number in it);
    `default_level` is an index into them, `n_levels` the hierarchy's level count,
    `frames` the frame count of a time-lapse's levels.
    """
    body = {"image": image, "default_level": int(default_level), "levels": levels}
    if n_levels is not None:
        body["n_levels"] = int(n_levels)
    if frames:  # the levels of a time-lapse's frames
        body["frames"] = int(frames)
    return body


def _summary_text(body: dict) -> str:
    return json.dumps(body, indent=2)


def write_summary(path: str | os.PathLike, image: str, levels: list[dict], default_level: int,
                  n_levels: int | None = None, frames: int | None = None) -> Path:
    """Write the ``.cuts.json`` of the levels file at `path` (see :func:`summary_body`)."""
    out = summary_path(path)
    with atomic_write(out) as tmp:
        tmp.write_text(_summary_text(summary_body(image, levels, default_level, n_levels, frames)))
    return out


def write_result(path: str | os.PathLike, levels: np.ndarray, body: dict, *, time: bool = False,
                 commit: Callable | None = None, check: Callable[[], None] | None = None,
                 ) -> tuple[Path, Path]:
    """Write a result: the levels file at `path` and its ``.cuts.json`` holding `body`.

    Both files appear together or not at all (they are renamed into place inside
    ``with commit():`` when given, see :func:`~napari_cuts.formats.writing.atomic_write_all`).
    `time`: `levels` are (L, T, ...), a time-lapse's. `check()` runs once the files are
    staged; when it raises, nothing is written.
    """
    tif, meta = Path(path), summary_path(path)
    with atomic_write_all([tif, meta], commit=commit) as (t_tif, t_meta):
        if check is not None:
            check()
        save_labels_tiff(t_tif, levels, levels=True, time=time)
        t_meta.write_text(_summary_text(body))
    return tif, meta


def write_levels_layer(path: str, data: Any, meta: dict) -> list[str]:
    """Write a levels layer's data (its ``metadata[META_KEY]`` is `meta`) to `path`; a
    levels file (``.cuts``) also gets its ``.cuts.json``. Returns the written paths."""
    lead = len(meta.get("slice", []))
    data = np.asarray(data)
    data = data.reshape(data.shape[:1] + data.shape[1 + lead:])
    time = bool(meta.get("time"))  # levels of a time-lapse's frames: (L, T, ...)
    if not is_levels_file(path):
        return [str(save_labels_tiff(path, data, levels=True, time=time))]
    body = summary_body(meta["image"], meta["levels"], meta["default"], n_levels=meta.get("n_levels"),
                        frames=data.shape[1] if time else None)
    return [str(p) for p in write_result(path, data, body, time=time)]


def _whole(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value == int(value) and value >= 0)


def _summary_problem(summary: Any) -> str | None:
    """What makes a parsed ``.cuts.json`` unusable, or None."""
    if not isinstance(summary, dict):
        return f"it holds a {type(summary).__name__}, not an object"
    levels = summary.get("levels")
    if not isinstance(levels, list) or not levels:
        return "'levels' must be a list of levels"
    for i, level in enumerate(levels):
        if not isinstance(level, dict):
            return f"level {i} is a {type(level).__name__}, not an object"
        for key in ("n_regions", "level"):
            if key in level and not _whole(level[key]):
                return f"level {i}: '{key}' must be a whole number, not {level[key]!r}"
        if "kind" in level and not isinstance(level["kind"], str):
            return f"level {i}: 'kind' must be text"
    for key in ("default_level", "n_levels", "frames"):
        if key in summary and not _whole(summary[key]):
            return f"'{key}' must be a whole number, not {summary[key]!r}"
    return None


def _parse(meta: Path) -> tuple[Any, str | None]:
    """A ``.cuts.json``'s content, and what makes it unusable (None when nothing)."""
    try:
        summary = json.loads(meta.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return None, (str(exc).splitlines() or [exc.__class__.__name__])[0]
    return summary, _summary_problem(summary)


def read_summary(path: str | os.PathLike, n_levels: int,
                 parsed: tuple[Any, str | None] | None = None) -> dict:
    """The ``.cuts.json`` beside the result at `path`, checked against its `n_levels`
    levels (`parsed`: what :func:`_parse` gave for it already); without one, a summary
    that shows every level."""
    path = Path(path)
    meta = summary_path(path)
    if parsed is None and not meta.is_file():
        summary: dict[str, Any] = {"levels": [{"shown": True} for _ in range(n_levels)]}
    else:
        summary, problem = parsed or _parse(meta)
        if problem:
            raise CutsInputError(f"{meta.name} is not a valid napari-cuts summary ({problem}); "
                                 f"move it away to open {path.name} without it")
        if len(summary["levels"]) != n_levels:
            raise CutsInputError(
                f"{path.name} holds {n_levels} level{'s' * (n_levels != 1)} but {meta.name} describes "
                f"{len(summary['levels'])}: the file is truncated or the summary is another result's")
    default = summary.get("default_level")
    if not isinstance(default, int) or not 0 <= default < n_levels:
        summary["default_level"] = n_levels // 2
    summary.setdefault("image", result_stem(path))
    return summary


def _level_order(axes: str, shape: tuple[int, ...], time: bool) -> tuple[list[int] | None, bool]:
    """The stored axes in the order levels, (time,) Z, Y, X (then length-1 ones); None
    when the axes are not recorded (levels are then the first of the squeezed array).
    Also whether it is a time-lapse: said by the summary, or levels stored as channels."""
    sizes = dict(zip(axes, shape))
    if sizes.get("S", 1) > 1:
        raise CutsInputError(f"it is an RGB image ({sizes['S']} samples per pixel), not levels of labels")
    if not set(axes) <= set("TZCYXS") or "Y" not in axes or "X" not in axes:
        return None, False
    time = time or sizes.get("C", 1) > 1
    letters = ("C", "T") if time else ("T", "C")
    order = [axes.index(a) for a in (letters[0], *(letters[1:] if time else ()), "Z", "Y", "X")
             if a in axes]
    return order + [i for i in range(len(axes)) if i not in order], time


def load_result(path: str | os.PathLike, memory_limit: int | None = None) -> tuple[np.ndarray, dict]:
    """The levels of the result at `path` and its checked summary (see :func:`read_summary`).

    Levels are (L, Y, X) or (L, Z, Y, X); for a time-lapse (L, T, Y, X) or (L, T, Z, Y, X)
    and the summary has ``frames``.
    """
    import tifffile

    from napari_cuts.formats.images import available_memory, check_decoded_size

    path = Path(path)
    if not path.is_file():
        raise CutsInputError(f"no such file: {path}")
    meta = summary_path(path)
    parsed = _parse(meta) if meta.is_file() else None  # refused below when it is unusable
    said_time = bool(parsed and not parsed[1] and int(parsed[0].get("frames", 0)) > 1)
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            axes, shape, dtype = series.get_axes(False), tuple(series.get_shape(False)), np.dtype(series.dtype)
            if tif.is_imagej:
                declared = int((tif.imagej_metadata or {}).get("images", 1) or 1)
                planes = int(np.prod([n for a, n in zip(axes, shape) if a not in "YXS"]))
                if series.kind != "imagej" or planes < declared:
                    raise CutsInputError(f"it is truncated: its header declares {declared} images, "
                                         f"the file holds {len(tif.pages)}")
            if not (np.issubdtype(dtype, np.integer) or dtype == np.bool_):
                raise CutsInputError(f"it holds {dtype} values, not region ids")
            order, time = _level_order(axes, shape, said_time)
            check_decoded_size(path, shape, dtype, memory_limit if memory_limit is not None
                               else available_memory())
            data = series.asarray(squeeze=False)
    except CutsInputError as exc:
        raise CutsInputError(f"cannot open {path.name} as napari-cuts levels: {exc}") from None
    except MemoryError:
        raise CutsInputError(f"out of memory while reading {path.name}") from None
    except Exception as exc:  # decoder errors differ and span lines
        detail = (str(exc).splitlines() or [exc.__class__.__name__])[0].rstrip(". ")
        raise CutsInputError(f"cannot read {path.name}: not a valid TIFF file ({detail})") from None
    if order is None:  # no axes recorded: levels first, then (Z,) Y, X
        data = data.squeeze()
        data = data[None] if data.ndim == 2 else data
    else:  # levels, (time,) (Z,) Y, X; the other axes have length 1
        sizes = dict(zip(axes, shape))
        lead = ["C", "T"] if time else ["T"]
        if sizes.get("Z", 1) > 1:
            lead.append("Z")
        data = np.transpose(data, order).reshape([sizes.get(a, 1) for a in lead] + [sizes["Y"], sizes["X"]])
    if not 3 <= data.ndim <= (5 if time else 4):
        raise CutsInputError(f"cannot open {path.name} as napari-cuts levels: its shape "
                             f"{data.shape} is not levels of 2D or 3D labels")
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    if np.issubdtype(data.dtype, np.signedinteger) and data.size and data.min() < 0:
        raise CutsInputError(f"cannot open {path.name} as napari-cuts levels: it holds negative ids")
    summary = read_summary(path, len(data), parsed)
    if time:
        summary.setdefault("frames", int(data.shape[1]))
    return data, summary


def recorded_default_level(path: str | os.PathLike, n_levels: int) -> int | None:
    """The default level the ``.cuts.json`` beside the levels file at `path` records, if
    it has one that fits its `n_levels` levels (else None)."""
    meta = summary_path(path)
    if not is_levels_file(path) or not meta.is_file():
        return None
    try:
        summary = json.loads(meta.read_text())
        default = summary["default_level"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if isinstance(default, int) and not isinstance(default, bool) and 0 <= default < n_levels \
            and len(summary.get("levels", [])) == n_levels:
        return default
    return None


# ---- levels layers ---------------------------------------------------------------------
def level_rows(n_regions: list[int], salient: list[bool], kinds: list[str] | None = None) -> list[dict]:
    """One row per level (``level``, ``n_regions``, ``salient``, ``kind``) of a
    segmentation, as :func:`levels_meta` takes them."""
    kinds = kinds or ["regions"] * len(n_regions)
    return [{"level": i, "n_regions": int(n), "salient": bool(s), "kind": k}
            for i, (n, s, k) in enumerate(zip(n_regions, salient, kinds))]


def levels_layer_name(image_name: str) -> str:
    """The name of a levels layer, e.g. ``retina levels``."""
    return f"{image_name} levels"


def levels_meta(image: str, group: str, levels: list[dict], default: int,
                n_levels: int | None = None, index: tuple[int, ...] = (), time: bool = False) -> dict:
    """The ``metadata["napari_cuts"]`` of a levels layer.

    `levels`: one dict per position on the level axis (``level``, its number in the
    hierarchy; ``n_regions``; ``salient``; ``kind``); `default`: the default's position;
    `index`: where a result of one slice of a stack sits (its leading axes); `time`: the
    levels of a time-lapse's frames (the axis after the level is time).
    """
    rows = []
    for i, lev in enumerate(levels):
        rows.append({"level": int(lev.get("level", i)), "n_regions": lev.get("n_regions"),
                     "salient": bool(lev.get("salient", False)), "kind": str(lev.get("kind", ""))})
    return {"group": group, "image": image, "levels": rows, "default": int(default),
            "n_levels": int(n_levels if n_levels is not None else len(rows)),
            "slice": list(index), "time": bool(time)}


def levels_layer_kwargs(meta: dict, spatial_ndim: int, translate=None, scale=None) -> dict:
    """Labels-layer keyword arguments of a levels layer (the reader's and the docks').

    The level axis comes first, shifted by minus the default's position: the viewer's
    starting point 0 shows the default level.
    """
    ndim = 1 + len(meta["slice"]) + spatial_ndim
    translate = [0.0] * (ndim - 1) if translate is None else [float(t) for t in translate]
    scale = [1.0] * (ndim - 1) if scale is None else [float(s) for s in scale]
    spatial = ("z", "y", "x")[-spatial_ndim:]
    if meta.get("time"):  # (L, T, Y, X) or (L, T, Z, Y, X)
        spatial = ("t",) + ("z", "y", "x")[-(spatial_ndim - 1):]
    return {
        "name": levels_layer_name(meta["image"]),
        "metadata": {META_KEY: meta},
        "translate": [-float(meta["default"])] + translate[-(ndim - 1):],
        "scale": [1.0] + scale[-(ndim - 1):],
        "axis_labels": ("level",) + ("slice",) * len(meta["slice"]) + spatial,
        "opacity": 0.6,
    }


def read_levels_file(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """The levels of the levels file at `path` and the ``metadata["napari_cuts"]`` of the
    layer that shows them (group ``file:<path>`` until linked to an image layer)."""
    path = Path(path)
    stack, summary = load_result(path)  # checked: truncated or malformed results are refused
    meta = levels_meta(str(summary["image"]), FILE_GROUP + str(path.resolve()),
                       summary["levels"], summary["default_level"], summary.get("n_levels"),
                       time="frames" in summary)
    for row, labels in zip(meta["levels"], stack):
        if row["n_regions"] is None:
            row["n_regions"] = int(len(np.unique(labels[labels > 0])))
    meta["file"] = str(path)
    return stack, meta
