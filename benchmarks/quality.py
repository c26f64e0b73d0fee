"""Segmentation quality on retina-dev, with the CUTS paper's protocol, against baselines.

Usage (from the repository root):

    .venv/bin/python benchmarks/quality.py [--data DIR] [--epochs N] [--seed S] [--no-write]

Fits one encoder on all images of the folder, segments every image and scores each
method: per image and level, the region covering most of the mask's pixels is the
prediction; Dice and the 95% Hausdorff distance (HD95, pixels) are reported at
(a) each image's best level (by Dice), (b) the default (or a fixed) level, and (c) one
level chosen for the whole set: per image the level whose region count is closest to a
set-wide target count, the target that gives the best mean Dice. Baselines run in the
same process: k-means on raw colours and on the encoder's vectors, Felzenszwalb, SLIC, and
the pipeline with an untrained encoder. Writes the section "## Quality on retina-dev" of
docs/benchmarks.md unless --no-write.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

K_RANGE = list(range(2, 13))
FELZ_SCALES = [12800, 6400, 3200, 1600, 800, 400, 200, 100, 50, 25, 12.5]  # coarse -> fine
FELZ_FIXED = 100
SLIC_SEGMENTS = [2, 3, 4, 6, 8, 12, 16, 25, 50, 100, 200]  # coarse -> fine
SLIC_FIXED = 100


# ---- data -----------------------------------------------------------------------------
def load_data(folder: Path):
    from skimage.io import imread

    images, masks, ids = [], [], []
    for path in sorted((folder / "images").glob("*.png"), key=lambda p: (len(p.stem), p.stem)):
        label = folder / "labels" / f"{path.stem}.npy"
        if not label.is_file():
            continue
        img = imread(path)
        if img.ndim == 3 and img.shape[-1] == 4:
            img = img[..., :3]
        mask = np.load(label) > 0
        if mask.shape != img.shape[:2]:
            raise SystemExit(f"{label}: mask shape {mask.shape} != image shape {img.shape[:2]}")
        images.append(img)
        masks.append(mask)
        ids.append(path.stem)
    return ids, images, masks


# ---- scores ---------------------------------------------------------------------------
def predicted_region(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The region that covers most of the mask's pixels, as a boolean image."""
    lab = np.asarray(labels).astype(np.int64, copy=False)
    region = int(np.bincount(lab[mask]).argmax())
    return lab == region


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    denom = pred.sum() + truth.sum()
    return float(2 * np.logical_and(pred, truth).sum() / denom) if denom else 1.0


_CROSS = ndimage.generate_binary_structure(2, 1)


def boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of the mask with a 4-neighbour outside it (the image edge counts as outside)."""
    return mask & ~ndimage.binary_erosion(mask, structure=_CROSS, border_value=0)


def hd95(pred: np.ndarray, truth: np.ndarray) -> float:
    """Symmetric 95% Hausdorff distance in pixels between the boundaries of two masks.

    The distances from every boundary pixel of each mask to the other mask's boundary
    (Euclidean distance transforms) are pooled and their 95th percentile is returned, as
    medpy's ``hd95`` does. NaN when either mask is empty.
    """
    if not pred.any() or not truth.any():
        return float("nan")
    bp, bt = boundary(pred), boundary(truth)
    to_truth = ndimage.distance_transform_edt(~bt)[bp]
    to_pred = ndimage.distance_transform_edt(~bp)[bt]
    return float(np.percentile(np.concatenate([to_truth, to_pred]), 95))


class Method:
    """One method's levels for every image, and its scores."""

    def __init__(self, name: str, note: str = "", fixed_label: str = "default"):
        self.name, self.note, self.fixed_label = name, note, fixed_label
        self.levels: list[list[np.ndarray]] = []
        self.n_regions: list[list[int]] = []
        self.fixed: list[int | None] = []
        self.salient: list[list[bool]] = []
        self.seconds = 0.0

    def add(self, levels, fixed: int | None, n_regions=None, salient=None):
        levels = [np.asarray(lv) for lv in levels]
        self.salient.append(list(salient) if salient is not None else [True] * len(levels))
        if n_regions is None:
            n_regions = [len(np.unique(lv)) for lv in levels]
        self.levels.append(levels)
        self.n_regions.append(list(map(int, n_regions)))
        self.fixed.append(fixed)

    def restricted(self, name: str, keep, note: str = "") -> Method:
        """The same method offering only the levels `keep(n_regions, index, image)` accepts."""
        out = Method(name, note, self.fixed_label)
        for i, (lvs, nrs, fx) in enumerate(zip(self.levels, self.n_regions, self.fixed)):
            idx = [j for j in range(len(lvs)) if keep(nrs[j], j, i)] or [int(np.argmin(nrs))]
            out.add([lvs[j] for j in idx], idx.index(fx) if fx in idx else None, [nrs[j] for j in idx])
        return out

    def score(self, masks) -> dict:
        dices = [[dice(predicted_region(lv, m), m) for lv in lvs] for lvs, m in zip(self.levels, masks)]
        n_img = len(masks)

        def hd(i, j):
            return hd95(predicted_region(self.levels[i][j], masks[i]), masks[i])

        best = [int(np.argmax(d)) for d in dices]
        res = {
            "method": self.name,
            "note": self.note,
            "levels": float(np.mean([len(d) for d in dices])),
            "dice_best": [dices[i][best[i]] for i in range(n_img)],
            "hd95_best": [hd(i, best[i]) for i in range(n_img)],
            "best_regions": [self.n_regions[i][best[i]] for i in range(n_img)],
            "seconds": self.seconds,
        }
        if all(f is not None for f in self.fixed):
            res["dice_fixed"] = [dices[i][self.fixed[i]] for i in range(n_img)]
            res["hd95_fixed"] = [hd(i, self.fixed[i]) for i in range(n_img)]
            res["fixed_regions"] = [self.n_regions[i][self.fixed[i]] for i in range(n_img)]
        # (c1) one target region count for the set: per image the closest level (the
        # coarser one on ties), the target with the best mean Dice.
        targets = sorted({n for nrs in self.n_regions for n in nrs})
        best_t, best_mean, picks = None, -1.0, None
        for t in targets:
            pick = [int(np.argmin([abs(n - t) for n in nrs])) for nrs in self.n_regions]
            mean = float(np.mean([dices[i][pick[i]] for i in range(n_img)]))
            if mean > best_mean + 1e-12:
                best_t, best_mean, picks = t, mean, pick
        res["target_count"] = best_t
        res["dice_target"] = [dices[i][picks[i]] for i in range(n_img)]
        res["hd95_target"] = [hd(i, picks[i]) for i in range(n_img)]
        # (c2) one level index for the set (clamped to each image's finest level).
        n_max = max(len(d) for d in dices)
        idx_means = [float(np.mean([d[min(j, len(d) - 1)] for d in dices])) for j in range(n_max)]
        j = int(np.argmax(idx_means))
        res["level_index"] = j
        res["dice_index"] = [d[min(j, len(d) - 1)] for d in dices]
        return res


# ---- methods --------------------------------------------------------------------------
def kmeans_levels(points: np.ndarray, shape, ks, seed: int, iterations: int = 30):
    from _kmeans import assign_nearest, kmeans

    points = np.ascontiguousarray(points, np.float32)
    out = []
    for k in ks:
        centres = kmeans(points, k, seed=seed, iterations=iterations)
        out.append(assign_nearest(points, centres).reshape(shape) + 1)
    return out


def felzenszwalb_levels(image, scales):
    from skimage.segmentation import felzenszwalb

    return [felzenszwalb(image, scale=s, sigma=0.8, min_size=20) + 1 for s in scales]


def slic_levels(image, counts):
    from skimage.segmentation import slic

    return [slic(image, n_segments=n, compactness=10, start_label=1, channel_axis=-1) for n in counts]


def cuts_levels(encoder, image, config, method: Method, stage_times: list):
    seg, times, _ = C.timed_segment(encoder, image, config)
    stage_times.append(times)
    method.add([seg.level(i) for i in range(seg.n_levels)], seg.default_level, seg.n_regions,
               seg.salient)
    return seg


