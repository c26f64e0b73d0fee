"""Which axes an input holds (time, slices, channels): from the file's own axis metadata
(ImageJ, OME or tifffile), the user's explicit choice (``--channels`` / ``--stack``),
or the shape alone.

The engine segments *frames*, each a (Z, Y, X, C) volume: a :class:`Layout` says how a
stored array becomes (T, Z, Y, X, C). A time-lapse (T > 1) is segmented frame by frame
with one encoder; its frames are never merged into one volume unless the user asks
(``stack=True``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_cuts.formats.errors import CutsInputError

#: Axis letters as the engine reads them; 'S' (samples, e.g. RGB) are channels too.
_LETTERS = {"T": "T", "Z": "Z", "C": "C", "S": "C", "Y": "Y", "X": "X"}
_ORDER = "TZYXC"


@dataclass(frozen=True)
class Layout:
    """How a stored array of shape `stored` becomes frames of (Z, Y, X, C) volumes."""

    stored: tuple[int, ...]
    order: tuple[int, ...]  # transpose of the stored array into T, Z, Y, X, C order
    shape: tuple[int, int, int, int, int]  # (T, Z, Y, X, C)
    is_stack: bool  # the frames are volumes (3D), not 2D images

    @property
    def n_frames(self) -> int:
        return self.shape[0]

    @property
    def time(self) -> bool:
        """A time-lapse: more than one frame, segmented one by one."""
        return self.shape[0] > 1

    @property
    def frame_shape(self) -> tuple[int, int, int, int]:
        """(Z, Y, X, C) of one frame."""
        return self.shape[1:]  # type: ignore[return-value]

    @property
    def axes(self) -> str:
        """The arranged input's axes for people and outputs, e.g. 'TYX', 'ZYXC', 'YXC'."""
        t, z, _, _, c = self.shape
        return ("T" if t > 1 else "") + ("Z" if self.is_stack else "") + "YX" + ("C" if c > 1 else "")

    def arrange(self, data) -> np.ndarray:
        """The stored array as (T, Z, Y, X, C) (a view where numpy can)."""
        data = np.asarray(data)
        if tuple(data.shape) != self.stored:
            raise CutsInputError(f"the image has shape {data.shape}, not {self.stored}")
        return np.transpose(data, self.order).reshape(self.shape)

    def frames(self, data) -> list[np.ndarray]:
        """Each frame of the stored array as a (Z, Y, X, C) array."""
        return list(self.arrange(data))


def _recorded(shape: tuple[int, ...], axes: str | None) -> list[str] | None:
    """The engine's letter for every stored axis, from recorded `axes`; None when they are
    missing or say something the engine cannot use (an unknown axis longer than 1)."""
    if not axes or len(axes) != len(shape):
        return None
    letters = []
    for letter, n in zip(axes.upper(), shape):
        mapped = _LETTERS.get(letter)
        if mapped is None and n > 1:
            return None
        letters.append(mapped or "")  # "" : a length-1 axis that is dropped
    named = [a for a in letters if a]
    if sorted(named) != sorted(set(named)) or "Y" not in named or "X" not in named:
        return None  # an axis twice (e.g. C and S), or no plane
    return letters


def layout(shape, axes: str | None = None, *, channels: bool | None = None,
           stack: bool | None = None) -> Layout:
    """How an array of `shape` whose axes are recorded as `axes` (or None) is read.

    Recorded axes win over guesses: T is time, Z slices, C or S channels. Without them,
    (Y, X), (Y, X, C) when the last axis has at most 4 entries, else (Z, Y, X), and
    (Z, Y, X, C). The user's choice wins over both: `channels` reads the axis recorded as
    slices or frames (without metadata: the last axis) as channels; `stack` reads a 3D
    array as (Z, Y, X) as stored, and time as slices (one volume).
    """
    from napari_cuts.formats.images import volume_shape

    shape = tuple(int(n) for n in shape)
    letters = None if stack and len(shape) == 3 else _recorded(shape, axes)
    if letters is None:
        z, y, x, c = volume_shape(shape, channel_axis=channels, is_stack=stack)
        return Layout(shape, tuple(range(len(shape))), (1, z, y, x, c), z > 1 or bool(stack))
    if stack and "T" in letters and "Z" not in letters:
        letters[letters.index("T")] = "Z"
    if channels and "C" not in letters:
        inner = [i for i, a in enumerate(letters) if a in ("Z", "T") and shape[i] > 1]
        if inner:
            letters[inner[-1]] = "C"
    order = [letters.index(a) for a in _ORDER if a in letters]
    order += [i for i, a in enumerate(letters) if not a]  # length-1 axes, dropped
    size = {a: shape[letters.index(a)] if a in letters else 1 for a in _ORDER}
    out = tuple(size[a] for a in _ORDER)
    if min(size["Y"], size["X"]) < 2:
        raise CutsInputError(f"image is too small: shape {shape}")
    return Layout(shape, tuple(order), out, size["Z"] > 1 or bool(stack))  # type: ignore[arg-type]


def file_axes(path: str | os.PathLike) -> str | None:
    """The axes a TIFF records for the array :func:`~napari_cuts.formats.images.read_image` gives
    (ImageJ, OME or tifffile metadata, e.g. 'TYX', 'YXS', 'CYX'); None for other files
    or when nothing is recorded. Reads the header only."""
    if Path(path).suffix.lower() not in (".tif", ".tiff"):
        return None
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            if series.kind not in ("imagej", "ome", "shaped"):
                return None
            return str(series.axes)
    except Exception:  # unreadable files are refused where they are decoded
        return None


def file_layout(path: str | os.PathLike, shape, *, channels: bool | None = None,
                stack: bool | None = None) -> Layout:
    """The :func:`layout` of the file at `path`, whose array has `shape`."""
    try:
        return layout(shape, file_axes(path), channels=channels, stack=stack)
    except CutsInputError as exc:
        raise CutsInputError(f"{Path(path).name}: {exc}") from None
