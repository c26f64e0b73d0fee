"""Annotation dock widgets (pick, refine, components, measure) in a real viewer (Xvfb)."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import numpy as np
import pytest
from napari.layers import Labels, Points
from napari.utils.interactions import mouse_press_callbacks, mouse_release_callbacks

from napari_cuts.engine.pipeline import fit
from napari_cuts.engine.training import TrainingConfig
from napari_cuts.formats.cuts import levels_layer_kwargs, levels_meta
from napari_cuts.plugin.widgets._layers import (
    PAINT_TOOLS,
    add_keeping_selection,
    defer_paint_tools,
    result_key,
    show_level_position,
)
from napari_cuts.plugin.widgets._state import encoder_state
from napari_cuts.samples import texture_mosaic

PLUGIN = "napari-cuts"
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def gray_encoder():
    """A barely trained encoder for grayscale images."""
    return fit([texture_mosaic(64)[0]], TrainingConfig(epochs=1, steps_per_epoch=2, batch_size=4))


def dock(viewer, name: str):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def add_levels(viewer, image, levels: list[np.ndarray], default: int | None = None,
               index: tuple[int, ...] = (), **kwargs) -> Labels:
    """A levels layer as the Segment widget makes it (every level, the level axis first),
    with the viewer on level `default` (else the last, finest)."""
    default = len(levels) - 1 if default is None else default
    rows = [{"level": i, "n_regions": int(lev.max()), "salient": True, "kind": "objects"}
            for i, lev in enumerate(levels)]
    meta = levels_meta(image.name, result_key(image), rows, default, len(levels), index)
    stack = np.stack([np.asarray(lev).reshape((1,) * len(index) + lev.shape[-(image.ndim - len(index)):])
                      for lev in levels])
    translate = np.array(image.translate, float)
    translate[:len(index)] += index
    layer = viewer.add_labels(stack, **{**levels_layer_kwargs(meta, image.ndim - len(index),
                                                              translate=translate), **kwargs})
    show_level_position(viewer, layer, default)
    return layer


def add_level(viewer, image, labels: np.ndarray, **kwargs) -> Labels:
    """A levels layer of one level."""
    return add_levels(viewer, image, [labels], **kwargs)


def ring_level(size: int = 64) -> np.ndarray:
    """Left half 1; on the right a ring 2 around a hole 3, the rest 4; a speck of 2."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - 32, xx - 46)
    level = np.where(xx < 28, 1, 4).astype(np.uint8)
    level[(r < 12) & (xx >= 28)] = 2
    level[r < 5] = 3
    level[60:62, 60:62] = 2  # a speck of region 2, away from the ring
    return level


def click(viewer, position, shift: bool = False) -> None:
    """A left click at a world position (the viewer's point on the axes not given, e.g.
    the level), through napari's mouse callback machinery."""
    position = tuple(viewer.dims.point[:viewer.dims.ndim - len(position)]) + tuple(position)
    event = SimpleNamespace(type="mouse_press", position=tuple(position), pos=(10, 10), button=1,
                            modifiers=("Shift",) if shift else (), view_direction=None,
                            dims_displayed=(viewer.dims.ndim - 2, viewer.dims.ndim - 1))
    mouse_press_callbacks(viewer, event)
    mouse_release_callbacks(viewer, SimpleNamespace(**{**vars(event), "type": "mouse_release"}))


# ---- pick and merge -------------------------------------------------------------
def test_pick_adds_removes_and_undoes(make_napari_viewer, notes):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((64, 64), np.uint8), name="img")
    level = ring_level()
    add_level(viewer, image, level)
    widget = dock(viewer, "Pick and merge")
    annotation = widget.new_annotation()
    assert annotation.name == "img annotation" and annotation.data.shape == (64, 64)
    assert widget.annotation.value is annotation
    widget.class_id.value = 2

    click(viewer, (32, 36))  # on the ring
    assert np.array_equal(annotation.data == 2, level == 2)
    after_first = annotation.data.copy()

    click(viewer, (10, 10), shift=True)  # shift on a region not in the annotation: no change
    np.testing.assert_array_equal(annotation.data, after_first)
    widget.class_id.value = 1
    click(viewer, (10, 10))
    assert np.array_equal(annotation.data == 1, level == 1)

    annotation.undo()  # what Ctrl+Z does: the last pick only
    np.testing.assert_array_equal(annotation.data, after_first)

    click(viewer, (32, 36), shift=True)
    assert not annotation.data.any()
    annotation.undo()
    np.testing.assert_array_equal(annotation.data, after_first)
    assert not notes.errors()


