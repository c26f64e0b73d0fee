"""Picking regions of a level and painting them into annotation classes (no Qt)."""

import numpy as np
import pytest

from napari_cuts.annotation.pick import Edit, apply_pick, clean_mask, fill_holes, ids_at, pick_regions, remove_small
from napari_cuts.formats.errors import CutsInputError


def level_2d():
    lab = np.ones((20, 30), np.uint16)
    lab[2:8, 2:10] = 2
    lab[10:18, 5:25] = 3
    lab[0, 29] = 3  # a second, far piece of region 3
    lab[12:16, 10:14] = 4  # inside region 3
    return lab


def test_pick_by_points_and_ids():
    lab = level_2d()
    mask = pick_regions(lab, [[3, 3]])
    assert mask.dtype == bool and mask.shape == lab.shape
    assert np.array_equal(mask, lab == 2)
    both = pick_regions(lab, np.array([[3.4, 2.6], [11, 6]]))  # fractional coordinates round
    assert np.array_equal(both, (lab == 2) | (lab == 3))
    assert np.array_equal(pick_regions(lab, [2, 4]), (lab == 2) | (lab == 4))
    assert np.array_equal(pick_regions(lab, 4), lab == 4)
    assert np.array_equal(pick_regions(lab, (3, 3), kind="points"), lab == 2)
    assert not pick_regions(lab, [[-5, 3], [100, 100]]).any()  # outside: nothing
    assert ids_at(lab, [[3, 3], [11, 6], [50, 50]]) == [2, 3]


def test_pick_connected_piece_and_extra_leading_coordinates():
    lab = level_2d()
    whole = pick_regions(lab, [[11, 6]])
    piece = pick_regions(lab, [[11, 6]], connected=True)
    assert whole[0, 29] and not piece[0, 29]
    assert piece.sum() == whole.sum() - 1
    # a napari point with a leading (time) coordinate
    assert np.array_equal(pick_regions(lab, [[7, 3, 3]]), lab == 2)


def test_pick_background_is_never_picked():
    lab = level_2d()
    lab[0:2, 0:2] = 0
    assert not pick_regions(lab, [[0, 0]]).any()
    assert not pick_regions(lab, [0]).any()


def test_pick_in_stack_whole_region_or_one_slice():
    lab = np.stack([level_2d()] * 3)
    mask = pick_regions(lab, [[1, 3, 3]])
    assert mask.sum() == 3 * (lab[0] == 2).sum()
    one = pick_regions(lab, [[1, 3, 3]], same_slice=True)
    assert one[1].sum() == (lab[0] == 2).sum() and not one[0].any() and not one[2].any()
    with pytest.raises(CutsInputError):
        pick_regions(lab, [2], same_slice=True)


def test_apply_pick_returns_only_changed_pixels_for_data_setitem():
    lab = level_2d()
    ann = np.zeros(lab.shape, np.uint8)
    ann[2:4, 2:10] = 1  # part of region 2 already class 1
    ann[5, 5] = 2  # one pixel already class 2
    edit = apply_pick(ann, lab == 2, class_id=2)
    assert isinstance(edit, Edit)
    indices, values = edit  # unpacks like data_setitem's arguments
    assert len(indices) == 2 and values.dtype == ann.dtype and np.all(values == 2)
    assert edit.n_changed == (lab == 2).sum() - 1  # the pixel already 2 is not re-sent
    out = edit.applied(ann)
    assert np.array_equal(out == 2, lab == 2)
    assert ann[5, 5] == 2 and ann[3, 3] == 1  # input untouched
    keep = apply_pick(ann, lab == 2, class_id=2, overwrite=False).applied(ann)
    assert keep[3, 3] == 1 and keep[6, 6] == 2


