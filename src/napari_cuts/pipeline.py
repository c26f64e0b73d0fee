"""Fit and segment over images and stacks: embedding -> compression -> condensation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Generator, Sequence

import numpy as np
from scipy import ndimage

from .condensation import PCA, assign_nearest, condense_iter, kmeans
from .embedding import DEFAULT_TILE, embed_region, tile_grid
from .encoder import Encoder
from .hierarchy import Hierarchy, build_hierarchy
from .io import CutsInputError, smallest_label_dtype, to_volume, volume_shape
from .training import TrainingConfig, fit_encoder


@dataclass
class SegmentConfig:
    """Parameters of embedding, compression and condensation."""

    pca_dims: int = 8
    whiten: float = 0.5  # components scaled by variance**-0.25: weak ones (hue) count more; 0: none, 1: full whitening
    max_nodes: int = 1000
    pixels_per_node: int = 8
    knn: int = 10
    merge_fraction: float = 0.05
    epsilon_growth: float = 1.25
    mass_power: float = 0.5
    max_regions: int = 64
    n_salient: int = 5
    smoothing: float = 0.0
    # Points condensed per pixel: [vectors (unit RMS), intensities x intensity_weight,
    # position x spatial_weight]. The image's own intensities sharpen boundaries the
    # 17x17-pixel vectors blur; position keeps regions compact (0: alike pixels anywhere
    # in the image share a region). Weights are relative to the vectors' RMS spread, and
    # position runs 0..1 over the image's longest side.
    intensity_weight: float = 1.5
    spatial_weight: float = 8.0
    vector_weight: float = 1.0  # 0: condense intensities and position only (an ablation)
    sample_pixels: int = 300_000
    pca_pixels: int = 50_000
    kmeans_pixels: int = 8_192
    kmeans_iterations: int = 5
    sample_tile: int = 128
    tile_size: int = DEFAULT_TILE
    seed: int = 0
    memory_limit: int | None = None  # bytes; None: what the machine has available

    def __post_init__(self):
        for name in ("intensity_weight", "spatial_weight", "vector_weight", "smoothing"):
            if getattr(self, name) < 0:
                raise CutsInputError(f"{name.replace('_', ' ')} must not be negative")


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
        ids = self.hierarchy.node_labels[index]
        labels = ids.astype(smallest_label_dtype(int(ids.max())))[self.pixel_nodes]
        return labels if self.is_stack else labels[0]

    def levels(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """Levels stacked coarse -> fine: (L, Y, X) or (L, Z, Y, X)."""
        indices = list(range(self.n_levels) if indices is None else indices)
        dtype = smallest_label_dtype(int(self.hierarchy.node_labels[indices].max()))
        out = np.empty((len(indices),) + self.shape, dtype)
        for k, i in enumerate(indices):
            out[k] = self.level(i)
        return out

    def summary(self) -> dict:
        return self.hierarchy.summary()


def _sample_tiles(shape, tile: int, budget: int, rng: np.random.Generator):
    """Random non-overlapping small tiles covering about `budget` pixels."""
    cells = tile_grid(shape, tile)
    picked, total = [], 0
    for i in rng.permutation(len(cells)):
        picked.append(cells[i])
        total += (cells[i][1].stop - cells[i][1].start) * (cells[i][2].stop - cells[i][2].start)
        if total >= budget:
            break
    return picked


def _smooth(reduced: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of (Y, X, d) vectors over Y and X (texture pooling)."""
    if sigma <= 0:
        return reduced
    return ndimage.gaussian_filter(reduced, sigma=(sigma, sigma, 0), mode="nearest")


