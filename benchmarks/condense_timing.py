"""Time condensation of one image's vectors, stage by stage, with SegmentConfig() defaults.

Usage: python benchmarks/condense_timing.py [--encoder ENCODER.pt]
Without --encoder, an encoder is fitted on the bundled fundus sample first (10 epochs).
Prints a table; paste it into docs/benchmarks.md with this command.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import napari_cuts  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)
from napari_cuts.condensation import PCA, assign_nearest, condense, kmeans
from napari_cuts.embedding import embed
from napari_cuts.encoder import load_encoder
from napari_cuts.hierarchy import build_hierarchy
from napari_cuts.pipeline import SegmentConfig, fit
from napari_cuts.samples import retina_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder")
    args = parser.parse_args()
    encoder = load_encoder(args.encoder) if args.encoder else fit([retina_sample()])
    cfg = SegmentConfig()
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("| vectors of | PCA s | k-means + assign s | condense + hierarchy s | total s | levels |")
    print("|---|---|---|---|---|---|")
    for size in (128, 512):
        vectors = embed(encoder, retina_sample(size)).reshape(-1, encoder.dim)
        rng = np.random.default_rng(cfg.seed)
        t0 = time.perf_counter()
        sample = vectors if len(vectors) <= cfg.pca_pixels else vectors[
            rng.choice(len(vectors), cfg.pca_pixels, replace=False)]
        reduced = PCA.fit(sample, cfg.pca_dims, whiten=cfg.whiten)(vectors)
        t1 = time.perf_counter()
        rows = reduced if len(reduced) <= cfg.kmeans_pixels else reduced[
            rng.choice(len(reduced), cfg.kmeans_pixels, replace=False)]
        centres = kmeans(rows, min(cfg.max_nodes, len(reduced) // cfg.pixels_per_node), seed=cfg.seed)
        nodes = assign_nearest(reduced, centres)
        t2 = time.perf_counter()
        weights = np.bincount(nodes, minlength=len(centres)).astype(float)
        keep = weights > 0
        result = condense(centres[keep], weights[keep], knn=cfg.knn,
                          merge_fraction=cfg.merge_fraction, epsilon_growth=cfg.epsilon_growth,
                          mass_power=cfg.mass_power)
        levels = build_hierarchy(result, weights[keep], max_regions=cfg.max_regions).n_levels
        t3 = time.perf_counter()
        print(f"| {size}x{size} | {t1 - t0:.2f} | {t2 - t1:.2f} | {t3 - t2:.2f} | {t3 - t0:.2f} | {levels} |")


if __name__ == "__main__":
    main()
