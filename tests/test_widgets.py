"""napari-cuts dock widgets in a real napari viewer (Xvfb), with real worker threads."""

from __future__ import annotations

import time

import numpy as np
import pytest
import tifffile
from napari.layers import Image, Labels
from qtpy.QtCore import QTimer

from napari_cuts.engine.training import EncoderTrainer, TrainingConfig
from napari_cuts.plugin.widgets import _workers
from napari_cuts.plugin.widgets._layers import PAINT_TOOLS
from napari_cuts.samples import retina_sample, texture_mosaic

PLUGIN = "napari-cuts"
WAIT_MS = 120_000
STAGES = ("embedding", "sampling", "clustering", "condensing")  # segmentation stages
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
    monkeypatch.setattr(_workers, "STEP_PAUSE", 0.3)


def docks(viewer):
    """Both widgets, found through the npe2 manifest."""
    _, encoder_widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Train encoder")
    _, segment_widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    return encoder_widget, segment_widget


def set_tiny(widget) -> None:
    widget.form["epochs"].value = TINY.epochs
    widget.form["steps_per_epoch"].value = TINY.steps_per_epoch
    widget.form["batch_size"].value = TINY.batch_size


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


# ---- the main path ------------------------------------------------------------------
def test_train_segment_browse_export(make_napari_viewer, qtbot, notes, tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    viewer.add_image(retina_sample(80), name="retina", rgb=True)
    encoder_widget, segment_widget = docks(viewer)
    assert "no encoder" in segment_widget.encoder_label.text()

    set_tiny(encoder_widget)
    encoder_widget.train_button.click()
    assert encoder_widget.is_busy and not encoder_widget.train_button.isEnabled()
    wait_idle(qtbot, encoder_widget)
    encoder = encoder_widget.state.encoder
    assert encoder is not None and encoder.info["epochs"] == TINY.epochs
    assert len(encoder_widget.loss_plot.step_losses) == TINY.epochs * TINY.steps_per_epoch
    assert len(encoder_widget.loss_plot.epoch_losses) == TINY.epochs
    assert "epoch 2/2" in encoder_widget.status.text() or "done" in encoder_widget.status.text()
    # the Segment widget sees the same encoder
    assert "trained on retina" in segment_widget.encoder_label.text()
    assert segment_widget.state is encoder_widget.state

    # save and load through (replaced) file dialogs
    saved = tmp_path / "enc"
    monkeypatch.setattr(encoder_widget, "ask_save_path", lambda: str(saved))
    encoder_widget.save_button.click()
    assert (tmp_path / "enc.pt").is_file()
    monkeypatch.setattr(encoder_widget, "ask_open_path", lambda: str(tmp_path / "enc.pt"))
    encoder_widget.load_button.click()
    assert encoder_widget.state.encoder is not encoder
    assert encoder_widget.state.encoder.info["trained_on"] == "retina"

    segment_widget.run_button.click()
    wait_idle(qtbot, segment_widget)
    assert not notes.errors()
    (layer,) = level_layers(viewer)  # one layer: every level, the level axis first
    assert len(viewer.layers) == 2
    meta = layer.metadata["napari_cuts"]
    n = meta["n_levels"]
    assert n >= 2 and layer.data.shape == (n, 80, 80) and layer.name == "retina levels"
    assert len(meta["levels"]) == n and any(row["salient"] for row in meta["levels"])
    made = viewer.window._qt_viewer.canvas._layer_overlay_to_visual
    # made on first paint (test_annotation_widgets), not as the layer goes in
    assert not {layer._overlays[k] for k in PAINT_TOOLS} & set(made.get(layer, {}))
    for i, row in enumerate(meta["levels"]):
        assert row["level"] == i
        assert len(np.unique(layer.data[i])) == row["n_regions"]
    assert [row["n_regions"] for row in meta["levels"]] == sorted(row["n_regions"] for row in meta["levels"])

    # the slider reaches every level, coarsest to finest, and napari's dims slider follows
    assert segment_widget.level_slider.maximum() == n - 1
    for position in range(n):
        segment_widget.level_slider.setValue(position)
        assert viewer.dims.current_step[0] == position == segment_widget.shown_level()
    assert layer.visible

    # export the shown level (the finest), then all levels as one levels file
    monkeypatch.setattr(segment_widget, "ask_save_path", lambda caption: str(tmp_path / "level"))
    segment_widget.export_level_button.click()
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "level.tif"), layer.data[n - 1])
    monkeypatch.setattr(segment_widget, "ask_save_path", lambda caption: str(tmp_path / "all"))
    segment_widget.export_all_button.click()
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "all.cuts"), layer.data)

    # re-running replaces the previous result
    segment_widget.run_button.click()
    wait_idle(qtbot, segment_widget)
    # (in place: napari collects garbage over the whole process for every removed layer)
    (new,) = level_layers(viewer)
    assert len(viewer.layers) == 2 and new.data.shape[1:] == layer.data.shape[1:]
    assert viewer.dims.current_step[0] == new.metadata["napari_cuts"]["default"]
    assert not notes.errors()


