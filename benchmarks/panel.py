"""napari-cuts against scikit-image baselines on every labelled set of the panel.

Usage (from the repository root):

    .venv/bin/python benchmarks/panel.py [FOLDER ...] [--seeds 0 1] [--no-write]

Each FOLDER holds ``images/<stem>.<ext>`` and ``labels/<stem>.<ext>`` (0 = unlabelled,
every other id one object); default: every set in ``../shared/data``. Per set and seed:

- **CUTS**: ``napari-cuts run IMAGES -o OUT --seed S`` as a user would type it, scored
  from the files it writes (the ``default_level`` of each ``.cuts.json``);
- ablations through the Python API with the same defaults: *untrained* (an encoder fitted
  with learning rate 0) and *no vectors* (``vector_weight=0``);
- baselines (seed-independent, run once per set in the same run): Felzenszwalb (a sweep
  of scales; fixed scale 100 on 0..1 images, per slice for stacks), SLIC-zero (a sweep;
  fixed 100 segments), k-means on intensities (k = 2..12, fixed 5) and the filter bank
  ``skimage.feature.multiscale_basic_features`` (sigma 1..16, each feature standardised,
  k-means k = 2..24, fixed 5).

Protocol per image and level: for every object the region covering most of its pixels is
its prediction; the image's score is the mean Dice over its objects. Reported: the mean over
images at the best level (an oracle: chosen per image with the labels; it grows with the
levels offered, listed beside it) and at the default level (baselines: their fixed setting).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

PANEL = C.REPO.parent / "shared" / "data"
FELZ_SCALES = [12800, 6400, 3200, 1600, 800, 400, 200, 100, 50, 25, 12.5]
SLIC_SEGMENTS = [2, 3, 4, 6, 8, 12, 16, 25, 50, 100, 200]
KM_RANGE = list(range(2, 13))
BANK_RANGE = list(range(2, 25))
VORONOI_SPOTS = [1, 2, 3, 4, 5, 6]
VORONOI_OUTLINES = [1, 2, 3]
WATERSHED_CUTS = [2, 4, 8, 16, 32, 64, 100, 128, 256, 512, 1024, 2048]


# ---- data -----------------------------------------------------------------------------
def load_set(folder: Path):
    """(ids, image paths, images, labels) of a set; images as napari-cuts reads them."""
    from napari_cuts.formats.images import read_image

    ids, paths, images, labels = [], [], [], []
    for path in sorted((folder / "images").iterdir()):
        found = [p for p in (folder / "labels").glob(path.stem + ".*")]
        if not found:
            continue
        img = read_image(path)
        if img.ndim == 3 and img.shape[-1] == 4:
            img = img[..., :3]
        lab = np.asarray(read_image(found[0])).astype(np.int64)
        ids.append(path.stem)
        paths.append(path)
        images.append(img)
        labels.append(lab)
    return ids, paths, images, labels


def is_stack(image: np.ndarray) -> bool:
    return image.ndim == 3 and image.shape[-1] > 4


# ---- scores ---------------------------------------------------------------------------
def object_dice(level: np.ndarray, truth: np.ndarray) -> float:
    """Mean over objects (ids > 0) of the Dice of the region covering most of the object."""
    from scipy.sparse import coo_matrix

    lab = np.asarray(level).astype(np.int64).ravel()
    tru = truth.ravel()
    inside = tru > 0
    obj_ids, t = np.unique(tru[inside], return_inverse=True)
    reg_ids, r = np.unique(lab, return_inverse=True)
    counts = coo_matrix((np.ones(int(inside.sum())), (t, r[inside])),
                        shape=(len(obj_ids), len(reg_ids))).tocsr()
    best = np.asarray(counts.argmax(1)).ravel()
    overlap = np.asarray(counts[np.arange(len(obj_ids)), best]).ravel()
    obj_size = np.bincount(t, minlength=len(obj_ids))
    reg_size = np.bincount(r, minlength=len(reg_ids))
    return float(np.mean(2 * overlap / (obj_size + reg_size[best])))


@dataclass
class Result:
    """One method on one set: per image the score of every level and the default level."""

    name: str
    scores: list[list[float]] = field(default_factory=list)
    default: list[int] = field(default_factory=list)
    regions: list[int] = field(default_factory=list)  # regions at the default level
    seconds: float = 0.0

    def add(self, levels, truth, default: int) -> None:
        levels = list(levels)
        self.scores.append([object_dice(lv, truth) for lv in levels])
        self.default.append(int(default))
        self.regions.append(int(len(np.unique(levels[default]))))

    @property
    def best(self) -> float:
        return float(np.mean([max(s) for s in self.scores]))

    @property
    def fixed(self) -> float:
        return float(np.mean([s[d] for s, d in zip(self.scores, self.default)]))

    @property
    def levels(self) -> float:
        return float(np.mean([len(s) for s in self.scores]))

    @property
    def per_image_default(self) -> list[float]:
        return [s[d] for s, d in zip(self.scores, self.default)]

    def summary(self) -> dict:
        return {"name": self.name, "best": self.best, "default": self.fixed, "levels": self.levels,
                "regions": float(np.mean(self.regions)), "seconds": self.seconds,
                "per_image": self.scores, "default_levels": self.default}


# ---- CUTS -----------------------------------------------------------------------------
def cuts_cli(paths, labels, seed: int, extra: list[str] | None = None,
             settings: dict | None = None, images=None) -> list[Result]:
    """``napari-cuts run`` as a user types it, scored from the files it writes; and, with
    `images`, the same encoder with the default-level stage off (``default_rule=
    persistent``: the level that lasted longest), an ablation."""
    from napari_cuts.engine.encoder import load_encoder
    from napari_cuts.engine.pipeline import SegmentConfig
    from napari_cuts.formats.images import output_stem
    from napari_cuts.formats.writing import read_labels_tiff

    res = Result("CUTS (napari-cuts run)")
    off = None
    exe = Path(sys.executable).with_name("napari-cuts")
    with tempfile.TemporaryDirectory() as out:
        cmd = [str(exe), "run", *map(str, paths), "-o", out, "--seed", str(seed), "--no-progress",
               *(extra or [])]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        res.seconds = time.perf_counter() - t
        if proc.returncode:
            raise SystemExit(f"napari-cuts run failed ({proc.returncode}): {proc.stderr.strip()}")
        for path, truth in zip(paths, labels):
            stem = output_stem(path)
            levels = read_labels_tiff(Path(out) / f"{stem}.cuts")
            meta = json.loads((Path(out) / f"{stem}.cuts.json").read_text())
            if levels.ndim == truth.ndim:  # a single level
                levels = levels[None]
            res.add(levels, truth, meta["default_level"])
        if images is not None:
            config = replace(SegmentConfig(seed=seed), **{**(settings or {}), "default_rule": "persistent"})
            off = cuts_api("default-level stage off", images, labels, load_encoder(Path(out) / "encoder.pt"), config)
    return [res] + ([off] if off is not None else [])


def cuts_api(name, images, labels, encoder, config) -> Result:
    from napari_cuts.engine.pipeline import segment

    res = Result(name)
    t = time.perf_counter()
    for img, truth in zip(images, labels):
        seg = segment(encoder, img, config, is_stack=is_stack(img) or None)
        res.add(seg.levels(), truth, seg.default_level)
    res.seconds = time.perf_counter() - t
    return res


def ablations(images, labels, seed: int, settings: dict | None = None) -> list[Result]:
    """The same pipeline with an encoder that never learned, and without vectors."""
    from napari_cuts.engine.pipeline import SegmentConfig, fit
    from napari_cuts.engine.training import TrainingConfig

    stack = any(is_stack(im) for im in images) or None
    t = time.perf_counter()
    untrained = fit(images, TrainingConfig(seed=seed, learning_rate=0.0), is_stack=stack)
    fit_s = time.perf_counter() - t
    config = replace(SegmentConfig(seed=seed), **(settings or {}))
    out = [cuts_api("untrained encoder", images, labels, untrained, config)]
    out[0].seconds += fit_s
    out.append(cuts_api("no vectors", images, labels, untrained, replace(config, vector_weight=0.0)))
    return out


# ---- baselines ------------------------------------------------------------------------
def unit(image: np.ndarray) -> np.ndarray:
    """Float image scaled to 0..1 (per image, min to max)."""
    a = np.asarray(image, np.float64)
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def kmeans_levels(features: np.ndarray, shape, ks, seed: int) -> list[np.ndarray]:
    """k-means (30 Lloyd iterations, fitted on <= 20000 pixels) for every k."""
    from _kmeans import assign_nearest, kmeans

    feats = np.ascontiguousarray(features, np.float32)
    rng = np.random.default_rng(seed)
    rows = feats if len(feats) <= 20000 else feats[rng.choice(len(feats), 20000, replace=False)]
    return [assign_nearest(feats, kmeans(rows, k, iterations=30, seed=seed)).reshape(shape) + 1
            for k in ks]


def felzenszwalb_levels(image, stack: bool) -> list[np.ndarray]:
    from skimage.segmentation import felzenszwalb

    img = unit(image)
    channel = -1 if img.ndim == 3 + stack else None
    out = []
    for s in FELZ_SCALES:
        if stack:  # 2D only: per slice, ids distinct across slices
            lab, off = np.zeros(img.shape[:3], np.int64), 0
            for z in range(img.shape[0]):
                lab[z] = felzenszwalb(img[z], scale=s, sigma=0.8, min_size=20, channel_axis=channel) + off
                off = lab[z].max() + 1
            out.append(lab + 1)
        else:
            out.append(felzenszwalb(img, scale=s, sigma=0.8, min_size=20, channel_axis=channel) + 1)
    return out


def slic_levels(image, stack: bool) -> list[np.ndarray]:
    from skimage.segmentation import slic

    img = unit(image)
    channel = -1 if img.ndim == 3 + stack else None
    return [slic(img, n_segments=n, slic_zero=True, start_label=1, channel_axis=channel)
            for n in SLIC_SEGMENTS]


def grey(image, stack: bool) -> np.ndarray:
    """0..1 image with colour channels averaged: (Y, X) or (Z, Y, X)."""
    img = unit(image)
    return img.mean(-1) if img.ndim == 3 + stack else img


def voronoi_otsu(image: np.ndarray, spot_sigma: float, outline_sigma: float) -> np.ndarray:
    """Voronoi-Otsu labelling (the nuclei recipe of napari-segment-blobs-and-things-with-
    membranes, written from its description): local maxima of the image blurred at
    `spot_sigma` that lie inside the Otsu mask of the image blurred at `outline_sigma` seed
    a watershed of that mask. Labels 1.. (0 is the background)."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu
    from skimage.morphology import local_maxima
    from skimage.segmentation import watershed

    spots = local_maxima(ndimage.gaussian_filter(image, spot_sigma))
    outline = ndimage.gaussian_filter(image, outline_sigma)
    mask = outline > threshold_otsu(outline) if np.ptp(outline) > 0 else np.zeros(image.shape, bool)
    seeds, _ = ndimage.label(spots & mask)
    return watershed(mask, seeds, mask=mask)