# ---- report ---------------------------------------------------------------------------
def fmt(values, digits=2):
    v = np.asarray([x for x in values if np.isfinite(x)], float)
    if not len(v):
        return "n/a"
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"


def table_rows(results):
    rows = []
    for r in results:
        fixed = fmt(r["dice_fixed"]) if "dice_fixed" in r else "—"
        hd_fixed = fmt(r["hd95_fixed"], 1) if "hd95_fixed" in r else "—"
        rows.append([
            r["method"], f"{r['levels']:.1f}", fmt(r["dice_best"]), fixed,
            f"{fmt(r['dice_target'])} (≈{r['target_count']})", fmt(r["hd95_best"], 1), hd_fixed,
        ])
    return rows


HEADER = ["method", "levels offered (mean)", "Dice best level", "Dice default/fixed",
          "Dice one count for the set (target)", "HD95 best", "HD95 default/fixed"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=C.DEFAULT_DATA,
                        help="folder with images/<id>.png and labels/<id>.npy")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: TrainingConfig's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=True,
                        help="write the section into docs/benchmarks.md (default: yes)")
    parser.add_argument("--json", type=Path, help="also save all per-image scores as JSON")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)

    if not (args.data / "images").is_dir() or not (args.data / "labels").is_dir():
        print(f"quality: no data at {args.data} (needs images/*.png and labels/*.npy); skipped")
        return 0
    ids, images, masks = load_data(args.data)
    if not ids:
        print(f"quality: no image with a label in {args.data}; skipped")
        return 0

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from napari_cuts.engine.embedding import embed
    from napari_cuts.engine.encoder import Encoder
    from napari_cuts.engine.pipeline import SegmentConfig, fit
    from napari_cuts.engine.training import TrainingConfig
    from napari_cuts.formats.images import Normalization, to_volume

    command = "python benchmarks/quality.py" + " ".join([""] + (argv if argv is not None else sys.argv[1:]))
    started, revision = C.now(), C.git_revision()
    print(f"quality: {len(ids)} images from {args.data}; load {C.load()}; {C.machine()}", flush=True)
    calib = C.calibrate()
    print(f"calibration: {calib}", flush=True)
    tcfg = TrainingConfig(seed=args.seed) if args.epochs is None else TrainingConfig(epochs=args.epochs, seed=args.seed)
    scfg = SegmentConfig(seed=args.seed)

    load_fit = C.load()
    t = time.perf_counter()
    encoder = fit(images, tcfg, names=ids)
    fit_s = time.perf_counter() - t
    print(f"fit: {fit_s:.1f} s for {tcfg.epochs} epochs x {tcfg.steps_per_epoch} steps "
          f"({fit_s / (tcfg.epochs * tcfg.steps_per_epoch):.2f} s/step); load {load_fit} -> {C.load()}",
          flush=True)
    untrained = Encoder.create(images[0].shape[-1] if images[0].ndim == 3 else 1,
                               Normalization.fit([to_volume(im) for im in images], seed=args.seed),
                               seed=args.seed)

    cuts = Method("CUTS (ours)", "all levels", "default")
    cuts_u = Method("CUTS, untrained encoder", "what training buys", "default")
    cuts_v = Method("CUTS, vectors only (no intensities, no position)", "what they bring", "default")
    cuts_p = Method("CUTS, intensities + position only (no vectors)", "what the vectors bring", "default")
    vec_only = dataclasses.replace(scfg, intensity_weight=0.0, spatial_weight=0.0)
    no_vec = dataclasses.replace(scfg, vector_weight=0.0)
    km_vec = Method("k-means on our vectors, k=2..12", "fixed: k=5", "k=5")
    km_vec_u = Method("k-means on untrained vectors, k=2..12", "fixed: k=5", "k=5")
    km_rgb = Method("k-means on colours, k=2..12", "fixed: k=5", "k=5")
    km_rgb3 = Method("k-means on colours, k=3", "one level", "k=3")
    felz = Method(f"Felzenszwalb, scale {FELZ_SCALES[-1]}..{FELZ_SCALES[0]}", "fixed: scale 100", "scale 100")
    slic = Method(f"SLIC, {SLIC_SEGMENTS[0]}..{SLIC_SEGMENTS[-1]} segments", "fixed: 100", "100 segments")
    stage_times, stage_times_u = [], []
    seg_s = 0.0
    load_seg = C.load()
    for n, (name, img) in enumerate(zip(ids, images)):
        t0 = time.perf_counter()
        seg = cuts_levels(encoder, img, scfg, cuts, stage_times)
        t1 = time.perf_counter()
        cuts.seconds += t1 - t0
        cuts_levels(untrained, img, scfg, cuts_u, stage_times_u)
        t2 = time.perf_counter()
        cuts_u.seconds += t2 - t1
        cuts_levels(encoder, img, vec_only, cuts_v, [])
        cuts_levels(encoder, img, no_vec, cuts_p, [])
        shape = img.shape[:2]
        for enc, meth in ((encoder, km_vec), (untrained, km_vec_u)):
            t = time.perf_counter()
            vec = embed(enc, img).reshape(-1, enc.dim)
            meth.add(kmeans_levels(vec, shape, K_RANGE, args.seed), K_RANGE.index(5), None)
            meth.seconds += time.perf_counter() - t
        t = time.perf_counter()
        colours = (img.reshape(-1, img.shape[-1] if img.ndim == 3 else 1) / 255.0).astype(np.float32)
        km_rgb.add(kmeans_levels(colours, shape, K_RANGE, args.seed), K_RANGE.index(5))
        km_rgb.seconds += time.perf_counter() - t
        km_rgb3.add([km_rgb.levels[-1][K_RANGE.index(3)]], 0)
        t = time.perf_counter()
        felz.add(felzenszwalb_levels(img, FELZ_SCALES), FELZ_SCALES.index(FELZ_FIXED))
        felz.seconds += time.perf_counter() - t
        t = time.perf_counter()
        slic.add(slic_levels(img, SLIC_SEGMENTS), SLIC_SEGMENTS.index(SLIC_FIXED))
        slic.seconds += time.perf_counter() - t
        seg_s += t1 - t0
        print(f"[{n + 1}/{len(ids)}] {name}: {seg.n_levels} levels, regions {seg.n_regions[0]}.."
              f"{seg.n_regions[-1]}, default {seg.default_level} ({seg.n_regions[seg.default_level]} "
              f"regions), {t1 - t0:.1f} s (untrained {t2 - t1:.1f} s); load {C.load()}", flush=True)

    cuts12 = cuts.restricted("CUTS, levels with ≤12 regions", lambda nr, j, i: nr <= 12,
                             "as many regions as k-means offers")
    # Salient (most persistent) levels only, as the hierarchy marks them per image.
    sal = cuts.restricted("CUTS, salient levels only", lambda nr, j, i: cuts.salient[i][j],
                          "the n_salient most persistent levels")
    methods = [cuts, cuts12, sal, cuts_u, cuts_v, cuts_p, km_vec, km_vec_u, km_rgb, km_rgb3, felz, slic]
    for m in (cuts12, sal):
        m.seconds = cuts.seconds

    results = [m.score(masks) for m in methods]
    finished = C.now()
    rows = table_rows(results)
    print()
    print(C.text_table(HEADER, rows))
    ref = {r["method"]: r for r in results}
    idx = ref["CUTS (ours)"]
    print(f"\nCUTS, one level index for the set: level {idx['level_index']} -> Dice "
          f"{fmt(idx['dice_index'])}; default levels have {fmt(idx['fixed_regions'], 1)} regions")
    stages = {k: float(np.mean([s.get(k, 0.0) for s in stage_times])) for k in ("embed", "cluster", "condense")}
    print(f"CUTS segment time per image (mean s): {stages}; fit {fit_s:.1f} s; load now {C.load()}")

    if args.json:
        args.json.write_text(json.dumps({"ids": ids, "results": results, "fit_s": fit_s,
                                         "calibration": calib, "stages": stages}, indent=1))
    if args.write:
        if revision != C.git_revision():
            revision += f" (at the end: {C.git_revision()})"
        body = docs_body(command, started, finished, revision, calib, tcfg, fit_s, load_fit, load_seg, len(ids),
                         results, stages, idx, methods)
        path = C.write_section("Quality on retina-dev", body)
        print(f"wrote {path}")
    return 0


