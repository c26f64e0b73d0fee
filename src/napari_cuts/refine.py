"""Scribble refinement: a light per-pixel classifier on CUTS vectors.

A few strokes per class (label 1..K; 0 = not scribbled) train a class-balanced
multinomial logistic regression (or a one-hidden-layer MLP) on the features of the
scribbled pixels, full batch, seeded and deterministic; it then labels every pixel.

Features are computed once and kept by a :class:`ScribbleRefiner`, so re-running as
strokes are added costs only the (sub-second) fit and one matrix product::

    refiner = ScribbleRefiner.from_image(encoder, image)
    labels = refiner.predict(scribbles)            # again after every stroke

The features of a pixel are its CUTS vector reduced by PCA, optionally the image's
normalised intensities, all optionally smoothed (texture pooling), and optionally the
mean feature vector (or a one-hot code) of the pixel's region at some hierarchy levels.

For GUI workers, :meth:`ScribbleRefiner.predict_iter` and :func:`refine_iter` are
generators that yield :class:`napari_cuts.pipeline.Progress` and return the labels
(``StopIteration.value``); stop iterating to cancel. :meth:`ScribbleRefiner.predict`
and :func:`refine` take a ``should_stop`` callback instead and return ``None`` when it
says stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generator, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from .condensation import PCA
from .config import RefineConfig
from .embedding import embed_region, iter_embedding_tiles, n_tiles, tile_grid
from .encoder import Encoder
from .io import CutsInputError, smallest_label_dtype, to_volume
from .pipeline import Progress, run_to_end

__all__ = [
    "RefineConfig",
    "ScribbleRefiner",
    "build_features",
    "fit_predict",
    "image_features_iter",
    "refine",
    "refine_iter",
    "snap_to_levels",
]


# ----------------------------------------------------------------------------- features


def _smooth(features: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of (Z, Y, X, F) features over Y and X only."""
    if sigma <= 0:
        return features
    return ndimage.gaussian_filter(features, sigma=(0, sigma, sigma, 0), mode="nearest")


def _as_level_stack(levels, spatial: tuple[int, int, int]) -> list[np.ndarray]:
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
        E.g. the output of :func:`napari_cuts.embedding.embed`; reduced by PCA when
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
        sample = flat if len(flat) <= cfg.sample_pixels else flat[rng.choice(len(flat), cfg.sample_pixels, replace=False)]
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
    level_list = _as_level_stack(levels, vec.shape[:3])
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
    snap: np.ndarray | Sequence[np.ndarray] | None = None,
) -> Generator[Progress, None, np.ndarray]:
    """Refinement features of an image, as a generator of :class:`Progress`.

    Full 128-d vectors are held for the whole image only when it is small; otherwise a
    PCA is fitted on the vectors of random tiles and every tile is reduced as it is
    embedded. Returns (Z, Y, X, F) float32 features.
    """
    volume = to_volume(np.asarray(image), channel_axis=channel_axis, is_stack=is_stack)
    return (yield from _volume_features_iter(encoder, volume, levels, config or RefineConfig(), device))


def _volume_features_iter(encoder, volume, levels, cfg, device):
    encoder.check_channels(volume.shape[-1])
    shape = volume.shape[:3]
    n_pixels = int(np.prod(shape))
    reduce = cfg.pca_dims is not None and cfg.pca_dims < encoder.dim
    pca = None
    if reduce and n_pixels > cfg.sample_pixels:
        rng = np.random.default_rng(cfg.seed)
        cells = tile_grid(shape, 64)
        order = rng.permutation(len(cells))
        sample, total = [], 0
        for k, i in enumerate(order):
            z, ys, xs = cells[i]
            vec = embed_region(encoder, volume[z], ys, xs, device=device)[0]
            sample.append(vec.reshape(-1, encoder.dim))
            total += len(sample[-1])
            yield Progress("sampling", min(total, cfg.sample_pixels), cfg.sample_pixels, "vectors of a pixel sample")
            if total >= cfg.sample_pixels:
                break
        pca = PCA.fit(np.concatenate(sample), cfg.pca_dims)
        del sample
    dim = pca.n_components if pca is not None else encoder.dim
    vectors = np.empty(shape + (dim,), np.float32)
    count = n_tiles(volume.shape)
    for i, (z, ys, xs, vec) in enumerate(iter_embedding_tiles(encoder, volume, device=device)):
        if pca is not None:
            vec = pca(vec.reshape(-1, vec.shape[-1])).reshape(vec.shape[:2] + (-1,))
        vectors[z, ys, xs] = vec
        yield Progress("embedding", i + 1, count, "computing pixel vectors")
    intensities = encoder.normalization(volume) if cfg.intensity else None
    yield Progress("features", 0, 1, "combining features")
    features = build_features(vectors, intensities=intensities, levels=levels, config=cfg)
    yield Progress("features", 1, 1, f"{features.shape[-1]} features per pixel")
    return features


