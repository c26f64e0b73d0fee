"""Reading a result back: a ``<stem>.cuts`` (every level) and its ``<stem>.cuts.json``.

Everything is checked from the file's header before a pixel is decoded: a result that is
truncated, whose summary is malformed or describes another number of levels, or that is
not a label image (floats, negative ids, RGB) is refused in one line
(:class:`~napari_cuts.formats.errors.CutsInputError`), and so is one too large for memory.

Levels are written with their axes in tifffile's metadata
(:func:`~napari_cuts.formats.writing.save_labels_tiff`; ImageJ axes in files of earlier
versions): levels as T, or for a time-lapse, time as T and levels as channels (C). Axes
of length 1 are read back unsqueezed: a result with one level keeps its level axis.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from napari_cuts.formats.errors import CutsInputError

from napari_cuts.formats.writing import LEVELS_SUFFIX

#: A result's levels file: ``<stem>.cuts`` (and ``.cuts.tif`` of earlier versions).
SUFFIXES = (LEVELS_SUFFIX, ".cuts.tif", ".cuts.tiff")


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
    return path.with_name(f"{result_stem(path)}.cuts.json")


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
