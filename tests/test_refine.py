"""Scribble refinement on CUTS vectors (no Qt)."""

import numpy as np
import pytest
import torch

from napari_cuts.annotation.refine import (
    RefineConfig,
    ScribbleRefiner,
    build_features,
    fit_predict,
    refine,
    refine_iter,
)
from napari_cuts.engine.encoder import Encoder
from napari_cuts.engine.pipeline import Progress
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.images import Normalization

torch.set_num_threads(1)


def untrained(channels=1, seed=0):
    return Encoder.create(channels, Normalization(np.zeros(channels, np.float32),
                                                  np.full(channels, 255, np.float32)), seed=seed)


def two_textures(h=64, w=64, seed=0):
    """Left half: strong noise; right half: faint noise. Same mean brightness."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    truth = (xx >= w // 2).astype(np.uint8) + 1  # classes 1 (left) and 2 (right)
    img = 128 + np.where(truth == 1, rng.normal(0, 50, (h, w)), rng.normal(0, 5, (h, w)))
    return np.clip(img, 0, 255).astype(np.uint8), truth


def oriented_stripes(h=64, w=64):
    """Left half: vertical stripes; right half: horizontal stripes (same histogram)."""
    yy, xx = np.mgrid[:h, :w]
    truth = (xx >= w // 2).astype(np.uint8) + 1
    img = 128 + 60 * np.sign(np.sin(np.where(truth == 1, xx, yy) * np.pi / 3 + 0.3))
    return img.astype(np.uint8), truth


def scribble(truth, per_class=20, margin=6, seed=1):
    rng = np.random.default_rng(seed)
    s = np.zeros(truth.shape, np.uint8)
    h, w = truth.shape
    for c, (x0, x1) in [(1, (margin, w // 2 - margin)), (2, (w // 2 + margin, w - margin))]:
        s[rng.integers(0, h, per_class), rng.integers(x0, x1, per_class)] = c
    return s


def test_refine_beats_chance_on_two_textures():
    img, truth = two_textures()
    s = scribble(truth)
    assert 30 <= (s > 0).sum() <= 40  # about 20 pixels per class
    labels = refine(untrained(), img, s)
    assert labels.shape == truth.shape and set(np.unique(labels)) <= {1, 2}
    accuracy = (labels == truth).mean()
    assert accuracy > 0.9, accuracy


def test_refine_tells_oriented_textures_apart():
    img, truth = oriented_stripes()
    accuracy = (refine(untrained(), img, scribble(truth)) == truth).mean()
    assert accuracy > 0.75, accuracy


def test_refiner_reuses_features_is_deterministic_and_uses_class_values():
    img, truth = two_textures()
    refiner = ScribbleRefiner.from_image(untrained(), img)
    s = scribble(truth)
    a = refiner.predict(s)
    b = refiner.predict(s)
    assert np.array_equal(a, b)
    s7 = np.where(s == 2, 7, s).astype(np.uint16)  # class values need not be 1..K
    c = refiner.predict(s7)
    assert set(np.unique(c)) == {1, 7} and np.array_equal(c == 7, a == 2)
    labels, proba = refiner.predict(s, return_probabilities=True)
    assert proba.shape == truth.shape + (2,)
    np.testing.assert_allclose(proba.sum(-1), 1, atol=1e-5)
    assert np.array_equal(labels, np.where(proba[..., 1] > proba[..., 0], 2, 1))


def test_more_scribbles_help_and_mlp_works():
    img, truth = two_textures(seed=3)
    refiner = ScribbleRefiner.from_image(untrained(), img, config=RefineConfig(classifier="mlp", iterations=200))
    acc = (refiner.predict(scribble(truth, per_class=20)) == truth).mean()
    assert acc > 0.8, acc


def test_fit_predict_on_given_features_and_scribble_pixels_keep_their_class():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(30, 40, 3)).astype(np.float32)
    truth = (feats[..., 0] > 0).astype(np.uint8) + 1
    s = np.zeros((30, 40), np.uint8)
    idx = rng.choice(truth.size, 80, replace=False)
    s.flat[idx] = truth.flat[idx]
    labels = fit_predict(feats.astype(np.float64), s)
    assert (labels == truth).mean() > 0.9
    assert np.mean(labels.flat[idx] == truth.flat[idx]) > 0.95


def test_generator_reports_progress_and_can_be_cancelled():
    img, truth = two_textures(32, 32)
    gen = refine_iter(untrained(), img, scribble(truth, 10, margin=3))
    stages = []
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            labels = stop.value
            break
        assert isinstance(p, Progress) and 0 <= p.done <= p.total
        stages.append(p.stage)
    assert labels.shape == (32, 32)
    assert {"embedding", "training", "predicting"} <= set(stages)
    calls = []
    assert refine(untrained(), img, scribble(truth, 10, margin=3),
                  should_stop=lambda: len(calls) > 2, progress=calls.append) is None
    assert len(calls) == 3


def test_stack_and_level_features():
    img, truth = two_textures(32, 32)
    stack = np.stack([img, img[:, ::-1]])
    truth3 = np.stack([truth, truth[:, ::-1]])
    s = np.zeros(stack.shape, np.uint8)
    s[0] = scribble(truth, 10, margin=3)
    level = np.stack([truth, truth[:, ::-1]]).astype(np.uint16)  # a perfect "level"
    labels = refine(untrained(), stack, s, levels=[level], is_stack=True)
    assert labels.shape == stack.shape
    assert (labels == truth3).mean() > 0.95  # the level's region features carry it
    onehot = build_features(np.zeros((1, 32, 32, 4), np.float32), levels=level[:1],
                            config=RefineConfig(level_encoding="onehot", smoothing=0))
    assert onehot.shape == (1, 32, 32, 4 + 2)


def test_refusals():
    img, truth = two_textures(32, 32)
    one_class = np.zeros((32, 32), np.uint8)
    one_class[5, 5] = 1
    with pytest.raises(CutsInputError, match="two classes"):
        refine(untrained(), img, one_class)
    with pytest.raises(CutsInputError, match="shape"):
        refine(untrained(), img, np.zeros((31, 32), np.uint8))
    with pytest.raises(CutsInputError, match="channel"):
        refine(untrained(3), img, scribble(truth, 5, margin=3))
    with pytest.raises(CutsInputError):
        RefineConfig(classifier="forest")


def test_vote_in_regions_snaps_to_region_boundaries():
    from napari_cuts.annotation.refine import vote_in_regions

    regions = np.repeat(np.array([[1, 1, 2, 2, 3, 3]]), 4, axis=0)
    proba = np.zeros(regions.shape + (2,))
    proba[..., 0] = 0.6
    proba[..., 1] = 0.4
    proba[:, 2, :] = [0.1, 0.9]  # one column of region 2 is sure of class 1
    proba[:, 4:, :] = [0.3, 0.7]
    out = vote_in_regions(proba, regions)
    assert out.shape == regions.shape
    assert (out[regions == 1] == 0).all()
    assert (out[regions == 2] == 1).all() and (out[regions == 3] == 1).all()


def test_snap_to_levels_picks_scribbled_regions_at_the_agreeing_level():
    from napari_cuts.annotation.refine import snap_to_levels

    h = w = 40
    yy, xx = np.mgrid[:h, :w]
    lesion = (yy - 20) ** 2 + (xx - 20) ** 2 < 8**2
    coarse = np.where(xx < 20, 1, 2)  # too coarse: the lesion is half of each region
    fitting = np.where(lesion, 2, 1)  # the lesion is one region
    fine = fitting + 2 * (yy >= 30)  # the background split in two
    levels = np.stack([coarse, fitting, fine]).astype(np.uint16)
    proba = np.stack([~lesion, lesion], -1).astype(float) * 0.8 + 0.1  # a classifier that is right
    scr = np.zeros((h, w), np.uint8)
    scr[20, 18:23] = 2
    scr[5, 5:10] = 1
    labels, level = snap_to_levels(proba, levels, scr, [1, 2])
    assert level == 1
    np.testing.assert_array_equal(labels, np.where(lesion, 2, 1))
    assert labels.dtype == np.uint8
    # regions without strokes take the background class, whatever the classifier says
    proba_wrong = proba.copy()
    proba_wrong[35:, :, :] = [0.1, 0.9]
    labels, _ = snap_to_levels(proba_wrong, levels, scr, [1, 2])
    assert not (labels[36:] == 2).any()
    with pytest.raises(CutsInputError):
        snap_to_levels(proba, levels[:, :30], scr, [1, 2])
