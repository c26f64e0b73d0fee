"""napari dock widgets of napari-cuts (Qt lives here only)."""

from napari_cuts.plugin.widgets.components_widget import ComponentsWidget
from napari_cuts.plugin.widgets.encoder_widget import EncoderWidget
from napari_cuts.plugin.widgets.measure_widget import MeasureWidget
from napari_cuts.plugin.widgets.panel import CutsPanel
from napari_cuts.plugin.widgets.pick_widget import PickWidget
from napari_cuts.plugin.widgets.refine_widget import RefineWidget
from napari_cuts.plugin.widgets.segment_widget import SegmentWidget

__all__ = [
    "ComponentsWidget", "CutsPanel", "EncoderWidget", "MeasureWidget", "PickWidget", "RefineWidget",
    "SegmentWidget",
]
