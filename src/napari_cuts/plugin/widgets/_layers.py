"""Glue between napari layers and the engine: which pixels to use, and result layers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from napari.layers import Image, Labels, Layer

from napari_cuts.engine.pipeline import Segmentation
from napari_cuts.formats.axes import file_axes, layout
from napari_cuts.formats.cuts import FILE_GROUP, META_KEY, level_rows, levels_layer_kwargs, levels_meta
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.images import volume_shape, voxel_spacing
from napari_cuts.plugin.widgets._workers import ImageInput


def check_image_layer(layer: Layer | None, active: Layer | None = None) -> Image:
    """The layer if napari-cuts can use it; else raise CutsInputError saying why."""
    if layer is None:
        if isinstance(active, Labels):
            raise CutsInputError(
                f"'{active.name}' is a labels layer; napari-cuts needs an image layer "
                "(open or add an image first)"
            )
        raise CutsInputError("there is no image layer: open an image or a sample first")
    if isinstance(layer, Labels) or not isinstance(layer, Image):
        raise CutsInputError(f"'{layer.name}' is not an image layer; choose an image layer")
    if layer.multiscale:
        raise CutsInputError(
            f"'{layer.name}' is a multiscale image; napari-cuts needs a single-scale image"
        )
    if layer.ndim > 3:
        raise CutsInputError(
            f"'{layer.name}' has {layer.ndim} dimensions; napari-cuts works on 2D images, "
            "RGB images and 3D stacks: split it into 3D layers first (layer menu: Split Stack)"
        )
    try:  # the engine's own check, as the command line makes it
        volume_shape(tuple(layer.data.shape), channel_axis=bool(layer.rgb), is_stack=layer.ndim == 3)
    except CutsInputError as exc:
        raise CutsInputError(f"'{layer.name}': {exc}") from None
    return layer


def n_channels(layer: Image) -> int:
    """Channels per pixel as the engine sees them (3 or 4 for RGB, else 1)."""
    return int(layer.data.shape[-1]) if layer.rgb else 1


def whole_layer(layer: Image) -> ImageInput:
    """All pixels of an image layer: a 2D image, or every slice of a 3D stack."""
    return ImageInput(layer.data, rgb=layer.rgb, is_stack=layer.ndim == 3, name=layer.name)


@dataclass
class SliceInput:
    """The 2D plane on screen, and where its labels go in the layer's data space."""

    image: ImageInput
    index: tuple[int, ...]  # indices along the leading (non-displayed) axes


def current_slice(layer: Image, point) -> SliceInput:
    """The 2D plane of `layer` at the viewer's dims `point` (a world position)."""
    leading = layer.ndim - 2
    coords = np.asarray(layer.world_to_data(point))[:leading]
    shape = layer.data.shape[:leading]
    index = tuple(int(np.clip(round(float(c)), 0, n - 1)) for c, n in zip(coords, shape))
    name = layer.name if not index else f"{layer.name} [{', '.join(map(str, index))}]"
    plane = layer.data[index] if index else layer.data
    return SliceInput(ImageInput(plane, rgb=layer.rgb, is_stack=False, name=name), index)


def result_key(layer: Image) -> str:
    """Identifies the results of one image layer (survives renaming the layer)."""
    return str(layer.unique_id)


def is_levels_layer(layer) -> bool:
    """True for a levels layer: every level of a segmentation, the level axis first."""
    return isinstance(layer, Labels) and "levels" in layer.metadata.get(META_KEY, {})


def result_layers(layers, key: str) -> list[Labels]:
    """The levels layers of the image with `key` (one, unless the user copied it)."""
    return [lay for lay in layers
            if is_levels_layer(lay) and lay.metadata[META_KEY].get("group") == key]


def spatial_ndim(layer) -> int:
    """Axes of a layer without the level axis of a levels layer."""
    return layer.ndim - 1 if is_levels_layer(layer) else layer.ndim


def level_axis(viewer, layer: Labels) -> int:
    """The viewer's (world) axis that is the level axis of a levels layer."""
    return viewer.dims.ndim - layer.ndim


def level_position(viewer, layer: Labels) -> int:
    """Position on the level axis (0 = coarsest) of the level `viewer` shows of `layer`."""
    coords = np.asarray(layer.world_to_data(viewer.dims.point), float)
    return int(np.clip(round(float(coords[0])), 0, layer.data.shape[0] - 1))


