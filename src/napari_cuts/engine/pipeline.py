"""Fit and segment over images and stacks: embedding -> points -> hierarchy (basins,
condensation, default level; :mod:`napari_cuts.engine.hierarchy.build`)."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from napari_cuts.config import TEXTURE_WEIGHT, SegmentConfig
from napari_cuts.engine.embedding import tile_grid
from napari_cuts.engine.encoder import Encoder
from napari_cuts.engine.hierarchy.build import hierarchy_iter
from napari_cuts.engine.hierarchy.levels import Hierarchy
from napari_cuts.engine.pca import PCA
from napari_cuts.engine.training import TrainingConfig, fit_encoder
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.images import available_memory, to_volume, volume_shape
from napari_cuts.formats.writing import smallest_label_dtype


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
    pixel_nodes: np.ndarray  # (Z, Y, X) basin of every pixel (the extra last one: missing pixels)
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
        ids = np.append(self.hierarchy.node_labels[index], 0)  # the last: missing pixels
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


#: the vectors' texture statistics weigh nothing where at most the first fraction of the
#: intensities' variance lies within the texture window (is lost by pooling over it),
#: fully where at least the second, linearly in between
TEXTURE_WITHIN = (0.55, 0.75)


@dataclass
class FeatureScaling:
    """How the parts of a pixel's point are scaled against each other (per image)."""

    vector_scale: float
    intensity_mean: np.ndarray
    intensity_scale: float
    texture_weight: float = 0.0  # of the vectors' local statistics (texture_channels)

    @classmethod
    def fit(cls, reduced_sample: np.ndarray, intensity_sample: np.ndarray,
            config: SegmentConfig, regional: float = 1.0) -> FeatureScaling:
        """Scales from a sample of reduced vectors and of normalised intensities.

        `regional` is the fraction of the intensities' variance that survives pooling
        over the texture window: intensities that only flicker within textures weigh
        less than intensities that tell regions apart, and the vectors' texture
        statistics (unless the config sets their weight) weigh only where most of that
        variance lies within textures (:data:`TEXTURE_WITHIN`), not where intensities tell
        regions apart.
        """
        vec_rms = float(np.sqrt(reduced_sample.var(0).sum()))
        # Intensities are normalised to about 0..1; a floor keeps the noise of a nearly
        # uniform image from being blown up to full weight.
        int_rms = max(float(np.sqrt(intensity_sample.var(0).sum())), 0.05)
        regional = float(np.clip(regional, 0, 1))
        none, full = TEXTURE_WITHIN
        texture = config.texture_weight
        if texture is None:  # auto
            texture = TEXTURE_WEIGHT * float(np.clip((1.0 - regional - none) / (full - none), 0, 1))
        return cls(config.vector_weight / max(vec_rms, 1e-12), intensity_sample.mean(0).astype(np.float32),
                   config.intensity_weight * float(np.sqrt(regional)) / int_rms, texture)

    def __call__(self, reduced: np.ndarray, intensities: np.ndarray) -> np.ndarray:
        """(..., d + C) points from (..., d) vectors and (..., C) intensities."""
        parts = [reduced * self.vector_scale]
        if self.intensity_scale:
            parts.append((intensities - self.intensity_mean) * self.intensity_scale)
        return np.concatenate(parts, -1).astype(np.float32, copy=False)


def regional_fraction(volume: np.ndarray, encoder: Encoder, sigma: float) -> float:
    """Fraction of the normalised intensities' variance left after Gaussian pooling over
    `sigma` pixels (1 without pooling): near 1 where intensities tell regions apart,
    small where they only vary within textures. Measured on a subsampled volume."""
    if sigma <= 0:
        return 1.0
    step = max(1, int(np.ceil(np.sqrt(volume[0].size / volume.shape[-1] / 250_000))))
    plane = encoder.normalization(volume[:, ::step, ::step])
    s = sigma / step
    pooled = ndimage.gaussian_filter(plane, (0 if len(plane) == 1 else s / 2, s, s, 0), mode="reflect")
    total = float(plane.var(axis=(0, 1, 2)).sum())
    return float(pooled.var(axis=(0, 1, 2)).sum()) / total if total > 0 else 1.0


