"""Saving from the viewer: suggested file names, the plugin's writer for labels, and an
'all levels' export that the plugin's reader opens again as the same levels."""

from __future__ import annotations

import json
import os
import stat

import npe2
import numpy as np
import tifffile
from test_annotation_widgets import add_levels, dock, ring_level

from napari_cuts.engine.pipeline import fit
from napari_cuts.engine.training import TrainingConfig
from napari_cuts.plugin.widgets.save_labels import save_labels_dialog
from napari_cuts.samples import texture_mosaic

PLUGIN = "napari-cuts"


def levels_of(viewer, name="photo"):
    """An image and its levels layer of two levels (numbers 2 and 5 of 9), level 5 shown."""
    image = viewer.add_image(np.zeros((64, 64), np.uint8), name=name)
    coarse, fine = (ring_level() > 1).astype(np.uint8) + 1, ring_level()
    layer = add_levels(viewer, image, [coarse, fine], 1)
    meta = layer.metadata["napari_cuts"]
    meta["levels"][0]["level"], meta["levels"][1]["level"], meta["n_levels"] = 2, 5, 9
    return image, layer, coarse, fine


def test_export_dialogs_suggest_file_names(make_napari_viewer):
    viewer = make_napari_viewer()
    image, layer, _, _ = levels_of(viewer, "my photo")
    segment = dock(viewer, "Segment")
    segment.image.value = image
    assert segment.suggested_name("Export level") == "my photo level 5.tif"  # the level on screen
    assert segment.suggested_name("Export all levels") == "my photo.cuts"
    measure = dock(viewer, "Measure regions")
    assert measure.suggested_name() == "my photo levels regions.csv"
    components = dock(viewer, "Ordered components")
    components.source.value = layer
    assert components.suggested_name().endswith(" components.csv")
    train = dock(viewer, "Train encoder")
    train.state.encoder = fit([texture_mosaic(48)[0]], TrainingConfig(epochs=1, steps_per_epoch=1,
                                                                       batch_size=2), names=["a/b:c"])
    assert train.suggested_name() == "a_b_c encoder.pt"  # safe on every system


def test_all_levels_export_opens_again_as_the_same_levels(make_napari_viewer, tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    image, layer, coarse, fine = levels_of(viewer)
    segment = dock(viewer, "Segment")
    segment.image.value = image
    target = tmp_path / "photo.cuts"
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
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "one.tif"), fine)
    summary = json.loads((tmp_path / "photo.cuts.json").read_text())
    assert summary["default_level"] == 1 and [lev["level"] for lev in summary["levels"]] == [2, 5]
    assert tifffile.imread(target).shape == (2, 64, 64)

    other = make_napari_viewer()
    (read,) = other.open(str(target), plugin=PLUGIN)
    assert read.name == layer.name and read.visible
    np.testing.assert_array_equal(read.data, layer.data)
    meta = read.metadata["napari_cuts"]
    assert [row["level"] for row in meta["levels"]] == [2, 5] and meta["n_levels"] == 9
    assert meta["default"] == 1 and other.dims.current_step[0] == 1


def test_level_files_are_compressed_and_open_in_tifffile(tmp_path):
    """Levels are written losslessly compressed (deflate), with no ImageJ hyperstack header
    (ImageJ reads those as uncompressed): ImageJ opens the file as a plain stack."""
    from napari_cuts.formats.writing import save_labels_tiff

    yy, xx = np.mgrid[:1024, :1024]
    levels = np.stack([((yy // (1024 // k)) * k + xx // (1024 // k) + 1) for k in range(2, 62)])
    path = save_labels_tiff(tmp_path / "big.cuts", levels, levels=True)
    assert path.stat().st_size < 5e6 < levels.astype(np.uint16).nbytes
    with tifffile.TiffFile(path) as tif:
        assert not tif.is_imagej and len(tif.pages) == 60
        assert {page.compression for page in tif.pages} == {tifffile.COMPRESSION.ADOBE_DEFLATE}
        assert tif.series[0].axes == "TYX"
        np.testing.assert_array_equal(tif.asarray(), levels)


def test_save_labels_menu_uses_the_plugins_writer(make_napari_viewer, tmp_path):
    manifest = npe2.PluginManager.instance().get_manifest(PLUGIN)
    entries = manifest.contributions.menus["napari/file/io_utilities"]
    assert [e.command for e in entries] == ["napari-cuts.save_labels"]
    viewer = make_napari_viewer()
    _, levels, _, fine = levels_of(viewer)
    plain = viewer.add_labels(fine, name="my mask")
    viewer.layers.selection.active = plain
    asked = {}

    def ask(parent, caption, file_filter, suggested):
        asked.update(suggested=suggested, filter=file_filter)
        return str(tmp_path / "chosen")

    written = save_labels_dialog(viewer, ask=ask)
    assert asked["suggested"] == "my mask.tif" and "*.tif" in asked["filter"]
    assert written == [str(tmp_path / "chosen.tif")]
    saved = tifffile.imread(written[0])
    assert saved.dtype == np.uint8  # the smallest type, not napari's builtin uint32
    np.testing.assert_array_equal(saved, fine)

    viewer.layers.selection.active = levels  # every level: a levels file and its summary
    written = save_labels_dialog(viewer, ask=ask)
    assert asked["suggested"] == "photo.cuts" and "*.cuts" in asked["filter"]
    assert written == [str(tmp_path / "chosen.cuts"), str(tmp_path / "chosen.cuts.json")]
    np.testing.assert_array_equal(tifffile.imread(written[0]), levels.data)