def voronoi_otsu_levels(image, stack: bool) -> list[np.ndarray]:
    """Voronoi-Otsu labelling over spot sigma x outline sigma (3D for stacks)."""
    img = grey(image, stack)
    return [voronoi_otsu(img, s, o) for s in VORONOI_SPOTS for o in VORONOI_OUTLINES]


def watershed_hierarchy_levels(image, stack: bool) -> list[np.ndarray]:
    """higra's watershed hierarchy by area of the Sobel gradient (Gaussian sigma 1, colour
    channels summed; 3D for stacks), cut at WATERSHED_CUTS regions."""
    import higra as hg
    from scipy import ndimage

    img = unit(image)
    channels = img[..., None] if img.ndim == 2 + stack else img
    grad = np.zeros(channels.shape[:-1])
    for c in range(channels.shape[-1]):
        smooth = ndimage.gaussian_filter(channels[..., c], 1.0)
        grad += np.sqrt(sum(ndimage.sobel(smooth, axis=a) ** 2 for a in range(smooth.ndim)))
    shape = grad.shape
    graph = hg.get_4_adjacency_graph(shape) if len(shape) == 2 else hg.get_6_adjacency_graph(shape)
    weights = hg.weight_graph(graph, grad.ravel(), hg.WeightFunction.mean)
    tree, altitudes = hg.watershed_hierarchy_by_area(graph, weights)
    explorer = hg.HorizontalCutExplorer(tree, altitudes)
    return [explorer.horizontal_cut_from_num_regions(n).labelisation_leaves(tree).reshape(shape) + 1
            for n in WATERSHED_CUTS]


