"""The plugin's reader: a levels file written by the command line opens as one labels
layer, the default level shown, without a dialog and whatever napari's settings say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.io
import tifffile
from napari.layers import Image, Labels

from napari_cuts.cli.main import main
from napari_cuts.plugin.reader import napari_get_reader

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
    levels = folder / "out" / "photo.cuts"
    return photo, levels, json.loads(levels.with_name("photo.cuts.json").read_text())


def labels_of(viewer) -> list[Labels]:
    return [lay for lay in viewer.layers if isinstance(lay, Labels)]


def test_reader_claims_only_levels_files(outputs):
    photo, levels, _ = outputs
    assert napari_get_reader(str(levels)) is not None
    assert napari_get_reader(str(levels.with_name("old.cuts.tif"))) is not None  # earlier versions
    assert napari_get_reader(str(photo)) is None
    assert napari_get_reader(str(levels.with_name("photo.cuts.json"))) is None
    assert napari_get_reader(str(levels.with_name("plain.tif"))) is None


def test_only_this_plugin_claims_levels_files(outputs):
    """napari opens a file without asking when one reader claims it."""
    from npe2 import PluginManager

    pm = PluginManager.instance()
    pm.discover()
    claims = {r.plugin_name for r in pm.iter_compatible_readers([str(outputs[1])])}
    assert claims == {PLUGIN}
    tif = {r.plugin_name for r in pm.iter_compatible_readers([str(outputs[1]) + ".tif"])}
    assert tif == {PLUGIN, "napari"}  # why a levels file is not named .tif


def test_readme_open_command_shows_the_default_level_over_the_image(make_napari_viewer, outputs, qtbot):
    """``napari photo.png photo.cuts``: with napari's default settings (no reader
    preference) no dialog, labels over the image, the default level on screen, and
    napari's dims slider reaches every level."""
    from napari.settings import get_settings

    photo, levels, summary = outputs
    viewer = make_napari_viewer()
    assert get_settings().plugins.extension2reader == {}  # a fresh user's settings
    # plugin=None: napari chooses, as when `napari photo.png photo.cuts` opens
    viewer.open([str(photo), str(levels)], plugin=None)
    image = viewer.layers["photo"]
    (layer,) = labels_of(viewer)
    assert isinstance(image, Image) and viewer.layers.index(image) == 0  # labels drawn above
    n = len(summary["levels"])
    assert layer.data.shape == (n, 48, 48) and layer.visible and layer.name == "photo levels"
    assert viewer.dims.ndim == 3 and viewer.dims.axis_labels[0] == "level"
    assert viewer.dims.nsteps[0] == n  # the slider reaches every level
    default = summary["default_level"]
    assert viewer.dims.current_step[0] == default  # the default level is on screen
    shown = layer._slice.image.view  # what napari draws (test only)
    np.testing.assert_array_equal(np.asarray(shown), tifffile.imread(levels)[default])
    viewer.dims.set_current_step(0, n - 1)  # the finest level
    assert np.array_equal(np.asarray(layer._slice.image.view), tifffile.imread(levels)[n - 1])
    meta = layer.metadata["napari_cuts"]
    assert [row["salient"] for row in meta["levels"]] == [lev["salient"] for lev in summary["levels"]]
    assert [row["n_regions"] for row in meta["levels"]] == [lev["n_regions"] for lev in summary["levels"]]


def test_segment_dock_browses_levels_opened_from_disk(make_napari_viewer, outputs, qtbot):
    photo, levels, summary = outputs
    viewer = make_napari_viewer()
    viewer.open([str(photo), str(levels)], plugin=None)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    widget.image.value = viewer.layers["photo"]
    qtbot.waitUntil(lambda: widget.result_layer() is not None, timeout=5000)
    default, n = summary["default_level"], len(summary["levels"])
    assert widget.level_slider.maximum() == n - 1 and widget.level_slider.value() == default
    assert f"level {default} " in widget.level_label.text()
    assert "; the default; " in widget.level_label.text()
    salient = [i for i, lev in enumerate(summary["levels"]) if lev["salient"]]
    assert widget.level_slider.salient == salient and widget.level_slider.default == default
    widget.level_slider.setValue(n - 1)  # the dock's slider moves napari's
    assert viewer.dims.current_step[0] == n - 1
    viewer.dims.set_current_step(0, 0)  # and napari's moves the dock's
    assert widget.level_slider.value() == 0 and widget.level_label.text().startswith("level 0 ")


def test_opening_after_the_widget_links_the_levels(make_napari_viewer, outputs, qtbot):
    photo, levels, _ = outputs
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    viewer.open(str(photo))
    viewer.open(str(levels), plugin=PLUGIN)
    qtbot.waitUntil(lambda: widget.result_layer() is not None, timeout=5000)
    group = widget.result_layer().metadata["napari_cuts"]["group"]
    assert group == str(viewer.layers["photo"].unique_id)


def test_earlier_cuts_tif_results_still_open_as_levels(make_napari_viewer, outputs, tmp_path):
    _, levels, summary = outputs
    old = tmp_path / "photo.cuts.tif"
    old.write_bytes(levels.read_bytes())
    (tmp_path / "photo.cuts.json").write_text(json.dumps(summary))
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(old), plugin=PLUGIN)
    assert isinstance(layer, Labels) and layer.data.shape[0] == len(summary["levels"])
    assert viewer.dims.current_step[0] == summary["default_level"]
