"""Does the panel segment and train as fast as the command line? The same image, the same
settings, in one run: ``napari-cuts run`` (its own timings of training and segmenting,
without start-up) against the panel's Train and Segment buttons in a real napari viewer
(from the click until the encoder is active, or the levels are on screen).

    .venv/bin/python benchmarks/panel_vs_cli.py             # coins, 2 rounds: 4-6 minutes
    .venv/bin/python benchmarks/panel_vs_cli.py --rounds 1 --epochs 2   # to test the script

Rounds alternate CLI and panel, so background load hits both alike; the ratio is
panel / CLI of the medians. Without a display it restarts itself under ``xvfb-run``.
Writes its table to docs/benchmarks.md; the last line printed is
``panel_vs_cli: segment_ratio=R train_ratio=R``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import git_revision, load, markdown_table, now, text_table, write_section  # noqa: E402
from make_screenshots import ensure_display, wait_until  # noqa: E402

CLI = str(Path(sys.executable).parent / "napari-cuts")
SECTION = "Panel against the command line"


def cli_times(image: Path, out: Path, epochs: int) -> tuple[float, float]:
    """(training s, segmenting s) as ``napari-cuts run`` reports them."""
    done = subprocess.run([CLI, "run", str(image), "-o", str(out), "--epochs", str(epochs),
                           "--no-progress"], capture_output=True, text=True, check=True)
    train = float(re.search(r"^encoder: .*; ([\d.]+) s\)$", done.stdout, re.M).group(1))
    segment = float(re.search(r"^coins: .*\(([\d.]+) s\)$", done.stdout, re.M).group(1))
    return train, segment


class Panel:
    """The panel in a shown viewer, with the coins image open."""

    def __init__(self, pixels) -> None:
        import napari

        from napari_cuts.plugin.widgets import _workers

        self.viewer = napari.Viewer(show=True)
        self.viewer.window._qt_window.resize(1280, 800)  # benchmark only: a laptop's window
        self.viewer.add_image(pixels, name="coins")
        _, self.panel = self.viewer.window.add_plugin_dock_widget("napari-cuts", "All steps (one panel)")
        from napari_cuts.plugin.widgets import _engine

        # as a user who opened the panel a moment ago: its engine process has started (the
        # command line's own timings leave out its start-up too)
        wait_until(_workers.warm_up_done.is_set)
        wait_until(lambda: all(e._ready.is_set() for e in list(_engine._idle)))
        time.sleep(1.0)
        self.train, self.segment = self.panel.steps["Train"], self.panel.steps["Segment"]

    def train_seconds(self, epochs: int) -> float:
        self.panel.show_step("Train")
        self.train.form["epochs"].value = epochs
        t0 = time.perf_counter()
        self.train.train_button.click()
        wait_until(lambda: not self.train.is_busy)
        return time.perf_counter() - t0

    def segment_seconds(self) -> float:
        self.panel.show_step("Segment")
        t0 = time.perf_counter()
        self.segment.run_button.click()
        wait_until(lambda: not self.segment.is_busy)
        assert self.segment.result_layer() is not None
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the default)")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    ensure_display()

    import skimage.data
    import skimage.io

    from napari_cuts.config import TrainingConfig

    epochs = args.epochs or TrainingConfig().epochs
    pixels = skimage.data.coins()
    tmp = Path(tempfile.mkdtemp(prefix="panel-vs-cli-"))
    image = tmp / "coins.png"
    skimage.io.imsave(image, pixels, check_contrast=False)
    panel = Panel(pixels)
    times: dict[str, list[float]] = {"cli train": [], "cli segment": [], "panel train": [],
                                     "panel segment": []}
    loads = [load()[0]]
    for r in range(args.rounds):
        train, segment = cli_times(image, tmp / f"cli{r}", epochs)
        times["cli train"].append(train)
        times["cli segment"].append(segment)
        times["panel train"].append(panel.train_seconds(epochs))
        times["panel segment"].append(panel.segment_seconds())
        loads.append(load()[0])
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = {"train": med["panel train"] / med["cli train"],
             "segment": med["panel segment"] / med["cli segment"]}
    header = ["step", "command line (s)", "panel (s)", "panel / command line"]
    rows = [[step, f"{med['cli ' + step]:.1f}", f"{med['panel ' + step]:.1f}", f"{ratio[step]:.2f}"]
            for step in ("train", "segment")]
    print(text_table(header, rows))
    if not args.no_docs:
        body = (
            f"`python benchmarks/panel_vs_cli.py --rounds {args.rounds}"
            + (f" --epochs {args.epochs}" if args.epochs else "") + f"` ({now()}, commit "
            f"{git_revision()}): scikit-image's coins ({pixels.shape[1]}x{pixels.shape[0]}), "
            f"{epochs} epochs, default settings; the command line's own timings of training "
            "and segmenting (`napari-cuts run`, without start-up) against the panel's *Train* "
            "and *Segment* (from the click until the encoder is active, or the levels are on "
            "screen) in a shown 1280x800 viewer under Xvfb; median of "
            f"{args.rounds} alternating rounds; load average {min(loads):.1f}-{max(loads):.1f} "
            "on 2 cores.\n\n" + markdown_table(header, rows) + "\n"
        )
        print("wrote", write_section(SECTION, body))
    print(f"panel_vs_cli: segment_ratio={ratio['segment']:.2f} train_ratio={ratio['train']:.2f}")
    panel.viewer.close()


if __name__ == "__main__":
    main()
