"""A time-lapse in the Segment dock (issue 26, case 11): frames segmented one by one with
one encoder, frames kept as frames; a volume only when the user asks for one."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_cuts.engine.pipeline import segment
from napari_cuts.engine.training import EncoderTrainer, TrainingConfig

PLUGIN = "napari-cuts"
WAIT_MS = 120_000


def movie(frames: int = 4) -> np.ndarray:
    rng = np.random.default_rng(0)
    data = rng.normal(50, 5, (frames, 40, 40)).astype(np.float32)
    for t in range(frames):  # a bright square moving right
        data[t, 10:25, 4 + 4 * t: 19 + 4 * t] += 100
    return data


@pytest.fixture(scope="module")
def encoder():
    trainer = EncoderTrainer([movie()[0]], TrainingConfig(epochs=1, steps_per_epoch=3, batch_size=4))
    for _ in trainer.run():
        pass
    return trainer.result()


def segment_dock(viewer, encoder):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    widget.state.encoder = encoder
    return widget


def run(qtbot, widget):
    """Segment; the levels layer (every level first, then the image's axes)."""
    widget.run_button.click()
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)
    return widget.result_layer()


def test_a_time_lapse_file_is_segmented_frame_by_frame(make_napari_viewer, qtbot, notes, encoder,
                                                        tmp_path, monkeypatch):
    data = movie()
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TYX"})
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari")  # napari's own reader: the file records T
    widget = segment_dock(viewer, encoder)
    widget.image.value = viewer.layers["movie"]
    assert widget.extent.value == "each frame"
    layer = run(qtbot, widget)
    n = len(layer.data)
    assert layer.data.shape == (n, 4, 40, 40) and layer.visible
    meta = layer.metadata["napari_cuts"]
    assert meta["time"] is True and widget.shown_level() == meta["default"]
    assert viewer.dims.axis_labels[:2] == ("level", "t")
    shown = np.asarray(layer.data[meta["default"]])
    for t in (0, 3):  # every frame's default level, as that frame segmented on its own
        alone = segment(encoder, data[t])
        np.testing.assert_array_equal(shown[t], alone.level(alone.default_level))

    out = tmp_path / "movie.cuts"  # exported with time as time, opened again the same
    monkeypatch.setattr(widget, "ask_save_path", lambda caption: str(out))
    widget.export_all_button.click()
    with tifffile.TiffFile(out) as tif:
        assert tif.series[0].axes == "TCYX"
    (again,) = viewer.open(str(out), plugin=PLUGIN)
    assert again.data.shape == (n, 4, 40, 40) and again.metadata["napari_cuts"]["time"] is True
    np.testing.assert_array_equal(np.asarray(again.data), np.asarray(layer.data))
    assert not notes.errors()


def test_a_layer_whose_first_axis_is_time_and_a_volume_when_asked(make_napari_viewer, qtbot, notes,
                                                                   encoder):
    viewer = make_napari_viewer()
    viewer.add_image(movie(), name="cells", axis_labels=("t", "y", "x"))
    viewer.add_image(movie(), name="stack")  # no time axis: a volume, as before
    widget = segment_dock(viewer, encoder)
    widget.image.value = viewer.layers["stack"]
    assert widget.extent.value == "whole stack"
    widget.image.value = viewer.layers["cells"]
    assert widget.extent.value == "each frame"
    frames = run(qtbot, widget)
    assert frames.data.shape[1:] == (4, 40, 40) and frames.metadata["napari_cuts"]["time"]

    widget.extent.value = "whole stack"  # asked for: one volume, condensed in 3D
    volume = run(qtbot, widget)
    assert volume.data.shape[1:] == (4, 40, 40)
    assert frames not in viewer.layers  # replaced
    assert not volume.metadata["napari_cuts"]["time"]
    assert not notes.errors()