def test_apply_pick_remove():
    ann = np.zeros((10, 10), np.uint16)
    ann[:5] = 1
    ann[5:] = 2
    square = np.zeros_like(ann, bool)
    square[3:7, 3:7] = True
    only1 = apply_pick(ann, square, class_id=1, remove=True).applied(ann)
    assert only1[3:5, 3:7].max() == 0 and np.all(only1[5:7, 3:7] == 2)
    every = apply_pick(ann, square, class_id=None, remove=True).applied(ann)
    assert every[3:7, 3:7].max() == 0 and every.sum() == ann.sum() - 8 * 1 - 8 * 2


def test_apply_pick_fill_holes_and_min_size():
    lab = level_2d()
    ann = np.zeros(lab.shape, np.uint8)
    ring = lab == 3  # region 3 encloses region 4; also has a one-pixel far piece
    plain = apply_pick(ann, ring, 1).applied(ann)
    assert plain[13, 11] == 0 and plain[0, 29] == 1
    filled = apply_pick(ann, ring, 1, fill_holes=True, min_size=5).applied(ann)
    assert filled[13, 11] == 1  # the hole (region 4) is filled
    assert filled[0, 29] == 0  # the speck is dropped
    assert np.array_equal(filled == 1, fill_holes(ring & ~(np.arange(30) == 29)[None]))


def test_fill_holes_uses_existing_class_and_works_per_slice():
    ann = np.zeros((2, 9, 9), np.uint8)
    ann[:, 2:7, 2] = 3  # left wall already class 3
    mask = np.zeros(ann.shape, bool)
    mask[0, 2, 2:7] = mask[0, 6, 2:7] = mask[0, 2:7, 6] = True  # rest of the ring, slice 0 only
    out = apply_pick(ann, mask, 3, fill_holes=True).applied(ann)
    assert out[0, 4, 4] == 3  # hole closed by old + new pixels
    assert out[1, 4, 4] == 0  # slice 1 has no closed ring


def test_apply_pick_refusals():
    ann = np.zeros((5, 5), np.uint8)
    with pytest.raises(CutsInputError, match="shape"):
        apply_pick(ann, np.ones((4, 5), bool), 1)
    with pytest.raises(CutsInputError, match="does not fit"):
        apply_pick(ann, np.ones((5, 5), bool), 300)
    with pytest.raises(CutsInputError, match="class"):
        apply_pick(ann, np.ones((5, 5), bool), 0)
    with pytest.raises(CutsInputError):
        apply_pick(ann.astype(float), np.ones((5, 5), bool), 1)


def test_remove_small_and_clean_mask_in_3d():
    m = np.zeros((3, 10, 10), bool)
    m[0, 0, 0] = True  # 1 voxel
    m[:, 5:7, 5:7] = True  # 12 voxels across slices
    kept = remove_small(m, 5)
    assert not kept[0, 0, 0] and kept[:, 5:7, 5:7].all()
    assert np.array_equal(remove_small(m, 0), m)
    assert np.array_equal(clean_mask(m, min_size=13), np.zeros_like(m))


def test_data_setitem_undo_round_trip_without_qt():
    # What the widget does, on a plain napari Labels layer (no viewer, no Qt window).
    napari = pytest.importorskip("napari")
    lab = level_2d()
    layer = napari.layers.Labels(np.zeros(lab.shape, np.uint8))
    edit = apply_pick(layer.data, pick_regions(lab, [[3, 3], [11, 6]]), 2, fill_holes=True)
    with layer.block_history():
        layer.data_setitem(*edit)
    assert np.array_equal(layer.data == 2, fill_holes((lab == 2) | (lab == 3)))
    layer.undo()
    assert layer.data.max() == 0


def test_annotation_modules_import_no_qt_or_napari():
    import subprocess
    import sys

    code = (
        "import sys, napari_cuts.annotation.pick, napari_cuts.annotation.refine, napari_cuts.annotation.components,"
        " napari_cuts.annotation.measure, napari_cuts.cli.annotation;"
        "bad=[m for m in sys.modules if m.split('.')[0] in "
        "('napari','qtpy','PyQt5','PyQt6','PySide2','PySide6','magicgui')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