def test_pick_fill_holes_and_min_size(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((64, 64), np.uint8), name="img")
    level = ring_level()
    add_level(viewer, image, level)
    widget = dock(viewer, "Pick and merge")
    annotation = widget.new_annotation()
    widget.fill.value = True
    widget.min_size.value = 10
    click(viewer, (32, 36))
    ring_and_hole = np.isin(level, (2, 3))
    ring_and_hole[60:62, 60:62] = False  # the speck is dropped
    np.testing.assert_array_equal(annotation.data == 1, ring_and_hole)


def test_pick_follows_shown_level_and_stacks(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((3, 32, 32), np.uint8), name="stack")
    coarse = np.ones((3, 32, 32), np.uint8)
    fine = np.ones((3, 32, 32), np.uint8)
    fine[:, :, 16:] = 2
    add_levels(viewer, image, [coarse, fine], 1)  # the fine level on screen
    widget = dock(viewer, "Pick and merge")
    annotation = widget.new_annotation()
    assert annotation.data.shape == (3, 32, 32)

    click(viewer, (1, 5, 20))  # slice 1, right half, in the fine level
    expected = np.zeros((3, 32, 32), bool)
    expected[1, :, 16:] = True
    np.testing.assert_array_equal(annotation.data == 1, expected)

    widget.extent.value = "whole 3D region"
    click(viewer, (0, 5, 5))
    expected[:, :, :16] = True
    np.testing.assert_array_equal(annotation.data == 1, expected)


def test_pick_in_3d_view_takes_the_region_under_the_mouse(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((8, 16, 16), np.uint8), name="stack")
    level = np.ones((8, 16, 16), np.uint8)
    level[:, :, 8:] = 2
    add_level(viewer, image, level)
    widget = dock(viewer, "Pick and merge")
    annotation = widget.new_annotation()
    viewer.dims.ndisplay = 3
    event = SimpleNamespace(type="mouse_press", position=(0.0, -5.0, 4.0, 12.0), pos=(1, 1), button=1,
                            modifiers=(), view_direction=(0.0, 1.0, 0.0, 0.0), dims_displayed=(1, 2, 3))
    mouse_press_callbacks(viewer, event)
    mouse_release_callbacks(viewer, event)
    np.testing.assert_array_equal(annotation.data == 1, level == 2)


def test_pick_slice_level_into_stack(make_napari_viewer):
    """A level of one slice (as 'current slice' makes it) paints that slice only."""
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((3, 32, 32), np.uint8), name="stack")
    plane = np.ones((1, 32, 32), np.uint8)
    plane[0, 16:] = 2
    add_level(viewer, image, plane, index=(2,))
    widget = dock(viewer, "Pick and merge")
    annotation = widget.new_annotation()
    click(viewer, (2, 20, 5))
    expected = np.zeros((3, 32, 32), bool)
    expected[2, 16:] = True
    np.testing.assert_array_equal(annotation.data == 1, expected)


def test_pick_mistakes_leave_layers(make_napari_viewer, notes):
    viewer = make_napari_viewer()
    widget = dock(viewer, "Pick and merge")
    assert widget.new_annotation() is None
    image = viewer.add_image(np.zeros((32, 32), np.uint8), name="img")
    add_level(viewer, image, np.ones((32, 32), np.uint8))
    click(viewer, (5, 5))  # no annotation layer yet
    assert any("annotation layer" in m for m in notes.messages("warning"))
    other = viewer.add_labels(np.zeros((16, 16), np.uint8), name="small")
    widget.annotation.value = other
    click(viewer, (5, 5))
    assert any("differ in size" in m for m in notes.messages("warning"))
    assert not other.data.any() and not notes.errors()