def filter_bank_features(image, stack: bool) -> np.ndarray:
    from skimage.feature import multiscale_basic_features

    img = unit(image)
    channel = -1 if img.ndim == 3 + stack else None
    feats = multiscale_basic_features(img, intensity=True, edges=True, texture=True, sigma_min=1,
                                      sigma_max=16, channel_axis=channel).astype(np.float32)
    feats = feats.reshape(-1, feats.shape[-1])
    return (feats - feats.mean(0)) / np.maximum(feats.std(0), 1e-6)


def baselines(images, labels, seed: int = 0) -> list[Result]:
    felz = Result("Felzenszwalb")
    slic = Result("SLIC")
    km = Result("k-means on intensities")
    bank = Result("filter bank + k-means")
    vo = Result("Voronoi-Otsu")
    wsh = Result("watershed hierarchy")
    for img, truth in zip(images, labels):
        stack = is_stack(img)
        shape = img.shape[:3] if stack else img.shape[:2]
        for res, make, default in (
            (felz, lambda img=img, stack=stack, shape=shape: felzenszwalb_levels(img, stack), FELZ_SCALES.index(100)),
            (slic, lambda img=img, stack=stack, shape=shape: slic_levels(img, stack), SLIC_SEGMENTS.index(100)),
            (km, lambda img=img, stack=stack, shape=shape: kmeans_levels(unit(img).reshape(int(np.prod(shape)), -1), shape, KM_RANGE, seed),
             KM_RANGE.index(5)),
            (bank, lambda img=img, stack=stack, shape=shape: kmeans_levels(filter_bank_features(img, stack), shape, BANK_RANGE, seed),
             BANK_RANGE.index(5)),
            (vo, lambda img=img, stack=stack, shape=shape: voronoi_otsu_levels(img, stack), VORONOI_SPOTS.index(2) * len(VORONOI_OUTLINES)
             + VORONOI_OUTLINES.index(2)),
            (wsh, lambda img=img, stack=stack, shape=shape: watershed_hierarchy_levels(img, stack), WATERSHED_CUTS.index(100)),
        ):
            t = time.perf_counter()
            res.add(make(), truth, default)
            res.seconds += time.perf_counter() - t
    return [felz, slic, km, bank, vo, wsh]


