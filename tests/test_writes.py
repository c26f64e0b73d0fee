"""Outputs: the umask is honoured; a failed write names the output, in one line, and
leaves nothing behind (full disk, read-only places), for encoder files too."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.io
import tifffile

from napari_cuts.annotation.measure import write_csv
from napari_cuts.cli.main import main
from napari_cuts.engine.encoder import Encoder, save_encoder
from napari_cuts.formats.errors import CutsWriteError
from napari_cuts.formats.images import Normalization
from napari_cuts.formats.writing import atomic_write, save_labels_tiff
from napari_cuts.plugin.writer import write_labels

CLI = str(Path(sys.executable).parent / "napari-cuts")
FAST = ["--epochs", "1", "--steps-per-epoch", "2", "--no-progress"]


@pytest.fixture
def photo(tmp_path) -> str:
    rng = np.random.default_rng(0)
    img = rng.normal(90, 10, (64, 64, 3))
    img[8:40, 10:50] += 90
    path = tmp_path / "photo.png"
    skimage.io.imsave(path, np.clip(img, 0, 255).astype(np.uint8), check_contrast=False)
    return str(path)


def every_file(folder: Path) -> set[Path]:
    return set(folder.rglob("*")) | set(folder.rglob(".*"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_honour_the_umask(tmp_path, photo, capsys):
    old = os.umask(0o022)
    try:
        out = tmp_path / "out"
        assert main(["run", photo, "-o", str(out), *FAST]) == 0
        written = [out / "encoder.pt", out / "photo.cuts", out / "photo.cuts.json",
                   save_labels_tiff(tmp_path / "labels.tif", np.ones((4, 4), np.uint8)),
                   write_csv({"label": [1]}, tmp_path / "table.csv"),
                   Path(write_labels(str(tmp_path / "writer"), np.ones((4, 4), np.uint8), {})[0])]
        again = tmp_path / "again"
        assert main(["segment", photo, "-e", str(out / "encoder.pt"), "-o", str(again),
                     "--no-progress"]) == 0
        written += [again / "photo.cuts", again / "photo.cuts.json"]
        assert {str(p): oct(mode(p)) for p in written} == {str(p): "0o644" for p in written}
        os.umask(0o077)
        assert mode(save_labels_tiff(tmp_path / "private.tif", np.ones((4, 4), np.uint8))) == 0o600
    finally:
        os.umask(old)


def _limit_file_size(limit: int):
    def limit_it():  # the kernel refuses writes beyond `limit` bytes (EFBIG), as a full disk would
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limit_it


def _cli_with_small_disk(args: list[str], cwd: Path, limit: int = 20_000):
    return subprocess.run([CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          preexec_fn=_limit_file_size(limit))


def test_a_full_disk_while_saving_the_encoder(tmp_path, photo):
    before = every_file(tmp_path)
    done = _cli_with_small_disk(["fit", photo, "-o", "models/enc.pt", *FAST], tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "napari-cuts: error: cannot write models/enc.pt: File too large"], done.stderr
    assert every_file(tmp_path) == before, "no encoder, no temporary file, no folder"


def test_a_full_disk_in_run_names_the_output(tmp_path, photo):
    before = every_file(tmp_path)
    done = _cli_with_small_disk(["run", photo, "-o", "out", *FAST], tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "napari-cuts: error: cannot write out/encoder.pt: File too large"], done.stderr
    assert every_file(tmp_path) == before


def test_a_full_disk_while_segmenting_leaves_neither_output(tmp_path, photo):
    enc = tmp_path / "enc.pt"
    save_encoder(Encoder.create(3, Normalization(np.zeros(3, np.float32), np.full(3, 255, np.float32))), enc)
    before = every_file(tmp_path)
    done = _cli_with_small_disk(["segment", photo, "-e", str(enc), "-o", "out", "--no-progress"],
                                tmp_path, limit=4_000)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("napari-cuts: error: cannot write out/photo.cuts: "), done.stderr
    assert lines[0].endswith(("File too large", "the disk is full or the file too large")) or \
        "the disk is full" in lines[0], done.stderr
    assert every_file(tmp_path) == before


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs (read-only for files)")
def test_a_read_only_place_is_refused_in_one_line(tmp_path, photo, capsys):
    assert main(["fit", photo, "-o", "/sys/kernel/napari-cuts-enc.pt", *FAST]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("napari-cuts: error: cannot write /sys/kernel/"), err
    assert not Path("/sys/kernel/napari-cuts-enc.pt").exists()


def test_atomic_write_names_the_output_and_cleans_up(tmp_path):
    target = tmp_path / "new" / "deeper" / "out.bin"
    with pytest.raises(CutsWriteError) as info:
        with atomic_write(target) as tmp:
            raise OSError(28, "No space left on device", str(tmp))
    assert str(info.value) == f"cannot write {target}: No space left on device"
    assert info.value.filename == str(target)
    assert not (tmp_path / "new").exists(), "folders made for the output go too"
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "x.bin") as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_save_encoder_on_a_full_disk_raises_one_line(tmp_path):
    encoder = Encoder.create(1, Normalization(np.zeros(1, np.float32), np.ones(1, np.float32)))
    code = ("import resource, signal, sys, numpy as np\n"
            "from napari_cuts.engine.encoder import Encoder, save_encoder\n"
            "from napari_cuts.formats.errors import CutsWriteError\n"
            "from napari_cuts.formats.images import Normalization\n"
            "e = Encoder.create(1, Normalization(np.zeros(1, np.float32), np.ones(1, np.float32)))\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (10000, 10000))\n"
            "try:\n    save_encoder(e, 'enc.pt')\n"
            "except CutsWriteError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.stdout.strip() == "cannot write enc.pt: File too large", done.stderr
    assert list(tmp_path.iterdir()) == []
    assert save_encoder(encoder, tmp_path / "ok.pt").stat().st_size > 10000
    assert tifffile  # the TIFF writer is the one exercised by the segment case above
