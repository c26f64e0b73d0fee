"""Principal components of the CUTS vectors: the points' vector part, and refinement's features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PCA:
    """Principal-component projection fitted on a sample of vectors."""

    mean: np.ndarray
    components: np.ndarray  # (D, d)

    @classmethod
    def fit(cls, vectors: np.ndarray, n_components: int, whiten: float = 0.0,
            whiten_floor: float = 0.1) -> PCA:
        """Fit on (n, D) vectors; components are scaled by variance ** (-whiten / 2).

        ``whiten=0`` keeps the variances, ``1`` gives every component unit variance.
        """
        x = np.asarray(vectors, np.float64)
        mean = x.mean(0)
        cov = np.cov(x - mean, rowvar=False)
        vals, vecs = np.linalg.eigh(np.atleast_2d(cov))
        order = np.argsort(vals)[::-1][: min(n_components, x.shape[1])]
        comps = vecs[:, order]
        # Fix signs so the result does not depend on the eigen solver.
        comps *= np.sign(comps[np.abs(comps).argmax(0), np.arange(comps.shape[1])])
        if whiten:
            var = np.clip(vals[order], 0, None)
            # Regularised: a component far weaker than the average kept one is not blown
            # up to unit variance (it would be noise on nearly uniform images).
            floor = whiten_floor * max(float(var.mean()) if var.size else 0.0, 1e-12)
            comps = comps / (var + floor) ** (whiten / 2)
        return cls(mean.astype(np.float32), comps.astype(np.float32))

    @property
    def n_components(self) -> int:
        return self.components.shape[1]

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """Components of (..., D) vectors, any memory layout (a tile's vectors as the
        encoder leaves them are projected without a copy)."""
        return np.matmul(np.asarray(vectors, np.float32), self.components) - self.mean @ self.components
