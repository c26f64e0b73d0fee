"""Compute once: an image's CUTS vectors are shared by the widgets and the command line
through one ImageSession while neither the image nor the encoder changes (encoder calls
and embeddings counted), and ``run`` decodes each input once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data
import skimage.io
import skimage.transform
from test_annotation_widgets import dock

import napari_cuts.cli.batch
import napari_cuts.formats.images
from napari_cuts.cli.main import main
from napari_cuts.engine.pipeline import fit
from napari_cuts.engine.training import TrainingConfig
from napari_cuts.plugin.widgets._layers import result_key
from napari_cuts.plugin.widgets._state import encoder_state
from napari_cuts.samples import texture_mosaic

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


#: (side, vectors in a file): a small image, and one above the old limit of vectors kept
#: (450,000 pixels), its vectors in a temporary file (as for any image too large for memory)
SIZES = [(48, False), (704, True)]


def mosaic(side: int) -> np.ndarray:
    tile = texture_mosaic(48)[0]
    return np.tile(tile, (-(-side // 48), -(-side // 48)))[:side, :side].copy()


@pytest.mark.parametrize("side, in_file", SIZES)
def test_segment_then_refine_embeds_once(make_napari_viewer, qtbot, gray_encoder, monkeypatch,
                                         side, in_file):
    """Segment (in the helper process) then Refine embed the image once, through one
    ImageSession's vector store, at any image size."""
    import napari_cuts.engine.session

    if in_file:
        monkeypatch.setattr(napari_cuts.engine.session, "MAX_BYTES", 1 << 20)
    viewer = make_napari_viewer()
    layer = viewer.add_image(mosaic(side), name="mosaic")
    state = encoder_state(viewer)
    state.encoder = gray_encoder
    segment = dock(viewer, "Segment")
    segment.start_segmentation()
    qtbot.waitUntil(lambda: not segment.is_busy, timeout=WAIT_MS)
    store = state.embeddings.get((result_key(layer), ()), gray_encoder, layer.data)
    assert store is not None and store.filled and store.fills == 1
    assert store.in_memory is not in_file
    refine = dock(viewer, "Scribble refinement")
    refine.auto.value = False
    scribbled(viewer, refine)
    calls = count_calls(gray_encoder)
    try:
        labels = refine_now(qtbot, refine)
        assert not calls, f"Refine ran the encoder {len(calls)} times after Segment"
    finally:
        calls.handle.remove()
    assert store.fills == 1, "the image was embedded again"
    assert labels.shape == (side, side) and set(np.unique(labels)) <= {1, 2}
    path = store.path
    viewer.layers.remove(layer)  # its vectors go, and their file with them
    assert not store.filled and (path is None or not Path(path).exists())


def both_docks(make_napari_viewer, encoder):
    """A viewer with a 96x96 image, the encoder active, Segment and Refine docked (Refine
    run by hand) and two strokes: (viewer, image layer, segment, refine)."""
    viewer = make_napari_viewer()
    layer = viewer.add_image(mosaic(96), name="mosaic")
    encoder_state(viewer).encoder = encoder
    segment = dock(viewer, "Segment")
    refine = dock(viewer, "Scribble refinement")
    refine.auto.value = False
    scribbled(viewer, refine)
    return viewer, layer, segment, refine


def test_refine_started_during_segment_waits_for_its_vectors(make_napari_viewer, qtbot, gray_encoder,
                                                            monkeypatch):
    """Refine asked while Segment is still embedding the image (in the helper process)
    waits for Segment's vectors instead of embedding the image a second time here."""
    import napari_cuts.engine.session

    tiles = []  # tiles embedded in this process (Refine's worker thread)
    embed = napari_cuts.engine.session.embed_region
    monkeypatch.setattr(napari_cuts.engine.session, "embed_region",
                        lambda *a, **k: tiles.append(1) or embed(*a, **k))
    viewer, layer, segment, refine = both_docks(make_napari_viewer, gray_encoder)
    state = encoder_state(viewer)
    segment.start_segmentation()  # its end comes through this thread's event loop: not yet
    assert segment.is_busy
    refine.refine(asked=True)
    assert "waiting" in refine.status.text() and refine.is_busy
    qtbot.waitUntil(lambda: not segment.is_busy and not refine.is_busy, timeout=WAIT_MS)
    assert not tiles, f"Refine embedded {len(tiles)} tiles beside Segment"
    store = state.embeddings.get((result_key(layer), ()), gray_encoder, layer.data)
    assert store is not None and store.fills == 1
    labels = np.asarray(viewer.layers["mosaic refined"].data)
    assert labels.shape == (96, 96) and set(np.unique(labels)) == {1, 2}