# ---- report ---------------------------------------------------------------------------
def mean_over_seeds(runs: list[dict]) -> dict:
    """Means (and the spread) over seeds of runs' :meth:`Result.summary`."""
    out = {k: float(np.mean([r[k] for r in runs])) for k in ("best", "default", "levels", "regions", "seconds")}
    per_image = [s[d] for r in runs for s, d in zip(r["per_image"], r["default_levels"])]
    out["default_min"], out["default_std"] = float(np.min(per_image)), float(np.std(per_image))
    if len(runs) > 1:
        out["spread"] = (float(np.ptp([r["best"] for r in runs])), float(np.ptp([r["default"] for r in runs])))
    return out


def combine(saved: list[dict]) -> dict:
    """Runs saved with --json (the same sets, other seeds) as one run over all their seeds;
    baselines, which use no seed, from the first."""
    raw: dict = {}
    for run in saved:
        for name, methods in run["raw"].items():
            for method, summaries in methods.items():
                have = raw.setdefault(name, {}).setdefault(method, [])
                if method in OURS or not have:
                    have.extend(summaries)
    metas = [run["meta"] for run in saved]
    revisions = list(dict.fromkeys(m["revision"] for m in metas))
    meta = {"started": min(m["started"] for m in metas), "finished": max(m["finished"] for m in metas),
            "revision": " + ".join(revisions), "seeds": [s for m in metas for s in m["seeds"]],
            "commands": [c for m in metas for c in m["commands"]], "settings": metas[0].get("settings", [])}
    tables = {name: {k: mean_over_seeds(v) for k, v in methods.items()} for name, methods in raw.items()}
    return {"tables": tables, "raw": raw, "meta": meta}


