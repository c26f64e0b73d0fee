"""Screenshots of the annotation widgets (docs/annotations.md) on real results.

Trains a small encoder on each of the package's sample images, segments the fundus
photograph with the Segment widget, then uses the Pick and merge, Ordered components,
Measure regions and Scribble refinement widgets as a person would. Runs headless:
without a display it restarts itself under ``xvfb-run`` (never the ``offscreen`` Qt
platform, whose canvas is black).

    .venv/bin/python docs/make_annotation_screenshots.py          # about 3-5 min on 2 cores
    .venv/bin/python docs/make_annotation_screenshots.py --quick  # tiny training, checks the script

Writes docs/images/annotations-*.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_screenshots import IMAGES, WINDOW, ensure_display, settle, wait_until  # noqa: E402
from make_screenshots import save_window as _save  # noqa: E402

PLUGIN = "napari-cuts"


def save_window(viewer, name: str) -> None:
    settle(1.0)
    _save(viewer, name)


def new_viewer(title: str):
    import napari

    viewer = napari.Viewer(show=True, title=title)
    viewer.window.resize(*WINDOW)
    return viewer


def train(image: np.ndarray, epochs: int, quick: bool, name: str):
    from napari_cuts.engine.pipeline import fit
    from napari_cuts.engine.training import TrainingConfig

    config = TrainingConfig(epochs=2, steps_per_epoch=3, batch_size=4) if quick else \
        TrainingConfig(epochs=epochs)
    started = time.monotonic()
    encoder = fit([image], config, names=[name])
    print(f"trained on {name} in {time.monotonic() - started:.0f} s")
    return encoder


def retina_screens(args) -> None:
    """Segment the fundus photo, pick optic disc and fovea, name and measure them."""
    from napari_cuts.plugin.widgets._state import encoder_state
    from napari_cuts.samples import retina_sample

    image = retina_sample()
    viewer = new_viewer("napari-cuts: from clusters to annotations")
    viewer.add_image(image, name="retina", rgb=True)
    encoder_state(viewer).encoder = train(image, args.epochs, args.quick, "retina")
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "All steps (one panel)")
    segmenter = panel.show_step("Segment")
    segmenter.run_button.click()
    wait_until(lambda: not segmenter.is_busy)
    level = segmenter.result_layer()
    if level is None:
        sys.exit("the segmentation produced no layers")
    level.contour = 1  # region outlines: what a click picks
    level.opacity = 0.8

    # Pick and merge: the optic disc (brightest spot) as class 1, the fovea as class 2.
    picker = panel.show_step("Pick")
    picker.levels.value = level
    annotation = picker.new_annotation()
    annotation.opacity = 0.6
    picker.fill.value = True
    picker.min_size.value = 20
    luminance = image.astype(float) @ (0.2125, 0.7154, 0.0721)
    disc = np.unravel_index(np.argmax(luminance), luminance.shape)
    size = image.shape[0]
    picker.connected.value = True  # a CUTS region may have pieces elsewhere: only this one
    picker.class_id.value = 1
    for dx in (0, -size / 30, size / 30):  # the disc's centre and rim
        picker.pick_at((disc[0], disc[1] + dx))
    picker.class_id.value = 2
    picker.pick_at((size / 2, size / 2 + size / 40))  # the fovea, just right of the centre
    viewer.layers.selection.active = annotation
    save_window(viewer, "annotations-pick.png")

    # Ordered components: the two annotated structures, named left to right.
    components = panel.show_step("Components")
    components.source.value = annotation
    components.order.value = "left-right"
    components.min_size.value = 20
    components.names.value = "optic disc,fovea"
    components.run_button.click()
    wait_until(lambda: not components.is_busy)
    level.visible = False
    annotation.visible = False
    viewer.layers["retina annotation components"].opacity = 0.5
    save_window(viewer, "annotations-components.png")

    # Measure: every region of the level on screen; a row click selects its region.
    annotation.visible = False
    for layer in viewer.layers:
        if layer.name.startswith("retina annotation "):
            layer.visible = False
    level.visible = True
    level.contour = 0
    level.opacity = 0.7
    viewer.layers.selection.active = level
    measurer = panel.show_step("Measure")
    measurer.labels.value = level
    measurer.run_button.click()
    wait_until(lambda: not measurer.is_busy)
    measurer.show_selected.value = True
    from napari_cuts.plugin.widgets._layers import labels_on_screen

    centre = int(labels_on_screen(viewer, level)[image.shape[0] // 2, image.shape[1] // 2])
    labels = [int(v) for v in measurer.table["label"]]
    measurer.select_row(labels.index(centre) if centre in labels else 0)  # the region at the centre
    save_window(viewer, "annotations-measure.png")
    viewer.close()


def mosaic_screens(args) -> None:
    """Three strokes on the texture mosaic; every pixel labelled from them."""
    from napari_cuts.plugin.widgets._state import encoder_state
    from napari_cuts.samples import texture_mosaic

    image, _truth = texture_mosaic()
    viewer = new_viewer("napari-cuts: scribble refinement")
    viewer.add_image(image, name="texture mosaic")
    encoder_state(viewer).encoder = train(image, args.epochs, args.quick, "texture mosaic")
    _, panel = viewer.window.add_plugin_dock_widget(PLUGIN, "All steps (one panel)")
    refiner = panel.show_step("Refine")
    scribbles = refiner.new_scribbles()
    n = image.shape[0]
    strokes = [  # (rows, columns, class): brick left, grass right, gravel disc centre
        (slice(n // 12, 3 * n // 8), slice(n // 5, n // 5 + 3), 1),
        (slice(3 * n // 4, 3 * n // 4 + 3), slice(n // 32, 5 * n // 16), 1),
        (slice(n // 8, n // 8 + 3), slice(5 * n // 8, 15 * n // 16), 2),
        (slice(9 * n // 16, 15 * n // 16), slice(7 * n // 8, 7 * n // 8 + 3), 2),
        (slice(n // 2 - 1, n // 2 + 2), slice(2 * n // 5, 3 * n // 5), 3),
    ]
    for rows, cols, value in strokes:
        yy, xx = np.mgrid[rows, cols]
        with scribbles.block_history():
            scribbles.data_setitem((yy.ravel(), xx.ravel()), np.full(yy.size, value, np.uint8))
    wait_until(lambda: "texture mosaic refined" in viewer.layers and not refiner.is_busy)
    save_window(viewer, "annotations-refine.png")
    viewer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny training (checks the script)")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    ensure_display()
    # Own napari settings (the user's stay untouched); no notification toasts on the pictures.
    os.environ["NAPARI_CONFIG"] = str(Path(tempfile.mkdtemp()) / "settings.yaml")
    from napari.settings import get_settings

    get_settings().application.gui_notification_level = "error"
    IMAGES.mkdir(parents=True, exist_ok=True)
    mosaic_screens(args)
    retina_screens(args)


if __name__ == "__main__":
    main()
