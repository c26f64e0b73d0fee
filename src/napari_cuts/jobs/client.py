"""The helper processes' client: a standard process pool running jobs, with progress and stop (no Qt).

Training and segmentation run in a :class:`~concurrent.futures.ProcessPoolExecutor`
(spawned processes, started in the background when a widget opens and reused; two, so
that a training and a segmentation run side by side), so that the viewer's main thread
never waits for a worker's interpreter lock. A napari thread worker drives each job: it
submits the job, yields the progress the process reports through a queue and returns
its result, so the widgets use it like any generator worker. *Stop* sets an event the
job checks between its steps.
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.util  # its exit handler (joins child processes) before ours: ours runs first
import os
import pickle
import queue
import re
import sys
import threading
import warnings
from collections.abc import Callable, Generator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.managers import SyncManager

from napari_cuts.formats.errors import CutsInputError, CutsWarning
from napari_cuts.jobs.helper import run_pickled, start_helper, steps_until_stopped, watch_parent

#: Helper processes: a training and a segmentation can run at the same time.
MAX_WORKERS = 2
#: False: run jobs in the worker thread itself (debugging, or a test's stand-in engine).
USE_PROCESS = True
POLL = 0.1  # seconds between looks at whether the job ended (when it reports nothing)

_CONTEXT = multiprocessing.get_context("spawn")  # no fork of a process running Qt threads
_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_manager = None  # a multiprocessing manager: the queues and stop events of the jobs
_starter: threading.Thread | None = None  # the background start of the helper (prestart)
_closing = False  # set when the interpreter exits: nothing more starts
#: At exit, how long (s) to let a background start finish before shutting the helpers down
START_GRACE = 120.0


class EngineError(RuntimeError):
    """A bug in the engine process (the message holds its traceback), or its end."""


#: ``if __name__ == "__main__":`` (either way round, either quotes)
_MAIN_GUARD = re.compile(r"""__name__\s*==\s*['"]__main__['"]|['"]__main__['"]\s*==\s*__name__""")


def unguarded_script() -> str | None:
    """The script this process runs, if a helper process would run it again: Python's
    spawned processes import the main script, and one that starts napari outside
    ``if __name__ == "__main__":`` would open a second viewer there and never hand the
    helper over. None for a guarded script, a module (``python -m``, the ``napari``
    command, pytest) or an interactive session (no file)."""
    main = sys.modules.get("__main__")
    if main is None or getattr(getattr(main, "__spec__", None), "name", None) is not None:
        return None
    path = getattr(main, "__file__", None)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except (OSError, TypeError):  # no file (interactive), or not readable: nothing to say
        return None
    return None if _MAIN_GUARD.search(text) else os.path.abspath(path)


def unguarded_message(script: str) -> str:
    """Why a job cannot start from an unguarded `script`, and what to do."""
    return (f"napari-cuts runs its engine in a helper process, and Python starts one by running "
            f"{os.path.basename(script)} again, which would open napari a second time; put the "
            "script's code under 'if __name__ == \"__main__\":'")


def _engine() -> tuple[ProcessPoolExecutor, object]:
    """The pool and the manager, started on first use (the manager's start blocks)."""
    global _pool, _manager
    with _lock:
        if _closing:
            raise EngineError("the napari-cuts engine is not started while Python exits")
        if _manager is None:
            _manager = SyncManager(ctx=_CONTEXT)
            _manager.start(watch_parent, (os.getpid(),))
        if _pool is None:
            _pool = ProcessPoolExecutor(MAX_WORKERS, mp_context=_CONTEXT, initializer=start_helper,
                                        initargs=(os.getpid(),))
        return _pool, _manager


def _broken(pool: ProcessPoolExecutor) -> EngineError:
    """Forget a pool whose process died (the next job starts a new one)."""
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)
    return EngineError("the napari-cuts engine process ended unexpectedly (out of memory?)")


def _close() -> None:
    """At exit: let a background start end, then shut the helper processes down.

    Runs before multiprocessing's own exit handler, which waits for every child process:
    a manager still starting when Python exits would never be told to stop, and that
    wait would never end."""
    global _closing
    _closing = True
    if _starter is not None:
        _starter.join(START_GRACE)
    if not _lock.acquire(timeout=START_GRACE):
        return
    try:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        if _manager is not None:
            _manager.shutdown()
    finally:
        _lock.release()


atexit.register(_close)  # registered after multiprocessing's exit handler, so it runs before it


def _start_in_background() -> None:
    try:
        _engine()[0].submit(os.getpid)
    except (RuntimeError, OSError):  # Python exits meanwhile (EngineError too): nothing to warm up
        pass


def prestart() -> None:
    """Start a helper process in the background, so the first job finds it warmed up."""
    global _starter
    if USE_PROCESS and not _closing and unguarded_script() is None:
        _starter = threading.Thread(target=_start_in_background, name="napari-cuts engine start", daemon=True)
        _starter.start()


def run_remote(job, refused: Callable[[str], object], on_stop: Callable[[object], None] | None,
               stop: threading.Event) -> Generator:
    """Run `job` in a helper process: yield its progress, return its result.

    A refusal returns ``refused(message)``; a bug raises :class:`EngineError`. Once
    `stop` is set the job stops at its next step; the progress it reported meanwhile
    is still yielded, ``on_stop`` gets what the job keeps (e.g. the best weights so
    far, or its result if it had ended) and the generator returns None. Closing the
    generator stops the job too.
    """
    script = unguarded_script()
    if script is not None:
        return refused(unguarded_message(script))
    pool, manager = _engine()
    messages, remote_stop = manager.Queue(), manager.Event()
    payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        future = pool.submit(run_pickled, payload, messages, remote_stop)
    except BrokenProcessPool:
        raise _broken(pool) from None
    try:
        while True:
            if stop.is_set() and not remote_stop.is_set():
                remote_stop.set()
            try:
                kind, value = messages.get(timeout=POLL)
            except queue.Empty:
                if future.done() and messages.empty():
                    break
                continue
            if kind == "progress":
                yield value
            else:
                warnings.warn(CutsWarning(value), stacklevel=1)
        try:
            kind, value = pickle.loads(future.result())
        except BrokenProcessPool:
            raise _broken(pool) from None
    finally:
        if not future.done():  # closed early: the job ends at its next step
            remote_stop.set()
    if stop.is_set():
        if on_stop is not None and kind in ("stopped", "done"):
            on_stop(value)
        return None
    if kind == "done":
        return value
    if kind == "refused":
        return refused(value)
    raise EngineError(f"the engine failed:\n{value}")


def run_job(job, refused: Callable[[str], object], on_stop: Callable[[object], None] | None = None,
            stop: threading.Event | None = None) -> Generator:
    """:func:`run_remote`, or with ``USE_PROCESS = False`` the same in this thread."""
    stop = stop if stop is not None else threading.Event()
    if USE_PROCESS:
        return (yield from run_remote(job, refused, on_stop, stop))
    try:
        kind, value = yield from steps_until_stopped(job, stop)
        if kind == "done":
            return value
        if on_stop is not None:
            on_stop(value)
        return None
    except CutsInputError as exc:
        return refused(str(exc))
