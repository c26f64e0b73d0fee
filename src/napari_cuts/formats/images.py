"""Reading images, arranging their axes and intensity normalisation.

Every engine function works on a *volume*: a float32 array of shape (Z, Y, X, C).
A 2D image is a volume with Z = 1; a grayscale image has C = 1.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_cuts.formats.errors import CutsInputError, CutsWarning

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".npy")


def available_memory() -> int:
    """Bytes of memory available to this process now (psutil)."""
    import psutil

    return int(psutil.virtual_memory().available)


def read_image(path: str | os.PathLike, memory_limit: int | None = None) -> np.ndarray:
    """Read a .tif/.tiff, .png/.jpg or .npy file into a numpy array.

    A TIFF's decompressed size (from its header) is checked against `memory_limit`
    (default: the memory available) before its pixels are read.

    Raises
    ------
    CutsInputError
        If the file is missing, has an unknown suffix, cannot be decoded or would not
        fit in memory.
    """
    path = Path(path)
    if not path.is_file():
        raise CutsInputError(f"no such file: {path}")
    suffix = path.suffix.lower()
    shape, dtype = image_header(path)  # nothing is decoded before its size is checked
    check_decoded_size(path, shape, dtype, memory_limit)
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                data = tif.series[0].asarray()
        elif suffix in (".png", ".jpg", ".jpeg"):
            import skimage.io

            data = skimage.io.imread(path)
        else:
            data = np.load(path, allow_pickle=False)
    except MemoryError:  # the header's size fit, the decoder's buffers did not
        raise CutsInputError(f"out of memory while reading {path} "
                             f"({_size_text(shape, dtype)} decoded); free memory or use a smaller image") from None
    except Exception as exc:  # decoder errors differ per library and span lines
        detail = (str(exc).splitlines() or [exc.__class__.__name__])[0].rstrip(". ")
        raise CutsInputError(
            f"cannot read {path}: not a valid {suffix.lstrip('.').upper()} file ({detail})"
        ) from None
    data = np.asarray(data)
    if data.ndim < 2 or not np.issubdtype(data.dtype, np.number) and data.dtype != bool:
        raise CutsInputError(f"{path} is not an image (shape {data.shape}, dtype {data.dtype})")
    return data


def _size_text(shape: tuple[int, ...], dtype) -> str:
    need = float(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    return f"{need / 1e9:.1f} GB" if need >= 1e8 else f"{need / 1e6:.1f} MB"


def check_decoded_size(path: str | os.PathLike, shape: tuple[int, ...], dtype,
                       limit: int | None = None) -> None:
    """Refuse, from a header's `shape` and `dtype`, a file that would not fit in memory
    decoded (`limit`: bytes, default the memory available)."""
    need = int(np.prod(shape, dtype=np.float64) * np.dtype(dtype).itemsize)
    limit = available_memory() if limit is None else limit
    if need > limit:
        raise CutsInputError(
            f"{path} holds {'x'.join(map(str, shape))} pixels ({need / 1e9:.1f} GB decoded), "
            f"more than the {limit / 1e9:.1f} GB of memory available"
        )


def _pil_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    from PIL import Image

    with Image.open(path) as im:
        mode = im.mode
        bands = len(im.palette.mode) if mode == "P" and im.palette else len(im.getbands())
        width, height = im.size
    if mode.startswith("I;16"):
        dtype = np.uint16
    else:
        dtype = {"I": np.int32, "F": np.float32, "1": np.bool_}.get(mode, np.uint8)
    return ((height, width) if bands == 1 else (height, width, bands)), np.dtype(dtype)


def image_header(path: str | os.PathLike) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the array :func:`read_image` would give, from the file's header.

    Nothing is decoded, so this is cheap for any file size; errors are those of
    :func:`read_image` (missing file, unknown or broken format).
    """
    path = Path(path)
    if not path.is_file():
        raise CutsInputError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise CutsInputError(
            f"cannot read {path}: unknown format '{suffix}' (use one of {', '.join(IMAGE_SUFFIXES)})"
        )
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                shape, dtype = tuple(tif.series[0].shape), np.dtype(tif.series[0].dtype)
        elif suffix == ".npy":
            with open(path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, _fortran, dtype = read(fh)
        else:
            shape, dtype = _pil_header(path)
    except Exception as exc:  # header errors differ per library and span lines
        detail = (str(exc).splitlines() or [exc.__class__.__name__])[0].rstrip(". ")
        raise CutsInputError(
            f"cannot read {path}: not a valid {suffix.lstrip('.').upper()} file ({detail})"
        ) from None
    if len(shape) < 2 or not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise CutsInputError(f"{path} is not an image (shape {tuple(shape)}, dtype {dtype})")
    return tuple(int(n) for n in shape), np.dtype(dtype)


_UNITS = {"nm": 1e-3, "um": 1.0, "\u00b5m": 1.0, "micron": 1.0, "mm": 1e3, "m": 1e6}


def voxel_spacing(path: str | os.PathLike) -> float | None:
    """A TIFF stack's z step over its pixel width, from its ImageJ or OME metadata;
    None when the file records none (or is not a TIFF)."""
    if Path(path).suffix.lower() not in (".tif", ".tiff"):
        return None
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            ome, imagej = tif.ome_metadata, tif.imagej_metadata
            xres = tif.pages[0].tags.get("XResolution")
            xres = xres.value if xres is not None else None
        image = tifffile.xml2dict(ome)["OME"]["Image"] if ome else None
    except Exception:
        return None
    if image:
        pixels = (image[0] if isinstance(image, list) else image).get("Pixels", {})

        def size(axis):  # in micrometres
            value = pixels.get(f"PhysicalSize{axis}")
            return None if value is None else float(value) * _UNITS.get(
                pixels.get(f"PhysicalSize{axis}Unit", "\u00b5m"), np.nan)

        z, x = size("Z"), size("X")
        if z and x and np.isfinite(z / x):
            return float(z / x)
    if imagej and imagej.get("spacing") and xres and xres[0] > 0:
        width = xres[1] / xres[0]  # XResolution: pixels per unit
        return float(imagej["spacing"]) / width if width > 0 else None
    return None


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
    vol = np.ascontiguousarray(within_float32(image).reshape(shape), dtype=np.float32)
    if np.issubdtype(image.dtype, np.floating):  # NaN, Inf, or beyond float32's range
        check_finite(vol)
    return vol


#: Finite values whose largest magnitude lies outside 2**-100 .. 2**100 are scaled into it.
_FLOAT32_SAFE = 100


def within_float32(image: np.ndarray) -> np.ndarray:
    """`image`, scaled by a power of two when its finite values would overflow float32
    (or vanish in it): every finite pixel stays finite and keeps its ratio to the others
    (intensities are normalised per image anyway). Other arrays are returned as they are."""
    if not (np.issubdtype(image.dtype, np.floating) and image.dtype.itemsize > 4) or not image.size:
        return image
    finite = np.isfinite(image)
    if not finite.any():
        return image
    big = float(np.abs(image, where=finite, out=np.zeros(image.shape)).max())
    if big == 0 or 2.0 ** -_FLOAT32_SAFE <= big <= 2.0 ** _FLOAT32_SAFE:
        return image
    return image * 2.0 ** -np.frexp(big)[1]  # largest magnitude now in [0.5, 1)


def finite_mask(volume: np.ndarray) -> np.ndarray:
    """(Z, Y, X) bool: the pixels of a (Z, Y, X, C) volume whose every channel is finite.

    Pixels outside the mask are *missing*: the engine leaves them out of normalisation
    and clustering and gives them label 0 in every level.
    """
    volume = np.asarray(volume)
    if not np.issubdtype(volume.dtype, np.floating):
        return np.ones(volume.shape[:-1], bool)
    return np.isfinite(volume).all(axis=-1)


def check_finite(volume: np.ndarray) -> int:
    """Refuse a volume without a finite pixel; warn (one line) when some are missing.

    Returns the number of missing (NaN or infinite) pixels.
    """
    mask = finite_mask(volume)
    missing = int(mask.size - np.count_nonzero(mask))
    if missing == mask.size:
        raise CutsInputError("the image has no finite pixel (every value is NaN or infinite)")
    if missing:
        warnings.warn(CutsWarning(
            f"{missing} of {mask.size} pixels are NaN or infinite; they are treated as "
            "missing (left out of normalisation and clustering, label 0)"), stacklevel=2)
    return missing


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
    ) -> Normalization:
        """Estimate per-channel percentiles over (a sample of) the pixels of `volumes`."""
        rng = np.random.default_rng(seed)
        n_channels = volumes[0].shape[-1]
        per_volume = max(1, max_samples // len(volumes))
        samples = []
        for vol in volumes:
            flat = vol.reshape(-1, n_channels)
            if np.issubdtype(flat.dtype, np.floating):
                flat = flat[np.isfinite(flat).all(axis=1)]  # missing pixels are left out
            if len(flat) > per_volume:
                flat = flat[rng.choice(len(flat), per_volume, replace=False)]
            samples.append(flat)
        pixels = np.concatenate(samples)
        if not len(pixels):
            raise CutsInputError("the images have no finite pixel (every value is NaN or infinite)")
        low = np.percentile(pixels, percentiles[0], axis=0)
        high = np.percentile(pixels, percentiles[1], axis=0)
        span = high - low
        fallback = pixels.max(axis=0) - pixels.min(axis=0)
        high = np.where(span > 0, high, low + np.where(fallback > 0, fallback, 1.0))
        return cls(low.astype(np.float32), high.astype(np.float32))

    def __call__(self, volume: np.ndarray) -> np.ndarray:
        """Normalised intensities, clipped to [-0.5, 1.5]; missing (non-finite) pixels give 0."""
        out = (volume - self.low) / (self.high - self.low)
        if np.issubdtype(out.dtype, np.floating):
            np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        return np.clip(out, -0.5, 1.5, out=out).astype(np.float32, copy=False)

    def to_dict(self) -> dict:
        return {"low": self.low.tolist(), "high": self.high.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Normalization:
        return cls(np.asarray(data["low"], np.float32), np.asarray(data["high"], np.float32))
