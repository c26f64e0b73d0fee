"""Sample data for File > Open Sample > napari-cuts (no downloads)."""

from __future__ import annotations

from napari_cuts.samples import retina_sample, texture_mosaic


def retina() -> list[tuple]:
    """scikit-image's fundus photograph as an RGB image layer."""
    return [(retina_sample(), {"name": "retina", "rgb": True}, "image")]


def mosaic() -> list[tuple]:
    """A brick/grass/gravel texture mosaic and its ground truth as a labels layer."""
    image, truth = texture_mosaic()
    return [
        (image, {"name": "texture mosaic"}, "image"),
        (truth, {"name": "texture mosaic truth", "opacity": 0.4, "visible": False}, "labels"),
    ]
