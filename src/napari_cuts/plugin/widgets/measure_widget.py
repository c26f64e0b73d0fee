"""Dock widget: one row of measurements per region; a click on a row selects the region."""

from __future__ import annotations

import math

import numpy as np
from magicgui.widgets import CheckBox
from napari.layers import Labels
from napari.utils.notifications import show_info, show_warning
from qtpy.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from napari_cuts.annotation.measure import layer_features, measure_regions
from napari_cuts.config import MeasureConfig
from napari_cuts.formats.errors import CutsInputError
from napari_cuts.plugin.widgets._annotation_common import (
    ask_csv_path,
    choose,
    export_csv,
    follow_level_on_screen,
    follows,
    kind_of,
    labels_combo,
    refused,
    run_job,
    source_image,
)
from napari_cuts.plugin.widgets._common import WidgetLife, column, file_name, image_layer_combo
from napari_cuts.plugin.widgets._form import ConfigForm
from napari_cuts.plugin.widgets._layers import check_image_layer, is_levels_layer, labels_on_screen


class MeasureWidget(QWidget):
    """Measure the regions of a labels layer over an image: shape, intensity, texture."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self._life = WidgetLife(self)
        self._worker = None
        self.table: dict | None = None
        self._measured: Labels | None = None

        self.labels = labels_combo(napari_viewer, "labels", "Regions to measure",
                                   first=lambda lay: kind_of(lay) == "components")
        self.image = image_layer_combo(napari_viewer, "Intensities to measure the regions on")
        self.show_selected = CheckBox(value=False, text="show only the selected region")
        self.form = ConfigForm(MeasureConfig, extra=(self.labels, self.image, self.show_selected))
        self.run_button = QPushButton("Measure")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setEnabled(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.results = QTableWidget(0, 0)
        self.results.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.verticalHeader().setVisible(False)

        layout = column(self, self.form, [self.run_button, self.export_button], self.status,
                        self.results, stretch=False)
        layout.setStretchFactor(self.results, 1)

        self.run_button.clicked.connect(self.measure)
        self.export_button.clicked.connect(self.export)
        self.results.itemSelectionChanged.connect(self._on_row)
        self.show_selected.changed.connect(self._on_row)
        for event in ("inserted", "removed", "reordered"):
            getattr(napari_viewer.layers.events, event).connect(self.reset_choices)
        follow_level_on_screen(napari_viewer, self, self._on_level_shown)

    # ---- public API --------------------------------------------------------------
    @property
    def is_busy(self) -> bool:
        return self._worker is not None

    def reset_choices(self, *_args) -> None:
        if self._life.alive:
            self.labels.reset_choices()
            self.image.reset_choices()

    def measure(self) -> None:
        """Measure every region of the labels layer over the image (in a worker)."""
        if self._worker is not None:
            show_warning("A measurement is running; wait for it.")
            return
        labels = self.labels.value
        try:
            image = check_image_layer(self.image.value)
            if not isinstance(labels, Labels):
                raise CutsInputError("there is no labels layer to measure")
            config = self.form.config()
        except CutsInputError as exc:
            show_warning(f"Cannot measure: {exc}.")
            return
        self.run_button.setEnabled(False)
        self.status.setText(f"measuring {labels.name}…")
        self._worker = run_job(self._life, _measure, labels_on_screen(self.viewer, labels), image.data,
                               config, on_done=lambda outcome: self._done(outcome, labels))

    def select_row(self, row: int) -> None:
        """Select the region of table row `row` (as a click on the row does)."""
        self.results.selectRow(row)

    def export(self) -> str | None:
        """Write the measurements to a CSV file chosen in a dialog."""
        return export_csv(self.table, self.ask_save_path)

    # ---- dialogs (tests replace this) -----------------------------------------
    def ask_save_path(self) -> str:
        return ask_csv_path(self, self.suggested_name())

    def suggested_name(self) -> str:
        """File name the export dialog offers, e.g. '<layer> regions.csv'."""
        layer = self.labels.value
        return file_name(layer.name if layer is not None else "", "regions", suffix=".csv")

    # ---- internals ------------------------------------------------------------------
    def _on_level_shown(self, level: Labels) -> None:
        if self._life.alive and follows(self.labels, level):
            choose(self.labels, level)
            choose(self.image, source_image(self.viewer, level))

    def _done(self, outcome: dict, labels: Labels) -> None:
        self._worker = None
        self.run_button.setEnabled(True)
        table = outcome.get("result")
        if refused(outcome, "measure") or not isinstance(table, dict):
            self.status.setText("" if "error" not in outcome else "measuring failed")
            return
        if labels not in self.viewer.layers:
            self.status.setText("the labels layer was removed; result discarded")
            return
        self.table, self._measured = table, labels
        labels.features = layer_features(table)
        self._fill(table)
        self.export_button.setEnabled(True)
        self.status.setText(f"{len(table['label'])} regions of '{labels.name}' measured; "
                            "click a row to select its region")
        show_info(f"{len(table['label'])} regions measured.")

    def _fill(self, table: dict) -> None:
        keys = list(table)
        rows = len(table[keys[0]]) if keys else 0
        self.results.blockSignals(True)
        self.results.clear()
        self.results.setColumnCount(len(keys))
        self.results.setRowCount(rows)
        self.results.setHorizontalHeaderLabels(keys)
        for c, key in enumerate(keys):
            for r, value in enumerate(table[key]):
                self.results.setItem(r, c, QTableWidgetItem(_text(value)))
        self.results.resizeColumnsToContents()
        self.results.blockSignals(False)

    def _on_row(self, *_args) -> None:
        layer, table = self._measured, self.table
        rows = self.results.selectionModel().selectedRows()
        if layer is None or table is None or not rows or layer not in self.viewer.layers:
            return
        label = int(table["label"][rows[0].row()])
        layer.selected_label = label
        layer.show_selected_label = bool(self.show_selected.value)
        if "largest_slice" in table:  # a stack: go to the region's largest slice
            z = table["largest_slice"][rows[0].row()]
            skip = 1 if is_levels_layer(layer) else 0  # the level axis comes first
            data = [0] * layer.ndim
            data[skip] = z
            axis = self.viewer.dims.ndim - layer.ndim + skip
            self.viewer.dims.set_point(axis, layer.data_to_world(data)[skip])
        self.status.setText(f"region {label} selected")


def _measure(labels, image, config: MeasureConfig) -> dict:
    """Worker body: the measurements of every region."""
    return measure_regions(np.asarray(labels), np.asarray(image), glcm_levels=config.glcm_levels)


def _text(value) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)
