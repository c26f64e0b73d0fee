"""Menu command: save the selected labels layer through napari-cuts' writer.

napari's *File > Save Selected Layers...* lists its builtin labels writer first (uint32,
no ImageJ axes); napari-cuts' writer is only used when its file type is picked in that
dialog. *File > IO Utilities > Save labels as TIFF (napari-cuts)...* always uses it.
"""

from __future__ import annotations

import napari
from napari.layers import Labels
from napari.utils.notifications import show_error, show_info, show_warning

from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.writing import LEVELS_SUFFIX
from napari_cuts.plugin.widgets._common import ask_save_path, file_name
from napari_cuts.plugin.widgets._layers import META_KEY, is_levels_layer
from napari_cuts.plugin.writer import write_labels

TIFF_FILTER = "napari-cuts labels TIFF (*.tif *.tiff)"
LEVELS_FILTER = f"napari-cuts levels (*{LEVELS_SUFFIX});;{TIFF_FILTER}"


def suggested_name(layer: Labels) -> str:
    """'<image>.cuts' for a levels layer (every level, as the reader opens it), else
    '<layer name>.tif'."""
    if is_levels_layer(layer):
        return file_name(layer.metadata[META_KEY]["image"], suffix=LEVELS_SUFFIX)
    return file_name(layer.name, suffix=".tif")


def save_labels_dialog(viewer: napari.viewer.Viewer, ask=ask_save_path) -> list[str]:
    """Save the selected labels layer to a TIFF chosen in a dialog; the paths written."""
    layer = viewer.layers.selection.active
    if not isinstance(layer, Labels):
        show_warning("Select a labels layer (e.g. a level) to save it as TIFF.")
        return []
    levels = is_levels_layer(layer)
    path = ask(None, "Save labels as TIFF (napari-cuts)", LEVELS_FILTER if levels else TIFF_FILTER,
               suggested_name(layer))
    if not path:
        return []
    try:
        written = write_labels(path, layer.data, {"metadata": layer.metadata})
    except CutsInputError as exc:
        show_warning(f"Cannot save: {exc}.")
        return []
    except OSError as exc:
        show_error(f"Could not write {path}: {exc.strerror or exc}")
        return []
    show_info(f"Labels written to {written[0]}")
    return written
