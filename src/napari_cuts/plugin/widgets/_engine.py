"""The viewer's side of the engine process (see :mod:`napari_cuts.jobs`).

Training and segmentation run in helper processes, one job at a time each, so that the
viewer's main thread never waits for a worker's interpreter lock. A napari thread
worker drives each job: it sends the job, yields the progress the process reports and
returns its result, so the widgets use it like any generator worker. Helper processes
start in the background when a widget opens and are reused; they end with the viewer's
process (they see their connection close).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
import warnings
from multiprocessing.connection import Listener
from typing import Callable, Generator

from napari.qt.threading import GeneratorWorker, create_worker

from napari_cuts.formats.images import CutsWarning
from napari_cuts.jobs import AUTHKEY_ENV, receive, send

#: Idle helper processes kept for reuse.
MAX_IDLE = 2
#: False: run jobs in the worker thread itself (debugging, or a test's stand-in engine).
USE_PROCESS = True
START_TIMEOUT = 300.0  # seconds for a helper process to load torch and the engine


class EngineError(RuntimeError):
    """A bug in the engine process; the message holds its traceback."""


class StopRequested(Exception):
    """Thrown into :func:`run_remote` when its worker is quit."""


class EngineProcess:
    """One helper process running engine jobs, one at a time."""

    def __init__(self) -> None:
        key = secrets.token_bytes(32)
        self._listener = Listener(authkey=key)
        env = dict(os.environ, **{AUTHKEY_ENV: key.hex()})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "napari_cuts.jobs", str(self._listener.address)],
            env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        self.conn = None
        self._ready = threading.Event()
        self._failure: str | None = None
        threading.Thread(target=self._connect, name="napari-cuts engine start", daemon=True).start()

    def _connect(self) -> None:
        try:
            conn = self._listener.accept()
            kind, _pid = receive(conn)
            self.conn = conn
        except Exception as exc:  # the process could not start
            self._failure = f"the napari-cuts engine process did not start ({exc})"
        finally:
            self._listener.close()
            self._ready.set()

    def wait_ready(self) -> None:
        """Block (in a worker thread) until the process has loaded the engine."""
        end = time.monotonic() + START_TIMEOUT
        while not self._ready.wait(0.2):
            if self.proc.poll() is not None:
                raise EngineError(f"the napari-cuts engine process ended at start-up (code {self.proc.returncode})")
            if time.monotonic() > end:
                raise EngineError("the napari-cuts engine process did not start in time")
        if self._failure:
            raise EngineError(self._failure)

    def recv(self):
        try:
            return receive(self.conn)
        except (EOFError, OSError):
            raise EngineError("the napari-cuts engine process ended unexpectedly "
                              "(out of memory?)") from None

    def close(self) -> None:
        """End the process (it is busy or broken)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


_idle: list[EngineProcess] = []
_lock = threading.Lock()


def prestart() -> None:
    """Start one helper process in the background, so the first job finds it ready."""
    if not USE_PROCESS:
        return
    with _lock:
        if not _idle:
            _idle.append(EngineProcess())


def _acquire() -> EngineProcess:
    with _lock:
        while _idle:
            engine = _idle.pop()
            if engine.proc.poll() is None:
                return engine
    return EngineProcess()


def _release(engine: EngineProcess) -> None:
    with _lock:
        if engine.proc.poll() is None and len(_idle) < MAX_IDLE:
            _idle.append(engine)
            return
    engine.close()


_FINAL = ("done", "refused", "error", "stopped")


def run_remote(job, refused: Callable[[str], object],
               on_stop: Callable[[object], None] | None = None) -> Generator:
    """Run `job` in a helper process: yield its progress, return its result.

    A refusal returns ``refused(message)``; a bug raises :class:`EngineError`. When its
    worker is quit (:class:`StopRequested` thrown in), the job stops at its next step;
    the progress it reported meanwhile is still yielded, ``on_stop`` gets what the job
    keeps (e.g. the best weights so far, or its result if it had ended) and the
    generator returns None. Closing the generator stops the job too.
    """
    engine = _acquire()
    clean = False
    try:
        engine.wait_ready()
        send(engine.conn, ("run", job))
        while True:
            kind, value = engine.recv()
            if kind == "progress":
                yield value
            elif kind == "warning":
                warnings.warn(CutsWarning(value), stacklevel=1)
            else:
                clean = True
                if kind == "done":
                    return value
                if kind == "refused":
                    return refused(value)
                raise EngineError(f"the engine failed:\n{value}")
    except StopRequested:
        send(engine.conn, ("stop",))
        kind, value = yield from _drain(engine, relay=True)
        clean = True
        if on_stop is not None and kind in ("stopped", "done"):
            on_stop(value)
        return None
    except GeneratorExit:
        send(engine.conn, ("stop",))
        for _ in _drain(engine, relay=False):
            pass
        clean = True
        raise
    finally:
        if clean:
            _release(engine)
        else:
            engine.close()


def _drain(engine: EngineProcess, relay: bool) -> Generator:
    """After a stop: the job's last progress (yielded if `relay`) until its last word,
    which is returned as (kind, value)."""
    while True:
        kind, value = engine.recv()
        if kind == "progress" and relay:
            yield value
        elif kind in _FINAL:
            break
    if kind != "stopped":  # the job ended before it saw the stop; the stop is answered too
        while engine.recv()[0] != "stopped":
            pass
    return kind, value


def run_job(job, refused: Callable[[str], object],
            on_stop: Callable[[object], None] | None = None) -> Generator:
    """:func:`run_remote`, or with ``USE_PROCESS = False`` the same in this thread."""
    if USE_PROCESS:
        return (yield from run_remote(job, refused, on_stop))
    from napari_cuts.formats.images import CutsInputError

    try:
        steps = job.run()
        while True:
            try:
                item = next(steps)
            except StopIteration as stop:
                return stop.value
            try:
                yield item
            except StopRequested:
                steps.close()
                if on_stop is not None:
                    on_stop(job.partial())
                return None
    except CutsInputError as exc:
        return refused(str(exc))


class ClosingWorker(GeneratorWorker):
    """A generator worker that lets :func:`run_remote` end its job when it is quit.

    napari's worker only stops iterating. This one then throws :class:`StopRequested`
    into the generator (in the worker thread, before ``finished`` is emitted) and emits
    the progress the job still reports, so that what a stopped job keeps matches what
    the widget showed.
    """

    def work(self):
        result = super().work()
        if not self.abort_requested:
            return result
        try:
            item = self._gen.throw(StopRequested())
            while True:
                self.yielded.emit(item)
                item = next(self._gen)
        except (StopIteration, StopRequested):
            pass
        return None


def remote_worker(func: Callable[..., Generator], *args) -> GeneratorWorker:
    """A not yet started worker iterating ``func(*args)`` (which uses :func:`run_remote`)."""
    return create_worker(func, *args, _start_thread=False, _worker_class=ClosingWorker)
