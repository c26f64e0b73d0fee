"""Reading images, arranging their axes, intensity normalisation and TIFF export.

Every engine function works on a *volume*: a float32 array of shape (Z, Y, X, C).
A 2D image is a volume with Z = 1; a grayscale image has C = 1.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".npy")


class CutsInputError(ValueError):
    """A user mistake with inputs (file, format, shape, encoder); the message is for people."""


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a .tif/.tiff, .png/.jpg or .npy file into a numpy array.

    Raises
    ------
    CutsInputError
        If the file is missing, has an unknown suffix or cannot be decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise CutsInputError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            data = tifffile.imread(path)
        elif suffix in (".png", ".jpg", ".jpeg"):
            import skimage.io

            data = skimage.io.imread(path)
        elif suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        else:
            raise CutsInputError(
                f"cannot read {path}: unknown format '{suffix}' "
                f"(use one of {', '.join(IMAGE_SUFFIXES)})"
            )
    except CutsInputError:
        raise
    except Exception as exc:  # decoder errors differ per library and span lines
        detail = (str(exc).splitlines() or [exc.__class__.__name__])[0].rstrip(". ")
        raise CutsInputError(
            f"cannot read {path}: not a valid {suffix.lstrip('.').upper()} file ({detail})"
        ) from None
    data = np.asarray(data)
    if data.ndim < 2 or not np.issubdtype(data.dtype, np.number) and data.dtype != bool:
        raise CutsInputError(f"{path} is not an image (shape {data.shape}, dtype {data.dtype})")
    return data


def output_stem(path: str | os.PathLike) -> str:
    """The file name without its suffix (and without .ome for OME-TIFF)."""
    name = Path(path).name
    for suffix in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def volume_shape(
    shape: tuple[int, ...], *, channel_axis: bool | None = None, is_stack: bool | None = None
) -> tuple[int, int, int, int]:
    """The (Z, Y, X, C) shape :func:`to_volume` gives an image of `shape`."""
    if len(shape) == 2:
        out = (1, *shape, 1)
    elif len(shape) == 3:
        if channel_axis is None:
            channel_axis = not is_stack and shape[-1] <= 4
        out = (1, *shape) if channel_axis else (*shape, 1)
    elif len(shape) == 4:
        if channel_axis is False:
            raise CutsInputError("a 4D image must be (Z, Y, X, C)")
        out = tuple(shape)
    else:
        raise CutsInputError(
            f"images must be 2D, 2D with channels, 3D or 3D with channels; got shape {tuple(shape)}"
        )
    if min(out[1:3]) < 2:
        raise CutsInputError(f"image is too small: shape {tuple(shape)}")
    return out  # type: ignore[return-value]


def to_volume(
    image: np.ndarray, *, channel_axis: bool | None = None, is_stack: bool | None = None
) -> np.ndarray:
    """Arrange an image as a float32 volume (Z, Y, X, C).

    Parameters
    ----------
    image : ndarray
        (Y, X), (Y, X, C), (Z, Y, X) or (Z, Y, X, C); any numeric dtype.
    channel_axis : bool, optional
        Whether the last axis holds channels. By default a 3D array whose last axis has
        at most 4 entries is read as (Y, X, C) and a 4D array as (Z, Y, X, C).
    is_stack : bool, optional
        Whether the first axis is Z. Overrides the guess for 3D arrays.
    """
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8)
    if not np.issubdtype(image.dtype, np.number) or np.iscomplexobj(image):
        raise CutsInputError(f"images must be real numbers, not {image.dtype}")
    shape = volume_shape(image.shape, channel_axis=channel_axis, is_stack=is_stack)
    vol = image.reshape(shape)
    return np.ascontiguousarray(vol, dtype=np.float32)


@dataclass
class Normalization:
    """Per-channel robust intensity range; maps `low` to 0 and `high` to 1."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(
        cls,
        volumes: Sequence[np.ndarray],
        percentiles: tuple[float, float] = (1.0, 99.5),
        max_samples: int = 1_000_000,
        seed: int = 0,
    ) -> "Normalization":
        """Estimate per-channel percentiles over (a sample of) the pixels of `volumes`."""
        rng = np.random.default_rng(seed)
        n_channels = volumes[0].shape[-1]
        per_volume = max(1, max_samples // len(volumes))
        samples = []
        for vol in volumes:
            flat = vol.reshape(-1, n_channels)
            if len(flat) > per_volume:
                flat = flat[rng.choice(len(flat), per_volume, replace=False)]
            samples.append(flat)
        pixels = np.concatenate(samples)
        low = np.percentile(pixels, percentiles[0], axis=0)
        high = np.percentile(pixels, percentiles[1], axis=0)
        span = high - low
        fallback = pixels.max(axis=0) - pixels.min(axis=0)
        high = np.where(span > 0, high, low + np.where(fallback > 0, fallback, 1.0))
        return cls(low.astype(np.float32), high.astype(np.float32))

    def __call__(self, volume: np.ndarray) -> np.ndarray:
        out = (volume - self.low) / (self.high - self.low)
        return np.clip(out, -0.5, 1.5, out=out).astype(np.float32, copy=False)

    def to_dict(self) -> dict:
        return {"low": self.low.tolist(), "high": self.high.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> "Normalization":
        return cls(np.asarray(data["low"], np.float32), np.asarray(data["high"], np.float32))


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only on success.

    A failure (or an interrupt) removes the temporary file, so no half-written file is
    ever left where a reader would find it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def smallest_label_dtype(max_label: int) -> np.dtype:
    """The smallest unsigned integer dtype that holds `max_label`."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if max_label <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def save_labels_tiff(
    path: str | os.PathLike, labels: np.ndarray, *, levels: bool = False
) -> Path:
    """Write labels to a TIFF atomically (temporary file, then rename).

    Parameters
    ----------
    labels : ndarray
        One label image (Y, X) or (Z, Y, X); or with ``levels=True`` a stack of levels
        (L, Y, X) or (L, Z, Y, X), which gets ImageJ axes metadata (levels as frames, T)
        so that Fiji and napari open it with the right axes.
    """
    path = Path(path)
    labels = np.asarray(labels)
    if labels.size and labels.min() < 0:
        raise CutsInputError("labels must not be negative")
    dtype = smallest_label_dtype(int(labels.max()) if labels.size else 0)
    data = labels.astype(dtype, copy=False)
    kwargs: dict = {}
    if dtype != np.uint64:
        if levels:
            axes = "TYX" if data.ndim == 3 else "TZYX"
        else:
            axes = "YX" if data.ndim == 2 else "ZYX"
        if data.ndim != len(axes):
            raise CutsInputError(f"cannot write labels of shape {labels.shape} as {axes}")
        if dtype == np.uint32:  # ImageJ hyperstacks hold 8/16-bit or float only
            kwargs = {"metadata": {"axes": axes}}
        else:
            kwargs = {"imagej": True, "metadata": {"axes": axes}}
    import tifffile

    with atomic_write(path) as tmp:
        tifffile.imwrite(tmp, data, **kwargs)
    return path


def read_labels_tiff(path: str | os.PathLike) -> np.ndarray:
    """Read labels written by :func:`save_labels_tiff` (or any integer TIFF)."""
    import tifffile

    path = Path(path)
    if not path.is_file():
        raise CutsInputError(f"no such file: {path}")
    return tifffile.imread(path)
