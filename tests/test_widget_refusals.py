"""The widgets refuse what the command line refuses, with one plain notification each
(never an error with a traceback), and write or add nothing."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_cuts.cli.main import main
from napari_cuts.engine.training import EncoderTrainer, TrainingConfig
from napari_cuts.samples import retina_sample

PLUGIN = "napari-cuts"
WAIT_MS = 120_000


def dock(viewer, name: str):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def wait_idle(qtbot, widget) -> None:
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)


def one_warning(notes, says: str) -> str:
    warnings = notes.messages("warning")
    assert not notes.errors(), [str(n.message) for n in notes.errors()]
    assert len(warnings) == 1, warnings
    assert says in warnings[0], warnings
    assert "\n" not in warnings[0]
    return warnings[0]


@pytest.fixture(scope="module")
def gray_encoder():
    trainer = EncoderTrainer([retina_sample(48)[..., 1]], TrainingConfig(epochs=1, steps_per_epoch=2, batch_size=2))
    for _ in trainer.run():
        pass
    return trainer.result()


def test_components_refuses_negative_labels_like_the_cli(make_napari_viewer, qtbot, notes, tmp_path, capsys):
    mask = np.zeros((32, 32), np.int32)
    mask[4:10, 4:10] = -3
    mask[20:26, 20:26] = 2
    viewer = make_napari_viewer()
    viewer.add_labels(mask, name="mask")
    widget = dock(viewer, "Ordered components")
    widget.run_button.click()
    wait_idle(qtbot, widget)
    one_warning(notes, "the mask must not be negative")
    assert len(viewer.layers) == 1

    import tifffile

    tifffile.imwrite(tmp_path / "mask.tif", mask)
    assert main(["components", str(tmp_path / "mask.tif"), "-o", str(tmp_path / "out")]) == 1
    assert "the mask must not be negative" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_measure_refuses_labels_without_regions_like_the_cli(make_napari_viewer, qtbot, notes, tmp_path, capsys):
    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).random((32, 32)), name="img")
    labels = viewer.add_labels(np.zeros((32, 32), np.uint8), name="empty")
    widget = dock(viewer, "Measure regions")
    widget.labels.value = labels
    widget.run_button.click()
    wait_idle(qtbot, widget)
    one_warning(notes, "no regions")
    assert widget.table is None and not widget.export_button.isEnabled()

    import tifffile

    tifffile.imwrite(tmp_path / "img.tif", np.ones((32, 32), np.uint8))
    tifffile.imwrite(tmp_path / "empty.tif", np.zeros((32, 32), np.uint8))
    assert main(["measure", str(tmp_path / "img.tif"), str(tmp_path / "empty.tif"),
                 "-o", str(tmp_path / "m.csv")]) == 1
    assert "no regions" in capsys.readouterr().err
    assert not (tmp_path / "m.csv").exists()


def test_a_4d_layer_is_refused_without_advising_a_disabled_control(make_napari_viewer, notes, gray_encoder):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((2, 3, 16, 16), np.uint8), name="movie")
    widget = dock(viewer, "Segment")
    widget.state.encoder = gray_encoder
    widget.run_button.click()
    message = one_warning(notes, "has 4 dimensions")
    assert "current slice" not in message and "Split Stack" in message
    assert not widget.is_busy and len(viewer.layers) == 1


def test_crafted_encoder_file_gives_one_notification(make_napari_viewer, notes, tmp_path, gray_encoder):
    state = copy.deepcopy(gray_encoder.state())
    del state["normalization"]  # used to print a KeyError traceback with every weight tensor
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    viewer = make_napari_viewer()
    widget = dock(viewer, "Train encoder")
    widget.state.encoder = gray_encoder
    widget.ask_open_path = lambda: str(bad)
    widget.load_button.click()
    one_warning(notes, "is not a napari-cuts encoder file: 'normalization' must hold")
    assert widget.state.encoder is gray_encoder


def test_saving_an_encoder_where_it_cannot_be_written(make_napari_viewer, notes, gray_encoder):
    viewer = make_napari_viewer()
    widget = dock(viewer, "Train encoder")
    widget.state.encoder = gray_encoder
    target = "/sys/kernel/napari-cuts-enc.pt"
    widget.ask_save_path = lambda: target
    widget.save_button.click()
    messages = [str(n.message) for n in notes.all]
    assert len(messages) == 1 and f"Could not save the encoder to {target}" in messages[0], messages
    assert not Path(target).exists()


def test_non_finite_pixels_in_the_viewer(make_napari_viewer, qtbot, notes, gray_encoder):
    """A float image with NaN holes is segmented with one warning; without a finite pixel
    it is refused, as on the command line."""
    image = retina_sample(48)[..., 1].astype(np.float32)
    image[:3, :3] = np.nan
    viewer = make_napari_viewer()
    viewer.add_image(image, name="holes")
    widget = dock(viewer, "Segment")
    widget.state.encoder = gray_encoder
    widget.run_button.click()
    wait_idle(qtbot, widget)
    warnings = notes.messages("warning")
    assert any("9 of 2304 pixels are NaN or infinite" in w for w in warnings), warnings
    assert not notes.errors()
    levels = [lay for lay in viewer.layers if "napari_cuts" in lay.metadata]
    assert levels and max(len(np.unique(lay.data)) for lay in levels) > 2

    viewer.add_image(np.full((48, 48), np.nan, np.float32), name="blank")
    widget.image.value = viewer.layers["blank"]
    start = len(notes.all)
    widget.run_button.click()
    wait_idle(qtbot, widget)
    new = [str(n.message) for n in notes.all[start:]]
    assert len(new) == 1 and "no finite pixel" in new[0], new
    assert not [lay for lay in viewer.layers if "napari_cuts" in lay.metadata
                and lay.metadata["napari_cuts"]["image"] == "blank"]
