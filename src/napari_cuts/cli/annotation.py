"""CLI subcommands from clusters to annotations: ``refine``, ``components``, ``measure``.

:func:`add_commands` adds their parsers to ``napari-cuts``; :data:`ANNOTATE_COMMANDS`
maps each name to a function ``(args, bar)`` like the other commands.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from napari_cuts.formats.axes import Layout, file_layout
from napari_cuts.formats.cuts import is_levels_file, load_result, recorded_default_level
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.images import image_header, output_stem, read_image
from napari_cuts.formats.writing import label_image, save_labels_tiff

__all__ = ["ANNOTATE_COMMANDS", "add_commands", "cmd_components", "cmd_measure", "cmd_refine"]


def _merges_colours(path: str, shape: tuple[int, ...]) -> bool:
    """Whether a label file is a colour picture of a mask (PNG/JPEG, RGB or RGBA)."""
    return Path(path).suffix.lower() in (".png", ".jpg", ".jpeg") and len(shape) == 3 and shape[-1] in (3, 4)


def label_header(path: str) -> tuple[int, ...]:
    """The shape of the label image :func:`_read_labels` gives, from the file's header
    (a levels file, ``.cuts``, is read: its axes are arranged as levels first)."""
    if is_levels_file(path):
        return tuple(load_result(path)[0].shape)
    shape, _ = image_header(path)
    return shape[:-1] if _merges_colours(path, shape) else shape


def _read_labels(path: str, what: str) -> np.ndarray:
    """A label image from any file `read_image` reads, or a levels file (``.cuts``);
    colour PNG/JPEG masks are merged."""
    data = load_result(path)[0] if is_levels_file(path) else read_image(path)
    if _merges_colours(path, data.shape):
        data = data[..., :3].max(-1)  # a colour picture of a mask: any colour is foreground
    try:
        return label_image(data, what, ndims=None)  # the shape is checked where it is used
    except CutsInputError as exc:
        raise CutsInputError(f"{path}: {exc}") from None


def _image_input(path: str, args: argparse.Namespace) -> tuple[Layout, tuple[int, ...]]:
    """How the image at `path` is read (from its header) and its spatial shape: (Y, X), or
    (Z, Y, X) for a stack (a time-lapse's frames count as slices)."""
    shape, _ = image_header(path)
    lay = file_layout(path, shape, channels=args.channels, stack=args.stack)
    t, z, y, x, _c = lay.shape
    return lay, ((y, x) if t * z == 1 else (t * z, y, x))


def _read_arranged(path: str, lay: Layout, spatial: tuple[int, ...]) -> np.ndarray:
    """The image as (*spatial, C)."""
    return lay.arrange(read_image(path)).reshape(spatial + (lay.shape[-1],))


def _check_label_shape(shape: tuple[int, ...], spatial: tuple[int, ...], path: str,
                       level: int | None = None, levels_ok: bool = True) -> int | None:
    """Refuse, from the header, a label file that cannot fit an image of `spatial` shape.

    Returns the level to use of a file of levels: `level`, else the default its
    ``.cuts.json`` records (None for a single label image)."""
    if shape == spatial:
        if level is not None:
            raise CutsInputError(f"{path} holds one label image; leave out --level")
        return None
    if levels_ok and len(shape) == len(spatial) + 1 and shape[1:] == spatial:
        n = shape[0]
        if level is None:
            level = recorded_default_level(path, n)
        if level is None:
            raise CutsInputError(
                f"{path} holds {n} levels and no .cuts.json says which is the default; choose "
                f"one with --level (0 = coarsest, {n - 1} = finest)")
        if not -n <= level < n:
            raise CutsInputError(f"{path} has levels 0..{n - 1}; there is no level {level}")
        return level
    raise CutsInputError(
        f"{path} (shape {shape}) does not fit the image ({'x'.join(map(str, spatial))} pixels)")


def cmd_refine(args: argparse.Namespace, bar) -> None:
    from napari_cuts.annotation.refine import refine
    from napari_cuts.cli.flags import config_from_args
    from napari_cuts.config import RefineConfig
    from napari_cuts.engine.encoder import load_encoder

    encoder = load_encoder(args.encoder)
    lay, spatial = _image_input(args.image, args)
    encoder.check_channels(lay.shape[-1])
    _check_label_shape(label_header(args.scribbles), spatial, args.scribbles, levels_ok=False)
    if args.levels:  # before anything is decoded
        levels_shape = label_header(args.levels)
        if levels_shape != spatial:
            _check_label_shape(levels_shape, spatial, args.levels, level=0)
    volume = lay.arrange(read_image(args.image)).reshape((-1, *lay.shape[2:]))
    scribbles = _read_labels(args.scribbles, "scribbles")
    levels = None
    if args.levels:
        levels = _read_labels(args.levels, "levels")
        if levels.shape == spatial:
            levels = levels[None]
        if args.level:
            n = len(levels)
            bad = [i for i in args.level if not -n <= i < n]
            if bad:
                raise CutsInputError(f"{args.levels} has levels 0..{n - 1}; there is no level {bad[0]}")
            levels = levels[list(args.level)]
    snap = None
    if args.snap:
        if levels is None:
            raise CutsInputError("--snap needs the levels to snap to: add --levels CUTS.tif")
        snap, levels = levels, None  # the regions are snapped to, not used as features
    config = config_from_args(RefineConfig, args)
    t0 = time.perf_counter()
    labels = refine(encoder, volume, scribbles, levels=levels, snap=snap, config=config, channel_axis=True,
                    is_stack=True if volume.shape[0] > 1 else None,
                    progress=lambda p: bar.update(f"refine: {p.stage}", p.done, p.total, p.message))
    bar.close()
    out = save_labels_tiff(args.output, labels)
    classes, counts = np.unique(labels, return_counts=True)
    summary = ", ".join(f"class {c}: {n} px" for c, n in zip(classes, counts))
    print(f"refined: {out} ({summary}; {time.perf_counter() - t0:.1f} s)")


# ----------------------------------------------------------------------------- components


def cmd_components(args: argparse.Namespace, bar) -> None:
    from dataclasses import asdict

    from napari_cuts.annotation.components import ordered_components
    from napari_cuts.annotation.measure import write_csv
    from napari_cuts.cli.flags import config_from_args
    from napari_cuts.config import ComponentsConfig

    config = config_from_args(ComponentsConfig, args)  # checked before the mask is read
    mask = _read_labels(args.mask, "the mask")  # its size is checked from the header first
    if is_levels_file(args.mask):  # every level of a segmentation: one of them
        n = len(mask)
        level = recorded_default_level(args.mask, n) if args.level is None else args.level
        if level is None:
            raise CutsInputError(f"{args.mask} holds {n} levels and no .cuts.json says which is "
                                 f"the default; choose one with --level (0 = coarsest, {n - 1} = finest)")
        if not -n <= level < n:
            raise CutsInputError(f"{args.mask} has levels 0..{n - 1}; there is no level {level}")
        mask = mask[level]
    elif args.level is not None:
        raise CutsInputError(f"{args.mask} is not a levels file (.cuts); leave out --level")
    labels, table = ordered_components(mask, **asdict(config))
    n = len(table["id"])
    if n == 0:
        raise CutsInputError(
            f"{args.mask}: no components" + (f" of at least {config.min_size} pixels" if config.min_size else "")
        )
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    stem = output_stem(args.mask[: -len(".tif")] if args.mask.lower().endswith(".cuts.tif") else args.mask)
    tif = save_labels_tiff(outdir / f"{stem}.components.tif", labels)
    csv_path = write_csv(table, outdir / f"{stem}.components.csv")
    shown = ", ".join(table["name"][:12]) + (", ..." if n > 12 else "")
    print(f"{n} components ({shown}): {tif} and {csv_path.name}")


# ----------------------------------------------------------------------------- measure


def cmd_measure(args: argparse.Namespace, bar) -> None:
    from napari_cuts.annotation.measure import measure_regions, write_csv
    from napari_cuts.cli.flags import config_from_args
    from napari_cuts.config import MeasureConfig

    config = config_from_args(MeasureConfig, args)
    lay, spatial = _image_input(args.image, args)
    level = _check_label_shape(label_header(args.labels), spatial, args.labels, args.level)
    image = _read_arranged(args.image, lay, spatial)  # (checked from the headers first)
    labels = _read_labels(args.labels, "labels")
    if labels.shape != spatial:
        labels = labels[level]
    t0 = time.perf_counter()
    try:
        table = measure_regions(labels, image, glcm_levels=config.glcm_levels)
    except CutsInputError as exc:
        raise CutsInputError(f"{args.labels}: {exc}") from None
    path = write_csv(table, args.output)
    print(f"{len(table['label'])} regions measured: {path} ({time.perf_counter() - t0:.1f} s)")


# ----------------------------------------------------------------------------- parsers


def _level_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected level numbers like 0,2,3; got '{text}'") from None


def add_commands(sub) -> None:
    """Add the ``refine``, ``components`` and ``measure`` parsers to `sub`."""
    from napari_cuts.cli.flags import add_config_args
    from napari_cuts.cli.main import add_axes_args
    from napari_cuts.config import ComponentsConfig, MeasureConfig, RefineConfig

    def add_common(p, stack=True):
        if stack:
            add_axes_args(p)
        p.add_argument("--no-progress", dest="progress", action="store_false",
                       help="do not draw a progress bar")

    p = sub.add_parser("refine", help="label every pixel from a few scribbles (1, 2, ... per class)",
                       description="Train a light classifier on the CUTS vectors of scribbled pixels "
                                   "(0 = unlabelled, 1..K = classes, at least two) and label every pixel.")
    p.add_argument("image", metavar="IMAGE", help="the image to label (.tif, .png, .jpg, .npy)")
    p.add_argument("--scribbles", required=True, metavar="S.tif",
                   help="label image of the scribbles, the image's height and width (and slices)")
    p.add_argument("-e", "--encoder", required=True, metavar="ENCODER.pt",
                   help="encoder trained by 'napari-cuts fit' or 'run' (its vectors are the features)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.tif",
                   help="where the labels are written (a compressed TIFF)")
    p.add_argument("--levels", metavar="IMAGE.cuts",
                   help="levels written by 'napari-cuts segment'; their regions add features")
    p.add_argument("--level", type=_level_list, metavar="I,J",
                   help="with --levels: use only these levels (default all)")
    p.add_argument("--snap", action="store_true",
                   help="with --levels: strokes pick whole regions, at the level the classifier "
                        "agrees with best; regions without strokes get class 1 (background)")
    add_config_args(p, RefineConfig, prefix="refine", title="classifier")
    add_common(p)

    p = sub.add_parser("components", help="split a mask into objects numbered and named in order",
                       description="Split a mask into connected components, drop specks, number them "
                                   "along the structure and name them.")
    p.add_argument("mask", metavar="MASK",
                   help="a label image (e.g. an annotation), or levels from 'segment' (.cuts: "
                        "the default level, or --level)")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR",
                   help="writes OUTDIR/<stem>.components.tif and .components.csv")
    p.add_argument("--level", type=int, default=None,
                   help="when MASK is a levels file: the level to use (default: the default "
                        "level its .cuts.json records)")
    add_config_args(p, ComponentsConfig, prefix="components", title="components")
    add_common(p, stack=False)

    p = sub.add_parser("measure", help="measure shape, intensity and texture of every region to CSV",
                       description="One CSV row per region: area, perimeter, eccentricity, mean and std "
                                   "intensity, GLCM contrast and homogeneity.")
    p.add_argument("image", metavar="IMAGE", help="the image whose intensities are measured")
    p.add_argument("labels", metavar="LABELS",
                   help="the regions: a label image, or levels from 'segment' (.cuts)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.csv",
                   help="where the table is written (CSV, one row per region)")
    p.add_argument("--level", type=int, default=None,
                   help="when LABELS holds several levels (from 'segment'): the one to measure "
                        "(default: the default level its .cuts.json records)")
    add_config_args(p, MeasureConfig, prefix="measure", title="measurements")
    add_common(p)


ANNOTATE_COMMANDS = {"refine": cmd_refine, "components": cmd_components, "measure": cmd_measure}