def show_level_position(viewer, layer: Labels, position: int) -> None:
    """Move the viewer's level axis to `position` of `layer` (napari's dims slider follows)."""
    position = int(np.clip(position, 0, layer.data.shape[0] - 1))
    world = position * float(layer.scale[0]) + float(layer.translate[0])
    viewer.dims.set_point(level_axis(viewer, layer), world)


def level_data(layer: Labels, position: int) -> np.ndarray:
    """One level of a levels layer (with a slice result's leading axes of length 1)."""
    return np.asarray(layer.data[int(position)])


def labels_on_screen(viewer, layer: Labels) -> np.ndarray:
    """A labels layer's label image; for a levels layer, the level the viewer shows."""
    if is_levels_layer(layer):
        return level_data(layer, level_position(viewer, layer))
    return np.asarray(layer.data)


def salient_levels(layer: Labels, shape: tuple[int, ...] | None = None) -> list[np.ndarray]:
    """The salient levels (and the default) of a levels layer, coarse to fine; with
    `shape`, only if its levels have that shape (a whole-image result)."""
    meta = layer.metadata[META_KEY]
    if shape is not None and tuple(layer.data.shape[1:]) != tuple(shape):
        return []
    return [level_data(layer, i) for i, row in enumerate(meta["levels"])
            if row["salient"] or i == meta["default"]]


def make_result_layer(
    image: Image, seg: Segmentation, levels: np.ndarray, index: tuple[int, ...] = (),
) -> Labels:
    """The levels layer of a segmentation of `image` (not yet in a viewer): every level,
    the level axis first, aligned with `image`.

    With a slice `index`, the labels get leading axes of length 1 placed at that index so
    that they show on that slice only.
    """
    leading = image.ndim - 2 - (1 if seg.is_stack else 0)
    translate = np.array(image.translate, float)
    for axis, i in enumerate(index):
        translate[axis] += i * float(image.scale[axis])
    levels = levels.reshape((len(levels),) + (1,) * leading + tuple(seg.shape))
    rows = level_rows(seg.n_regions, seg.salient, _kinds(seg))
    meta = levels_meta(image.name, result_key(image), rows, seg.default_level, seg.n_levels,
                       tuple(index), time=bool(getattr(seg, "time", False)))
    kwargs = levels_layer_kwargs(meta, len(seg.shape), translate=translate,
                                 scale=np.array(image.scale, float))
    return defer_paint_tools(Labels(levels, **kwargs))


def _kinds(seg) -> list[str]:
    """The kind of every level (a time-lapse result has them itself)."""
    return seg.kinds if hasattr(seg, "kinds") else seg.hierarchy.kinds


#: Labels of a layer's axis that mean time.
TIME_LABELS = {"t", "time", "frame", "frames"}


def is_time_lapse(layer) -> bool:
    """Whether a 3D image layer's first axis is time: its axis label says so, or the TIFF
    it was opened from records it (ImageJ or OME axes)."""
    if layer is None or layer.ndim != 3:
        return False
    labels = getattr(layer, "axis_labels", ())
    if labels and str(labels[0]).lower() in TIME_LABELS:
        return True
    path = getattr(layer.source, "path", None)
    axes = file_axes(path) if path else None
    if not axes:
        return False
    try:
        return layout(np.shape(layer.data), axes).time
    except CutsInputError:
        return False


#: A Labels layer's painting tools, whose visuals napari makes when the layer goes in.
PAINT_TOOLS = ("polygon", "brush_stroke")
#: Modes in which those tools are not used.
LOOK_MODES = ("pan_zoom", "transform")


def defer_paint_tools(layer: Layer) -> Layer:
    """Let napari make the visuals of a Labels layer's painting tools when it is painted on.

    napari builds the polygon and brush-stroke overlays of every Labels layer as it goes
    into the viewer: about 50 ms of main-thread work per layer here, close to half of
    adding it, and several times that while other processes keep the cores busy. Most result layers are only
    looked at. The overlays are hidden until the layer's mode becomes one that paints;
    napari then makes them (it makes an overlay's visual once it is visible).
    """
    # napari keeps a layer's overlays in the private dict `_overlays` (napari/napari#4894)
    # and exposes only some as properties, not the brush and polygon ones; how to expose
    # overlays publicly is open (napari/napari#8236). No public way yet: minimal use, and
    # nothing happens where the attribute is missing.
    overlays = getattr(layer, "_overlays", None)
    if not isinstance(layer, Labels) or overlays is None or str(layer.mode) not in LOOK_MODES:
        return layer
    hidden = [overlays[k] for k in PAINT_TOOLS if k in overlays and overlays[k].visible]
    for overlay in hidden:
        overlay.visible = False

    def restore(event=None) -> None:
        if str(layer.mode) not in LOOK_MODES:
            layer.events.mode.disconnect(restore)
            for overlay in hidden:
                overlay.visible = True

    if hidden:
        layer.events.mode.connect(restore)
    return layer


