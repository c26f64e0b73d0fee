"""Segment many files with one encoder: serially, or in parallel on a dask cluster."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .encoder import Encoder, load_encoder
from .io import CutsInputError, atomic_write, output_stem, read_image, save_labels_tiff, voxel_spacing
from .pipeline import Progress, SegmentConfig, run_to_end, segment_iter
from .preflight import check_segmentation


def check_inputs(paths: Sequence[str], encoder: Encoder, config: SegmentConfig,
                 is_stack: bool | None = None) -> None:
    """Refuse, before any work and from the files' headers, duplicate names, unreadable
    files, wrong channel counts and inputs too large for memory."""
    check_segmentation(paths, config, encoder, is_stack=is_stack)


class Stopped(Exception):
    """A segmentation task stopped because the run was interrupted (nothing written)."""


def segment_file(
    encoder: Encoder | str,
    path: str,
    outdir: str,
    config: SegmentConfig | None = None,
    is_stack: bool | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    image=None,
) -> tuple[str, str, float]:
    """Segment one file; write ``<stem>.cuts.tif`` (all levels) and ``<stem>.cuts.json``.

    `image`: the file's pixels when the caller decoded them already (``run``), so the
    file is not decoded twice.

    `encoder` may be a path, so that dask workers load it themselves. When
    `should_stop()` turns true the task raises :class:`Stopped` and writes nothing; a
    failed write leaves neither file. Returns the two paths and the seconds taken.
    """
    stop = should_stop or (lambda: False)
    t0 = time.perf_counter()
    if stop():
        raise Stopped(path)
    if not isinstance(encoder, Encoder):
        encoder = load_encoder(encoder)
    stem = output_stem(path)
    pixels = read_image(path) if image is None else image
    config = config or SegmentConfig()
    if config.z_spacing is None and (spacing := voxel_spacing(path)):  # the file's voxel size
        config = replace(config, z_spacing=float(np.clip(spacing, 0.1, 100)))
    seg = run_to_end(segment_iter(encoder, pixels, config, is_stack=is_stack),
                     progress, should_stop=stop)
    if seg is None or stop():
        raise Stopped(path)
    out = Path(outdir)
    tif = save_labels_tiff(out / f"{stem}.cuts.tif", seg.levels(), levels=True)
    meta = out / f"{stem}.cuts.json"
    try:
        with atomic_write(meta) as tmp:
            stack = {"z_spacing": config.z_spacing or 1.0} if seg.is_stack else {}
            tmp.write_text(json.dumps({"image": stem, **seg.summary(), **seg.info, **stack}, indent=2))
    except BaseException:
        tif.unlink(missing_ok=True)  # both outputs or neither
        raise
    return str(tif), str(meta), time.perf_counter() - t0


#: Set when an in-process run is interrupted; its thread workers stop at their next step.
_STOP_LOCAL = threading.Event()


class _StopFlag:
    """Whether the run was interrupted, as a task sees it: a flag of this process, or (for
    worker processes and remote clusters) a dask Event, polled at most every 0.2 s."""

    def __init__(self, name: str | None):
        self.name = name
        self._last = 0.0
        self._set = False

    def __call__(self) -> bool:
        if self.name is None:
            return _STOP_LOCAL.is_set()
        now = time.monotonic()
        if not self._set and now - self._last > 0.2:
            from dask.distributed import Event

            self._last = now
            self._set = Event(self.name).is_set()
        return self._set


def _segment_file_on_worker(encoder_path, path, outdir, config, is_stack, one_thread=True,
                            stop_event=None):
    if one_thread:  # a worker process per core
        import torch

        torch.set_num_threads(1)
    return segment_file(encoder_path, path, outdir, config, is_stack,
                        should_stop=_StopFlag(stop_event))


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
    workers: int = 2,
    scheduler: str | None = None,
    processes: bool = False,
    on_done: Callable[[str, tuple[str, str, float]], None] | None = None,
    connect_timeout: float = 10.0,
) -> list[tuple[str, str, float]]:
    """Segment `paths` in parallel with dask.distributed.

    Uses a local cluster of `workers` single-threaded workers, or the existing cluster at
    `scheduler` (e.g. ``tcp://host:8786``). Local workers are threads of this process by
    default (no start-up cost; torch and numpy release the GIL in the heavy steps), or
    processes with ``processes=True``. Each task loads the encoder file itself; results
    are the same files a serial run writes. On Ctrl+C the tasks stop at their next step
    without writing, queued ones never start, and the local cluster closes.
    """
    try:
        from dask.distributed import Client, Event, LocalCluster, as_completed
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
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                               dashboard_address=None, silence_logs=logging.CRITICAL)
        client = Client(cluster)
    _STOP_LOCAL.clear()
    stop_name = None if in_process else f"napari-cuts-stop-{uuid.uuid4().hex}"
    if in_process:
        torch.set_num_threads(1)  # one core per worker thread
    futures: dict = {}
    try:
        futures = {
            client.submit(_segment_file_on_worker, str(encoder_path), str(p), str(outdir),
                          config, is_stack, not in_process, stop_name, pure=False): str(p)
            for p in paths
        }
        results = {}
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            if on_done is not None:
                on_done(futures[fut], results[futures[fut]])
    except BaseException:
        # Interrupted (or a task failed): running tasks stop at their next step without
        # writing, queued ones never start, and the cluster gets a second to close.
        _STOP_LOCAL.set()
        logging.getLogger("distributed").setLevel(logging.CRITICAL)  # cancelled tasks: no noise
        with contextlib.suppress(Exception):
            if stop_name is not None:
                Event(stop_name, client=client).set()
            client.cancel(list(futures), force=True)
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
    return [results[str(p)] for p in paths]
