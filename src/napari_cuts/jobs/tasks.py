"""Engine jobs the widgets run in a helper process (no Qt, no napari).

A job is a picklable object with ``run()``, a generator that yields progress and returns
the result, and ``partial()``, what to keep when it is stopped early.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class TrainJob:
    """Train one encoder on images given as (array, rgb, is_stack); returns the Encoder."""

    images: list[tuple[np.ndarray, bool, bool]]
    config: Any  # TrainingConfig
    names: list[str] = field(default_factory=list)
    step_pause: float = 0.0  # seconds to wait after each step (lets tests act mid-run)

    def run(self) -> Generator:
        from napari_cuts.engine.training import EncoderTrainer
        from napari_cuts.formats.images import to_volume

        volumes = [to_volume(a, channel_axis=rgb, is_stack=stack) for a, rgb, stack in self.images]
        self._trainer = EncoderTrainer(volumes, self.config, names=self.names or None, volumes=True)
        yield from self._trainer.run()
        return self._trainer.result()

    def partial(self):
        """The encoder with the best weights so far, or None before the first step."""
        trainer = getattr(self, "_trainer", None)
        return trainer.result() if trainer is not None and trainer.history else None


@dataclass
class SegmentJob:
    """Segment one image; returns (Segmentation, levels, store or None): every level
    stacked coarse to fine, (L, Y, X) or (L, Z, Y, X), and the given vector store when this
    job filled it (it pickles as its file's path when its vectors are in a file)."""

    encoder: Any
    data: np.ndarray
    config: Any  # SegmentConfig
    is_stack: bool = False
    rgb: bool = False
    step_pause: float = 0.0
    vectors: Any = None  # an engine.session.VectorStore of the image: used if filled, else filled here

    def run(self) -> Generator:
        from napari_cuts.engine.pipeline import Progress, segment_iter

        filled = self.vectors is not None and self.vectors.filled
        seg = yield from segment_iter(self.encoder, self.data, self.config, is_stack=self.is_stack,
                                      channel_axis=self.rgb, store=self.vectors)
        yield Progress("labelling", 0, 1, f"{seg.n_levels} levels")
        levels = seg.levels()
        return seg, levels, (None if filled else self.vectors)

    def partial(self):
        return None


@dataclass
class FramesJob:
    """Segment a time-lapse (T, Y, X) or (T, Y, X, C) frame by frame with one encoder;
    returns (FrameSegmentations, levels, None): every level, (L, T, Y, X)."""

    encoder: Any
    data: np.ndarray
    config: Any  # SegmentConfig
    rgb: bool = False
    step_pause: float = 0.0

    def run(self) -> Generator:
        from napari_cuts.engine.pipeline import segment_iter
        from napari_cuts.engine.timelapse import FrameSegmentations, segment_frames_iter

        def one(frame):
            return segment_iter(self.encoder, frame, self.config, is_stack=False, channel_axis=self.rgb)

        stacked, summary, infos = yield from segment_frames_iter(one, list(np.asarray(self.data)))
        seg = FrameSegmentations(summary, stacked.shape[1:], infos)
        return seg, stacked, None

    def partial(self):
        return None
