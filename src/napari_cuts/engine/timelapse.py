"""A time-lapse segmented frame by frame with one encoder: the frames' levels side by side.

Every frame gets its own hierarchy, so frames have different numbers of levels. The
result lines them up at each frame's default level: slot ``default_level`` holds every
frame's default (objects) level, the slot k places coarser holds each frame's level k
places coarser (its coarsest where it has fewer), and likewise finer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator, Sequence

import numpy as np

from napari_cuts.formats.writing import smallest_label_dtype


def align_frames(levels: Sequence[np.ndarray], summaries: Sequence[dict]) -> tuple[np.ndarray, dict]:
    """Stack the frames' levels, aligned at their default levels.

    `levels[t]` is frame t's (L_t, ...) labels coarse to fine and `summaries[t]` its
    summary (``default_level`` and per level ``n_regions``, ``salient``, ``kind``, as
    :meth:`Hierarchy.summary` gives). Returns (L, T, ...) labels and their summary:
    ``default_level``, ``frames`` (T) and per slot ``n_regions`` (the most in any frame),
    ``n_regions_per_frame``, ``frame_levels`` (each frame's level shown), ``salient``
    (the default, and levels salient in at least half the frames) and ``kind`` (the most
    frequent).
    """
    defaults = [int(s["default_level"]) for s in summaries]
    counts = [len(lev) for lev in levels]
    before = max(defaults)
    after = max(n - 1 - d for n, d in zip(counts, defaults))
    n_slots, n_frames = before + after + 1, len(levels)
    dtype = smallest_label_dtype(max(int(lev.max()) if lev.size else 0 for lev in levels))
    out = np.empty((n_slots, n_frames) + levels[0].shape[1:], dtype)
    slots = []
    for k in range(n_slots):
        used = [int(np.clip(d + k - before, 0, n - 1)) for n, d in zip(counts, defaults)]
        for t, i in enumerate(used):
            out[k, t] = levels[t][i]
        per_frame = [int(summaries[t]["levels"][i]["n_regions"]) for t, i in enumerate(used)]
        kinds = Counter(str(summaries[t]["levels"][i].get("kind", "regions")) for t, i in enumerate(used))
        slots.append({
            "n_regions": max(per_frame),
            "n_regions_per_frame": per_frame,
            "frame_levels": used,
            # the default, and levels salient in at least half the frames (not clamped there)
            "salient": k == before or 2 * sum(
                bool(summaries[t]["levels"][i]["salient"]) and i == defaults[t] + k - before
                for t, i in enumerate(used)) >= n_frames,
            "kind": kinds.most_common(1)[0][0],
        })
    return out, {"default_level": before, "frames": n_frames, "levels": slots}


def segment_frames_iter(segment_one: Callable[[np.ndarray], Generator], frames: Sequence[np.ndarray],
                        ) -> Generator:
    """Segment `frames` one by one with ``segment_one(frame)`` (a generator returning a
    Segmentation, e.g. :func:`napari_cuts.engine.pipeline.segment_iter` with one encoder);
    yields its progress with the frame named, returns :func:`align_frames`' result and
    each frame's ``info``."""
    from napari_cuts.engine.pipeline import Progress

    levels, summaries, infos = [], [], []
    for t, frame in enumerate(frames):
        steps = segment_one(frame)
        while True:
            try:
                p = next(steps)
            except StopIteration as stop:
                seg = stop.value
                break
            yield Progress(p.stage, p.done, p.total, f"frame {t + 1}/{len(frames)}: {p.message}")
        levels.append(seg.levels())
        summaries.append(seg.summary())
        infos.append(seg.info)
        del seg
    stacked, summary = align_frames(levels, summaries)
    return stacked, summary, infos


class FrameSegmentations:
    """What the viewer shows of a time-lapse segmented frame by frame: the summary of
    :func:`align_frames` with the attributes of a :class:`~napari_cuts.engine.pipeline.Segmentation`
    that name levels (each level spans every frame, so ``is_stack``: the result has the
    image's leading axis)."""

    is_stack = True
    time = True

    def __init__(self, summary: dict, shape: tuple[int, ...], info: list[dict] | None = None):
        self.summary, self.shape, self.info = summary, tuple(shape), info or []

    @property
    def n_levels(self) -> int:
        return len(self.summary["levels"])

    @property
    def n_regions(self) -> list[int]:
        return [int(lev["n_regions"]) for lev in self.summary["levels"]]

    @property
    def salient(self) -> list[bool]:
        return [bool(lev["salient"]) for lev in self.summary["levels"]]

    @property
    def kinds(self) -> list[str]:
        return [str(lev["kind"]) for lev in self.summary["levels"]]

    @property
    def default_level(self) -> int:
        return int(self.summary["default_level"])
