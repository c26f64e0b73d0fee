"""Dock widget: train, stop, save and load the CUTS encoder."""

from __future__ import annotations

from magicgui.widgets import Container, FloatSpinBox, SpinBox
from napari.utils import progress
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import QLabel, QPushButton, QWidget

from ..encoder import Encoder, load_encoder, save_encoder
from ..io import CutsInputError
from ..training import TrainingConfig, TrainingProgress
from ._common import WidgetLife, column, ask_open_path, ask_save_path, image_layer_combo
from ._layers import check_image_layer, whole_layer
from ._loss_plot import LossPlot
from ._state import encoder_state
from ._workers import Refused, start_worker, training_worker, warm_up

ENCODER_FILTER = "napari-cuts encoder (*.pt);;All files (*)"


class EncoderWidget(QWidget):
    """Train an encoder on an image layer (in a worker thread), or load/save one."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.state = encoder_state(napari_viewer)
        self._life = WidgetLife(self)
        warm_up()
        self._worker = None
        self._pbar = None

        defaults = TrainingConfig()
        self.image = image_layer_combo(
            napari_viewer, "Image layer to train on: 2D, RGB, or a 3D stack (all slices)"
        )
        self.epochs = SpinBox(value=defaults.epochs, min=1, max=10_000, label="epochs",
                              tooltip="Passes over the training data; the best epoch is kept")
        self.steps_per_epoch = SpinBox(value=defaults.steps_per_epoch, min=1, max=100_000,
                                       label="steps per epoch",
                                       tooltip="Optimiser steps (batches of sampled pixels) per epoch")
        self.batch_size = SpinBox(value=defaults.batch_size, min=1, max=1024, label="batch size",
                                  tooltip="Images (or slices) sampled per step; smaller is faster")
        self.patch_size = SpinBox(value=defaults.patch_size, min=1, max=15, step=2,
                                  label="patch size",
                                  tooltip="Side of the pixel patch each vector must reconstruct (odd)")
        self.contrastive_weight = FloatSpinBox(
            value=defaults.contrastive_weight, min=0.0, max=1.0, step=0.001, label="lambda",
            tooltip="Weight of the contrastive loss against patch reconstruction (0..1)",
        )
        self.contrastive_weight.native.setDecimals(4)
        self.base_channels = SpinBox(value=defaults.base_channels, min=1, max=256,
                                     label="kernels k",
                                     tooltip="Filters in the first conv layer (k, 2k, 4k, 8k); "
                                             "the pixel vectors have 8k entries")
        self.seed = SpinBox(value=defaults.seed, min=0, max=2**31 - 1, label="seed",
                            tooltip="Random seed: the same seed and settings give the same encoder")
        self.form = Container(widgets=[
            self.image, self.epochs, self.steps_per_epoch, self.batch_size, self.patch_size,
            self.contrastive_weight, self.base_channels, self.seed,
        ])

        self.train_button = QPushButton("Train")
        self.train_button.setToolTip("Train a new encoder on the chosen image")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current step and keep the best weights so far")
        self.stop_button.setEnabled(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.loss_plot = LossPlot()
        self.encoder_label = QLabel()
        self.encoder_label.setWordWrap(True)
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save the active encoder to a file")
        self.load_button = QPushButton("Load…")
        self.load_button.setToolTip("Load an encoder file and make it active")

        column(self, self.form, [self.train_button, self.stop_button], self.status, self.loss_plot,
               "<b>Active encoder</b>", self.encoder_label, [self.save_button, self.load_button])

        self.train_button.clicked.connect(self.start_training)
        self.stop_button.clicked.connect(self.stop_training)
        self.save_button.clicked.connect(self.save)
        self.load_button.clicked.connect(self.load)
        self.state.changed.connect(self._show_encoder)
        self._show_encoder()

    # ---- public API (buttons call these) --------------------------------------
    @property
    def is_busy(self) -> bool:
        return self._worker is not None

    def reset_choices(self, *_args) -> None:
        """Refresh the layer list (napari calls this when layers change in a docked widget)."""
        self.image.reset_choices()

    def training_config(self) -> TrainingConfig:
        """The parameters in the form (raises CutsInputError when they make no sense)."""
        return TrainingConfig(
            epochs=self.epochs.value, steps_per_epoch=self.steps_per_epoch.value,
            batch_size=self.batch_size.value, patch_size=self.patch_size.value,
            contrastive_weight=float(self.contrastive_weight.value),
            base_channels=self.base_channels.value, seed=self.seed.value,
        )

    def start_training(self) -> None:
        """Train a new encoder on the chosen image layer in a worker thread."""
        if self._worker is not None:
            show_warning("Training is already running; press Stop to end it first.")
            return
        try:
            layer = check_image_layer(self.image.value, self.viewer.layers.selection.active)
            config = self.training_config()
        except CutsInputError as exc:
            show_warning(f"Cannot train: {exc}.")
            return
        worker, job = training_worker([whole_layer(layer)], config)
        outcome: dict = {}
        total = config.epochs * config.steps_per_epoch
        self.loss_plot.reset(total)
        self._pbar = progress(total=total, desc=f"napari-cuts: training on {layer.name}")
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(lambda result: outcome.setdefault("result", result))
        worker.errored.connect(lambda exc: outcome.setdefault("error", exc))
        worker.finished.connect(lambda: self._on_finished(worker, job, outcome))
        self._worker = worker
        self._life.workers.add(worker)
        self._set_running(True)
        self.status.setText(f"training on {layer.name}…")
        start_worker(worker)

    def stop_training(self) -> None:
        """Stop after the current step; the best weights so far become the active encoder."""
        if self._worker is None:
            show_info("Nothing to stop: no training is running.")
            return
        self.status.setText("stopping after the current step…")
        self._worker.quit()

    def save(self) -> None:
        """Save the active encoder through a file dialog."""
        encoder = self.state.encoder
        if encoder is None:
            show_warning("There is no encoder to save yet: train or load one first.")
            return
        path = self.ask_save_path()
        if not path:
            return
        if not path.lower().endswith(".pt"):
            path += ".pt"
        try:
            save_encoder(encoder, path)
        except OSError as exc:
            show_error(f"Could not save the encoder to {path}: {exc.strerror or exc}")
            return
        show_info(f"Encoder saved to {path}")

    def load(self) -> None:
        """Load an encoder file through a file dialog and make it active."""
        path = self.ask_open_path()
        if not path:
            return
        try:
            encoder = load_encoder(path)
        except (CutsInputError, OSError) as exc:  # one line, never a traceback of the weights
            show_warning(f"Could not load the encoder: {exc}")
            return
        self.state.encoder = encoder
        show_info(f"Encoder loaded: {encoder.describe()}")

    # ---- dialogs (tests replace these) ----------------------------------------
    def ask_save_path(self) -> str:
        return ask_save_path(self, "Save encoder", ENCODER_FILTER)

    def ask_open_path(self) -> str:
        return ask_open_path(self, "Load encoder", ENCODER_FILTER)

    # ---- worker handlers --------------------------------------------------------
    def _on_progress(self, p: TrainingProgress) -> None:
        if not self._life.alive:
            return
        best = f", best epoch {p.best_loss:.4g}" if p.best_loss is not None else ""
        self.status.setText(
            f"epoch {p.epoch}/{p.epochs}, step {p.step}/{p.total_steps}: loss {p.loss:.4g}{best}"
        )
        self.loss_plot.add(p.loss, p.epoch_loss)
        pbar = self._pbar  # napari may process events while updating the bar
        if pbar is not None:
            pbar.set_description(f"napari-cuts: training, epoch {p.epoch}/{p.epochs}")
            pbar.update(1)

    def _on_finished(self, worker, job, outcome: dict) -> None:
        self._life.workers.discard(worker)
        self._worker = None
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None
        if not self._life.alive:
            show_info("napari-cuts: training stopped because its viewer was closed.")
            return
        self._set_running(False)
        result = outcome.get("result")
        if "error" in outcome:
            self.status.setText("training failed (see the error notification)")
        elif isinstance(result, Refused):
            self.status.setText("")
            show_warning(f"Cannot train: {result.message}.")
        elif isinstance(result, Encoder):
            self.state.encoder = result
            self.status.setText(f"done; best epoch loss {result.info.get('best_loss') or 0:.4g}")
            show_info(f"Encoder trained: {result.describe()}")
        else:  # stopped
            encoder = job.best_so_far()
            if encoder is None:
                self.status.setText("stopped before the first step; no encoder kept")
                show_info("Training stopped before the first step; the active encoder is unchanged.")
            else:
                self.state.encoder = encoder
                epochs = encoder.info.get("epochs", 0)
                self.status.setText(f"stopped; keeping the best weights ({epochs} full epoch(s))")
                show_info(f"Training stopped; keeping the best weights so far ({epochs} full epoch(s)).")

    def _set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.load_button.setEnabled(not running)

    def _show_encoder(self, *_args) -> None:
        if self._life.alive:
            self.encoder_label.setText(self.state.describe())
            self.save_button.setEnabled(self.state.encoder is not None)
