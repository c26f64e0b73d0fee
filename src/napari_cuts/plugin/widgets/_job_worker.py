"""The napari thread worker that drives a job in a helper process (:mod:`napari_cuts.jobs.client`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator

from napari.qt.threading import GeneratorWorker, create_worker


class JobWorker(GeneratorWorker):
    """A generator worker whose ``quit()`` asks its job to stop at the job's next step.

    napari's worker would only stop iterating. This one hands its function the event
    ``stop``, which ``quit()`` sets: the job ends early and the progress it still
    reports is emitted, so that what a stopped job keeps matches what the widget
    showed. A stopped job emits no ``returned``, like any quit worker.
    """

    def __init__(self, func: Callable[..., Generator], *args, **kwargs) -> None:
        stop = threading.Event()
        super().__init__(func, *args, stop=stop, **kwargs)
        self.stop_requested = stop

    def quit(self) -> None:
        """Ask the job to stop after its current step."""
        self.stop_requested.set()

    def work(self):
        """Iterate the job to its end; no result once stopped."""
        result = super().work()
        if self.stop_requested.is_set():
            super().quit()  # WorkerBase.run then emits no `returned`
        return result


def remote_worker(func: Callable[..., Generator], *args) -> GeneratorWorker:
    """A not yet started worker iterating ``func(*args, stop=event)`` (which uses
    :func:`run_job`, handing it `stop`)."""
    return create_worker(func, *args, _start_thread=False, _worker_class=JobWorker)
