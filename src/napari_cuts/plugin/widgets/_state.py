"""The active encoder of a viewer, shared by the napari-cuts dock widgets."""

from __future__ import annotations

import weakref

from qtpy.QtCore import QObject, Signal

from napari_cuts.engine.encoder import Encoder
from napari_cuts.plugin.widgets._embeddings import EmbeddingCache


class EncoderState(QObject):
    """Holds the active encoder; emits ``changed`` with the new encoder (or None)."""

    changed = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self._encoder: Encoder | None = None
        #: the vectors of images embedded with the active encoder, shared by the widgets
        self.embeddings = EmbeddingCache()

    @property
    def encoder(self) -> Encoder | None:
        return self._encoder

    @encoder.setter
    def encoder(self, encoder: Encoder | None) -> None:
        if encoder is not self._encoder:
            self.embeddings.drop()  # vectors of another encoder are of no use
        self._encoder = encoder
        self.changed.emit(encoder)

    def describe(self) -> str:
        """One line for people about the active encoder."""
        if self._encoder is None:
            return "no encoder yet: train one or load a file"
        return self._encoder.describe()


# One state per viewer; entries vanish with their viewer (no strong reference to it).
_STATES: dict[int, tuple[weakref.ref, EncoderState]] = {}


def encoder_state(viewer) -> EncoderState:
    """The :class:`EncoderState` shared by all napari-cuts widgets of `viewer`."""
    # napari hands plugins a new proxy of the viewer each time; key by the viewer itself.
    viewer = getattr(viewer, "__wrapped__", viewer)
    key = id(viewer)
    entry = _STATES.get(key)
    if entry is not None and entry[0]() is viewer:
        return entry[1]
    state = EncoderState()
    _STATES[key] = (weakref.ref(viewer), state)
    weakref.finalize(viewer, _STATES.pop, key, None)
    _follow_file_results(viewer)
    _forget_removed_images(viewer, state)
    return state


def _forget_removed_images(viewer, state: EncoderState) -> None:
    """A removed image layer's vectors are freed."""
    from napari_cuts.plugin.widgets._layers import result_key

    def removed(event) -> None:
        layer = getattr(event, "value", None)
        if layer is not None and hasattr(layer, "unique_id"):
            state.embeddings.drop(result_key(layer))

    viewer.layers.events.removed.connect(removed)


def _follow_file_results(viewer) -> None:
    """Levels opened from a file join their image layer whenever layers come in."""
    from napari_cuts.plugin.widgets._layers import link_file_results

    ref = weakref.ref(viewer)

    def link(*_args) -> None:
        alive = ref()
        if alive is not None:
            link_file_results(alive.layers)

    viewer.layers.events.inserted.connect(link)
    link()
