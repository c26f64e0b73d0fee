"""The ``napari-cuts`` command line: fit, segment, run and demo."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# Only the standard library at import time: numpy, torch and napari-cuts' engine load
# inside main(), where Ctrl+C (even during start-up) gives one line and exit code 130.


class ProgressBar:
    """One tqdm progress bar on stderr, reused across stages (drawn on a terminal unless forced)."""

    def __init__(self, stream=None, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._bar = None

    def update(self, label: str, done: int, total: int, extra: str = "") -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, file=self.stream, dynamic_ncols=True,
                             mininterval=0.1, leave=False)
        bar = self._bar
        if bar.total != total or done < bar.n:
            bar.reset(total=total)
        bar.set_description_str(label, refresh=False)
        bar.set_postfix_str(extra, refresh=False)
        bar.update(done - bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class SomeFailed(Exception):
    """Some inputs failed (each already reported in one line); the others were written."""


def _load_inputs(paths: Sequence[str], args: argparse.Namespace) -> list:
    """(stem, pixels as stored, Layout) of every input."""
    from napari_cuts.formats.axes import file_layout
    from napari_cuts.formats.images import output_stem, read_image

    out = []
    for p in paths:
        data = read_image(p)
        out.append((output_stem(p), data, file_layout(p, data.shape, channels=args.channels,
                                                      stack=args.stack)))
    return out


def _failure_line(path: str, exc: BaseException) -> str:
    """One image's failure, for the one line that reports it."""
    from napari_cuts.formats.errors import CutsInputError

    if isinstance(exc, CutsInputError):
        what = str(exc)
    elif isinstance(exc, MemoryError):
        what = "out of memory; try a smaller image"
    else:  # a fault of the engine on this image
        what = f"segmentation failed ({exc.__class__.__name__}: {exc}); this is a napari-cuts bug"
    return f"error: {Path(path).name}: {what}"


def _training_config(args: argparse.Namespace):
    from napari_cuts.cli.flags import config_from_args
    from napari_cuts.config import TrainingConfig

    return config_from_args(TrainingConfig, args)


def _segment_config(args: argparse.Namespace):
    from napari_cuts.cli.flags import config_from_args
    from napari_cuts.config import SegmentConfig

    return config_from_args(SegmentConfig, args)


def _check_parallel(args: argparse.Namespace) -> None:
    """Refuse, before any work, a worker count out of range or a malformed scheduler address."""
    from napari_cuts.formats.errors import CutsInputError

    most = 4 * (os.cpu_count() or 1)
    workers = getattr(args, "workers", 1)
    if not 1 <= workers <= most:
        raise CutsInputError(f"--workers must be between 1 and {most} (4 per core), not {workers}")
    address = getattr(args, "scheduler", None)
    if address is None:
        return
    from napari_cuts.cli.batch import check_scheduler_address

    check_scheduler_address(address)


def cmd_fit(args: argparse.Namespace, bar: ProgressBar, checked: bool = False,
            inputs: list | None = None):
    from napari_cuts.engine.encoder import save_encoder
    from napari_cuts.engine.pipeline import fit
    from napari_cuts.formats.preflight import check_training
    from napari_cuts.formats.writing import check_output

    config = _training_config(args)
    if not checked:  # before any work: the output, and memory from the files' headers
        check_output(args.output)
        check_training(args.images, is_stack=args.stack, channels=args.channels)
    if inputs is None:
        inputs = _load_inputs(args.images, args)
    t0 = time.perf_counter()

    def show(p):
        bar.update("training", p.step, p.total_steps, f"epoch {p.epoch}/{p.epochs} loss {p.loss:.4f}")

    # every frame's slices are training images: (T * Z, Y, X, C)
    images = [lay.arrange(im).reshape((-1, *lay.shape[2:])) for _, im, lay in inputs]
    encoder = fit(images, config, names=[n for n, _, _ in inputs], progress=show)
    del images
    del inputs
    bar.close()
    path = save_encoder(encoder, args.output)
    print(f"encoder: {path} ({encoder.describe()}; {time.perf_counter() - t0:.1f} s)")
    return encoder


