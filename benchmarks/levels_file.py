"""How large is a levels file, and how long does writing it take? A real segmentation of a
1024x1024 photo (scikit-image's astronaut, upscaled; a briefly trained encoder), written
as napari-cuts writes it (deflate) and, as the baseline in the same run, uncompressed.

    .venv/bin/python benchmarks/levels_file.py        # about 1-2 minutes on 2 cores

Writes its table to docs/benchmarks.md; the last line printed is
``levels_file: levels=L compressed_mb=X uncompressed_mb=Y size_ratio=R write_ratio=W``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import git_revision, load, markdown_table, now, text_table, write_section  # noqa: E402

SECTION = "Size of a levels file"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()

    import numpy as np
    import skimage.data
    import skimage.transform
    import tifffile

    from napari_cuts.config import TrainingConfig
    from napari_cuts.engine.pipeline import fit, segment
    from napari_cuts.formats.writing import read_labels_tiff, save_labels_tiff, smallest_label_dtype

    photo = skimage.transform.resize(skimage.data.astronaut(), (args.size, args.size), order=1)
    photo = (photo * 255).astype(np.uint8)
    encoder = fit([photo], TrainingConfig(epochs=2, steps_per_epoch=10))
    levels = segment(encoder, photo).levels()
    tmp = Path(tempfile.mkdtemp(prefix="levels-file-"))
    loads = [load()[0]]

    t0 = time.perf_counter()
    packed = save_labels_tiff(tmp / "astronaut.cuts", levels, levels=True)
    t_packed = time.perf_counter() - t0
    data = levels.astype(smallest_label_dtype(int(levels.max())), copy=False)
    t0 = time.perf_counter()
    tifffile.imwrite(tmp / "plain.tif", data, metadata={"axes": "TYX"})  # the baseline
    t_plain = time.perf_counter() - t0
    loads.append(load()[0])
    assert np.array_equal(read_labels_tiff(packed), levels)  # lossless

    mb = {"deflate": packed.stat().st_size / 1e6, "none": (tmp / "plain.tif").stat().st_size / 1e6}
    header = ["compression", "file (MB)", "write (s)"]
    rows = [["deflate (napari-cuts)", f"{mb['deflate']:.2f}", f"{t_packed:.2f}"],
            ["none (baseline)", f"{mb['none']:.1f}", f"{t_plain:.2f}"]]
    print(text_table(header, rows))
    size_ratio, write_ratio = mb["deflate"] / mb["none"], t_packed / max(t_plain, 1e-6)
    if not args.no_docs:
        body = (
            f"`python benchmarks/levels_file.py` ({now()}, commit {git_revision()}): the "
            f"{len(levels)} levels ({data.dtype}) of a {args.size}x{args.size} photo "
            "(scikit-image's astronaut, upscaled; an encoder trained for 20 steps), written by "
            "`save_labels_tiff` (deflate, lossless: read back equal) and, as the baseline, "
            f"uncompressed; load average {min(loads):.1f}-{max(loads):.1f} on 2 cores.\n\n"
            + markdown_table(header, rows)
            + f"\n\nThe compressed file is {size_ratio:.1%} of the uncompressed one; writing it "
            f"takes {write_ratio:.1f}x as long.\n"
        )
        print("wrote", write_section(SECTION, body))
    print(f"levels_file: levels={len(levels)} compressed_mb={mb['deflate']:.2f} "
          f"uncompressed_mb={mb['none']:.1f} size_ratio={size_ratio:.4f} write_ratio={write_ratio:.2f}")


if __name__ == "__main__":
    main()
