"""Thread workers for training and segmentation (no Qt widgets here).

napari relays every exception raised in a worker as an error notification with a
traceback. A user mistake is not a bug, so the worker functions turn the engine's
:class:`~napari_cuts.io.CutsInputError` into a :class:`Refused` result, which the widgets
show as a plain warning. Real bugs still raise and reach the ``errored`` signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

import numpy as np
from napari.qt.threading import GeneratorWorker, create_worker

from ..encoder import Encoder
from ..io import CutsInputError, to_volume
from ..pipeline import Progress, SegmentConfig, Segmentation, segment_iter
from ..training import EncoderTrainer, TrainingConfig, TrainingProgress


@dataclass
class Refused:
    """A worker's result when the engine refused the input; `message` is for people."""

    message: str


@dataclass
class ImageInput:
    """The pixels to work on and how to read their axes."""

    data: object  # array-like; read with np.asarray in the worker thread
    rgb: bool = False
    is_stack: bool = False
    name: str = "image"

    def volume(self) -> np.ndarray:
        """The image as a (Z, Y, X, C) float32 volume."""
        return to_volume(np.asarray(self.data), channel_axis=self.rgb, is_stack=self.is_stack)


class TrainingJob:
    """Holds the trainer once the worker thread created it, so *Stop* can keep its weights."""

    def __init__(self) -> None:
        self.trainer: EncoderTrainer | None = None

    def best_so_far(self) -> Encoder | None:
        """The encoder with the best weights so far, or None if no step has run."""
        if self.trainer is None or not self.trainer.history:
            return None
        return self.trainer.result()


def _train(
    job: TrainingJob, images: list[ImageInput], config: TrainingConfig
) -> Generator[TrainingProgress, None, Encoder | Refused]:
    try:
        volumes = [im.volume() for im in images]
        job.trainer = EncoderTrainer(
            volumes, config, names=[im.name for im in images], volumes=True
        )
        yield from job.trainer.run()
    except CutsInputError as exc:
        return Refused(str(exc))
    return job.trainer.result()


def _segment(
    encoder: Encoder, image: ImageInput, config: SegmentConfig
) -> Generator[Progress, None, Segmentation | Refused]:
    try:
        data = np.asarray(image.data)
        return (
            yield from segment_iter(
                encoder, data, config, is_stack=image.is_stack, channel_axis=image.rgb
            )
        )
    except CutsInputError as exc:
        return Refused(str(exc))


def training_worker(
    images: list[ImageInput], config: TrainingConfig
) -> tuple[GeneratorWorker, TrainingJob]:
    """A not yet started worker that trains an encoder; yields progress after every step."""
    job = TrainingJob()
    worker = create_worker(_train, job, images, config, _start_thread=False)
    return worker, job


def segmentation_worker(
    encoder: Encoder, image: ImageInput, config: SegmentConfig
) -> GeneratorWorker:
    """A not yet started worker that segments `image`; returns a Segmentation."""
    return create_worker(_segment, encoder, image, config, _start_thread=False)