# ----------------------------------------------------------------------------- classifier


def _classes_of(scribbles: np.ndarray) -> np.ndarray:
    values = np.unique(scribbles)
    classes = values[values != 0]
    if len(classes) < 2:
        raise CutsInputError(
            "scribble at least two classes (label 1 for one thing, 2 for another); "
            f"found {len(classes)}"
        )
    return classes


def _check_scribbles(scribbles: np.ndarray, spatial: tuple[int, int, int]) -> tuple[np.ndarray, tuple]:
    """Scribbles as (Z, Y, X) int64, and the shape the result must have."""
    s = np.asarray(scribbles)
    out_shape = s.shape
    if s.shape == spatial[1:] and spatial[0] == 1:
        s = s[None]
    if s.shape != spatial:
        want = spatial[1:] if spatial[0] == 1 else spatial
        raise CutsInputError(f"the scribbles have shape {out_shape}, but the image has {want}")
    if s.dtype == bool:
        s = s.astype(np.uint8)
    if not np.issubdtype(s.dtype, np.integer):
        if not np.issubdtype(s.dtype, np.floating) or np.any(s != np.round(s)):
            raise CutsInputError("scribbles must be a label image (whole numbers, 0 = unlabelled)")
    s = s.astype(np.int64)
    if s.min() < 0:
        raise CutsInputError("scribble labels must not be negative")
    return s, out_shape


