"""The ``napari-cuts`` command line: fit, segment, run and demo."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .io import CutsInputError, output_stem, read_image


class ProgressBar:
    """A one-line text progress bar on stderr (only drawn on a terminal unless forced)."""

    def __init__(self, stream=None, enabled: bool | None = None, width: int = 30):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width
        self._last = 0.0

    def update(self, label: str, done: int, total: int, extra: str = "") -> None:
        now = time.monotonic()
        if not self.enabled or (done < total and now - self._last < 0.1):
            return
        self._last = now
        frac = done / total if total else 1.0
        bar = "#" * int(frac * self.width)
        self.stream.write(f"\r{label:<24} [{bar:<{self.width}}] {done}/{total} {extra:<30}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _load_inputs(paths: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    return [(output_stem(p), read_image(p)) for p in paths]


def cmd_fit(args: argparse.Namespace, bar: ProgressBar):
    from .encoder import save_encoder
    from .pipeline import fit
    from .training import TrainingConfig

    inputs = _load_inputs(args.images)
    config = TrainingConfig(epochs=args.epochs, seed=args.seed, patch_size=args.patch_size,
                            steps_per_epoch=args.steps_per_epoch)
    t0 = time.perf_counter()

    def show(p):
        bar.update("training", p.step, p.total_steps, f"epoch {p.epoch}/{p.epochs} loss {p.loss:.4f}")

    encoder = fit([im for _, im in inputs], config, names=[n for n, _ in inputs],
                  progress=show, is_stack=args.stack)
    bar.close()
    path = save_encoder(encoder, args.output)
    print(f"encoder: {path} ({encoder.describe()}; {time.perf_counter() - t0:.1f} s)")
    return encoder


def cmd_segment(args: argparse.Namespace, bar: ProgressBar, encoder=None) -> None:
    from .batch import check_inputs, segment_file, segment_files_distributed
    from .encoder import load_encoder
    from .pipeline import SegmentConfig

    if encoder is None:
        encoder = load_encoder(args.encoder)
    config = SegmentConfig(max_regions=args.max_regions, smoothing=args.smoothing,
                           whiten=args.whiten, intensity_weight=args.intensity_weight,
                           spatial_weight=args.spatial_weight)
    check_inputs(args.images, encoder, config, is_stack=args.stack)  # before any work
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)

    def report(path, result):
        tif, meta, seconds = result
        print(f"{output_stem(path)}: {tif} and {Path(meta).name} ({seconds:.1f} s)")

    if args.workers > 1 or args.scheduler:
        segment_files_distributed(args.encoder, args.images, str(outdir), config,
                                  is_stack=args.stack, workers=args.workers,
                                  scheduler=args.scheduler, processes=args.processes,
                                  on_done=report)
        return
    for path in args.images:
        name = output_stem(path)
        result = segment_file(encoder, path, str(outdir), config, args.stack,
                              progress=lambda p: bar.update(f"{name}: {p.stage}", p.done, p.total))
        bar.close()
        report(path, result)


def cmd_run(args: argparse.Namespace, bar: ProgressBar) -> None:
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    args.output = str(outdir / "encoder.pt")
    encoder = cmd_fit(args, bar)
    args.encoder, args.output = args.output, str(outdir)
    args.workers, args.scheduler = getattr(args, "workers", 1), getattr(args, "scheduler", None)
    args.processes = getattr(args, "processes", False)
    cmd_segment(args, bar, encoder=encoder)


def cmd_demo(args: argparse.Namespace, bar: ProgressBar) -> None:
    from skimage.io import imsave

    from .samples import retina_sample

    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    sample = outdir / "retina.png"
    imsave(sample, retina_sample(), check_contrast=False)
    print(f"sample image: {sample} (scikit-image's fundus photo, downscaled)")
    args.images = [str(sample)]
    cmd_run(args, bar)
    print(f"open the result in napari:  napari {sample} {outdir / 'retina.cuts.tif'}")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="napari-cuts",
        description="Unsupervised multigranular segmentation (CUTS) of images and stacks.",
    )
    parser.add_argument("--version", action="version", version=f"napari-cuts {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add_train_args(p):
        p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
        p.add_argument("--steps-per-epoch", type=int, default=25, help="steps per epoch (default 25)")
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--patch-size", type=int, default=5, help="patch size, odd (default 5)")

    def add_common(p):
        p.add_argument("--stack", action="store_true", default=None,
                       help="read 3D arrays as (Z, Y, X) stacks even when the last axis is short")
        p.add_argument("--no-progress", dest="progress", action="store_false",
                       help="do not draw a progress bar")

    def add_seg_args(p):
        p.add_argument("--max-regions", type=int, default=64,
                       help="finest level kept, in regions (default 64)")
        p.add_argument("--smoothing", type=float, default=0.0,
                       help="Gaussian pooling of the vectors in pixels, for textures (default 0)")
        p.add_argument("--whiten", type=float, default=0.5,
                       help="principal components scaled by variance**(-w/2): 0 keeps them, 1 whitens fully (default 0.5)")
        p.add_argument("--intensity-weight", type=float, default=1.5,
                       help="weight of the pixel's own intensities beside its vector (default 1.5; 0: vectors only)")
        p.add_argument("--spatial-weight", type=float, default=8.0,
                       help="weight of pixel position: higher gives compact regions, 0 lets alike "
                            "pixels anywhere share a region (default 8)")

    p = sub.add_parser("fit", help="train one encoder on the given images")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", required=True, metavar="ENCODER.pt")
    add_train_args(p)
    add_common(p)

    p = sub.add_parser("segment", help="segment images with a trained encoder")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-e", "--encoder", required=True, metavar="ENCODER.pt")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR")
    p.add_argument("--workers", type=int, default=1,
                   help="segment files in parallel on a local dask cluster of N workers "
                        "(threads of this process; see --processes)")
    p.add_argument("--processes", action="store_true",
                   help="with --workers: local workers are processes (start-up costs a few "
                        "seconds; may scale better on many cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="use an existing dask.distributed scheduler, e.g. tcp://host:8786")
    add_seg_args(p)
    add_common(p)

    p = sub.add_parser("run", help="fit an encoder on the images, then segment them")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR")
    add_train_args(p)
    add_seg_args(p)
    add_common(p)

    p = sub.add_parser("demo", help="run on a sample image bundled with scikit-image")
    p.add_argument("-o", "--output", default="cuts-demo", metavar="OUTDIR")
    add_train_args(p)
    add_seg_args(p)
    add_common(p)

    from .annotate_cli import add_commands

    add_commands(sub)
    return parser


COMMANDS = {"fit": cmd_fit, "segment": cmd_segment, "run": cmd_run, "demo": cmd_demo}

from .annotate_cli import ANNOTATE_COMMANDS  # noqa: E402  (refine, components, measure)

COMMANDS.update(ANNOTATE_COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 user mistake, 2 bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    bar = ProgressBar(enabled=None if args.progress else False)
    try:
        COMMANDS[args.command](args, bar)
    except CutsInputError as exc:
        bar.close() if bar.enabled else None
        message = " ".join(str(exc).split())  # always one line
        print(f"napari-cuts: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("napari-cuts: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"napari-cuts: error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return 1
    except MemoryError:
        print("napari-cuts: error: out of memory; try a smaller image or fewer at once", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
