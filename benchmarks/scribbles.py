"""Scribble refinement vs. the unsupervised hierarchy on images with expert masks.

For a folder with ``images/<id>.png`` and ``labels/<id>.npy`` (0/1 masks, same stem):
fit one encoder on all images (``TrainingConfig()`` defaults), then per image

* draw about 20 scribble pixels per class automatically (seeded): short strokes inside
  the expert mask (class 2) and inside its complement (class 1), kept away from the
  mask's boundary; refine; Dice of class 2 against the mask;
* segment without supervision and score it with the CUTS paper's protocol (per image
  and level, the region covering most of the mask's pixels is the prediction): Dice at
  the default level, and at the image's best level.

Prints a table, and writes the section "## Scribble refinement" of docs/benchmarks.md
(replacing only that section). Usage::

    python benchmarks/scribbles.py [DATA_DIR] [--encoder ENC.pt] [--no-docs]

DATA_DIR defaults to ../shared/data/retina-dev relative to the repository root; when it
is missing the script says so and exits 0. Development data only: nothing of it is
copied anywhere.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "retina-dev"
DOC = REPO / "docs" / "benchmarks.md"
HEADING = "## Scribble refinement"


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    pred, truth = pred.astype(bool), truth.astype(bool)
    total = pred.sum() + truth.sum()
    return 1.0 if total == 0 else float(2 * (pred & truth).sum() / total)


def best_region_dice(level: np.ndarray, truth: np.ndarray) -> float:
    """Paper protocol: the region covering most of the mask's pixels is the prediction."""
    truth = truth.astype(bool)
    if not truth.any():
        return float("nan")
    ids, counts = np.unique(level[truth], return_counts=True)
    return dice(level == ids[np.argmax(counts)], truth)


def draw_scribbles(truth: np.ndarray, per_class: int = 20, stroke: int = 5, margin: int = 3,
                   seed: int = 0) -> np.ndarray:
    """About `per_class` pixels per class in short straight strokes, away from the boundary.

    Class 2 inside the mask, class 1 outside; each class's area is eroded by `margin`
    pixels first (less when that leaves nothing).
    """
    rng = np.random.default_rng(seed)
    out = np.zeros(truth.shape, np.uint8)
    for cls, area in ((1, ~truth.astype(bool)), (2, truth.astype(bool))):
        inner = area
        for m in range(margin, -1, -1):
            inner = ndimage.binary_erosion(area, iterations=m) if m else area
            if inner.any():
                break
        if not inner.any():
            continue
        pts = np.argwhere(inner)
        drawn = 0
        tries = 0
        while drawn < per_class and tries < 200:
            tries += 1
            y, x = pts[rng.integers(len(pts))]
            angle = rng.uniform(0, np.pi)
            dy, dx = np.sin(angle), np.cos(angle)
            for t in range(stroke):
                yy, xx = int(round(y + t * dy)), int(round(x + t * dx))
                if drawn >= per_class:
                    break
                if 0 <= yy < truth.shape[0] and 0 <= xx < truth.shape[1] and inner[yy, xx] \
                        and out[yy, xx] == 0:
                    out[yy, xx] = cls
                    drawn += 1
    return out


