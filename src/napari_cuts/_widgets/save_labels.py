"""Menu command: save the selected labels layer through napari-cuts' writer.

napari's *File > Save Selected Layers...* lists its builtin labels writer first (uint32,
no ImageJ axes); napari-cuts' writer is only used when its file type is picked in that
dialog. *File > IO Utilities > Save labels as TIFF (napari-cuts)...* always uses it.
"""

from __future__ import annotations

import napari
from napari.layers import Labels
from napari.utils.notifications import show_error, show_info, show_warning

from .._writer import write_labels
from ..io import CutsInputError
from ._common import ask_save_path, file_name
from ._layers import META_KEY

TIFF_FILTER = "napari-cuts labels TIFF (*.tif *.tiff)"


def suggested_name(layer: Labels) -> str:
    """'<image> level <k>.tif' for a level, else '<layer name>.tif'."""
    meta = layer.metadata.get(META_KEY)
    if meta:
        return file_name(meta["image"], f"level {meta['level']}", suffix=".tif")
    return file_name(layer.name, suffix=".tif")


def save_labels_dialog(viewer: napari.viewer.Viewer, ask=ask_save_path) -> list[str]:
    """Save the selected labels layer to a TIFF chosen in a dialog; the paths written."""
    layer = viewer.layers.selection.active
    if not isinstance(layer, Labels):
        show_warning("Select a labels layer (e.g. a level) to save it as TIFF.")
        return []
    path = ask(None, "Save labels as TIFF (napari-cuts)", TIFF_FILTER, suggested_name(layer))
    if not path:
        return []
    try:
        written = write_labels(path, layer.data, {})
    except CutsInputError as exc:
        show_warning(f"Cannot save: {exc}.")
        return []
    except OSError as exc:
        show_error(f"Could not write {path}: {exc.strerror or exc}")
        return []
    show_info(f"Labels written to {written[0]}")
    return written
