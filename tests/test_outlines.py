"""Objects' outlines redrawn pixel by pixel (no Qt needed)."""

import numpy as np
from scipy import ndimage

from napari_cuts.encoder import Encoder
from napari_cuts.io import Normalization
from napari_cuts.outlines import redraw_outlines
from napari_cuts.pipeline import SegmentConfig, segment


def object_dice(labels: np.ndarray, truth: np.ndarray) -> float:
    """Mean over objects of the Dice of the region covering most of each."""
    scores = []
    for k in range(1, int(truth.max()) + 1):
        obj = truth == k
        region = labels == np.bincount(labels[obj]).argmax()
        scores.append(2 * (obj & region).sum() / (obj.sum() + region.sum()))
    return float(np.mean(scores))


def discs(n_side=5, size=24, radius=6.5):
    """(1, Y, X) truth of discs on a grid, and a blurred image of them."""
    yy, xx = np.mgrid[: n_side * size, : n_side * size]
    truth = np.zeros(yy.shape, np.int64)
    for i in range(n_side):
        for j in range(n_side):
            cy, cx = size * i + size / 2 + (j % 3) - 1, size * j + size / 2 + (i % 2)
            truth[np.hypot(yy - cy, xx - cx) < radius] = i * n_side + j + 1
    image = ndimage.gaussian_filter((truth > 0).astype(float), 1.0)
    return truth[None], image[None]


def test_blocky_outlines_are_redrawn_along_the_edges():
    truth, image = discs()
    # superpixel-sized blocks: each block takes the object that covers most of it
    blocks = np.arange(truth.size).reshape(truth.shape) // 4 % (truth.shape[2] // 4)
    blocks = blocks + (np.arange(truth.shape[1])[None, :, None] // 4) * (truth.shape[2] // 4)
    owner = np.array([np.bincount(truth[blocks == b]).argmax() for b in range(blocks.max() + 1)])
    instances = owner[blocks]
    labels = instances + 1  # background is region 1, object k region k + 1
    points = image[..., None] * 2.0
    drawn = redraw_outlines(labels, instances, points, 3)
    assert object_dice(drawn[0], truth[0]) > object_dice(labels[0], truth[0]) + 0.05
    assert object_dice(drawn[0], truth[0]) > 0.9
    # every object keeps its region's id, and the background stays one region
    assert set(np.unique(drawn)) == set(np.unique(labels))
    assert (drawn[truth == 0] == 1).mean() > 0.97
    np.testing.assert_array_equal(redraw_outlines(labels, instances, points, 0), labels)
    # objects over `max_pixels` keep their blocky outline; the others are still redrawn
    sizes = np.bincount(instances.ravel())
    cap = int(sizes[1:].max()) - 1  # the largest objects are over it
    kept = redraw_outlines(labels, instances, points, 3, max_pixels=cap)
    large = np.flatnonzero(sizes > cap)
    large = large[large > 0]
    assert len(large) and np.array_equal(kept[instances == large[0]], labels[instances == large[0]])
    small = [k for k in range(1, len(sizes)) if 0 < sizes[k] <= cap]
    assert any((kept[truth == k] != labels[truth == k]).any() for k in small)


def test_an_object_without_a_region_of_its_own_gets_a_new_id():
    truth, image = discs(n_side=2)
    labels = np.ones(truth.shape, np.int64)  # the level lost every object
    drawn = redraw_outlines(labels, truth, image[..., None], 3, next_id=10)
    assert set(np.unique(drawn)) == {1, 10, 11, 12, 13}
    assert object_dice(drawn[0], truth[0]) > 0.9


def test_noise_inside_an_object_makes_no_holes():
    truth, image = discs(n_side=2, size=40, radius=12)
    image = image.copy()
    image[truth > 0] -= 0.9 * (np.random.default_rng(0).random(int((truth > 0).sum())) < 0.05)  # dark specks
    labels = np.where(truth > 0, truth + 1, 1)
    drawn = redraw_outlines(labels, truth, image[..., None], 3)
    deep = ndimage.distance_transform_edt(truth[0] > 0) > 3
    assert (drawn[0][deep] == labels[0][deep]).all()  # the specks deep inside stay in their object
    assert object_dice(drawn[0], truth[0]) > 0.95


def nuclei_stack(seed=0):
    """A (16, 64, 64) stack of blurred touching ellipsoids (blur coarser in z) and its truth."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:16, :64, :64]
    truth = np.zeros(z.shape, np.int64)
    k = 0
    for cy in range(8, 64, 14):
        for cx in range(8, 64, 14):
            k += 1
            cz = 8 + rng.uniform(-2, 2)
            inside = ((z - cz) / 4.5) ** 2 + ((y - cy - rng.uniform(-1, 1)) / 6.5) ** 2 \
                + ((x - cx - rng.uniform(-1, 1)) / 6.5) ** 2 < 1
            truth[inside & (truth == 0)] = k
    bright = rng.uniform(0.6, 1.0, k + 1)
    bright[0] = 0.1
    image = ndimage.gaussian_filter(bright[truth], (1.5, 0.8, 0.8)) + rng.normal(0, 0.02, z.shape)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8), truth


def test_the_objects_level_of_a_stack_follows_the_nuclei_voxel_by_voxel():
    image, truth = nuclei_stack()
    enc = Encoder.create(1, Normalization(np.zeros(1, np.float32), np.full(1, 255, np.float32)), seed=0)
    scores = {}
    for reach in (0, 3):
        seg = segment(enc, image, SegmentConfig(vector_weight=0, outline_reach=reach), is_stack=True)
        default = seg.level(seg.default_level)
        assert default.shape == image.shape and seg.hierarchy.kinds[seg.default_level] == "objects"
        assert (reach > 0) == (seg.default_level in seg.pixel_levels)
        assert seg.n_regions[seg.default_level] == len(np.unique(default))
        scores[reach] = object_dice(default, truth)
    assert scores[3] > scores[0] + 0.1, scores