def add_keeping_selection(viewer, layer: Layer, index: int | None = None) -> Layer:
    """Insert `layer` (at `index`, else on top) and leave the selection as it was.

    napari makes an inserted layer the active one, which switches the layer controls, the
    layer list's selection and the buttons' style: 20-40 ms of main-thread work, and as
    much again to switch back. Here the selection's events are held during the insertion
    and the selection is put back before they resume, so nothing sees a change. Callers
    that mean a layer to be active select it when they are done.
    """
    layers = viewer.layers
    selection = layers.selection
    before, active = set(selection), selection.active
    if len(before) > 1:  # a multiple selection: napari's own way, then put it back
        layers.insert(len(layers) if index is None else index, layer)
        selection.clear()
        selection.update(before)
        return layer
    with selection.events.blocker_all():
        layers.insert(len(layers) if index is None else index, layer)
        selection.active = active
    return layer


def replace_result_layer(viewer, old: list[Labels], new: Labels) -> Labels:
    """Show `new` in place of the previous results `old` of the same image.

    One previous levels layer of the same dimensions takes the new levels, metadata and
    placement in place (its undo history cleared through napari's public ``editable``):
    napari collects garbage over the whole process each time a layer is removed
    (napari/napari#8122), a pause of a third of a second on an idle machine and more on a
    busy one. Otherwise the old layers go and `new` is added.
    """
    if len(old) == 1 and old[0].ndim == new.ndim and old[0].dtype == new.dtype:
        layer = old[0]
        layer.metadata = new.metadata
        layer.scale, layer.translate = new.scale, new.translate
        layer.axis_labels = new.axis_labels
        layer.data = new.data
        layer.editable = False  # clears the undo history of the old levels ...
        layer.editable = True  # ... and leaves the layer editable again
        return layer
    for layer in old:
        viewer.layers.remove(layer)
    return add_keeping_selection(viewer, new)


def link_file_results(layers) -> list[str]:
    """Attach levels layers read from a file to the image layer they belong to.

    The reader cannot know the image layer, so its layers carry a ``file:`` group and the
    image's name. Once an image layer of that name and size is open, the levels join its
    group (the Segment widget's slider then browses them, and the annotation tools find
    them) and take its scale and translation. Returns the groups now linked.
    """
    linked = []
    images = [lay for lay in layers if isinstance(lay, Image) and not lay.multiscale]
    for layer in list(layers):
        meta = layer.metadata.get(META_KEY, {}) if is_levels_layer(layer) else {}
        if not str(meta.get("group", "")).startswith(FILE_GROUP):
            continue
        for image in images:
            spatial = image.data.shape[:-1] if image.rgb else image.data.shape
            if image.name == meta.get("image") and tuple(spatial) == tuple(layer.data.shape[1:]):
                meta["group"] = result_key(image)
                n = image.ndim
                layer.scale = [float(layer.scale[0])] + list(image.scale)[-n:]
                layer.translate = [float(layer.translate[0])] + list(image.translate)[-n:]
                linked.append(meta["group"])
                break
    return linked


def z_spacing_of(layer) -> float | None:
    """A 3D image layer's z step over its pixel width: from ``layer.scale``, or where that
    is cubic (napari's own reader leaves it so), from the voxel size its TIFF file
    records; None when neither says (or the layer is not a 3D stack)."""
    if getattr(layer, "rgb", False) or layer.ndim != 3:
        return None
    z, _, x = (abs(float(v)) for v in layer.scale[-3:])
    if not (z > 0 and x > 0):
        return None
    ratio = z / x
    path = getattr(layer.source, "path", None)
    if ratio == 1:  # napari's default scale: not known, unless the file says
        ratio = voxel_spacing(path) if path else None
        if ratio is None:
            return None
    return float(np.clip(round(ratio, 3), 0.1, 100))
