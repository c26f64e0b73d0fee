"""Dock widget: the whole workflow in one panel, one tab per step.

Each step is its own dock widget (its own file); the panel only puts them side by side
in tabs, so the workflow fits a small screen. Every tab scrolls when the window is short.
"""

from __future__ import annotations

from qtpy.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from napari_cuts.plugin.widgets._common import tab_with_other_docks
from napari_cuts.plugin.widgets.components_widget import ComponentsWidget
from napari_cuts.plugin.widgets.encoder_widget import EncoderWidget
from napari_cuts.plugin.widgets.measure_widget import MeasureWidget
from napari_cuts.plugin.widgets.pick_widget import PickWidget
from napari_cuts.plugin.widgets.refine_widget import RefineWidget
from napari_cuts.plugin.widgets.segment_widget import SegmentWidget

#: (tab title, widget class, tooltip) in the order of the workflow
STEPS = (
    ("Train", EncoderWidget, "Train (or load) the encoder on an image"),
    ("Segment", SegmentWidget, "Segment with the encoder and browse the levels"),
    ("Pick", PickWidget, "Click regions of a level into an annotation"),
    ("Refine", RefineWidget, "Scribble a few strokes per class; every pixel is labelled"),
    ("Components", ComponentsWidget, "Split a mask into ordered, named objects"),
    ("Measure", MeasureWidget, "Measure shape, intensity and texture of regions"),
)


class CutsPanel(QWidget):
    """Train, segment, annotate and measure in one dock (tabs)."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.tabs = QTabWidget(self)
        self.tabs.setUsesScrollButtons(True)
        self.steps: dict[str, QWidget] = {}
        for title, cls, tooltip in STEPS:
            widget = cls(napari_viewer)
            self.steps[title] = widget
            index = self.tabs.addTab(widget, title)
            self.tabs.setTabToolTip(index, tooltip)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.setMinimumWidth(self.tabs.tabBar().sizeHint().width())  # every tab title shows
        tab_with_other_docks(self)
        # After training, the next step is segmenting.
        self.steps["Train"].state.changed.connect(self._after_training)

    def reset_choices(self, *_args) -> None:
        """napari calls this when layers change; every tab refreshes its layer lists."""
        for widget in self.steps.values():
            widget.reset_choices()

    def show_step(self, title: str) -> QWidget:
        """Bring the tab `title` to the front; returns its widget."""
        widget = self.steps[title]
        self.tabs.setCurrentWidget(widget)
        return widget

    def _after_training(self, encoder) -> None:
        if encoder is not None and self.tabs.currentWidget() is self.steps["Train"]:
            self.show_step("Segment")
