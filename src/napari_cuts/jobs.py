"""Engine jobs for a helper process, and that process's loop (no Qt, no napari).

The napari widgets run training and segmentation here, in a separate Python process, so
the viewer's main thread never waits for a worker's interpreter lock: on a busy machine
a thread that holds the lock is often preempted, and the viewer froze for up to a second.

A job is a picklable object with ``run()``, a generator that yields progress and returns
the result, and ``partial()``, what to keep when it is stopped early. The process is
started with ``python -m napari_cuts.jobs ADDRESS`` (the authentication key in the
environment) and talks over a :mod:`multiprocessing.connection`. Messages to it:
``("run", job)``, ``("stop",)``; from it: ``("ready", None)``, then per job any number of
``("progress", item)`` and ``("warning", text)``, and one of ``("done", result)``,
``("refused", message)`` (a :class:`~napari_cuts.formats.images.CutsInputError`), ``("error",
traceback)`` or ``("stopped", partial)``.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any, Generator

import numpy as np

AUTHKEY_ENV = "NAPARI_CUTS_ENGINE_KEY"


def send(conn, message) -> None:
    """Send a message with plain pickle (a Connection's own pickler would share torch
    tensors through file descriptors, which only works between multiprocessing's processes)."""
    conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def receive(conn):
    """A message sent with :func:`send`."""
    return pickle.loads(conn.recv_bytes())


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
    """Segment one image; returns (Segmentation, levels, store or None): every level
    stacked coarse to fine, (L, Y, X) or (L, Z, Y, X), and the given vector store when this
    job filled it (it pickles as its file's path when its vectors are in a file)."""

    encoder: Any
    data: np.ndarray
    config: Any  # SegmentConfig
    is_stack: bool = False
    rgb: bool = False
    step_pause: float = 0.0
    vectors: Any = None  # a session.VectorStore of the image: used if filled, else filled here

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


def _run(conn, job) -> None:
    """Run one job, answering `conn`; a ("stop",) between steps ends it early."""
    from napari_cuts.formats.images import CutsInputError, CutsWarning

    def show(message, category, *_args, **_kwargs):
        if issubclass(category, CutsWarning):
            send(conn, ("warning", str(message)))

    with warnings.catch_warnings():
        warnings.simplefilter("always", CutsWarning)
        warnings.showwarning = show
        try:
            steps = job.run()
            while True:
                if conn.poll() and receive(conn)[0] == "stop":
                    steps.close()
                    send(conn, ("stopped", job.partial()))
                    return
                try:
                    item = next(steps)
                except StopIteration as stop:
                    send(conn, ("done", stop.value))
                    return
                send(conn, ("progress", item))
                if job.step_pause:
                    time.sleep(job.step_pause)
        except CutsInputError as exc:
            send(conn, ("refused", str(exc)))
        except Exception:  # a bug: the viewer shows it with this traceback
            send(conn, ("error", traceback.format_exc()))


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


def serve(address: str, authkey: bytes) -> None:
    """The helper process: connect to the viewer, then run its jobs one at a time."""
    import signal
    from multiprocessing.connection import Client

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the viewer, which stops us
    conn = Client(address, authkey=authkey)
    warm_up()  # before saying ready: the first job runs as fast as the next ones

    send(conn, ("ready", os.getpid()))
    while True:
        try:
            message = receive(conn)
        except (EOFError, OSError):  # the viewer is gone
            return
        if message[0] == "run":
            _run(conn, message[1])
        elif message[0] == "stop":  # a stop that came after its job ended
            send(conn, ("stopped", None))
        elif message[0] == "exit":
            return


if __name__ == "__main__":
    serve(sys.argv[1], bytes.fromhex(os.environ.pop(AUTHKEY_ENV)))
