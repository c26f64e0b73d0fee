"""Compute once: an image's CUTS vectors are shared by the widgets while neither the image
nor the encoder changes (encoder calls counted), and ``run`` decodes each input once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.io

import napari_cuts.cli.batch
import napari_cuts.formats.images
from napari_cuts.plugin.widgets._state import encoder_state
from napari_cuts.plugin.widgets._workers import ENGINE_SHARES_VECTORS
from napari_cuts.cli.main import main
from napari_cuts.engine.pipeline import fit
from napari_cuts.samples import texture_mosaic
from napari_cuts.engine.training import TrainingConfig

from test_annotation_widgets import dock

WAIT_MS = 120_000


@pytest.fixture(scope="module")
def gray_encoder():
    return fit([texture_mosaic(48)[0]], TrainingConfig(epochs=1, steps_per_epoch=2, batch_size=4))


class Calls(list):
    """Grows by one on every call of the encoder's network (a torch forward hook)."""

    def __init__(self, encoder) -> None:
        super().__init__()
        self.handle = encoder.network.register_forward_hook(lambda *_: self.append(1))


def count_calls(encoder) -> Calls:
    return Calls(encoder)


def scribbled(viewer, refine):
    layer = refine.new_scribbles()
    with layer.block_history():
        layer.data_setitem((np.arange(5, 15), np.full(10, 6)), np.full(10, 1, np.uint8))
        layer.data_setitem((np.arange(30, 40), np.full(10, 40)), np.full(10, 2, np.uint8))
    return layer


def refine_now(qtbot, refine) -> np.ndarray:
    refine.refine(asked=True)
    qtbot.waitUntil(lambda: not refine.is_busy, timeout=WAIT_MS)
    return np.asarray(refine.viewer.layers["mosaic refined"].data).copy()


def test_refine_embeds_once_while_image_and_encoder_stay(make_napari_viewer, qtbot, gray_encoder):
    viewer = make_napari_viewer()
    image = viewer.add_image(texture_mosaic(48)[0], name="mosaic")
    encoder_state(viewer).encoder = gray_encoder
    refine = dock(viewer, "Scribble refinement")
    refine.auto.value = False
    scribbled(viewer, refine)
    calls = count_calls(gray_encoder)
    try:
        first = refine_now(qtbot, refine)
        assert calls, "the first run embeds the image"
        n = len(calls)
        refine.form["smoothing"].value = 2.0  # other features: no new vectors needed
        refine.form["classifier"].value = "mlp"
        second = refine_now(qtbot, refine)
        assert len(calls) == n, "the vectors were computed again"
        assert second.shape == first.shape and set(np.unique(second)) <= {1, 2}

        image.data = image.data[::-1].copy()  # a new image: new vectors
        refine_now(qtbot, refine)
        assert len(calls) > n
        n = len(calls)
        encoder_state(viewer).encoder = fit([texture_mosaic(48)[0]], TrainingConfig(
            epochs=1, steps_per_epoch=1, batch_size=2, seed=3))
        assert len(encoder_state(viewer).embeddings) == 0  # another encoder: vectors dropped
    finally:
        calls.handle.remove()


def test_refine_after_segment_does_not_embed_again(make_napari_viewer, qtbot, gray_encoder):
    assert ENGINE_SHARES_VECTORS, "segment_iter lost its vectors=/on_vectors= hook"
    viewer = make_napari_viewer()
    viewer.add_image(texture_mosaic(48)[0], name="mosaic")
    encoder_state(viewer).encoder = gray_encoder
    segment = dock(viewer, "Segment")
    segment.start_segmentation()
    qtbot.waitUntil(lambda: not segment.is_busy, timeout=WAIT_MS)
    refine = dock(viewer, "Scribble refinement")
    refine.auto.value = False
    scribbled(viewer, refine)
    calls = count_calls(gray_encoder)
    try:
        refine_now(qtbot, refine)
        assert not calls, f"Refine ran the encoder {len(calls)} times after Segment"
    finally:
        calls.handle.remove()


def test_segment_hands_its_vectors_to_refine_given_the_engine_hook(
        make_napari_viewer, qtbot, gray_encoder, monkeypatch):
    """The widgets' side of the hook, with a stand-in engine that honours its contract:
    ``on_vectors(full vectors)`` once computed, ``vectors=`` used instead of embedding."""
    from napari_cuts.plugin.widgets import _workers
    from napari_cuts.engine.embedding import embed
    from napari_cuts.formats.images import to_volume

    import napari_cuts.engine.pipeline
    from napari_cuts.jobs import client as _engine

    real = napari_cuts.engine.pipeline.segment_iter
    handed: list = []

    def hooked(encoder, image, config=None, *, vectors=None, on_vectors=None, **kwargs):
        if on_vectors is not None:
            volume = to_volume(image, channel_axis=kwargs.get("channel_axis"),
                               is_stack=kwargs.get("is_stack"))
            handed.append(embed(encoder, volume, is_volume=True))
            on_vectors(handed[-1])
        return (yield from real(encoder, image, config, **kwargs))

    monkeypatch.setattr(_engine, "USE_PROCESS", False)  # a stand-in reaches no other process
    monkeypatch.setattr(napari_cuts.engine.pipeline, "segment_iter", hooked)
    monkeypatch.setattr(_workers, "ENGINE_SHARES_VECTORS", True)
    viewer = make_napari_viewer()
    viewer.add_image(texture_mosaic(48)[0], name="mosaic")
    state = encoder_state(viewer)
    state.encoder = gray_encoder
    segment = dock(viewer, "Segment")
    segment.start_segmentation()
    qtbot.waitUntil(lambda: not segment.is_busy, timeout=WAIT_MS)
    assert handed and len(state.embeddings) == 1
    refine = dock(viewer, "Scribble refinement")
    refine.auto.value = False
    scribbled(viewer, refine)
    calls = count_calls(gray_encoder)
    try:
        refine_now(qtbot, refine)
        assert not calls, f"Refine ran the encoder {len(calls)} times after Segment"
    finally:
        calls.handle.remove()


def test_run_decodes_each_input_once(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):
        img = rng.normal(90, 10, (40, 40, 3))
        img[8 + i: 25, 8:25] += 100
        path = tmp_path / f"img{i}.png"
        skimage.io.imsave(path, np.clip(img, 0, 255).astype(np.uint8), check_contrast=False)
        paths.append(str(path))
    decoded: list[str] = []
    real = napari_cuts.formats.images.read_image

    def counting(path, *args, **kwargs):
        decoded.append(str(Path(path)))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(napari_cuts.formats.images, "read_image", counting)
    monkeypatch.setattr(napari_cuts.cli.batch, "read_image", counting)
    assert main(["run", *paths, "-o", str(tmp_path / "out"), "--epochs", "1",
                 "--steps-per-epoch", "2", "--no-progress"]) == 0
    assert sorted(decoded) == sorted(paths), decoded
    assert all((tmp_path / "out" / f"img{i}.cuts").is_file() for i in range(2))
