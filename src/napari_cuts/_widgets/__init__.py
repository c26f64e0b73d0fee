"""napari dock widgets of napari-cuts (Qt lives here only)."""

from .encoder_widget import EncoderWidget
from .segment_widget import SegmentWidget

__all__ = ["EncoderWidget", "SegmentWidget"]