def write_section(text: str, path: Path = DOC) -> None:
    """Replace (or append) the section under HEADING, up to the next '## ' heading."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    section = text.rstrip("\n") + "\n\n"
    if pattern.search(old):
        new = pattern.sub(lambda _: section, old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new.rstrip("\n") + "\n")
    tmp.replace(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=str(DEFAULT_DATA))
    parser.add_argument("--encoder", help="use this encoder file instead of fitting one")
    parser.add_argument("--per-class", type=int, default=20, help="scribble pixels per class (20)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-docs", dest="docs", action="store_false",
                        help="do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from skimage.io import imread

    from napari_cuts.annotation.refine import RefineConfig, ScribbleRefiner, snap_to_levels, vote_in_regions
    from napari_cuts.engine.encoder import load_encoder
    from napari_cuts.engine.pipeline import fit, segment
    from napari_cuts.engine.training import TrainingConfig

    data = Path(args.data)
    images_dir, labels_dir = data / "images", data / "labels"
    if not images_dir.is_dir() or not labels_dir.is_dir():
        print(f"no benchmark data at {data} (needs images/ and labels/); nothing to do")
        return 0
    ids = sorted(p.stem for p in images_dir.glob("*.png") if (labels_dir / f"{p.stem}.npy").is_file())
    if not ids:
        print(f"no image/label pairs in {data}; nothing to do")
        return 0
    images = [imread(images_dir / f"{i}.png")[..., :3] for i in ids]
    masks = [np.load(labels_dir / f"{i}.npy") > 0 for i in ids]

    t0 = time.perf_counter()
    if args.encoder:
        encoder = load_encoder(args.encoder)
        fit_note = f"encoder loaded from {args.encoder}"
    else:
        encoder = fit(images, TrainingConfig())
        fit_note = f"fit on {len(ids)} images (TrainingConfig() defaults): {time.perf_counter() - t0:.1f} s"
    print(fit_note)

    config = RefineConfig()
    rows = []
    t_refine = t_segment = 0.0
    for k, (name, image, mask) in enumerate(zip(ids, images, masks)):
        scr = draw_scribbles(mask, per_class=args.per_class, seed=k)
        t = time.perf_counter()
        refiner = ScribbleRefiner.from_image(encoder, image, config=config)
        t_feat = time.perf_counter() - t
        t = time.perf_counter()
        pred, proba = refiner.predict(scr, return_probabilities=True)
        t_pred = time.perf_counter() - t
        t_refine += t_feat + t_pred
        t = time.perf_counter()
        seg = segment(encoder, image)
        t_segment += time.perf_counter() - t
        per_level = [best_region_dice(seg.level(i), mask) for i in range(seg.n_levels)]
        # The same probabilities, voted within the regions of the finest CUTS level.
        voted = vote_in_regions(proba.reshape(mask.shape + (-1,)), seg.level(seg.n_levels - 1))
        # Snapped: strokes pick whole regions, at the level the classifier agrees with.
        snapped, snap_level = snap_to_levels(proba, seg.levels(), scr, refiner.classes_)
        rows.append({
            "id": name, "mask_px": int(mask.sum()), "scribble_px": int((scr > 0).sum()),
            "refine": dice(pred.reshape(mask.shape) == 2, mask),
            "voted": dice(refiner.classes_[voted] == 2, mask), "default": per_level[seg.default_level],
            "snapped": dice(snapped == 2, mask), "snap_level": int(snap_level),
            "best": max(per_level), "best_level": int(np.argmax(per_level)),
            "n_levels": seg.n_levels, "t_features": t_feat, "t_predict": t_pred,
        })
        r = rows[-1]
        print(f"{name:>6} mask {r['mask_px']:5d} px  scribbles {r['scribble_px']:3d} px  "
              f"refine {r['refine']:.3f}  voted {r['voted']:.3f}  snapped {r['snapped']:.3f}  default level {r['default']:.3f}  "
              f"best level {r['best']:.3f} (level {r['best_level']}/{r['n_levels'] - 1})  "
              f"features {t_feat:.2f} s, re-fit+predict {t_pred:.2f} s", flush=True)

    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("refine", "voted", "snapped", "default", "best", "t_features", "t_predict")}
    print(f"\nmean Dice over {len(rows)} images: refine {mean['refine']:.3f}, "
          f"refine voted in the finest CUTS regions {mean['voted']:.3f}, "
          f"snapped to CUTS regions {mean['snapped']:.3f}, "
          f"unsupervised default level {mean['default']:.3f}, best level {mean['best']:.3f}")

    if args.docs:
        try:
            shown = Path(args.data).resolve().relative_to(REPO.resolve())
        except ValueError:
            shown = Path("..") / Path(args.data).resolve().relative_to(REPO.resolve().parent)
        cmd = "python benchmarks/scribbles.py" + ("" if Path(args.data).resolve() == DEFAULT_DATA.resolve() else f" {shown}")
        lines = [
            HEADING,
            "",
            f"Command: `{cmd}` (one torch thread; {platform.machine()}, CPU). "
            f"Data: `{shown}` ({len(rows)} colour fundus photos, 128x128, with expert masks of "
            "geographic atrophy; development data, not shipped).",
            "",
            f"One encoder, {fit_note}. Per image, about {args.per_class} scribble pixels per "
            "class are drawn automatically (seeded short strokes inside the mask = class 2 and "
            "outside it = class 1, 3 pixels away from the boundary); `ScribbleRefiner` with "
            f"`RefineConfig()` defaults (logistic regression on {config.pca_dims} principal "
            f"components of the CUTS vectors{' + intensities' if config.intensity else ''}, "
            f"smoothing {config.smoothing}) labels every pixel; Dice of class 2 vs the mask. "
            "The unsupervised columns use the paper's protocol: per image and level, the "
            "region covering most of the mask's pixels is the prediction; the best level is "
            "chosen per image with the mask, so it is an upper bound (an oracle), while "
            "refinement sees only the scribbles. *Voted*: the same class probabilities, "
            "averaged within each region of the finest CUTS level (`vote_in_regions`), so "
            "the prediction follows the hierarchy's boundaries. *Snapped* (`snap_to_levels`, "
            "`napari-cuts refine --snap`, the widget's 'snap to CUTS regions'): per level, "
            "every region takes its strokes' class or else its mean-probability class; the "
            "level whose map agrees best with the classifier (mean Dice over the classes) is "
            "chosen, and there the regions with strokes keep their class and all others are "
            "background (class 1). No mask is used to pick the level.",
            "",
            "| image | mask px | scribble px | refine Dice | refine, voted in CUTS regions | snapped to CUTS regions (level) | CUTS default level | CUTS best level |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            lines.append(f"| {r['id']} | {r['mask_px']} | {r['scribble_px']} | {r['refine']:.3f} | {r['voted']:.3f} | "
                         f"{r['snapped']:.3f} ({r['snap_level']}) | {r['default']:.3f} | {r['best']:.3f} (level {r['best_level']}) |")
        lines.append(f"| **mean** | | | **{mean['refine']:.3f}** | **{mean['voted']:.3f}** | **{mean['snapped']:.3f}** | **{mean['default']:.3f}** | "
                     f"**{mean['best']:.3f}** |")
        lines += [
            "",
            f"Time per image: features (embedding, once) {mean['t_features']:.2f} s; re-fit and "
            f"predict after a stroke {mean['t_predict']:.2f} s; unsupervised segmentation "
            f"{t_segment / len(rows):.2f} s (wall-clock on a shared machine; other jobs were "
            "running).",
        ]
        write_section("\n".join(lines))
        print(f"wrote the '{HEADING}' section of {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
