"""Tools follow the screen: the level on screen is the selected layer after segmenting,
and Pick, Components, Measure and Refine default to it and follow it (real viewer)."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_cuts._widgets._state import encoder_state
from napari_cuts._widgets.segment_widget import KIND_TEXT, level_line
from napari_cuts.pipeline import fit
from napari_cuts.samples import texture_mosaic
from napari_cuts.training import TrainingConfig

from test_annotation_widgets import add_level, click, dock, ring_level

WAIT_MS = 120_000


@pytest.fixture(scope="module")
def gray_encoder():
    return fit([texture_mosaic(64)[0]], TrainingConfig(epochs=1, steps_per_epoch=2, batch_size=4))


def two_levels(viewer, name="image"):
    """An image with a coarse level (hidden, first in the list) and a fine one on screen."""
    image = viewer.add_image(np.zeros((64, 64), np.uint8), name=name)
    coarse = add_level(viewer, image, (ring_level() > 1).astype(np.uint8) + 1, 0, visible=False)
    fine = add_level(viewer, image, ring_level(), 1)
    return image, coarse, fine


def test_after_segment_the_level_on_screen_is_selected(make_napari_viewer, qtbot, gray_encoder):
    viewer = make_napari_viewer()
    viewer.add_image(texture_mosaic(48)[0], name="mosaic")
    widget = dock(viewer, "Segment")
    encoder_state(viewer).encoder = gray_encoder
    widget.start_segmentation()
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)
    shown = widget.shown_layer()
    assert shown is not None and shown.visible
    assert viewer.layers.selection.active is shown
    meta = shown.metadata["napari_cuts"]
    assert meta["level"] == meta["default_level"]
    assert widget.level_label.text() == level_line(meta, widget.level_slider.value(),
                                                   len(widget.result_layers()))
    assert KIND_TEXT[meta["kind"]] in widget.level_label.text() and "the default" in widget.level_label.text()
    other = (widget.level_slider.value() + 1) % len(widget.result_layers())
    widget.level_slider.setValue(other)  # as a user drags the slider
    assert viewer.layers.selection.active is widget.shown_layer() is widget.result_layers()[other]
    assert f"level {widget.shown_layer().metadata['napari_cuts']['level']} " in widget.level_label.text()
    assert "the default" not in widget.level_label.text()
    assert [lay.visible for lay in widget.result_layers()].count(True) == 1


def test_tools_default_to_the_level_on_screen_and_follow_it(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image, coarse, fine = two_levels(viewer)
    pick, components, measure = dock(viewer, "Pick and merge"), dock(viewer, "Ordered components"), \
        dock(viewer, "Measure regions")
    assert pick.levels.value is fine  # not the hidden coarse level listed first
    assert components.source.value is fine
    assert measure.labels.value is fine and measure.image.value is image

    segment = dock(viewer, "Segment")
    segment.image.value = image
    assert segment.shown_layer() is fine  # the slider starts at the level on screen
    segment.level_slider.setValue(0)  # the user shows the coarse level
    assert coarse.visible and not fine.visible
    assert pick.levels.value is coarse
    assert components.source.value is coarse
    assert measure.labels.value is coarse

    fine.visible = True  # the eye button of the fine level: the slider follows too
    assert segment.shown_layer() is fine and not coarse.visible
    assert pick.levels.value is fine and measure.labels.value is fine

    measure.measure()  # measures what is on screen
    qtbot.waitUntil(lambda: not measure.is_busy, timeout=WAIT_MS)
    assert sorted(measure.table["label"]) == sorted(np.unique(fine.data[fine.data > 0]).tolist())


def test_a_deliberate_choice_of_another_layer_is_kept(make_napari_viewer):
    viewer = make_napari_viewer()
    image, coarse, fine = two_levels(viewer)
    mask = viewer.add_labels(np.zeros((64, 64), np.uint8), name="my mask")
    components = dock(viewer, "Ordered components")
    components.source.value = mask
    coarse.visible, fine.visible = True, False
    assert components.source.value is mask


def test_refine_follows_the_image_whose_level_is_on_screen(make_napari_viewer):
    viewer = make_napari_viewer()
    first, _, _ = two_levels(viewer, "first")
    second, second_coarse, second_fine = two_levels(viewer, "second")
    second_fine.visible = False
    refine = dock(viewer, "Scribble refinement")
    refine.image.value = first
    second_coarse.visible = True  # a level of the second image comes on screen
    assert refine.image.value is second


def test_ctrl_z_right_after_a_pick_undoes_it(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image, coarse, fine = two_levels(viewer)
    pick = dock(viewer, "Pick and merge")
    annotation = pick.new_annotation()
    viewer.layers.selection.active = fine  # the user was looking at the level
    click(viewer, (32, 10))  # region 1 of the fine level
    assert (annotation.data == 1).sum() == (fine.data == 1).sum()
    assert viewer.layers.selection.active is annotation
    canvas = viewer.window._qt_viewer.canvas.native  # test only: where napari takes key presses
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not annotation.data.any(), timeout=5000)