def test_one_pick_per_click_with_the_panel_and_the_pick_dock_open(make_napari_viewer, notes):
    """The panel has its own Pick tab: with the separate Pick dock open too, a click is
    handled once (by the dock opened last), and raises no warning from the other."""
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((64, 64), np.uint8), name="img")
    level = ring_level()
    add_level(viewer, image, level)
    panel = dock(viewer, "All steps (one panel)")
    widget = dock(viewer, "Pick and merge")
    annotation = widget.new_annotation()
    assert panel.steps["Pick"].annotation.value is None  # the panel's pick has none chosen
    click(viewer, (32, 36))
    assert np.array_equal(annotation.data == 1, level == 2)
    assert annotation.undo() is None and not annotation.data.any()  # one undo step: one pick
    assert not notes.messages("warning") and not notes.errors()


# ---- components -------------------------------------------------------------------
def blobs() -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Five square blobs at different rows (and scattered columns), top row first."""
    mask = np.zeros((96, 64), np.uint8)
    corners = [(4, 40), (22, 8), (40, 30), (58, 50), (76, 12)]
    for y, x in corners:
        mask[y:y + 10, x:x + 10] = 1
    mask[90:92, 60:62] = 1  # a speck, below every blob
    return mask, corners


def test_components_named_top_to_bottom(make_napari_viewer, qtbot, notes, tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    mask, corners = blobs()
    source = viewer.add_labels(mask, name="mask")
    widget = dock(viewer, "Ordered components")
    widget.source.value = source
    widget.order.value = "top-bottom"
    widget.min_size.value = 10
    widget.names.value = "A,B,C,D,E"
    widget.run_button.click()
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)
    assert not notes.errors()

    comps = viewer.layers["mask components"]
    names = viewer.layers["mask component names"]
    assert isinstance(comps, Labels) and isinstance(names, Points)
    for (y, x), i in zip(corners, range(1, 6)):
        assert comps.data[y + 5, x + 5] == i
    assert comps.data[90, 60] == 0  # the speck is dropped
    assert list(comps.features["name"]) == list("ABCDE")
    assert list(comps.features["index"]) == [1, 2, 3, 4, 5]
    assert list(names.text.values) == list("ABCDE")
    np.testing.assert_allclose(names.data, [[y + 4.5, x + 4.5] for y, x in corners])

    monkeypatch.setattr(widget, "ask_save_path", lambda: str(tmp_path / "parts"))
    widget.export_button.click()
    with open(tmp_path / "parts.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name"] for r in rows] == list("ABCDE") and rows[0]["area"] == "100"

    # a second run updates the layers instead of adding more
    widget.names.value = "C1-C5"
    widget.run_button.click()
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)
    assert viewer.layers["mask components"] is comps
    assert list(viewer.layers["mask component names"].text.values) == [f"C{i}" for i in range(1, 6)]
    assert len(viewer.layers) == 3


def test_components_empty_mask(make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer()
    viewer.add_labels(np.zeros((32, 32), np.uint8), name="empty")
    widget = dock(viewer, "Ordered components")
    widget.run_button.click()
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)
    assert any("No components" in m for m in notes.messages("warning"))
    assert len(viewer.layers) == 1 and not notes.errors()


# ---- measure ----------------------------------------------------------------------------
def test_measure_table_and_row_selection(make_napari_viewer, qtbot, notes, tmp_path, monkeypatch):
    viewer = make_napari_viewer()
    image, truth = texture_mosaic(64)
    viewer.add_image(image, name="mosaic")
    labels = viewer.add_labels(truth, name="truth")
    widget = dock(viewer, "Measure regions")
    widget.labels.value = labels
    widget.run_button.click()
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)
    assert not notes.errors()

    table = widget.results
    assert table.rowCount() == 3
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    for column in ("label", "area", "perimeter", "eccentricity", "mean_intensity",
                   "std_intensity", "glcm_contrast", "glcm_homogeneity"):
        assert column in headers
    assert [table.item(r, 0).text() for r in range(3)] == ["1", "2", "3"]
    assert list(labels.features["index"]) == [1, 2, 3]
    assert list(labels.features["area"]) == [int((truth == k).sum()) for k in (1, 2, 3)]

    widget.show_selected.value = True
    widget.select_row(2)
    assert labels.selected_label == 3 and labels.show_selected_label

    monkeypatch.setattr(widget, "ask_save_path", lambda: str(tmp_path / "m.csv"))
    widget.export_button.click()
    with open(tmp_path / "m.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 3


def test_measure_mistakes(make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer()
    widget = dock(viewer, "Measure regions")
    widget.run_button.click()
    assert any("Cannot measure" in m for m in notes.messages("warning"))
    viewer.add_image(np.zeros((32, 32), np.uint8), name="img")
    labels = viewer.add_labels(np.ones((16, 16), np.uint8), name="small")
    widget.run_button.click()
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)
    assert any("do not fit the image" in m for m in notes.messages("warning"))
    assert widget.results.rowCount() == 0 and "area" not in labels.features
    assert not notes.errors()


# ---- scribble refinement ----------------------------------------------------------------
def stroke(layer: Labels, rows, cols, value: int) -> None:
    """Paint like a brush stroke: one undoable edit that emits the paint event."""
    yy, xx = np.meshgrid(np.arange(*rows), np.arange(*cols), indexing="ij")
    with layer.block_history():
        layer.data_setitem((yy.ravel(), xx.ravel()), np.full(yy.size, value, layer.data.dtype))


def painting_tools_made(viewer, layer: Labels) -> bool:
    """Whether napari made the visuals of the layer's brush and polygon tools."""
    made = viewer.window._qt_viewer.canvas._layer_overlay_to_visual.get(layer, {})
    return {layer._overlays[k] for k in PAINT_TOOLS} <= set(made)


