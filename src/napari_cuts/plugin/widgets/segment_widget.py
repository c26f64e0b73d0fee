"""Dock widget: segment an image with the active encoder, browse levels, export them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from magicgui.widgets import ComboBox
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import QLabel, QPushButton, QWidget

from napari_cuts.config import SegmentConfig
from napari_cuts.engine.pipeline import Progress
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.images import volume_shape
from napari_cuts.formats.writing import LEVELS_SUFFIX
from napari_cuts.plugin.widgets._annotation_common import follow_level_on_screen
from napari_cuts.plugin.widgets._common import (
    Every,
    ProgressBar,
    WidgetLife,
    column,
    image_layer_combo,
)
from napari_cuts.plugin.widgets._export import LevelExport
from napari_cuts.plugin.widgets._form import ConfigForm
from napari_cuts.plugin.widgets._layers import (
    META_KEY,
    check_image_layer,
    current_slice,
    is_time_lapse,
    level_position,
    link_file_results,
    make_result_layer,
    n_channels,
    replace_result_layer,
    result_key,
    result_layers,
    show_level_position,
    whole_layer,
    z_spacing_of,
)
from napari_cuts.plugin.widgets._level_slider import KIND_TEXT, LevelSlider, level_line  # noqa: F401  (KIND_TEXT re-exported)
from napari_cuts.plugin.widgets._state import encoder_state
from napari_cuts.plugin.widgets._workers import Refused, SegmentResult, segmentation_worker, start_worker, warm_up

WHOLE_STACK = "whole stack"
CURRENT_SLICE = "current slice"
EACH_FRAME = "each frame"  # a time-lapse: frames one by one, with one encoder


class SegmentWidget(LevelExport, QWidget):
    """Segment with the active encoder; every level in one Labels layer, the level axis
    first, so napari's dims slider and this dock's slider both move across the levels."""

    #: Emitted with the number of levels when the worker is done and their layer goes in.
    adding_layers = Signal(int)

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.state = encoder_state(napari_viewer)
        self._life = WidgetLife(self)
        warm_up()
        self._worker = None
        self._bar = ProgressBar()
        self._every = Every()  # progress shown a few times a second
        self._group: str | None = None  # result key of the layers the slider browses
        self._store = None  # the VectorStore of the run's image (session.py)
        self._waiting: tuple | None = None  # the run asked for while Refine computes its vectors
        self._spacing_of = None  # the layer whose scale the z spacing was read from

        self.image = image_layer_combo(napari_viewer, "Image layer to segment")
        self.extent = ComboBox(
            label="segment", choices=[CURRENT_SLICE, WHOLE_STACK, EACH_FRAME], value=WHOLE_STACK,
            tooltip="For a 3D stack: only the slice on screen, all slices jointly (condensed "
                    "together, so the labels agree from slice to slice), or each slice on its "
                    "own with the one encoder (the default for a time-lapse: frames stay frames)",
        )
        self.form = ConfigForm(SegmentConfig, extra=(self.image, self.extent))

        self.run_button = QPushButton("Segment")
        self.run_button.setToolTip("Segment the chosen image with the active encoder")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel the running segmentation; layers stay as they were")
        self.cancel_button.setEnabled(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.encoder_label = QLabel()
        self.encoder_label.setWordWrap(True)
        self.level_slider = LevelSlider()
        self.level_slider.setToolTip(
            "Every level, coarse (left) to fine (right); marks: the salient levels, the "
            "default (brighter). napari's own slider above the canvas moves along.")
        self.level_label = QLabel("no result yet")
        self.level_label.setWordWrap(True)
        self.export_level_button = QPushButton("Export level…")
        self.export_level_button.setToolTip("Write the level on screen to a TIFF file")
        self.export_all_button = QPushButton("Export all levels…")
        self.export_all_button.setToolTip(
            f"Write every level to one compressed TIFF ('{LEVELS_SUFFIX}', which napari-cuts "
            "opens as levels) and its .cuts.json")

        # The level browser first: it stays in view in a short dock.
        column(self, [self.run_button, self.cancel_button], self.status,
               "<b>Level</b> (coarse → fine)", self.level_slider, self.level_label,
               [self.export_level_button, self.export_all_button],
               self.form, "<b>Active encoder</b>", self.encoder_label)

        self.run_button.clicked.connect(self.start_segmentation)
        self.cancel_button.clicked.connect(self.cancel)
        self.level_slider.valueChanged.connect(lambda value: self.show_level(value, select=True))
        self.export_level_button.clicked.connect(self.export_level)
        self.export_all_button.clicked.connect(self.export_all_levels)
        self.image.changed.connect(self._on_image_changed)
        self.state.changed.connect(self._show_encoder)
        follow_level_on_screen(napari_viewer, self, self._on_level_shown)
        napari_viewer.dims.events.current_step.connect(self._on_dims_step)
        self.destroyed.connect(lambda *_: _disconnect(napari_viewer.dims.events.current_step,
                                                       self._on_dims_step))
        self._show_encoder()
        self._on_image_changed()

    # ---- public API (buttons call these) --------------------------------------
    @property
    def is_busy(self) -> bool:
        return self._worker is not None or self._waiting is not None

    def reset_choices(self, *_args) -> None:
        """Refresh the layer list (napari calls this when layers change in a docked widget)."""
        self.image.reset_choices()
        link_file_results(self.viewer.layers)  # levels opened from a file join their image
        self._on_image_changed()
        self._refresh_results()

    def segment_config(self) -> SegmentConfig:
        """The parameters in the form (raises CutsInputError when they make no sense)."""
        return self.form.config()

    def start_segmentation(self) -> None:
        """Segment the chosen image (slice or stack) with the active encoder in a worker."""
        if self.is_busy:
            show_warning("A segmentation is already running; wait for it or press Cancel.")
            return
        encoder = self.state.encoder
        try:
            layer = check_image_layer(self.image.value, self.viewer.layers.selection.active)
            if encoder is None:
                raise CutsInputError(
                    "there is no encoder yet; train one with 'Train encoder' or load a file")
            encoder.check_channels(n_channels(layer))
            config = self.segment_config()
        except CutsInputError as exc:
            show_warning(f"Cannot segment: {exc}.")
            return
        if layer.ndim == 3 and self.extent.value == WHOLE_STACK:
            image, index = whole_layer(layer), ()
        elif layer.ndim == 3 and self.extent.value == EACH_FRAME:
            image, index = replace(whole_layer(layer), is_stack=False, time=True), ()
        else:
            piece = current_slice(layer, self.viewer.dims.point)
            image, index = piece.image, piece.index
        self._launch(encoder, layer, image, index, config)

    def _launch(self, encoder, layer, image, index: tuple, config: SegmentConfig) -> None:
        """Run what was asked at the press (the same after a wait for Refine's vectors)."""
        store, filling = None, None
        if not image.time:  # the image's vectors, kept for Refine (and the next run)
            shape = volume_shape(np.shape(image.data), channel_axis=image.rgb, is_stack=image.is_stack)
            key = (result_key(layer), index)
            asked = (encoder, layer, image, index, config)
            store = self.state.embeddings.claim(key, encoder, layer.data, shape,
                                                lambda: self._vectors_ready(asked))
            if store is None:  # Refine is computing them: start when they are in
                self._waiting = asked
                self._set_running(True)
                self.status.setText(f"waiting for the pixel vectors Refine is computing for {image.name}…")
                return
            filling = None if store.filled else key  # Refine waits for these meanwhile
        worker = segmentation_worker(encoder, image, config, store=store)
        self._store = store
        outcome: dict = {}
        self._bar.start(total=0, desc=f"napari-cuts: segmenting {image.name}")
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(lambda result: outcome.setdefault("result", result))
        worker.errored.connect(lambda exc: outcome.setdefault("error", exc))
        worker.finished.connect(lambda: self._on_finished(worker, layer, index, outcome))
        if filling is not None:  # after _on_finished has put the vectors in the store
            cache = self.state.embeddings
            worker.finished.connect(lambda: cache.end_filling(filling))
        self._worker = worker
        self._life.workers.add(worker)
        self._set_running(True)
        self.status.setText(f"segmenting {image.name}…")
        start_worker(worker)

    def _vectors_ready(self, asked: tuple) -> None:
        """Refine's vectors are in (or it stopped): start the run asked for meanwhile, with
        the image, slice, encoder and settings of the press."""
        if self._waiting is not asked or not self._life.alive:
            return  # cancelled meanwhile
        self._waiting = None
        self._set_running(False)
        _, layer, *_ = asked
        if layer not in self.viewer.layers:
            self.status.setText(f"not segmented: {layer.name} was closed meanwhile")
            return
        self._launch(*asked)

    def cancel(self) -> None:
        """Cancel the running segmentation; the layers stay as they were."""
        if self._waiting is not None:  # not started yet: waiting for Refine's vectors
            self._waiting = None
            self._set_running(False)
            self.status.setText("cancelled")
            show_info("Segmentation cancelled; the layers are unchanged.")
            return
        if self._worker is None:
            show_info("Nothing to cancel: no segmentation is running.")
            return
        self.status.setText("cancelling…")
        self._worker.quit()

    def result_layer(self):
        """The levels layer the slider browses (None without a result)."""
        layers = result_layers(self.viewer.layers, self._group) if self._group else []
        return layers[-1] if layers else None

    def show_level(self, position: int | None = None, select: bool = False) -> None:
        """Show the level at slider `position` (0 = coarsest): napari's dims slider moves there.

        With `select` the levels layer also becomes the selected layer (as after
        segmenting, or when the user moves the slider), so the layer controls edit it.
        """
        layer = self.result_layer()
        if layer is None:
            return
        position = self.level_slider.value() if position is None else int(position)
        position = int(np.clip(position, 0, len(layer.data) - 1))
        if not layer.visible:
            layer.visible = True
        if level_position(self.viewer, layer) != position:
            show_level_position(self.viewer, layer, position)
        if select:
            self.viewer.layers.selection.active = layer
        self._sync_slider(layer)

    def shown_level(self) -> int | None:
        """Position (0 = coarsest) of the level on screen, None without a result."""
        layer = self.result_layer()
        return None if layer is None else level_position(self.viewer, layer)

    # ---- internals ----------------------------------------------------------------
    def _on_progress(self, p: Progress) -> None:
        if not self._life.alive or not self._every(force=p.done >= p.total):
            return
        self.status.setText(f"{p.stage}: {p.message} ({p.done}/{p.total})")
        self._bar.show(f"napari-cuts: {p.stage}", p.done, p.total)

    def _on_finished(self, worker, layer, index, outcome: dict) -> None:
        self._life.workers.discard(worker)
        self._bar.close()
        if not self._life.alive:
            self._worker = None
            show_info("napari-cuts: segmentation stopped because its viewer was closed.")
            return
        result = outcome.get("result")
        if isinstance(result, SegmentResult) and layer not in self.viewer.layers:
            show_warning(f"'{layer.name}' was removed while it was being segmented; "
                         "the result was discarded.")
            result = None
        elif isinstance(result, SegmentResult):
            if result.vectors is not None and self._store is not None:  # filled by the engine
                self._store.adopt(result.vectors)
            self._publish(layer, result, index)  # stays busy until every layer is in
            return
        self._worker = None
        self._set_running(False)
        self.status.setText("")
        if "error" in outcome:
            self.status.setText("segmentation failed (see the error notification)")
        elif isinstance(result, Refused):
            show_warning(f"Cannot segment: {result.message}.")
        elif "result" not in outcome:
            self.status.setText("cancelled")
            show_info("Segmentation cancelled; the layers are unchanged.")

    def _publish(self, image, result: SegmentResult, index: tuple[int, ...]) -> None:
        """Replace the image's previous result by the new levels layer, in one turn of the
        event loop (one redraw), selected and at its default level.

        The layer goes in without changing the selection first (add_keeping_selection):
        napari would switch the layer controls twice otherwise.
        """
        self.cancel_button.setEnabled(False)
        seg = result.segmentation
        key = result_key(image)

        def publish() -> None:
            self._worker = None
            if not self._life.alive:
                return
            layer = replace_result_layer(self.viewer, result_layers(self.viewer.layers, key),
                                         make_result_layer(image, seg, result.levels, index))
            self._group = key
            self._set_running(False)
            self._refresh_results(seg.default_level)
            self.show_level(seg.default_level, select=True)
            self.status.setText(
                f"{seg.n_levels} levels ({min(seg.n_regions)}–{max(seg.n_regions)} regions); "
                f"the default, level {seg.default_level}, is shown")
            show_info(f"Segmented '{image.name}': {seg.n_levels} levels in '{layer.name}'.")

        self.status.setText(f"adding {seg.n_levels} levels…")
        self.adding_layers.emit(seg.n_levels)
        QTimer.singleShot(1, publish)  # after the status line is drawn

    def _refresh_results(self, position: int | None = None) -> None:
        if not self._life.alive:
            return
        layer = self.result_layer()
        self.level_slider.blockSignals(True)
        if layer is not None:
            meta = layer.metadata[META_KEY]
            self.level_slider.setRange(0, len(layer.data) - 1)
            self.level_slider.set_marks([i for i, row in enumerate(meta["levels"]) if row["salient"]],
                                        meta["default"])
        else:
            self.level_slider.setRange(0, 0)
            self.level_slider.set_marks([], None)
        self.level_slider.blockSignals(False)
        for widget in (self.level_slider, self.export_level_button, self.export_all_button):
            widget.setEnabled(layer is not None)
        if layer is None:
            self.level_label.setText("no result yet")
        elif position is not None:
            self.show_level(position)
        else:
            self._sync_slider(layer)

    def _sync_slider(self, layer) -> None:
        """Slider and line follow the level the viewer shows of `layer`."""
        position = level_position(self.viewer, layer)
        if self.level_slider.value() != position:
            self.level_slider.blockSignals(True)
            self.level_slider.setValue(position)
            self.level_slider.blockSignals(False)
        self.level_label.setText(level_line(layer.metadata[META_KEY], position))

    def _on_dims_step(self, *_args) -> None:
        """napari's dims slider moved (or anything set the viewer's point)."""
        layer = self.result_layer() if self._life.alive else None
        if layer is not None and layer in self.viewer.layers:
            self._sync_slider(layer)

    def _on_level_shown(self, level) -> None:
        """A levels layer was made visible by its eye button: the slider browses it."""
        if not self._life.alive:
            return
        group = level.metadata[META_KEY].get("group")
        if group != self._group and any(result_key(im) == group for im in self.viewer.layers):
            self._group = group
            self._refresh_results()

    def _on_image_changed(self, *_args) -> None:
        layer = self.image.value
        self.extent.enabled = layer is not None and layer.ndim == 3
        if layer is not None and layer is not self._spacing_of:  # a newly chosen layer
            self._spacing_of = layer
            if layer.ndim == 3:  # a time-lapse's frames stay frames unless asked
                self.extent.value = EACH_FRAME if is_time_lapse(layer) else WHOLE_STACK
            if layer.ndim == 3 and not getattr(layer, "rgb", False):  # a stack: its own, or auto
                self.form.set_values(z_spacing=z_spacing_of(layer))
        layers = result_layers(self.viewer.layers, result_key(layer)) if layer is not None else []
        if layers and self._group != result_key(layer):
            self._group = result_key(layer)
            self._refresh_results()

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _show_encoder(self, *_args) -> None:
        if self._life.alive:
            self.encoder_label.setText(self.state.describe())


def _disconnect(emitter, callback) -> None:
    try:
        emitter.disconnect(callback)
    except (TypeError, ValueError, RuntimeError):
        pass
