"""Saving from the viewer: suggested file names, the plugin's writer for labels, and an
'all levels' export that the plugin's reader opens again as the same levels."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import npe2
import tifffile

from napari_cuts._widgets.save_labels import save_labels_dialog
from napari_cuts.pipeline import fit
from napari_cuts.samples import texture_mosaic
from napari_cuts.training import TrainingConfig

from test_annotation_widgets import add_level, dock, ring_level

PLUGIN = "napari-cuts"


def levels_of(viewer, name="photo"):
    image = viewer.add_image(np.zeros((64, 64), np.uint8), name=name)
    coarse = add_level(viewer, image, (ring_level() > 1).astype(np.uint8) + 1, 2, visible=False)
    fine = add_level(viewer, image, ring_level(), 5)
    for layer in (coarse, fine):
        layer.metadata["napari_cuts"]["n_levels"] = 9
    return image, coarse, fine


def test_export_dialogs_suggest_file_names(make_napari_viewer):
    viewer = make_napari_viewer()
    image, coarse, fine = levels_of(viewer, "my photo")
    segment = dock(viewer, "Segment")
    segment.image.value = image
    assert segment.suggested_name("Export level") == "my photo level 5.tif"  # the level on screen
    assert segment.suggested_name("Export all levels") == "my photo.cuts.tif"
    measure = dock(viewer, "Measure regions")
    assert measure.suggested_name() == "my photo level 5 (4 regions) regions.csv"
    components = dock(viewer, "Ordered components")
    components.source.value = coarse
    assert components.suggested_name().endswith(" components.csv")
    train = dock(viewer, "Train encoder")
    train.state.encoder = fit([texture_mosaic(48)[0]], TrainingConfig(epochs=1, steps_per_epoch=1,
                                                                       batch_size=2), names=["a/b:c"])
    assert train.suggested_name() == "a_b_c encoder.pt"  # safe on every system


def test_all_levels_export_opens_again_as_the_same_levels(make_napari_viewer, tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    image, coarse, fine = levels_of(viewer)
    segment = dock(viewer, "Segment")
    segment.image.value = image
    target = tmp_path / "photo.cuts.tif"
    monkeypatch.setattr(segment, "ask_save_path", lambda caption: str(target))
    old = os.umask(0o022)
    try:
        segment.export_all_levels()
        monkeypatch.setattr(segment, "ask_save_path", lambda caption: str(tmp_path / "one.tif"))
        segment.export_level()
    finally:
        os.umask(old)
    for written in (target, tmp_path / "photo.cuts.json", tmp_path / "one.tif"):
        assert oct(stat.S_IMODE(written.stat().st_mode)) == "0o644", written  # umask 022
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "one.tif"), fine.data)
    summary = json.loads((tmp_path / "photo.cuts.json").read_text())
    assert summary["default_level"] == 1 and [lev["level"] for lev in summary["levels"]] == [2, 5]
    assert tifffile.imread(target).shape == (2, 64, 64)

    other = make_napari_viewer()
    layers = other.open(str(target), plugin=PLUGIN)
    assert [lay.name for lay in layers] == [coarse.name, fine.name]
    assert [lay.visible for lay in layers] == [False, True]
    for read, original in zip(layers, (coarse, fine)):
        np.testing.assert_array_equal(read.data, original.data)
        meta = read.metadata["napari_cuts"]
        assert meta["level"] == original.metadata["napari_cuts"]["level"] and meta["n_levels"] == 9


def test_save_labels_menu_uses_the_plugins_writer(make_napari_viewer, tmp_path):
    manifest = npe2.PluginManager.instance().get_manifest(PLUGIN)
    entries = manifest.contributions.menus["napari/file/io_utilities"]
    assert [e.command for e in entries] == ["napari-cuts.save_labels"]
    viewer = make_napari_viewer()
    _, _, fine = levels_of(viewer)
    viewer.layers.selection.active = fine
    asked = {}

    def ask(parent, caption, file_filter, suggested):
        asked.update(suggested=suggested, filter=file_filter)
        return str(tmp_path / "chosen")

    written = save_labels_dialog(viewer, ask=ask)
    assert asked["suggested"] == "photo level 5.tif" and "*.tif" in asked["filter"]
    assert written == [str(tmp_path / "chosen.tif")]
    saved = tifffile.imread(written[0])
    assert saved.dtype == np.uint8  # the smallest type, not napari's builtin uint32
    np.testing.assert_array_equal(saved, fine.data)
