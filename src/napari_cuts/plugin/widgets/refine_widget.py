"""Dock widget: scribble a few strokes per class; every pixel is labelled from CUTS vectors."""

from __future__ import annotations

import dataclasses

import numpy as np
from magicgui.widgets import CheckBox
from napari.layers import Image, Labels
from napari.utils.notifications import show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QLabel, QPushButton, QWidget

from napari_cuts.annotation.refine import ScribbleRefiner, session_features_iter, snap_to_levels
from napari_cuts.config import RefineConfig
from napari_cuts.engine.pipeline import Progress
from napari_cuts.engine.session import ImageSession, VectorStore
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.images import volume_shape
from napari_cuts.plugin.widgets._annotation_common import (
    choose,
    follow_level_on_screen,
    is_level_layer,
    kind_of,
    labels_combo,
    made_layer_kwargs,
    put_labels,
    refused,
    run_job,
    source_image,
    spatial_shape,
)
from napari_cuts.plugin.widgets._common import ProgressBar, WidgetLife, column, image_layer_combo
from napari_cuts.plugin.widgets._form import ConfigForm
from napari_cuts.plugin.widgets._layers import (
    add_keeping_selection,
    check_image_layer,
    defer_paint_tools,
    n_channels,
    result_key,
    result_layers,
    salient_levels,
)
from napari_cuts.plugin.widgets._state import encoder_state
from napari_cuts.plugin.widgets._workers import Refused, warm_up

DEBOUNCE_MS = 500


def _features(encoder, data, levels, config: RefineConfig, is_stack: bool, rgb: bool,
              store: VectorStore):
    """Worker body: the refiner of one image, through the image's session.

    The vectors in `store` (from Segment or an earlier run) are used, else computed once
    into it for the next tools.
    """
    session = ImageSession.from_image(encoder, data, is_stack=is_stack, channel_axis=rgb, store=store)
    features = yield from session_features_iter(session, levels, config)
    return ScribbleRefiner(features, config)


def _predict_snapped(refiner: ScribbleRefiner, strokes: np.ndarray, levels: list):
    """Worker body: classify every pixel, then snap the strokes to CUTS regions."""
    _, proba = yield from refiner.predict_iter(strokes, return_probabilities=True)
    labels, _ = snap_to_levels(proba, levels, strokes, refiner.classes_)
    return labels