def test_refine_waiting_for_a_cancelled_segment_embeds_itself(make_napari_viewer, qtbot, gray_encoder):
    """Segment cancelled while Refine waits for its vectors: Refine computes them itself."""
    viewer, layer, segment, refine = both_docks(make_napari_viewer, gray_encoder)
    state = encoder_state(viewer)
    segment.start_segmentation()
    refine.refine(asked=True)
    assert "waiting" in refine.status.text()
    segment.cancel()
    qtbot.waitUntil(lambda: not segment.is_busy and not refine.is_busy, timeout=WAIT_MS)
    assert "mosaic refined" in viewer.layers
    store = state.embeddings.get((result_key(layer), ()), gray_encoder, layer.data)
    assert store is not None and store.filled


def test_segment_started_during_refine_waits_for_its_vectors(make_napari_viewer, qtbot, gray_encoder,
                                                            monkeypatch):
    """Segment asked while Refine is computing the image's vectors waits for them and hands
    them to its helper process: one embedding."""
    import napari_cuts.plugin.widgets.segment_widget as segment_module

    handed = []  # whether the store Segment hands its helper process holds the vectors
    start = segment_module.segmentation_worker
    monkeypatch.setattr(segment_module, "segmentation_worker",
                        lambda *a, store=None, **k: handed.append(store.filled) or start(*a, store=store, **k))
    viewer, layer, segment, refine = both_docks(make_napari_viewer, gray_encoder)
    state = encoder_state(viewer)
    refine.refine(asked=True)  # its features end through this thread's event loop: not yet
    assert refine.is_busy
    segment.start_segmentation()
    assert "waiting" in segment.status.text() and segment.is_busy
    qtbot.waitUntil(lambda: not segment.is_busy and not refine.is_busy, timeout=WAIT_MS)
    store = state.embeddings.get((result_key(layer), ()), gray_encoder, layer.data)
    assert handed == [True], "Segment did not wait for Refine's vectors"
    assert store is not None and store.fills == 1
    assert segment.result_layer() is not None and "mosaic refined" in viewer.layers


def test_segment_after_a_wait_runs_what_was_asked_at_the_press(make_napari_viewer, qtbot, gray_encoder,
                                                             monkeypatch):
    """Settings changed while Segment waits for Refine's vectors do not change the run
    asked for: it segments the image with the settings of the press."""
    import napari_cuts.plugin.widgets.segment_widget as segment_module

    asked = []  # the settings each run was started with
    start = segment_module.segmentation_worker
    monkeypatch.setattr(segment_module, "segmentation_worker",
                        lambda encoder, image, config, **k: asked.append(config) or start(encoder, image, config, **k))
    viewer, layer, segment, refine = both_docks(make_napari_viewer, gray_encoder)
    pressed = segment.segment_config().max_levels
    refine.refine(asked=True)
    segment.start_segmentation()
    assert "waiting" in segment.status.text()
    segment.form.set_values(max_levels=3)  # changed during the wait: for the next run
    viewer.add_image(mosaic(64), name="another")  # a new layer, chosen in the combo box
    qtbot.waitUntil(lambda: not segment.is_busy and not refine.is_busy, timeout=WAIT_MS)
    assert [c.max_levels for c in asked] == [pressed] and pressed != 3
    result = segment.result_layer()
    assert result is not None and result.metadata["napari_cuts"]["image"] == "mosaic"
    assert segment.segment_config().max_levels == 3  # the form keeps what was typed


def test_segment_waiting_for_an_image_closed_meanwhile_says_so(make_napari_viewer, qtbot, gray_encoder):
    """The image closed while Segment waits for Refine's vectors: nothing runs, and the
    status line says why."""
    viewer, layer, segment, refine = both_docks(make_napari_viewer, gray_encoder)
    refine.refine(asked=True)
    segment.start_segmentation()
    assert "waiting" in segment.status.text()
    viewer.layers.remove(layer)
    qtbot.waitUntil(lambda: not segment.is_busy and not refine.is_busy, timeout=WAIT_MS)
    assert "closed" in segment.status.text() and segment.result_layer() is None
    assert segment.run_button.isEnabled()


def test_segment_cancelled_while_waiting_for_refine_does_not_start(make_napari_viewer, qtbot, gray_encoder):
    """Cancel pressed while Segment waits for Refine's vectors: nothing runs later."""
    viewer, _, segment, refine = both_docks(make_napari_viewer, gray_encoder)
    refine.refine(asked=True)
    segment.start_segmentation()
    assert segment.is_busy and not segment.run_button.isEnabled()
    segment.cancel()
    assert not segment.is_busy and segment.run_button.isEnabled()
    qtbot.waitUntil(lambda: not refine.is_busy, timeout=WAIT_MS)
    qtbot.wait(200)
    assert not segment.is_busy and segment.result_layer() is None


