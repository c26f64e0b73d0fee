"""Ordered, named components (no Qt)."""

import numpy as np
import pytest

from napari_cuts.annotation.components import ordered_components, parse_names, table_rows
from napari_cuts.formats.errors import CutsInputError


def spine(n=5, angle_deg=0.0, shape=(120, 120)):
    """n blobs along a line through the centre; angle 0 = vertical (top to bottom)."""
    mask = np.zeros(shape, np.uint8)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    a = np.deg2rad(angle_deg)
    cy, cx = shape[0] / 2, shape[1] / 2
    centres = []
    for k in range(n):
        t = (k - (n - 1) / 2) * 20
        y, x = cy + t * np.cos(a), cx + t * np.sin(a)
        mask[(yy - y) ** 2 + (xx - x) ** 2 <= 36] = 1
        centres.append((y, x))
    return mask, np.array(centres)


def test_parse_names_lists_and_ranges():
    assert parse_names("A,B, C ,,") == ["A", "B", "C"]
    names = parse_names("C1-C7,T1-T12,L1-L5")
    assert len(names) == 24 and names[:2] == ["C1", "C2"] and names[6:8] == ["C7", "T1"]
    assert names[-1] == "L5"
    assert parse_names("L5-S1") == ["L5-S1"]  # different prefixes: a name, not a range
    assert parse_names("T3-1") == ["T3", "T2", "T1"]
    assert parse_names("A08-A10") == ["A08", "A09", "A10"]
    assert parse_names(["x", "y"]) == ["x", "y"] and parse_names(None) == []
    with pytest.raises(CutsInputError):
        parse_names("A1-A9999999")


def test_vertical_blobs_named_from_the_top():
    mask, centres = spine(5)
    labels, table = ordered_components(mask, names="A,B,C,D,E")
    assert table["name"] == ["A", "B", "C", "D", "E"]
    assert table["id"] == [1, 2, 3, 4, 5]
    assert np.all(np.diff(table["centroid_y"]) > 0)  # A is the top-most
    for k, (y, x) in enumerate(centres):
        assert labels[int(round(y)), int(round(x))] == k + 1
    assert labels.dtype == np.uint8 and labels.max() == 5


@pytest.mark.parametrize("angle", [90.0, 60.0, -30.0, 20.0])
def test_main_axis_order_for_tilted_and_horizontal_structures(angle):
    mask, centres = spine(6, angle)
    labels, table = ordered_components(mask)
    first = np.array([table["centroid_y"][0], table["centroid_x"][0]])
    ends = [centres[0], centres[-1]]
    # the first component is an end of the structure: the top-most one when it is
    # closer to vertical, the left-most one when closer to horizontal
    vertical = abs(np.cos(np.deg2rad(angle))) >= abs(np.sin(np.deg2rad(angle)))
    pick = min(ends, key=lambda c: c[0] if vertical else c[1])
    assert np.allclose(first, pick, atol=0.5)
    # consecutive components are neighbours along the structure
    cy, cx = np.array(table["centroid_y"]), np.array(table["centroid_x"])
    steps = np.hypot(np.diff(cy), np.diff(cx))
    assert np.allclose(steps, 20, atol=1.0)


def test_explicit_orders_and_reverse():
    mask, _ = spine(4, 45.0)
    _, tb = ordered_components(mask, order="top-bottom")
    assert np.all(np.diff(tb["centroid_y"]) > 0)
    _, lr = ordered_components(mask, order="left-right")
    assert np.all(np.diff(lr["centroid_x"]) > 0)
    _, rev = ordered_components(mask, order="top-bottom", reverse=True)
    assert rev["centroid_y"] == tb["centroid_y"][::-1]


def test_specks_dropped_class_id_and_too_few_names():
    mask, _ = spine(3)
    labels_img = mask.astype(np.uint16) * 4
    labels_img[0, 0] = 4  # a speck of class 4
    labels_img[118:120, 0:3] = 9  # another class
    labels, table = ordered_components(labels_img, class_id=4, min_size=5, names=["top"])
    assert len(table["id"]) == 3 and labels[0, 0] == 0 and labels[119, 1] == 0
    assert table["name"] == ["top", "2", "3"]
    assert all(a > 100 for a in table["area"])
    with pytest.raises(CutsInputError, match="class 5"):
        ordered_components(labels_img, class_id=5)
    rows = table_rows(table)
    assert rows[0]["name"] == "top" and set(rows[0]) == set(table)


def test_table_columns_bbox_and_orientation():
    mask = np.zeros((50, 50), bool)
    mask[5:10, 10:40] = True  # wide bar
    mask[20:45, 20:24] = True  # tall bar
    labels, table = ordered_components(mask, order="top-bottom")
    assert list(table) == ["id", "name", "area", "centroid_y", "centroid_x", "bbox_y0", "bbox_y1",
                           "bbox_x0", "bbox_x1", "orientation"]
    assert (table["bbox_y0"][0], table["bbox_y1"][0], table["bbox_x0"][0], table["bbox_x1"][0]) == (5, 10, 10, 40)
    assert table["area"] == [150, 100]
    assert abs(abs(table["orientation"][0]) - np.pi / 2) < 0.05  # wide: major axis along columns
    assert abs(table["orientation"][1]) < 0.05  # tall: along rows


def test_stack_components_in_3d_with_z_order():
    vol = np.zeros((6, 20, 20), bool)
    vol[0:2, 5:10, 5:10] = True
    vol[3:6, 12:16, 2:6] = True  # another object, later slices
    labels, table = ordered_components(vol, order="z", names="first,second")
    assert table["name"] == ["first", "second"]
    assert table["area"] == [50, 48] and table["centroid_z"][0] < table["centroid_z"][1]
    assert "bbox_z0" in table and np.isnan(table["orientation"][0])
    assert labels[1, 7, 7] == 1 and labels[4, 14, 4] == 2
    with pytest.raises(CutsInputError, match="stack"):
        ordered_components(vol[0], order="z")
