"""The docks are usable in a 1280x800 window: napari-cuts docks open as tabs of one
another (each gets the whole height), and the level line shows in a short Segment dock."""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QDockWidget, QScrollArea
from test_annotation_widgets import add_levels, dock, ring_level

STEPS = ("Train encoder", "Segment", "Pick and merge", "Scribble refinement",
         "Ordered components", "Measure regions")


def dock_of(widget) -> QDockWidget:
    parent = widget.parentWidget()
    while not isinstance(parent, QDockWidget):
        parent = parent.parentWidget()
    return parent


def test_every_dock_open_in_1280x800_gets_the_whole_height(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1280, 800)
    widgets = [dock(viewer, "All steps (one panel)")] + [dock(viewer, name) for name in STEPS]
    docks = [dock_of(w) for w in widgets]
    window = docks[0].parentWidget()
    qtbot.waitUntil(lambda: set(window.tabifiedDockWidgets(docks[-1])) == set(docks[:-1]),
                    timeout=30000)  # one group of tabs
    front = docks[-1]  # the last opened is in front
    qtbot.waitUntil(lambda: front.isVisible() and not front.visibleRegion().isEmpty(), timeout=30000)
    assert front.height() > 500, front.height()
    for other in docks[:-1]:
        other.raise_()
        qtbot.waitUntil(lambda other=other: other.height() > 500, timeout=30000)


def test_the_level_line_shows_in_the_panel_at_1280x800(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1280, 800)
    image = viewer.add_image(np.zeros((64, 64), np.uint8), name="img")
    add_levels(viewer, image, [ring_level() > 1, ring_level()], 1)
    panel = dock(viewer, "All steps (one panel)")
    segment = panel.show_step("Segment")
    segment.image.value = image
    qtbot.waitUntil(lambda: segment.level_label.isVisible(), timeout=30000)
    area = next(a for a in segment.findChildren(QScrollArea))
    label_bottom = segment.level_label.mapTo(area.viewport(), segment.level_label.rect().bottomLeft()).y()
    assert 0 < label_bottom <= area.viewport().height()  # in view without scrolling
    assert "level 1 " in segment.level_label.text()