def test_painting_tools_are_made_when_a_result_layer_is_painted_on(make_napari_viewer, qtbot):
    """Result layers go in without their painting tools (half the cost of adding a layer);
    napari makes them as soon as the layer's mode paints, and painting works."""
    viewer = make_napari_viewer(show=True)
    image = viewer.add_image(texture_mosaic(48)[0], name="mosaic")
    viewer.add_labels(np.zeros((48, 48), np.uint8), name="plain")
    assert painting_tools_made(viewer, viewer.layers["plain"])  # napari's default
    for mode in ("paint", "polygon", "erase"):
        layer = defer_paint_tools(Labels(np.zeros((48, 48), np.uint8), name=f"result {mode}"))
        viewer.add_layer(layer)
        assert not painting_tools_made(viewer, layer)
        layer.mode = "pan_zoom"
        assert not painting_tools_made(viewer, layer)
        layer.mode = mode
        assert painting_tools_made(viewer, layer), mode
        assert all(layer._overlays[k].visible for k in PAINT_TOOLS)
    layer.mode = "paint"
    layer.paint((10, 10), 3)
    assert layer.data[10, 10] == 3
    assert image in viewer.layers


def qt_selection(viewer) -> tuple[set, object]:
    """The layers selected in napari's layer list (Qt side) and the layer whose controls show."""
    qt = viewer.window._qt_viewer
    rows = {i.row() for i in qt.layers.selectionModel().selectedIndexes()}
    n = len(viewer.layers)
    return {viewer.layers[n - 1 - r] for r in rows}, qt.controls.currentWidget().layer


