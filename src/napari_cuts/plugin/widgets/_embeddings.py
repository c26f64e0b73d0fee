"""One embedding per (image layer, encoder): the CUTS vectors of every pixel, computed once
and shared by the widgets while neither the image nor the encoder changes.

Full vectors take 4 x 128 bytes per pixel (128 MB for 512x512), so they are kept only
within a memory budget; a larger image is embedded tile by tile by each tool, as before.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Generator

import numpy as np

from napari_cuts.engine.embedding import iter_embedding_tiles, n_tiles
from napari_cuts.engine.encoder import Encoder
from napari_cuts.engine.pipeline import Progress

#: At most this many bytes of vectors are kept (and at most this fraction of free memory).
MAX_BYTES = 1 << 30
MAX_FRACTION = 0.25


def vector_bytes(shape: tuple[int, ...], encoder: Encoder) -> int:
    """Bytes of the full vectors of a (Z, Y, X) volume shape."""
    return int(np.prod(shape[:3])) * encoder.dim * 4


def embed_iter(encoder: Encoder, volume: np.ndarray) -> Generator[Progress, None, np.ndarray]:
    """Full (Z, Y, X, D) vectors of a volume, with progress (the engine's tiled embedding)."""
    out = np.empty(volume.shape[:3] + (encoder.dim,), np.float32)
    total = n_tiles(volume.shape)
    for i, (z, ys, xs, vec) in enumerate(iter_embedding_tiles(encoder, volume)):
        out[z, ys, xs] = vec
        yield Progress("embedding", i + 1, total, "computing pixel vectors (kept for the other tools)")
    return out


@dataclass
class _Entry:
    encoder: Encoder
    data: object  # the layer's data when embedded: a new array is a new image
    vectors: np.ndarray


class EmbeddingCache:
    """Vectors by (image key, slice index), valid for one encoder and one data array."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()

    def get(self, key: tuple, encoder: Encoder, data) -> np.ndarray | None:
        """The kept vectors of `key` if made by `encoder` from `data`, else None."""
        entry = self._entries.get(key)
        if entry is None or entry.encoder is not encoder or entry.data is not data:
            return None
        self._entries.move_to_end(key)
        return entry.vectors

    def fits(self, nbytes: int) -> bool:
        """Whether vectors of `nbytes` may be kept."""
        from napari_cuts.formats.images import available_memory

        return nbytes <= min(MAX_BYTES, MAX_FRACTION * available_memory())

    def put(self, key: tuple, encoder: Encoder, data, vectors: np.ndarray) -> None:
        """Keep `vectors` (the oldest entries go when the budget is exceeded)."""
        if not self.fits(vectors.nbytes):
            return
        self._entries[key] = _Entry(encoder, data, vectors)
        self._entries.move_to_end(key)
        while sum(e.vectors.nbytes for e in self._entries.values()) > MAX_BYTES:
            self._entries.popitem(last=False)

    def drop(self, image_key: str | None = None) -> None:
        """Forget the vectors of one image (all slices), or of every image."""
        for key in [k for k in self._entries if image_key is None or k[0] == image_key]:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
