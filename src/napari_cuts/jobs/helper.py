"""What a helper process runs: a pickled job, its progress and warnings sent through a queue.

The napari widgets run training and segmentation in separate Python processes, so the
viewer's main thread never waits for a worker's interpreter lock: on a busy machine a
thread that holds the lock is often preempted, and the viewer froze for up to a second.
The processes are a standard :class:`concurrent.futures.ProcessPoolExecutor`
(:mod:`napari_cuts.jobs.client`) whose workers start with :func:`start_helper` and run
:func:`run_pickled`.
"""

from __future__ import annotations

import os
import pickle
import time
import traceback
import warnings
from collections.abc import Generator
from typing import Any

import numpy as np


def run_pickled(payload: bytes, messages, stop) -> bytes:
    """Run the pickled job `payload` in this (helper) process; the outcome, pickled.

    `messages` (a queue) gets ``("progress", item)`` per step and ``("warning", text)``
    per :class:`~napari_cuts.formats.errors.CutsWarning`; once `stop` (an event) is set, the job ends
    before its next step. The outcome is one of ``("done", result)``, ``("stopped",
    partial)``, ``("refused", message)`` (a :class:`~napari_cuts.formats.errors.CutsInputError`) or
    ``("error", traceback)``. Jobs and outcomes travel as plain pickles: the pool's own
    pickler would hand torch tensors over through shared memory.
    """
    return pickle.dumps(_outcome(pickle.loads(payload), messages, stop),
                        protocol=pickle.HIGHEST_PROTOCOL)


def steps_until_stopped(job, stop) -> Generator[Any, None, tuple[str, Any]]:
    """Yield `job`'s progress until it ends or `stop` (an event) is set; return ``("done",
    result)`` or ``("stopped", partial)``. The one loop of a job, in a helper process or
    (tests) in the viewer's."""
    steps = job.run()
    while not stop.is_set():
        try:
            item = next(steps)
        except StopIteration as done:
            return "done", done.value
        yield item
    steps.close()
    return "stopped", job.partial()


def _outcome(job, messages, stop) -> tuple[str, Any]:
    from napari_cuts.formats.errors import CutsInputError, CutsWarning

    def show(message, category, *_args, **_kwargs):
        if issubclass(category, CutsWarning):
            messages.put(("warning", str(message)))

    with warnings.catch_warnings():
        warnings.simplefilter("always", CutsWarning)
        warnings.showwarning = show
        try:
            steps = steps_until_stopped(job, stop)
            while True:
                try:
                    item = next(steps)
                except StopIteration as end:
                    return end.value
                messages.put(("progress", item))
                if job.step_pause:
                    time.sleep(job.step_pause)
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


#: Seconds between a helper process's looks at whether the process that started it is there
PARENT_POLL = 1.0


def parent_gone(pid: int) -> bool:
    """Whether the process `pid` that started this one has ended (killed, say)."""
    if os.name == "posix":  # an orphan is handed to another parent
        return os.getppid() != pid
    import psutil

    return not psutil.pid_exists(pid)


def watch_parent(pid: int) -> None:
    """End this process once its parent `pid` is gone: a viewer killed from outside
    (no exit handler ran) leaves no helper or manager process behind, waiting forever."""
    import threading

    def watch() -> None:
        while not parent_gone(pid):
            time.sleep(PARENT_POLL)
        os._exit(0)

    threading.Thread(target=watch, name="napari-cuts parent watch", daemon=True).start()


def start_helper(parent: int) -> None:
    """Prepare a helper process (the pool's initializer), before its first job; it ends
    when its `parent` (the pid of the process that started it) is gone (:func:`watch_parent`).

    Ctrl+C is for the viewer, which stops the jobs. OpenMP threads that spin while they
    wait make torch 10-25x slower whenever another process (or the viewer) wants a core
    (docs/benchmarks.md); passive waiting costs nothing measurable on an idle machine.
    Set here, in our own process, before torch is loaded; a user's own setting wins.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    watch_parent(parent)
    warm_up()