def test_layers_go_in_without_switching_the_selection(make_napari_viewer, qtbot):
    """add_keeping_selection: the selection, the layer list and the layer controls stay as
    they were (napari would make each inserted layer the active one)."""
    viewer = make_napari_viewer(show=True)
    image = viewer.add_image(texture_mosaic(48)[0], name="mosaic")
    assert viewer.layers.selection.active is image
    changes = []
    viewer.layers.selection.events.active.connect(lambda e: changes.append(e.value))
    first = add_keeping_selection(viewer, Labels(np.zeros((48, 48), np.uint8), name="a"))
    add_keeping_selection(viewer, Labels(np.zeros((48, 48), np.uint8), name="b"), index=0)
    qtbot.wait(50)
    assert [lay.name for lay in viewer.layers] == ["b", "mosaic", "a"]
    assert viewer.layers.selection.active is image and set(viewer.layers.selection) == {image}
    assert qt_selection(viewer) == ({image}, image) and changes == []
    viewer.layers.selection.active = first  # and selecting still works as usual
    qtbot.wait(50)
    assert qt_selection(viewer) == ({first}, first)
    viewer.layers.selection.clear()
    add_keeping_selection(viewer, Labels(np.zeros((48, 48), np.uint8), name="c"))
    assert not viewer.layers.selection


def test_refine_from_two_scribbled_classes(make_napari_viewer, qtbot, notes, gray_encoder):
    viewer = make_napari_viewer()
    image, truth = texture_mosaic(64)
    viewer.add_image(image, name="mosaic")
    encoder_state(viewer).encoder = gray_encoder
    widget = dock(viewer, "Scribble refinement")
    assert "trained" in widget.encoder_label.text()
    scribbles = widget.new_scribbles()
    assert scribbles.name == "mosaic scribbles"
    qtbot.waitUntil(lambda: scribbles.mode == "paint", timeout=WAIT_MS)  # in the next turn
    assert viewer.layers.selection.active is scribbles
    assert painting_tools_made(viewer, scribbles)

    stroke(scribbles, (20, 44), (4, 10), 1)  # brick, left
    assert "mosaic refined" not in viewer.layers
    stroke(scribbles, (4, 10), (50, 60), 2)  # grass, right: the debounced run starts
    qtbot.waitUntil(lambda: "mosaic refined" in viewer.layers and not widget.is_busy,
                    timeout=WAIT_MS)
    assert not notes.errors()
    refined = viewer.layers["mosaic refined"]
    assert refined.data.shape == (64, 64)
    assert set(np.unique(refined.data)) == {1, 2}
    assert (refined.data[truth == 1] == 1).mean() > 0.6
    assert viewer.layers.selection.active is scribbles  # painting goes on
    assert viewer.layers.index(refined) < viewer.layers.index(scribbles)

    stroke(scribbles, (30, 34), (30, 34), 3)  # a third class, in the gravel disc
    qtbot.waitUntil(lambda: 3 in refined.data and not widget.is_busy, timeout=WAIT_MS)
    assert viewer.layers["mosaic refined"] is refined  # updated in place
    assert len(viewer.layers) == 3

    widget.auto.value = False
    stroke(scribbles, (40, 44), (30, 34), 0)
    before = refined.data.copy()
    qtbot.wait(700)
    assert not widget.is_busy
    np.testing.assert_array_equal(refined.data, before)
    widget.run_button.click()
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)
    assert not notes.errors()


def test_refine_mistakes(make_napari_viewer, qtbot, notes, gray_encoder):
    viewer = make_napari_viewer()
    viewer.add_image(texture_mosaic(64)[0], name="mosaic")
    widget = dock(viewer, "Scribble refinement")
    widget.run_button.click()
    assert any("scribble" in m for m in notes.messages("warning"))
    scribbles = widget.new_scribbles()
    stroke(scribbles, (20, 30), (4, 10), 1)
    widget.run_button.click()
    assert any("no encoder" in m for m in notes.messages("warning"))

    encoder_state(viewer).encoder = gray_encoder
    widget.run_button.click()  # one class only: refused after the features
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)
    assert any("at least two classes" in m for m in notes.messages("warning"))
    assert "mosaic refined" not in viewer.layers
    assert len(viewer.layers) == 2 and not notes.errors()

    viewer.add_image(np.zeros((64, 64, 3), np.uint8), name="colour", rgb=True)
    widget.image.value = viewer.layers["colour"]
    widget.run_button.click()
    assert any("channel" in m for m in notes.messages("warning"))


