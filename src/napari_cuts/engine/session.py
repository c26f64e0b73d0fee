"""An image session: one image, one encoder, and the image's CUTS vectors, computed once.

The vectors (``encoder.dim`` float32 numbers per pixel) are computed in overlapping tiles
by :meth:`ImageSession.embed_iter`, the one tiled-embedding loop of napari-cuts, and kept
for segmentation (:func:`napari_cuts.engine.pipeline.segment_iter`) and refinement
(:func:`napari_cuts.annotation.refine_features.session_features_iter`). The command line and the
widgets alike go through it.

Where the vectors are kept (a :class:`VectorStore`): in memory when they fit a budget
(:data:`MAX_BYTES`, at most :data:`MAX_FRACTION` of the free memory), else in a
memory-mapped temporary file owned by the store and deleted with it, so that an image of
any size is embedded once without holding its vectors in memory. The vectors stay
float32 either way: results do not depend on where they are kept. A store pickles as its
file's path when in a file, so the widgets hand it to the helper process that segments
and get it back filled, without copying the vectors.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Generator

import numpy as np
import torch

from napari_cuts.engine.embedding import DEFAULT_TILE, embed_region, tile_grid
from napari_cuts.engine.encoder import Encoder
from napari_cuts.engine.pipeline import Progress
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.images import available_memory, finite_mask, to_volume

#: Vectors of more bytes than this (or than MAX_FRACTION of free memory) go to a file.
MAX_BYTES = 1 << 30
MAX_FRACTION = 0.25


def vector_bytes(shape: tuple[int, ...], dim: int) -> int:
    """Bytes of the float32 vectors of a (Z, Y, X) shape with `dim` numbers per pixel."""
    return int(np.prod(shape[:3])) * int(dim) * 4


def fits_in_memory(nbytes: int) -> bool:
    """Whether vectors of `nbytes` are kept in memory (else in a temporary file)."""
    return nbytes <= min(MAX_BYTES, MAX_FRACTION * available_memory())


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


class VectorStore:
    """Where the (Z, Y, X, D) float32 vectors of one image live: memory or a temp file.

    `filled` tells whether they were computed; `fills` counts how often the tiled loop
    filled the store (tests count embeddings with it). The store that made a file owns
    it and deletes it when closed or collected; a copy (unpickled, e.g. in the helper
    process) only opens it.
    """

    def __init__(self, shape: tuple[int, int, int, int], in_memory: bool | None = None) -> None:
        self.shape = tuple(int(s) for s in shape)
        if in_memory is None:
            in_memory = fits_in_memory(int(np.prod(self.shape)) * 4)
        self.path: str | None = None
        self.array: np.ndarray | None = None
        self.filled = False
        self.fills = 0
        self._finalizer = None
        if not in_memory:
            nbytes = int(np.prod(self.shape)) * 4
            folder = tempfile.gettempdir()
            if shutil.disk_usage(folder).free < nbytes * 1.05:
                raise CutsInputError(
                    f"the pixel vectors of this image need {nbytes / 1e9:.1f} GB, more than the "
                    f"free memory allows and than is free in {folder}; set TMPDIR to a larger "
                    "folder, or crop or downsample the image")
            fd, self.path = tempfile.mkstemp(prefix="napari-cuts-vectors-", suffix=".f32", dir=folder)
            os.close(fd)
            self._finalizer = weakref.finalize(self, _remove, self.path)

    @property
    def in_memory(self) -> bool:
        """Whether the vectors are kept in memory (else in a temporary file)."""
        return self.path is None

    @property
    def nbytes(self) -> int:
        """Bytes of the vectors (held in memory or in the file once computed)."""
        return int(np.prod(self.shape)) * 4 if self.filled or self.array is not None else 0

    def open(self) -> np.ndarray:
        """The array to write the vectors into (or read them from)."""
        if self.array is None:
            if self.path is None:
                self.array = np.empty(self.shape, np.float32)
            else:
                mode = "r+" if os.path.getsize(self.path) else "w+"
                self.array = np.memmap(self.path, np.float32, mode, shape=self.shape)
        return self.array

    def put(self, vectors: np.ndarray) -> None:
        """Keep vectors computed elsewhere (same shape)."""
        if tuple(np.shape(vectors)) != self.shape:
            raise CutsInputError(f"vectors of shape {np.shape(vectors)} do not fit an image of "
                                 f"{self.shape[:3]} and this encoder ({self.shape[3]} numbers per pixel)")
        if self.path is None:
            self.array = np.asarray(vectors, np.float32)
        else:
            self.open()[...] = vectors
        self.filled = True

    def adopt(self, other: VectorStore) -> None:
        """Take over what a copy of this store (e.g. back from the helper process) holds."""
        if other is self or not other.filled:
            return
        if self.path is None:
            self.array = other.open()
        elif other.path != self.path:
            self.put(other.open())
        self.filled, self.fills = True, other.fills

    def close(self) -> None:
        """Forget the vectors; the owner deletes its file."""
        self.array, self.filled = None, False
        if self._finalizer is not None:
            self._finalizer()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__, _finalizer=None)
        if self.path is not None or not self.filled:
            state["array"] = None  # a file travels as its path
        return state


class ImageSession:
    """One image volume and one encoder: the image's vectors, computed once and kept.

    `volume` is (Z, Y, X, C) as :func:`napari_cuts.formats.images.to_volume` makes it; missing (NaN or
    infinite) pixels are filled with their channel's median for the encoder (``valid``
    marks the others). `store` holds the vectors; pass one kept from an earlier session
    of the same image and encoder to reuse its vectors. ``keep=False`` (a session nobody
    asks again, e.g. one command-line segmentation) keeps no vectors that do not fit in
    memory: `streams` is then True and :meth:`region` computes a rectangle's vectors
    when asked, so no temporary file is written.
    """

    def __init__(self, encoder: Encoder, volume: np.ndarray, *, is_stack: bool | None = None,
                 tile_size: int = DEFAULT_TILE, device: torch.device | str | None = None,
                 store: VectorStore | None = None, keep: bool = True) -> None:
        volume = np.asarray(volume)
        encoder.check_channels(volume.shape[-1])
        self.encoder = encoder
        self.valid = finite_mask(volume)
        if not self.valid.all():
            volume = volume.copy()
            for c in range(volume.shape[-1]):
                channel = volume[..., c]
                channel[~self.valid] = np.median(channel[self.valid])
        self.volume = volume
        self.is_stack = volume.shape[0] > 1 or bool(is_stack)
        self.tile_size = int(tile_size)
        self.device = device
        shape = volume.shape[:3] + (encoder.dim,)
        if store is not None and store.shape != shape:
            raise CutsInputError(f"vectors of shape {store.shape} do not fit an image of "
                                 f"{volume.shape[:3]} and this encoder ({encoder.dim} numbers per pixel)")
        self.streams = store is None and not keep and not fits_in_memory(vector_bytes(shape, encoder.dim))
        # A streaming session's store stays empty (in memory, never allocated).
        self.store = store if store is not None else VectorStore(shape, in_memory=True if self.streams else None)

    @classmethod
    def from_image(cls, encoder: Encoder, image: np.ndarray, *, is_stack: bool | None = None,
                   channel_axis: bool | None = None, **kwargs) -> ImageSession:
        """A session of an image in any layout :func:`napari_cuts.formats.images.to_volume` reads."""
        volume = to_volume(np.asarray(image), channel_axis=channel_axis, is_stack=is_stack)
        return cls(encoder, volume, is_stack=is_stack, **kwargs)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(Z, Y, X) of the image."""
        return tuple(self.volume.shape[:3])

    @property
    def computed(self) -> bool:
        """Whether the vectors are computed (kept in the store)."""
        return self.store.filled

    @property
    def vectors(self) -> np.ndarray:
        """The (Z, Y, X, D) vectors; computes them first if needed (no progress)."""
        if not self.computed:
            gen = self.embed_iter()
            while True:
                try:
                    next(gen)
                except StopIteration as stop:
                    return stop.value
        return self.store.open()

    def embed_iter(self, message: str = "computing pixel vectors") -> Generator[Progress, None, np.ndarray]:
        """The vectors of every pixel, computed once in overlapping tiles; yields progress.

        Tiles overlap their neighbours by the receptive radius, so the vectors equal those
        of whole-image inference. Closed before its end, nothing is kept.
        """
        if self.computed:
            return self.store.open()
        out = self.store.open()
        tiles = tile_grid(self.volume.shape, self.tile_size)
        for i, (z, ys, xs) in enumerate(tiles):
            out[z, ys, xs] = embed_region(self.encoder, self.volume[z], ys, xs, device=self.device)[0]
            yield Progress("embedding", i + 1, len(tiles), message)
        if isinstance(out, np.memmap):
            out.flush()
        self.store.filled = True
        self.store.fills += 1
        return out

    def region(self, z: int, ys: slice, xs: slice, margin: int = 0) -> tuple[np.ndarray, tuple[slice, slice]]:
        """Vectors of a rectangle of plane `z` grown by `margin` (clipped to the image), and
        the slices they cover: kept ones, or computed now when the session `streams`."""
        if self.streams and not self.computed:
            return embed_region(self.encoder, self.volume[z], ys, xs, margin=margin, device=self.device)
        height, width = self.shape[1:]
        oys = slice(max(ys.start - margin, 0), min(ys.stop + margin, height))
        oxs = slice(max(xs.start - margin, 0), min(xs.stop + margin, width))
        return np.asarray(self.vectors[z, oys, oxs]), (oys, oxs)

    def intensities(self) -> np.ndarray:
        """The normalised intensities the encoder sees, (Z, Y, X, C)."""
        return self.encoder.normalization(self.volume)