class _Net(torch.nn.Module):
    def __init__(self, n_in: int, n_out: int, kind: str, hidden: int):
        super().__init__()
        if kind == "mlp":
            self.body = torch.nn.Sequential(
                torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_out)
            )
        else:
            self.body = torch.nn.Linear(n_in, n_out)
            torch.nn.init.zeros_(self.body.weight)
            torch.nn.init.zeros_(self.body.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def penalty(self) -> torch.Tensor:
        return sum((p * p).sum() for n, p in self.named_parameters() if n.endswith("weight"))


def _train_iter(x: torch.Tensor, y: torch.Tensor, n_classes: int, cfg: RefineConfig):
    """Full-batch, class-balanced training; yields progress, returns the network."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = _Net(x.shape[1], n_classes, cfg.classifier, cfg.hidden)
    counts = torch.bincount(y, minlength=n_classes).double()
    weight = (counts.sum() / (n_classes * counts.clamp_min(1))).float()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    report = max(1, cfg.iterations // 20)
    for it in range(cfg.iterations):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y, weight=weight) + cfg.weight_decay * net.penalty()
        loss.backward()
        opt.step()
        if (it + 1) % report == 0 or it + 1 == cfg.iterations:
            yield Progress("training", it + 1, cfg.iterations, f"loss {loss.item():.4f}")
    return net.eval()


class ScribbleRefiner:
    """Per-pixel features kept in memory, and a classifier fitted to scribbles on demand.

    Parameters
    ----------
    features : ndarray, (Y, X, F) or (Z, Y, X, F), any real dtype
        Used as given (each column is standardised); see :func:`build_features` and
        :meth:`from_image` to make them.
    config : RefineConfig, optional
        Classifier settings (its feature settings are used by :meth:`from_image` only).
    """

    def __init__(self, features: np.ndarray, config: RefineConfig | None = None):
        self.config = config or RefineConfig()
        feats = np.asarray(features)
        if feats.ndim == 3:
            feats = feats[None]
        if feats.ndim != 4:
            raise CutsInputError(f"features must be (Y, X, F) or (Z, Y, X, F); got shape {np.shape(features)}")
        if not np.issubdtype(feats.dtype, np.number) or np.iscomplexobj(feats):
            raise CutsInputError("features must be real numbers")
        self.spatial_shape: tuple[int, int, int] = tuple(feats.shape[:3])
        flat = feats.reshape(-1, feats.shape[-1]).astype(np.float32, copy=False)
        if not np.all(np.isfinite(flat)):
            raise CutsInputError("features must be finite")
        rng = np.random.default_rng(self.config.seed)
        n = self.config.sample_pixels
        sample = flat if len(flat) <= n else flat[rng.choice(len(flat), n, replace=False)]
        mean = sample.mean(0, dtype=np.float64)
        std = sample.std(0, dtype=np.float64)
        std = np.where(std > 1e-12, std, 1.0)
        x = ((flat - mean) / std).astype(np.float32)
        if self.config.clip:
            np.clip(x, -self.config.clip, self.config.clip, out=x)
        self._x = torch.from_numpy(x)
        self.n_features = int(feats.shape[-1])
        self.classes_: np.ndarray | None = None
        self.network_: torch.nn.Module | None = None

    @classmethod
    def from_image(
        cls,
        encoder: Encoder,
        image: np.ndarray,
        *,
        levels: np.ndarray | Sequence[np.ndarray] | None = None,
        config: RefineConfig | None = None,
        is_stack: bool | None = None,
        channel_axis: bool | None = None,
        progress: Callable[[Progress], None] | None = None,
        device=None,
    ) -> "ScribbleRefiner":
        """Compute the features of an image once (see :func:`image_features_iter`)."""
        cfg = config or RefineConfig()
        gen = image_features_iter(encoder, image, levels=levels, config=cfg, is_stack=is_stack,
                                  channel_axis=channel_axis, device=device)
        return cls(run_to_end(gen, progress), cfg)

    def fit_iter(self, scribbles: np.ndarray) -> Generator[Progress, None, "ScribbleRefiner"]:
        """Fit the classifier to the scribbled pixels; a generator of :class:`Progress`."""
        s, _ = _check_scribbles(scribbles, self.spatial_shape)
        classes = _classes_of(s)
        flat = s.ravel()
        where = np.flatnonzero(flat)
        y = torch.from_numpy(np.searchsorted(classes, flat[where]).astype(np.int64))
        x = self._x[torch.from_numpy(where)]
        net = yield from _train_iter(x, y, len(classes), self.config)
        self.classes_, self.network_ = classes, net
        return self

    def fit(self, scribbles: np.ndarray) -> "ScribbleRefiner":
        """Fit the classifier to the scribbled pixels."""
        return run_to_end(self.fit_iter(scribbles))

    def predict_fitted_iter(
        self, *, return_probabilities: bool = False, chunk: int = 262_144
    ) -> Generator[Progress, None, np.ndarray | tuple[np.ndarray, np.ndarray]]:
        """Label every pixel with the fitted classifier; (Z, Y, X) labels (and probabilities)."""
        if self.network_ is None:
            raise RuntimeError("fit the refiner to scribbles first")
        n = len(self._x)
        labels = np.empty(n, smallest_label_dtype(int(self.classes_.max())))
        proba = np.empty((n, len(self.classes_)), np.float32) if return_probabilities else None
        steps = max(1, -(-n // chunk))
        with torch.inference_mode():
            for k, start in enumerate(range(0, n, chunk)):
                logits = self.network_(self._x[start : start + chunk])
                labels[start : start + chunk] = self.classes_[logits.argmax(1).numpy()]
                if proba is not None:
                    proba[start : start + chunk] = torch.softmax(logits, 1).numpy()
                yield Progress("predicting", k + 1, steps, "labelling pixels")
        labels = labels.reshape(self.spatial_shape)
        if proba is not None:
            return labels, proba.reshape(self.spatial_shape + (-1,))
        return labels

    def predict_iter(
        self, scribbles: np.ndarray, *, return_probabilities: bool = False
    ) -> Generator[Progress, None, np.ndarray | tuple[np.ndarray, np.ndarray]]:
        """Fit to `scribbles`, then label every pixel; a generator of :class:`Progress`.

        Returns labels of the scribbles' shape holding the scribbled class values (and,
        with ``return_probabilities``, the (..., K) class probabilities, classes in
        increasing order).
        """
        _, out_shape = _check_scribbles(scribbles, self.spatial_shape)
        yield from self.fit_iter(scribbles)
        result = yield from self.predict_fitted_iter(return_probabilities=return_probabilities)
        if return_probabilities:
            labels, proba = result
            return labels.reshape(out_shape), proba.reshape(out_shape + (-1,))
        return result.reshape(out_shape)

    def predict(
        self,
        scribbles: np.ndarray,
        *,
        return_probabilities: bool = False,
        should_stop: Callable[[], bool] | None = None,
        progress: Callable[[Progress], None] | None = None,
    ):
        """Fit to `scribbles` and label every pixel; ``None`` if `should_stop` says stop.

        See :meth:`predict_iter` for what is returned.
        """
        gen = self.predict_iter(scribbles, return_probabilities=return_probabilities)
        return run_to_end(gen, progress, should_stop)


def fit_predict(
    features: np.ndarray,
    scribbles: np.ndarray,
    config: RefineConfig | None = None,
    *,
    return_probabilities: bool = False,
    should_stop: Callable[[], bool] | None = None,
):
    """Train on the scribbled pixels' features and label every pixel.

    Parameters
    ----------
    features : ndarray, (Y, X, F) or (Z, Y, X, F)
        Per-pixel features, used as given (standardised per column).
    scribbles : ndarray, the spatial shape of `features`
        0 = unlabelled, other values are classes (at least two classes).
    config : RefineConfig, optional
        Classifier settings.

    Returns
    -------
    ndarray
        Labels of the scribbles' shape with the scribbled class values (the smallest
        unsigned dtype that holds them); ``None`` if `should_stop` said stop.
    """
    refiner = ScribbleRefiner(features, config)
    return refiner.predict(scribbles, return_probabilities=return_probabilities, should_stop=should_stop)


def refine_iter(
    encoder: Encoder,
    image: np.ndarray,
    scribbles: np.ndarray,
    *,
    levels: np.ndarray | Sequence[np.ndarray] | None = None,
    config: RefineConfig | None = None,
    is_stack: bool | None = None,
    channel_axis: bool | None = None,
    device=None,
    snap: np.ndarray | Sequence[np.ndarray] | None = None,
) -> Generator[Progress, None, np.ndarray]:
    """:func:`refine` as a generator of :class:`Progress` (returns the labels)."""
    cfg = config or RefineConfig()
    volume = to_volume(np.asarray(image), channel_axis=channel_axis, is_stack=is_stack)
    _check_scribbles(scribbles, volume.shape[:3])  # fail before the costly part
    _classes_of(np.asarray(scribbles))
    if snap is not None:
        snap = _as_level_stack(snap, volume.shape[:3])
    features = yield from _volume_features_iter(encoder, volume, levels, cfg, device)
    refiner = ScribbleRefiner(features, cfg)
    del features
    if snap is None:
        return (yield from refiner.predict_iter(scribbles))
    _, proba = yield from refiner.predict_iter(scribbles, return_probabilities=True)
    shape = np.shape(scribbles)
    labels, _ = snap_to_levels(proba, [lev.reshape(shape) for lev in snap], scribbles,
                               refiner.classes_)
    return labels


def refine(
    encoder: Encoder,
    image: np.ndarray,
    scribbles: np.ndarray,
    *,
    levels: np.ndarray | Sequence[np.ndarray] | None = None,
    config: RefineConfig | None = None,
    is_stack: bool | None = None,
    channel_axis: bool | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[Progress], None] | None = None,
    device=None,
    snap: np.ndarray | Sequence[np.ndarray] | None = None,
) -> np.ndarray | None:
    """Label every pixel of an image from scribbles, using CUTS vectors as features.

    Parameters
    ----------
    encoder : Encoder
        A (trained) CUTS encoder for the image's channel count.
    image : ndarray
        Any layout :func:`napari_cuts.io.to_volume` accepts.
    scribbles : ndarray, (Y, X) or (Z, Y, X)
        0 = unlabelled; 1..K (any values) = classes; at least two classes.
    levels : label image(s), optional
        Hierarchy levels (e.g. ``Segmentation.levels()``) whose regions add features.
    config : RefineConfig, optional
    should_stop : callable, optional
        Polled between steps; when it returns True, stop and return ``None``.
    progress : callable, optional
        Called with every :class:`Progress`.
    snap : label images, optional
        Hierarchy levels (coarse to fine) to snap to: see :func:`snap_to_levels`
        (strokes pick whole regions; regions without strokes get class 1).

    Returns
    -------
    ndarray or None
        Labels of the scribbles' shape holding the scribbled class values.
    """
    gen = refine_iter(encoder, image, scribbles, levels=levels, config=config, is_stack=is_stack,
                      channel_axis=channel_axis, device=device, snap=snap)
    return run_to_end(gen, progress, should_stop)


def vote_in_regions(probabilities: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Give every region of a CUTS level the class with the highest mean probability.

    Parameters
    ----------
    probabilities : (..., K) array
        Per-pixel class probabilities (as from ``predict(..., return_probabilities=True)``).
    regions : array
        A label image of the same spatial shape (for example the finest CUTS level).

    Returns
    -------
    (...,) int array of class indices 0..K-1: pixel predictions snapped to the region
    boundaries of the hierarchy.
    """
    regions = np.asarray(regions)
    proba = np.asarray(probabilities, np.float64).reshape(-1, probabilities.shape[-1])
    flat = regions.reshape(-1)
    if len(flat) != len(proba):
        raise CutsInputError(
            f"regions of shape {regions.shape} do not match probabilities of shape "
            f"{probabilities.shape[:-1]}"
        )
    _, inverse = np.unique(flat, return_inverse=True)
    sums = np.zeros((inverse.max() + 1, proba.shape[1]))
    np.add.at(sums, inverse, proba)
    return sums.argmax(1)[inverse].reshape(regions.shape)


