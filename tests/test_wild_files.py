"""Files from the wild (issue 26): channels and time axes, odd ids, truncated results,
interrupts, a batch that survives one image's failure. Each case of the issue has its test."""

from __future__ import annotations

import json
import lzma
import os
import signal
import subprocess
import sys
import threading
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import skimage.io
import tifffile

from napari_cuts.cli.main import main

FAST = ["--epochs", "1", "--steps-per-epoch", "2", "--no-progress"]


def one_line_error(capsys, says: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("napari-cuts: error: "), err
    assert says in err[0], err
    return err[0]


def photo(path: Path, shift: int = 0, shape=(48, 48)) -> str:
    rng = np.random.default_rng(shift)
    img = rng.normal(90, 10, (*shape, 3))
    img[10 + shift: 30, 8:28] += 100
    skimage.io.imsave(path, np.clip(img, 0, 255).astype(np.uint8), check_contrast=False)
    return str(path)


def bomb(path: Path, shape: tuple[int, int], dtype="uint8", tile=(4096, 4096)) -> str:
    """A small LZMA TIFF whose header declares `shape` (decoded: zeros)."""
    n_tiles = -(-shape[0] // tile[0]) * -(-shape[1] // tile[1])
    encoded = lzma.compress(bytes(tile[0] * tile[1] * np.dtype(dtype).itemsize))
    tifffile.imwrite(path, data=(encoded for _ in range(n_tiles)), shape=shape, dtype=dtype,
                     tile=tile, compression="lzma", bigtiff=True)
    return str(path)


# ----------------------------------------------------------------------------- 1. odd ids

def test_1_measure_cost_follows_the_regions_not_the_largest_id(tmp_path, capsys):
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "img.tif", rng.integers(0, 255, (64, 64), dtype=np.uint8))
    labels = np.zeros((64, 64), np.uint32)
    labels[2:20, 2:20], labels[30:50, 5:25], labels[40:60, 40:60] = 1, 7, 4_000_000_000
    tifffile.imwrite(tmp_path / "lab.tif", labels)
    tracemalloc.start()
    try:
        code = main(["measure", str(tmp_path / "img.tif"), str(tmp_path / "lab.tif"),
                     "-o", str(tmp_path / "m.csv"), "--no-progress"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 0, capsys.readouterr().err
    rows = (tmp_path / "m.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == [1, 7, 4_000_000_000]
    area = [int(r.split(",")[1]) for r in rows[1:]]
    assert area == [18 * 18, 20 * 20, 20 * 20]
    assert peak < 50e6, f"measuring three regions took {peak / 1e6:.0f} MB"


def test_1_region_tables_of_layers_are_sparse():
    from napari_cuts.annotation.measure import region_table

    labels = np.array([[0, 1], [4_000_000_000, 4_000_000_000]], np.uint32)
    table = region_table(labels)
    assert list(table["index"]) == [1, 4_000_000_000] and list(table["pixels"]) == [1, 2]


# ----------------------------------------------------------------------------- 2. interrupts

@pytest.mark.parametrize("when", ["while writing", "after writing"])
def test_2_no_output_completes_after_ctrl_c_unreported(when, tmp_path, capsys, monkeypatch):
    """Ctrl+C during `segment --workers 2`: every output that exists afterwards was reported."""
    pytest.importorskip("dask.distributed")
    import napari_cuts.cli.batch as batch

    paths = [photo(tmp_path / f"img{i}.png", i) for i in range(2)]
    enc = tmp_path / "enc.pt"
    assert main(["fit", *paths, "-o", str(enc), *FAST]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    main_thread = threading.main_thread().ident
    first = threading.Lock()
    resume, task_done = threading.Event(), threading.Event()

    def ctrl_c():
        signal.pthread_kill(main_thread, signal.SIGINT)

    real_write, real_segment_file = tifffile.imwrite, batch.segment_file

    def write(file, *args, **kwargs):  # the interrupt comes while a result is written
        if (when == "while writing" and ".cuts" in str(file) and ".json" not in str(file)
                and first.acquire(blocking=False)):
            ctrl_c()
            resume.wait(30)  # the rest of the write happens after the interrupt
        return real_write(file, *args, **kwargs)

    def segment_file(*args, **kwargs):
        try:
            result = real_segment_file(*args, **kwargs)
            if when == "after writing" and first.acquire(blocking=False):
                ctrl_c()  # written, but not reported yet
            return result
        finally:
            task_done.set()

    monkeypatch.setattr(tifffile, "imwrite", write)
    monkeypatch.setattr(batch, "segment_file", segment_file)
    # Ctrl+C raises KeyboardInterrupt, as the console script makes it (__main__.entry), also
    # when pytest was started with SIGINT ignored (e.g. as a background job of a script).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = main(["segment", *paths, "-e", str(enc), "-o", str(out), "--workers", "2", "--no-progress"])
    finally:
        resume.set()
        signal.signal(signal.SIGINT, previous)
    assert code == 130
    assert task_done.wait(60)
    for _ in range(200):  # a task still finishing its files: wait until no temporary file is left
        if not any(p.name.startswith(".") for p in out.glob("*")) if out.exists() else True:
            break
        threading.Event().wait(0.05)
    threading.Event().wait(0.3)  # a write that would complete after the interrupt has done so
    captured = capsys.readouterr()
    assert "napari-cuts: interrupted" in captured.err.splitlines()
    written = sorted(p.name for p in out.glob("*.cuts.*")) if out.exists() else []
    for name in written:
        stem = name.split(".cuts.")[0]
        assert f"{stem}: " in captured.out, f"{name} was written after Ctrl+C, unreported"
    if when == "after writing":
        assert written, "the output written before the interrupt stays"
    assert not [p for p in (out.glob(".*") if out.exists() else [])], "no temporary file is left"


# ----------------------------------------------------------------------------- 3. NaN in measure

def test_3_nan_pixels_are_left_out_of_each_region_s_texture():
    from napari_cuts.annotation.measure import measure_regions

    rng = np.random.default_rng(0)
    image = rng.normal(100, 20, (40, 60))
    labels = np.zeros((40, 60), np.uint8)
    labels[5:35, 3:28], labels[5:35, 32:58] = 1, 2
    filled = image.copy()
    image[10:14, 10:14] = np.nan  # in region 1 only
    filled[10:14, 10:14] = np.median(image[labels == 1][~np.isnan(image[labels == 1])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning reaches the user
        table = measure_regions(labels, image)
    reference = measure_regions(labels, filled)
    assert table["glcm_contrast"][1] == pytest.approx(reference["glcm_contrast"][1])
    assert table["glcm_homogeneity"][1] == pytest.approx(reference["glcm_homogeneity"][1])
    assert table["glcm_contrast"][1] > 0 and table["glcm_homogeneity"][1] < 1
    assert 0 < table["glcm_contrast"][0] and table["glcm_homogeneity"][0] < 1
    inside = image[labels == 1]
    assert table["mean_intensity"][0] == pytest.approx(np.nanmean(inside))
    assert table["std_intensity"][0] == pytest.approx(np.nanstd(inside))
    assert table["area"] == [25 * 30, 26 * 30]


def test_3_measure_command_with_nan_pixels_prints_no_warning(tmp_path, capsys):
    rng = np.random.default_rng(1)
    image = rng.normal(100, 20, (40, 60)).astype(np.float32)
    image[10:14, 10:14] = np.nan
    labels = np.zeros((40, 60), np.uint8)
    labels[5:35, 3:28], labels[5:35, 32:58] = 1, 2
    tifffile.imwrite(tmp_path / "img.tif", image)
    tifffile.imwrite(tmp_path / "lab.tif", labels)
    assert main(["measure", str(tmp_path / "img.tif"), str(tmp_path / "lab.tif"),
                 "-o", str(tmp_path / "m.csv"), "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
    rows = [r.split(",") for r in (tmp_path / "m.csv").read_text().splitlines()]
    contrast = [float(r[rows[0].index("glcm_contrast")]) for r in rows[1:]]
    assert all(c > 0 for c in contrast), contrast


# ----------------------------------------------------------------------------- 4. channels

def _seven_channels(rng) -> np.ndarray:
    img = rng.normal(50, 5, (64, 64, 7))
    img[10:30, 10:40, :4] += 80
    return img.astype(np.uint16)


def test_4_recorded_channels_are_channels_and_both_choices_work(tmp_path, capsys):
    rng = np.random.default_rng(0)
    img = _seven_channels(rng)
    tifffile.imwrite(tmp_path / "seven.tif", img, metadata={"axes": "YXC"})
    np.save(tmp_path / "plain.npy", img)  # no metadata: a short last axis only up to 4
    assert main(["run", str(tmp_path / "seven.tif"), "-o", str(tmp_path / "a"), *FAST]) == 0
    assert tifffile.imread(tmp_path / "a" / "seven.cuts").shape[1:] == (64, 64)
    assert "7 channel(s)" in capsys.readouterr().out
    assert main(["run", str(tmp_path / "plain.npy"), "-o", str(tmp_path / "b"), "--channels", *FAST]) == 0
    assert tifffile.imread(tmp_path / "b" / "plain.cuts").shape[1:] == (64, 64)
    assert main(["run", str(tmp_path / "seven.tif"), "-o", str(tmp_path / "c"), "--stack", *FAST]) == 0
    assert tifffile.imread(tmp_path / "c" / "seven.cuts").shape[1:] == (64, 64, 7)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_code:  # one or the other
        main(["run", str(tmp_path / "seven.tif"), "-o", str(tmp_path / "d"), "--stack", "--channels", *FAST])
    assert exit_code.value.code == 2 and "not allowed with" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_4_imagej_channels_stored_first_are_channels(tmp_path):
    from napari_cuts.formats.axes import file_layout

    img = np.moveaxis(_seven_channels(np.random.default_rng(0)), -1, 0)
    tifffile.imwrite(tmp_path / "cyx.tif", img, imagej=True, metadata={"axes": "CYX"})
    lay = file_layout(tmp_path / "cyx.tif", img.shape)
    assert lay.shape == (1, 1, 64, 64, 7) and not lay.time and not lay.is_stack
    np.testing.assert_array_equal(lay.arrange(img)[0, 0], np.moveaxis(img, 0, -1))


# ----------------------------------------------------------------------------- 5. flat image

@pytest.fixture(scope="module")
def photo_encoder():
    """An encoder trained on a photo with an object (not on the flat image)."""
    from napari_cuts.engine.pipeline import fit
    from napari_cuts.engine.training import TrainingConfig

    rng = np.random.default_rng(0)
    img = rng.normal(90, 10, (64, 64))
    img[10:30, 8:28] += 100
    return fit([np.clip(img, 0, 255).astype(np.uint8)], TrainingConfig(epochs=1, steps_per_epoch=25))


@pytest.mark.parametrize("value, size", [(100, 64), (150, 256)])
def test_5_a_constant_image_is_one_region(value, size, photo_encoder):
    from napari_cuts.engine.pipeline import segment

    seg = segment(photo_encoder, np.full((size, size), value, np.uint8))
    assert len(np.unique(seg.level(seg.default_level))) == 1


# ----------------------------------------------------------------------------- 6. one level

def test_6_one_level_keeps_its_level_axis(tmp_path):
    from napari_cuts.formats.cuts import write_summary
    from napari_cuts.formats.writing import save_labels_tiff
    from napari_cuts.plugin.reader import read_cuts

    levels = np.arange(18, dtype=np.uint8).reshape(1, 2, 3, 3) % 3 + 1  # one level of a 2-slice stack
    path = tmp_path / "two.cuts.tif"
    save_labels_tiff(path, levels, levels=True)
    write_summary(path, "two", [{"n_regions": 3, "salient": True, "kind": "objects"}], 0)
    with tifffile.TiffFile(path) as tif:  # the level axis is in the file (T = 1)
        assert dict(zip(tif.series[0].get_axes(False), tif.series[0].get_shape(False)))["T"] == 1
    layers = read_cuts(str(path))
    assert len(layers) == 1
    data, meta, kind = layers[0]
    assert kind == "labels" and data.shape == (1, 2, 3, 3)
    assert meta["name"] == "two levels"
    path.with_name("two.cuts.json").unlink()  # without a summary: still one level
    assert [d.shape for d, _, _ in read_cuts(str(path))] == [(1, 2, 3, 3)]


# ----------------------------------------------------------------------------- 7. bad results

def _result(folder: Path, n_levels=55) -> Path:
    from napari_cuts.formats.cuts import write_summary
    from napari_cuts.formats.writing import save_labels_tiff

    rng = np.random.default_rng(0)
    path = folder / "r.cuts.tif"
    save_labels_tiff(path, rng.integers(1, 9, (n_levels, 64, 64)).astype(np.uint8), levels=True)
    write_summary(path, "r", [{"n_regions": 8, "salient": i == 3, "kind": "regions"}
                              for i in range(n_levels)], 3)
    return path


def _refused(path: Path, says: str) -> None:
    from napari_cuts.formats.errors import CutsInputError
    from napari_cuts.plugin.reader import read_cuts

    with pytest.raises(CutsInputError) as info:
        read_cuts(str(path))
    message = str(info.value)
    assert says in message and "\n" not in message and path.name in message, message


def test_7_a_truncated_result_is_refused(tmp_path):
    path = _result(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _refused(path, "truncated")
    path.with_name("r.cuts.json").unlink()  # even without its summary
    _refused(path, "truncated")


def test_7_a_summary_for_another_number_of_levels_is_refused(tmp_path):
    path = _result(tmp_path, 5)
    meta = path.with_name("r.cuts.json")
    body = json.loads(meta.read_text())
    body["levels"] = body["levels"] * 11
    meta.write_text(json.dumps(body))
    _refused(path, "describes 55")


@pytest.mark.parametrize("body, says", [
    ([1, 2, 3], "holds a list"),
    ({"levels": [1, 2, 3, 4, 5]}, "level 0 is a int"),
    ({"levels": [{"n_regions": "many"}] * 5}, "'n_regions' must be a whole number"),
    ({"levels": "five"}, "'levels' must be a list"),
])
def test_7_a_malformed_summary_is_refused_in_one_line(body, says, tmp_path):
    path = _result(tmp_path, 5)
    path.with_name("r.cuts.json").write_text(json.dumps(body))
    _refused(path, says)


@pytest.mark.parametrize("data, kwargs, says", [
    (np.random.default_rng(0).random((32, 16, 16), dtype=np.float32), {}, "float32 values"),
    (-np.ones((5, 16, 16), np.int16), {}, "negative ids"),
    (np.zeros((16, 16, 3), np.uint8), {"photometric": "rgb"}, "RGB"),
])
def test_7_results_that_are_not_labels_are_refused(data, kwargs, says, tmp_path):
    path = tmp_path / "x.cuts.tif"
    tifffile.imwrite(path, data, **kwargs)
    _refused(path, says)


# ----------------------------------------------------------------------------- 8. headers first

def test_8_label_files_are_checked_against_the_image_from_their_headers(tmp_path, capsys):
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "img.tif", rng.integers(0, 255, (64, 64), dtype=np.uint8))
    big = bomb(tmp_path / "big.tif", (20_000, 20_000))  # 400 MB decoded
    (tmp_path / "enc.pt").write_bytes(b"")
    tracemalloc.start()
    try:
        assert main(["measure", str(tmp_path / "img.tif"), big, "-o", str(tmp_path / "m.csv")]) == 1
        one_line_error(capsys, "does not fit the image")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100e6, f"{peak / 1e6:.0f} MB decoded before the refusal"
    assert not (tmp_path / "m.csv").exists()


def test_8_refine_checks_scribbles_from_their_header(tmp_path, capsys):
    from napari_cuts.engine.encoder import Encoder, save_encoder
    from napari_cuts.formats.images import Normalization

    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "img.tif", rng.integers(0, 255, (64, 64), dtype=np.uint8))
    save_encoder(Encoder.create(1, Normalization(np.zeros(1, np.float32), np.ones(1, np.float32))),
                 tmp_path / "enc.pt")
    big = bomb(tmp_path / "big.tif", (20_000, 20_000))
    tracemalloc.start()
    try:
        assert main(["refine", str(tmp_path / "img.tif"), "--scribbles", big, "-e", str(tmp_path / "enc.pt"),
                     "-o", str(tmp_path / "r.tif"), "--no-progress"]) == 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    one_line_error(capsys, "does not fit the image")
    assert peak < 100e6, f"{peak / 1e6:.0f} MB decoded before the refusal"


def test_8_the_reader_checks_a_result_s_size_from_its_header(tmp_path):
    from napari_cuts.formats.cuts import load_result
    from napari_cuts.formats.errors import CutsInputError

    path = Path(bomb(tmp_path / "huge.cuts.tif", (200_000, 200_000), tile=(8192, 8192)))  # 40 GB
    with pytest.raises(CutsInputError, match="40.0 GB decoded"):
        load_result(path)
    with pytest.raises(CutsInputError, match=r"GB decoded\), more than the 0.1 GB"):
        load_result(bomb(tmp_path / "mid.cuts.tif", (20_000, 20_000)), memory_limit=100_000_000)


def test_8_out_of_memory_is_named_as_such(tmp_path):
    """Under a memory cap a file that fits the machine but not the cap is 'out of memory',
    not 'not a valid TIF file'."""
    mask = bomb(tmp_path / "mask.tif", (60_000, 60_000))  # 3.6 GB decoded
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2_500_000_000, 2_500_000_000))\n"
        "from napari_cuts.cli.main import main\n"
        f"sys.exit(main(['components', {mask!r}, '-o', {str(tmp_path / 'out')!r}, '--no-progress']))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "memory" in lines[0] and "not a valid" not in lines[0], lines
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- 9. batch survival

@pytest.mark.parametrize("workers", ["1", "2"])
def test_9_an_engine_fault_costs_that_image_only(workers, tmp_path, capsys, monkeypatch):
    import napari_cuts.cli.batch as batch

    if workers != "1":
        pytest.importorskip("dask.distributed")
    good = [photo(tmp_path / f"good{i}.png", i) for i in range(2)]
    bad = photo(tmp_path / "bad.png", 0, shape=(44, 52))
    real = batch.segment_iter

    def faulty(encoder, image, *args, **kwargs):  # the engine fails on bad.png only
        if 52 in np.shape(image):
            raise ValueError("cannot reshape array of size 0 into shape (0,newaxis)")
        return real(encoder, image, *args, **kwargs)

    monkeypatch.setattr(batch, "segment_iter", faulty)
    out = tmp_path / "out"
    argv = ["run", good[0], bad, good[1], "-o", str(out), *FAST]
    if workers != "1":
        assert main(["fit", *good, bad, "-o", str(tmp_path / "enc.pt"), *FAST]) == 0
        argv = ["segment", good[0], bad, good[1], "-e", str(tmp_path / "enc.pt"), "-o", str(out),
                "--workers", workers, "--no-progress"]
    capsys.readouterr()
    assert main(argv) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("napari-cuts: error: bad.png: "), err
    assert "cannot reshape array of size 0" in err[0]
    assert "Traceback" not in captured.err
    assert sorted(p.name for p in out.glob("*.cuts")) == ["good0.cuts", "good1.cuts"]
    assert not list(out.glob("bad.*")) and not list(out.glob(".*"))
    assert "good0: " in captured.out and "good1: " in captured.out


# ----------------------------------------------------------------------------- 10. float64

def test_10_float64_beyond_float32_s_range_stays_finite():
    from napari_cuts.engine.pipeline import fit, segment
    from napari_cuts.engine.training import TrainingConfig
    from napari_cuts.formats.errors import CutsWarning
    from napari_cuts.formats.images import to_volume

    rng = np.random.default_rng(0)
    image = rng.normal(1.0, 0.05, (48, 48))
    image[10:30, 10:30] += 1.0
    image *= 1e300  # finite in float64, beyond float32's range
    with warnings.catch_warnings():
        warnings.simplefilter("error", CutsWarning)  # "NaN or infinite" would be raised
        volume = to_volume(image)
        assert np.isfinite(volume).all()
        assert volume[0, 20, 20, 0] / volume[0, 40, 40, 0] == pytest.approx(image[20, 20] / image[40, 40], rel=1e-6)
        encoder = fit([image], TrainingConfig(epochs=1, steps_per_epoch=2))
        seg = segment(encoder, image)
    assert (seg.level(seg.default_level) > 0).all(), "every pixel is segmented"
    tiny = image / 1e300 * 1e-300  # below float32's smallest positive value
    assert np.isfinite(to_volume(tiny)).all() and to_volume(tiny).std() > 0


# ----------------------------------------------------------------------------- 11. time-lapse

def _time_lapse(path: Path, frames=6) -> np.ndarray:
    rng = np.random.default_rng(0)
    movie = rng.normal(50, 5, (frames, 40, 40)).astype(np.float32)
    for t in range(frames):  # a bright square moving right
        movie[t, 10:25, 4 + 3 * t: 19 + 3 * t] += 100
    tifffile.imwrite(path, movie, imagej=True, metadata={"axes": "TYX"})
    return movie


def test_11_a_time_lapse_is_segmented_frame_by_frame(tmp_path):
    from napari_cuts.engine.encoder import load_encoder
    from napari_cuts.engine.pipeline import segment

    movie = _time_lapse(tmp_path / "movie.tif")
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "movie.tif"), "-o", str(out), *FAST]) == 0
    with tifffile.TiffFile(out / "movie.cuts") as tif:  # time stays time: T, levels as C
        assert tif.series[0].axes == "TCYX"
        stored = tif.series[0].asarray()
    summary = json.loads((out / "movie.cuts.json").read_text())
    assert summary["frames"] == 6 and summary["axes"] == "TYX"
    assert stored.shape == (6, len(summary["levels"]), 40, 40)
    encoder = load_encoder(out / "encoder.pt")  # one encoder for every frame
    default = summary["default_level"]
    for t in (0, 5):  # each frame's default level is that frame segmented on its own
        alone = segment(encoder, movie[t])
        np.testing.assert_array_equal(stored[t, default], alone.level(alone.default_level))
    from napari_cuts.plugin.reader import read_cuts

    (layer,) = read_cuts(str(out / "movie.cuts"))  # one layer: levels, then time
    data, meta, _ = layer
    assert data.shape == (len(summary["levels"]), 6, 40, 40) and meta["metadata"]["napari_cuts"]["time"]
    assert meta["axis_labels"][:2] == ("level", "t")


def test_11_a_time_lapse_is_one_volume_when_asked(tmp_path):
    _time_lapse(tmp_path / "movie.tif")
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "movie.tif"), "-o", str(out), "--stack", *FAST]) == 0
    with tifffile.TiffFile(out / "movie.cuts") as tif:
        assert tif.series[0].axes == "TZYX"  # levels (as T) of one volume
    assert "frames" not in json.loads((out / "movie.cuts.json").read_text())


