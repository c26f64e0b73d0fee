"""Helpers shared by the benchmarks: machine load, memory sampling, stage timing, docs."""

from __future__ import annotations

import os
import platform
import re
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "benchmarks.md"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "retina-dev"
DOCS_INTRO = (
    "# Benchmarks\n\n"
    "Quality and speed of napari-cuts, measured by the scripts in `benchmarks/`. The machine "
    "is shared with other jobs, so every timing is given next to the load average and, where "
    "it matters, as a ratio to a baseline measured in the same run.\n"
)


# ---- machine ------------------------------------------------------------------------
def load() -> tuple[float, float, float]:
    return tuple(round(v, 2) for v in os.getloadavg())


def machine() -> dict:
    import torch

    mem = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal"):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gb": round(mem / 1e9, 1) if mem else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }


# ---- memory -------------------------------------------------------------------------
def _status(field: str) -> int:
    """A /proc/self/status field in bytes (0 where unavailable)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss() -> int:
    return _status("VmRSS")


_PEAK_BEFORE_RESET = 0  # the highest VmHWM seen before a reset of the kernel's peak


def hwm() -> int:
    """Peak resident set size of this process so far (VmHWM, else ru_maxrss), including
    peaks from before any :func:`reset_peak`."""
    value = _status("VmHWM")
    if not value:
        import resource

        value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return max(value, _PEAK_BEFORE_RESET)


def reset_peak() -> bool:
    """Reset the kernel's peak RSS of this process (Linux: /proc/self/clear_refs, 5)."""
    global _PEAK_BEFORE_RESET
    _PEAK_BEFORE_RESET = max(_PEAK_BEFORE_RESET, _status("VmHWM"))
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class RssSampler:
    """Peak RSS per interval: :meth:`take` returns the peak since the last call.

    Where Linux allows it, the kernel's own high-water mark is read and reset, with no
    thread. Otherwise a thread samples VmRSS every `interval` seconds (a thread that
    wakes every few milliseconds competes for the GIL with the many small torch calls).
    """

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.kernel = reset_peak()
        self._peak = rss()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        if not self.kernel:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self):
        while not self._stop.wait(self.interval):
            value = rss()
            with self._lock:
                self._peak = max(self._peak, value)

    def take(self) -> int:
        if self.kernel:
            peak = max(_status("VmHWM"), rss())
            reset_peak()
            return peak
        value = rss()
        with self._lock:
            peak, self._peak = max(self._peak, value), value
        return peak

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def gb(nbytes: float | None) -> str:
    return "n/a" if nbytes is None else f"{nbytes / 1e9:.2f}"


# ---- timing segment_iter by stage ----------------------------------------------------
def timed_segment(encoder, image, config=None, sampler: RssSampler | None = None, **kwargs):
    """Run :func:`segment_iter`, timing its stages.

    Stages (boundaries are the first progress report of the next stage):
    - ``embed``: sampling, PCA and every pixel's point (up to the first "basins" report);
    - ``cluster``: the watershed basins and their mean points (up to the first "condensing");
    - ``condense``: both condensations, the default level and the hierarchy (to the end).
    Returns (segmentation, {stage: seconds}, {stage: peak RSS bytes}); the process CPU
    seconds of every stage (all threads) are in ``times["cpu_<stage>"]``.
    """
    from napari_cuts.engine.pipeline import segment_iter

    gen = segment_iter(encoder, image, config, **kwargs)
    times, peaks = {}, {}
    stage, t, c = "embed", time.perf_counter(), time.process_time()
    if sampler is not None:
        sampler.take()

    def switch(new):
        nonlocal stage, t, c
        now, cpu = time.perf_counter(), time.process_time()
        times[stage] = times.get(stage, 0.0) + now - t
        times["cpu_" + stage] = times.get("cpu_" + stage, 0.0) + cpu - c
        if sampler is not None:
            peaks[stage] = max(peaks.get(stage, 0), sampler.take())
        stage, t, c = new, now, cpu

    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            seg = stop.value
            break
        if p.stage == "basins" and stage == "embed":
            switch("cluster")
        elif p.stage in ("condensing", "grouping") and stage == "cluster":
            switch("condense")
    switch("done")
    return seg, times, peaks


# ---- docs ---------------------------------------------------------------------------
def write_section(title: str, body: str, path: Path = DOCS) -> Path:
    """Replace (or append) the section ``## title`` of docs/benchmarks.md.

    A section runs from its ``## `` heading to the next ``## `` heading; other sections
    are left as they are. The file is created with a short intro when missing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else DOCS_INTRO
    heading = f"## {title}"
    section = heading + "\n\n" + body.strip("\n") + "\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
        after = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + after if after else "")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def markdown_table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def text_table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def git_revision() -> str:
    try:
        import subprocess

        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=REPO, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return rev + (" (src modified)" if dirty else "")
    except Exception:
        return "unknown"


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def mean_std(values) -> str:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    if not len(v):
        return "n/a"
    return f"{v.mean():.3f} ± {v.std():.3f}"


# ---- same-run baselines for timings ---------------------------------------------------
#: The original CUTS code on this machine: conv forward+backward of a batch of 16 RGB
#: 128x128 images through the 4-layer encoder (seconds), measured at an earlier time.
ORIGINAL_CONV_BATCH_S = 5.8


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 matrix-multiply rate of this process now (GFLOP/s)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def conv_batch_seconds(repeats: int = 1) -> float:
    """Median seconds of forward+backward of 16 RGB 128x128 images through the encoder
    at full resolution, the original code's training step (reference: 5.8 s)."""
    import torch

    from napari_cuts.engine.encoder import ConvEncoder

    torch.manual_seed(0)
    net = ConvEncoder(3).train()
    net(torch.randn(2, 3, 128, 128)).square().mean().backward()  # warm up
    x = torch.randn(16, 3, 128, 128)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        net.zero_grad()
        net(x).square().mean().backward()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def calibrate() -> dict:
    """Load and the machine's rates now, to put the run's timings in proportion."""
    before = load()
    gflops = matmul_gflops()
    conv = conv_batch_seconds()
    return {"load": before, "matmul_gflops": round(gflops, 1), "conv_batch_s": round(conv, 2),
            "slowdown_vs_original_conv": round(conv / ORIGINAL_CONV_BATCH_S, 2)}
