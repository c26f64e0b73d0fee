"""Features for scribble refinement: CUTS vectors reduced by PCA, intensities,
optional smoothing, and descriptions of each pixel's region at hierarchy levels."""

from __future__ import annotations

from collections.abc import Generator, Sequence

import numpy as np
from scipy import ndimage

from napari_cuts.config import RefineConfig
from napari_cuts.engine.embedding import DEFAULT_TILE, tile_grid
from napari_cuts.engine.encoder import Encoder
from napari_cuts.engine.pca import PCA
from napari_cuts.engine.pipeline import Progress
from napari_cuts.formats.errors import CutsInputError


def _smooth(features: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of (Z, Y, X, F) features over Y and X only."""
    if sigma <= 0:
        return features
    return ndimage.gaussian_filter(features, sigma=(0, sigma, sigma, 0), mode="nearest")


def as_level_stack(levels, spatial: tuple[int, int, int]) -> list[np.ndarray]:
    """Level label images as a list of (Z, Y, X) int arrays."""
    if levels is None:
        return []
    if isinstance(levels, np.ndarray):
        arr = levels
        if arr.ndim == len(spatial) and arr.shape == spatial or arr.shape == spatial[1:] and spatial[0] == 1:
            levels = [arr]
        else:
            levels = list(arr)
    out = []
    for lev in levels:
        lev = np.asarray(lev)
        if lev.shape == spatial[1:] and spatial[0] == 1:
            lev = lev[None]
        if lev.shape != spatial:
            raise CutsInputError(f"a level has shape {lev.shape}, but the image has {spatial}")
        if not np.issubdtype(lev.dtype, np.integer):
            raise CutsInputError("hierarchy levels must be integer label images")
        out.append(lev)
    return out


def _level_columns(levels: list[np.ndarray], base: np.ndarray, encoding: str) -> list[np.ndarray]:
    """Extra (Z, Y, X, k) feature blocks describing each pixel's region at each level."""
    blocks = []
    flat = base.reshape(-1, base.shape[-1]).astype(np.float64)
    for lev in levels:
        ids, inverse = np.unique(lev.ravel(), return_inverse=True)
        inverse = inverse.ravel()
        if encoding == "onehot":
            block = np.zeros((inverse.size, len(ids)), np.float32)
            block[np.arange(inverse.size), inverse] = 1.0
        else:
            counts = np.bincount(inverse, minlength=len(ids)).astype(np.float64)
            means = np.stack(
                [np.bincount(inverse, flat[:, j], minlength=len(ids)) for j in range(flat.shape[1])], 1
            ) / counts[:, None]
            block = means[inverse].astype(np.float32)
        blocks.append(block.reshape(lev.shape + (-1,)))
    return blocks


def build_features(
    vectors: np.ndarray,
    *,
    intensities: np.ndarray | None = None,
    levels: np.ndarray | Sequence[np.ndarray] | None = None,
    config: RefineConfig | None = None,
) -> np.ndarray:
    """Refinement features from per-pixel vectors already in memory.

    Parameters
    ----------
    vectors : ndarray, (Y, X, D) or (Z, Y, X, D)
        E.g. the output of :func:`napari_cuts.engine.embedding.embed`; reduced by PCA when
        ``config.pca_dims`` is smaller than D.
    intensities : ndarray, optional, (Y, X, C) or (Z, Y, X, C)
        Normalised intensities to add (used when ``config.intensity``).
    levels : label image(s), optional
        Hierarchy levels, each the spatial shape of `vectors`, or stacked (L, ...).
    config : RefineConfig

    Returns
    -------
    ndarray, float32, (Z, Y, X, F)
    """
    cfg = config or RefineConfig()
    vec = np.asarray(vectors, np.float32)
    if vec.ndim == 3:
        vec = vec[None]
    if vec.ndim != 4:
        raise CutsInputError(f"features must be (Y, X, D) or (Z, Y, X, D); got shape {np.shape(vectors)}")
    if cfg.pca_dims is not None and cfg.pca_dims < vec.shape[-1]:
        flat = vec.reshape(-1, vec.shape[-1])
        rng = np.random.default_rng(cfg.seed)
        sample = (flat if len(flat) <= cfg.sample_pixels
                  else flat[rng.choice(len(flat), cfg.sample_pixels, replace=False)])
        pca = PCA.fit(sample, cfg.pca_dims)
        vec = pca(flat).reshape(vec.shape[:3] + (-1,))
    parts = [vec]
    if intensities is not None and cfg.intensity:
        inten = np.asarray(intensities, np.float32)
        if inten.ndim == 3:
            inten = inten[None]
        if inten.shape[:3] != vec.shape[:3]:
            raise CutsInputError(f"intensities have shape {inten.shape}, features {vec.shape}")
        parts.append(inten)
    base = np.concatenate(parts, -1) if len(parts) > 1 else vec
    level_list = as_level_stack(levels, vec.shape[:3])
    extra = _level_columns(level_list, base, cfg.level_encoding)
    base = _smooth(base, cfg.smoothing)
    return np.concatenate([base] + extra, -1) if extra else np.ascontiguousarray(base)


def image_features_iter(
    encoder: Encoder,
    image: np.ndarray,
    *,
    levels: np.ndarray | Sequence[np.ndarray] | None = None,
    config: RefineConfig | None = None,
    is_stack: bool | None = None,
    channel_axis: bool | None = None,
    device=None,
) -> Generator[Progress, None, np.ndarray]:
    """Refinement features of an image, as a generator of :class:`Progress`; see
    :func:`session_features_iter`. Returns (Z, Y, X, F) float32 features."""
    from napari_cuts.engine.session import ImageSession

    session = ImageSession.from_image(encoder, image, is_stack=is_stack, channel_axis=channel_axis,
                                      device=device)
    return (yield from session_features_iter(session, levels, config or RefineConfig()))


def session_features_iter(session, levels, cfg: RefineConfig) -> Generator[Progress, None, np.ndarray]:
    """Refinement features of an :class:`~napari_cuts.engine.session.ImageSession`'s image.

    The session's vectors are computed unless they were before. For an image of more
    than ``cfg.sample_pixels`` pixels a PCA is fitted on the vectors of random 64x64
    cells and the vectors are reduced tile by tile, so full 128-d features are never
    built for the whole image.
    """
    encoder = session.encoder
    shape = session.shape
    n_pixels = int(np.prod(shape))
    if session.computed:
        vectors = session.vectors
        yield Progress("embedding", 1, 1, "pixel vectors computed before")
    else:
        vectors = yield from session.embed_iter()
    reduce = cfg.pca_dims is not None and cfg.pca_dims < encoder.dim
    if reduce and n_pixels > cfg.sample_pixels:
        rng = np.random.default_rng(cfg.seed)
        cells = tile_grid(shape, 64)
        sample, total = [], 0
        for i in rng.permutation(len(cells)):
            z, ys, xs = cells[i]
            sample.append(np.asarray(vectors[z, ys, xs]).reshape(-1, encoder.dim))
            total += len(sample[-1])
            if total >= cfg.sample_pixels:
                break
        pca = PCA.fit(np.concatenate(sample), cfg.pca_dims)
        del sample
        reduced = np.empty(shape + (pca.n_components,), np.float32)
        tiles = tile_grid(shape, DEFAULT_TILE)
        for i, (z, ys, xs) in enumerate(tiles):
            vec = np.asarray(vectors[z, ys, xs])
            reduced[z, ys, xs] = pca(vec)
            yield Progress("reducing", i + 1, len(tiles), "reducing pixel vectors")
        vectors = reduced
    intensities = session.intensities() if cfg.intensity else None
    yield Progress("features", 0, 1, "combining features")
    features = build_features(vectors, intensities=intensities, levels=levels, config=cfg)
    yield Progress("features", 1, 1, f"{features.shape[-1]} features per pixel")
    return features
