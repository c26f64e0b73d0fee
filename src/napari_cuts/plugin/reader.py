"""npe2 reader: a levels file written by napari-cuts opens as one Labels layer.

A levels file (``<stem>.cuts``, or ``<stem>.cuts.tif`` from earlier versions) is a TIFF
of every level, coarse to fine, shape (levels, Y, X) or (levels, Z, Y, X);
``<stem>.cuts.json`` beside it says which levels are salient and which is the default.
It opens as one Labels layer whose first axis is the level: napari's dims slider is the
level slider. That axis is shifted so that the viewer's starting point (0) is the
default level, which is what shows first. Only this plugin claims ``*.cuts``, so napari
opens it without asking. The layer's ``metadata["napari_cuts"]`` says what each level
is; once an image layer named ``<stem>`` is open, the napari-cuts docks link the levels
to it (see :func:`napari_cuts.plugin.widgets._layers.link_file_results`). The format itself
is :mod:`napari_cuts.formats.cuts`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from napari_cuts.formats.cuts import META_KEY, is_levels_file, levels_layer_kwargs, read_levels_file


def napari_get_reader(path: str | list[str]) -> Callable | None:
    """The reader function for a levels file (or a list of them), else None."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths or not all(is_levels_file(p) for p in paths):
        return None
    return read_cuts


def read_cuts(path: str | list[str]) -> list[tuple]:
    """Layer data of one or more levels files: one Labels layer each, the default shown."""
    out: list[tuple] = []
    for p in [path] if isinstance(path, (str, Path)) else path:
        stack, meta = read_levels_file(p)
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
