"""The napari-cuts command line, end to end in a temporary folder."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.io
import tifffile

from napari_cuts.cli.main import main

FAST = ["--epochs", "1", "--steps-per-epoch", "3", "--no-progress"]


def make_images(folder: Path) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):
        img = rng.normal(90, 10, (48, 48, 3))
        img[10 + i : 30, 8:28] += 100
        path = folder / f"img{i}.png"
        skimage.io.imsave(path, np.clip(img, 0, 255).astype(np.uint8), check_contrast=False)
        paths.append(str(path))
    stack = rng.normal(50, 5, (3, 40, 40))
    stack[:, 10:25, 10:25] += 100
    np.save(folder / "stack.npy", stack.astype(np.float32))
    tifffile.imwrite(folder / "gray.tif", (stack[0] * 100).astype(np.uint16))
    return paths


def check_outputs(outdir: Path, stem: str, spatial: tuple) -> dict:
    levels = tifffile.imread(outdir / f"{stem}.cuts")
    meta = json.loads((outdir / f"{stem}.cuts.json").read_text())
    assert levels.shape == (len(meta["levels"]),) + spatial
    # the smallest unsigned type that holds the largest id (ids are kept across levels of
    # different kinds, so they may exceed a level's region count)
    fits = [t for t in (np.uint8, np.uint16, np.uint32) if levels.max() <= np.iinfo(t).max]
    assert levels.dtype == fits[0]
    assert isinstance(meta["default_level"], int)
    assert 0 <= meta["default_level"] < len(meta["levels"])
    counts = [lvl["n_regions"] for lvl in meta["levels"]]
    assert counts == sorted(counts)  # coarse -> fine
    assert counts == [len(np.unique(level)) for level in levels]
    assert all(isinstance(lvl["salient"], bool) for lvl in meta["levels"])
    return meta


def test_fit_then_segment(tmp_path, capsys):
    paths = make_images(tmp_path)
    enc = tmp_path / "enc.pt"
    assert main(["fit", *paths, "-o", str(enc), "--seed", "3", "--patch-size", "3", *FAST]) == 0
    assert enc.is_file() and "encoder:" in capsys.readouterr().out
    out = tmp_path / "out"
    assert main(["segment", *paths, "-e", str(enc), "-o", str(out), "--no-progress"]) == 0
    for p in paths:
        check_outputs(out, Path(p).stem, (48, 48))


def test_run_on_a_stack(tmp_path):
    make_images(tmp_path)
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "stack.npy"), "-o", str(out), *FAST]) == 0
    assert (out / "encoder.pt").is_file()
    check_outputs(out, "stack", (3, 40, 40))


def test_a_stack_s_voxel_size_is_read_from_its_tiff(tmp_path):
    """z spacing 'auto' takes an ImageJ TIFF's voxel depth / width; --z-spacing overrides it."""
    rng = np.random.default_rng(1)
    stack = rng.normal(50, 5, (4, 40, 40)).astype(np.float32)
    stack[1:3, 10:25, 10:25] += 100
    path = tmp_path / "thick.tif"
    tifffile.imwrite(path, stack, imagej=True, resolution=(2.0, 2.0),  # 0.5 um pixels
                     metadata={"spacing": 2.0, "unit": "um", "axes": "ZYX"})
    out = tmp_path / "run"
    assert main(["run", str(path), "-o", str(out), *FAST]) == 0
    assert check_outputs(out, "thick", (4, 40, 40))["z_spacing"] == pytest.approx(4.0)
    again = tmp_path / "again"
    assert main(["segment", str(path), "-e", str(out / "encoder.pt"), "-o", str(again),
                 "--z-spacing", "1.5", "--no-progress"]) == 0
    assert check_outputs(again, "thick", (4, 40, 40))["z_spacing"] == pytest.approx(1.5)


def test_errors_are_one_line_and_nonzero(tmp_path, capsys):
    paths = make_images(tmp_path)
    enc = tmp_path / "enc.pt"
    assert main(["fit", paths[0], "-o", str(enc), *FAST]) == 0
    capsys.readouterr()
    cases = [
        (["segment", str(tmp_path / "missing.png"), "-e", str(enc), "-o", "x"], "no such file"),
        (["segment", str(tmp_path / "gray.tif"), "-e", str(enc), "-o", str(tmp_path / "o")],
         "trained on images with 3 channel"),
        (["segment", paths[0], "-e", paths[0], "-o", str(tmp_path / "o")], "not a napari-cuts encoder"),
        (["segment", paths[0], "-e", str(tmp_path / "nope.pt"), "-o", "x"], "no such encoder"),
        (["fit", paths[0], "-o", str(tmp_path / "e.pt"), "--patch-size", "4"], "odd"),
        (["segment", paths[0], paths[0], "-e", str(enc), "-o", "x"], "share the name"),
    ]
    (tmp_path / "bad.png").write_text("not an image")
    cases.append((["fit", str(tmp_path / "bad.png"), "-o", str(tmp_path / "e.pt")], "cannot read"))
    for argv, message in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert "Traceback" not in err
    assert not (tmp_path / "o").exists()  # refused before any output


def test_console_script_demo(tmp_path):
    """The installed entry point, as a user runs it (subprocess, no Qt)."""
    exe = Path(sys.executable).with_name("napari-cuts")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "napari_cuts.cli.main"]
    res = subprocess.run(cmd + ["demo", "-o", str(tmp_path / "demo"), "--epochs", "1",
                                "--steps-per-epoch", "2"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "retina.cuts" in res.stdout
    check_outputs(tmp_path / "demo", "retina", (192, 192))
    bad = subprocess.run(cmd + ["segment", "nothing.png", "-e", "x.pt", "-o", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("napari-cuts: error:")


@pytest.mark.parametrize("extra", [[], ["--processes"]], ids=["threads", "processes"])
def test_parallel_segment_matches_serial(tmp_path, extra):
    pytest.importorskip("dask.distributed")
    import torch

    paths = make_images(tmp_path)
    enc = tmp_path / "enc.pt"
    assert main(["fit", *paths, "-o", str(enc), *FAST]) == 0
    assert main(["segment", *paths, "-e", str(enc), "-o", str(tmp_path / "s"), "--no-progress"]) == 0
    threads = torch.get_num_threads()
    assert main(["segment", *paths, "-e", str(enc), "-o", str(tmp_path / "p"),
                 "--workers", "2", *extra]) == 0
    assert torch.get_num_threads() == threads  # restored after the run
    for p in paths:
        stem = Path(p).stem
        np.testing.assert_array_equal(tifffile.imread(tmp_path / "s" / f"{stem}.cuts"),
                                      tifffile.imread(tmp_path / "p" / f"{stem}.cuts"))


def test_segment_on_an_existing_dask_scheduler(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    paths = make_images(tmp_path)
    enc = tmp_path / "enc.pt"
    assert main(["fit", *paths, "-o", str(enc), *FAST]) == 0
    assert main(["segment", *paths, "-e", str(enc), "-o", str(tmp_path / "s"), "--no-progress"]) == 0
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        assert main(["segment", *paths, "-e", str(enc), "-o", str(tmp_path / "d"),
                     "--scheduler", cluster.scheduler_address]) == 0
    for p in paths:
        stem = Path(p).stem
        np.testing.assert_array_equal(tifffile.imread(tmp_path / "s" / f"{stem}.cuts"),
                                      tifffile.imread(tmp_path / "d" / f"{stem}.cuts"))