# ---- stopping and cancelling ----------------------------------------------------------
def test_stop_keeps_best_weights(make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer()
    viewer.add_image(retina_sample(64), name="retina", rgb=True)
    encoder_widget, segment_widget = docks(viewer)
    set_tiny(encoder_widget)
    encoder_widget.form["epochs"].value = 200
    encoder_widget.form["steps_per_epoch"].value = 2
    encoder_widget.train_button.click()
    qtbot.waitUntil(lambda: len(encoder_widget.loss_plot.epoch_losses) >= 1, timeout=WAIT_MS)
    encoder_widget.stop_button.click()
    wait_idle(qtbot, encoder_widget)
    encoder = encoder_widget.state.encoder
    assert encoder is not None
    assert 1 <= encoder.info["epochs"] < 200
    best = min(loss for _, loss in encoder_widget.loss_plot.epoch_losses[: encoder.info["epochs"]])
    assert encoder.info["best_loss"] == pytest.approx(best)
    assert any("stopped" in m for m in notes.messages("info"))
    assert "trained on retina" in segment_widget.encoder_label.text()
    assert encoder_widget.train_button.isEnabled() and not encoder_widget.stop_button.isEnabled()
    assert not notes.errors()


def test_cancel_segmentation_leaves_layers(make_napari_viewer, qtbot, notes, rgb_encoder, slow_engine):
    viewer = make_napari_viewer()
    viewer.add_image(retina_sample(64), name="retina", rgb=True)
    _, segment_widget = docks(viewer)
    segment_widget.state.encoder = rgb_encoder
    before = list(viewer.layers)
    segment_widget.run_button.click()
    qtbot.waitUntil(lambda: segment_widget.status.text().startswith(STAGES), timeout=WAIT_MS)
    segment_widget.cancel_button.click()
    wait_idle(qtbot, segment_widget)
    assert list(viewer.layers) == before
    assert any("cancelled" in m for m in notes.messages("info"))
    assert segment_widget.run_button.isEnabled() and not segment_widget.cancel_button.isEnabled()
    assert not notes.errors()


# ---- user mistakes ----------------------------------------------------------------------
def test_no_image_layer(make_napari_viewer, notes):
    viewer = make_napari_viewer()
    encoder_widget, segment_widget = docks(viewer)
    encoder_widget.train_button.click()
    segment_widget.run_button.click()
    warnings = notes.messages("warning")
    assert len(warnings) == 2 and all("no image layer" in m for m in warnings)
    assert not encoder_widget.is_busy and not segment_widget.is_busy
    assert len(viewer.layers) == 0


def test_labels_layer_chosen(make_napari_viewer, notes, rgb_encoder):
    viewer = make_napari_viewer()
    labels = viewer.add_labels(texture_mosaic(32)[1], name="truth")
    viewer.layers.selection.active = labels
    encoder_widget, segment_widget = docks(viewer)
    segment_widget.state.encoder = rgb_encoder
    encoder_widget.train_button.click()
    segment_widget.run_button.click()
    warnings = notes.messages("warning")
    assert len(warnings) == 2 and all("'truth' is a labels layer" in m for m in warnings)
    assert list(viewer.layers) == [labels]


def test_channel_mismatch(make_napari_viewer, notes, rgb_encoder):
    viewer = make_napari_viewer()
    viewer.add_image(texture_mosaic(48)[0], name="mosaic")
    _, segment_widget = docks(viewer)
    segment_widget.state.encoder = rgb_encoder
    segment_widget.run_button.click()
    (warning,) = notes.messages("warning")
    assert "3 channel(s)" in warning and "has 1" in warning
    assert not segment_widget.is_busy
    assert len(viewer.layers) == 1


def test_no_encoder(make_napari_viewer, notes):
    viewer = make_napari_viewer()
    viewer.add_image(texture_mosaic(48)[0], name="mosaic")
    _, segment_widget = docks(viewer)
    segment_widget.run_button.click()
    (warning,) = notes.messages("warning")
    assert "no encoder" in warning
    assert len(viewer.layers) == 1


def test_engine_refusal_in_worker_is_a_plain_warning(make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((1, 40), np.uint8), name="line")  # too small for the engine
    encoder_widget, _ = docks(viewer)
    set_tiny(encoder_widget)
    encoder_widget.train_button.click()
    wait_idle(qtbot, encoder_widget)
    (warning,) = notes.messages("warning")
    assert "too small" in warning
    assert not notes.errors()  # no traceback for a user mistake
    assert encoder_widget.state.encoder is None
    assert len(viewer.layers) == 1


def test_bad_encoder_file(make_napari_viewer, notes, tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    encoder_widget, _ = docks(viewer)
    bogus = tmp_path / "bogus.pt"
    bogus.write_text("not an encoder")
    monkeypatch.setattr(encoder_widget, "ask_open_path", lambda: str(bogus))
    encoder_widget.load_button.click()
    (warning,) = notes.messages("warning")
    assert "not a napari-cuts encoder" in warning
    assert encoder_widget.state.encoder is None


def test_second_run_while_running(make_napari_viewer, qtbot, notes, rgb_encoder, slow_engine):
    viewer = make_napari_viewer()
    viewer.add_image(retina_sample(64), name="retina", rgb=True)
    encoder_widget, segment_widget = docks(viewer)
    set_tiny(encoder_widget)
    encoder_widget.form["epochs"].value = 200
    encoder_widget.train_button.click()
    assert not encoder_widget.train_button.isEnabled()
    encoder_widget.start_training()
    segment_widget.state.encoder = rgb_encoder
    segment_widget.run_button.click()
    segment_widget.start_segmentation()
    warnings = notes.messages("warning")
    assert any("Training is already running" in m for m in warnings)
    assert any("segmentation is already running" in m for m in warnings)
    encoder_widget.stop_button.click()
    segment_widget.cancel_button.click()
    wait_idle(qtbot, encoder_widget)
    wait_idle(qtbot, segment_widget)
    assert len(viewer.layers) == 1
    assert not notes.errors()


def test_viewer_closed_during_work(make_napari_viewer, qtbot, notes, rgb_encoder, slow_engine):
    viewer = make_napari_viewer()
    viewer.add_image(retina_sample(64), name="retina", rgb=True)
    encoder_widget, segment_widget = docks(viewer)
    set_tiny(encoder_widget)
    encoder_widget.form["epochs"].value = 200
    segment_widget.state.encoder = rgb_encoder
    encoder_widget.train_button.click()
    segment_widget.run_button.click()
    qtbot.waitUntil(lambda: segment_widget.status.text().startswith(STAGES), timeout=WAIT_MS)
    assert encoder_widget.is_busy
    viewer.close()
    wait_idle(qtbot, encoder_widget)
    wait_idle(qtbot, segment_widget)
    messages = notes.messages("info")
    assert any("training stopped because its viewer was closed" in m for m in messages)
    assert any("segmentation stopped because its viewer was closed" in m for m in messages)
    assert not notes.errors()


# ---- stacks -------------------------------------------------------------------------
def test_stack_current_slice_then_whole_stack(make_napari_viewer, qtbot, notes, gray_encoder,
                                              tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    stack = np.stack([texture_mosaic(48, seed=s)[0] for s in range(3)])
    viewer.add_image(stack, name="stack", scale=(2.0, 1.0, 1.0))
    _, segment_widget = docks(viewer)
    segment_widget.state.encoder = gray_encoder
    assert segment_widget.extent.enabled
    assert segment_widget.form["z_spacing"].value == pytest.approx(2.0)  # from the layer's scale
    viewer.dims.set_current_step(0, 2)

    segment_widget.extent.value = "current slice"
    segment_widget.run_button.click()
    wait_idle(qtbot, segment_widget)
    (sliced,) = level_layers(viewer)
    n = len(sliced.data)
    assert sliced.data.shape == (n, 1, 48, 48) and sliced.metadata["napari_cuts"]["slice"] == [2]
    assert sliced.translate[1] == pytest.approx(4.0)  # slice 2 at z-scale 2
    assert sliced.name == "stack levels"
    monkeypatch.setattr(segment_widget, "ask_save_path", lambda caption: str(tmp_path / "s.tif"))
    segment_widget.export_level_button.click()
    assert tifffile.imread(tmp_path / "s.tif").shape == (48, 48)

    segment_widget.extent.value = "whole stack"
    segment_widget.run_button.click()
    wait_idle(qtbot, segment_widget)
    (whole,) = level_layers(viewer)
    assert whole.data.shape[1:] == (3, 48, 48) and whole.scale[1] == pytest.approx(2.0)
    assert len(level_layers(viewer)) == 1  # replaced, not piled up
    assert viewer.dims.ndim == 4 and viewer.dims.axis_labels[0] == "level"
    assert not notes.errors()


def test_z_spacing_comes_from_the_layer_scale(make_napari_viewer, notes):
    """Choosing a stack shows its voxel depth / width as z spacing (auto where its scale
    is napari's cubic default); a value the user typed stays until another layer is chosen."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((4, 32, 32), np.uint8), name="thick", scale=(3.0, 0.5, 0.5))
    _, segment_widget = docks(viewer)
    segment_widget.image.value = viewer.layers["thick"]
    assert segment_widget.form["z_spacing"].value == pytest.approx(6.0)
    segment_widget.form["z_spacing"].value = 2.5
    viewer.add_image(np.zeros((32, 32), np.uint8), name="flat")  # the layer list changes
    assert segment_widget.image.value is viewer.layers["thick"]
    assert segment_widget.segment_config().z_spacing == pytest.approx(2.5)
    segment_widget.image.value = viewer.layers["flat"]  # 2D: no z, the value stays
    assert segment_widget.form["z_spacing"].value == pytest.approx(2.5)
    viewer.add_image(np.zeros((4, 32, 32), np.uint8), name="cubic")
    segment_widget.image.value = viewer.layers["cubic"]
    assert segment_widget.segment_config().z_spacing is None  # napari's cubic default: auto
    # texture weight: auto, and the number its box offers when auto is unticked is 1.5
    weight = segment_widget.form["texture_weight"]
    assert weight.value is None and segment_widget.segment_config().texture_weight is None
    weight.none_box.value = False
    assert segment_widget.segment_config().texture_weight == pytest.approx(1.5)
    assert not notes.errors()


def test_z_spacing_of_a_file_napari_opened(make_napari_viewer, tmp_path):
    """napari's reader leaves an ImageJ stack's scale cubic; the widget reads the file's
    voxel size (2 um slices of 0.5 um pixels: 4)."""
    path = tmp_path / "thick.tif"
    tifffile.imwrite(path, np.zeros((4, 32, 32), np.uint8), imagej=True, resolution=(2.0, 2.0),
                     metadata={"spacing": 2.0, "unit": "um", "axes": "ZYX"})
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari")
    _, segment_widget = docks(viewer)
    segment_widget.image.value = viewer.layers[0]
    assert segment_widget.form["z_spacing"].value == pytest.approx(4.0)


# ---- responsiveness -----------------------------------------------------------------
class Ticks:
    """A 20 ms QTimer on the main thread: when it fired, and the main thread's CPU time then."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        self.wall.append(time.perf_counter())
        self.cpu.append(time.thread_time())

    def run(self, qtbot, until) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tick until `until()`: the tick times, the gaps between them and the main
        thread's CPU time in each gap, in ms."""
        self.wall.clear()
        self.cpu.clear()
        self.timer.start()
        qtbot.waitUntil(until, timeout=WAIT_MS)
        ticked = len(self.wall)
        qtbot.waitUntil(lambda: len(self.wall) >= ticked + 2, timeout=WAIT_MS)  # the last turn's work
        self.timer.stop()
        wall, cpu = np.array(self.wall) * 1000, np.array(self.cpu) * 1000
        return wall, np.diff(wall), np.diff(cpu)


def test_viewer_never_freezes(make_napari_viewer, qtbot, rgb_encoder):
    """The main thread keeps ticking while an encoder trains and an image is segmented.

    Training and segmentation run at the same time, in engine processes that keep both
    cores busy. A baseline measured in this test, with both cores kept as busy by plain
    spinning processes, says what this machine's load alone does to the timer; the work
    must not add more than a fraction of it. The main thread's own CPU time between two
    ticks, which no load changes, must stay small: the work is not done on it. Adding the
    level layers costs napari 150-450 ms of main-thread work per layer here (the first
    one the most); they go in one per event-loop turn, so that phase's work between two
    ticks is one layer's.
    """
    import subprocess
    import sys

    viewer = make_napari_viewer(show=True)
    viewer.add_image(retina_sample(128), name="retina", rgb=True)
    encoder_widget, segment_widget = docks(viewer)
    set_tiny(encoder_widget)
    encoder_widget.form["steps_per_epoch"].value = 10
    segment_widget.state.encoder = rgb_encoder
    # opening the widgets loads torch's lazily imported parts in the background; let it end
    qtbot.waitUntil(_workers.warm_up_done.is_set, timeout=WAIT_MS)
    qtbot.wait(300)  # the shown viewer's first draws happen before the baseline
    ticks = Ticks()

    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        end = time.perf_counter() + 3.0
        _, base_gaps, base_cpu = ticks.run(qtbot, lambda: time.perf_counter() > end)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()

    computed_at: list[float] = []
    segment_widget.adding_layers.connect(lambda n: computed_at.append(time.perf_counter() * 1000))
    encoder_widget.train_button.click()
    segment_widget.run_button.click()
    wall, gaps, cpu = ticks.run(
        qtbot, lambda: not segment_widget.is_busy and not encoder_widget.is_busy)
    assert level_layers(viewer) and computed_at, "the segmentation must have run"
    assert encoder_widget.state.encoder is not rgb_encoder, "the training must have run"
    working = wall[1:] <= computed_at[0]  # gaps that ended before the layers went in
    # the work spanned some ticks (how many depends on the load: under heavy load the
    # work takes as long while the timer ticks less often; 37 were seen at load 6)
    assert working.sum() >= 10, f"only {working.sum()} ticks while working"
    baseline = base_gaps.max()
    allowed = 2 * baseline + 200
    assert gaps[working].max() < allowed, (
        f"main thread blocked for {gaps[working].max():.0f} ms while working; with the cores "
        f"as busy it ticked within {baseline:.0f} ms")
    assert cpu[working].max() < 100, f"{cpu[working].max():.0f} ms of work on the main thread"
    assert (~working).any() and cpu[~working].max() < 700, (
        f"{cpu[~working].max():.0f} ms of main-thread work between two ticks while the "
        "levels layer went in")
    # the baseline itself was an idle viewer (its first gap may still hold a draw that
    # was pending when the timer started: 109 ms was seen at load 5)
    assert base_cpu[1:].max() < 100


def test_default_level_outlines_follow_the_image_in_the_viewer(make_napari_viewer, qtbot, notes, gray_encoder):
    """The default level of many blurred discs, segmented from the dock: every disc is a
    region of its own whose outline is the disc's, pixel for pixel (basins, no blocks)."""
    from scipy import ndimage

    yy, xx = np.mgrid[:120, :120]
    truth = np.zeros((120, 120), np.int64)
    for i in range(5):
        for j in range(5):
            inside = np.hypot(yy - 24 * i - 12 - (j % 3) + 1, xx - 24 * j - 12 - (i % 2)) < 6.5
            truth[inside] = 5 * i + j + 1
    image = (ndimage.gaussian_filter((truth > 0) * 200.0 + 30, 1.0)).astype(np.uint8)
    viewer = make_napari_viewer()
    viewer.add_image(image, name="discs")
    _, segment_widget = docks(viewer)
    segment_widget.state.encoder = gray_encoder
    segment_widget.form["vector_weight"].value = 0.0  # intensities only: the encoder is tiny
    segment_widget.run_button.click()
    wait_idle(qtbot, segment_widget)
    (layer,) = level_layers(viewer)
    meta = layer.metadata["napari_cuts"]
    labels = np.asarray(layer.data[meta["default"]])
    assert meta["levels"][meta["default"]]["n_regions"] == len(np.unique(labels))
    scores = []
    for k in range(1, truth.max() + 1):
        region = labels == np.bincount(labels[truth == k]).argmax()
        scores.append(2 * (region & (truth == k)).sum() / (region.sum() + (truth == k).sum()))
    assert min(scores) > 0.85 and np.mean(scores) > 0.93, scores
    assert not notes.errors()


def test_no_training_is_one_click_then_segment(make_napari_viewer, qtbot, notes):
    """The fast path: epochs 0, Train makes the untrained encoder active at once (no
    step), and Segment uses it."""
    viewer = make_napari_viewer()
    viewer.add_image(texture_mosaic(64)[0], name="mosaic")
    encoder_widget, segment_widget = docks(viewer)
    encoder_widget.form["epochs"].value = 0
    encoder_widget.train_button.click()
    qtbot.waitUntil(lambda: encoder_widget.state.encoder is not None and not encoder_widget.is_busy,
                    timeout=WAIT_MS)
    encoder = encoder_widget.state.encoder
    assert encoder.info["trained"] is False and encoder.info["epochs"] == 0
    assert not encoder_widget.loss_plot.step_losses  # no optimiser step
    segment_widget.run_button.click()
    wait_idle(qtbot, segment_widget)
    (layer,) = level_layers(viewer)
    assert layer.data.shape[1:] == (64, 64) and len(layer.data) > 1
    assert not notes.errors()
