"""Pieces shared by the annotation dock widgets: layer choices, result layers, workers."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
from magicgui.widgets import ComboBox
from napari.layers import Image, Labels, Layer
from napari.qt.threading import GeneratorWorker, create_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import QWidget

from napari_cuts.annotation.measure import write_csv
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.plugin.widgets._common import WidgetLife, ask_save_path
from napari_cuts.plugin.widgets._layers import (
    META_KEY,
    add_keeping_selection,
    defer_paint_tools,
    is_levels_layer,
    result_key,
    result_layers,
)
from napari_cuts.plugin.widgets._workers import Refused, start_worker

#: Key in ``layer.metadata`` marking layers made by the annotation widgets.
ANNOTATION_KEY = "napari_cuts_annotation"
CSV_FILTER = "CSV (*.csv);;All files (*)"


def is_level_layer(layer: Layer) -> bool:
    """True for a levels layer of the Segment widget (or read from a levels file)."""
    return is_levels_layer(layer)


def kind_of(layer: Layer) -> str | None:
    """What an annotation widget made this layer for ('annotation', 'scribbles', ...)."""
    return layer.metadata.get(ANNOTATION_KEY, {}).get("kind")


def labels_combo(
    viewer, label: str, tooltip: str, keep: Callable[[Labels], bool] = lambda _: True,
    nullable: bool = False, first: Callable[[Labels], bool] = lambda _: False,
) -> ComboBox:
    """A combo box of the viewer's Labels layers that pass `keep`, those passing `first` first.

    Call its ``reset_choices()`` when the layer list changes.
    """

    def choices(_widget=None):
        found = [lay for lay in viewer.layers if isinstance(lay, Labels) and keep(lay)]
        # `first` ones first; among equals, the level on screen before hidden ones
        found.sort(key=lambda lay: (not first(lay), not (is_level_layer(lay) and lay.visible)))
        return [(lay.name, lay) for lay in found]

    return ComboBox(label=label, choices=choices, nullable=nullable, tooltip=tooltip)


def source_image(viewer, layer: Layer) -> Image | None:
    """The image layer a level or annotation layer was made from, if still in the viewer."""
    group = layer.metadata.get(META_KEY, {}).get("group") or layer.metadata.get(
        ANNOTATION_KEY, {}).get("source")
    for lay in viewer.layers:
        if isinstance(lay, Image) and result_key(lay) == group:
            return lay
    return None


def shown_level(viewer, layer: Labels) -> Labels:
    """The visible level layer of the same segmentation as `layer` (else `layer` itself)."""
    group = layer.metadata.get(META_KEY, {}).get("group")
    if not group or layer.visible:
        return layer
    shown = [lay for lay in result_layers(viewer.layers, group) if lay.visible]
    return shown[0] if shown else layer


def follow_level_on_screen(viewer, widget: QWidget, on_shown: Callable[[Labels], None]) -> None:
    """Call ``on_shown(level)`` whenever a level layer becomes the one on screen.

    The Segment widget's slider (or the user's eye button) shows one level at a time; the
    annotation tools use that one, not a hidden level that happens to be first.
    """
    def on_event(event) -> None:
        if event.type != "visible":
            return
        layer = event.sources[0]  # the layer; event.source is the layer list re-emitting
        if is_level_layer(layer) and layer.visible:
            on_shown(layer)

    viewer.layers.events.connect(on_event)
    widget.destroyed.connect(lambda *_: viewer.layers.events.disconnect(on_event))


def follows(combo: ComboBox, level: Labels) -> bool:
    """Whether `combo` should switch to the level on screen: it holds nothing, a level of
    the same segmentation, or a hidden level (a choice of another layer is kept)."""
    current = combo.value
    if current is None:
        return True
    if not is_level_layer(current):
        return False
    same = current.metadata[META_KEY].get("group") == level.metadata[META_KEY].get("group")
    return same or not current.visible


def choose(combo: ComboBox, layer: Layer | None) -> None:
    """Make `layer` the combo's value if it is one of its choices (refreshed first)."""
    if layer is None or combo.value is layer:
        return
    if layer not in combo.choices:
        combo.reset_choices()
    if layer in combo.choices:
        combo.value = layer