def test_measure_stack_row_goes_to_slice(make_napari_viewer, qtbot, notes):
    viewer = make_napari_viewer()
    stack = np.zeros((4, 24, 24), np.uint8)
    stack[2, 4:12, 4:12] = 1  # region 1 lives in slice 2 only
    stack[:, 14:20, 14:20] = 2
    viewer.add_image(np.random.default_rng(0).random((4, 24, 24)), name="stack")
    labels = viewer.add_labels(stack, name="regions")
    widget = dock(viewer, "Measure regions")
    widget.run_button.click()
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)
    assert widget.results.rowCount() == 2 and "largest_slice" in widget.table
    viewer.dims.set_point(0, 0)
    widget.select_row(0)
    assert labels.selected_label == 1 and viewer.dims.point[0] == 2
    assert not notes.errors()


def test_refine_stroke_during_run_restarts(make_napari_viewer, qtbot, notes, gray_encoder,
                                          monkeypatch):
    """A stroke while a run is fitting stops that run; the next run sees every stroke."""
    import time

    from napari_cuts.annotation.refine import ScribbleRefiner

    real = ScribbleRefiner.predict_iter
    runs = {"started": 0, "ended": 0}

    def slow(self, scribbles, **kwargs):
        runs["started"] += 1
        gen = real(self, scribbles, **kwargs)
        while True:
            try:
                item = next(gen)
            except StopIteration as stop:
                runs["ended"] += 1
                return stop.value
            time.sleep(0.05)
            yield item

    monkeypatch.setattr(ScribbleRefiner, "predict_iter", slow)
    viewer = make_napari_viewer()
    viewer.add_image(texture_mosaic(64)[0], name="mosaic")
    encoder_state(viewer).encoder = gray_encoder
    widget = dock(viewer, "Scribble refinement")
    widget.auto.value = False
    scribbles = widget.new_scribbles()
    stroke(scribbles, (20, 44), (4, 10), 1)
    stroke(scribbles, (4, 10), (50, 60), 2)
    widget.run_button.click()
    qtbot.waitUntil(lambda: runs["started"] == 1, timeout=WAIT_MS)
    stroke(scribbles, (30, 34), (30, 34), 3)
    widget.run_button.click()  # while the first run is fitting
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)
    assert runs == {"started": 2, "ended": 1}
    assert 3 in viewer.layers["mosaic refined"].data
    assert not notes.errors()


def test_refine_snaps_strokes_to_cuts_regions(make_napari_viewer, qtbot, notes, gray_encoder):
    viewer = make_napari_viewer()
    image, truth = texture_mosaic(64)
    layer = viewer.add_image(image, name="mosaic")
    encoder_state(viewer).encoder = gray_encoder
    widget = dock(viewer, "Scribble refinement")
    widget.auto.value = False
    widget.snap.value = True
    scribbles = widget.new_scribbles()
    stroke(scribbles, (20, 44), (4, 10), 1)
    stroke(scribbles, (30, 34), (30, 34), 2)  # in the gravel disc
    widget.run_button.click()  # no CUTS levels yet: refused, nothing added
    qtbot.waitUntil(lambda: not widget.is_busy, timeout=WAIT_MS)
    assert any("segment it first" in m for m in notes.messages("warning"))
    assert "mosaic refined" not in viewer.layers

    add_level(viewer, layer, truth.astype(np.uint8))  # a level whose regions are the truth
    widget.run_button.click()
    qtbot.waitUntil(lambda: "mosaic refined" in viewer.layers and not widget.is_busy,
                    timeout=WAIT_MS)
    refined = viewer.layers["mosaic refined"].data
    np.testing.assert_array_equal(refined == 2, truth == 3)  # the whole disc, nothing else
    assert not notes.errors()
