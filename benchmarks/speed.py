"""Wall time and peak memory of napari-cuts per stage, image size and worker count.

Usage (from the repository root):

    .venv/bin/python benchmarks/speed.py [--large] [--no-write] [--data DIR]

Every measurement runs in a fresh subprocess, so its peak resident memory (VmHWM, and a
sampling thread per stage) is its own. The machine may be shared: the load average is
recorded with every job, and the run measures its own baselines (2048² float32 matmul
rate; the original CUTS training step, conv forward+backward of 16 RGB 128² images, at
the start and the end) to put timings in proportion. --large adds the 2048² image and the
64x512x512 stack (several minutes each). Writes the section "## Speed and memory" of
docs/benchmarks.md unless --no-write.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

RGB_SIZES = [128, 512, 1024]
LARGE_RGB = 2048
STACK = (32, 256, 256)
LARGE_STACK = (64, 512, 512)
CONDENSE_SIZES = [128, 512]
FIT_STEP_SIZES = [128, 512, 2048]
WORKER_IMAGES, WORKER_SIZE = 12, 512
GB = 1e9

TARGETS = {
    "fit": 60.0,            # s, full fit on the 16 retina-dev images, default TrainingConfig
    "condense128_s": 0.5,
    "condense128_gb": 0.5,
    "condense512_s": 3.0,
    "stack_s": 60.0,
    "stack_gb": 4.0,
    "exponent": 1.15,
    "large_gb": 8.0,
}


# ---- inputs -----------------------------------------------------------------------------
def rgb_image(size: int) -> np.ndarray:
    """scikit-image's fundus photograph resized to size x size (RGB uint8)."""
    import skimage.data
    from skimage.transform import resize

    out = resize(skimage.data.retina(), (size, size), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(out, 0, 255).astype(np.uint8)


def gray_stack(shape) -> np.ndarray:
    """An image-like (Z, Y, X) uint8 stack: two photographs cross-fading and drifting in z."""
    import skimage.data
    from skimage.color import rgb2gray
    from skimage.transform import resize

    z, y, x = shape
    a = resize(skimage.data.camera(), (y, x), anti_aliasing=True, preserve_range=True)
    b = resize(rgb2gray(skimage.data.astronaut()) * 255, (y, x), anti_aliasing=True,
               preserve_range=True)
    rng = np.random.default_rng(0)
    out = np.empty(shape, np.uint8)
    for k in range(z):
        w = k / max(1, z - 1)
        s = int(round(k * 16 / max(1, z - 1)))
        plane = (1 - w) * np.roll(a, (s, s), (0, 1)) + w * np.roll(b, (-s, s), (0, 1))
        out[k] = np.clip(plane + rng.normal(0, 3, (y, x)), 0, 255).astype(np.uint8)
    return out


def worker_images(n: int, size: int) -> list[np.ndarray]:
    """n different size x size RGB crops of scikit-image's colour photographs."""
    import skimage.data

    photos = [skimage.data.retina(), skimage.data.astronaut(), skimage.data.coffee(),
              skimage.data.chelsea()]
    out = []
    rng = np.random.default_rng(0)
    for i in range(n):
        p = photos[i % len(photos)]
        if min(p.shape[:2]) <= size:  # enlarge small photographs so that crops fit
            from skimage.transform import rescale

            factor = (size + 64) / min(p.shape[:2])
            p = (rescale(p[..., :3], factor, channel_axis=-1, preserve_range=True)).astype(np.uint8)
            photos[i % len(photos)] = p
        y, x = rng.integers(0, p.shape[0] - size), rng.integers(0, p.shape[1] - size)
        out.append(np.ascontiguousarray(p[y : y + size, x : x + size, :3]))
    return out


def flops_per_pixel(encoder) -> int:
    """Multiply-adds x 2 of the encoder's convolutions per output pixel (25 c_in c_out each)."""
    return 2 * sum(conv.weight.numel() for conv in encoder.network.convs)


# ---- jobs (each in its own process) ---------------------------------------------------------
def job_calibrate(p):
    return C.calibrate()


def job_fit_full(p):
    from skimage.io import imread

    from napari_cuts.engine.encoder import save_encoder
    from napari_cuts.engine.pipeline import fit
    from napari_cuts.engine.training import TrainingConfig

    data = Path(p["data"])
    paths = sorted((data / "images").glob("*.png"))
    if paths:
        images = [imread(q)[..., :3] for q in paths]
    else:  # no data: a short fit on the sample, only so that the other jobs have an encoder
        images = [rgb_image(128)]
    cfg = TrainingConfig() if p.get("epochs") is None else TrainingConfig(epochs=p["epochs"])
    if not paths:
        cfg = TrainingConfig(epochs=1)
    t, c = time.perf_counter(), time.process_time()
    encoder = fit(images, cfg)
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    save_encoder(encoder, p["encoder"])
    steps = cfg.epochs * cfg.steps_per_epoch
    return {"seconds": seconds, "cpu_s": cpu, "images": len(paths), "epochs": cfg.epochs, "steps": steps,
            "s_per_step": seconds / steps, "default_config": p.get("epochs") is None and bool(paths)}


def job_fit_steps(p):
    from napari_cuts.engine.encoder import save_encoder
    from napari_cuts.engine.training import EncoderTrainer, TrainingConfig

    image = gray_stack(p["stack"]) if p.get("stack") else rgb_image(p["size"])
    t = time.perf_counter()
    trainer = EncoderTrainer([image], TrainingConfig(epochs=1, steps_per_epoch=p["steps"]))
    setup = time.perf_counter() - t
    times, cpus = [], []
    t, c = time.perf_counter(), time.process_time()
    for _ in trainer.run():
        now, cpu = time.perf_counter(), time.process_time()
        times.append(now - t)
        cpus.append(cpu - c)
        t, c = now, cpu
    if p.get("encoder"):
        save_encoder(trainer.result(), p["encoder"])
    return {"setup_s": setup, "step_s_median": float(np.median(times[1:] or times)),
            "step_cpu_s_median": float(np.median(cpus[1:] or cpus)),
            "step_s_first": times[0], "steps": len(times)}


def _segment_common(encoder, image, is_stack=None):
    from napari_cuts.engine.pipeline import SegmentConfig, estimate_memory
    from napari_cuts.formats.images import volume_shape

    cfg = SegmentConfig()
    sampler = C.RssSampler()
    base = C.rss()
    t, c = time.perf_counter(), time.process_time()
    seg, times, peaks = C.timed_segment(encoder, image, cfg, sampler, is_stack=is_stack)
    total, cpu = time.perf_counter() - t, time.process_time() - c
    sampler.stop()
    return seg, {
        "total_s": total, "cpu_s": cpu, "stages_s": times, "stage_peak_gb": {k: v / GB for k, v in peaks.items()},
        "rss_before_gb": base / GB, "peak_gb": C.hwm() / GB,
        "estimate_gb": estimate_memory(volume_shape(image.shape, is_stack=is_stack), cfg) / GB,
        "n_levels": seg.n_levels, "n_regions": [seg.n_regions[0], seg.n_regions[-1]],
        "info": seg.info,
    }


def job_segment(p):
    from napari_cuts.engine.embedding import embed
    from napari_cuts.engine.encoder import load_encoder

    encoder = load_encoder(p["encoder"])
    image = rgb_image(p["size"])
    _, out = _segment_common(encoder, image)
    if p.get("embed"):  # throughput of the encoder alone, after the segmentation's peak
        t = time.perf_counter()
        vec = embed(encoder, image)
        secs = time.perf_counter() - t
        fpp = flops_per_pixel(encoder)
        out["embed"] = {"s": secs, "pixels_per_s": image.shape[0] * image.shape[1] / secs,
                        "flops_per_pixel": fpp,
                        "gflops": image.shape[0] * image.shape[1] * fpp / secs / 1e9}
        if p.get("vectors"):
            np.save(p["vectors"], vec)
    return out


def _config_kwargs(func, cfg, skip=()) -> dict:
    """The SegmentConfig fields that `func` takes as keyword arguments (so that this
    benchmark follows the engine's parameters as they change)."""
    import dataclasses
    import inspect

    params = inspect.signature(func).parameters
    fields = {f.name for f in dataclasses.fields(cfg)}
    return {k: getattr(cfg, k) for k in params if k in fields and k not in skip}


def job_condense(p):
    """Everything after the encoder, on precomputed (1, Y, X, D) vectors: the engine's own
    `segment_iter` (sample, PCA, reduction, basins, condensation, hierarchy)
    with `embed_region` answering from the stored vectors, so that this follows the
    pipeline's steps and defaults as they change."""
    import napari_cuts.engine.pipeline as pipeline
    from napari_cuts.engine.encoder import RECEPTIVE_RADIUS, load_encoder  # noqa: F401
    from napari_cuts.engine.pipeline import SegmentConfig

    encoder = load_encoder(p["encoder"])
    vec = np.load(p["vectors"])[0]  # (Y, X, D) of a 2D image
    height, width = vec.shape[:2]

    def stored_region(encoder, plane, ys, xs, *, margin=0, device=None):
        oys = slice(max(ys.start - margin, 0), min(ys.stop + margin, height))
        oxs = slice(max(xs.start - margin, 0), min(xs.stop + margin, width))
        return vec[oys, oxs], (oys, oxs)

    pipeline.embed_region = stored_region
    image = rgb_image(p["size"])  # its intensities join the vectors; it is not re-embedded
    sampler = C.RssSampler()
    base = C.rss()
    t, c = time.perf_counter(), time.process_time()
    seg, times, _ = C.timed_segment(encoder, image, SegmentConfig(), sampler)
    total, cpu = time.perf_counter() - t, time.process_time() - c
    peak = sampler.take()
    sampler.stop()
    stages = {"pca": times.get("embed", 0.0), "kmeans": times.get("cluster", 0.0),
              "condense": times.get("condense", 0.0)}
    return {"total_s": total, "cpu_s": cpu, "stages_s": stages, "rss_before_gb": base / GB,
            "peak_gb": peak / GB, "increment_gb": (peak - base) / GB, "nodes": seg.info.get("n_nodes"),
            "iterations": seg.info.get("iterations"), "n_levels": seg.n_levels, "pixels": height * width}


def job_stack(p):
    from napari_cuts.engine.encoder import load_encoder

    encoder = load_encoder(p["encoder"])
    stack = gray_stack(p["stack"])
    _, out = _segment_common(encoder, stack, is_stack=True)
    return out


def job_refuse(p):
    """Inputs too large for a memory limit are refused before any work."""
    from napari_cuts.engine.encoder import load_encoder
    from napari_cuts.engine.pipeline import SegmentConfig, check_memory, estimate_memory, segment_iter
    from napari_cuts.formats.errors import CutsInputError

    out = {"estimates_gb": {}}
    for name, shape in (("2048x2048 RGB", (1, 2048, 2048, 3)), ("32x256x256", (32, 256, 256, 1)),
                        ("64x512x512", (64, 512, 512, 1)), ("16384x16384 RGB", (1, 16384, 16384, 3))):
        out["estimates_gb"][name] = estimate_memory(shape) / GB
    limit = int(8 * GB)
    t = time.perf_counter()
    try:
        check_memory((1, 16384, 16384, 3), limit=limit)
        out["check_memory_refused"] = False
    except CutsInputError as exc:
        out["check_memory_refused"] = True
        out["message"] = str(exc)
    out["check_memory_s"] = time.perf_counter() - t
    encoder = load_encoder(p["encoder"])
    image = rgb_image(1024)
    cfg = SegmentConfig(memory_limit=int(0.2 * GB))
    progressed = 0
    t = time.perf_counter()
    try:
        for _ in segment_iter(encoder, image, cfg):
            progressed += 1
        out["segment_refused"] = False
    except CutsInputError:
        out["segment_refused"] = True
    out["segment_refuse_s"] = time.perf_counter() - t
    out["progress_before_refusal"] = progressed
    return out


JOBS = {"calibrate": job_calibrate, "fit_full": job_fit_full, "fit_steps": job_fit_steps,
        "segment": job_segment, "condense": job_condense, "stack": job_stack, "refuse": job_refuse}


def child(name: str, params: str, out: str) -> int:
    p = json.loads(params)
    if p.get("threads"):
        import torch

        torch.set_num_threads(int(p["threads"]))
    before = C.load()
    t = time.perf_counter()
    result = JOBS[name](p)
    result.update({"job": name, "wall_s": time.perf_counter() - t, "load_before": before,
                   "load_after": C.load(), "process_peak_gb": C.hwm() / GB})
    Path(out).write_text(json.dumps(result, default=float))
    return 0


# ---- orchestration ----------------------------------------------------------------------------
_SAVE = lambda: None  # noqa: E731  (saves the partial results after every job)


THREADS: int | None = None  # --threads, applied to every job


def run_job(name: str, params: dict, tmp: Path, timeout: float = 3600) -> dict:
    if THREADS and "threads" not in params:
        params = {**params, "threads": THREADS}
    out = tmp / f"{name}-{C.slug(json.dumps(params, sort_keys=True))[:80]}.json"
    _SAVE()
    label = f"{name} {json.dumps({k: v for k, v in params.items() if k not in ('encoder', 'vectors', 'data')})}"
    print(f"-> {label} (load {C.load()[0]})", flush=True)
    t = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", name, "--params", json.dumps(params),
                               "--out", str(out)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"   timed out after {timeout:.0f} s", flush=True)
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        print(f"   failed (exit {proc.returncode}): {' | '.join(tail)}", flush=True)
        return {"error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    res = json.loads(out.read_text())
    print(f"   {time.perf_counter() - t:.1f} s, peak {res['process_peak_gb']:.2f} GB, load after "
          f"{res['load_after'][0]}", flush=True)
    return res


def threads_compare(tmp: Path, steps: int, data: Path | None = None, default_fit: dict | None = None,
                    default_stack: dict | None = None) -> dict:
    """A training step and a 128² segmentation with the default torch threads and with 1;
    with `data`, also the full fit (against `default_fit`) and the 32x256x256 stack."""
    import torch

    from napari_cuts.engine.pipeline import SegmentConfig  # noqa: F401  (fails early if missing)

    enc = str(tmp / "encoder-threads.pt")
    out = {"default_threads": torch.get_num_threads()}
    # threads 0: torch's default (explicit, so that --threads does not apply).
    out["fit_default"] = run_job("fit_steps", {"size": 128, "steps": steps, "encoder": enc, "threads": 0}, tmp)
    out["fit_1"] = run_job("fit_steps", {"size": 128, "steps": steps, "threads": 1}, tmp)
    out["segment_default"] = run_job("segment", {"size": 128, "encoder": enc, "threads": 0}, tmp)
    out["segment_1"] = run_job("segment", {"size": 128, "encoder": enc, "threads": 1}, tmp)
    # The full fit and the stack ran in the main run with --threads (or the default):
    # run them once more with the other setting.
    main, other = ("1", "default") if THREADS == 1 else ("default", "1")
    if data is not None and default_fit and "seconds" in default_fit:
        out[f"fit_full_{main}"] = default_fit
        out[f"fit_full_{other}"] = run_job("fit_full", {"data": str(data), "encoder": str(tmp / "enc-other.pt"),
                                                        "epochs": default_fit.get("epochs"),
                                                        "threads": 1 if other == "1" else 0}, tmp)
        if default_stack and "total_s" in default_stack:
            out[f"stack_{main}"] = default_stack
            out[f"stack_{other}"] = run_job("stack", {"stack": list(STACK), "encoder": str(tmp / "encoder-gray.pt"),
                                                      "threads": 1 if other == "1" else 0}, tmp)
    return out


def start_job(name: str, params: dict, tmp: Path):
    """Start a job in the background; :func:`finish_job` waits for it."""
    out = tmp / f"{name}-background.json"
    print(f"-> {name} in the background (load {C.load()[0]})", flush=True)
    if THREADS and "threads" not in params:
        params = {**params, "threads": THREADS}
    proc = subprocess.Popen([sys.executable, __file__, "--child", name, "--params", json.dumps(params),
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, out, name


def finish_job(proc, out: Path, name: str, timeout: float = 7200) -> dict:
    print(f"-> waiting for {name} (load {C.load()[0]})", flush=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0 or not out.exists():
        return {"error": f"exit {proc.returncode}: {' | '.join(err.strip().splitlines()[-3:])}"}
    res = json.loads(out.read_text())
    print(f"   {name}: {res.get('seconds', 0):.1f} s", flush=True)
    return res


def cli_command() -> list[str]:
    exe = Path(sys.executable).with_name("napari-cuts")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "napari_cuts.cli.main"]


def run_workers(encoder: str, tmp: Path) -> dict:
    """`napari-cuts segment` on WORKER_IMAGES files with --workers 1 and 2; same outputs?"""
    import tifffile
    from skimage.io import imsave

    src = tmp / "workers-in"
    src.mkdir(exist_ok=True)
    paths = []
    for i, img in enumerate(worker_images(WORKER_IMAGES, WORKER_SIZE)):
        path = src / f"img{i}.png"
        imsave(path, img, check_contrast=False)
        paths.append(str(path))
    res = {"images": len(paths), "size": WORKER_SIZE}
    # w1: serial; w2: --workers 2 (threads of one process, the default); w2p: --processes
    for key, workers, extra in (("w1", 1, []), ("w2", 2, []), ("w2p", 2, ["--processes"])):
        outdir = tmp / f"workers-{key}"
        before = C.load()
        print(f"-> napari-cuts segment {len(paths)} x {WORKER_SIZE}² --workers {workers} {' '.join(extra)}"
              f"(load {before[0]})", flush=True)
        env = dict(os.environ, **({"OMP_NUM_THREADS": str(THREADS)} if THREADS else {}))
        t = time.perf_counter()
        proc = subprocess.run(cli_command() + ["segment", *paths, "-e", encoder, "-o", str(outdir),
                                               "--workers", str(workers), *extra, "--no-progress"],
                              capture_output=True, text=True, timeout=3600, env=env)
        secs = time.perf_counter() - t
        import re

        per_file = [float(x) for x in re.findall(r"\(([0-9.]+) s\)\s*$", proc.stdout, re.M)]
        res[key] = {"s": secs, "load_before": before, "load_after": C.load(),
                    "exit": proc.returncode, "files_s": sum(per_file),
                    "overhead_s": secs - sum(per_file) / workers}
        if proc.returncode:
            res[key]["error"] = proc.stderr.strip()[-300:]
        print(f"   {secs:.1f} s (exit {proc.returncode})", flush=True)
    for other in ("w2", "w2p"):
        same = True
        for path in paths:
            stem = Path(path).stem
            try:
                a = tifffile.imread(tmp / "workers-w1" / f"{stem}.cuts")
                b = tifffile.imread(tmp / f"workers-{other}" / f"{stem}.cuts")
                ja = json.loads((tmp / "workers-w1" / f"{stem}.cuts.json").read_text())
                jb = json.loads((tmp / f"workers-{other}" / f"{stem}.cuts.json").read_text())
                same &= a.shape == b.shape and bool(np.array_equal(a, b)) and ja == jb
            except (OSError, ValueError):
                same = False
        res["identical" if other == "w2" else "identical_p"] = same
        if "s" in res["w1"] and "s" in res[other]:
            res["speedup" if other == "w2" else "speedup_p"] = res["w1"]["s"] / res[other]["s"]
    return res


def exponent(pixels, seconds) -> float:
    return float(np.polyfit(np.log(pixels), np.log(seconds), 1)[0])


def ok(flag) -> str:
    return "yes" if flag else "**no**"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", action="store_true",
                        help="also the 2048x2048 image and the 64x512x512 stack (slow)")
    parser.add_argument("--data", type=Path, default=C.DEFAULT_DATA,
                        help="retina-dev folder for the full fit (images/*.png)")
    parser.add_argument("--fit-epochs", type=int, default=None,
                        help="epochs of the full fit (default: TrainingConfig's default)")
    parser.add_argument("--fit-steps", type=int, default=10, help="training steps timed per size")
    parser.add_argument("--parallel-fit", action="store_true",
                        help="run the full fit alongside the other jobs (shorter run, slower numbers); "
                             "segmentation then uses an encoder fitted for --fit-steps steps")
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=True,
                        help="write the section into docs/benchmarks.md (default: yes)")
    parser.add_argument("--json", type=Path, help="also save all results as JSON")
    parser.add_argument("--threads", type=int,
                        help="torch intra-op threads in every job (default: torch's own)")
    parser.add_argument("--threads-compare", action="store_true",
                        help="also time a training step and a 128² segmentation with 1 torch thread "
                             "against the default, back to back (with --report-from: adds them)")
    parser.add_argument("--report-from", type=Path, metavar="JSON",
                        help="only write the report from a (possibly partial) --json file of a run")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tiny sizes, to test the script
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.params, args.out)

    if args.report_from:
        R = json.loads(args.report_from.read_text())
        R.setdefault("calib_end", {})
        for key in ("fit_full", "refuse", "workers", "segment", "condense", "stack", "fit_steps"):
            R.setdefault(key, {})
        if args.threads_compare:
            with tempfile.TemporaryDirectory(prefix="cuts-speed-") as tmpname:
                R["threads"] = threads_compare(Path(tmpname), args.fit_steps)
            args.report_from.write_text(json.dumps(R, indent=1, default=float))
        summary, body = report(R, R.get("command", "python benchmarks/speed.py"), R.get("started", "?"),
                               R.get("finished", "?"))
        print(summary)
        if args.write:
            print(f"wrote {C.write_section('Speed and memory', body)}")
        return 0
    if args.smoke:
        global RGB_SIZES, LARGE_RGB, STACK, LARGE_STACK, CONDENSE_SIZES, WORKER_IMAGES, WORKER_SIZE
        global FIT_STEP_SIZES
        RGB_SIZES, LARGE_RGB, STACK, LARGE_STACK = [128, 256], 384, (3, 128, 128), (4, 160, 160)
        FIT_STEP_SIZES = [128, 256]
        CONDENSE_SIZES, WORKER_IMAGES, WORKER_SIZE = [128], 2, 128
    global THREADS
    THREADS = args.threads
    command = "python benchmarks/speed.py" + " ".join([""] + (argv if argv is not None else sys.argv[1:]))
    started = C.now()
    print(f"speed: load {C.load()}; {C.machine()}", flush=True)
    R: dict = {"machine": C.machine(), "large": args.large, "parallel_fit": args.parallel_fit,
               "command": command, "started": started, "revision": C.git_revision(),
               "threads_option": args.threads}
    save_partial = (lambda: args.json.write_text(json.dumps(R, indent=1, default=float))) if args.json else (lambda: None)
    global _SAVE
    _SAVE = save_partial
    with tempfile.TemporaryDirectory(prefix="cuts-speed-") as tmpname:
        tmp = Path(tmpname)
        enc_rgb, enc_gray = str(tmp / "encoder-rgb.pt"), str(tmp / "encoder-gray.pt")
        R["calib_start"] = run_job("calibrate", {}, tmp)
        fit_params = {"data": str(args.data), "encoder": enc_rgb, "epochs": args.fit_epochs}
        background = None
        if args.parallel_fit:  # the full fit runs alongside; segmentation uses a short fit
            background = start_job("fit_full", fit_params, tmp)
            enc_seg = str(tmp / "encoder-rgb-short.pt")
        else:
            R["fit_full"] = run_job("fit_full", fit_params, tmp, timeout=7200)
            if "error" in R["fit_full"]:
                print("speed: the fit failed; nothing else can run", file=sys.stderr)
                return 1
            enc_seg = enc_rgb
        short = FIT_STEP_SIZES[min(1, len(FIT_STEP_SIZES) - 1)]
        R["segment_encoder"] = (f"a {args.fit_steps}-step fit on the {short}² image" if args.parallel_fit
                                else "the full fit on retina-dev")
        R["fit_steps"] = {}
        for s in FIT_STEP_SIZES:
            params = {"size": s, "steps": args.fit_steps}
            if args.parallel_fit and s == FIT_STEP_SIZES[min(1, len(FIT_STEP_SIZES) - 1)]:
                params["encoder"] = enc_seg
            R["fit_steps"][f"{s}x{s}"] = run_job("fit_steps", params, tmp)
        R["fit_steps"]["x".join(map(str, STACK))] = run_job(
            "fit_steps", {"stack": list(STACK), "steps": args.fit_steps, "encoder": enc_gray}, tmp)
        if not Path(enc_seg).exists():
            print("speed: no encoder for segmentation; stopping", file=sys.stderr)
            return 1
        sizes = RGB_SIZES + ([LARGE_RGB] if args.large else [])
        R["segment"] = {}
        for s in sizes:
            params = {"size": s, "encoder": enc_seg, "embed": s in CONDENSE_SIZES}
            if s in CONDENSE_SIZES:
                params["vectors"] = str(tmp / f"vectors-{s}.npy")
            R["segment"][s] = run_job("segment", params, tmp)
        R["condense"] = {}
        for s in CONDENSE_SIZES:
            if (tmp / f"vectors-{s}.npy").exists():
                R["condense"][s] = run_job("condense", {"vectors": str(tmp / f"vectors-{s}.npy"),
                                                        "encoder": enc_seg, "size": s}, tmp)
        R["stack"] = {"x".join(map(str, STACK)): run_job("stack", {"stack": list(STACK), "encoder": enc_gray}, tmp)}
        if args.large:
            R["stack"]["x".join(map(str, LARGE_STACK))] = run_job(
                "stack", {"stack": list(LARGE_STACK), "encoder": enc_gray}, tmp, timeout=5400)
        R["refuse"] = run_job("refuse", {"encoder": enc_seg}, tmp)
        R["workers"] = run_workers(enc_seg, tmp)
        if background is not None:
            R["fit_full"] = finish_job(*background)
        if args.threads_compare:
            R["threads"] = threads_compare(tmp, args.fit_steps, args.data, R.get("fit_full"),
                                           R["stack"].get("x".join(map(str, STACK))))
        R["calib_end"] = run_job("calibrate", {}, tmp)
    finished = R["finished"] = C.now()
    summary, body = report(R, command, started, finished)
    print("\n" + summary)
    if args.json:
        args.json.write_text(json.dumps(R, indent=1, default=float))
    if args.write:
        print(f"wrote {C.write_section('Speed and memory', body)}")
    return 0


