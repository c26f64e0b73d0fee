"""Exporting a levels layer: the level on screen as a TIFF, or every level as a levels file;
the export buttons of the docks that browse one."""

from __future__ import annotations

import numpy as np
from napari.utils.notifications import show_error, show_info, show_warning

from napari_cuts.formats.cuts import write_levels_layer
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.writing import LEVELS_SUFFIX, save_labels_tiff
from napari_cuts.plugin.widgets._common import ask_save_path, file_name
from napari_cuts.plugin.widgets._layers import META_KEY, level_data, level_position

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


class LevelExport:
    """The export buttons of a dock that browses a levels layer: needs ``viewer`` and
    ``result_layer()`` (the layer browsed, or None)."""

    def export_level(self) -> None:
        """Write the level on screen to a TIFF file chosen in a dialog."""
        self._export(all_levels=False)

    def export_all_levels(self) -> None:
        """Write every level, coarse -> fine, to one levels file (and its .cuts.json)."""
        self._export(all_levels=True)

    def ask_save_path(self, caption: str) -> str:
        """The path chosen in a save dialog ('' if cancelled; tests replace this)."""
        filters = LEVELS_FILTER if caption == "Export all levels" else TIFF_FILTER
        return ask_save_path(self, caption, filters, self.suggested_name(caption))

    def suggested_name(self, caption: str) -> str:
        """File name an export dialog offers (see :func:`suggested_name`)."""
        layer = self.result_layer()
        if layer is None:
            return ""
        return suggested_name(layer, level_position(self.viewer, layer), caption == "Export all levels")

    def _export(self, all_levels: bool) -> None:
        layer = self.result_layer()
        if layer is None:
            show_warning("Nothing to export yet: segment an image first.")
            return
        path = self.ask_save_path("Export all levels" if all_levels else "Export level")
        if path:
            export_layer(path, layer, None if all_levels else level_position(self.viewer, layer))
