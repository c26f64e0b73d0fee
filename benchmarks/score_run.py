"""Score the files `napari-cuts run/segment` wrote against expert masks (paper's protocol).

Usage: python benchmarks/score_run.py OUTDIR [--data ../shared/data/retina-dev]

For every ``OUTDIR/<id>.cuts`` with a mask ``DATA/labels/<id>.npy``: per level, the
region covering most of the mask's pixels is the prediction; prints the mean Dice at each
image's best level and at the ``default_level`` of ``<id>.cuts.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--data", type=Path, default=C.DEFAULT_DATA)
    args = parser.parse_args()
    from napari_cuts.formats.writing import read_labels_tiff

    best, default, levels = [], [], []
    for tif in sorted(args.outdir.glob("*.cuts")):
        stem = tif.name[: -len(".cuts")]
        mask_path = args.data / "labels" / f"{stem}.npy"
        if not mask_path.is_file():
            continue
        mask = np.load(mask_path) > 0
        stack = read_labels_tiff(tif)
        stack = stack[None] if stack.ndim == 2 else stack
        scores = []
        for lev in stack:
            region = np.bincount(lev[mask].astype(np.int64)).argmax()
            pred = lev == region
            scores.append(2 * (pred & mask).sum() / (pred.sum() + mask.sum()))
        meta = json.loads(tif.with_name(f"{stem}.cuts.json").read_text())
        best.append(max(scores))
        default.append(scores[meta["default_level"]])
        levels.append(len(scores))
    if not best:
        print(f"no scored outputs in {args.outdir}")
        return 1
    print(f"{len(best)} images: mean Dice best level {np.mean(best):.3f}, default level "
          f"{np.mean(default):.3f}, {np.mean(levels):.1f} levels offered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
