"""napari dock widgets of napari-cuts (Qt lives here only)."""

from .components_widget import ComponentsWidget
from .encoder_widget import EncoderWidget
from .measure_widget import MeasureWidget
from .panel import CutsPanel
from .pick_widget import PickWidget
from .refine_widget import RefineWidget
from .segment_widget import SegmentWidget

__all__ = [
    "ComponentsWidget", "CutsPanel", "EncoderWidget", "MeasureWidget", "PickWidget", "RefineWidget",
    "SegmentWidget",
]
