"""load_image / save_image: NIfTI, SimpleITK formats, DICOM series, TIFF stacks, and bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from medwave.io import Image, load_image, save_image, save_images


def _oblique_affine():
    th = 0.3
    rot = np.array([[np.cos(th), -np.sin(th), 0.0], [np.sin(th), np.cos(th), 0.0], [0.0, 0.0, 1.0]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([0.9, 1.1, 2.5]) @ np.diag([-1.0, 1.0, 1.0])  # an LAS-like flip too
    aff[:3, 3] = [12.5, -30.0, 7.25]
    return aff


# ----------------------------------------------------------------------------------------- NIfTI


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.float64])
def test_nifti_round_trip_keeps_affine_header_dtype(tmp_path, rng, dtype):
    arr = (rng.standard_normal((7, 8, 9)) * 50).astype(dtype)
    nimg = nib.Nifti1Image(arr, _oblique_affine())
    nimg.header["descrip"] = b"medwave test"
    nimg.header.set_xyzt_units("mm", "sec")
    nimg.set_data_dtype(dtype)
    src = tmp_path / "in.nii.gz"
    nib.save(nimg, src)
    img = load_image(src)
    assert img.array.dtype == dtype
    np.testing.assert_allclose(img.affine, _oblique_affine(), atol=1e-5)
    assert img.meta["units"] == ("mm", "sec")
    out = save_image(img, tmp_path / "out.nii.gz", overwrite=False)
    again = nib.load(out)
    assert again.get_data_dtype() == dtype
    np.testing.assert_array_equal(np.asanyarray(again.dataobj), arr)
    np.testing.assert_allclose(again.affine, _oblique_affine(), atol=1e-5)
    assert again.header["descrip"].tobytes().rstrip(b"\0") == b"medwave test"
    assert again.header.get_xyzt_units() == ("mm", "sec")
    np.testing.assert_allclose(again.header.get_qform(), _oblique_affine(), atol=1e-5)
    assert src.read_bytes() == src.read_bytes()  # input still readable
    assert not list(tmp_path.glob(".*tmp*"))  # no temp files left behind


def test_save_refuses_existing_and_inputs(tmp_path):
    p = save_image(Image(np.zeros((3, 3, 3), np.float32)), tmp_path / "a.nii.gz")
    with pytest.raises(FileExistsError, match="already exists"):
        save_image(Image(np.ones((3, 3, 3), np.float32)), p, overwrite=False)
    with pytest.raises(ValueError, match="also an input"):
        save_image(Image(np.ones((3, 3, 3), np.float32)), p, inputs=[p])
    assert float(load_image(p).array.max()) == 0.0


def test_vector_nifti(tmp_path, rng):
    field = rng.standard_normal((5, 6, 7, 3)).astype(np.float32)
    p = save_image(Image(field, np.diag([2.0, 2.0, 2.0, 1.0])), tmp_path / "ddf.nii.gz", vector=True)
    img = load_image(p)
    assert img.meta["intent"] == "vector" and img.shape == (5, 6, 7, 1, 3)


def test_not_found_names_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.nii.gz: no such file"):
        load_image(tmp_path / "missing.nii.gz")


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.nii.gz"
    p.write_text("this is not an image")
    with pytest.raises(ValueError, match="notes.nii.gz"):
        load_image(p)
    q = tmp_path / "table.csv"
    q.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not an image medwave can read"):
        load_image(q)
    e = tmp_path / "empty.nii"
    e.write_bytes(b"")
    with pytest.raises(ValueError, match="empty file"):
        load_image(e)


def test_truncated_gzip(tmp_path, rng):
    p = tmp_path / "full.nii.gz"
    nib.save(nib.Nifti1Image(rng.standard_normal((20, 20, 20)).astype(np.float32), np.eye(4)), p)
    data = p.read_bytes()
    t = tmp_path / "cut.nii.gz"
    t.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut.nii.gz.*(truncated|corrupt)"):
        load_image(t)


def test_singular_affine(tmp_path):
    aff = np.diag([1.0, 1.0, 0.0, 1.0])
    p = tmp_path / "flat.nii.gz"
    nimg = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), None)
    nimg.set_qform(None, code=0)
    nimg.set_sform(aff, code=1)  # a header written by a broken tool
    nib.save(nimg, p)
    with pytest.raises(ValueError, match="flat.nii.gz has a singular affine"):
        load_image(p)
    assert load_image(p, check_affine=False).shape == (4, 4, 4)


def test_folder_without_dicom(tmp_path):
    with pytest.raises(IsADirectoryError, match="without a DICOM series"):
        load_image(tmp_path)


# ------------------------------------------------------------------------------------ SimpleITK


def test_sitk_direction_to_affine_matches_nibabel(tmp_path, rng):
    """The same volume written as NIfTI by nibabel and as .mha by SimpleITK reads back identically."""
    arr = rng.standard_normal((6, 7, 8)).astype(np.float32)
    nii = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image(arr, _oblique_affine()), nii)
    mha = tmp_path / "vol.mha"
    sitk.WriteImage(sitk.ReadImage(str(nii)), str(mha))  # ITK's own NIfTI reader -> LPS metadata
    a, b = load_image(nii), load_image(mha)
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(b.affine, a.affine, atol=1e-4)
    assert nib.aff2axcodes(b.affine) == nib.aff2axcodes(_oblique_affine())


@pytest.mark.parametrize("ext", [".mha", ".nrrd"])
def test_sitk_round_trip(tmp_path, rng, ext):
    arr = rng.integers(-1000, 2000, size=(9, 10, 11)).astype(np.int16)
    p = save_image(Image(arr, _oblique_affine()), tmp_path / f"ct{ext}")
    img = load_image(p)
    assert img.array.dtype == np.int16
    np.testing.assert_array_equal(img.array, arr)
    np.testing.assert_allclose(img.affine, _oblique_affine(), atol=1e-6)
    # SimpleITK itself sees LPS: origin x/y negated
    s = sitk.ReadImage(str(p))
    np.testing.assert_allclose(s.GetOrigin(), [-12.5, 30.0, 7.25], atol=1e-6)


def _write_dicom_series(folder: Path, vol: np.ndarray, spacing, origin_lps) -> None:
    """Write (X, Y, Z) ``vol`` as one DICOM file per z slice (axial, LPS axes)."""
    folder.mkdir()
    series_uid = "1.2.826.0.1.3680043.2.1125.1.42"
    for k in range(vol.shape[2]):
        sl = sitk.GetImageFromArray(np.ascontiguousarray(vol[:, :, k].T)[None])  # (1, Y, X)
        sl.SetSpacing([spacing[0], spacing[1], spacing[2]])
        pos = [origin_lps[0], origin_lps[1], origin_lps[2] + k * spacing[2]]
        tags = {
            "0008|0060": "CT",
            "0010|0010": "Phantom^Test",
            "0020|000d": "1.2.826.0.1.3680043.2.1125.1.41",
            "0020|000e": series_uid,
            "0020|0013": str(k + 1),
            "0020|0032": "\\".join(f"{v:.4f}" for v in pos),
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0028|0030": f"{spacing[1]}\\{spacing[0]}",
            "0018|0050": str(spacing[2]),
        }
        for tag, val in tags.items():
            sl.SetMetaData(tag, val)
        w = sitk.ImageFileWriter()
        w.KeepOriginalImageUIDOn()
        w.SetFileName(str(folder / f"slice{k:03d}.dcm"))
        w.Execute(sl)


def test_dicom_series_folder(tmp_path, rng):
    vol = rng.integers(0, 1000, size=(12, 10, 5)).astype(np.int16)
    _write_dicom_series(tmp_path / "series", vol, spacing=(0.8, 0.7, 2.0), origin_lps=(-50.0, -60.0, 10.0))
    img = load_image(tmp_path / "series")
    assert img.meta["format"] == "dicom" and img.meta["dicom_files"] == 5
    np.testing.assert_array_equal(img.array, vol)
    np.testing.assert_allclose(img.spacing, (0.8, 0.7, 2.0), atol=1e-4)
    np.testing.assert_allclose(img.affine[:3, 3], [50.0, 60.0, 10.0], atol=1e-3)  # LPS -> RAS
    assert nib.aff2axcodes(img.affine) == ("L", "P", "S")


def test_single_dicom_radiograph():
    from pydicom.data import get_testdata_file

    p = get_testdata_file("RG1_UNCR.dcm")
    if p is None:
        pytest.skip("pydicom-data not installed")
    img = load_image(p)
    assert img.array.ndim == 2 and img.array.dtype == np.uint16
    assert img.shape == (1841, 1955)  # (X, Y): columns, rows


# ----------------------------------------------------------------------------------------- TIFF


@pytest.mark.parametrize("dtype,name", [(np.uint16, "stack.tif"), (np.float32, "stack.tiff"), (np.float64, "stack.ome.tif"), (np.int16, "s16.tif")])
def test_tiff_round_trip_keeps_voxel_size(tmp_path, rng, dtype, name):
    arr = (rng.random((12, 10, 6)) * 1000).astype(dtype)
    aff = np.diag([0.2, 0.3, 1.5, 1.0])
    aff[:3, 3] = [5.0, 6.0, 7.0]
    p = save_image(Image(arr, aff), tmp_path / name)
    img = load_image(p)
    assert img.array.dtype == dtype
    np.testing.assert_array_equal(img.array, arr)
    np.testing.assert_allclose(img.spacing, (0.2, 0.3, 1.5), rtol=1e-6)
    assert img.meta["spatial_unit"] == "um"


def test_tiff_written_by_fiji_style_metadata(tmp_path, rng):
    import tifffile

    zyx = rng.integers(0, 255, size=(5, 7, 9)).astype(np.uint8)
    p = tmp_path / "fiji.tif"
    tifffile.imwrite(p, zyx, imagej=True, resolution=(1 / 0.25, 1 / 0.25), metadata={"spacing": 1.0, "unit": "micron", "axes": "ZYX"})
    img = load_image(p)
    assert img.shape == (9, 7, 5)  # (X, Y, Z)
    np.testing.assert_array_equal(img.array, zyx.transpose(2, 1, 0))
    np.testing.assert_allclose(img.spacing, (0.25, 0.25, 1.0))
    # a plain 2D TIFF without metadata: unit voxel size
    q = tmp_path / "plain.tif"
    tifffile.imwrite(q, zyx[0])
    plain = load_image(q)
    assert plain.shape == (9, 7) and plain.spacing == (1.0, 1.0, 1.0)


def test_tiff_refuses_rotated_affine(tmp_path):
    with pytest.raises(ValueError, match="Write NIfTI"):
        save_image(Image(np.zeros((4, 4, 4), np.float32), _oblique_affine()), tmp_path / "x.tif")
    assert not (tmp_path / "x.tif").exists()


def test_unknown_output_extension(tmp_path):
    with pytest.raises(ValueError, match="unknown or unsupported output extension"):
        save_image(Image(np.zeros((4, 4, 4), np.float32)), tmp_path / "x.png")


def test_metatensor_round_trip(tmp_path):
    img = Image(np.arange(60, dtype=np.float32).reshape(3, 4, 5), _oblique_affine())
    t = img.to_metatensor()
    assert t.shape == (1, 3, 4, 5)
    back = Image.from_metatensor(t)
    np.testing.assert_array_equal(back.array, img.array)
    np.testing.assert_allclose(back.affine, img.affine)


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "out.nii.gz"
    target_old = save_image(Image(np.zeros((3, 3, 3), np.float32)), target)
    before = target_old.read_bytes()

    def boom(img, path):
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_image(Image(np.ones((3, 3, 3), np.float32)), target, overwrite=True)
    assert target.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nii.gz"]  # no temp file left


def test_save_images_writes_all_concurrently_and_reports_a_failure(tmp_path, rng):
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    arrays = [rng.random((9, 8, 7)).astype(np.float32) for _ in range(4)]
    jobs = [(Image(a, affine=aff), tmp_path / f"im{i}.nii.gz", {}) for i, a in enumerate(arrays)]
    paths = save_images(jobs, max_workers=3)
    assert paths == [tmp_path / f"im{i}.nii.gz" for i in range(4)]
    for p, a in zip(paths, arrays):
        np.testing.assert_array_equal(nib.load(p).get_fdata(dtype=np.float32), a)
    # one job fails (an existing file without overwrite): the others are still written, the error is raised
    (tmp_path / "taken.nii.gz").write_bytes(b"keep")
    bad = [(Image(arrays[0], affine=aff), tmp_path / "new0.nii.gz", {}),
           (Image(arrays[1], affine=aff), tmp_path / "taken.nii.gz", {"overwrite": False}),
           (Image(arrays[2], affine=aff), tmp_path / "new2.nii.gz", {})]
    with pytest.raises(FileExistsError):
        save_images(bad, max_workers=2)
    assert (tmp_path / "taken.nii.gz").read_bytes() == b"keep"
    assert (tmp_path / "new0.nii.gz").exists() and (tmp_path / "new2.nii.gz").exists()
