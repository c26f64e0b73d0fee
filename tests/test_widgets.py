"""napari-cuts dock widgets in a real napari viewer (Xvfb), with real worker threads."""

from __future__ import annotations

import time

import numpy as np
import pytest
import tifffile
from napari.layers import Image, Labels
from qtpy.QtCore import QElapsedTimer, QTimer

from napari_cuts._widgets import _workers
from napari_cuts.samples import retina_sample, texture_mosaic
from napari_cuts.training import EncoderTrainer, TrainingConfig

PLUGIN = "napari-cuts"
WAIT_MS = 120_000
TINY = TrainingConfig(epochs=2, steps_per_epoch=3, batch_size=4)


@pytest.fixture(scope="module")
def rgb_encoder():
    """A quickly trained encoder for RGB images (shared by tests that only segment)."""
    trainer = EncoderTrainer([retina_sample(64)], TINY, names=["retina"])
    for _ in trainer.run():
        pass
    return trainer.result()


@pytest.fixture(scope="module")
def gray_encoder():
    trainer = EncoderTrainer([texture_mosaic(64)[0]], TINY, names=["mosaic"])
    for _ in trainer.run():
        pass
    return trainer.result()


@pytest.fixture
def slow_engine(monkeypatch):
    """Segmentation that pauses after each progress report, so a test can act mid-run."""
    real = _workers.segment_iter

    def slow(*args, **kwargs):
        gen = real(*args, **kwargs)
        while True:
            try:
                item = next(gen)
            except StopIteration as stop:
                return stop.value
            time.sleep(0.3)
            yield item

    monkeypatch.setattr(_workers, "segment_iter", slow)


def docks(viewer):
    """Both widgets, found through the npe2 manifest."""
    _, encoder_widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Train encoder")
    _, segment_widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    return encoder_widget, segment_widget


def set_tiny(widget) -> None:
    widget.epochs.value = TINY.epochs
    widget.steps_per_epoch.value = TINY.steps_per_epoch
    widget.batch_size.value = TINY.batch_size


def wait_idle(qtbot, widget) -> None:
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)


def level_layers(viewer) -> list[Labels]:
    return [lay for lay in viewer.layers if "napari_cuts" in lay.metadata]


# ---- manifest ---------------------------------------------------------------------
def test_manifest_samples_and_writer(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    encoder_widget, segment_widget = docks(viewer)
    assert encoder_widget.train_button.text() == "Train"
    assert segment_widget.run_button.text() == "Segment"

    viewer.open_sample(PLUGIN, "retina")
    retina = viewer.layers["retina"]
    assert isinstance(retina, Image) and retina.rgb and retina.data.ndim == 3
    viewer.open_sample(PLUGIN, "mosaic")
    truth = viewer.layers["texture mosaic truth"]
    assert isinstance(truth, Labels)
    assert set(np.unique(truth.data)) == {1, 2, 3}
    assert viewer.layers["texture mosaic"].data.shape == truth.data.shape
    # both widgets list the image layers, not the labels layer
    assert {c.name for c in segment_widget.image.choices} == {"retina", "texture mosaic"}
    assert {c.name for c in encoder_widget.image.choices} == {"retina", "texture mosaic"}

    viewer.layers.selection = {truth}
    path = tmp_path / "truth.tif"
    written = viewer.layers.save(str(path), selected=True, plugin=PLUGIN)
    assert written == [str(path)]
    np.testing.assert_array_equal(tifffile.imread(path), truth.data)
