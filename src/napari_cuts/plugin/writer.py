"""npe2 writer: a labels layer to .tif/.tiff, or a levels layer to .cuts (File > Save
Selected Layers)."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_cuts.plugin.reader import META_KEY, is_levels_file, write_summary
from napari_cuts.formats.images import LEVELS_SUFFIX, save_labels_tiff


def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """Write one labels layer to a compressed TIFF; returns the written paths.

    A levels layer (every level of a segmentation) saved as ``.cuts`` also gets its
    ``.cuts.json``, so napari-cuts opens it again as levels.
    """
    levels = (meta.get("metadata") or {}).get(META_KEY)
    is_levels = isinstance(levels, dict) and "levels" in levels
    if not path.lower().endswith((".tif", ".tiff", LEVELS_SUFFIX)):
        path += LEVELS_SUFFIX if is_levels else ".tif"
    data = np.asarray(data)
    if not is_levels:
        return [str(save_labels_tiff(path, data))]
    lead = len(levels.get("slice", []))
    data = data.reshape(data.shape[:1] + data.shape[1 + lead:])
    time = bool(levels.get("time"))  # levels of a time-lapse's frames: (L, T, ...)
    written = [str(save_labels_tiff(path, data, levels=True, time=time))]
    if is_levels_file(path):
        written.append(str(write_summary(path, levels["image"], levels["levels"], levels["default"],
                                         n_levels=levels.get("n_levels"),
                                         frames=data.shape[1] if time else None)))
    return written
