"""Quality: CUTS recovers the regions of a texture mosaic (trains a real encoder)."""

import numpy as np
import torch

from napari_cuts.engine.pipeline import SegmentConfig, fit, segment
from napari_cuts.engine.training import TrainingConfig
from napari_cuts.samples import texture_mosaic


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def dice_at(seg, level: int, truth: np.ndarray, label: int) -> float:
    """The paper's protocol: the region covering most of the truth is the prediction."""
    mask = truth == label
    labels = seg.level(level)
    region = np.bincount(labels[mask]).argmax()
    return dice(labels == region, mask)


def best_level_dice(seg, truth: np.ndarray, label: int) -> float:
    return max(dice_at(seg, level, truth, label) for level in range(seg.n_levels))


def test_mosaic_regions_are_recovered():
    image, truth = texture_mosaic(128)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small crops: one thread is as fast and immune to contention
    try:
        encoder = fit([image], TrainingConfig(epochs=5, seed=0))
        seg = segment(encoder, image, SegmentConfig())  # defaults: texture statistics on
    finally:
        torch.set_num_threads(threads)
    scores = {label: best_level_dice(seg, truth, label) for label in (1, 2, 3)}
    # 0.89-0.95 per texture with basins as the nodes
    assert all(score >= 0.85 for score in scores.values()), scores
