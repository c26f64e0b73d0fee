"""Make the user guide's screenshots: real widgets, real training, real results.

Runs headless: without a display it restarts itself under ``xvfb-run`` (Xvfb + the
normal xcb Qt platform; the ``offscreen`` platform renders a black canvas).

    .venv/bin/python docs/make_screenshots.py            # 2-6 minutes on 2 cores
    .venv/bin/python docs/make_screenshots.py --quick    # tiny training, to test the script

Writes PNG files into docs/images/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

IMAGES = Path(__file__).resolve().parent / "images"
WINDOW = (1280, 800)  # the small screen napari-cuts must fit


def ensure_display() -> None:
    """Restart under xvfb-run when there is no X display."""
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        os.environ.pop("QT_QPA_PLATFORM")
    if os.environ.get("DISPLAY"):
        return
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None:
        sys.exit("no X display and no xvfb-run: install xvfb (see ../shared/HEADLESS.md)")
    screen = f"-screen 0 {WINDOW[0] + 100}x{WINDOW[1] + 100}x24"
    os.execv(xvfb_run, [xvfb_run, "-a", "-s", screen, sys.executable, *sys.argv])


def wait_until(condition, timeout: float = 1800.0) -> None:
    """Run the Qt event loop until `condition()` is true."""
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("timed out waiting for napari-cuts")
        app.processEvents()
        time.sleep(0.02)


def settle(seconds: float = 0.5) -> None:
    """Let napari draw."""
    end = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() > end)


def save_window(viewer, name: str) -> Path:
    path = IMAGES / name
    viewer.reset_view()  # the whole image in the canvas the docks leave
    settle(0.3)
    viewer.screenshot(path=str(path), canvas_only=False, flash=False)
    print("wrote", path)
    return path


def save_widget(widget, name: str) -> Path:
    path = IMAGES / name
    widget.grab().save(str(path))
    print("wrote", path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny training (checks the script)")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    ensure_display()
    IMAGES.mkdir(parents=True, exist_ok=True)
    # A throwaway napari configuration: the user's settings neither change nor show up.
    os.environ["NAPARI_CONFIG"] = os.path.join(tempfile.mkdtemp(), "settings.yaml")

    import napari
    from napari.settings import get_settings

    get_settings().application.gui_notification_level = "error"  # no info toasts on the canvas

    viewer = napari.Viewer(show=True, title="napari-cuts")
    viewer.window.resize(*WINDOW)
    viewer.open_sample("napari-cuts", "retina")
    _, panel = viewer.window.add_plugin_dock_widget("napari-cuts", "All steps (one panel)")
    trainer = panel.show_step("Train")
    settle(1.0)
    save_window(viewer, "panel-train.png")  # the whole window: the panel next to the image

    # 1. Train an encoder on the fundus photo (defaults, fewer epochs).
    form = trainer.form
    if args.quick:
        form["epochs"].value, form["steps_per_epoch"].value, form["batch_size"].value = 2, 3, 4
    else:
        form["epochs"].value = args.epochs
    started = time.monotonic()
    trainer.train_button.click()
    total = form["epochs"].value * form["steps_per_epoch"].value
    wait_until(lambda: len(trainer.loss_plot.step_losses) >= total // 2 or not trainer.is_busy)
    settle()
    save_widget(panel, "train-widget-running.png")
    wait_until(lambda: not trainer.is_busy)
    print(f"trained in {time.monotonic() - started:.0f} s: {trainer.state.describe()}")
    panel.show_step("Train")  # the panel went on to Segment by itself; show the result first
    settle()
    save_widget(panel, "train-widget-done.png")

    # 2. Segment with it (the panel moved to its tab); the default level is shown.
    segmenter = panel.show_step("Segment")
    started = time.monotonic()
    segmenter.run_button.click()
    wait_until(lambda: not segmenter.is_busy)
    print(f"segmented in {time.monotonic() - started:.0f} s: {segmenter.status.text()}")
    levels = segmenter.result_layer()
    if levels is None:
        sys.exit("the segmentation produced no layer")
    levels.opacity = 0.55
    n = len(levels.data)
    settle(1.0)
    save_window(viewer, "segment-default-level.png")
    save_widget(panel, "segment-widget.png")
    segmenter.form.advanced.expand(animate=False)  # what the Advanced fold holds
    settle(0.5)
    save_widget(panel, "segment-advanced.png")
    segmenter.form.advanced.collapse(animate=False)

    # 3. Coarse, middle and fine levels through the slider (canvas only).
    for name, position in (("coarse", 0), ("middle", n // 2), ("fine", n - 1)):
        segmenter.level_slider.setValue(position)
        viewer.reset_view()
        settle(1.0)
        path = IMAGES / f"level-{name}.png"
        viewer.screenshot(path=str(path), canvas_only=True, flash=False)
        print("wrote", path, "-", segmenter.level_label.text())
    segmenter.show_level(levels.metadata["napari_cuts"]["default"])

    # 4. Every napari-cuts dock open at once, in the 1280x800 window.
    for name in ("Train encoder", "Segment", "Pick and merge", "Scribble refinement",
                 "Ordered components", "Measure regions"):
        viewer.window.add_plugin_dock_widget("napari-cuts", name)
    settle(1.0)
    save_window(viewer, "docks-all.png")
    viewer.close()

    # 5. The result as the command line writes it, opened as the README says (new viewer).
    out = Path(tempfile.mkdtemp()) / "out"
    photo = out.parent / "retina.png"
    from skimage.io import imsave

    from napari_cuts.samples import retina_sample

    imsave(photo, retina_sample(), check_contrast=False)
    from napari_cuts.cli.main import main as cli

    cli(["run", str(photo), "-o", str(out), "--epochs", "2" if args.quick else str(args.epochs),
         "--no-progress"])
    viewer = napari.Viewer(show=True, title="napari-cuts")
    viewer.window.resize(*WINDOW)
    viewer.open([str(photo), str(out / "retina.cuts")], plugin=None)  # napari picks the reader
    settle(1.0)
    save_window(viewer, "open-from-disk.png")
    viewer.close()

    # 6. A real stained tissue with nuclei (scikit-image's immunohistochemistry sample, bundled
    # with scikit-image): the default level's outlines over the image, whole and zoomed in.
    from skimage import data

    tissue = out.parent / "ihc.png"
    imsave(tissue, data.immunohistochemistry(), check_contrast=False)
    cli(["run", str(tissue), "-o", str(out), "--epochs", "2" if args.quick else str(args.epochs),
         "--no-progress"])
    viewer = napari.Viewer(show=True, title="napari-cuts")
    viewer.window.resize(*WINDOW)
    viewer.open([str(tissue), str(out / "ihc.cuts")], plugin=None)
    levels = viewer.layers[-1]
    levels.contour = 1  # outlines only, over the image
    levels.opacity = 0.9
    settle(1.0)
    viewer.reset_view()
    settle(1.0)
    path = IMAGES / "default-level-real-tissue.png"
    viewer.screenshot(path=str(path), canvas_only=True, flash=False)
    viewer.camera.zoom *= 4
    viewer.camera.center = (0, 300, 300)
    settle(1.0)
    path = IMAGES / "default-level-real-tissue-zoom.png"
    viewer.screenshot(path=str(path), canvas_only=True, flash=False)
    print("wrote", path)
    viewer.close()


if __name__ == "__main__":
    main()