def docs_body(command, started, finished, revision, calib, tcfg, fit_s, load_fit, load_seg, n_images,
              results, stages, idx, methods):
    steps = tcfg.epochs * tcfg.steps_per_epoch
    times = "; ".join(f"{m.name}: {m.seconds / n_images:.2f} s" for m in methods
                      if m.name in ("CUTS (ours)", "CUTS, untrained encoder", "k-means on our vectors, k=2..12",
                                    "k-means on colours, k=2..12") or m.name.startswith(("Felz", "SLIC")))
    return f"""Command (from the repository root), {started} to {finished}, commit {revision}:

```bash
.venv/bin/{command}
```

Protocol (the CUTS paper's): one encoder is fitted without labels on all {n_images} images
(`TrainingConfig(epochs={tcfg.epochs})`, {tcfg.steps_per_epoch} steps of {tcfg.batch_size} images per epoch),
every image is segmented with `SegmentConfig()` defaults, and per image and level the region
covering most of the mask's pixels is the prediction. Dice, and HD95 in pixels (pooled
distances between the two boundaries, 95th percentile, as medpy's `hd95`), are given as
mean ± std over the images at: each image's **best level** (an oracle: it uses the mask;
it grows with the number of levels offered, so that column is listed); the method's
**default** level (CUTS: `Segmentation.default_level`, the most persistent level) or its
**fixed** setting (noted per row); and **one region count for the whole set** (per image
the level whose region count is closest to a target, the target with the best mean Dice,
shown in parentheses; also chosen with the masks). All baselines ran in the same process on
the same images.

What CUTS condenses per pixel (`SegmentConfig()`): its reduced CUTS vector (unit RMS
spread), its normalised intensities x 1.5 and its (y, x) position x 8 over the image's
longest side. Two ablation rows use the same encoder: *vectors only* (intensity and
spatial weights 0: the condensation of the paper, on vectors alone) and *intensities +
position only* (vector weight 0).

{C.markdown_table(HEADER, table_rows(results))}

Fixed settings: k-means rows k=5 (the k=3 row is k-means at k=3 alone), Felzenszwalb
scale 100 (sigma 0.8, min_size 20), SLIC 100 segments (compactness 10). k-means is
`napari_cuts.engine.hierarchy.condensation.kmeans` (30 Lloyd iterations from random seeds) +
`assign_nearest`, on colours scaled to [0, 1] or on the 128-d vectors.
CUTS with one level *index* for the set (rather than a region count): level
{idx['level_index']}, Dice {fmt(idx['dice_index'])}. CUTS's default levels have
{fmt(idx['fixed_regions'], 1)} regions; its best levels {fmt(idx['best_regions'], 1)}.

Timing: fit {fit_s:.0f} s ({fit_s / steps:.2f} s per step; load average {load_fit[0]} at the
start of the fit, {load_seg[0]} at the start of segmentation, 2 cores). Per image:
{times}. CUTS stages per image: embedding {stages['embed']:.2f} s, k-means compression
{stages['cluster']:.2f} s, condensation {stages['condense']:.2f} s. Same-run calibration:
2048² float32 matmul {calib['matmul_gflops']} GFLOP/s; the original code's training step
(conv forward+backward of 16 RGB 128² images) {calib['conv_batch_s']} s now against 5.8 s
when the reference numbers below were measured ({calib['slowdown_vs_original_conv']}x).

Reference (the original CUTS code on this machine, earlier): after 12 epochs best-level Dice
0.71, persistent-structures pick 0.47; k-means on colours best k per image 0.70, k=3 0.24,
k=5 0.41; Felzenszwalb (scale 100) 0.42; SLIC (100 segments) 0.35.
"""


if __name__ == "__main__":
    sys.exit(main())
