"""Fit and segment over images and stacks: embedding -> compression -> condensation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Generator, Sequence

import numpy as np

from .condensation import PCA, assign_nearest, condense_iter, kmeans
from .embedding import DEFAULT_TILE, iter_embedding_tiles, n_tiles
from .encoder import RECEPTIVE_RADIUS, Encoder
from .hierarchy import Hierarchy, build_hierarchy
from .io import CutsInputError, to_volume
from .training import TrainingConfig, fit_encoder


@dataclass
class SegmentConfig:
    """Parameters of embedding, compression and condensation."""

    pca_dims: int = 16
    max_nodes: int = 1000
    pixels_per_node: int = 8
    knn: int = 10
    merge_fraction: float = 0.1
    epsilon_growth: float = 1.25
    max_regions: int = 64
    n_salient: int = 5
    sample_pixels: int = 300_000
    sample_tile: int = 128
    tile_size: int = DEFAULT_TILE
    seed: int = 0


@dataclass
class Progress:
    """What a segmentation step reports: a stage, how far it is, and a message."""

    stage: str
    done: int
    total: int
    message: str = ""


@dataclass
class Segmentation:
    """A coarse-to-fine hierarchy of label images."""

    hierarchy: Hierarchy
    pixel_nodes: np.ndarray  # (Z, Y, X) node index per pixel
    is_stack: bool
    info: dict = field(default_factory=dict)

    @property
    def n_levels(self) -> int:
        return self.hierarchy.n_levels

    @property
    def n_regions(self) -> list[int]:
        return self.hierarchy.n_regions

    @property
    def salient(self) -> list[bool]:
        return self.hierarchy.salient

    @property
    def default_level(self) -> int:
        return self.hierarchy.default_level

    @property
    def shape(self) -> tuple[int, ...]:
        return self.pixel_nodes.shape if self.is_stack else self.pixel_nodes.shape[1:]

    def level(self, index: int) -> np.ndarray:
        """Label image of one level: (Y, X), or (Z, Y, X) for a stack; ids start at 1."""
        labels = self.hierarchy.node_labels[index][self.pixel_nodes]
        return labels if self.is_stack else labels[0]

    def levels(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """Levels stacked coarse -> fine: (L, Y, X) or (L, Z, Y, X)."""
        indices = range(self.n_levels) if indices is None else indices
        return np.stack([self.level(i) for i in indices])

    def summary(self) -> dict:
        return self.hierarchy.summary()


def _sample_tiles(shape, tile: int, budget: int, rng: np.random.Generator):
    """Random non-overlapping small tiles covering about `budget` pixels."""
    z, h, w = shape[:3]
    cells = [(zi, y, x) for zi in range(z) for y in range(0, h, tile) for x in range(0, w, tile)]
    picked, total = [], 0
    for i in rng.permutation(len(cells)):
        zi, y, x = cells[i]
        picked.append((zi, slice(y, min(y + tile, h)), slice(x, min(x + tile, w))))
        total += (picked[-1][1].stop - y) * (picked[-1][2].stop - x)
        if total >= budget:
            break
    return picked


def segment_iter(
    encoder: Encoder,
    image: np.ndarray,
    config: SegmentConfig | None = None,
    *,
    is_stack: bool | None = None,
    channel_axis: bool | None = None,
    device=None,
) -> Generator[Progress, None, Segmentation]:
    """Segment an image or stack; a generator that yields :class:`Progress`.

    The return value (``StopIteration.value``, or a napari worker's ``returned`` signal)
    is a :class:`Segmentation`. A stack is condensed jointly, so one tissue gets one
    label in every slice. Full 128-d vectors are only kept for a sample of pixels; the
    rest stream through in tiles and keep just their node index.
    """
    cfg = config or SegmentConfig()
    raw = np.asarray(image)
    volume = to_volume(raw, channel_axis=channel_axis, is_stack=is_stack)
    stack = volume.shape[0] > 1 or bool(is_stack)
    encoder.check_channels(volume.shape[-1])
    rng = np.random.default_rng(cfg.seed)
    n_pixels = int(np.prod(volume.shape[:3]))
    small = n_pixels <= cfg.sample_pixels * 1.5

    # 1. Sample vectors: the whole image when small, else random small tiles.
    if small:
        regions = None
        vol_for_sample = volume
        tile_size = cfg.tile_size
    else:
        regions = _sample_tiles(volume.shape, cfg.sample_tile, cfg.sample_pixels, rng)
        tile_size = cfg.sample_tile
    total = n_tiles(volume.shape, tile_size) if small else len(regions)
    vectors = []
    if small:
        full = np.empty(volume.shape[:3] + (encoder.dim,), np.float32)
        for i, (z, ys, xs, vec) in enumerate(
            iter_embedding_tiles(encoder, vol_for_sample, tile_size=tile_size, device=device)
        ):
            full[z, ys, xs] = vec
            yield Progress("embedding", i + 1, total, "computing pixel vectors")
        vectors = full.reshape(-1, encoder.dim)
    else:
        halo = RECEPTIVE_RADIUS
        for i, (z, ys, xs) in enumerate(regions):
            sub = volume[z : z + 1]
            y0, x0 = max(ys.start - halo, 0), max(xs.start - halo, 0)
            crop = sub[:, y0 : ys.stop + halo, x0 : xs.stop + halo]
            for _, cys, cxs, vec in iter_embedding_tiles(encoder, crop, tile_size=10**9, device=device):
                vectors.append(vec[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0].reshape(-1, encoder.dim))
            yield Progress("sampling", i + 1, total, "computing vectors of a pixel sample")
        vectors = np.concatenate(vectors)
    fit_rows = vectors
    if len(fit_rows) > cfg.sample_pixels:
        fit_rows = fit_rows[rng.choice(len(fit_rows), cfg.sample_pixels, replace=False)]
    pca = PCA.fit(fit_rows, cfg.pca_dims)

    # 2. Compress pixels to weighted nodes.
    yield Progress("clustering", 0, 1, "compressing pixels to nodes")
    n_nodes = max(2, min(cfg.max_nodes, n_pixels // cfg.pixels_per_node))
    km_rows = fit_rows if len(fit_rows) <= 100_000 else fit_rows[rng.choice(len(fit_rows), 100_000, replace=False)]
    centres = kmeans(pca(km_rows), n_nodes, seed=cfg.seed)
    yield Progress("clustering", 1, 1, f"{len(centres)} nodes")
    if small:
        pixel_nodes = assign_nearest(pca(vectors), centres).reshape(volume.shape[:3])
    else:
        del vectors, fit_rows, km_rows
        pixel_nodes = np.empty(volume.shape[:3], np.int32)
        total = n_tiles(volume.shape, cfg.tile_size)
        for i, (z, ys, xs, vec) in enumerate(
            iter_embedding_tiles(encoder, volume, tile_size=cfg.tile_size, device=device)
        ):
            pixel_nodes[z, ys, xs] = assign_nearest(pca(vec.reshape(-1, vec.shape[-1])), centres).reshape(vec.shape[:2])
            yield Progress("embedding", i + 1, total, "computing pixel vectors")
    # Nodes that no pixel chose are dropped.
    used, pixel_nodes = np.unique(pixel_nodes, return_inverse=True)
    pixel_nodes = pixel_nodes.reshape(volume.shape[:3]).astype(np.int32)
    centres = centres[used]
    weights = np.bincount(pixel_nodes.ravel(), minlength=len(centres)).astype(np.float64)

    # 3. Condense the nodes.
    gen = condense_iter(centres, weights, knn=cfg.knn, merge_fraction=cfg.merge_fraction,
                        epsilon_growth=cfg.epsilon_growth)
    while True:
        try:
            it, n = next(gen)
        except StopIteration as stop:
            result = stop.value
            break
        yield Progress("condensing", len(centres) - n, len(centres) - 1, f"iteration {it}: {n} clusters")
    hierarchy = build_hierarchy(result, weights, max_regions=cfg.max_regions, n_salient=cfg.n_salient)
    info = {"n_nodes": int(len(centres)), "iterations": int(result.iterations)}
    return Segmentation(hierarchy, pixel_nodes, bool(stack), info)


def run_to_end(gen: Generator, callback: Callable | None = None):
    """Drive a progress generator to its end and return its return value."""
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            return stop.value
        if callback is not None:
            callback(item)


def segment(
    encoder: Encoder,
    image: np.ndarray,
    config: SegmentConfig | None = None,
    *,
    is_stack: bool | None = None,
    channel_axis: bool | None = None,
    progress: Callable[[Progress], None] | None = None,
    device=None,
) -> Segmentation:
    """Segment an image or stack with a trained encoder; see :func:`segment_iter`."""
    return run_to_end(
        segment_iter(encoder, image, config, is_stack=is_stack, channel_axis=channel_axis, device=device),
        progress,
    )


def fit(
    images: Sequence[np.ndarray],
    config: TrainingConfig | None = None,
    *,
    names: Sequence[str] | None = None,
    progress: Callable | None = None,
    is_stack: bool | None = None,
    device=None,
) -> Encoder:
    """Train one encoder on all `images` (every slice of a stack counts as an image)."""
    volumes = [to_volume(im, is_stack=is_stack) for im in images]
    if not volumes:
        raise CutsInputError("no images to train on")
    return fit_encoder(volumes, config, names=names, callback=progress, device=device, volumes=True)
