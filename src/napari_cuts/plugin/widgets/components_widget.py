"""Dock widget: split a mask into objects numbered along the structure, and name them."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
from napari.layers import Labels, Points
from napari.utils.notifications import show_info, show_warning
from qtpy.QtWidgets import QLabel, QPushButton, QWidget

from napari_cuts.annotation.components import ordered_components
from napari_cuts.annotation.measure import layer_features
from napari_cuts.config import ComponentsConfig
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.plugin.widgets._annotation_common import (
    ask_csv_path,
    choose,
    export_csv,
    find_made_layer,
    follow_level_on_screen,
    follows,
    kind_of,
    labels_combo,
    made_layer_kwargs,
    put_labels,
    refused,
    run_job,
)
from napari_cuts.plugin.widgets._common import WidgetLife, column, file_name
from napari_cuts.plugin.widgets._form import ConfigForm
from napari_cuts.plugin.widgets._layers import labels_on_screen, spatial_ndim


class ComponentsWidget(QWidget):
    """Connected objects of a labels layer, numbered in order and named (e.g. C1-C7,T1-T12)."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._life = WidgetLife(self)
        self._worker = None
        self.table: dict | None = None

        self.source = labels_combo(
            napari_viewer, "mask", "Labels layer to split into objects (e.g. an annotation)",
            keep=lambda lay: kind_of(lay) != "components",
            first=lambda lay: kind_of(lay) == "annotation")
        self.form = ConfigForm(ComponentsConfig, extra=(self.source,))
        self.class_id, self.min_size, self.order, self.reverse, self.names = (
            self.form[name] for name in ("class_id", "min_size", "order", "reverse", "names"))
        self.run_button = QPushButton("Find components")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Write the component table (id, name, area, ...) to CSV")
        self.export_button.setEnabled(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        column(self, self.form, [self.run_button, self.export_button], self.status)

        self.run_button.clicked.connect(self.run)
        self.export_button.clicked.connect(self.export)
        for event in ("inserted", "removed", "reordered"):
            getattr(napari_viewer.layers.events, event).connect(self.reset_choices)
        follow_level_on_screen(napari_viewer, self, self._on_level_shown)

    # ---- public API --------------------------------------------------------------
    @property
    def is_busy(self) -> bool:
        return self._worker is not None

    def reset_choices(self, *_args) -> None:
        if self._life.alive:
            self.source.reset_choices()

    def run(self) -> None:
        """Find, order and name the components of the chosen layer (in a worker)."""
        source = self.source.value
        if self._worker is not None:
            show_warning("Components are being computed; wait for them.")
            return
        if not isinstance(source, Labels):
            show_warning("Cannot find components: choose a labels layer (e.g. an annotation).")
            return
        try:
            kwargs = asdict(self.form.config())
        except CutsInputError as exc:
            show_warning(f"Cannot find components: {exc}.")
            return
        self.run_button.setEnabled(False)
        self.status.setText(f"finding the components of {source.name}…")
        self._worker = run_job(self._life, _components, labels_on_screen(self.viewer, source), kwargs,
                               on_done=lambda outcome: self._done(outcome, source))

    def export(self) -> str | None:
        """Write the component table to a CSV file chosen in a dialog."""
        return export_csv(self.table, self.ask_save_path)

    # ---- dialogs (tests replace this) -----------------------------------------
    def ask_save_path(self) -> str:
        return ask_csv_path(self, self.suggested_name())

    def suggested_name(self) -> str:
        """File name the export dialog offers, e.g. '<layer> components.csv'."""
        layer = self.source.value
        return file_name(layer.name if layer is not None else "", "components", suffix=".csv")

    # ---- internals ------------------------------------------------------------------
    def _on_level_shown(self, level: Labels) -> None:
        if self._life.alive and follows(self.source, level):
            choose(self.source, level)

    def _done(self, outcome: dict, source: Labels) -> None:
        self._worker = None
        self.run_button.setEnabled(True)
        result = outcome.get("result")
        if refused(outcome, "find components") or "error" in outcome or result is None:
            self.status.setText("no components")
            return
        if source not in self.viewer.layers:
            self.status.setText("the mask layer was removed; result discarded")
            return
        labels, table = result
        if not table["id"]:
            show_warning("No components found: the mask is empty (or all objects are smaller "
                         "than the minimum size).")
            self.status.setText("no components")
            return
        self.table = table
        self.export_button.setEnabled(True)
        put_labels(self.viewer, labels, "components", source, f"{source.name} components",
                   features=layer_features(table, key="id"))
        self._show_names(source, table)
        self.status.setText(f"{len(table['id'])} components: " + ", ".join(map(str, table["name"])))
        show_info(f"{len(table['id'])} components of '{source.name}' found.")

    def _show_names(self, source: Labels, table: dict) -> None:
        """Names as text at the centroids, in a Points layer (Labels layers have no text)."""
        old = find_made_layer(self.viewer.layers, "component names", source)
        if old is not None:
            self.viewer.layers.remove(old)
        axes = [a for a in "zyx" if f"centroid_{a}" in table]
        coords = np.column_stack([table[f"centroid_{a}"] for a in axes]).astype(float)
        lead = np.zeros((len(coords), spatial_ndim(source) - coords.shape[1]))
        points = Points(
            np.hstack([lead, coords]), features=table, size=1, face_color="transparent",
            border_color="transparent", text={"string": "{name}", "color": "yellow", "size": 12},
            **made_layer_kwargs("component names", source, f"{source.name} component names"))
        active = self.viewer.layers.selection.active
        self.viewer.add_layer(points)
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active


def _components(data, kwargs: dict):
    """Worker body: ordered components of a 2D or 3D label image."""
    return ordered_components(np.asarray(data), **kwargs)