class RefineWidget(QWidget):
    """Label every pixel of an image from scribbles, re-run shortly after every stroke.

    Features (CUTS vectors of the active encoder) are computed once per image and
    encoder in a worker; each run then only fits a small classifier, also in a worker.
    """

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.state = encoder_state(napari_viewer)
        self._life = WidgetLife(self)
        warm_up()
        self._cache: tuple | None = None  # (key, encoder, refiner, data) of the last image
        self._features_worker = None  # computing features
        self._waiting = False  # for the vectors a running segmentation is computing
        self._worker = None  # fitting and predicting
        self._pending: bool | None = None  # a run is wanted; True: asked by the user
        self._watched: Labels | None = None
        self._bar = ProgressBar()

        self.image = image_layer_combo(napari_viewer, "Image whose pixels are labelled")
        self.scribbles = labels_combo(
            napari_viewer, "scribbles", "Labels layer with your strokes: 1, 2, ... one value per "
            "class, 0 = not scribbled",
            keep=lambda lay: not is_level_layer(lay) and kind_of(lay) != "refined",
            nullable=True, first=lambda lay: kind_of(lay) == "scribbles")
        self.use_levels = CheckBox(value=False, text="add the image's CUTS levels as features",
                                   tooltip="Regions of the segmentation's level layers become features")
        self.snap = CheckBox(
            value=False, text="snap to CUTS regions (class 1 = background)",
            tooltip="Strokes pick whole regions of the image's CUTS levels, at the level the "
                    "classifier agrees with best; regions without strokes get class 1")
        self.auto = CheckBox(value=True, text="auto: refine after every stroke")
        self.form = ConfigForm(RefineConfig, extra=(self.image, self.scribbles, self.use_levels,
                                                    self.snap, self.auto))
        self.new_button = QPushButton("New scribble layer")
        self.new_button.setToolTip("Add an empty '<image> scribbles' layer and start painting")
        self.run_button = QPushButton("Refine now")
        self.run_button.setToolTip("Fit to the strokes and label every pixel")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.encoder_label = QLabel()
        self.encoder_label.setWordWrap(True)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)

        column(self, self.form, [self.new_button, self.run_button], self.status,
               "<b>Active encoder</b>", self.encoder_label)

        self.new_button.clicked.connect(self.new_scribbles)
        self.run_button.clicked.connect(lambda: self.refine(asked=True))
        self.timer.timeout.connect(lambda: self.refine(asked=False))
        self.scribbles.changed.connect(self._watch)
        self.state.changed.connect(self._show_encoder)
        self._show_encoder()
        for event in ("inserted", "removed", "reordered"):
            getattr(napari_viewer.layers.events, event).connect(self.reset_choices)
        follow_level_on_screen(napari_viewer, self, self._on_level_shown)
        self._watch()

    # ---- public API --------------------------------------------------------------
    @property
    def is_busy(self) -> bool:
        return bool(self._worker or self._features_worker or self._waiting
                    or self.timer.isActive() or self._pending is not None)

    def reset_choices(self, *_args) -> None:
        if self._life.alive:
            self.image.reset_choices()
            self.scribbles.reset_choices()

    def new_scribbles(self) -> Labels | None:
        """Add an empty scribble layer for the chosen image, ready to paint class 1."""
        image = self.image.value
        if image is None:
            show_warning("Cannot make a scribble layer: there is no image layer.")
            return None
        layer = Labels(np.zeros(spatial_shape(image), np.uint8),
                       **made_layer_kwargs("scribbles", image, f"{image.name} scribbles"))
        layer.brush_size = max(2, min(spatial_shape(image)[-2:]) // 40)
        layer.selected_label = 1
        # Each step costs napari 30-60 ms of main-thread work, so each gets its own turn
        # of the event loop: the layer goes in; it becomes the active layer; it goes into
        # paint mode (napari makes its painting tools then, see defer_paint_tools).
        add_keeping_selection(self.viewer, defer_paint_tools(layer))
        self.scribbles.value = layer
        steps = [lambda: setattr(self.viewer.layers.selection, "active", layer),
                 lambda: str(layer.mode) == "pan_zoom" and setattr(layer, "mode", "paint")]

        def run_next() -> None:
            if steps and self._life.alive and layer in self.viewer.layers:
                steps.pop(0)()
                QTimer.singleShot(1, run_next)

        QTimer.singleShot(1, run_next)
        self.status.setText("Paint class 1 on one thing and class 2 on another.")
        return layer

    def refine(self, asked: bool = True) -> None:
        """Label every pixel from the scribbles (in workers); `asked`: by the user."""
        self.timer.stop()
        try:
            image, scribbles, encoder = self._inputs()
        except CutsInputError as exc:
            self._pending = None
            self._refuse(str(exc), asked)
            return
        self._pending = asked or bool(self._pending)
        if self._worker is not None:
            self._worker.quit()  # its finish starts the next run
            return
        if self._features_worker is not None or self._waiting:
            return  # the run starts when the features (or Segment's vectors) are ready
        try:
            config = self.form.config()
        except CutsInputError as exc:
            self._pending = None
            self._refuse(str(exc), asked)
            return
        levels, key = self._levels(image)
        key = (result_key(image), id(encoder), dataclasses.astuple(config)) + key
        if self._cache is not None and self._cache[0] == key and self._cache[3] is image.data:
            self._start_prediction(image, scribbles, self._cache[2])
        else:
            self._start_features(image, encoder, levels, key, config)

    # ---- internals --------------------------------------------------------------------
    def _on_level_shown(self, level: Labels) -> None:
        """Refine the image whose level is on screen (unless the strokes belong to another)."""
        image = source_image(self.viewer, level)
        strokes = self.scribbles.value
        if self._life.alive and image is not None and (
                strokes is None or source_image(self.viewer, strokes) in (None, image)):
            choose(self.image, image)

    def _inputs(self) -> tuple[Image, Labels, object]:
        image = check_image_layer(self.image.value)
        scribbles = self.scribbles.value
        if not isinstance(scribbles, Labels):
            raise CutsInputError("choose a scribble (labels) layer or press 'New scribble layer'")
        if tuple(scribbles.data.shape) != spatial_shape(image):
            raise CutsInputError(f"the scribbles ({scribbles.data.shape}) and the image "
                                 f"({spatial_shape(image)}) differ in size")
        encoder = self.state.encoder
        if encoder is None:
            raise CutsInputError("there is no encoder yet; train one with 'Train encoder' "
                                 "or load a file")
        encoder.check_channels(n_channels(image))
        return image, scribbles, encoder

    def _levels(self, image: Image) -> tuple[list | None, tuple]:
        if not self.use_levels.value:
            return None, ()
        shape = spatial_shape(image)
        layers = result_layers(self.viewer.layers, result_key(image))
        levels = [lev for lay in layers[-1:] for lev in salient_levels(lay, shape)]
        return levels or None, tuple(id(lay) for lay in layers[-1:] if levels)

    def _refuse(self, message: str, asked: bool) -> None:
        self.status.setText(f"waiting: {message}")
        if asked:
            show_warning(f"Cannot refine: {message}.")

    def _start_features(self, image: Image, encoder, levels, key, config: RefineConfig) -> None:
        data = image.data
        shape = volume_shape(np.shape(data), channel_axis=bool(image.rgb), is_stack=image.ndim == 3)
        cache, fill_key = self.state.embeddings, (result_key(image), ())
        store = cache.claim(fill_key, encoder, data, shape, self._vectors_ready)
        if store is None:  # Segment is embedding this image: use its vectors
            self._waiting = True
            self.status.setText(f"waiting for the pixel vectors Segment is computing for {image.name}…")
            return
        filling = not store.filled  # Segment waits for these vectors meanwhile
        self.status.setText(f"computing the features of {image.name} (once)…")
        self._bar.start(total=0, desc=f"napari-cuts: features of {image.name}")
        self._features_worker = run_job(
            self._life, _features, encoder, data, levels, config,
            image.ndim == 3, bool(image.rgb), store,
            on_progress=self._on_progress,
            on_done=lambda outcome: self._features_done(outcome, key, encoder, data))
        if filling:  # after on_done, also once this widget is gone: no one waits
            self._features_worker.finished.connect(lambda: cache.end_filling(fill_key))

    def _vectors_ready(self) -> None:
        """Segment's run ended: refine with its vectors (or compute them, if it stopped)."""
        self._waiting = False
        if self._life.alive and self._pending is not None:
            self.refine(asked=bool(self._pending))

    def _features_done(self, outcome: dict, key, encoder, data) -> None:
        self._features_worker = None
        self._close_pbar()
        result = outcome.get("result")
        if isinstance(result, ScribbleRefiner):
            self._cache = (key, encoder, result, data)
            self.refine(asked=bool(self._pending))
            return
        asked, self._pending = bool(self._pending), None
        if refused(outcome, "refine") or "error" in outcome:
            self.status.setText("could not compute the features")
        elif asked:
            show_info("Refinement stopped.")

    def _start_prediction(self, image: Image, scribbles: Labels, refiner: ScribbleRefiner) -> None:
        strokes = np.array(scribbles.data, copy=True)
        asked, self._pending = bool(self._pending), None
        job, args = refiner.predict_iter, (strokes,)
        if self.snap.value:
            shape = spatial_shape(image)
            levels = [lev for lay in result_layers(self.viewer.layers, result_key(image))[-1:]
                      for lev in salient_levels(lay, shape)]
            if not levels:
                self._refuse(f"there are no CUTS levels of {image.name} to snap to; segment it "
                             "first or untick 'snap'", asked)
                return
            job, args = _predict_snapped, (refiner, strokes, levels)
        self.status.setText("fitting to the strokes…")
        self._worker = run_job(
            self._life, job, *args, on_progress=self._on_progress,
            on_done=lambda outcome: self._prediction_done(outcome, image, scribbles, asked))

    def _prediction_done(self, outcome: dict, image: Image, scribbles: Labels, asked: bool) -> None:
        self._worker = None
        if self._pending is not None:  # strokes changed meanwhile: run again
            self.refine(asked=bool(self._pending))
            return
        result = outcome.get("result")
        if isinstance(result, np.ndarray):
            if image not in self.viewer.layers:
                self.status.setText("the image was removed; result discarded")
                return
            layer = put_labels(self.viewer, result, "refined", image, f"{image.name} refined",
                               below=scribbles, opacity=0.5)
            self._keep_below(layer, scribbles)
            classes = ", ".join(str(c) for c in np.unique(result))
            self.status.setText(f"refined: every pixel labelled (classes {classes}) in '{layer.name}'")
        elif isinstance(result, Refused):
            self._refuse(result.message, asked)
        elif "error" in outcome:
            self.status.setText("refinement failed (see the error notification)")

    def _keep_below(self, layer: Labels, scribbles: Labels) -> None:
        """Keep the strokes on top of the result, so painting stays visible."""
        layers = self.viewer.layers
        if scribbles in layers and layers.index(layer) > layers.index(scribbles):
            layers.move(layers.index(layer), layers.index(scribbles))

    def _on_progress(self, p: Progress) -> None:
        self.status.setText(f"{p.stage}: {p.message} ({p.done}/{p.total})")
        self._bar.show(f"napari-cuts: {p.stage}", p.done, p.total)

    def _close_pbar(self) -> None:
        self._bar.close()

    def _watch(self, *_args) -> None:
        """Follow the strokes of the chosen scribble layer."""
        if self._watched is not None:
            self._watched.events.paint.disconnect(self._on_strokes)
            self._watched.events.data.disconnect(self._on_strokes)
        layer = self.scribbles.value
        self._watched = layer if isinstance(layer, Labels) else None
        if self._watched is not None:
            self._watched.events.paint.connect(self._on_strokes)
            self._watched.events.data.connect(self._on_strokes)
            image = source_image(self.viewer, layer)
            if image is not None:
                self.image.value = image

    def _on_strokes(self, *_args) -> None:
        if self._life.alive and self.auto.value:
            self.timer.start()

    def _show_encoder(self, *_args) -> None:
        if self._life.alive:
            self.encoder_label.setText(self.state.describe())
