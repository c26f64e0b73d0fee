"""Checks before any work, from the files' headers: names, channels and memory.

Nothing here decodes an image: shapes come from :func:`~napari_cuts.formats.images.image_header`,
so a command refuses an input that would not fit in memory before it reads, trains or
writes anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from napari_cuts.formats.axes import Layout, file_layout
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.images import available_memory, image_header, output_stem

#: torch, numpy and the interpreter (as in pipeline.estimate_memory).
BASE_BYTES = 400_000_000


def input_layouts(paths: Sequence[str], is_stack: bool | None = None,
                  channels: bool | None = None) -> list[tuple[Layout, np.dtype]]:
    """How every input's axes are read (:func:`~napari_cuts.formats.axes.file_layout`) and its
    file dtype, from the headers."""
    out = []
    for path in paths:
        shape, dtype = image_header(path)
        out.append((file_layout(path, shape, channels=channels, stack=is_stack), dtype))
    return out


def input_shapes(paths: Sequence[str], is_stack: bool | None = None,
                 channels: bool | None = None) -> list[tuple[tuple, np.dtype]]:
    """(Z, Y, X, C) volume shape and file dtype of every input, from the headers; the
    frames of a time-lapse count as slices (as training sees them)."""
    return [((lay.n_frames * lay.shape[1], *lay.shape[2:]), dtype)
            for lay, dtype in input_layouts(paths, is_stack, channels)]


def check_names(paths: Sequence[str]) -> None:
    """Refuse two inputs whose outputs would have the same name."""
    stems = [output_stem(p) for p in paths]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise CutsInputError(f"two inputs share the name '{twice[0]}'; their outputs would collide")


def estimate_training_memory(shapes: Sequence[tuple[tuple, np.dtype]]) -> int:
    """Peak bytes of training one encoder on volumes of these shapes (and file dtypes).

    Counts the decoded files, their float32 volumes, the normalised and padded copies the
    trainer keeps, and the transient copies of the largest slice while it is prepared.
    """
    decoded = sum(int(np.prod(s)) * np.dtype(d).itemsize for s, d in shapes)
    floats = sum(int(np.prod(s)) * 4 for s, _ in shapes)
    largest_slice = max(int(np.prod(s[1:])) * 4 for s, _ in shapes)
    return int(decoded + 2 * floats + 2 * largest_slice + BASE_BYTES)


def check_training(paths: Sequence[str], is_stack: bool | None = None,
                   limit: int | None = None, channels: bool | None = None) -> list[tuple[tuple, np.dtype]]:
    """Refuse, before decoding, training inputs that disagree in channels or do not fit."""
    shapes = input_shapes(paths, is_stack, channels)
    channels = sorted({s[-1] for s, _ in shapes})
    if len(channels) > 1:
        raise CutsInputError(
            f"all training images need the same number of channels, got {channels}")
    need = estimate_training_memory(shapes)
    limit = available_memory() if limit is None else limit
    if need > limit:
        raise CutsInputError(
            f"training on {'this image' if len(paths) == 1 else f'these {len(paths)} images'} "
            f"needs about {need / 1e9:.1f} GB, but only {limit / 1e9:.1f} GB are available; "
            "crop or downsample, or train on fewer or smaller images")
    return shapes


def check_segmentation(paths: Sequence[str], config, encoder=None,
                       is_stack: bool | None = None, limit: int | None = None,
                       channels: bool | None = None) -> None:
    """Refuse, before decoding, duplicate names, inputs too large to segment and (with an
    `encoder`) inputs with another channel count. `config` is the SegmentConfig.

    A time-lapse is segmented one frame at a time; all of it stays decoded, and every
    frame's levels are kept until they are written."""
    from napari_cuts.engine.pipeline import check_memory

    check_names(paths)
    if limit is None:
        limit = getattr(config, "memory_limit", None)
    if limit is None:
        limit = available_memory()
    for path, (lay, dtype) in zip(paths, input_layouts(paths, is_stack, channels)):
        frame = lay.frame_shape
        kept = 0
        if lay.time:  # the decoded input and two bytes per pixel for each of up to 2x64 levels
            pixels = int(np.prod(frame[:3]))
            kept = lay.n_frames * pixels * (frame[3] * np.dtype(dtype).itemsize + 2 * 128)
        try:
            if encoder is not None:
                encoder.check_channels(frame[-1])
            check_memory(frame, config, limit=limit - kept)
        except CutsInputError as exc:
            raise CutsInputError(f"{Path(path).name}: {exc}") from None