def cmd_segment(args: argparse.Namespace, bar: ProgressBar, encoder=None,
                decoded: dict | None = None) -> None:
    from napari_cuts.cli.batch import check_inputs, segment_files, segment_files_distributed
    from napari_cuts.engine.encoder import load_encoder
    from napari_cuts.formats.images import output_stem
    from napari_cuts.formats.writing import check_output

    check_output(args.output, folder=True)
    _check_parallel(args)
    if encoder is None:
        encoder = load_encoder(args.encoder)
    config = _segment_config(args)
    check_inputs(args.images, encoder, config, is_stack=args.stack, channels=args.channels)  # before any work
    outdir = Path(args.output)
    failed = []

    def report(path, result):
        bar.close()
        tif, meta, seconds = result
        print(f"{output_stem(path)}: {tif} and {Path(meta).name} ({seconds:.1f} s)", flush=True)

    def fail(path, exc):  # this image only: the others go on
        bar.close()
        failed.append(path)
        _say(_failure_line(path, exc))

    if args.workers > 1 or args.scheduler:
        segment_files_distributed(args.encoder, args.images, str(outdir), config,
                                  is_stack=args.stack, channels=args.channels, workers=args.workers,
                                  scheduler=args.scheduler, processes=args.processes,
                                  on_done=report, on_failed=fail)
    else:
        def progress(path):
            name = output_stem(path)
            return lambda p: bar.update(f"{name}: {p.stage}", p.done, p.total)

        segment_files(encoder, args.images, str(outdir), config, is_stack=args.stack,
                      channels=args.channels, decoded=decoded, progress=progress,
                      on_done=report, on_failed=fail)
    if failed:
        raise SomeFailed(failed)


def cmd_run(args: argparse.Namespace, bar: ProgressBar) -> None:
    from napari_cuts.formats.preflight import check_segmentation, check_training
    from napari_cuts.formats.writing import check_output

    outdir = check_output(args.output, folder=True)
    args.workers, args.scheduler = getattr(args, "workers", 1), getattr(args, "scheduler", None)
    args.processes = getattr(args, "processes", False)
    _check_parallel(args)
    # Before any work, from the files' headers: training and segmentation must both fit.
    _training_config(args)
    check_training(args.images, is_stack=args.stack, channels=args.channels)
    check_segmentation(args.images, _segment_config(args), is_stack=args.stack, channels=args.channels)
    args.output = str(outdir / "encoder.pt")
    check_output(args.output)
    inputs = _load_inputs(args.images, args)  # decoded once, for training and segmenting
    decoded = {path: image for path, (_, image, _) in zip(args.images, inputs)}
    encoder = cmd_fit(args, bar, checked=True, inputs=inputs)
    del inputs
    args.encoder, args.output = args.output, str(outdir)
    cmd_segment(args, bar, encoder=encoder, decoded=decoded)


def cmd_demo(args: argparse.Namespace, bar: ProgressBar) -> None:
    from skimage.io import imsave

    from napari_cuts.samples import retina_sample

    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    sample = outdir / "retina.png"
    imsave(sample, retina_sample(), check_contrast=False)
    print(f"sample image: {sample} (scikit-image's fundus photo, downscaled)")
    args.images = [str(sample)]
    cmd_run(args, bar)
    from napari_cuts.formats.writing import LEVELS_SUFFIX

    print(f"open the result in napari:  {_napari_command()} {sample} "
          f"{outdir / ('retina' + LEVELS_SUFFIX)}")


def _napari_command() -> str:
    """How to start napari from this shell: ``napari`` when it is on the PATH, else the
    napari next to this Python (e.g. ``.venv/bin/napari`` before the venv is activated)."""
    import shutil

    here = Path(sys.executable).parent / "napari"
    found = shutil.which("napari")
    if not here.is_file() or (found and Path(found).resolve() == here.resolve()):
        return "napari"
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


def add_axes_args(p: argparse.ArgumentParser) -> None:
    """--stack and --channels: how to read an input's axes, over its metadata and shape."""
    axes = p.add_mutually_exclusive_group()
    axes.add_argument("--stack", action="store_true", default=None,
                      help="one volume: read a 3D array as (Z, Y, X) even when its last axis is "
                           "short or recorded as channels, and a time-lapse's frames as slices "
                           "(default: axes as the TIFF records them, else from the shape; "
                           "a time-lapse is segmented frame by frame)")
    axes.add_argument("--channels", action="store_true", default=None,
                      help="read the axis recorded as slices or frames (without metadata: the "
                           "last axis) as channels, e.g. a (Y, X, 7) image")