def estimate_memory(shape: tuple[int, ...], config: SegmentConfig | None = None,
                    n_levels: int = 64) -> int:
    """Peak bytes :func:`segment_iter` plus exporting all levels needs for a volume shape.

    `shape` is (Z, Y, X, C). Counts the float32 volume, every pixel's point, the gradient
    and higra's pixel graph and watershed tree, basin indices and the texture channels (one
    at a time), the full vectors of the sample (or of a small image), one tile's
    activations, and the stacked levels (two bytes per pixel and level).
    """
    cfg = config or SegmentConfig()
    z, y, x, c = shape
    n = z * y * x
    small = n <= cfg.sample_pixels * 1.5
    sampled = n if small else cfg.sample_pixels
    tile = min(cfg.tile_size, y) + 16, min(cfg.tile_size, x) + 16
    tile_bytes = tile[0] * tile[1] * (16 + 32 + 64 + 128) * 4 * 2
    n_points = cfg.pca_dims + c
    return int(
        n * c * 4                      # float32 volume
        + n * n_points * 4 * 2         # points (and a chunk of temporaries)
        + n * 8 * 12                   # gradient, pixel graph, watershed tree (higra, float64 / int64)
        + n * 8 * 4                    # basin per pixel, texture channels
        + sampled * 128 * 4 * 1.5      # full vectors of the sample
        + tile_bytes
        + n * n_levels * 2             # all levels stacked for export
        + 400e6                        # torch, numpy and the interpreter
    )


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
    image: np.ndarray | None,
    config: SegmentConfig | None = None,
    *,
    is_stack: bool | None = None,
    channel_axis: bool | None = None,
    device=None,
    vectors: np.ndarray | None = None,
    on_vectors: Callable[[np.ndarray], None] | None = None,
    session=None,
    store=None,
) -> Generator[Progress, None, Segmentation]:
    """Segment an image or stack; a generator that yields :class:`Progress`.

    The return value (``StopIteration.value``, or a napari worker's ``returned`` signal)
    is a :class:`Segmentation`. Steps: embed the image (once, through its
    :class:`~napari_cuts.engine.session.ImageSession`), fit a PCA on the vectors of a pixel
    sample (the whole image when small), make for every pixel a point of its reduced (and
    optionally smoothed) vector and its intensities (see :class:`SegmentConfig`), then
    basins, condensation and the levels (:func:`napari_cuts.engine.hierarchy.build.hierarchy_iter`).
    Stacks are segmented in 3D.

    `session`: the image's ImageSession (then `image` may be None), whose vectors are
    computed unless they were before; `store`: the
    :class:`~napari_cuts.engine.session.VectorStore` the image's session keeps its vectors in
    (reused when filled before, e.g. by another tool). `vectors`, the image's (Z, Y, X, D) CUTS vectors
    from this encoder, are used instead of embedding again; `on_vectors` receives the
    vectors once computed. NaN or infinite pixels are missing: filled with the channel's
    median for the encoder, label 0 in every level.
    """
    from napari_cuts.engine.session import ImageSession

    cfg = config or SegmentConfig()
    if session is None:
        raw = np.asarray(image)
        check_memory(volume_shape(raw.shape, channel_axis=channel_axis, is_stack=is_stack), cfg,
                     limit=cfg.memory_limit)
        session = ImageSession.from_image(encoder, raw, is_stack=is_stack, channel_axis=channel_axis,
                                          tile_size=cfg.tile_size, device=device, store=store,
                                          keep=store is not None or on_vectors is not None)
    else:
        check_memory(session.volume.shape, cfg, limit=cfg.memory_limit)
    if vectors is not None:
        session.store.put(vectors)
    volume, valid = session.volume, session.valid
    stack = session.is_stack or bool(is_stack)
    rng = np.random.default_rng(cfg.seed)
    shape = volume.shape[:3]
    n_pixels = int(np.prod(shape))
    margin = int(np.ceil(4 * cfg.smoothing)) if cfg.smoothing > 0 else 0
    small = n_pixels <= cfg.sample_pixels * 1.5

    # 1. The vectors (once per session), then a PCA on a pixel sample: the whole image when small.
    # A session that keeps nothing (large, nobody asks again) computes tiles as they are used.
    streaming = session.streams and not small and not session.computed
    if streaming:
        full = None
    elif session.computed:
        full = session.vectors
        yield Progress("embedding", 1, 1, "pixel vectors computed before")
    else:
        full = yield from session.embed_iter()
        if on_vectors is not None:
            on_vectors(full)
    tiles = tile_grid(shape, cfg.tile_size)
    if small:
        sample = np.asarray(full).reshape(-1, encoder.dim)
    else:
        regions = _sample_tiles(shape, cfg.sample_tile, min(cfg.sample_pixels, cfg.pca_pixels), rng)
        sample = []
        for i, (z, ys, xs) in enumerate(regions):
            sample.append(np.asarray(session.region(z, ys, xs)[0] if streaming else full[z, ys, xs])
                          .reshape(-1, encoder.dim))
            yield Progress("sampling", i + 1, len(regions), "vectors of a pixel sample")
        sample = np.concatenate(sample)
    if len(sample) > cfg.pca_pixels:  # a 128x128 covariance needs no more rows
        sample = sample[rng.choice(len(sample), cfg.pca_pixels, replace=False)]
    pca = PCA.fit(sample, cfg.pca_dims, whiten=cfg.whiten)
    pixels = volume.reshape(-1, volume.shape[-1])
    picked = rng.choice(len(pixels), min(len(pixels), cfg.pca_pixels), replace=False)
    scaling = FeatureScaling.fit(pca(sample), encoder.normalization(pixels[np.sort(picked)]), cfg,
                                 regional_fraction(volume, encoder, cfg.texture_scale))
    del sample, pixels
    n_vector = pca.n_components
    n_features = n_vector + volume.shape[-1]

    # 2. Every pixel's point: reduced (and smoothed) vectors and intensities.
    points = np.empty(shape + (n_features,), np.float32)
    if small:
        for z in range(shape[0]):
            red = _smooth(pca(np.asarray(full[z])), cfg.smoothing)
            points[z] = scaling(red, encoder.normalization(volume[z]))
    else:
        for i, (z, ys, xs) in enumerate(tiles):
            vec, (oys, oxs) = session.region(z, ys, xs, margin)
            red = _smooth(pca(vec), cfg.smoothing)
            red = red[ys.start - oys.start : ys.stop - oys.start, xs.start - oxs.start : xs.stop - oxs.start]
            points[z, ys, xs] = scaling(red, encoder.normalization(volume[z, ys, xs]))
            yield Progress("points", i + 1, len(tiles),
                           "computing and reducing pixel vectors" if streaming else "reducing pixel vectors")
    del full

    # 3. Basins, condensation along their adjacency, then of alike regions anywhere.
    texture = n_vector if cfg.vector_weight > 0 else 0
    gen = hierarchy_iter(points, cfg, n_texture=texture, texture_weight=scaling.texture_weight)
    while True:
        try:
            stage, done, total, message = next(gen)
        except StopIteration as stop:
            pixel_nodes, hierarchy, info = stop.value
            break
        yield Progress(stage, done, total, message)
    info["texture_weight"] = round(float(scaling.texture_weight) if texture else 0.0, 3)
    if not valid.all():  # missing pixels: the extra node, label 0 everywhere
        pixel_nodes[~valid] = hierarchy.node_labels.shape[1]
        info["missing_pixels"] = int((~valid).sum())
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
