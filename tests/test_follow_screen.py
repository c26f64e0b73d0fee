"""Tools follow the screen: the level on screen is the selected layer after segmenting,
and Pick, Components, Measure and Refine default to it and follow it (real viewer)."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt
from test_annotation_widgets import add_levels, click, dock, ring_level

from napari_cuts.engine.pipeline import fit
from napari_cuts.engine.training import TrainingConfig
from napari_cuts.plugin.widgets._state import encoder_state
from napari_cuts.plugin.widgets.segment_widget import KIND_TEXT, level_line
from napari_cuts.samples import texture_mosaic

WAIT_MS = 120_000
COARSE = (ring_level() > 1).astype(np.uint8) + 1
FINE = ring_level()


@pytest.fixture(scope="module")
def gray_encoder():
    return fit([texture_mosaic(64)[0]], TrainingConfig(epochs=1, steps_per_epoch=2, batch_size=4))


def two_levels(viewer, name="image"):
    """An image and its levels layer: a coarse level and a fine one, the fine on screen."""
    image = viewer.add_image(np.zeros((64, 64), np.uint8), name=name)
    return image, add_levels(viewer, image, [COARSE, FINE], 1)


def test_after_segment_the_default_level_is_on_screen_and_selected(make_napari_viewer, qtbot,
                                                                    gray_encoder):
    viewer = make_napari_viewer()
    viewer.add_image(texture_mosaic(48)[0], name="mosaic")
    widget = dock(viewer, "Segment")
    encoder_state(viewer).encoder = gray_encoder
    widget.start_segmentation()
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)
    layer = widget.result_layer()
    assert layer is not None and layer.visible and viewer.layers.selection.active is layer
    meta = layer.metadata["napari_cuts"]
    n = len(meta["levels"])
    assert layer.data.shape == (n, 48, 48) and n == meta["n_levels"]  # every level
    assert widget.shown_level() == meta["default"] == widget.level_slider.value()
    assert viewer.dims.current_step[0] == meta["default"]  # napari's slider: the same level
    assert widget.level_label.text() == level_line(meta, meta["default"])
    row = meta["levels"][meta["default"]]
    assert KIND_TEXT[row["kind"]] in widget.level_label.text() and "the default" in widget.level_label.text()
    widget.level_slider.setValue(n - 1)  # as a user drags the slider to the finest level
    assert viewer.dims.current_step[0] == n - 1 and widget.shown_level() == n - 1
    assert viewer.layers.selection.active is layer
    assert f"level {n - 1} " in widget.level_label.text() and "the default" not in widget.level_label.text()


def test_tools_default_to_the_level_on_screen_and_follow_it(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image, levels = two_levels(viewer)
    pick, components, measure = dock(viewer, "Pick and merge"), dock(viewer, "Ordered components"), \
        dock(viewer, "Measure regions")
    assert pick.levels.value is levels and components.source.value is levels
    assert measure.labels.value is levels and measure.image.value is image

    segment = dock(viewer, "Segment")
    segment.image.value = image
    assert segment.shown_level() == 1 == segment.level_slider.value()  # the level on screen
    segment.level_slider.setValue(0)  # the user shows the coarse level
    assert viewer.dims.current_step[0] == 0
    measure.measure()  # measures what is on screen
    qtbot.waitUntil(lambda: not measure.is_busy, timeout=WAIT_MS)
    assert sorted(measure.table["label"]) == [1, 2]

    viewer.dims.set_current_step(0, 1)  # napari's slider: the dock's follows
    assert segment.level_slider.value() == 1 and "level 1 " in segment.level_label.text()
    measure.measure()
    qtbot.waitUntil(lambda: not measure.is_busy, timeout=WAIT_MS)
    assert sorted(measure.table["label"]) == [1, 2, 3, 4]


def test_a_deliberate_choice_of_another_layer_is_kept(make_napari_viewer):
    viewer = make_napari_viewer()
    image, levels = two_levels(viewer)
    mask = viewer.add_labels(np.zeros((64, 64), np.uint8), name="my mask")
    components = dock(viewer, "Ordered components")
    components.source.value = mask
    levels.visible = False
    levels.visible = True
    assert components.source.value is mask


def test_refine_follows_the_image_whose_levels_are_on_screen(make_napari_viewer):
    viewer = make_napari_viewer()
    first, _ = two_levels(viewer, "first")
    second, second_levels = two_levels(viewer, "second")
    second_levels.visible = False
    refine = dock(viewer, "Scribble refinement")
    refine.image.value = first
    second_levels.visible = True  # the levels of the second image come on screen
    assert refine.image.value is second


def test_ctrl_z_right_after_a_pick_undoes_it(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image, levels = two_levels(viewer)
    pick = dock(viewer, "Pick and merge")
    annotation = pick.new_annotation()
    viewer.layers.selection.active = levels  # the user was looking at the level
    click(viewer, (32, 10))  # region 1 of the fine level
    assert (annotation.data == 1).sum() == (FINE == 1).sum()
    assert viewer.layers.selection.active is annotation
    canvas = viewer.window._qt_viewer.canvas.native  # test only: where napari takes key presses
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not annotation.data.any(), timeout=5000)
