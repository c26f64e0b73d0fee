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
generators that yield :class:`napari_cuts.engine.pipeline.Progress` and return the labels
(``StopIteration.value``); stop iterating to cancel. :meth:`ScribbleRefiner.predict`
and :func:`refine` take a ``should_stop`` callback instead and return ``None`` when it
says stop.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from napari_cuts.annotation.refine_features import (
    as_level_stack,
    build_features,
    image_features_iter,
    session_features_iter,
)
from napari_cuts.annotation.snapping import snap_to_levels, vote_in_regions
from napari_cuts.config import RefineConfig
from napari_cuts.engine.encoder import Encoder
from napari_cuts.engine.pipeline import Progress, run_to_end
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.writing import smallest_label_dtype

__all__ = [
    "RefineConfig",
    "ScribbleRefiner",
    "build_features",
    "fit_predict",
    "image_features_iter",
    "refine",
    "refine_iter",
    "session_features_iter",
    "snap_to_levels",
    "vote_in_regions",
]


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
    ) -> ScribbleRefiner:
        """Compute the features of an image once (see :func:`image_features_iter`)."""
        cfg = config or RefineConfig()
        gen = image_features_iter(encoder, image, levels=levels, config=cfg, is_stack=is_stack,
                                  channel_axis=channel_axis, device=device)
        return cls(run_to_end(gen, progress), cfg)

    def fit_iter(self, scribbles: np.ndarray) -> Generator[Progress, None, ScribbleRefiner]:
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

    def fit(self, scribbles: np.ndarray) -> ScribbleRefiner:
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
    session=None,
) -> Generator[Progress, None, np.ndarray]:
    """:func:`refine` as a generator of :class:`Progress` (returns the labels).

    `session`: the image's :class:`~napari_cuts.engine.session.ImageSession` (then `image` may
    be None), whose vectors are used if computed before."""
    from napari_cuts.engine.session import ImageSession

    cfg = config or RefineConfig()
    if session is None:
        session = ImageSession.from_image(encoder, image, is_stack=is_stack, channel_axis=channel_axis,
                                          device=device)
    _check_scribbles(scribbles, session.shape)  # fail before the costly part
    _classes_of(np.asarray(scribbles))
    if snap is not None:
        snap = as_level_stack(snap, session.shape)
    features = yield from session_features_iter(session, levels, cfg)
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
    session=None,
) -> np.ndarray | None:
    """Label every pixel of an image from scribbles, using CUTS vectors as features.

    Parameters
    ----------
    encoder : Encoder
        A (trained) CUTS encoder for the image's channel count.
    image : ndarray
        Any layout :func:`napari_cuts.formats.images.to_volume` accepts.
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
    session : ImageSession, optional
        The image's session (see :mod:`napari_cuts.engine.session`); its vectors are reused.

    Returns
    -------
    ndarray or None
        Labels of the scribbles' shape holding the scribbled class values.
    """
    gen = refine_iter(encoder, image, scribbles, levels=levels, config=config, is_stack=is_stack,
                      channel_axis=channel_axis, device=device, snap=snap, session=session)
    return run_to_end(gen, progress, should_stop)
