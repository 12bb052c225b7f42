"""One TIFF reader: ImageJ, OME-XML and resolution-tag voxel sizes, read the same by load_image and open_stack."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from medwave.io import Image, load_image, save_image
from medwave.neuron.stacks import open_stack, write_volume

ZYX = (5, 6, 8)  # not 3 or 4 pages: tifffile would write those as planar RGB(A) samples


@pytest.fixture
def stack():
    return (np.arange(np.prod(ZYX)).reshape(ZYX) % 251).astype(np.uint16)


def _check(path, stack, spacing_xyz, unit="um"):
    img = load_image(path)
    np.testing.assert_array_equal(img.array, stack.transpose(2, 1, 0))  # x first
    np.testing.assert_allclose(img.spacing, spacing_xyz, rtol=1e-6)
    assert img.meta["spatial_unit"] == unit
    st = open_stack(path)
    np.testing.assert_array_equal(np.asarray(st.data[...]), stack)  # (Z, Y, X)
    np.testing.assert_allclose(st.spacing, spacing_xyz[::-1], rtol=1e-6)
    assert st.unit == (None if unit == "pixel" else unit)
    np.testing.assert_allclose(st.grid_affine(), img.affine, atol=1e-9)


def test_imagej_spacing_and_unit(tmp_path, stack):
    p = tmp_path / "ij.tif"  # 0.5 x 0.5 x 2 um, the example
    tifffile.imwrite(p, stack, imagej=True, resolution=(2.0, 2.0), metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"})
    _check(p, stack, (0.5, 0.5, 2.0))
    p = tmp_path / "ij_nm.tif"  # ImageJ in nanometres (the µ spelling too)
    tifffile.imwrite(p, stack, imagej=True, resolution=(1 / 250.0, 1 / 200.0), metadata={"axes": "ZYX", "spacing": 1000.0, "unit": "nm"})
    _check(p, stack, (0.25, 0.2, 1.0))
    p = tmp_path / "ij_micron.tif"
    tifffile.imwrite(p, stack, imagej=True, resolution=(4.0, 4.0), metadata={"axes": "ZYX", "spacing": 3.0, "unit": "\\u00B5m"})
    _check(p, stack, (0.25, 0.25, 3.0))


def test_ome_physical_sizes_and_units(tmp_path, stack):
    p = tmp_path / "s.ome.tif"
    tifffile.imwrite(p, stack, ome=True, metadata={"axes": "ZYX", "PhysicalSizeX": 500.0, "PhysicalSizeXUnit": "nm",
                                                    "PhysicalSizeY": 0.25, "PhysicalSizeZ": 0.002,
                                                    "PhysicalSizeZUnit": "mm"})
    _check(p, stack, (0.5, 0.25, 2.0))


@pytest.mark.parametrize("unit,scale", [("CENTIMETER", 1e4), ("INCH", 25400.0)])
def test_resolution_tags(tmp_path, stack, unit, scale):
    p = tmp_path / "r.tif"
    tifffile.imwrite(p, stack, resolution=(2.0, 4.0), resolutionunit=unit, photometric="minisblack")
    # x, y from the tags; z unknown: isotropic with x
    _check(p, stack, (scale / 2.0, scale / 4.0, scale / 2.0))


def test_no_metadata_is_one_pixel(tmp_path, stack):
    p = tmp_path / "plain.tif"
    tifffile.imwrite(p, stack, photometric="minisblack")  # tifffile's shaped series: page axis read as z, not as a channel
    _check(p, stack, (1.0, 1.0, 1.0), unit="pixel")
    assert load_image(p).meta["orientation"] is None


def test_written_results_carry_the_input_geometry(tmp_path, stack):
    p = tmp_path / "ij.tif"
    tifffile.imwrite(p, stack, imagej=True, resolution=(2.0, 2.0), metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"})
    st = open_stack(p)
    out = write_volume(stack > 100, tmp_path / "mask.tif", like=st)
    with tifffile.TiffFile(out) as tf:  # ImageJ metadata and resolution tags, readable by Fiji
        assert tf.imagej_metadata["unit"] == "um" and tf.imagej_metadata["spacing"] == pytest.approx(2.0)
        num, den = tf.pages[0].tags["XResolution"].value
        assert den / num == pytest.approx(0.5)
    _check(out, (stack > 100).astype(np.uint8), (0.5, 0.5, 2.0))
    nii = write_volume(stack, tmp_path / "p.nii.gz", like=st)
    img = load_image(nii)
    np.testing.assert_allclose(img.spacing, (0.5, 0.5, 2.0))
    assert img.meta["units"][0] == "micron"


def test_millimetre_images_are_written_in_micrometres(tmp_path):
    arr = np.zeros((4, 5, 6), np.float32)
    p = save_image(Image(arr, np.diag([0.5, 0.5, 2.0, 1.0]), meta={"format": "nifti", "units": ("mm", "sec")}),
                   tmp_path / "a.tif")
    np.testing.assert_allclose(load_image(p).spacing, (500.0, 500.0, 2000.0))
