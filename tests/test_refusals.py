"""Hostile input at the command line: every case refused in one line, exit 1, nothing written.

Crafted encoder files, unbounded arguments, non-finite pixels and inputs too large for
memory (from the file's header, before anything is decoded or trained).
"""

from __future__ import annotations

import copy
import lzma
from pathlib import Path

import numpy as np
import pytest
import skimage.io
import tifffile
import torch

from napari_cuts.cli.main import main
from napari_cuts.engine.encoder import Encoder
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.images import Normalization, image_header, read_image

FAST = ["--epochs", "1", "--steps-per-epoch", "2", "--no-progress"]


def files_in(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


def refused(argv: list[str], capsys, folder: Path, *, says: str) -> str:
    """Run the CLI; it must exit 1 with one line naming the problem and write nothing."""
    before = files_in(folder)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 1, err
    assert len(lines) == 1, err
    assert lines[0].startswith("napari-cuts: error: "), err
    assert says in lines[0], err
    assert files_in(folder) == before, "a refused command must write nothing"
    return lines[0]


@pytest.fixture
def photo(tmp_path) -> str:
    rng = np.random.default_rng(0)
    img = rng.normal(90, 10, (40, 40, 3))
    img[8:24, 10:30] += 90
    path = tmp_path / "photo.png"
    skimage.io.imsave(path, np.clip(img, 0, 255).astype(np.uint8), check_contrast=False)
    return str(path)


@pytest.fixture(scope="module")
def huge_tiff(tmp_path_factory) -> str:
    """A 6 MB LZMA TIFF of 200000x200000 pixels (40 GB decoded), like a compressed bomb."""
    path = tmp_path_factory.mktemp("huge") / "huge.tif"
    shape, tile = (200_000, 200_000), (8192, 8192)
    n_tiles = -(-shape[0] // tile[0]) * -(-shape[1] // tile[1])
    encoded = lzma.compress(bytes(tile[0] * tile[1]))
    tifffile.imwrite(path, data=(encoded for _ in range(n_tiles)), shape=shape, dtype="uint8",
                     tile=tile, compression="lzma", bigtiff=True)
    return str(path)


# ----------------------------------------------------------------------------- encoder files

def _state() -> dict:
    norm = Normalization(np.zeros(3, np.float32), np.ones(3, np.float32))
    return Encoder.create(3, norm).state()


def _nan_weights(s):
    s["network"]["convs.0.weight"][0, 0, 0, 0] = float("nan")


CRAFTED = {
    "missing key": (lambda s: s.pop("normalization"), "'normalization'"),
    "field type": (lambda s: s.update(in_channels="3"), "'in_channels' must be a whole number"),
    "version type": (lambda s: s.update(format_version="1"), "'format_version'"),
    "negative channels": (lambda s: s.update(base_channels=-16), "'base_channels' is -16"),
    "normalisation length": (lambda s: s.update(normalization={"low": [0.0], "high": [1.0]}),
                             "normalisation 'low' must be 3"),
    "zero intensity span": (lambda s: s.update(normalization={"low": [0.5] * 3, "high": [0.5] * 3}),
                            "intensity span"),
    "huge architecture": (lambda s: s.update(in_channels=1024, base_channels=256,
                                             normalization={"low": [0.0] * 1024, "high": [1.0] * 1024}),
                          "weights (at most"),
    "NaN weights": (_nan_weights, "NaN or infinite weights"),
    "missing tensor": (lambda s: s["decoder"].pop("layers.2.bias"), "missing layers.2.bias"),
    "wrong shape": (lambda s: s["network"].update({"convs.1.weight": torch.zeros(2, 2)}), "should have shape"),
    "not a table": (lambda s: s.update(network=[1, 2]), "'network' must hold tensors"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_encoder_files_are_refused_before_anything_is_built(case, tmp_path, photo, capsys):
    mutate, says = CRAFTED[case]
    state = copy.deepcopy(_state())
    mutate(state)
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    line = refused(["segment", photo, "-e", str(bad), "-o", str(tmp_path / "out"), "--no-progress"],
                   capsys, tmp_path, says=says)
    assert "not a napari-cuts encoder file" in line


def test_garbage_and_newer_encoder_files(tmp_path, photo, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a zip" * 100)
    refused(["segment", photo, "-e", str(junk), "-o", str(tmp_path / "o")], capsys, tmp_path,
            says="not a napari-cuts encoder file")
    newer = tmp_path / "newer.pt"
    state = _state()
    state["format_version"] = 99
    torch.save(state, newer)
    refused(["segment", photo, "-e", str(newer), "-o", str(tmp_path / "o")], capsys, tmp_path,
            says="newer napari-cuts")


# ----------------------------------------------------------------------------- arguments

@pytest.mark.parametrize("argv, says", [
    (["--workers", "0"], "--workers must be between 1 and"),
    (["--workers", "-2"], "--workers must be between 1 and"),
    (["--workers", "100000"], "--workers must be between 1 and"),
    (["--scheduler", "not a url"], "--scheduler must be an address like tcp://host:8786"),
    (["--scheduler", "http://host:8786"], "unknown protocol 'http'"),
    (["--scheduler", "tcp://host"], "needs a host and a port"),
])
def test_parallel_arguments_are_bounded(argv, says, tmp_path, photo, capsys):
    enc = tmp_path / "enc.pt"
    torch.save(_state(), enc)
    refused(["segment", photo, "-e", str(enc), "-o", str(tmp_path / "out"), *argv], capsys,
            tmp_path, says=says)


@pytest.mark.parametrize("command", ["fit", "run", "segment"])
def test_empty_output_is_refused(command, tmp_path, photo, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    extra = ["-e", "enc.pt", "--no-progress"] if command == "segment" else FAST
    if command == "segment":
        torch.save(_state(), tmp_path / "enc.pt")
    refused([command, photo, "-o", "", *extra], capsys, tmp_path, says="output path is empty")


def test_outputs_that_cannot_be_written_are_refused_before_work(tmp_path, photo, capsys):
    (tmp_path / "a_folder").mkdir()
    refused(["fit", photo, "-o", str(tmp_path / "a_folder"), *FAST], capsys, tmp_path,
            says="is a folder")
    (tmp_path / "a_file").write_text("x")
    refused(["run", photo, "-o", str(tmp_path / "a_file"), *FAST], capsys, tmp_path, says="is a file")
    refused(["fit", photo, "-o", str(tmp_path / "a_file" / "enc.pt"), *FAST], capsys, tmp_path,
            says="is not a folder")


# ----------------------------------------------------------------------------- pixels

def _float_image(tmp_path: Path, name: str, fill=None) -> str:
    rng = np.random.default_rng(1)
    img = rng.normal(0.3, 0.02, (40, 40)).astype(np.float32)
    img[8:24, 10:30] += 0.5
    if fill is not None:
        fill(img)
    path = tmp_path / name
    tifffile.imwrite(path, img)
    return str(path)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_an_image_without_a_finite_pixel_is_refused(value, tmp_path, capsys):
    path = _float_image(tmp_path, "blank.tif", fill=lambda a: a.fill(value))
    refused(["run", path, "-o", str(tmp_path / "out"), *FAST], capsys, tmp_path,
            says="no finite pixel")


def test_nan_pixels_are_missing_not_fatal(tmp_path, capsys):
    """One NaN pixel used to give one region for the whole image, silently."""
    def holes(a):
        a[0, 0] = np.nan
        a[30, 5] = np.inf

    path = _float_image(tmp_path, "holes.tif", fill=holes)
    out = tmp_path / "out"
    assert main(["run", path, "-o", str(out), *FAST]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["napari-cuts: warning: 2 of 1600 pixels are NaN or infinite; they are treated "
                   "as missing (left out of normalisation and clustering, label 0)"]
    levels = tifffile.imread(out / "holes.cuts")
    assert max(len(np.unique(level)) for level in levels) > 2, "the finite pixels must be segmented"


# ----------------------------------------------------------------------------- memory

def test_a_compressed_bomb_is_refused_from_its_header(huge_tiff, tmp_path, capsys):
    assert image_header(huge_tiff) == ((200_000, 200_000), np.dtype(np.uint8))
    with pytest.raises(CutsInputError, match="40.0 GB decoded"):
        read_image(huge_tiff)
    folder = Path(huge_tiff).parent
    refused(["fit", huge_tiff, "-o", str(folder / "enc.pt"), *FAST], capsys, folder,
            says="training on this image needs about")
    refused(["run", huge_tiff, "-o", str(folder / "out"), *FAST], capsys, folder,
            says="training on this image needs about")
    enc = tmp_path / "enc.pt"
    torch.save(Encoder.create(1, Normalization(np.zeros(1, np.float32), np.ones(1, np.float32))).state(), enc)
    refused(["segment", huge_tiff, "-e", str(enc), "-o", str(folder / "out")], capsys, folder,
            says="GB to segment")


def test_run_checks_segmentation_memory_before_training(tmp_path, capsys):
    """An image that trains in memory but would not segment is refused before training."""
    path = tmp_path / "wide.tif"
    shape, tile = (60_000, 60_000), (4096, 4096)
    n_tiles = -(-shape[0] // tile[0]) * -(-shape[1] // tile[1])
    encoded = lzma.compress(bytes(tile[0] * tile[1]))
    tifffile.imwrite(path, data=(encoded for _ in range(n_tiles)), shape=shape, dtype="uint8",
                     tile=tile, compression="lzma", bigtiff=True)
    from napari_cuts.engine.pipeline import SegmentConfig, estimate_memory
    from napari_cuts.formats.preflight import estimate_training_memory

    volume = (1, *shape, 1)
    assert estimate_training_memory([(volume, np.dtype(np.uint8))]) < estimate_memory(volume, SegmentConfig())
    line = refused(["run", str(path), "-o", str(tmp_path / "out"), *FAST], capsys, tmp_path,
                   says="needs about")
    assert "encoder.pt" not in line


def _label(name: str) -> str:
    """A config field's name for people, as its messages give it."""
    from napari_cuts.config import SegmentConfig, TrainingConfig
    from napari_cuts.parameters import parameters

    return next(p.label for cls in (TrainingConfig, SegmentConfig) for p in parameters(cls)
                if p.name == name)


@pytest.mark.parametrize("field, value, says", [
    ("seed", "-1", "must not be negative, got -1 (allowed: 0 to 2147483647)"),
    ("seed", "99999999999", "out of range: 99999999999 (allowed: 0 to 2147483647)"),
    ("patch_size", "101", "out of range: 101 (allowed: 1 to 31)"),  # memory grows as p**4
    ("base_channels", "1000", "out of range: 1000 (allowed: 1 to 64)"),
    ("region_weight", "nan", "must be a finite number, got nan"),
    ("intensity_weight", "inf", "must be a finite number, got inf"),
    ("whiten", "nan", "must be a finite number, got nan"),
    # the old --max-regions 0 / negative: the fields that bound how many regions are shown
    ("fine_levels", "0", "out of range: 0 (allowed: 1 to 64)"),
    ("max_levels", "-3", "out of range: -3 (allowed: 1 to 64)"),
    ("n_salient", "0", "out of range: 0 (allowed: 1 to 64)"),
    ("pixels_per_node", "0", "out of range: 0 (allowed: 4 to 100000)"),
])
def test_config_values_are_refused_before_any_work(field, value, says, tmp_path, photo, capsys):
    """The config fields' own bounds (config.py), as the command line applies them: one
    line naming the parameter and the allowed range, exit 1, nothing written (not even the
    encoder, which 'run' trains first)."""
    flag = "--" + field.replace("_", "-")
    refused(["run", photo, "-o", str(tmp_path / "out"), *FAST, flag, value], capsys, tmp_path,
            says=f"error: {_label(field)} {says}")