def spatial_shape(image: Image) -> tuple[int, ...]:
    """Shape of a label image that fits `image` (no colour axis)."""
    shape = tuple(image.data.shape)
    return shape[:-1] if image.rgb else shape


def find_made_layer(layers, kind: str, source: Layer) -> Layer | None:
    """The layer of `kind` an annotation widget made for `source`, if any."""
    for lay in layers:
        meta = lay.metadata.get(ANNOTATION_KEY, {})
        if meta.get("kind") == kind and meta.get("source") == result_key(source):
            return lay
    return None


def made_layer_kwargs(kind: str, source: Layer, name: str) -> dict:
    """Name, placement and marker metadata of a layer made for `source` (for a levels
    layer: placed as one of its levels)."""
    skip = 1 if is_levels_layer(source) else 0  # the level axis
    return {
        "name": name,
        "scale": np.asarray(source.scale, float)[skip:],
        "translate": np.asarray(source.translate, float)[skip:],
        "metadata": {ANNOTATION_KEY: {"kind": kind, "source": result_key(source)}},
    }


def put_labels(viewer, data: np.ndarray, kind: str, source: Layer, name: str,
               below: Layer | None = None, **kwargs) -> Labels:
    """Show `data` in the Labels layer of `kind` for `source`: updated in place, or new
    (placed right below the layer `below`, when given, in one insertion).

    The viewer's active layer stays the same, so painting goes on where it was.
    """
    layer = find_made_layer(viewer.layers, kind, source)
    features = kwargs.pop("features", None)
    if isinstance(layer, Labels) and layer.data.shape == data.shape:
        layer.data = data
        if features is not None:
            layer.features = features
        return layer
    if layer is not None:
        viewer.layers.remove(layer)
    layer = defer_paint_tools(
        Labels(data, features=features, **made_layer_kwargs(kind, source, name), **kwargs))
    # in one insertion (a move afterwards redraws again)
    index = viewer.layers.index(below) if below is not None and below in viewer.layers else None
    return add_keeping_selection(viewer, layer, index)


def _guarded(func: Callable, *args):
    """Run `func` (a plain function or a generator) in a worker; refusals become Refused."""
    try:
        result = func(*args)
        if inspect.isgenerator(result):
            result = yield from result
        return result
    except CutsInputError as exc:
        return Refused(str(exc))


def run_job(
    life: WidgetLife, func: Callable, *args,
    on_done: Callable[[dict], None], on_progress: Callable | None = None,
) -> GeneratorWorker:
    """Start `func(*args)` in a napari worker; `on_done(outcome)` runs once it ends.

    `outcome` has 'result' (the return value, or :class:`Refused`) or 'error', or
    neither when the worker was stopped with ``quit()``. Handlers are skipped once the
    widget is gone.
    """
    worker = create_worker(_guarded, func, *args, _start_thread=False)
    outcome: dict = {}
    if on_progress is not None:
        worker.yielded.connect(lambda item: life.alive and on_progress(item))
    worker.returned.connect(lambda result: outcome.setdefault("result", result))
    worker.errored.connect(lambda exc: outcome.setdefault("error", exc))

    def finished() -> None:
        life.workers.discard(worker)
        if life.alive:
            on_done(outcome)

    worker.finished.connect(finished)
    life.workers.add(worker)
    start_worker(worker)
    return worker


def refused(outcome: dict, what: str) -> bool:
    """Show a plain warning when the engine refused the input; True if it did."""
    result = outcome.get("result")
    if isinstance(result, Refused):
        show_warning(f"Cannot {what}: {result.message}.")
        return True
    return False


def export_csv(table: dict | None, ask: Callable[[], str]) -> str | None:
    """Write `table` to a CSV file chosen with `ask`; the path written, or None."""
    if not table:
        show_warning("Nothing to export yet: run the widget first.")
        return None
    path = ask()
    if not path:
        return None
    if not path.lower().endswith(".csv"):
        path += ".csv"
    try:
        write_csv(table, path)
    except OSError as exc:
        show_error(f"Could not write {path}: {exc.strerror or exc}")
        return None
    show_info(f"Table written to {path}")
    return path


def ask_csv_path(parent: QWidget, suggested: str = "") -> str:
    """A save dialog for a CSV file, offering the file name `suggested`; '' when cancelled."""
    return ask_save_path(parent, "Export table", CSV_FILTER, suggested)
