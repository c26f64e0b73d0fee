"""Segment many files with one encoder: serially, or in parallel on a dask cluster."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from napari_cuts.engine.encoder import Encoder, load_encoder
from napari_cuts.engine.pipeline import Progress, SegmentConfig, run_to_end, segment_iter
from napari_cuts.engine.timelapse import segment_frames_iter
from napari_cuts.formats.axes import file_layout
from napari_cuts.formats.cuts import summary_path, write_result
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.images import output_stem, read_image, voxel_spacing
from napari_cuts.formats.preflight import check_segmentation
from napari_cuts.formats.writing import LEVELS_SUFFIX


def check_inputs(paths: Sequence[str], encoder: Encoder, config: SegmentConfig,
                 is_stack: bool | None = None, channels: bool | None = None) -> None:
    """Refuse, before any work and from the files' headers, duplicate names, unreadable
    files, wrong channel counts and inputs too large for memory."""
    check_segmentation(paths, config, encoder, is_stack=is_stack, channels=channels)


class Stopped(Exception):
    """A segmentation task stopped because the run was interrupted (nothing written)."""


Result = tuple[str, str, float]  # the .cuts, the .cuts.json, seconds


class CommitGate:
    """The outputs of a run are committed (renamed into place) one file at a time under a
    lock; once the run is stopped no commit starts, and every one that completed is known,
    so an interrupt reports each output that exists (:meth:`stop`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._committed: dict[str, Result] = {}

    def should_stop(self) -> bool:
        return self._stop.is_set()

    @contextlib.contextmanager
    def commit(self, path: str, result: Result):
        with self._lock:
            if self._stop.is_set():
                raise Stopped(path)
            yield
            self._committed[path] = result

    def stop(self) -> dict[str, Result]:
        """Stop the run; returns the outputs committed before (no commit runs after)."""
        with self._lock:
            self._stop.set()
            return dict(self._committed)


class _DaskGate:
    """:class:`CommitGate` across processes: a dask Lock, Event and Queue named after the
    run. The stop is polled at most every 0.2 s between steps, and freshly at a commit."""

    def __init__(self, name: str):
        self.name = name
        self._last = 0.0
        self._set = False

    def should_stop(self) -> bool:
        from dask.distributed import Event

        now = time.monotonic()
        if not self._set and now - self._last > 0.2:
            self._last = now
            self._set = Event(self.name).is_set()
        return self._set

    @contextlib.contextmanager
    def commit(self, path: str, result: Result):
        from dask.distributed import Event, Lock, Queue

        with Lock(self.name):
            if Event(self.name).is_set():
                raise Stopped(path)
            yield
            Queue(self.name).put([path, list(result)])

    @staticmethod
    def stop(client, name: str, timeout: float = 5.0) -> dict[str, Result]:
        """Stop the run from the client; returns the outputs committed before."""
        from dask.distributed import Event, Lock, Queue

        lock = Lock(name, client=client)
        held = lock.acquire(timeout=timeout)
        try:
            Event(name, client=client).set()
        finally:
            if held:
                lock.release()
        queue = Queue(name, client=client)
        items = queue.get(batch=True) if queue.qsize() else []
        return {path: tuple(result) for path, result in items}


#: The gate of the tasks of an in-process dask run (worker threads of this process);
#: :func:`segment_files_distributed` makes a fresh one per run.
_LOCAL = CommitGate()


def segment_file(
    encoder: Encoder | str,
    path: str,
    outdir: str,
    config: SegmentConfig | None = None,
    is_stack: bool | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    image=None,
    channels: bool | None = None,
    gate: CommitGate | _DaskGate | None = None,
) -> Result:
    """Segment one file; write ``<stem>.cuts`` (a TIFF of all levels) and ``<stem>.cuts.json``.

    `image`: the file's pixels when the caller decoded them already (``run``), so the
    file is not decoded twice. The file's axes are read as :func:`~napari_cuts.formats.axes.file_layout`
    says (`is_stack`, `channels`: the user's choice); a time-lapse is segmented frame by
    frame with the one encoder (:mod:`napari_cuts.engine.timelapse`).

    `encoder` may be a path, so that dask workers load it themselves. When
    `should_stop()` turns true the task raises :class:`Stopped` and writes nothing; a
    failed write leaves neither file. With a `gate`, both files are committed through it
    (and it says when to stop). Returns the two paths and the seconds taken.
    """
    stop = should_stop or (gate.should_stop if gate is not None else (lambda: False))
    t0 = time.perf_counter()
    if stop():
        raise Stopped(path)
    if not isinstance(encoder, Encoder):
        encoder = load_encoder(encoder)
    stem = output_stem(path)
    pixels = read_image(path) if image is None else image
    lay = file_layout(path, np.shape(pixels), channels=channels, stack=is_stack)
    config = config or SegmentConfig()
    if config.z_spacing is None and (spacing := voxel_spacing(path)):  # the file's voxel size
        config = replace(config, z_spacing=float(np.clip(spacing, 0.1, 100)))

    def one(frame):
        return segment_iter(encoder, frame, config, is_stack=lay.is_stack, channel_axis=True)

    frames = lay.frames(pixels)
    if lay.time:
        done = run_to_end(segment_frames_iter(one, frames), progress, should_stop=stop)
        if done is None:
            raise Stopped(path)
        levels, summary, infos = done
        body = {"image": stem, "axes": lay.axes, **summary, "frame_info": infos}
    else:
        seg = run_to_end(one(frames[0]), progress, should_stop=stop)
        if seg is None:
            raise Stopped(path)
        levels, body = seg.levels(), {"image": stem, **seg.summary(), **seg.info}
    del frames, pixels
    if lay.is_stack:
        body["z_spacing"] = config.z_spacing or 1.0
    tif = Path(outdir) / f"{stem}{LEVELS_SUFFIX}"
    meta = summary_path(tif)

    def check() -> None:
        if stop():
            raise Stopped(path)

    write_result(tif, levels, body, time=lay.time, check=check, commit=None if gate is None else (
        lambda: gate.commit(path, (str(tif), str(meta), time.perf_counter() - t0))))
    return str(tif), str(meta), time.perf_counter() - t0


Failure = Callable[[str, BaseException], None]


def _failed(path: str, exc: BaseException, on_failed: Failure | None) -> None:
    """One image's failure: reported, so that the others go on; without a reporter, raised."""
    if on_failed is None or isinstance(exc, (OSError, Stopped)):  # e.g. a full disk: every write fails
        raise exc
    on_failed(path, exc)


def segment_files(
    encoder: Encoder,
    paths: Sequence[str],
    outdir: str,
    config: SegmentConfig | None = None,
    *,
    is_stack: bool | None = None,
    channels: bool | None = None,
    decoded: dict | None = None,
    progress: Callable[[str], Callable[[Progress], None] | None] | None = None,
    on_done: Callable[[str, Result], None] | None = None,
    on_failed: Failure | None = None,
) -> dict[str, Result]:
    """Segment `paths` one after the other with `encoder` (see :func:`segment_file`).

    `decoded`: pixels already decoded, by path (each freed once segmented); `progress`
    gives a file's progress callback; `on_done` is called for each file written, also
    for one that completed as Ctrl+C came (before the KeyboardInterrupt goes on);
    `on_failed` for each file that failed (the others go on; without it the first
    failure is raised).
    """
    gate = CommitGate()
    reported: dict[str, Result] = {}
    try:
        for path in paths:
            try:
                reported[path] = segment_file(
                    encoder, path, outdir, config, is_stack, image=(decoded or {}).pop(path, None),
                    progress=progress(path) if progress else None, channels=channels, gate=gate)
            except Exception as exc:
                _failed(path, exc, on_failed)
                continue
            if on_done is not None:
                on_done(path, reported[path])
    except KeyboardInterrupt:
        _report_committed(gate.stop(), reported, on_done)
        raise
    return reported


def _report_committed(committed: dict[str, Result], reported: dict, on_done) -> None:
    """After an interrupt: report each output that was committed but not reported yet."""
    for path, result in committed.items():
        if path not in reported and on_done is not None:
            on_done(path, result)


def _segment_file_on_worker(encoder_path, path, outdir, config, is_stack, channels,
                            one_thread=True, gate_name=None):
    if one_thread:  # a worker process per core
        import torch

        torch.set_num_threads(1)
    gate = _LOCAL if gate_name is None else _DaskGate(gate_name)
    return segment_file(encoder_path, path, outdir, config, is_stack, channels=channels, gate=gate)


def check_scheduler_address(address: str) -> str:
    """Refuse a malformed dask scheduler address (e.g. not ``tcp://host:8786``)."""
    example = "an address like tcp://host:8786"
    scheme, _, location = address.partition("://")
    if not location:
        raise CutsInputError(f"--scheduler must be {example}, not '{address}'")
    if scheme not in ("tcp", "tls", "ws", "wss", "ucx", "inproc"):
        raise CutsInputError(f"--scheduler '{address}': unknown protocol '{scheme}' ({example})")
    if scheme != "inproc":
        host, _, port = location.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise CutsInputError(f"--scheduler '{address}' needs a host and a port ({example})")
    return address


def segment_files_distributed(
    encoder_path: str,
    paths: Sequence[str],
    outdir: str,
    config: SegmentConfig | None = None,
    *,
    is_stack: bool | None = None,
    channels: bool | None = None,
    workers: int = 2,
    scheduler: str | None = None,
    processes: bool = False,
    on_done: Callable[[str, Result], None] | None = None,
    on_failed: Failure | None = None,
    connect_timeout: float = 10.0,
) -> dict[str, Result]:
    """Segment `paths` in parallel with dask.distributed.

    Uses a local cluster of `workers` single-threaded workers, or the existing cluster at
    `scheduler` (e.g. ``tcp://host:8786``). Local workers are threads of this process by
    default (no start-up cost; torch and numpy release the GIL in the heavy steps), or
    processes with ``processes=True``. Each task loads the encoder file itself; results
    are the same files a serial run writes. A task that fails costs its file only
    (`on_failed`; without it the first failure stops the run). On Ctrl+C the tasks stop
    at their next step without writing, queued ones never start, every output committed
    before the stop is reported (`on_done`) and the local cluster closes.
    """
    global _LOCAL
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise CutsInputError(
            "parallel segmentation needs dask.distributed: pip install 'napari-cuts[distributed]'"
        ) from None
    import torch

    cluster = None
    threads_before = torch.get_num_threads()
    in_process = not scheduler and not processes
    if scheduler:
        check_scheduler_address(scheduler)
        try:
            client = Client(scheduler, timeout=connect_timeout)
        except (OSError, TimeoutError) as exc:
            detail = (str(exc).splitlines() or [exc.__class__.__name__])[0]
            raise CutsInputError(f"cannot reach the dask scheduler at {scheduler} ({detail})") from None
    else:  # task errors reach this process through the futures: workers need not log them
        with warnings.catch_warnings():  # its scheduler's status page moves to a free port
            warnings.filterwarnings("ignore", message="Port .* is already in use")
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                   dashboard_address=None, silence_logs=logging.CRITICAL)
        client = Client(cluster)
    gate = _LOCAL = CommitGate()
    gate_name = None if in_process else f"napari-cuts-run-{uuid.uuid4().hex}"
    if in_process:
        torch.set_num_threads(1)  # one core per worker thread
    futures: dict = {}
    results: dict[str, Result] = {}
    try:
        futures = {
            client.submit(_segment_file_on_worker, str(encoder_path), str(p), str(outdir),
                          config, is_stack, channels, not in_process, gate_name, pure=False): str(p)
            for p in paths
        }
        for fut in as_completed(futures):
            try:
                results[futures[fut]] = fut.result()
            except Exception as exc:
                _failed(futures[fut], exc, on_failed)
                continue
            if on_done is not None:
                on_done(futures[fut], results[futures[fut]])
    except BaseException:
        # Interrupted (or a task failed): running tasks stop at their next step without
        # writing, queued ones never start, and the cluster gets a second to close. No
        # commit starts after the stop; those before it are reported.
        committed = {}
        with contextlib.suppress(Exception):
            committed = gate.stop() if gate_name is None else _DaskGate.stop(client, gate_name)
        logging.getLogger("distributed").setLevel(logging.CRITICAL)  # cancelled tasks: no noise
        with contextlib.suppress(Exception):
            client.cancel(list(futures), force=True)
        _report_committed(committed, results, on_done)
        with contextlib.suppress(Exception):
            client.close(timeout=1)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=1)
        raise
    finally:
        torch.set_num_threads(threads_before)
    client.close()
    if cluster is not None:
        cluster.close()
    return {str(p): results[str(p)] for p in paths if str(p) in results}
