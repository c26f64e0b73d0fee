"""Workers for training and segmentation (no Qt widgets here).

Training and segmentation run in a helper process (see :mod:`napari_cuts.jobs.client`), driven by a
napari thread worker, so the viewer's main thread never waits for the interpreter lock
of a busy worker. napari relays every exception raised in a worker as an error
notification with a traceback. A user mistake is not a bug, so the engine's
:class:`~napari_cuts.formats.errors.CutsInputError` becomes a :class:`Refused` result, which the
widgets show as a plain warning. Real bugs still raise and reach the ``errored`` signal.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
from napari.qt.threading import GeneratorWorker
from qtpy.QtCore import QThreadPool

from napari_cuts.engine.encoder import Encoder
from napari_cuts.engine.pipeline import Progress, Segmentation, SegmentConfig
from napari_cuts.engine.session import VectorStore
from napari_cuts.engine.training import TrainingConfig, TrainingProgress
from napari_cuts.formats.errors import CutsWarning
from napari_cuts.formats.images import to_volume
from napari_cuts.jobs.client import prestart, run_job
from napari_cuts.jobs.tasks import FramesJob, SegmentJob, TrainJob
from napari_cuts.plugin.widgets._job_worker import remote_worker

#: Seconds the engine waits after each step; tests set it to act in the middle of a run.
STEP_PAUSE = 0.0


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
    time: bool = False  # a time-lapse: frames segmented one by one with one encoder

    def volume(self) -> np.ndarray:
        """The image as a (Z, Y, X, C) float32 volume."""
        return to_volume(np.asarray(self.data), channel_axis=self.rgb, is_stack=self.is_stack)


class TrainingJob:
    """What a stopped training keeps, so *Stop* can keep the best weights so far."""

    def __init__(self) -> None:
        self.best: Encoder | None = None

    def best_so_far(self) -> Encoder | None:
        """The encoder with the best weights so far, or None if no step has run."""
        return self.best

    def _stopped(self, encoder) -> None:
        self.best = encoder


def _train(
    job: TrainingJob, images: list[ImageInput], config: TrainingConfig, stop: threading.Event,
) -> Generator[TrainingProgress, None, Encoder | Refused]:
    remote = TrainJob([(np.asarray(im.data), im.rgb, im.is_stack) for im in images], config,
                      [im.name for im in images], step_pause=STEP_PAUSE)
    return (yield from run_job(remote, Refused, on_stop=job._stopped, stop=stop))


@dataclass
class SegmentResult:
    """A segmentation and its levels, made off the main thread."""

    segmentation: Segmentation  # or, for a time-lapse, timelapse.FrameSegmentations
    levels: np.ndarray  # every level, coarse to fine: (L, Y, X), (L, Z, Y, X) or (L, T, ...)
    vectors: VectorStore | None = None  # the store the engine filled (to adopt), if it did


def _segment(
    encoder: Encoder, image: ImageInput, config: SegmentConfig, store: VectorStore | None = None,
    stop: threading.Event | None = None,
) -> Generator[Progress, None, SegmentResult | Refused]:
    if image.time:
        remote = FramesJob(encoder, np.asarray(image.data), config, rgb=image.rgb,
                           step_pause=STEP_PAUSE)
    else:
        remote = SegmentJob(encoder, np.asarray(image.data), config, is_stack=image.is_stack,
                            rgb=image.rgb, step_pause=STEP_PAUSE, vectors=store)
    result = yield from run_job(remote, Refused, stop=stop)
    if result is None or isinstance(result, Refused):  # stopped, or refused
        return result
    seg, levels, made = result
    return SegmentResult(seg, levels, made)


#: The plugin's own thread pool for its workers (created on first use).
_threads: QThreadPool | None = None
_running: set = set()  # the workers running on it (kept alive until they finish)
MAX_THREADS = 8  # the workers mostly wait for an engine process


def start_worker(worker: GeneratorWorker) -> None:
    """Start `worker` on the plugin's own thread pool, not on Qt's global one.

    Qt also uses its global pool, whose size is the number of cores, e.g. to convert
    images for painting, and the main thread waits for such tasks. With two cores, a
    training and a segmentation there would take every pool thread and the viewer would
    freeze until one of them ended.
    """
    global _threads
    if _threads is None:
        _threads = QThreadPool()
        _threads.setMaxThreadCount(MAX_THREADS)
    worker.warned.connect(relay_warning)
    _running.add(worker)
    worker.finished.connect(lambda: _running.discard(worker))
    _threads.start(worker)


def relay_warning(args: tuple) -> None:
    """Show a warning raised in a worker (``warned`` signal): napari-cuts' own as one plain
    line, others as napari's notifications show warnings.

    (napari's workers mean to relay warnings themselves, but with superqt's worker
    classes first in their bases that relay is never connected.)
    """
    from napari.utils.notifications import notification_manager, show_warning

    message, category = args[0], args[1]
    if issubclass(category, CutsWarning):
        show_warning(" ".join(str(message).split()))
    else:
        notification_manager.receive_warning(*args)


#: Set once the libraries that load lazily on first use are in memory (see warm_up).
warm_up_done = threading.Event()
_warm_up_started = threading.Lock()  # held forever once the warm-up thread started


def _load_lazy_libraries() -> None:
    try:
        import pandas  # noqa: F401  (napari builds Labels features with it)
        import torch

        # torch imports its compiler stack (seconds) when the first optimiser is made.
        torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
        # No gc.freeze() here: it would change napari's whole process. Its price: napari
        # runs a full collection for every layer it removes (napari/napari#8122), which
        # walks every object of napari and torch (~500,000, 0.2-0.3 s here).
    except Exception:  # noqa: BLE001 - a warm-up only (cut short when Python exits); runs report their own errors
        pass
    finally:
        warm_up_done.set()


def warm_up() -> None:
    """Load in a background thread what torch and napari import lazily on first use.

    Importing them inside a run holds the interpreter lock for long stretches and makes
    the viewer stutter; done once when a widget opens, the first run is smooth.
    """
    if _warm_up_started.acquire(blocking=False):
        threading.Thread(target=_load_lazy_libraries, name="napari-cuts warm-up", daemon=True).start()
        prestart()  # the engine process loads torch meanwhile


def training_worker(
    images: list[ImageInput], config: TrainingConfig
) -> tuple[GeneratorWorker, TrainingJob]:
    """A not yet started worker that trains an encoder; yields progress after every step."""
    job = TrainingJob()
    return remote_worker(_train, job, images, config), job


def segmentation_worker(
    encoder: Encoder, image: ImageInput, config: SegmentConfig,
    store: VectorStore | None = None,
) -> GeneratorWorker:
    """A not yet started worker that segments `image`; returns a SegmentResult.

    It prepares the label images of every level. `store`: where the image's vectors are
    kept (:mod:`napari_cuts.engine.session`); used if filled, else filled by the engine and
    handed back in the result (to :meth:`~napari_cuts.engine.session.VectorStore.adopt`).
    """
    return remote_worker(_segment, encoder, image, config, store)