@dataclass
class FeatureScaling:
    """How the parts of a pixel's point are scaled against each other (per image)."""

    vector_scale: float
    intensity_mean: np.ndarray
    intensity_scale: float
    spatial_scale: float

    @classmethod
    def fit(cls, reduced_sample: np.ndarray, intensity_sample: np.ndarray, extent: int,
            config: SegmentConfig) -> "FeatureScaling":
        """Scales from a sample of reduced vectors and of normalised intensities."""
        vec_rms = float(np.sqrt(reduced_sample.var(0).sum()))
        # Intensities are normalised to about 0..1; a floor keeps the noise of a nearly
        # uniform image from being blown up to full weight.
        int_rms = max(float(np.sqrt(intensity_sample.var(0).sum())), 0.05)
        return cls(config.vector_weight / max(vec_rms, 1e-12), intensity_sample.mean(0).astype(np.float32),
                   config.intensity_weight / int_rms, config.spatial_weight / max(extent, 1))

    def n_features(self, n_vector: int, n_channels: int) -> int:
        return n_vector + (n_channels if self.intensity_scale else 0) + (2 if self.spatial_scale else 0)

    def __call__(self, reduced: np.ndarray, intensities: np.ndarray, ys: slice,
                 xs: slice) -> np.ndarray:
        """(h, w, F) points of a rectangle from its (h, w, d) vectors and (h, w, C) intensities.

        Position is (y, x) within the slice: the slices of a stack are taken as aligned,
        so a structure at one place keeps one label through the stack.
        """
        parts = [reduced * self.vector_scale]
        if self.intensity_scale:
            parts.append((intensities - self.intensity_mean) * self.intensity_scale)
        if self.spatial_scale:
            yy, xx = np.meshgrid(np.arange(ys.start, ys.stop), np.arange(xs.start, xs.stop),
                                 indexing="ij")
            parts.append(np.stack([yy, xx], -1) * self.spatial_scale)
        return np.concatenate(parts, -1).astype(np.float32, copy=False)


def estimate_memory(shape: tuple[int, ...], config: SegmentConfig | None = None,
                    n_levels: int = 64) -> int:
    """Peak bytes :func:`segment_iter` plus exporting all levels needs for a volume shape.

    `shape` is (Z, Y, X, C). Counts the float32 volume, the reduced vectors, node indices,
    the full vectors of the sample (or of a small image), one tile's activations, and the
    stacked levels (one byte per pixel per level for up to 255 regions).
    """
    cfg = config or SegmentConfig()
    z, y, x, c = shape
    n = z * y * x
    small = n <= cfg.sample_pixels * 1.5
    sampled = n if small else cfg.sample_pixels
    tile = min(cfg.tile_size, y) + 16, min(cfg.tile_size, x) + 16
    tile_bytes = tile[0] * tile[1] * (16 + 32 + 64 + 128) * 4 * 2
    label_bytes = 1 if cfg.max_regions <= 255 else 2
    return int(
        n * c * 4                      # float32 volume
        + n * (cfg.pca_dims + c + 2) * 4 * 1.5  # points: vectors, intensities, position
        + n * 4 * 2                    # node index per pixel (+ remapping)
        + sampled * 128 * 4 * 1.5      # full vectors of the sample
        + tile_bytes
        + 16384 * cfg.max_nodes * 4 * 2  # a chunk of pixel-to-node distances
        + n * n_levels * label_bytes   # all levels stacked for export
        + 400e6                        # torch, numpy and the interpreter
    )


def available_memory() -> int:
    """Bytes of memory available to this process now (psutil's ``available``)."""
    from .io import available_memory as _available

    return _available()


