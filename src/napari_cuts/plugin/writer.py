"""npe2 writer: a labels layer to .tif/.tiff, or a levels layer to .cuts (File > Save
Selected Layers)."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_cuts.formats.cuts import META_KEY, write_levels_layer
from napari_cuts.formats.writing import LEVELS_SUFFIX, save_labels_tiff


def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """Write one labels layer to a compressed TIFF; returns the written paths.

    A levels layer (every level of a segmentation) saved as ``.cuts`` also gets its
    ``.cuts.json``, so napari-cuts opens it again as levels.
    """
    levels = (meta.get("metadata") or {}).get(META_KEY)
    is_levels = isinstance(levels, dict) and "levels" in levels
    if not path.lower().endswith((".tif", ".tiff", LEVELS_SUFFIX)):
        path += LEVELS_SUFFIX if is_levels else ".tif"
    if not is_levels:
        return [str(save_labels_tiff(path, np.asarray(data)))]
    return write_levels_layer(path, data, levels)