def snap_to_levels(
    probabilities: np.ndarray,
    levels: np.ndarray | Sequence[np.ndarray],
    scribbles: np.ndarray,
    classes: Sequence[int] | np.ndarray,
    *,
    background: int | None = None,
) -> tuple[np.ndarray, int]:
    """Turn scribbles into whole CUTS regions, at the level the classifier agrees with.

    For every level, each region takes the class with the highest mean probability,
    and a region with strokes the class most of its strokes have; the level whose map
    agrees best with the pixel classifier (mean Dice over the classes) is chosen
    (the coarser one on ties). At that level, regions with strokes keep their strokes'
    class and all other regions get `background`. So the strokes pick the regions and
    the classifier picks how coarse they are.

    Parameters
    ----------
    probabilities : (..., K) array
        Per-pixel class probabilities, classes in the order of `classes`.
    levels : (L, ...) label images, coarse to fine
        For example ``Segmentation.levels()`` or the layers of a CUTS result.
    scribbles : (...) int array
        0 = not scribbled; values of `classes` elsewhere.
    classes : sequence of K ints
        The class values, increasing (``ScribbleRefiner.classes_``).
    background : int, optional
        Class of regions without strokes; default the smallest class (class 1).

    Returns
    -------
    (labels, level): labels of the scribbles' shape holding class values, and the index
    of the chosen level.
    """
    classes = np.asarray(classes)
    scr = np.asarray(scribbles)
    spatial = scr.shape
    proba = np.asarray(probabilities, np.float64).reshape(-1, len(classes))
    level_list = [np.asarray(lev) for lev in (levels if not isinstance(levels, np.ndarray)
                                              or levels.ndim > scr.ndim else [levels])]
    if not level_list or any(lev.shape != spatial for lev in level_list):
        raise CutsInputError(f"levels must be label images of the scribbles' shape {spatial}")
    if len(proba) != scr.size:
        raise CutsInputError("probabilities do not match the scribbles' shape")
    bg = int(classes.min() if background is None else background)
    if bg not in set(classes.tolist()):
        raise CutsInputError(f"background class {bg} is not one of the classes {classes.tolist()}")
    pixel_class = proba.argmax(1)
    flat_scr = scr.reshape(-1)
    drawn = flat_scr != 0
    stroke_index = np.searchsorted(classes, flat_scr[drawn])
    best = (-1.0, 0, None)
    for li, lev in enumerate(level_list):
        _, region = np.unique(lev.reshape(-1), return_inverse=True)
        n = int(region.max()) + 1
        sums = np.zeros((n, len(classes)))
        np.add.at(sums, region, proba)
        votes = np.zeros((n, len(classes)))
        np.add.at(votes, (region[drawn], stroke_index), 1)
        has_strokes = votes.sum(1) > 0
        region_class = np.where(has_strokes, votes.argmax(1), sums.argmax(1))
        mapped = region_class[region]
        agreement = np.mean([
            2 * np.sum((mapped == k) & (pixel_class == k))
            / max(np.sum(mapped == k) + np.sum(pixel_class == k), 1)
            for k in range(len(classes))
        ])
        if agreement > best[0] + 1e-12:
            stroke_class = np.where(has_strokes, classes[votes.argmax(1)], bg)
            best = (agreement, li, stroke_class[region])
    labels = best[2].reshape(spatial).astype(smallest_label_dtype(int(classes.max())))
    return labels, best[1]