def cell(s: dict, levels: bool = True) -> str:
    text = f"{s['best']:.3f} / {s['default']:.3f}"
    if levels:
        text += (f" (min {s.get('default_min', float('nan')):.2f}, sd {s.get('default_std', float('nan')):.2f};"
                 f" {s['levels']:.0f} lv, {s['regions']:.0f} rg)")
    return text


def checks(name: str, table: dict) -> list[str]:
    """The issue's targets for one set, as 'yes'/'NO' lines."""
    c, u, v = table["CUTS (napari-cuts run)"], table["untrained encoder"], table["no vectors"]
    base = [table[k] for k in table if k not in OURS]
    best_fixed = max(b["default"] for b in base)
    best_best = max(b["best"] for b in base)
    lines = [
        (f"default {c['default']:.3f} >= best baseline fixed {best_fixed:.3f}", c["default"] >= best_fixed),
        (f"best {c['best']:.3f} >= best baseline best {best_best:.3f}", c["best"] >= best_best),
        (f"trained >= untrained - 0.02 (best {c['best'] - u['best']:+.3f}, default {c['default'] - u['default']:+.3f})",
         c["best"] >= u["best"] - 0.02 and c["default"] >= u["default"] - 0.02),
        (f"at most 64 levels ({c['levels']:.1f})", c["levels"] <= 64),
    ]
    if "watershed hierarchy" in table:
        w = table["watershed hierarchy"]["best"]
        lines.append((f"best {c['best']:.3f} >= watershed hierarchy best {w:.3f}", c["best"] >= w))
    # the figures before the engine with basins (6a77342, four seeds): within 0.02
    before = {"retina-dev": (0.920, 0.891), "texture-dev": (0.789, 0.656)}
    if name in before:
        b, d = before[name]
        lines.append((f"within 0.02 of {b} / {d} ({c['best']:.3f} / {c['default']:.3f})",
                      c["best"] >= b - 0.02 and c["default"] >= d - 0.02))
    if name == "texture-dev":
        gain_b = c["best"] - max(u["best"], v["best"])
        gain_d = c["default"] - max(u["default"], v["default"])
        lines.append((f"trained beats both ablations by >= 0.10 (best {gain_b:+.3f}, default {gain_d:+.3f})",
                      gain_b >= 0.10 and gain_d >= 0.10))
    return [f"{'yes' if ok else 'NO '} {text}" for text, ok in lines]