def build_parser() -> argparse.ArgumentParser:
    from napari_cuts import __version__

    parser = argparse.ArgumentParser(
        prog="napari-cuts",
        description="Unsupervised multigranular segmentation (CUTS) of images and stacks.",
    )
    parser.add_argument("--version", action="version", version=f"napari-cuts {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    from napari_cuts.cli.flags import add_config_args
    from napari_cuts.config import SegmentConfig, TrainingConfig

    def add_train_args(p):
        add_config_args(p, TrainingConfig, prefix="train", title="training")

    def add_common(p):
        add_axes_args(p)
        p.add_argument("--no-progress", dest="progress", action="store_false",
                       help="do not draw a progress bar")

    def add_seg_args(p):
        add_config_args(p, SegmentConfig, prefix="segment", title="segmentation")

    images_help = "image files: .tif/.tiff, .png/.jpg or .npy; 2D, RGB or 3D stacks"
    p = sub.add_parser("fit", help="train one encoder on the given images",
                       description="Train one CUTS encoder, without labels, on the given images "
                                   "and save it; 'segment' then uses it on these or similar images.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help=images_help)
    p.add_argument("-o", "--output", required=True, metavar="ENCODER.pt",
                   help="where the encoder is saved (weights, architecture and normalisation)")
    add_train_args(p)
    add_common(p)

    p = sub.add_parser("segment", help="segment images with a trained encoder",
                       description="Segment each image with a trained encoder into a hierarchy of "
                                   "levels, coarse to fine; writes OUTDIR/<stem>.cuts (every level, "
                                   "a compressed TIFF that napari opens with napari-cuts) and "
                                   "OUTDIR/<stem>.cuts.json (default and salient levels).")
    p.add_argument("images", nargs="+", metavar="IMAGE", help=images_help)
    p.add_argument("-e", "--encoder", required=True, metavar="ENCODER.pt",
                   help="an encoder saved by 'fit' or 'run'")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="folder for the results (made if missing)")
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

    p = sub.add_parser("run", help="fit an encoder on the images, then segment them",
                       description="'fit' then 'segment' in one go: trains an encoder on the "
                                   "images, saves it as OUTDIR/encoder.pt, and writes every "
                                   "image's OUTDIR/<stem>.cuts and .cuts.json.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help=images_help)
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="folder for the encoder (encoder.pt) and the results (made if missing)")
    add_train_args(p)
    add_seg_args(p)
    add_common(p)

    p = sub.add_parser("demo", help="run on a sample image bundled with scikit-image",
                       description="'run' on scikit-image's fundus photograph (downscaled): "
                                   "writes OUTDIR/retina.png, encoder.pt, retina.cuts and "
                                   "retina.cuts.json, and prints how to open them in napari.")
    p.add_argument("-o", "--output", default="cuts-demo", metavar="OUTDIR",
                   help="folder for the sample, the encoder and the results (default cuts-demo)")
    add_train_args(p)
    add_seg_args(p)
    add_common(p)

    from napari_cuts.cli.annotation import add_commands

    add_commands(sub)
    return parser


COMMANDS = {"fit": cmd_fit, "segment": cmd_segment, "run": cmd_run, "demo": cmd_demo}


def _say(message: str) -> None:
    print(f"napari-cuts: {' '.join(str(message).split())}", file=sys.stderr)  # always one line


_WARNED: set[str] = set()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """napari-cuts' own warnings as one line, each once; others as Python shows them."""
    from napari_cuts.formats.errors import CutsWarning

    if issubclass(category, CutsWarning):
        if str(message) not in _WARNED:  # e.g. `run` reads an input for training and segmenting
            _WARNED.add(str(message))
            _say(f"warning: {message}")
    else:
        import warnings

        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 user mistake, 2 bad arguments, 130 Ctrl+C)."""
    bar = None
    try:
        import warnings

        from napari_cuts.cli.annotation import ANNOTATE_COMMANDS
        from napari_cuts.formats.errors import CutsInputError, CutsWarning

        COMMANDS.update(ANNOTATE_COMMANDS)  # refine, components, measure
        parser = build_parser()
        args = parser.parse_args(argv)
        bar = ProgressBar(enabled=None if args.progress else False)
        _WARNED.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("always", CutsWarning)  # _show_warning says each once
            warnings.showwarning = _show_warning
            try:
                COMMANDS[args.command](args, bar)
            except SomeFailed:  # each failure is reported already
                bar.close()
                return 1
            except CutsInputError as exc:
                bar.close()
                _say(f"error: {exc}")
                return 1
            except OSError as exc:
                bar.close()
                where = f": {exc.filename}" if exc.filename else ""
                _say(f"error: {exc.strerror or exc}{where}")
                return 1
            except MemoryError:
                bar.close()
                _say("error: out of memory; try a smaller image or fewer at once")
                return 1
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        _say("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
