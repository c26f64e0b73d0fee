"""Ctrl+C at any moment: one line, exit code 130, nothing half-written, no output started
after the signal (also with --workers)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import skimage.io

from napari_cuts.engine.encoder import Encoder, save_encoder
from napari_cuts.formats.images import Normalization

CLI = str(Path(sys.executable).parent / "napari-cuts")
FAST = ["--epochs", "2", "--steps-per-epoch", "5", "--no-progress"]


def _photo(path: Path, size: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    img = rng.normal(90, 10, (size, size, 3))
    img[size // 6: size // 2, size // 5: size * 3 // 4] += 90
    skimage.io.imsave(path, np.clip(img, 0, 255).astype(np.uint8), check_contrast=False)
    return str(path)


def _interrupt(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize("delay", [0.25, 0.5, 1.0, 2.0])
def test_ctrl_c_at_any_moment_gives_one_line_and_130(delay, tmp_path):
    """From the first imports to training: `run` stops with one line and writes nothing."""
    photo = _photo(tmp_path / "photo.png", 64)
    out = tmp_path / "out"
    proc = subprocess.Popen([CLI, "run", photo, "-o", str(out), *FAST], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    code, err = _interrupt(proc)
    assert (code, err) == (130, "napari-cuts: interrupted\n")
    assert not out.exists() or not any(out.rglob("*")) and not any(out.rglob(".*"))


def test_ctrl_c_with_workers_starts_no_output_after_the_signal(tmp_path):
    """With a local cluster: the outputs finished before the signal stay, complete; the
    tasks running stop without writing and the queued ones never start."""
    enc = tmp_path / "enc.pt"
    save_encoder(Encoder.create(3, Normalization(np.zeros(3, np.float32), np.full(3, 255, np.float32))), enc)
    # One small image finishes first, while the large ones are still being computed.
    images = [_photo(tmp_path / "a_small.png", 48)]
    images += [_photo(tmp_path / f"large{i}.png", 320, seed=i) for i in range(5)]
    out = tmp_path / "out"
    proc = subprocess.Popen([CLI, "segment", *images, "-e", str(enc), "-o", str(out),
                             "--workers", "2", "--no-progress"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = out / "a_small.cuts.json"
    deadline = time.monotonic() + 300
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first.exists(), "the small image must have been segmented"
    at_signal = {p.name for p in out.iterdir()}
    code, err = _interrupt(proc)
    assert (code, err) == (130, "napari-cuts: interrupted\n")
    after = {p.name for p in out.iterdir()}
    assert after == at_signal == {"a_small.cuts", "a_small.cuts.json"}, after