# ---- report ---------------------------------------------------------------------------------
def f(x, digits=2, unit=""):
    return "n/a" if x is None else f"{x:.{digits}f}{unit}"


def report(R, command, started, finished):
    seg = {int(k): v for k, v in R["segment"].items() if "error" not in v}
    cond = {int(k): v for k, v in R["condense"].items() if "error" not in v}
    fit = R["fit_full"]
    cal0, cal1 = R["calib_start"], R["calib_end"]
    gf = [c.get("matmul_gflops") for c in (cal0, cal1) if "matmul_gflops" in c]
    matmul = max(gf) if gf else None

    # Segmentation per size.
    seg_rows = []
    for s in sorted(seg):
        r = seg[s]
        st = r["stages_s"]
        seg_rows.append([f"{s}x{s} RGB", f(st.get("embed")), f(st.get("cluster")), f(st.get("condense")),
                         f(r["total_s"]), f(r.get("cpu_s")), f(r["peak_gb"]), f(r["estimate_gb"]),
                         f"{r['info'].get('n_nodes')} / {r['info'].get('iterations')}",
                         r["load_before"][0]])
    for name, r in R["stack"].items():
        if "error" in r:
            seg_rows.append([f"{name} stack", "failed", "", "", "", "", "", "", "", r["error"][:60]])
            continue
        st = r["stages_s"]
        seg_rows.append([f"{name} stack", f(st.get("embed")), f(st.get("cluster")), f(st.get("condense")),
                         f(r["total_s"]), f(r.get("cpu_s")), f(r["peak_gb"]), f(r["estimate_gb"]),
                         f"{r['info'].get('n_nodes')} / {r['info'].get('iterations')}", r["load_before"][0]])
    seg_header = ["input", "embed s", "basins s", "condense s", "total s", "CPU s", "peak RSS GB",
                  "estimate GB", "nodes / iterations", "load"]

    px = [s * s for s in sorted(seg)]
    a_total = exponent(px, [seg[s]["total_s"] for s in sorted(seg)]) if len(seg) >= 2 else None
    a_embed = exponent(px, [seg[s]["stages_s"]["embed"] for s in sorted(seg)]) if len(seg) >= 2 else None
    big = [s for s in sorted(seg) if s >= 512]
    a_big = exponent([s * s for s in big], [seg[s]["total_s"] for s in big]) if len(big) >= 2 else None
    span = f"{min(seg)}² to {max(seg)}²" if seg else "n/a"

    # Throughput.
    emb = [(s, seg[s]["embed"]) for s in sorted(seg) if "embed" in seg[s]]
    thr_rows = [[f"{s}x{s}", f(e["s"]), f"{e['pixels_per_s'] / 1e6:.3f}", f(e["gflops"], 1),
                 f"{e['gflops'] / matmul:.0%}" if matmul else "n/a"] for s, e in emb]
    fpp = emb[0][1]["flops_per_pixel"] if emb else None

    # Fit steps.
    step_rows = [[k, f(v.get("step_s_median")), f(v.get("step_cpu_s_median")), f(v.get("setup_s")),
                  v.get("load_before", ["?"])[0]]
                 for k, v in R["fit_steps"].items() if "error" not in v]

    # Condensation alone.
    cond_rows = [[f"{s}x{s}", f(c["stages_s"]["pca"]), f(c["stages_s"]["kmeans"]), f(c["stages_s"]["condense"]),
                  f(c["total_s"]), f(c.get("cpu_s")), f(c["increment_gb"]), f(c["peak_gb"]), f"{c['nodes']} / {c['iterations']}",
                  c["load_before"][0]] for s, c in sorted(cond.items())]

    stack = R["stack"].get("x".join(map(str, STACK)), {})
    lstack = R["stack"].get("x".join(map(str, LARGE_STACK)))
    lrgb = seg.get(LARGE_RGB)
    w = R["workers"]
    ref = R["refuse"]

    def tgt_row(item, target, measured, met):
        return [item, target, measured, ok(met) if met is not None else "not run"]

    c128, c512 = cond.get(128), cond.get(512)
    targets = [
        tgt_row("full fit, 16 retina-dev images, default TrainingConfig", "≤ 60 s",
                f"{fit.get('seconds', 0):.0f} s ({fit.get('steps')} steps, {f(fit.get('s_per_step'))} s/step)"
                if "seconds" in fit else "n/a",
                fit["seconds"] <= TARGETS["fit"] if fit.get("default_config") else None),
        tgt_row("condensation of a 128x128 image's vectors", "≤ 0.5 s, ≤ 0.5 GB",
                f"{c128['total_s']:.2f} s, +{c128['increment_gb']:.2f} GB ({c128['peak_gb']:.2f} GB process)"
                if c128 else "n/a",
                c128 and c128["total_s"] <= TARGETS["condense128_s"] and c128["increment_gb"] <= TARGETS["condense128_gb"]),
        tgt_row("condensation of a 512x512 image's vectors", "≤ 3 s",
                f"{c512['total_s']:.2f} s (whole segment: {seg[512]['total_s']:.1f} s)" if c512 and 512 in seg else "n/a",
                c512 and c512["total_s"] <= TARGETS["condense512_s"]),
        tgt_row("32x256x256 stack, embed + joint condensation", "≤ 60 s, ≤ 4 GB",
                f"{stack['total_s']:.1f} s, {stack['peak_gb']:.2f} GB" if "total_s" in stack else "n/a",
                "total_s" in stack and stack["total_s"] <= TARGETS["stack_s"] and stack["peak_gb"] <= TARGETS["stack_gb"]),
        tgt_row(f"growth exponent a, time ∝ pixels^a ({span})", "≤ 1.15",
                f"{a_total:.2f}" + (f" (512² up: {a_big:.2f})" if a_big is not None else "") if a_total is not None else "n/a",
                a_total is not None and a_total <= TARGETS["exponent"]),
        tgt_row("2048x2048 RGB within 8 GB", "≤ 8 GB",
                f"{lrgb['peak_gb']:.2f} GB, {lrgb['total_s']:.0f} s" if lrgb else "not run (--large)",
                lrgb["peak_gb"] <= TARGETS["large_gb"] if lrgb else None),
        tgt_row("64x512x512 stack within 8 GB", "≤ 8 GB",
                (f"{lstack['peak_gb']:.2f} GB, {lstack['total_s']:.0f} s" if "peak_gb" in lstack else lstack.get("error", "failed"))
                if lstack else "not run (--large)",
                (lstack.get("peak_gb", 1e9) <= TARGETS["large_gb"]) if lstack else None),
        tgt_row("too large for the limit: refused before work", "refused, no work",
                f"check_memory: {'refused' if ref.get('check_memory_refused') else 'accepted'} in "
                f"{ref.get('check_memory_s', 0) * 1e3:.1f} ms; segment(memory_limit=0.2 GB): "
                f"{'refused' if ref.get('segment_refused') else 'ran'} after {ref.get('progress_before_refusal')} "
                f"progress reports, {ref.get('segment_refuse_s', 0) * 1e3:.0f} ms",
                bool(ref.get("check_memory_refused") and ref.get("segment_refused")
                     and ref.get("progress_before_refusal") == 0)),
        tgt_row(f"`napari-cuts segment` {w.get('images')} x {w.get('size')}², --workers 2 vs 1",
                "same labels, faster",
                f"{w['w1']['s']:.1f} s vs {w['w2']['s']:.1f} s ({w.get('speedup', 0):.2f}x), "
                f"labels {'identical' if w.get('identical') else 'DIFFERENT'}" if "s" in w.get("w2", {}) else "n/a",
                bool(w.get("identical") and w.get("speedup", 0) > 1)),
    ]
    target_header = ["item", "target", "measured", "met"]

    est = ref.get("estimates_gb", {})
    lines = [
        f"Command (from the repository root), {started} to {finished}, commit "
        + (R.get("revision") or C.git_revision())
        + (f" (at the end: {C.git_revision()})" if R.get("revision") and R["revision"] != C.git_revision() else "")
        + ":",
        "",
        "```bash",
        f".venv/bin/{command}",
        "```",
        "",
        f"Machine: {R['machine']['cpus']} cores, {R['machine']['memory_gb']} GB, torch "
        f"{R['machine']['torch']} on the CPU ({R['machine']['torch_threads']} threads), shared with "
        f"other jobs. Load average (1 min) at the start {cal0.get('load', ['?'])[0]}, at the end "
        f"{cal1.get('load', ['?'])[0]}; each row gives the load when it started. Same-run baselines: "
        f"2048² float32 matmul {f(cal0.get('matmul_gflops'), 1)} / {f(cal1.get('matmul_gflops'), 1)} "
        f"GFLOP/s (start / end); the original code's training step (conv forward+backward of 16 RGB "
        f"128² images) {f(cal0.get('conv_batch_s'))} / {f(cal1.get('conv_batch_s'))} s against 5.8 s when "
        f"the reference numbers were measured, i.e. the machine ran "
        f"{f(cal0.get('slowdown_vs_original_conv'))}x / {f(cal1.get('slowdown_vs_original_conv'))}x slower "
        "than then." + (f" Every job ran with `--threads {R['threads_option']}`." if R.get("threads_option") else "")
        + " Every measurement ran in a fresh process; peak RSS is that process's VmHWM "
        "(interpreter and torch included, about 0.3 GB). *CPU s* is the process's CPU time (all "
        "threads): much less sensitive to the load than wall time; on an idle 2-core machine the "
        "wall time would lie between CPU s / 2 and CPU s."
        + (" The full fit ran in the background alongside the other jobs (`--parallel-fit`), "
           "which slowed both." if R.get("parallel_fit") else ""),
        "",
        "### Targets",
        "",
        C.markdown_table(target_header, targets),
        "",
        "### Segmentation per stage",
        "",
        f"`segment_iter` with `SegmentConfig()` defaults and {R.get('segment_encoder', 'an encoder')}; RGB "
        "inputs are scikit-image's fundus photograph resized, the stacks two photographs "
        "cross-fading and drifting in z (grayscale). Stages: *embed* = pixel sample, PCA and the "
        "reduced vectors of every pixel; *basins* = watershed basins and their points; "
        "*condense* = diffusion condensation and the hierarchy.",
        "",
        C.markdown_table(seg_header, seg_rows),
        "",
        f"Growth exponent of the total time, least squares on log-log over {span}: a = {f(a_total)}"
        + (f"; over 512² and up: {f(a_big)}" if a_big is not None else "")
        + f"; embedding stage alone: {f(a_embed)}.",
        "",
        "### Encoder throughput",
        "",
        f"`embed()` alone; {fpp} FLOPs per pixel (2 x 25 c_in c_out summed over the 4 layers), "
        f"against this run's best matmul rate {f(matmul, 1)} GFLOP/s.",
        "",
        C.markdown_table(["image", "s", "Mpixel/s", "GFLOP/s", "of matmul rate"], thr_rows),
        "",
        "### Condensation alone",
        "",
        "Everything after the encoder, from precomputed 128-d vectors: the engine's own "
        "`segment_iter` with `SegmentConfig()` defaults and its encoder calls answered from the "
        "stored vectors. *PCA* = pixel sample, PCA and the reduced vectors; *basins* = "
        "watershed basins and their points; *condense* = the condensations and the hierarchy. Memory: the increase "
        "of RSS over the process with the vectors loaded, and the process peak.",
        "",
        C.markdown_table(["vectors of", "PCA s", "basins s", "condense s", "total s", "CPU s", "+RSS GB",
                          "peak GB", "nodes / iterations", "load"], cond_rows),
        "",
        "### Training",
        "",
        f"Full fit: {fit.get('images')} images, {fit.get('epochs')} epochs, {fit.get('steps')} steps, "
        f"{f(fit.get('seconds'), 1)} s, {f(fit.get('cpu_s'), 0)} CPU s ({f(fit.get('s_per_step'))} s per step of 16 images; load "
        f"{fit.get('load_before', ['?'])[0]} at its start). Per step on one image of each size "
        f"({R['fit_steps'] and next(iter(R['fit_steps'].values())).get('steps')} steps, median; "
        "setup = normalisation and padding):",
        "",
        C.markdown_table(["image", "s per step", "CPU s per step", "setup s", "load"], step_rows),
        "",
        "### Memory estimate and batch",
        "",
        "`estimate_memory` (what `check_memory` compares with the limit): "
        + ", ".join(f"{k} {v:.2f} GB" for k, v in est.items())
        + " (measured peaks in the stage table). "
        f"`napari-cuts segment` on {w.get('images')} different {w.get('size')}² RGB crops: --workers 1 "
        f"{f(w.get('w1', {}).get('s'), 1)} s, --workers 2 (a local dask cluster of two threads "
        f"in the process, the default) {f(w.get('w2', {}).get('s'), 1)} s, --workers 2 --processes "
        f"{f(w.get('w2p', {}).get('s'), 1)} s (cluster start included); outputs "
        f"{'identical' if w.get('identical') and w.get('identical_p') else 'DIFFERENT'} to the serial run"
        + (f"; sum of the per-file times {w['w1']['files_s']:.1f} s, {w['w2']['files_s']:.1f} s and "
           f"{w['w2p']['files_s']:.1f} s, so about {w['w2']['overhead_s']:.1f} s / "
           f"{w['w2p']['overhead_s']:.1f} s of --workers 2 / --processes is cluster start-up and "
           f"hand-over ({w['w1']['overhead_s']:.1f} s outside the files for --workers 1). "
           "Serial runs use torch's two threads per file, parallel workers one each, so on two "
           "cores the gain is what the single-threaded steps (PCA, basin bookkeeping, "
           "condensation's Python loop, TIFF writing) leave idle."
           if all("files_s" in w.get(k, {}) for k in ("w1", "w2", "w2p")) else "."),
    ]
    th = R.get("threads")
    if th and all("error" not in th.get(k, {"error": 1}) for k in ("fit_default", "fit_1", "segment_default", "segment_1")):
        fd, f1, sd, s1 = th["fit_default"], th["fit_1"], th["segment_default"], th["segment_1"]
        rows = [
            ["training step (128² image)", f"{fd['step_s_median']:.2f} / {fd['step_cpu_s_median']:.2f}",
             f"{f1['step_s_median']:.2f} / {f1['step_cpu_s_median']:.2f}",
             f"{fd['step_s_median'] / f1['step_s_median']:.1f}x", f"{fd['load_before'][0]} / {f1['load_before'][0]}"],
            ["segment 128² RGB", f"{sd['total_s']:.2f} / {sd['cpu_s']:.2f}", f"{s1['total_s']:.2f} / {s1['cpu_s']:.2f}",
             f"{sd['total_s'] / s1['total_s']:.1f}x", f"{sd['load_before'][0]} / {s1['load_before'][0]}"],
        ]
        if "seconds" in th.get("fit_full_1", {}) and "seconds" in th.get("fit_full_default", {}):
            a, b = th["fit_full_default"], th["fit_full_1"]
            rows.append([f"full fit ({a.get('steps')} steps)", f"{a['seconds']:.1f} / {a['cpu_s']:.1f}",
                         f"{b['seconds']:.1f} / {b['cpu_s']:.1f}", f"{a['seconds'] / b['seconds']:.1f}x",
                         f"{a['load_before'][0]} / {b['load_before'][0]}"])
        if "total_s" in th.get("stack_1", {}) and "total_s" in th.get("stack_default", {}):
            a, b = th["stack_default"], th["stack_1"]
            rows.append(["x".join(map(str, STACK)) + " stack", f"{a['total_s']:.1f} / {a['cpu_s']:.1f}",
                         f"{b['total_s']:.1f} / {b['cpu_s']:.1f}", f"{a['total_s'] / b['total_s']:.1f}x",
                         f"{a['load_before'][0]} / {b['load_before'][0]}"])
        lines += ["", "### Torch threads", "",
                  f"Back to back in the same run: torch's default {th.get('default_threads')} intra-op threads "
                  "against `torch.set_num_threads(1)` (wall s / CPU s).", "",
                  C.markdown_table(["work", f"{th.get('default_threads')} threads", "1 thread",
                                    "default / 1 (wall)", "load"], rows)]
        summary_extra = C.text_table(["work", "default", "1 thread", "ratio", "load"], rows)
    else:
        summary_extra = ""
    if not R["large"]:
        lines += ["", "The 2048² image and the 64x512² stack need `--large`; this run did not include them."]
    summary = "\n\n".join([
        C.text_table(target_header, targets), C.text_table(seg_header, seg_rows),
        C.text_table(["image", "s", "Mpixel/s", "GFLOP/s", "of matmul"], thr_rows),
        C.text_table(["vectors", "PCA", "basins", "condense", "total", "CPU", "+RSS", "peak", "nodes/it", "load"], cond_rows),
        C.text_table(["image", "s/step", "CPU s/step", "setup", "load"], step_rows),
        f"a = {f(a_total)} ({span}), 512² up {f(a_big)}, embed {f(a_embed)}; estimates {est}",
        summary_extra,
    ])
    return summary, "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
