"""npe2 writer: a labels layer to .tif/.tiff (File > Save Selected Layers)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .io import save_labels_tiff


def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """Write one labels layer to a TIFF file; returns the written path."""
    if not path.lower().endswith((".tif", ".tiff")):
        path += ".tif"
    return [str(save_labels_tiff(path, np.asarray(data)))]
