"""``napari-cuts`` and ``python -m napari_cuts``: one line and exit code 130 on Ctrl+C, always.

Until :func:`napari_cuts.cli.main.main` runs, a Ctrl+C (while Python loads the libraries) ends
the process with one line; nothing has been written yet. Once it runs, Ctrl+C raises
KeyboardInterrupt as usual, so writes in progress clean up after themselves. If threads
the interpreter would wait for are still running after that (dask worker threads in the
middle of a step, with ``--workers``), the process ends at once instead: their temporary
files are removed first, and they never write an output after the signal. After the one
line, whatever libraries print while they shut down is not shown.
"""

import _signal  # the C module: no imports, so the handler is in place at once
import os
import sys


def _interrupted_at_start(signum, frame):  # noqa: ARG001
    os.write(2, b"napari-cuts: interrupted\n")
    os._exit(130)


_signal.signal(_signal.SIGINT, _interrupted_at_start)


def _threads_still_running(timeout: float) -> bool:
    """Whether threads other than the main one are still running after `timeout` seconds.

    Any thread counts, daemon or not: the interpreter waits at exit for non-daemon and
    executor threads (which a daemon thread's executor makes daemon too), and a daemon
    thread in the middle of a write could still complete it while the interpreter ends.
    """
    import threading
    import time

    deadline = time.monotonic() + timeout
    waited = [t for t in threading.enumerate() if t is not threading.main_thread()]
    for thread in waited:
        thread.join(max(0.0, deadline - time.monotonic()))
    return any(t.is_alive() for t in waited)


def _load_libraries(argv: list[str]) -> None:
    """Import torch (and with it numpy) while Ctrl+C still ends the process at once: a
    KeyboardInterrupt raised inside torch's import, where C++ calls back into Python,
    cannot be carried through those frames and aborts the process instead. Not for a
    request for help, which needs none of it."""
    if argv and not any(a in ("-h", "--help", "--version") for a in argv):
        import torch  # noqa: F401


def entry() -> None:
    """The console script."""
    # OpenMP threads that spin while waiting make torch 10-25x slower whenever another
    # process wants a core (docs/benchmarks.md); passive waiting costs nothing measurable
    # on an idle machine. Set in this process only, before torch is loaded; a user's own
    # setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from napari_cuts.cli.main import main

    _load_libraries(sys.argv[1:])
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    code = main()
    if code == 130:
        # The one line is out; what libraries say while they are torn down is not shown.
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        if _threads_still_running(timeout=0.3):
            from napari_cuts.formats.writing import remove_partial_writes

            remove_partial_writes()
            os._exit(130)
    sys.exit(code)


if __name__ == "__main__":
    entry()
