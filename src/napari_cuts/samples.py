"""Sample images made from data that ships with scikit-image (no downloads)."""

from __future__ import annotations

import numpy as np


def retina_sample(size: int = 192) -> np.ndarray:
    """scikit-image's fundus photograph, resized to ``size`` x ``size`` RGB uint8."""
    import skimage.data
    from skimage.transform import resize

    img = skimage.data.retina()
    out = resize(img, (size, size), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(out, 0, 255).astype(np.uint8)


#: Intensity band of each texture in the mosaic: tissues differ in brightness and grain.
MOSAIC_BANDS = ((20.0, 120.0), (80.0, 180.0), (140.0, 240.0))


def texture_mosaic(size: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A grayscale mosaic of scikit-image's brick, grass and gravel textures.

    Each texture keeps its pattern but is stretched to its own, overlapping intensity
    band (:data:`MOSAIC_BANDS`), as stained tissues differ in brightness and grain.

    Returns ``(image, truth)``: a (size, size) uint8 image and its (size, size) uint8
    ground truth (1 = brick on the left, 2 = grass on the right, 3 = gravel in a disc).
    """
    import skimage.data

    rng = np.random.default_rng(seed)
    textures = [skimage.data.brick(), skimage.data.grass(), skimage.data.gravel()]
    yy, xx = np.mgrid[:size, :size]
    truth = np.where(xx < size // 2, 1, 2).astype(np.uint8)
    truth[(yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 4) ** 2] = 3
    image = np.zeros((size, size), np.float32)
    for label, (tex, (low, high)) in enumerate(zip(textures, MOSAIC_BANDS), start=1):
        reps = -(-size // min(tex.shape))
        tex = np.tile(tex, (reps, reps)) if reps > 1 else tex
        y, x = rng.integers(0, tex.shape[0] - size + 1), rng.integers(0, tex.shape[1] - size + 1)
        crop = tex[y : y + size, x : x + size].astype(np.float32)
        lo, hi = np.percentile(crop, (1, 99))
        crop = low + (np.clip(crop, lo, hi) - lo) / max(hi - lo, 1e-6) * (high - low)
        image[truth == label] = crop[truth == label]
    return np.clip(image, 0, 255).astype(np.uint8), truth
