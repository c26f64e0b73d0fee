"""Dock widget: click regions of a CUTS level to paint them into an annotation class."""

from __future__ import annotations

import weakref

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, SpinBox
from napari.layers import Labels
from napari.utils.notifications import show_warning
from qtpy.QtWidgets import QLabel, QPushButton, QWidget

from napari_cuts.annotation.pick import apply_pick, pick_regions
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.plugin.widgets._annotation_common import (
    choose,
    follow_level_on_screen,
    follows,
    is_level_layer,
    kind_of,
    labels_combo,
    made_layer_kwargs,
    shown_level,
    source_image,
    spatial_shape,
)
from napari_cuts.plugin.widgets._common import WidgetLife, column
from napari_cuts.plugin.widgets._layers import (
    add_keeping_selection,
    defer_paint_tools,
    is_levels_layer,
    labels_on_screen,
)

CLICKED_SLICE = "clicked slice"
WHOLE_REGION = "whole 3D region"
PAINT_MODES = ("paint", "fill", "erase", "polygon")
DRAG_PIXELS = 4  # a press that moves further than this is a pan, not a click


class PickWidget(QWidget):
    """Click a region of the levels layer: it joins the annotation under the chosen class.

    Shift-click erases the region from the annotation (whatever class it has there).
    Every pick is one undo step of the annotation layer (Ctrl+Z).
    """

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._life = WidgetLife(self)

        self.levels = labels_combo(
            napari_viewer, "levels", "Labels layer whose regions you click (a CUTS level)",
            keep=lambda lay: kind_of(lay) is None, first=is_level_layer)
        self.follow = CheckBox(value=True, text="follow the level on screen",
                               tooltip="Pick from whichever level of this segmentation is visible")
        self.annotation = labels_combo(
            napari_viewer, "annotation", "Labels layer the picked regions are painted into",
            keep=lambda lay: not is_level_layer(lay), nullable=True,
            first=lambda lay: kind_of(lay) == "annotation")
        self.class_id = SpinBox(value=1, min=1, max=255, label="class",
                                tooltip="Label value the picked regions get")
        self.fill = CheckBox(value=False, text="fill holes",
                             tooltip="Also paint holes enclosed by the class (per 2D slice)")
        self.min_size = SpinBox(value=0, min=0, max=10**8, label="drop objects under (px)",
                                tooltip="Pieces of a picked region smaller than this are left out")
        self.connected = CheckBox(value=False, text="only the clicked piece",
                                  tooltip="Pick only the connected piece of the region under the click")
        self.extent = ComboBox(label="in stacks", choices=[CLICKED_SLICE, WHOLE_REGION],
                               value=CLICKED_SLICE,
                               tooltip="For 3D stacks: pick in the slice on screen or in all slices")
        self.enabled = CheckBox(value=True, text="pick on click (shift-click erases)")
        self.form = Container(widgets=[
            self.levels, self.follow, self.annotation, self.class_id, self.fill, self.min_size,
            self.connected, self.extent, self.enabled,
        ])
        self.new_button = QPushButton("New annotation layer")
        self.new_button.setToolTip("Add an empty '<image> annotation' layer that fits the levels layer")
        self.status = QLabel("Click a region of the levels layer to add it.")
        self.status.setWordWrap(True)

        column(self, self.form, self.new_button, self.status)

        self.new_button.clicked.connect(self.new_annotation)
        for event in ("inserted", "removed", "reordered"):
            getattr(napari_viewer.layers.events, event).connect(self.reset_choices)
        follow_level_on_screen(napari_viewer, self, self._on_level_shown)
        napari_viewer.mouse_drag_callbacks.append(self._on_mouse)
        self.destroyed.connect(lambda *_: _remove_callback(napari_viewer, self._on_mouse))
        _PICKERS.append(weakref.ref(self))

    # ---- public API --------------------------------------------------------------
    def reset_choices(self, *_args) -> None:
        if self._life.alive:
            self.levels.reset_choices()
            self.annotation.reset_choices()

    def new_annotation(self) -> Labels | None:
        """Add an empty annotation layer the size of the levels layer's image."""
        level = self.levels.value
        if level is None:
            show_warning("Cannot make an annotation layer: there is no levels layer; "
                         "segment an image first.")
            return None
        image = source_image(self.viewer, level)
        if image is not None:
            source, shape, base = image, spatial_shape(image), image.name
        else:
            source, shape, base = level, labels_on_screen(self.viewer, level).shape, level.name
        layer = Labels(np.zeros(shape, np.uint8), opacity=0.7,
                       **made_layer_kwargs("annotation", source, f"{base} annotation"))
        add_keeping_selection(self.viewer, defer_paint_tools(layer))
        self.viewer.layers.selection.active = level
        self.annotation.value = layer
        return layer

    def pick_at(self, position, *, remove: bool = False, view_direction=None,
                dims_displayed=None) -> int:
        """Add (or with `remove`, erase) the region under a world `position`; pixels changed.

        A `position` without the leading axes (e.g. the level axis) is on the viewer's
        current point along them."""
        lead = self.viewer.dims.ndim - len(position)
        if lead > 0:
            position = tuple(self.viewer.dims.point[:lead]) + tuple(position)
        try:
            level, annotation = self._chosen_layers()
            mask, lead = self._picked(level, annotation, position, view_direction, dims_displayed)
            target = np.asarray(annotation.data)[lead] if lead else np.asarray(annotation.data)
            edit = apply_pick(target, mask, None if remove else self.class_id.value,
                              remove=remove, fill_holes=bool(self.fill.value),
                              min_size=int(self.min_size.value))
        except CutsInputError as exc:
            show_warning(f"Cannot pick: {exc}.")
            return 0
        if edit.n_changed:
            indices = tuple(np.full(edit.n_changed, i) for i in lead) + edit.indices
            with annotation.block_history():
                annotation.data_setitem(indices, edit.values)
            self.viewer.layers.selection.active = annotation  # so Ctrl+Z undoes the pick
        verb = "erased" if remove else f"painted as class {self.class_id.value}"
        self.status.setText(f"{edit.n_changed} pixel(s) {verb} in '{annotation.name}' "
                            f"(from '{level.name}'); Ctrl+Z undoes it")
        return edit.n_changed

    # ---- internals ------------------------------------------------------------------
    def _on_level_shown(self, level: Labels) -> None:
        if self._life.alive and self.follow.value and follows(self.levels, level):
            choose(self.levels, level)

    def _chosen_layers(self) -> tuple[Labels, Labels]:
        level, annotation = self.levels.value, self.annotation.value
        if level is None:
            raise CutsInputError("there is no levels layer; segment an image first")
        if annotation is None:
            raise CutsInputError("choose an annotation layer or press 'New annotation layer'")
        if self.follow.value:
            level = shown_level(self.viewer, level)
        if annotation is level:
            raise CutsInputError("the annotation layer must not be the levels layer")
        return level, annotation

    def _picked(self, level: Labels, annotation: Labels, position, view_direction,
                dims_displayed) -> tuple[np.ndarray, tuple[int, ...]]:
        """Mask of the clicked region, and the leading index it goes to in the annotation."""
        labels = labels_on_screen(self.viewer, level)  # a levels layer: the level shown
        shape = tuple(annotation.data.shape)
        if labels.ndim not in (2, 3) or len(shape) not in (2, 3):
            raise CutsInputError("picking works on 2D labels and 3D stacks only")
        at_level = np.asarray(level.world_to_data(position), float)
        if is_levels_layer(level):
            at_level = at_level[1:]  # without the level axis
        if labels.shape == shape:
            if view_direction is not None and dims_displayed is not None and len(dims_displayed) == 3:
                value = level.get_value(position, view_direction=view_direction,
                                        dims_displayed=list(dims_displayed), world=True)
                return pick_regions(labels, [int(value or 0)], kind="ids"), ()
            same_slice = labels.ndim == 3 and self.extent.value == CLICKED_SLICE
            return pick_regions(labels, [at_level], kind="points", connected=bool(self.connected.value),
                                same_slice=same_slice), ()
        if labels.shape[-2:] != shape[-2:]:
            raise CutsInputError(f"the levels layer ({labels.shape}) and the annotation ({shape}) "
                                 "differ in size")
        # A level of one slice, or 2D levels over a stack: pick in the clicked plane.
        lead_level = _plane_index(at_level, labels.shape)
        lead = _plane_index(np.asarray(annotation.world_to_data(position), float), shape)
        if lead_level is None or lead is None:
            raise CutsInputError(f"'{level.name}' has no labels on this slice")
        plane = labels[lead_level] if lead_level else labels
        mask = pick_regions(plane, [at_level[-2:]], kind="points", connected=bool(self.connected.value))
        return mask, lead

    def _on_mouse(self, viewer, event):
        """Viewer drag callback: a left click without dragging picks; shift erases."""
        if not (self._life.alive and self.enabled.value) or getattr(event, "button", 1) != 1:
            return
        if active_picker(viewer) is not self:  # another Pick dock (e.g. the panel's) picks
            return
        active = viewer.layers.selection.active
        if isinstance(active, Labels) and str(active.mode) in PAINT_MODES:
            return  # the user is painting
        position = tuple(event.position)
        remove = "Shift" in tuple(event.modifiers)
        view_direction = getattr(event, "view_direction", None)
        dims_displayed = getattr(event, "dims_displayed", None)
        start = np.asarray(getattr(event, "pos", (0, 0)), float)
        yield
        while event.type == "mouse_move":
            now = np.asarray(getattr(event, "pos", start), float)
            if np.hypot(*(now - start)[:2]) > DRAG_PIXELS:
                return
            yield
        if self._life.alive:
            self.pick_at(position, remove=remove, view_direction=view_direction,
                         dims_displayed=dims_displayed)


#: Every PickWidget made (weakly), oldest first: a click picks with one of them only.
_PICKERS: list[weakref.ref] = []


def _same_viewer(a, b) -> bool:
    return getattr(a, "__wrapped__", a) is getattr(b, "__wrapped__", b)


def active_picker(viewer) -> PickWidget | None:
    """The one Pick widget of `viewer` that handles a click: among those alive with
    "pick on click" ticked, the last one opened that is on screen (else the last one)."""
    _PICKERS[:] = [ref for ref in _PICKERS if ref() is not None]
    mine = [w for w in (ref() for ref in _PICKERS)
            if w is not None and w._life.alive and w.enabled.value and _same_viewer(w.viewer, viewer)]
    shown = [w for w in mine if w.isVisible()]
    return (shown or mine or [None])[-1]


def _plane_index(coords: np.ndarray, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """Indices along the leading axes of `shape` at data `coords`; None when outside."""
    lead = tuple(int(np.floor(c + 0.5)) for c in coords[: len(shape) - 2])
    if any(not 0 <= i < n for i, n in zip(lead, shape)):
        return None
    return lead


def _remove_callback(viewer, callback) -> None:
    if callback in viewer.mouse_drag_callbacks:
        viewer.mouse_drag_callbacks.remove(callback)

