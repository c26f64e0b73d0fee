"""Exporting a levels layer: the level on screen as a TIFF, or every level as a levels file."""

from __future__ import annotations

import numpy as np
from napari.utils.notifications import show_error, show_info, show_warning

from napari_cuts.formats.cuts import write_levels_layer
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.writing import LEVELS_SUFFIX, save_labels_tiff
from napari_cuts.plugin.widgets._common import file_name
from napari_cuts.plugin.widgets._layers import META_KEY, level_data

TIFF_FILTER = "TIFF (*.tif *.tiff)"
LEVELS_FILTER = f"napari-cuts levels (*{LEVELS_SUFFIX});;TIFF (*.tif *.tiff)"


def plain_labels(layer, position: int) -> np.ndarray:
    """One level of a levels layer without the length-1 axes that place a slice result."""
    lead = len(layer.metadata.get(META_KEY, {}).get("slice", []))
    data = level_data(layer, position)
    return data.reshape(data.shape[lead:])


def export_path(path: str, all_levels: bool) -> str:
    """`path` with the suffix its export needs (a TIFF, or a levels file for every level)."""
    suffixes = (".tif", ".tiff", LEVELS_SUFFIX) if all_levels else (".tif", ".tiff")
    return path if path.lower().endswith(suffixes) else path + (LEVELS_SUFFIX if all_levels else ".tif")


def suggested_name(layer, position: int, all_levels: bool) -> str:
    """'<image> level <k>.tif' for the level at `position`, '<image>.cuts' (what the reader
    opens) for every level."""
    meta = layer.metadata[META_KEY]
    if all_levels:
        return file_name(meta["image"], suffix=LEVELS_SUFFIX)
    return file_name(meta["image"], f"level {meta['levels'][position]['level']}", suffix=".tif")


def write_export(path: str, labels: np.ndarray, layer=None) -> None:
    """Write one level (`labels`), or with `layer` its every level and (for a levels file)
    the .cuts.json, as File > Save does; say how it went in one line."""
    try:
        if layer is None:
            save_labels_tiff(path, labels)
        else:
            write_levels_layer(path, labels, layer.metadata[META_KEY])
    except CutsInputError as exc:
        show_warning(f"Cannot export: {exc}.")
        return
    except OSError as exc:
        show_error(f"Could not write {path}: {exc.strerror or exc}")
        return
    show_info(f"Labels written to {path}")


def export_layer(path: str, layer, position: int | None = None) -> None:
    """Export the level at `position` of a levels layer as a TIFF, or (None) every level as
    a levels file, adding the suffix `path` lacks."""
    if position is None:
        write_export(export_path(path, True), layer.data, layer=layer)
    else:
        write_export(export_path(path, False), plain_labels(layer, position))
