"""Dock widget: train, stop, save and load the CUTS encoder."""

from __future__ import annotations

from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import QLabel, QPushButton, QWidget

from napari_cuts.config import TrainingConfig
from napari_cuts.engine.encoder import Encoder, load_encoder, save_encoder
from napari_cuts.engine.training import TrainingProgress
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.plugin.widgets._common import (
    Every,
    ProgressBar,
    WidgetLife,
    ask_open_path,
    ask_save_path,
    column,
    file_name,
    image_layer_combo,
)
from napari_cuts.plugin.widgets._form import ConfigForm
from napari_cuts.plugin.widgets._layers import check_image_layer, whole_layer
from napari_cuts.plugin.widgets._loss_plot import LossPlot
from napari_cuts.plugin.widgets._state import encoder_state
from napari_cuts.plugin.widgets._workers import Refused, start_worker, training_worker, warm_up

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
        self._bar = ProgressBar()
        self._every = Every()  # progress shown a few times a second

        self.image = image_layer_combo(
            napari_viewer, "Image layer to train on: 2D, RGB, or a 3D stack (all slices)"
        )
        self.form = ConfigForm(TrainingConfig, extra=(self.image,))

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
        return self.form.config()

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
        self._bar.start(total=total, desc=f"napari-cuts: training on {layer.name}")
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
        return ask_save_path(self, "Save encoder", ENCODER_FILTER, self.suggested_name())

    def suggested_name(self) -> str:
        """File name the save dialog offers: the training image's, e.g. 'retina encoder.pt'."""
        encoder = self.state.encoder
        trained_on = encoder.info.get("trained_on", "") if encoder is not None else ""
        return file_name(str(trained_on), "encoder", suffix=".pt")

    def ask_open_path(self) -> str:
        return ask_open_path(self, "Load encoder", ENCODER_FILTER)

    # ---- worker handlers --------------------------------------------------------
    def _on_progress(self, p: TrainingProgress) -> None:
        if not self._life.alive:
            return
        self.loss_plot.add(p.loss, p.epoch_loss, draw=False)
        if not self._every(force=p.epoch_loss is not None or p.step >= p.total_steps):
            return  # a few times a second (and at each epoch's end) is enough to follow
        self.loss_plot.update()
        best = f", best loss {p.best_loss:.4g}" if p.best_loss is not None else ""
        self.status.setText(
            f"epoch {p.epoch}/{p.epochs}, step {p.step}/{p.total_steps}: loss {p.loss:.4g}{best}"
        )
        self._bar.show(f"napari-cuts: training, epoch {p.epoch}/{p.epochs}", p.step, p.total_steps)

    def _on_finished(self, worker, job, outcome: dict) -> None:
        self._life.workers.discard(worker)
        self._worker = None
        self._bar.close()
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
            self.status.setText(f"done; best loss {result.info.get('best_loss') or 0:.4g} "
                                "(lowest mean loss of an epoch)")
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
