"""npe2 reader: a levels file written by napari-cuts opens as one Labels layer.

A levels file (``<stem>.cuts``, or ``<stem>.cuts.tif`` from earlier versions) is a TIFF
of every level, coarse to fine, shape (levels, Y, X) or (levels, Z, Y, X);
``<stem>.cuts.json`` beside it says which levels are salient and which is the default.
It opens as one Labels layer whose first axis is the level: napari's dims slider is the
level slider. That axis is shifted so that the viewer's starting point (0) is the
default level, which is what shows first. Only this plugin claims ``*.cuts``, so napari
opens it without asking. The layer's ``metadata["napari_cuts"]`` says what each level
is; once an image layer named ``<stem>`` is open, the napari-cuts docks link the levels
to it (see :func:`napari_cuts.plugin.widgets._layers.link_file_results`).

No napari import here: the command line uses the summary helpers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from napari_cuts.formats.results import SUFFIXES, load_result, summary_path  # noqa: F401  (re-exported)

META_KEY = "napari_cuts"
FILE_GROUP = "file:"  # group of levels read from a file, until linked to an image layer


def napari_get_reader(path: str | list[str]) -> Callable | None:
    """The reader function for a levels file (or a list of them), else None."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths or not all(is_levels_file(p) for p in paths):
        return None
    return read_cuts


def is_levels_file(path: str | Path) -> bool:
    """Whether `path` is named as a levels file (``.cuts``, ``.cuts.tif``, ``.cuts.tiff``)."""
    return str(path).lower().endswith(SUFFIXES)


def write_summary(path: str | Path, image: str, levels: list[dict], default_level: int,
                  n_levels: int | None = None, frames: int | None = None) -> Path:
    """Write the ``.cuts.json`` of an exported levels file.

    `levels` describes the file's levels in order (``n_regions``, ``salient``, ``kind``
    and, when the file holds some levels of a hierarchy only, their ``level`` number in it);
    `default_level` is an index into them, `n_levels` the hierarchy's level count.
    """
    from napari_cuts.formats.images import atomic_write

    out = summary_path(path)
    body = {"image": image, "default_level": int(default_level), "levels": levels}
    if n_levels is not None:
        body["n_levels"] = int(n_levels)
    if frames:  # the levels of a time-lapse's frames
        body["frames"] = int(frames)
    with atomic_write(out) as tmp:
        tmp.write_text(json.dumps(body, indent=2))
    return out


def region_table(labels: np.ndarray) -> dict:
    """Region id (`index`, as napari expects) and pixel count of every region."""
    from napari_cuts.annotation.measure import label_counts

    ids, counts = label_counts(labels)  # any ids: costs follow the pixels, not the largest id
    return {"index": ids, "pixels": counts}


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


def read_cuts(path: str | list[str]) -> list[tuple]:
    """Layer data of one or more levels files: one Labels layer each, the default shown."""
    out: list[tuple] = []
    for p in [path] if isinstance(path, (str, Path)) else path:
        p = Path(p)
        stack, summary = load_result(p)  # checked: truncated or malformed results are refused
        meta = levels_meta(str(summary["image"]), FILE_GROUP + str(p.resolve()),
                           summary["levels"], summary["default_level"], summary.get("n_levels"),
                           time="frames" in summary)
        for row, labels in zip(meta["levels"], stack):
            if row["n_regions"] is None:
                row["n_regions"] = int(len(np.unique(labels[labels > 0])))
        meta["file"] = str(p)
        out.append((stack, levels_layer_kwargs(meta, stack.ndim - 1), "labels"))
    _show_default_when_added([kwargs["metadata"][META_KEY] for _, kwargs, _ in out])
    return out


def _show_default_when_added(metas: list[dict]) -> None:
    """Once napari adds a layer read here, move the viewer's level axis to its default.

    The level axis is shifted so that point 0 is the default level, which is where a
    viewer stands when an image was open first; but napari centres every axis when the
    first layer of a viewer comes in. This one-time hook, run after napari's own, puts
    the level axis back on the default. Nothing else of the viewer changes.
    """
    try:
        from napari import current_viewer
    except ImportError:
        return
    viewer = current_viewer()
    if viewer is None:
        return
    waiting = {id(meta) for meta in metas}

    def on_inserted(event) -> None:
        layer = event.value
        meta = getattr(layer, "metadata", {}).get(META_KEY)
        if meta is None or id(meta) not in waiting:
            return
        waiting.discard(id(meta))
        if not waiting:
            viewer.layers.events.inserted.disconnect(on_inserted)
        viewer.dims.set_point(viewer.dims.ndim - layer.ndim, float(layer.translate[0])
                              + meta["default"] * float(layer.scale[0]))

    viewer.layers.events.inserted.connect(on_inserted)  # after napari's (it centres the axes)
