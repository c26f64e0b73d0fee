"""Per-region measurements and the CSV writer (no Qt)."""

import csv

import numpy as np
import pytest

from napari_cuts.annotation.measure import layer_features, luminance, measure_regions, write_csv
from napari_cuts.formats.errors import CutsInputError

BASE = ["label", "area", "perimeter", "eccentricity", "mean_intensity", "std_intensity",
        "glcm_contrast", "glcm_homogeneity"]


def scene(seed=0):
    rng = np.random.default_rng(seed)
    labels = np.zeros((60, 60), np.uint16)
    labels[5:25, 5:25] = 3  # square, noisy texture
    labels[35:45, 5:55] = 10  # long bar, flat
    img = np.full((60, 60), 200.0)
    img[5:25, 5:25] = rng.integers(0, 255, (20, 20))
    img[35:45, 5:55] = 80.0
    return labels, img


def test_columns_values_and_texture():
    labels, img = scene()
    t = measure_regions(labels, img)
    assert list(t) == BASE
    assert t["label"] == [3, 10] and t["area"] == [400, 500]
    assert t["mean_intensity"][1] == pytest.approx(80.0) and t["std_intensity"][1] == pytest.approx(0.0)
    assert t["mean_intensity"][0] == pytest.approx(img[5:25, 5:25].mean())
    assert t["std_intensity"][0] == pytest.approx(img[5:25, 5:25].std())
    assert t["eccentricity"][0] == pytest.approx(0.0, abs=1e-6) and t["eccentricity"][1] > 0.9
    assert t["perimeter"][1] > t["perimeter"][0]
    # flat bar: no contrast, full homogeneity; noisy square: high contrast
    assert t["glcm_contrast"][1] == pytest.approx(0.0) and t["glcm_homogeneity"][1] == pytest.approx(1.0)
    assert t["glcm_contrast"][0] > 10 and t["glcm_homogeneity"][0] < 0.5


def test_texture_ignores_pixels_outside_the_region():
    labels, img = scene()
    t1 = measure_regions(labels, img)
    img2 = img.copy()
    img2[labels == 0] = np.random.default_rng(5).integers(0, 255, (labels == 0).sum())
    img2[0, 0], img2[-1, -1] = 0, 255  # keep the global range of the quantisation fixed
    img[0, 0], img[-1, -1] = 0, 255
    assert measure_regions(labels, img)["glcm_contrast"] == pytest.approx(
        measure_regions(labels, img2)["glcm_contrast"])
    assert t1["glcm_contrast"][1] == 0.0


def test_multichannel_luminance_and_per_channel_columns():
    labels, gray = scene()
    rgb = np.stack([gray, gray * 0.5, np.zeros_like(gray)], -1).astype(np.uint8)
    t = measure_regions(labels, rgb)
    assert {"mean_intensity_0", "mean_intensity_2", "std_intensity_1"} <= set(t)
    assert t["mean_intensity_1"][1] == pytest.approx(40.0)
    assert t["mean_intensity"][1] == pytest.approx(0.2125 * 80 + 0.7154 * 40)
    chw = np.moveaxis(rgb, -1, 0)  # channels first is accepted too
    assert measure_regions(labels, chw)["mean_intensity_1"] == pytest.approx(t["mean_intensity_1"])
    assert luminance(np.ones((2, 2, 5))).shape == (2, 2)


def test_stack_uses_voxels_and_largest_slice():
    labels, img = scene()
    lab3 = np.stack([labels, labels, np.zeros_like(labels)])
    lab3[1, 35:45, 5:30] = 0  # slice 1 has half the bar
    t = measure_regions(lab3, np.stack([img] * 3))
    assert t["area"] == [800, 750]
    assert t["largest_slice"] == [0, 0]
    t2 = measure_regions(labels, img)
    assert t["perimeter"] == pytest.approx(t2["perimeter"])


def test_single_pixel_region_and_refusals():
    labels = np.zeros((10, 10), np.int32)
    labels[2, 2] = 1
    labels[5:8, 5:8] = 2
    t = measure_regions(labels, np.ones((10, 10)))
    assert np.isnan(t["glcm_contrast"][0]) and t["area"] == [1, 9]
    with pytest.raises(CutsInputError, match="do not fit"):
        measure_regions(labels, np.ones((9, 10)))
    # the one label validator of every face: whole-number floats are labels, others not
    assert measure_regions(labels.astype(float), np.ones((10, 10)))["area"] == [1, 9]
    with pytest.raises(CutsInputError, match="whole numbers"):
        measure_regions(labels + 0.5, np.ones((10, 10)))
    with pytest.raises(CutsInputError, match="negative"):
        measure_regions(-labels, np.ones((10, 10)))
    with pytest.raises(CutsInputError, match="no regions"):  # as the CLI refuses it
        measure_regions(np.zeros((10, 10), np.uint8), np.ones((10, 10)))


def test_write_csv_round_trip_atomic_and_layer_features(tmp_path):
    labels, img = scene()
    t = measure_regions(labels, img)
    path = write_csv(t, tmp_path / "sub" / "m.csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and list(rows[0]) == BASE
    assert int(rows[1]["label"]) == 10 and float(rows[1]["mean_intensity"]) == pytest.approx(80.0)
    assert [p.name for p in path.parent.iterdir()] == ["m.csv"]  # no temporary left
    with pytest.raises(ValueError):
        write_csv({"a": [1, 2], "b": [1]}, tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()
    feats = layer_features(t)
    assert feats["index"] == [3, 10] and feats["area"] == t["area"]
