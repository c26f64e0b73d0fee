"""Segment many files with one encoder: serially, or in parallel on a dask cluster."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Sequence

from .encoder import Encoder, load_encoder
from .io import CutsInputError, atomic_write, output_stem, read_image, save_labels_tiff, volume_shape
from .pipeline import Progress, SegmentConfig, check_memory, segment


def check_inputs(paths: Sequence[str], encoder: Encoder, config: SegmentConfig,
                 is_stack: bool | None = None) -> None:
    """Refuse, before any work, duplicate names, unreadable files, wrong channel counts
    and inputs too large for memory."""
    stems = [output_stem(p) for p in paths]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise CutsInputError(f"two inputs share the name '{twice[0]}'; their outputs would collide")
    for path in paths:
        shape = volume_shape(read_image(path).shape, is_stack=is_stack)
        try:
            encoder.check_channels(shape[-1])
            check_memory(shape, config)
        except CutsInputError as exc:
            raise CutsInputError(f"{Path(path).name}: {exc}") from None


def segment_file(
    encoder: Encoder | str,
    path: str,
    outdir: str,
    config: SegmentConfig | None = None,
    is_stack: bool | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> tuple[str, str, float]:
    """Segment one file; write ``<stem>.cuts.tif`` (all levels) and ``<stem>.cuts.json``.

    `encoder` may be a path, so that dask workers load it themselves.
    Returns the two paths and the seconds taken.
    """
    t0 = time.perf_counter()
    if not isinstance(encoder, Encoder):
        encoder = load_encoder(encoder)
    stem = output_stem(path)
    seg = segment(encoder, read_image(path), config, is_stack=is_stack, progress=progress)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    tif = save_labels_tiff(out / f"{stem}.cuts.tif", seg.levels(), levels=True)
    meta = out / f"{stem}.cuts.json"
    with atomic_write(meta) as tmp:
        tmp.write_text(json.dumps({"image": stem, **seg.summary(), **seg.info}, indent=2))
    return str(tif), str(meta), time.perf_counter() - t0


def _segment_file_on_worker(encoder_path, path, outdir, config, is_stack, one_thread=True):
    if one_thread:  # a worker process per core
        import torch

        torch.set_num_threads(1)
    return segment_file(encoder_path, path, outdir, config, is_stack)


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
) -> list[tuple[str, str, float]]:
    """Segment `paths` in parallel with dask.distributed.

    Uses a local cluster of `workers` single-threaded workers, or the existing cluster at
    `scheduler` (e.g. ``tcp://host:8786``). Local workers are threads of this process by
    default (no start-up cost; torch and numpy release the GIL in the heavy steps), or
    processes with ``processes=True``. Each task loads the encoder file itself; results
    are the same files a serial run writes.
    """
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
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                               dashboard_address=None)
        client = Client(cluster)
    if in_process:
        torch.set_num_threads(1)  # one core per worker thread
    try:
        futures = {
            client.submit(_segment_file_on_worker, str(encoder_path), str(p), str(outdir),
                          config, is_stack, not in_process, pure=False): str(p)
            for p in paths
        }
        results = {}
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            if on_done is not None:
                on_done(futures[fut], results[futures[fut]])
        return [results[str(p)] for p in paths]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        torch.set_num_threads(threads_before)