def section_title(settings: list[str], sets: list[str]) -> str:
    """The docs section of a run: the whole panel with defaults has its own; a run with
    settings, or on some sets only, is named after them (and leaves that one alone)."""
    whole = sorted(sets) == sorted(p.name for p in PANEL.glob("*") if (p / "images").is_dir())
    if whole and not settings:
        return "Panel: every labelled set"
    return "Panel" + ("" if whole else f" on {', '.join(sets)}") + (f" with {', '.join(settings)}" if settings else "")


OURS = ("CUTS (napari-cuts run)", "untrained encoder", "no vectors", "default-level stage off")
ORDER = ["CUTS (napari-cuts run)", "untrained encoder", "no vectors", "default-level stage off", "Felzenszwalb", "SLIC",
         "k-means on intensities", "filter bank + k-means", "Voronoi-Otsu", "watershed hierarchy"]


def report(tables: dict, meta: dict) -> tuple[str, str]:
    """The text table and the docs section of a run (means over seeds per set)."""
    names = [n for n in ORDER if any(n in t for t in tables.values())]
    header = ["set"] + names
    rows = [[s] + [cell(t[n], n in OURS) if n in t else "–" for n in names] for s, t in tables.items()]
    verdicts = []
    for s, t in tables.items():
        if all(n in t for n in ORDER[:3]) and len(t) > 3:
            verdicts.append(f"{s}:")
            verdicts += [f"  {line}" for line in checks(s, t)]
    text = C.text_table(header, rows) + "\n\n" + "\n".join(verdicts)
    commands = "\n".join(f".venv/bin/{c}" for c in meta["commands"])
    settings_text = ("defaults but " + ", ".join(f"`{x}`" for x in meta.get("settings", []))
                     + " (for the ablations too)") if meta.get("settings") else "defaults"
    body = f"""Command (from the repository root), {meta['started']} to {meta['finished']}, commit {meta['revision']}, seeds {meta['seeds']}:

```bash
{commands}
```

Mean per-object Dice, **best level / default level** (baselines: best of their sweep / their
fixed setting), mean over seeds; for CUTS and its ablations also the lowest and the spread
(sd) of the per-image default-level scores, the levels offered (lv) and the regions at the
default level (rg). *CUTS* is `napari-cuts run IMAGES -o OUT --seed S`
with {settings_text}, scored from the files it writes; *untrained*: the same pipeline with an
encoder fitted at learning rate 0; *no vectors*: `vector_weight=0`; *default-level stage
off*: the encoder of the CUTS run with `default_rule=persistent` (the level that lasted
longest, the CUTS paper's choice). Baselines: Felzenszwalb
(scales {FELZ_SCALES[-1]}..{FELZ_SCALES[0]}, fixed 100, sigma 0.8, min_size 20, per slice for
stacks), SLIC-zero ({SLIC_SEGMENTS[0]}..{SLIC_SEGMENTS[-1]} segments, fixed 100), k-means on
intensities (k {KM_RANGE[0]}..{KM_RANGE[-1]}, fixed 5), `multiscale_basic_features`
(sigma 1..16, standardised) + k-means (k {BANK_RANGE[0]}..{BANK_RANGE[-1]}, fixed 5),
Voronoi-Otsu labelling (spot sigma {VORONOI_SPOTS[0]}..{VORONOI_SPOTS[-1]} x outline sigma
{VORONOI_OUTLINES[0]}..{VORONOI_OUTLINES[-1]}, fixed 2 / 2, colour channels averaged, 3D for
stacks), higra's watershed hierarchy by area of the Sobel gradient (sigma 1; cuts at
{WATERSHED_CUTS[0]}..{WATERSHED_CUTS[-1]} regions, fixed 100; 3D for stacks), all on
0..1 images. Protocol: per object the region covering most of its pixels; the image's score
is the mean Dice over its objects.

{C.markdown_table(header, rows)}

Targets of the engine issue (yes / NO):

```
{chr(10).join(verdicts)}
```
"""
    return text, body


