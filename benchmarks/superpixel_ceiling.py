"""The best score any level can reach: the labels themselves drawn on the superpixels.

Usage (from the repository root):

    .venv/bin/python benchmarks/superpixel_ceiling.py [FOLDER ...] [--seed 0] [--no-write]

Every level napari-cuts offers is a partition of its superpixels (the nodes), so no level
can be better than the labelled objects projected onto them: each superpixel takes the
label most of its pixels carry. Per set (default: every set in ``../shared/data``) this
prints the panel's score (mean per-object Dice, see ``panel.py``) of that projection, with
the superpixels the default settings make (points of an untrained encoder: superpixels
depend on the points only a little) and with half and twice the superpixel size. A
target above the ceiling cannot be met by choosing levels; only finer or better-placed
superpixels can.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import panel as P  # noqa: E402

SIZES = (0.5, 1.0, 2.0)  # superpixel size relative to the default


def projected(pixel_nodes: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The labels as the superpixels can hold them: each node takes its majority label."""
    from napari_cuts.regions import node_majority

    ids = np.unique(truth)
    major = node_majority(pixel_nodes, truth.reshape(pixel_nodes.shape), int(pixel_nodes.max()) + 1)
    return ids[major][pixel_nodes].reshape(truth.shape)


def ceiling(folder: Path, seed: int) -> dict:
    """Mean object Dice of the projected labels at each superpixel size, and node counts."""
    from napari_cuts.pipeline import SegmentConfig, fit, segment
    from napari_cuts.training import TrainingConfig

    _, _, images, labels = P.load_set(folder)
    stack = any(P.is_stack(im) for im in images) or None
    encoder = fit(images, TrainingConfig(seed=seed, learning_rate=0.0, epochs=1, steps_per_epoch=1),
                  is_stack=stack)
    base = SegmentConfig(seed=seed)
    out = {}
    for factor in SIZES:
        cfg = replace(base, pixels_per_node=max(4, int(round(base.pixels_per_node * factor))),
                      compact_levels=0)
        scores, nodes = [], []
        for img, truth in zip(images, labels):
            seg = segment(encoder, img, cfg, is_stack=P.is_stack(img) or None)
            nodes.append(int(seg.pixel_nodes.max()) + 1)
            scores.append(P.object_dice(projected(seg.pixel_nodes, truth), truth))
        out[factor] = {"dice": float(np.mean(scores)), "nodes": float(np.mean(nodes)),
                       "pixels_per_node": cfg.pixels_per_node}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    folders = args.folders or sorted(p for p in P.PANEL.iterdir() if (p / "labels").is_dir())
    if not folders:
        print(f"no labelled sets found (looked in {P.PANEL})")
        return 1
    started, revision, t = C.now(), C.git_revision(), time.perf_counter()
    rows = []
    for folder in folders:
        res = ceiling(folder, args.seed)
        row = [folder.name] + [f"{res[f]['dice']:.3f} ({res[f]['pixels_per_node']} px, "
                               f"{res[f]['nodes']:.0f} nodes)" for f in SIZES]
        rows.append(row)
        print("  ".join(row), flush=True)
    header = ["set"] + [f"superpixels x{f:g} the default size" for f in SIZES]
    print(C.text_table(header, rows))
    if not args.no_write:
        body = (f"Command (from the repository root), {started}, commit {revision}, "
                f"{time.perf_counter() - t:.0f} s:\n\n```bash\n.venv/bin/python benchmarks/"
                "superpixel_ceiling.py\n```\n\nThe labelled objects themselves projected onto "
                "the superpixels (each takes its majority label), scored like the panel (mean "
                "per-object Dice): no level can score higher, since every level is a partition "
                "of the superpixels. Default superpixel size and half and twice it (images under "
                "about 130,000 pixels keep at least 2048 superpixels, so there the sizes "
                "coincide).\n\n"
                + C.markdown_table(header, rows) + "\n")
        print(f"wrote {C.write_section('Superpixel ceiling', body)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
