"""Engine jobs for a helper process, and what that process runs (no Qt, no napari).

The napari widgets run training and segmentation in separate Python processes, so the
viewer's main thread never waits for a worker's interpreter lock: on a busy machine a
thread that holds the lock is often preempted, and the viewer froze for up to a second.
The processes are a standard :class:`concurrent.futures.ProcessPoolExecutor` (see
``napari_cuts.plugin.widgets._engine``) whose workers start with :func:`start_helper` and run
:func:`run_pickled`.

A job is a picklable object with ``run()``, a generator that yields progress and returns
the result, and ``partial()``, what to keep when it is stopped early.
"""

from __future__ import annotations

import os
import pickle
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any, Generator

import numpy as np


@dataclass
class TrainJob:
    """Train one encoder on images given as (array, rgb, is_stack); returns the Encoder."""

    images: list[tuple[np.ndarray, bool, bool]]
    config: Any  # TrainingConfig
    names: list[str] = field(default_factory=list)
    step_pause: float = 0.0  # seconds to wait after each step (lets tests act mid-run)

    def run(self) -> Generator:
        from napari_cuts.formats.images import to_volume
        from napari_cuts.engine.training import EncoderTrainer

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
    """Segment one image; returns (Segmentation, levels, vectors or None): every level
    stacked coarse to fine, (L, Y, X) or (L, Z, Y, X)."""

    encoder: Any
    data: np.ndarray
    config: Any  # SegmentConfig
    is_stack: bool = False
    rgb: bool = False
    step_pause: float = 0.0
    vectors: np.ndarray | None = None  # the image's vectors, if it was embedded already
    keep: bool = False  # hand back the vectors it computes (for the next job on the image)

    def run(self) -> Generator:
        import inspect

        from napari_cuts.engine.pipeline import Progress, segment_iter

        made: list[np.ndarray] = []
        share = {}
        if {"vectors", "on_vectors"} <= set(inspect.signature(segment_iter).parameters):
            share = {"vectors": self.vectors,
                     "on_vectors": made.append if self.keep and self.vectors is None else None}
        seg = yield from segment_iter(self.encoder, self.data, self.config,
                                      is_stack=self.is_stack, channel_axis=self.rgb, **share)
        yield Progress("labelling", 0, 1, f"{seg.n_levels} levels")
        levels = seg.levels()
        return seg, levels, (made[0] if made else None)

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


def run_pickled(payload: bytes, messages, stop) -> bytes:
    """Run the pickled job `payload` in this (helper) process; the outcome, pickled.

    `messages` (a queue) gets ``("progress", item)`` per step and ``("warning", text)``
    per :class:`~napari_cuts.formats.images.CutsWarning`; once `stop` (an event) is set, the job ends
    before its next step. The outcome is one of ``("done", result)``, ``("stopped",
    partial)``, ``("refused", message)`` (a :class:`~napari_cuts.formats.images.CutsInputError`) or
    ``("error", traceback)``. Jobs and outcomes travel as plain pickles: the pool's own
    pickler would hand torch tensors over through shared memory.
    """
    return pickle.dumps(_outcome(pickle.loads(payload), messages, stop),
                        protocol=pickle.HIGHEST_PROTOCOL)


def _outcome(job, messages, stop) -> tuple[str, Any]:
    from napari_cuts.formats.images import CutsInputError, CutsWarning

    def show(message, category, *_args, **_kwargs):
        if issubclass(category, CutsWarning):
            messages.put(("warning", str(message)))

    with warnings.catch_warnings():
        warnings.simplefilter("always", CutsWarning)
        warnings.showwarning = show
        try:
            steps = job.run()
            while not stop.is_set():
                try:
                    item = next(steps)
                except StopIteration as done:
                    return "done", done.value
                messages.put(("progress", item))
                if job.step_pause:
                    time.sleep(job.step_pause)
            steps.close()
            return "stopped", job.partial()
        except CutsInputError as exc:
            return "refused", str(exc)
        except Exception:  # a bug: the viewer shows it with this traceback
            return "error", traceback.format_exc()


def warm_up() -> None:
    """Train one tiny step and segment a tiny image, so the first job of this process
    does not pay for what torch and the libraries load or prepare on first use (about
    as long as the command line's start-up, where the command line pays it)."""
    from napari_cuts.config import TrainingConfig
    from napari_cuts.engine.pipeline import fit, segment

    try:
        image = np.random.default_rng(0).random((48, 48)).astype(np.float32)
        encoder = fit([image], TrainingConfig(epochs=1, steps_per_epoch=1, batch_size=2))
        segment(encoder, image)
    except Exception:  # noqa: BLE001 - a warm-up only; the real job reports its own errors
        pass


def start_helper() -> None:
    """Prepare a helper process (the pool's initializer), before its first job.

    Ctrl+C is for the viewer, which stops the jobs. OpenMP threads that spin while they
    wait make torch 10-25x slower whenever another process (or the viewer) wants a core
    (docs/benchmarks.md); passive waiting costs nothing measurable on an idle machine.
    Set here, in our own process, before torch is loaded; a user's own setting wins.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    warm_up()
