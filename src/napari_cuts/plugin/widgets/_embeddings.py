"""The viewer's kept pixel vectors: one :class:`~napari_cuts.engine.session.VectorStore` per (image
layer, slice) and active encoder, shared by the widgets while neither the image nor the
encoder changes.

Each run wraps the image, the encoder and the store in an
:class:`~napari_cuts.engine.session.ImageSession` (Segment in the helper process, Refine in a
worker thread), so an image is embedded once for every tool, at any size: stores of
large images keep their vectors in a temporary file, which goes with the store.

A tool about to fill a store (Segment in the helper process, Refine in a thread) claims it
(:meth:`EmbeddingCache.claim`); another tool asking for the same vectors meanwhile waits
for them instead of embedding the image again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from napari_cuts.engine.encoder import Encoder
from napari_cuts.engine.session import MAX_BYTES, VectorStore


@dataclass
class _Entry:
    encoder: Encoder
    data: object  # the layer's data when embedded: a new array is a new image
    store: VectorStore


class EmbeddingCache:
    """Vector stores by (image key, slice index), valid for one encoder and one data array.

    Stores in memory are kept within :data:`napari_cuts.engine.session.MAX_BYTES` (the least
    recently used go first); stores in a file are kept until their image or the encoder
    goes.
    """

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._filling: dict[tuple, list[Callable[[], None]]] = {}  # key -> who waits for it

    def claim(self, key: tuple, encoder: Encoder, data, shape: tuple[int, ...],
              when_ready: Callable[[], None]) -> VectorStore | None:
        """The store of `key` (:meth:`store`) for a job about to run, marked as being filled
        by it if empty (call :meth:`end_filling` when the job ends); or None, with
        `when_ready` called later, while another job is filling it."""
        if key in self._filling:
            self._filling[key].append(when_ready)
            return None
        store = self.store(key, encoder, data, shape)
        if not store.filled:
            self._filling.setdefault(key, [])
        return store

    def end_filling(self, key: tuple) -> None:
        """The job filling `key` ended (done, cancelled or failed): call those waiting."""
        for callback in self._filling.pop(key, []):
            callback()

    def get(self, key: tuple, encoder: Encoder, data) -> VectorStore | None:
        """The store of `key` if made for `encoder` and `data`, else None."""
        entry = self._entries.get(key)
        if entry is None or entry.encoder is not encoder or entry.data is not data:
            return None
        self._entries.move_to_end(key)
        return entry.store

    def store(self, key: tuple, encoder: Encoder, data, shape: tuple[int, ...]) -> VectorStore:
        """The store of `key` for `encoder` and `data`: the kept one, or a new empty one for
        an image of (Z, Y, X) `shape` (which replaces an outdated one)."""
        kept = self.get(key, encoder, data)
        if kept is not None and kept.shape == tuple(shape[:3]) + (encoder.dim,):
            return kept
        self._drop(key)
        store = VectorStore(tuple(shape[:3]) + (encoder.dim,))
        self._entries[key] = _Entry(encoder, data, store)
        self._trim()
        return store

    def _trim(self) -> None:
        def in_memory() -> int:
            return sum(e.store.nbytes for e in self._entries.values() if e.store.in_memory)

        for key in list(self._entries)[:-1]:  # the oldest first; never the newest
            if in_memory() <= MAX_BYTES:
                break
            if self._entries[key].store.in_memory:
                self._drop(key)

    def _drop(self, key: tuple) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            entry.store.close()

    def drop(self, image_key: str | None = None) -> None:
        """Forget the vectors of one image (all slices), or of every image."""
        for key in [k for k in self._entries if image_key is None or k[0] == image_key]:
            self._drop(key)

    def __len__(self) -> int:
        return len(self._entries)
