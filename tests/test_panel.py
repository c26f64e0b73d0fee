"""One panel that fits: every step in one dock, and a window that fits 1280x800."""

from __future__ import annotations

from qtpy.QtWidgets import QApplication

from napari_cuts.plugin.widgets import (
    ComponentsWidget,
    CutsPanel,
    EncoderWidget,
    MeasureWidget,
    PickWidget,
    RefineWidget,
    SegmentWidget,
)

PLUGIN = "napari-cuts"
DOCKS = ("All steps (one panel)", "Train encoder", "Segment", "Pick and merge",
         "Scribble refinement", "Ordered components", "Measure regions")


def test_the_panel_holds_every_step_in_workflow_order(make_napari_viewer):
    viewer = make_napari_viewer()
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "All steps (one panel)")
    assert isinstance(panel, CutsPanel)
    titles = [panel.tabs.tabText(i) for i in range(panel.tabs.count())]
    assert titles == ["Train", "Segment", "Pick", "Refine", "Components", "Measure"]
    kinds = [type(panel.tabs.widget(i)) for i in range(panel.tabs.count())]
    assert kinds == [EncoderWidget, SegmentWidget, PickWidget, RefineWidget, ComponentsWidget,
                     MeasureWidget]
    assert panel.minimumWidth() >= panel.tabs.tabBar().sizeHint().width()  # no hidden tab
    viewer.open_sample(PLUGIN, "retina")
    assert panel.steps["Segment"].image.value is viewer.layers["retina"]  # tabs follow layers
    assert panel.show_step("Measure") is panel.tabs.currentWidget()


def test_every_dock_open_fits_1280x800(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.open_sample(PLUGIN, "retina")
    for name in DOCKS:
        viewer.window.add_plugin_dock_widget(PLUGIN, name)
    window = viewer.window._qt_window  # test only: the QMainWindow, to measure it
    window.resize(1280, 800)
    for _ in range(10):
        QApplication.processEvents()
    hint = window.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 800, hint
    qtbot.waitUntil(lambda: window.height() <= 800 and window.width() <= 1280, timeout=5000)
    canvas = viewer.window._qt_viewer.canvas.native.size()
    assert canvas.width() >= 400 and canvas.height() >= 500, canvas  # the image stays usable
