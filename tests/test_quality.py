"""Quality: CUTS recovers the regions of a texture mosaic (trains a real encoder)."""

import numpy as np
import torch

from napari_cuts.pipeline import SegmentConfig, fit, segment
from napari_cuts.samples import texture_mosaic
from napari_cuts.training import TrainingConfig


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def best_level_dice(seg, truth: np.ndarray, label: int) -> float:
    """The paper's protocol: per level, the region covering most of the truth is the prediction."""
    mask = truth == label
    scores = []
    for level in range(seg.n_levels):
        labels = seg.level(level)
        region = np.bincount(labels[mask]).argmax()
        scores.append(dice(labels == region, mask))
    return max(scores)


def test_mosaic_regions_are_recovered():
    image, truth = texture_mosaic(128)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small crops: one thread is as fast and immune to contention
    try:
        encoder = fit([image], TrainingConfig(epochs=5, seed=0))
        # Texture preset: pooled vectors, top components unscaled, little weight on raw
        # intensities and position (the grass region is large and not convex).
        seg = segment(encoder, image, SegmentConfig(smoothing=1.0, whiten=0.0, pca_dims=16,
                                                    intensity_weight=0.5, spatial_weight=2.0))
    finally:
        torch.set_num_threads(threads)
    scores = {label: best_level_dice(seg, truth, label) for label in (1, 2, 3)}
    assert all(score >= 0.9 for score in scores.values()), scores
