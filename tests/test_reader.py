"""The plugin's reader: a .cuts.tif written by the command line opens as labels layers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.io
from napari.layers import Image, Labels

from napari_cuts._reader import napari_get_reader, prefer_this_reader
from napari_cuts.cli import main

PLUGIN = "napari-cuts"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> tuple[Path, Path, dict]:
    """A photo and its levels, written by ``napari-cuts run`` as a user does."""
    folder = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(0)
    img = rng.normal(90, 10, (48, 48, 3))
    img[10:30, 8:28] += 100
    photo = folder / "photo.png"
    skimage.io.imsave(photo, np.clip(img, 0, 255).astype(np.uint8), check_contrast=False)
    assert main(["run", str(photo), "-o", str(folder / "out"), "--epochs", "1",
                 "--steps-per-epoch", "3", "--no-progress"]) == 0
    levels = folder / "out" / "photo.cuts.tif"
    return photo, levels, json.loads(levels.with_name("photo.cuts.json").read_text())


def labels_of(viewer) -> list[Labels]:
    return [lay for lay in viewer.layers if isinstance(lay, Labels)]


def test_reader_claims_only_cuts_tiffs(outputs):
    photo, levels, _ = outputs
    assert napari_get_reader(str(levels)) is not None
    assert napari_get_reader(str(photo)) is None
    assert napari_get_reader(str(levels.with_suffix(".json"))) is None
    assert napari_get_reader(str(levels.with_name("plain.tif"))) is None


def test_open_through_the_plugin_gives_labels_layers(make_napari_viewer, outputs):
    _, levels, summary = outputs
    viewer = make_napari_viewer()
    layers = viewer.open(str(levels), plugin=PLUGIN)
    salient = [i for i, lev in enumerate(summary["levels"]) if lev["salient"]]
    default = summary["default_level"]
    assert layers and all(isinstance(lay, Labels) for lay in layers)
    assert sorted(lay.metadata["napari_cuts"]["level"] for lay in layers) == sorted(set(salient) | {default})
    shown = [lay for lay in layers if lay.visible]
    assert len(shown) == 1 and shown[0].metadata["napari_cuts"]["level"] == default
    n = summary["levels"][default]["n_regions"]
    assert shown[0].name == f"photo level {default} ({n} regions)"
    assert shown[0].metadata["napari_cuts"]["kind"] == summary["levels"][default]["kind"]
    assert len(np.unique(shown[0].data[shown[0].data > 0])) == n
    assert list(shown[0].features["index"]) == list(np.unique(shown[0].data[shown[0].data > 0]))


def test_readme_open_command_shows_the_default_level_over_the_image(make_napari_viewer, outputs, qtbot):
    """``napari photo.png photo.cuts.tif``: no reader dialog, labels over the image, and the
    Segment widget's slider browses the levels as after segmenting in the viewer."""
    photo, levels, summary = outputs
    viewer = make_napari_viewer()
    prefer_this_reader()  # what the first napari-cuts run or widget does
    # plugin=None: napari's preferences decide, as when `napari photo.png photo.cuts.tif` opens
    viewer.open([str(photo), str(levels)], plugin=None)
    image = viewer.layers["photo"]
    assert isinstance(image, Image) and viewer.layers.index(image) == 0  # labels drawn above
    shown = [lay for lay in labels_of(viewer) if lay.visible]
    assert len(shown) == 1 and shown[0].metadata["napari_cuts"]["level"] == summary["default_level"]
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    widget.image.value = image
    qtbot.waitUntil(lambda: widget.shown_layer() is shown[0], timeout=5000)
    assert f"level {summary['default_level']} " in widget.level_label.text()
    assert "; the default; " in widget.level_label.text()  # the line says what is shown
    browsed = widget.result_layers()
    assert browsed == sorted(labels_of(viewer), key=lambda lay: lay.metadata["napari_cuts"]["level"])
    widget.level_slider.setValue(0)
    assert browsed[0].visible and sum(lay.visible for lay in browsed) == 1


def test_opening_after_the_widget_links_the_levels(make_napari_viewer, outputs, qtbot):
    photo, levels, _ = outputs
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    viewer.open(str(photo))
    viewer.open(str(levels), plugin=PLUGIN)
    qtbot.waitUntil(lambda: widget.shown_layer() is not None, timeout=5000)
    assert widget.shown_layer().visible
    group = widget.shown_layer().metadata["napari_cuts"]["group"]
    assert group == str(viewer.layers["photo"].unique_id)