def test_11_frames_levels_line_up_at_their_default_levels():
    from napari_cuts.engine.timelapse import align_frames

    def frame(n_levels, default, salient):
        levels = np.stack([np.full((2, 2), i + 1, np.uint8) for i in range(n_levels)])
        return levels, {"default_level": default, "levels": [
            {"n_regions": i + 1, "salient": i in salient, "kind": "objects" if i == default else "regions"}
            for i in range(n_levels)]}

    (a, sa), (b, sb) = frame(4, 1, {0, 1}), frame(3, 2, {1, 2})
    stacked, summary = align_frames([a, b], [sa, sb])
    assert summary["default_level"] == 2 and summary["frames"] == 2
    assert stacked.shape == (5, 2, 2, 2)  # two levels before the defaults, two after
    assert [lev["frame_levels"] for lev in summary["levels"]] == [[0, 0], [0, 1], [1, 2], [2, 2], [3, 2]]
    np.testing.assert_array_equal(stacked[2, :, 0, 0], [2, 3])  # each frame's default level
    assert [lev["salient"] for lev in summary["levels"]] == [False, True, True, False, False]
    assert summary["levels"][2]["kind"] == "objects"
    assert [lev["n_regions"] for lev in summary["levels"]] == [1, 2, 3, 3, 4]
