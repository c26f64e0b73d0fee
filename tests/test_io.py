"""Inputs, normalisation and TIFF export."""

import numpy as np
import pytest
import tifffile

from napari_cuts.formats.errors import CutsInputError
from napari_cuts.formats.images import Normalization, read_image, to_volume
from napari_cuts.formats.writing import read_labels_tiff, save_labels_tiff, smallest_label_dtype


@pytest.mark.parametrize(
    "shape, kwargs, expected",
    [
        ((20, 30), {}, (1, 20, 30, 1)),
        ((20, 30, 3), {}, (1, 20, 30, 3)),
        ((20, 30, 4), {}, (1, 20, 30, 4)),
        ((5, 20, 30), {}, (5, 20, 30, 1)),
        ((3, 20, 30), {"is_stack": True}, (3, 20, 30, 1)),
        ((5, 20, 30, 2), {}, (5, 20, 30, 2)),
    ],
)
def test_to_volume_layouts(shape, kwargs, expected):
    vol = to_volume(np.zeros(shape, np.uint16), **kwargs)
    assert vol.shape == expected
    assert vol.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float64, bool])
def test_to_volume_accepts_numeric_dtypes(dtype):
    assert to_volume(np.ones((8, 8), dtype)).dtype == np.float32


def test_to_volume_refuses_bad_shapes():
    with pytest.raises(CutsInputError):
        to_volume(np.zeros(10))
    with pytest.raises(CutsInputError):
        to_volume(np.zeros((2, 2, 2, 2, 2)))
    with pytest.raises(CutsInputError):
        to_volume(np.array([["a", "b"], ["c", "d"]]))


def test_normalization_maps_percentiles_and_round_trips():
    rng = np.random.default_rng(0)
    vol = to_volume(rng.normal(1000, 50, (64, 64, 2)))
    norm = Normalization.fit([vol])
    out = norm(vol)
    assert np.percentile(out, 50) == pytest.approx(0.5, abs=0.1)
    again = Normalization.from_dict(norm.to_dict())
    np.testing.assert_allclose(again(vol), out)


def test_normalization_of_constant_image_is_finite():
    vol = to_volume(np.full((16, 16), 7.0))
    assert np.isfinite(Normalization.fit([vol])(vol)).all()


def test_smallest_label_dtype():
    assert smallest_label_dtype(255) == np.uint8
    assert smallest_label_dtype(256) == np.uint16
    assert smallest_label_dtype(70000) == np.uint32


def test_tiff_round_trip_single_level(tmp_path):
    labels = np.random.default_rng(1).integers(0, 300, (32, 40))
    path = save_labels_tiff(tmp_path / "one.tif", labels)
    back = read_labels_tiff(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, labels)


@pytest.mark.parametrize("shape, axes", [((4, 32, 40), "TYX"), ((4, 3, 32, 40), "TZYX")])
def test_tiff_round_trip_levels_compressed_with_axes(tmp_path, shape, axes):
    """Compressed pages (ImageJ reads them as a plain stack: no ImageJ hyperstack header,
    which would make it read the pages as uncompressed), the axes in tifffile's metadata."""
    labels = np.random.default_rng(2).integers(0, 50, shape)
    path = save_labels_tiff(tmp_path / "levels.tif", labels, levels=True)
    with tifffile.TiffFile(path) as tif:
        assert not tif.is_imagej
        assert tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert tif.series[0].axes == axes
        back = tif.asarray()
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, labels)


def test_tiff_write_failure_leaves_no_file(tmp_path):
    with pytest.raises(CutsInputError):
        save_labels_tiff(tmp_path / "bad.tif", np.zeros((2, 2, 2, 2, 2), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_read_image_formats_and_errors(tmp_path):
    import skimage.io

    arr = (np.arange(64).reshape(8, 8) * 3).astype(np.uint8)
    skimage.io.imsave(tmp_path / "a.png", arr, check_contrast=False)
    tifffile.imwrite(tmp_path / "a.tif", arr)
    np.save(tmp_path / "a.npy", arr)
    for name in ("a.png", "a.tif", "a.npy"):
        np.testing.assert_array_equal(read_image(tmp_path / name), arr)
    with pytest.raises(CutsInputError, match="no such file"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "a.bmp2").write_text("x")
    with pytest.raises(CutsInputError, match="unknown format"):
        read_image(tmp_path / "a.bmp2")
    (tmp_path / "broken.png").write_text("not a png")
    with pytest.raises(CutsInputError, match="cannot read"):
        read_image(tmp_path / "broken.png")


def test_voxel_spacing_from_imagej_and_ome_tiff(tmp_path):
    from napari_cuts.formats.images import voxel_spacing

    v = np.zeros((4, 16, 16), np.uint8)
    tifffile.imwrite(tmp_path / "ij.tif", v, imagej=True, resolution=(2.0, 2.0),
                     metadata={"spacing": 2.0, "unit": "um", "axes": "ZYX"})
    tifffile.imwrite(tmp_path / "o.ome.tif", v, ome=True,
                     metadata={"axes": "ZYX", "PhysicalSizeZ": 1.5, "PhysicalSizeX": 0.25,
                               "PhysicalSizeY": 0.25})
    tifffile.imwrite(tmp_path / "plain.tif", v)
    assert voxel_spacing(tmp_path / "ij.tif") == pytest.approx(4.0)
    assert voxel_spacing(tmp_path / "o.ome.tif") == pytest.approx(6.0)
    assert voxel_spacing(tmp_path / "plain.tif") is None
    assert voxel_spacing(tmp_path / "missing.png") is None
