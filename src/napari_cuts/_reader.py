"""npe2 reader: a ``<stem>.cuts.tif`` written by ``napari-cuts segment`` opens as labels.

The TIFF holds every level, coarse to fine, with shape (levels, Y, X) or
(levels, Z, Y, X); ``<stem>.cuts.json`` beside it says which levels are salient and which
is the default. Like after segmenting in the viewer, each salient level (and the
default) becomes a Labels layer, only the default one visible, with the same
``metadata["napari_cuts"]`` entries, so the Segment widget's slider browses them once
an image layer named ``<stem>`` is open (see :func:`napari_cuts._widgets._layers.link_file_results`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from .results import SUFFIXES, load_result, summary_path  # noqa: F401  (SUFFIXES re-exported)

META_KEY = "napari_cuts"
FILE_GROUP = "file:"  # group of levels read from a file, until linked to an image layer


def napari_get_reader(path: str | list[str]) -> Callable | None:
    """The reader function for a ``.cuts.tif`` path (or a list of them), else None."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths or not all(str(p).lower().endswith(SUFFIXES) for p in paths):
        return None
    return read_cuts


def write_summary(path: str | Path, image: str, levels: list[dict], default_level: int,
                  n_levels: int | None = None, frames: int | None = None) -> Path:
    """Write the ``.cuts.json`` of an exported ``.cuts.tif``.

    `levels` describes the file's levels in order (``n_regions``, ``salient``, ``kind``
    and, when the file holds some levels of a hierarchy only, their ``level`` number in it);
    `default_level` is an index into them, `n_levels` the hierarchy's level count.
    """
    from .io import atomic_write

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
    from .measure import label_counts

    ids, counts = label_counts(labels)  # any ids: costs follow the pixels, not the largest id
    return {"index": ids, "pixels": counts}


def level_layer_name(image_name: str, level: int, n_regions: int) -> str:
    """The name of a level layer, e.g. ``retina level 3 (12 regions)``."""
    return f"{image_name} level {level} ({n_regions} regions)"


def read_cuts(path: str | list[str]) -> list[tuple]:
    """Layer data of one or more ``.cuts.tif`` files: a Labels layer per salient level."""
    out: list[tuple] = []
    for p in [path] if isinstance(path, (str, Path)) else path:
        p = Path(p)
        stack, summary = load_result(p)  # checked: truncated or malformed results are refused
        default, image = int(summary["default_level"]), str(summary["image"])
        group = FILE_GROUP + str(p.resolve())
        levels = summary["levels"]
        number = [int(lev.get("level", i)) for i, lev in enumerate(levels)]  # in the hierarchy
        shown = [i for i, lev in enumerate(levels)
                 if lev.get("salient") or lev.get("shown") or i == default]
        for i in shown:
            labels = stack[i]
            n = int(levels[i].get("n_regions", len(np.unique(labels[labels > 0]))))
            meta = {
                "group": group, "image": image, "level": number[i],
                "n_levels": int(summary.get("n_levels", len(stack))), "n_regions": n,
                "salient": bool(levels[i].get("salient", False)),
                "default_level": number[default], "slice": [], "file": str(p),
                "kind": str(levels[i].get("kind", "")),
                "time": "frames" in summary,
            }
            out.append((labels, {
                "name": level_layer_name(image, number[i], n),
                "metadata": {META_KEY: meta},
                "features": region_table(labels),
                "visible": i == default,
                "opacity": 0.6,
            }, "labels"))
    return out


READER_PATTERNS = ("*.cuts.tif", "*.cuts.tiff")


def prefer_this_reader() -> bool:
    """Make napari open ``*.cuts.tif`` with napari-cuts, unless the user chose otherwise.

    napari's builtin reader also claims ``.tif``; with two readers napari asks which one
    to use for every file (and ``napari a.png b.cuts.tif`` stops at that dialog). This sets
    napari's own reader preference (*Preferences > Plugins*, ``extension2reader``) for the
    patterns the user has no preference for. Returns True when something was set; False
    when napari is not installed or the preference is already there.
    """
    try:
        from napari.settings import get_settings
    except ImportError:
        return False
    plugins = get_settings().plugins
    current = dict(plugins.extension2reader)
    missing = {p: "napari-cuts" for p in READER_PATTERNS if p not in current}
    if missing:
        plugins.extension2reader = {**current, **missing}
    return bool(missing)