def check_memory(shape: tuple[int, ...], config: SegmentConfig | None = None,
                 limit: int | None = None) -> int:
    """Refuse, before any work, a volume whose segmentation would not fit in memory."""
    need = estimate_memory(shape, config)
    limit = available_memory() if limit is None else limit
    if need > limit:
        z, y, x, c = shape
        raise CutsInputError(
            f"an image of {z}x{y}x{x}x{c} needs about {need / 1e9:.1f} GB to segment, "
            f"but only {limit / 1e9:.1f} GB are available; crop or downsample it, or "
            "segment its slices separately"
        )
    return need


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
    is a :class:`Segmentation`. Steps: fit a PCA on the vectors of a pixel sample (the
    whole image when small), stream all tiles through the encoder keeping for every pixel
    a point made of its reduced (and optionally smoothed) vector, its intensities and its
    (y, x) position (see :class:`SegmentConfig`), compress the points to k-means nodes,
    and condense the nodes. A stack is condensed jointly with the slices aligned, so a
    structure at one place keeps its label through the stack; with ``spatial_weight=0``
    alike pixels share a label wherever they are.
    """
    cfg = config or SegmentConfig()
    raw = np.asarray(image)
    check_memory(volume_shape(raw.shape, channel_axis=channel_axis, is_stack=is_stack), cfg,
                 limit=cfg.memory_limit)
    volume = to_volume(raw, channel_axis=channel_axis, is_stack=is_stack)
    stack = volume.shape[0] > 1 or bool(is_stack)
    encoder.check_channels(volume.shape[-1])
    rng = np.random.default_rng(cfg.seed)
    shape = volume.shape[:3]
    n_pixels = int(np.prod(shape))
    margin = int(np.ceil(4 * cfg.smoothing)) if cfg.smoothing > 0 else 0
    small = n_pixels <= cfg.sample_pixels * 1.5

    # 1. PCA on the vectors of a pixel sample: the whole image when it is small.
    tiles = tile_grid(shape, cfg.tile_size)
    if small:
        full = np.empty(shape + (encoder.dim,), np.float32)
        for i, (z, ys, xs) in enumerate(tiles):
            full[z, ys, xs] = embed_region(encoder, volume[z], ys, xs, device=device)[0]
            yield Progress("embedding", i + 1, len(tiles), "computing pixel vectors")
        sample = full.reshape(-1, encoder.dim)
    else:
        regions = _sample_tiles(shape, cfg.sample_tile, cfg.sample_pixels, rng)
        sample = []
        for i, (z, ys, xs) in enumerate(regions):
            vec = embed_region(encoder, volume[z], ys, xs, device=device)[0]
            sample.append(vec.reshape(-1, encoder.dim))
            yield Progress("sampling", i + 1, len(regions), "vectors of a pixel sample")
        sample = np.concatenate(sample)
    if len(sample) > cfg.pca_pixels:  # a 128x128 covariance needs no more rows
        sample = sample[rng.choice(len(sample), cfg.pca_pixels, replace=False)]
    pca = PCA.fit(sample, cfg.pca_dims, whiten=cfg.whiten)
    pixels = volume.reshape(-1, volume.shape[-1])
    picked = rng.choice(len(pixels), min(len(pixels), cfg.pca_pixels), replace=False)
    scaling = FeatureScaling.fit(pca(sample), encoder.normalization(pixels[np.sort(picked)]),
                                 max(shape[1:]), cfg)
    del sample, pixels
    n_features = scaling.n_features(pca.n_components, volume.shape[-1])

    # 2. Every pixel's point: reduced (and smoothed) vectors, intensities and position.
    reduced = np.empty(shape + (n_features,), np.float32)
    if small:
        whole = slice(0, shape[1]), slice(0, shape[2])
        for z in range(shape[0]):
            red = _smooth(pca(full[z].reshape(-1, encoder.dim)).reshape(shape[1:] + (-1,)), cfg.smoothing)
            reduced[z] = scaling(red, encoder.normalization(volume[z]), *whole)
        del full
    else:
        for i, (z, ys, xs) in enumerate(tiles):
            vec, (oys, oxs) = embed_region(encoder, volume[z], ys, xs, margin=margin, device=device)
            red = _smooth(pca(vec.reshape(-1, encoder.dim)).reshape(vec.shape[:2] + (-1,)), cfg.smoothing)
            red = red[ys.start - oys.start : ys.stop - oys.start, xs.start - oxs.start : xs.stop - oxs.start]
            reduced[z, ys, xs] = scaling(red, encoder.normalization(volume[z, ys, xs]), ys, xs)
            yield Progress("embedding", i + 1, len(tiles), "computing pixel vectors")
    flat = reduced.reshape(-1, n_features)

    # 3. Compress the pixels to weighted nodes.
    yield Progress("clustering", 0, 1, "compressing pixels to nodes")
    n_nodes = max(2, min(cfg.max_nodes, n_pixels // cfg.pixels_per_node))
    rows = flat if n_pixels <= cfg.kmeans_pixels else flat[rng.choice(n_pixels, cfg.kmeans_pixels, replace=False)]
    centres = kmeans(rows, n_nodes, iterations=cfg.kmeans_iterations, seed=cfg.seed)
    pixel_nodes = assign_nearest(flat, centres)
    del reduced, flat
    counts = np.bincount(pixel_nodes, minlength=len(centres))
    used = np.flatnonzero(counts)  # drop nodes that no pixel chose
    remap = np.zeros(len(centres), np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    pixel_nodes = remap[pixel_nodes].reshape(shape)
    centres, weights = centres[used], counts[used].astype(np.float64)
    yield Progress("clustering", 1, 1, f"{len(centres)} nodes")

    # 4. Condense the nodes.
    gen = condense_iter(centres, weights, knn=cfg.knn, merge_fraction=cfg.merge_fraction,
                        epsilon_growth=cfg.epsilon_growth, mass_power=cfg.mass_power)
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


def run_to_end(gen: Generator, callback: Callable | None = None,
               should_stop: Callable[[], bool] | None = None):
    """Drive a progress generator to its end and return its return value.

    `callback` sees every yielded item; when `should_stop()` turns true the generator is
    closed and None is returned.
    """
    while True:
        if should_stop is not None and should_stop():
            gen.close()
            return None
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
