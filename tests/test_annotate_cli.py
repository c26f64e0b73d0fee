"""CLI refine, components and measure, end to end in a temporary folder (no Qt)."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from napari_cuts.cli.main import main
from napari_cuts.engine.encoder import Encoder, save_encoder
from napari_cuts.formats.images import Normalization
from napari_cuts.formats.writing import read_labels_tiff, save_labels_tiff

torch.set_num_threads(1)
SCRIPT = Path(sys.executable).with_name("napari-cuts")


def blobs_top_to_bottom(n=5, shape=(140, 60)):
    mask = np.zeros(shape, np.uint8)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for k in range(n):
        y = 14 + 27 * k
        mask[(yy - y) ** 2 / 100 + (xx - 30 - 2 * k) ** 2 / 225 <= 1] = 1
    mask[0, 0] = 1  # a speck
    return mask


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_components_names_blobs_from_the_top(tmp_path, capsys):
    mask = blobs_top_to_bottom()
    tifffile.imwrite(tmp_path / "spine.tif", mask)
    out = tmp_path / "out"
    code = main(["components", str(tmp_path / "spine.tif"), "--names", "A,B,C,D,E",
                 "-o", str(out), "--min-size", "5", "--no-progress"])
    assert code == 0
    assert "5 components (A, B, C, D, E)" in capsys.readouterr().out
    labels = read_labels_tiff(out / "spine.components.tif")
    rows = read_csv(out / "spine.components.csv")
    assert len(rows) == 5 and labels.max() == 5 and labels[0, 0] == 0
    assert [r["name"] for r in rows] == ["A", "B", "C", "D", "E"]
    ys = [float(r["centroid_y"]) for r in rows]
    assert ys == sorted(ys) and ys[0] < 20  # A is the top blob
    assert labels[14, 30] == 1 and labels[14 + 27 * 4, 38] == 5
    assert {"id", "area", "centroid_x", "bbox_y0", "bbox_x1", "orientation"} <= set(rows[0])


def test_components_console_script_ranges_and_errors(tmp_path):
    mask = blobs_top_to_bottom(4)
    np.save(tmp_path / "m.npy", mask)
    res = subprocess.run([str(SCRIPT), "components", str(tmp_path / "m.npy"), "--names", "T1-T3",
                          "--min-size", "5", "-o", str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert [r["name"] for r in read_csv(tmp_path / "m.components.csv")] == ["T1", "T2", "T3", "4"]
    res = subprocess.run([str(SCRIPT), "components", str(tmp_path / "m.npy"), "--min-size", "100000",
                          "-o", str(tmp_path / "x")], capture_output=True, text=True)
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and "no components" in res.stderr


def test_measure_one_row_per_region(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    labels = np.zeros((40, 50), np.uint8)
    labels[2:12, 2:20] = 1
    labels[20:35, 5:15] = 2
    labels[25:38, 30:48] = 7
    tifffile.imwrite(tmp_path / "img.tif", img)
    save_labels_tiff(tmp_path / "lab.tif", labels)
    assert main(["measure", str(tmp_path / "img.tif"), str(tmp_path / "lab.tif"),
                 "-o", str(tmp_path / "m.csv"), "--no-progress"]) == 0
    rows = read_csv(tmp_path / "m.csv")
    assert [int(r["label"]) for r in rows] == [1, 2, 7]
    for col in ["area", "perimeter", "eccentricity", "mean_intensity", "std_intensity",
                "glcm_contrast", "glcm_homogeneity", "mean_intensity_0", "std_intensity_2"]:
        assert col in rows[0]
    assert [int(r["area"]) for r in rows] == [180, 150, 234]
    assert float(rows[2]["mean_intensity_1"]) == pytest.approx(img[labels == 7][:, 1].mean())


def test_measure_levels_file_needs_a_level(tmp_path, capsys):
    img = np.random.default_rng(1).integers(0, 255, (30, 30), dtype=np.uint8)
    levels = np.stack([np.ones((30, 30), np.uint8), np.repeat(np.arange(1, 4, dtype=np.uint8), 10)[None].repeat(30, 0)])
    tifffile.imwrite(tmp_path / "img.tif", img)
    save_labels_tiff(tmp_path / "img.cuts.tif", levels, levels=True)
    args = ["measure", str(tmp_path / "img.tif"), str(tmp_path / "img.cuts.tif"), "-o", str(tmp_path / "m.csv")]
    assert main(args + ["--no-progress"]) == 1
    assert "--level" in capsys.readouterr().err
    assert main(args + ["--level", "1", "--no-progress"]) == 0
    assert len(read_csv(tmp_path / "m.csv")) == 3


def test_refine_cli(tmp_path, capsys):
    h = w = 48
    yy, xx = np.mgrid[:h, :w]
    truth = (xx >= w // 2).astype(np.uint8) + 1
    noise = np.random.default_rng(0).integers(0, 20, (h, w)).astype(np.uint8)
    img = np.where(truth == 1, 60, 190).astype(np.uint8) + noise
    tifffile.imwrite(tmp_path / "img.tif", img)
    rng = np.random.default_rng(2)
    scr = np.zeros((h, w), np.uint8)
    scr[rng.integers(0, h, 20), rng.integers(2, 18, 20)] = 1
    scr[rng.integers(0, h, 20), rng.integers(30, 46, 20)] = 2
    tifffile.imwrite(tmp_path / "scr.tif", scr)
    enc = Encoder.create(1, Normalization(np.zeros(1, np.float32), np.full(1, 255, np.float32)))
    save_encoder(enc, tmp_path / "enc.pt")
    code = main(["refine", str(tmp_path / "img.tif"), "--scribbles", str(tmp_path / "scr.tif"),
                 "-e", str(tmp_path / "enc.pt"), "-o", str(tmp_path / "out.tif"), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    out = read_labels_tiff(tmp_path / "out.tif")
    assert out.shape == (h, w) and (out == truth).mean() > 0.85
    # snapped to the regions of given levels
    levels = np.stack([np.ones((h, w)), truth, truth + 2 * (yy > 30)]).astype(np.uint8)
    save_labels_tiff(tmp_path / "img.cuts.tif", levels, levels=True)
    base = ["refine", str(tmp_path / "img.tif"), "--scribbles", str(tmp_path / "scr.tif"),
            "-e", str(tmp_path / "enc.pt"), "-o", str(tmp_path / "snap.tif"), "--no-progress"]
    assert main(base + ["--snap"]) == 1 and "--levels" in capsys.readouterr().err
    assert main(base + ["--snap", "--levels", str(tmp_path / "img.cuts.tif")]) == 0
    snapped = read_labels_tiff(tmp_path / "snap.tif")
    np.testing.assert_array_equal(snapped, truth)
    # one class only: a user mistake, one line, exit 1
    tifffile.imwrite(tmp_path / "one.tif", np.where(scr == 2, 0, scr))
    code = main(["refine", str(tmp_path / "img.tif"), "--scribbles", str(tmp_path / "one.tif"),
                 "-e", str(tmp_path / "enc.pt"), "-o", str(tmp_path / "o2.tif"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "two classes" in err and not (tmp_path / "o2.tif").exists()
    # scribbles of the wrong size
    tifffile.imwrite(tmp_path / "small.tif", scr[:40])
    assert main(["refine", str(tmp_path / "img.tif"), "--scribbles", str(tmp_path / "small.tif"),
                 "-e", str(tmp_path / "enc.pt"), "-o", str(tmp_path / "o3.tif"), "--no-progress"]) == 1
    assert "does not fit" in capsys.readouterr().err
