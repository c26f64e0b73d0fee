"""Encoder, training, embedding, condensation and hierarchy (no Qt needed)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_cuts.engine.embedding import embed
from napari_cuts.engine.encoder import RECEPTIVE_RADIUS, Encoder, load_encoder, save_encoder
from napari_cuts.engine.hierarchy.condensation import condense
from napari_cuts.engine.hierarchy.levels import Level, build_hierarchy, stable_ids
from napari_cuts.engine.pca import PCA
from napari_cuts.engine.pipeline import SegmentConfig, run_to_end, segment, segment_iter
from napari_cuts.engine.training import EncoderTrainer, TrainingConfig, fit_encoder, nt_xent
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.images import Normalization


def small_image(seed=0, shape=(48, 56, 3)):
    rng = np.random.default_rng(seed)
    img = rng.normal(100, 10, shape)
    img[10:30, 12:40] += 80
    return np.clip(img, 0, 255).astype(np.uint8)


def untrained(channels=3, seed=0):
    return Encoder.create(channels, Normalization(np.zeros(channels, np.float32),
                                                  np.full(channels, 255, np.float32)), seed=seed)


def test_engine_imports_no_qt_or_napari():
    code = (
        "import sys, napari_cuts, napari_cuts.engine.pipeline, napari_cuts.cli.main, napari_cuts.formats.images;"
        "bad=[m for m in sys.modules if m.split('.')[0] in "
        "('napari','qtpy','PyQt5','PyQt6','PySide2','PySide6','magicgui')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_encoder_architecture_and_receptive_field():
    enc = untrained(3)
    assert enc.dim == 128
    convs = list(enc.network.convs)
    assert [c.out_channels for c in convs] == [16, 32, 64, 128]
    assert all(c.kernel_size == (5, 5) for c in convs)
    assert RECEPTIVE_RADIUS == 8
    x = torch.zeros(1, 3, 40, 40, requires_grad=True)
    enc.network.eval()
    enc.network(x)[0, :, 20, 20].sum().backward()
    touched = np.argwhere(x.grad[0].abs().sum(0).numpy() > 0)
    assert touched.min(0).tolist() == [12, 12] and touched.max(0).tolist() == [28, 28]


def test_inference_with_folded_batch_norm_equals_training_layers():
    """Inference folds batch norm into the convolutions: the same vectors as the layers
    of training (in evaluation mode), to float rounding."""
    enc = Encoder.create(3, Normalization(np.zeros(3, np.float32), np.ones(3, np.float32)), seed=2)
    net = enc.network.eval()
    gen = torch.Generator().manual_seed(0)
    for norm in net.norms:  # statistics as a trained encoder has them
        norm.running_mean.copy_(torch.rand(norm.num_features, generator=gen) - 0.5)
        norm.running_var.copy_(torch.rand(norm.num_features, generator=gen) + 0.5)
        norm.weight.data.copy_(torch.rand(norm.num_features, generator=gen) + 0.5)
    x = torch.rand(1, 3, 40, 36, generator=gen)
    with torch.no_grad():
        folded = net(x)
    with torch.enable_grad():
        layers = net(x).detach()
    assert folded.shape == layers.shape == (1, net.out_channels, 40, 36)
    assert torch.allclose(folded, layers, atol=1e-5, rtol=1e-5)
    assert not torch.equal(folded, torch.zeros_like(folded))


def test_encoder_file_round_trip_and_refusals(tmp_path):
    enc = fit_encoder([small_image()], TrainingConfig(epochs=1, steps_per_epoch=2), names=["toy"])
    path = save_encoder(enc, tmp_path / "enc.pt")
    back = load_encoder(path)
    assert back.in_channels == 3 and back.info["trained_on"] == "toy"
    img = small_image(1)
    np.testing.assert_allclose(embed(back, img), embed(enc, img), atol=1e-6)
    with pytest.raises(CutsInputError, match="trained on images with 3 channel"):
        embed(back, img[..., 0])
    (tmp_path / "junk.pt").write_bytes(b"not torch")
    with pytest.raises(CutsInputError, match="not a napari-cuts encoder"):
        load_encoder(tmp_path / "junk.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(CutsInputError, match="not a napari-cuts encoder"):
        load_encoder(tmp_path / "other.pt")
    with pytest.raises(CutsInputError, match="no such encoder"):
        load_encoder(tmp_path / "missing.pt")


def test_training_is_reproducible_and_learns():
    cfg = TrainingConfig(epochs=3, steps_per_epoch=4, seed=7)
    runs = []
    for _ in range(2):
        trainer = EncoderTrainer([small_image(0), small_image(1)], cfg)
        losses = [p.loss for p in trainer.run()]
        runs.append((losses, trainer.result()))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1].network.state_dict().values(), runs[1][1].network.state_dict().values()):
        assert torch.equal(a, b)
    assert np.mean(runs[0][0][-4:]) < np.mean(runs[0][0][:4])
    other = EncoderTrainer([small_image(0), small_image(1)], TrainingConfig(epochs=1, steps_per_epoch=4, seed=8))
    assert [p.loss for p in other.run()] != runs[0][0][:4]


def test_stop_keeps_best_weights_so_far():
    trainer = EncoderTrainer([small_image()], TrainingConfig(epochs=5, steps_per_epoch=2))
    seen = []
    for progress in trainer.run():
        seen.append(progress)
        if progress.step == 5:  # stop mid-epoch 3
            break
    enc = trainer.result()
    assert enc.info["epochs"] == 2
    assert enc.info["best_loss"] == min(p.epoch_loss for p in seen if p.epoch_loss is not None)


def test_positives_are_never_the_anchor():
    trainer = EncoderTrainer([small_image()], TrainingConfig(anchors_per_image=16))
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        crops, _ = trainer._sample(0, rng, gen)
        anchors, positives = crops[:16], crops[16:]
        # Identical crops would mean the positive is the anchor pixel itself.
        same = (anchors - positives).abs().flatten(1).amax(1) == 0
        assert not bool(same.all())


def test_epochs_see_different_anchors():
    trainer = EncoderTrainer([small_image()], TrainingConfig())
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    first, _ = trainer._sample(0, rng, gen)
    second, _ = trainer._sample(0, rng, gen)
    assert not torch.equal(first, second)


def test_nt_xent_prefers_matching_pairs():
    a = torch.eye(4)[None]
    assert nt_xent(a, a.clone(), 0.1) < nt_xent(a, a.roll(1, dims=1), 0.1)


def test_tiled_embedding_equals_whole_image():
    enc = untrained(3)
    img = small_image(shape=(70, 90, 3))
    whole = embed(enc, img, tile_size=4096)
    tiled = embed(enc, img, tile_size=24)
    assert whole.shape == (1, 70, 90, 128)
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_stack_embedding_is_slice_by_slice():
    enc = untrained(1)
    stack = np.stack([small_image(i, (40, 40, 1))[..., 0] for i in range(3)])
    vec = embed(enc, stack)
    assert vec.shape == (3, 40, 40, 128)
    np.testing.assert_allclose(vec[1], embed(enc, stack[1])[0], atol=1e-5)


def blobs(n_per=60, centres=((0, 0), (10, 0), (0, 10), (30, 30)), seed=0):
    rng = np.random.default_rng(seed)
    pts = np.concatenate([rng.normal(c, 1.0, (n_per, 2)) for c in centres])
    truth = np.repeat(np.arange(len(centres)), n_per)
    return pts, truth


def test_condensation_merges_to_one_and_finds_blobs():
    pts, truth = blobs()
    result = condense(pts)
    assert result.n_clusters[-1] == 1
    assert all(a >= b for a, b in zip(result.n_clusters, result.n_clusters[1:]))
    four = [p for p in result.partitions().values() if p.max() + 1 == 4]
    assert four, result.n_clusters
    part = four[0]
    for k in range(4):  # each blob is one cluster
        assert len(np.unique(part[truth == k])) == 1


def test_graph_condensation_merges_only_along_edges():
    # Two alike groups of points that do not touch in the graph never merge with each
    # other before each is whole: every cluster stays connected.
    x = np.array([[0.0], [0.1], [0.2], [5.0], [0.05], [0.15]])
    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]])
    result = condense(x, edges=edges)
    for part in result.partitions().values():
        for c in np.unique(part):
            members = np.flatnonzero(part == c)
            assert members.max() - members.min() + 1 == len(members)  # a path segment
    assert result.n_clusters[-1] == 1


def test_a_wall_keeps_alike_nodes_apart():
    # Six alike nodes on a path; a strong boundary between the third and the fourth (two
    # touching nuclei of one brightness, a dark line between them): with the boundaries,
    # each side is whole before the two sides merge; without, nothing tells them apart.
    x = np.array([[0.0], [0.02], [0.04], [0.01], [0.03], [0.05]])
    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]])
    walls = np.array([[1.0, 10], [1.0, 10], [50.0, 10], [1.0, 10], [1.0, 10]])  # gradient sum, faces
    result = condense(x, edges=edges, boundary=walls)
    two = [p for p in result.partitions().values() if p.max() + 1 == 2]
    assert two and list(two[0]) == [0, 0, 0, 1, 1, 1], result.n_clusters
    result = condense(x, edges=edges)
    assert all(not (p.max() + 1 == 2 and list(p) == [0, 0, 0, 1, 1, 1])
               for p in result.partitions().values())


def test_step_response_is_the_gradient_of_a_unit_step():
    from napari_cuts.engine.hierarchy.basins import points_gradient, step_response

    for ndim, shape in ((2, (1, 32, 32, 1)), (3, (16, 16, 16, 1))):
        step = np.zeros(shape, np.float32)
        step[..., shape[2] // 2:, :] = 2.0  # a step of two units, between two pixels
        peak = float(points_gradient(step).max())
        assert 0.75 < peak / (2 * step_response(ndim)) < 0.85, (ndim, peak)


def test_hierarchy_orders_levels_and_keeps_ids():
    pts, _ = blobs()
    result = condense(pts)
    weights = np.ones(len(pts))
    levels = [Level(p, "regions", q) for p, q in zip(result.partitions().values(), result.persistence)]
    h = build_hierarchy(levels, weights, default=len(levels) // 2, max_levels=20)
    assert h.n_levels <= 20 and h.n_regions == sorted(h.n_regions)
    assert sum(h.salient) >= 1 and h.salient[h.default_level]
    for coarse, fine in zip(h.node_labels, h.node_labels[1:]):
        assert set(np.unique(fine)) == set(range(1, len(np.unique(fine)) + 1))
        for f in np.unique(fine):  # nested partitions: each fine region in one coarse one
            assert len(np.unique(coarse[fine == f])) == 1
        for c in np.unique(coarse):  # continuing regions keep their id
            assert c in fine[coarse == c]


def test_stable_ids_largest_child_keeps_parent_id():
    coarse = np.array([0, 0, 0, 1, 1])
    fine = np.array([0, 1, 1, 2, 2])
    ids = stable_ids([coarse, fine], np.ones(5))
    assert ids[0].tolist() == [1, 1, 1, 2, 2]
    assert ids[1].tolist() == [3, 1, 1, 2, 2]
    # Levels that do not nest: a region's parent is where most of it lies.
    other = np.array([0, 0, 1, 1, 1])
    ids = stable_ids([coarse, other], np.ones(5))
    assert ids[1].tolist() == [1, 1, 2, 2, 2]


def test_pca_and_kmeans(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from _kmeans import kmeans  # the benchmarks' k-means baseline

    pts, truth = blobs(n_per=100)
    pca = PCA.fit(np.hstack([pts, np.zeros((len(pts), 3))]), 2)
    assert pca.components.shape == (5, 2)
    centres = kmeans(pts, 4, seed=0)
    assert len(centres) == 4


def touching_blobs(pairs=(10, 5), radius=7, seed=0):
    """100 round blobs of varied brightness in touching pairs on a dark, noisy ground."""
    rng = np.random.default_rng(seed)
    cell_y, cell_x = 2 * radius + 6, 4 * radius + 6
    shape = (pairs[0] * cell_y + 4, pairs[1] * cell_x + 4)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = np.full(shape, 20.0)
    truth = np.zeros(shape, np.int32)
    k = 0
    for i in range(pairs[0]):
        for j in range(pairs[1]):
            cy = 2 + i * cell_y + cell_y // 2
            for cx in (2 + j * cell_x + 3 + radius, 2 + j * cell_x + 3 + 3 * radius - 1):
                k += 1  # the second blob overlaps the first by a pixel: they touch
                d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
                free = (d <= radius) & (truth == 0)
                truth[free] = k
                img[free] = rng.uniform(110, 240) * (1 - 0.35 * (d[free] / radius) ** 2)
    img += rng.normal(0, 4, shape)
    return np.clip(img, 0, 255).astype(np.uint8), truth


def test_a_hundred_touching_blobs_are_separated():
    # The levels, not the encoder, must separate touching objects: no vectors here (an
    # untrained encoder's vectors are noise).
    img, truth = touching_blobs()
    seg = segment(untrained(1), img, SegmentConfig(vector_weight=0))
    assert seg.n_levels <= 64

    def separated(lab):  # every blob mostly in a region of its own
        ok = 0
        for k in range(1, truth.max() + 1):
            region = np.bincount(lab[truth == k]).argmax()
            inside = truth[lab == region]
            ok += (inside == k).mean() > 0.7 and (lab[truth == k] == region).mean() > 0.7
        return ok

    best = max(separated(lab) for lab in seg.levels())
    assert best >= 95, best
    # The default level keeps many pairs apart; a pair of alike brightness whose union
    # outlives its halves is one region there (44 of 100 apart with walls, 56 without).
    assert separated(seg.level(seg.default_level)) >= 40


def test_classes_group_alike_regions_anywhere_and_objects_stay_apart():
    enc = untrained(1)
    img = np.full((96, 96), 30, np.uint8)
    img[10:30, 10:30] = 200
    img[66:86, 66:86] = 200  # the same bright square, far away
    seg = segment(enc, img)
    kinds = seg.hierarchy.kinds
    classes = [seg.level(i) for i in range(seg.n_levels) if kinds[i] == "classes"]
    assert any(lab[20, 20] == lab[76, 76] != lab[50, 50] for lab in classes)
    default = seg.level(seg.default_level)
    assert len({default[20, 20], default[76, 76], default[50, 50]}) == 3


def test_texture_statistics_weigh_fully_only_where_intensities_vary_within_textures():
    """Two fine textures of one grey-level histogram: the vectors' texture statistics at
    full weight. Two flat regions with noise: intensities tell them apart, the texture
    statistics weigh nothing (the weight used is in ``info``)."""
    from napari_cuts.engine.pipeline import TEXTURE_WEIGHT, TEXTURE_WITHIN, FeatureScaling

    rng = np.random.default_rng(0)
    fine = rng.integers(0, 2, (96, 96)) * 160 + 40
    coarse = np.kron(rng.integers(0, 2, (24, 24)), np.ones((4, 4))) * 160 + 40
    mosaic = np.where(np.arange(96)[None, :] < 48, fine, coarse).astype(np.uint8)
    steps = np.where(np.arange(96)[None, :] < 48, 60, 190) + rng.normal(0, 8, (96, 96))
    steps = np.clip(steps, 0, 255).astype(np.uint8)
    cfg = SegmentConfig()
    textured = segment(untrained(1), mosaic, cfg).info["texture_weight"]
    regions = segment(untrained(1), steps, cfg).info["texture_weight"]
    assert cfg.texture_weight is None and textured == pytest.approx(TEXTURE_WEIGHT)
    assert regions == 0
    assert segment(untrained(1), steps, SegmentConfig(vector_weight=0)).info["texture_weight"] == 0
    # a weight set by the user holds whatever the image
    assert segment(untrained(1), steps, SegmentConfig(texture_weight=1.0)).info["texture_weight"] == 1.0
    sample = rng.normal(size=(100, 8)), rng.random((100, 1))
    none, full = TEXTURE_WITHIN
    for regional, weight in ((0.0, 1.0), (1 - full, 1.0), (1 - (none + full) / 2, 0.5), (1 - none, 0.0),
                             (1.0, 0.0)):
        assert FeatureScaling.fit(*sample, cfg, regional).texture_weight == pytest.approx(
            weight * TEXTURE_WEIGHT)


def test_stack_is_segmented_in_3d():
    enc = untrained(1)
    stack = np.full((6, 48, 48), 20, np.uint8)
    stack[1:5, 8:24, 8:24] = 200  # one cube
    stack[1:5, 28:44, 28:44] = 200  # another, alike
    seg = segment(enc, stack, is_stack=True)
    assert seg.is_stack and seg.level(0).shape == (6, 48, 48)
    lab = seg.level(seg.default_level)
    assert len(np.unique(lab[1:5, 10:22, 10:22])) == 1  # a cube is one region through z
    assert lab[2, 16, 16] != lab[2, 36, 36] != lab[0, 2, 2]


def _mean_z_extent(nodes: np.ndarray) -> float:
    """Mean number of slices a basin spans."""
    from scipy import ndimage

    boxes = ndimage.find_objects(nodes + 1)
    return float(np.mean([b[0].stop - b[0].start for b in boxes if b is not None]))


def test_z_spacing_shapes_basins_of_a_stack():
    """Thick slices (z spacing 4): the gradient is smoothed over fewer slices, so basins
    span fewer of them; 2D ignores it."""
    enc = untrained(1)
    rng = np.random.default_rng(0)
    from scipy import ndimage

    stack = ndimage.gaussian_filter(rng.normal(size=(16, 64, 64)), 2)
    stack = ((stack - stack.min()) / np.ptp(stack) * 255).astype(np.uint8)
    iso = segment(enc, stack, SegmentConfig(z_spacing=1.0), is_stack=True)
    thick = segment(enc, stack, SegmentConfig(z_spacing=4.0), is_stack=True)
    assert _mean_z_extent(thick.pixel_nodes) < 0.95 * _mean_z_extent(iso.pixel_nodes)
    assert thick.level(thick.default_level).shape == (16, 64, 64)
    flat = stack[8]
    np.testing.assert_array_equal(segment(enc, flat, SegmentConfig(z_spacing=4.0)).levels(),
                                  segment(enc, flat).levels())


def test_segment_is_reproducible():
    enc = untrained(3)
    img = small_image(shape=(64, 64, 3))
    a = segment(enc, img)
    b = segment(enc, img)
    np.testing.assert_array_equal(a.levels(), b.levels())
    levels = a.levels()
    assert levels.shape[1:] == (64, 64) and levels.min() >= 1
    assert [len(np.unique(level)) for level in levels] == a.n_regions
    assert a.default_level < a.n_levels and a.salient[a.default_level]


def test_large_image_path_streams_tiles():
    """Above the sample budget, vectors stream through tiles; results stay sensible."""
    enc = untrained(1)
    img = np.zeros((96, 96), np.uint8)
    img[:, 48:] = 220
    cfg = SegmentConfig(sample_pixels=2000, sample_tile=32, tile_size=40)
    seg = segment(enc, img, cfg)
    lab = seg.level(0)
    assert len(np.unique(lab[:, :40])) == 1 and len(np.unique(lab[:, 56:])) == 1
    assert lab[0, 0] != lab[0, -1]


def test_too_large_input_is_refused_before_work():
    from napari_cuts.engine.pipeline import check_memory, estimate_memory

    small = estimate_memory((1, 128, 128, 3))
    assert small < 1e9
    big = estimate_memory((64, 512, 512, 1))
    assert 1e9 < big < 8e9
    with pytest.raises(CutsInputError, match="needs about"):
        check_memory((64, 512, 512, 1), limit=int(1e9))
    enc = untrained(1)
    with pytest.raises(CutsInputError, match="needs about"):
        segment(enc, np.zeros((64, 64)), SegmentConfig(memory_limit=10**6))


def test_negative_weights_are_refused():
    with pytest.raises(CutsInputError, match="texture weight"):
        SegmentConfig(texture_weight=-1)
    with pytest.raises(CutsInputError, match="intensity weight"):
        SegmentConfig(intensity_weight=-0.5)


def test_missing_pixels_are_label_0_in_every_level():
    img = small_image(shape=(48, 56)).astype(np.float32)
    img[5:9, 5:20] = np.nan
    img[40, 50] = np.inf
    with pytest.warns(Warning, match="missing"):
        seg = segment(untrained(1), img)
    missing = ~np.isfinite(img)
    for lab in seg.levels():
        assert (lab[missing] == 0).all() and (lab[~missing] > 0).all()
    assert seg.info["missing_pixels"] == int(missing.sum())


def test_given_vectors_are_used_instead_of_embedding():
    enc = untrained(3)
    img = small_image(shape=(40, 40, 3))
    handed = []
    first = segment_iter(enc, img, on_vectors=handed.append)
    a = run_to_end(first)
    assert len(handed) == 1 and handed[0].shape == (1, 40, 40, enc.dim)
    calls = []
    hook = enc.network.register_forward_hook(lambda *args: calls.append(1))
    try:
        b = run_to_end(segment_iter(enc, img, vectors=handed[0]))
    finally:
        hook.remove()
    assert not calls  # the encoder did not run again
    np.testing.assert_array_equal(a.levels(), b.levels())
    with pytest.raises(CutsInputError, match="do not fit"):
        run_to_end(segment_iter(enc, img, vectors=handed[0][:, :20]))


def _nests(coarse: np.ndarray, fine: np.ndarray) -> bool:
    """Whether every region of `fine` lies inside one region of `coarse`."""
    pairs = np.unique(np.stack([fine.ravel(), coarse.ravel()], 1), axis=0)
    return len(pairs) == len(np.unique(fine))


def test_levels_nest_coarse_to_fine():
    """One sequence of merges: each finer level only splits regions of the coarser one
    (the default level included)."""
    img, _ = touching_blobs(pairs=(4, 3))
    seg = segment(untrained(1), img, SegmentConfig(vector_weight=0))
    levels = seg.levels()
    assert len(levels) > 5 and "classes" in seg.hierarchy.kinds
    assert all(_nests(levels[i], levels[i + 1]) for i in range(len(levels) - 1))
    assert seg.n_regions == sorted(seg.n_regions)


def test_an_object_in_pieces_is_offered_whole_within_its_class():
    """Below the class level that lasted longest, touching regions of one class merge
    along their weakest boundary first: regions 0 and 1 (weak boundary between them, a
    strong one to region 2) are offered as one region without region 2, nested in the
    classes."""
    from napari_cuts.engine.hierarchy.build import coarse_levels
    from napari_cuts.engine.hierarchy.condensation import MergeHistory

    second = MergeHistory(4, steps=[np.array([0, 0, 0, 1]), np.array([0, 0])], persistence=[5, 1])
    edges = np.array([[0, 1], [1, 2], [2, 3]])
    boundary = np.array([[1.0, 1], [10.0, 2], [2.0, 1]])  # summed gradient, faces
    levels = coarse_levels(second, edges, boundary, room=8)
    kinds = [kind for _, kind, _ in levels]
    parts = {int(p.max()) + 1: p for p, _, _ in levels}
    assert kinds.count("classes") == 1 and kinds.count("regions") == 1
    np.testing.assert_array_equal(parts[3], [0, 0, 1, 2])
    assert _nests(parts[2], parts[3])


def test_small_objects_have_pixel_precise_outlines():
    """Discs of radius 3 to 6 on a noisy ground: each is one region of the default level
    whose outline is the disc's to within a pixel (no blocks of superpixels)."""
    from scipy import ndimage

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:96, :96]
    truth = np.zeros((96, 96), np.int32)
    for k, (cy, cx, r) in enumerate([(14, 14, 3), (14, 50, 4), (50, 20, 5), (60, 70, 6), (80, 40, 4)], 1):
        truth[np.hypot(yy - cy, xx - cx) <= r] = k
    img = np.clip(40 + 150 * (truth > 0) + rng.normal(0, 6, truth.shape), 0, 255).astype(np.uint8)
    seg = segment(untrained(1), img, SegmentConfig(vector_weight=0))
    lab = seg.level(seg.default_level)
    for k in range(1, truth.max() + 1):
        region = lab == np.bincount(lab[truth == k]).argmax()
        disc = truth == k
        ring = ndimage.binary_dilation(disc) & ~ndimage.binary_erosion(disc)  # a pixel either side
        assert not ((region ^ disc) & ~ring).any(), k
        assert 2 * (region & disc).sum() / (region.sum() + disc.sum()) > 0.8, k


def test_default_level_is_the_cut_of_longest_lifetimes():
    """A tree of four basins: two pairs that each live long, whose union lives briefly;
    the cut keeps the pairs (not the basins, not the root)."""
    from napari_cuts.engine.hierarchy.default_level import excess_of_mass
    from napari_cuts.engine.hierarchy.tree import MergeTree

    parent = np.array([4, 4, 5, 5, 6, 6, 6])
    tree = MergeTree(parent, np.array([0, 0, 0, 0, 2.0, 2.0, 0.0]), np.array([10, 10, 10, 10, 20, 20, 40.0]), 4)
    np.testing.assert_array_equal(excess_of_mass(tree), [0, 0, 1, 1])
    # a union that lives far longer than its parts is chosen whole
    parent2 = np.array([4, 4, 5, 5, 6, 6, 7, 7])
    tree2 = MergeTree(parent2, np.array([0, 0, 0, 0, 0.1, 0.1, 5.0, 0.0]),
                      np.array([10, 10, 10, 10, 20, 20, 40, 40.0]), 4)
    np.testing.assert_array_equal(excess_of_mass(tree2), [0, 0, 0, 0])