def parse_settings(items: list[str]) -> tuple[dict, list[str]]:
    """``FIELD=VALUE`` segmentation settings: as config values and as CLI flags."""
    from napari_cuts.config import SegmentConfig
    from napari_cuts.parameters import parameters

    known = {p.name: p for p in parameters(SegmentConfig)}
    values, flags = {}, []
    for item in items:
        name, _, text = item.partition("=")
        if name not in known:
            raise SystemExit(f"panel: --set {item}: not a segmentation setting")
        values[name] = known[name].kind(text)
        flags += [known[name].flag, text]
    return values, flags


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, help="sets (default: every set in ../shared/data)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--no-ablations", dest="ablations", action="store_false")
    parser.add_argument("--no-baselines", dest="baselines", action="store_false")
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--json", type=Path, help="save every per-image score (and the run's details) here")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="FIELD=VALUE",
                        help="a segmentation setting for CUTS and its ablations (e.g. z_spacing=2.7); "
                             "the docs section is then named after the settings")
    parser.add_argument("--report", type=Path, nargs="+", metavar="JSON",
                        help="no new run: print and write the report of a run saved with --json "
                             "(of several: one report over all their seeds)")
    args = parser.parse_args(argv)
    settings, flags = parse_settings(args.settings)
    given = argv if argv is not None else sys.argv[1:]  # no machine's paths in the docs: file names only
    command = "python benchmarks/panel.py" + " ".join([""] + [Path(a).name if os.path.isabs(a) else a for a in given])
    if args.report:
        saved = combine([json.loads(p.read_text()) for p in args.report])
        meta = dict(saved["meta"], commands=saved["meta"]["commands"] + [command])
        text, body = report(saved["tables"], meta)
        print(text)
        if args.write:
            print(f"wrote {C.write_section(section_title(saved['meta'].get('settings', []), list(saved['tables'])), body)}")
        return 0
    folders = args.folders or sorted((p for p in PANEL.glob("*") if (p / "images").is_dir()),
                                     key=lambda p: (not p.name.startswith("real-"), p.name))
    if not folders:
        print(f"panel: no sets found in {PANEL}; skipped")
        return 0
    started, revision = C.now(), C.git_revision()
    print(f"panel: {[f.name for f in folders]}, seeds {args.seeds}; load {C.load()}", flush=True)
    tables, raw = {}, {}
    for folder in folders:
        ids, paths, images, labels = load_set(folder)
        if not ids:
            continue
        runs: dict[str, list[Result]] = {}
        for seed in args.seeds:
            found = cuts_cli(paths, labels, seed, flags, settings, images if args.ablations else None)
            if args.ablations:
                found += ablations(images, labels, seed, settings)
            for r in found:
                runs.setdefault(r.name, []).append(r)
                print(f"  {folder.name} seed {seed} {r.name}: {r.best:.3f} / {r.fixed:.3f} "
                      f"({r.levels:.1f} levels, {np.mean(r.regions):.0f} regions, {r.seconds:.1f} s)", flush=True)
        if args.baselines:
            for r in baselines(images, labels):
                runs[r.name] = [r]
                print(f"  {folder.name} {r.name}: {r.best:.3f} / {r.fixed:.3f} ({r.seconds:.1f} s)", flush=True)
        tables[folder.name] = {k: mean_over_seeds([r.summary() for r in v]) for k, v in runs.items()}
        raw[folder.name] = {k: [r.summary() for r in v] for k, v in runs.items()}
    meta = {"started": started, "finished": C.now(), "revision": revision, "seeds": args.seeds,
            "commands": [command], "settings": args.settings}
    text, body = report(tables, meta)
    print()
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"tables": tables, "raw": raw, "meta": meta}, indent=1))
    if args.write and args.ablations and args.baselines:
        print(f"wrote {C.write_section(section_title(args.settings, list(tables)), body)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