@pytest.mark.parametrize("side, in_file", [(48, True)])
def test_segment_then_refine_run_the_encoder_once_per_tile(
        make_napari_viewer, qtbot, gray_encoder, monkeypatch, side, in_file):
    """With the engine in this process every call of the encoder is counted: Segment then
    Refine run it once per tile of one embedding, no more, the vectors in a file. (One
    small image: a second segmentation in a thread of this process can stall in higra's
    watershed, which is why the engine has its helper process; the test above counts the
    embeddings of a large image made there.)"""
    import napari_cuts.engine.session
    from napari_cuts.engine.embedding import n_tiles
    from napari_cuts.jobs import client as _engine

    monkeypatch.setattr(_engine, "USE_PROCESS", False)
    if in_file:
        monkeypatch.setattr(napari_cuts.engine.session, "MAX_BYTES", 1 << 10)
    viewer = make_napari_viewer()
    viewer.add_image(mosaic(side), name="mosaic")
    encoder_state(viewer).encoder = gray_encoder
    calls = count_calls(gray_encoder)
    try:
        segment = dock(viewer, "Segment")
        segment.start_segmentation()
        qtbot.waitUntil(lambda: not segment.is_busy, timeout=WAIT_MS)
        refine = dock(viewer, "Scribble refinement")
        refine.auto.value = False
        scribbled(viewer, refine)
        refine_now(qtbot, refine)
    finally:
        calls.handle.remove()
    assert len(calls) == n_tiles((1, side, side)), f"{len(calls)} encoder calls"
    store = next(iter(encoder_state(viewer).embeddings._entries.values())).store
    assert store.fills == 1 and store.in_memory is not in_file


def test_cli_segment_and_refine_embed_through_image_session(tmp_path, monkeypatch, gray_encoder):
    """The command line's segment and refine go through the same ImageSession class as the
    widgets: one embedding each."""
    import skimage.io
    import tifffile

    from napari_cuts.engine.encoder import save_encoder
    from napari_cuts.engine.session import ImageSession

    runs: list = []
    real = ImageSession.embed_iter

    def counting(self, *args, **kwargs):
        runs.append(self)
        return (yield from real(self, *args, **kwargs))

    monkeypatch.setattr(ImageSession, "embed_iter", counting)
    skimage.io.imsave(tmp_path / "img.png", mosaic(64), check_contrast=False)
    save_encoder(gray_encoder, tmp_path / "enc.pt")
    assert main(["segment", str(tmp_path / "img.png"), "-e", str(tmp_path / "enc.pt"),
                 "-o", str(tmp_path / "out"), "--no-progress"]) == 0
    assert len(runs) == 1 and isinstance(runs[0], ImageSession) and runs[0].computed
    scribbles = np.zeros((64, 64), np.uint8)
    scribbles[5:15, 6], scribbles[30:40, 40] = 1, 2
    tifffile.imwrite(tmp_path / "scr.tif", scribbles)
    assert main(["refine", str(tmp_path / "img.png"), "--scribbles", str(tmp_path / "scr.tif"),
                 "-e", str(tmp_path / "enc.pt"), "-o", str(tmp_path / "refined.tif"),
                 "--no-progress"]) == 0
    assert len(runs) == 2 and runs[1].computed and runs[1] is not runs[0]


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


def test_a_large_image_segmented_once_keeps_no_vectors(monkeypatch, tmp_path, gray_encoder):
    """A segmentation nobody asks again (the command line's) keeps no vectors that do not
    fit in memory: its tiles are computed as they are used, no temporary file is written,
    and the levels are those of a session that keeps its vectors."""
    import tempfile

    import napari_cuts.engine.session as session
    from napari_cuts.engine.pipeline import run_to_end, segment_iter

    monkeypatch.setattr(session, "MAX_BYTES", 1 << 20)  # this 720x700 image's vectors do not fit
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    made = []
    mkstemp = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp", lambda *a, **k: made.append(mkstemp(*a, **k)) or made[-1])
    image = skimage.transform.resize(skimage.data.camera(), (720, 700), preserve_range=True).astype(np.uint8)
    streamed = run_to_end(segment_iter(gray_encoder, image))
    assert made == []  # no vectors file
    store = session.VectorStore((1, 720, 700, gray_encoder.dim))
    kept = run_to_end(segment_iter(gray_encoder, image, store=store))
    assert store.fills == 1 and not store.in_memory
    assert streamed.n_levels == kept.n_levels
    assert all(np.array_equal(streamed.level(i), kept.level(i)) for i in range(kept.n_levels))
