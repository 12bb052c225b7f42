"""NIfTI reader and writers in a real viewer: geometry, metadata, and lossless round trips."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

pytestmark = pytest.mark.napari


def _save(path, arr, affine, *, units="mm", intent=None, dtype=None):
    img = nib.Nifti1Image(arr, affine)
    if dtype is not None:
        img.set_data_dtype(dtype)
    img.header.set_xyzt_units(units, "sec")
    img.set_sform(affine, code=2)
    img.set_qform(affine, code=1)
    if intent:
        img.header.set_intent(intent)
    nib.save(img, str(path))
    return path


#: The napari world of an oriented 3D layer: (S, P, L) = DISPLAY_FROM_RAS @ RAS (axial, radiological first view);
#: layer data are the voxel axes reversed, (Z, Y, X).
F = np.array([[0.0, 0, 1, 0], [0, -1, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 1]])


def _ras(layer, ijk):
    """RAS world of voxel (i, j, k) of the file, through the layer's transform (data index (k, j, i))."""
    return (np.linalg.inv(F) @ [*layer.data_to_world(list(ijk)[::-1]), 1.0])[:3]


def _assert_same_file(a_path, b_path):
    a, b = nib.load(str(a_path)), nib.load(str(b_path))
    assert np.array_equal(a.affine, b.affine)
    assert a.get_data_dtype() == b.get_data_dtype()
    assert a.shape == b.shape
    assert np.array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj))
    assert a.header.binaryblock == b.header.binaryblock


def test_axis_aligned_nifti_opens_with_scale_translate_and_metadata(viewer, tmp_path, rng):
    arr = rng.random((12, 14, 10)).astype(np.float32)
    affine = np.array([[1.5, 0, 0, -10.0], [0, 2.0, 0, 20.0], [0, 0, 2.5, 30.0], [0, 0, 0, 1]])
    path = _save(tmp_path / "t1.nii.gz", arr, affine)
    [layer] = viewer.open(str(path), plugin="medwave")
    assert layer._type_string == "image"
    assert layer.name == "t1"
    # issue 17: an oriented volume opens axial and radiological, so the layer shows the voxel axes reversed
    # (Z, Y, X) in the (S, P, L) display frame (was (X, Y, Z) in RAS: a sagittal slice on its side)
    np.testing.assert_array_equal(layer.data, arr.transpose(2, 1, 0))
    np.testing.assert_allclose(layer.scale, [2.5, 2.0, 1.5])
    rec = layer.metadata["medwave"]
    np.testing.assert_array_equal(rec["affine"], affine)
    assert rec["header"]["sform_code"] == 2
    assert [str(u) for u in layer.units] == ["millimeter"] * 3
    # World coordinates of a voxel are its NIfTI (RAS mm) coordinates in the display frame.
    np.testing.assert_allclose(_ras(layer, [3, 4, 5]), (affine @ [3, 4, 5, 1])[:3])
    np.testing.assert_allclose(layer.data_to_world([5, 4, 3]), (F @ affine @ [3, 4, 5, 1])[:3])


def test_oblique_and_flipped_affines_use_napari_affine(viewer, tmp_path, rng):
    arr = rng.random((6, 7, 8)).astype(np.float32)
    c, s = np.cos(0.3), np.sin(0.3)
    affine = np.array([[-2 * c, -1.5 * s, 0, 40.0], [2 * s, -1.5 * c, 0, -5.0], [0, 0, 3.0, 7.0], [0, 0, 0, 1]])
    path = _save(tmp_path / "oblique.nii", arr, affine)
    [layer] = viewer.open(str(path), plugin="medwave")
    np.testing.assert_allclose(layer.scale, [3.0, 1.5, 2.0])
    for idx in ([0, 0, 0], [5, 6, 7], [1, 2, 3]):
        np.testing.assert_allclose(_ras(layer, idx), (affine @ [*idx, 1])[:3], atol=1e-9)
    out = tmp_path / "oblique_out.nii"
    import napari

    napari.save_layers(str(out), [layer], plugin="medwave")
    _assert_same_file(path, out)


def test_image_round_trip_is_lossless_including_scaled_integers(viewer, tmp_path):
    from nilearn.datasets import load_mni152_template

    tpl = load_mni152_template(resolution=2)  # stored as scaled uint8 on disk
    src = tmp_path / "mni.nii.gz"
    nib.save(tpl, str(src))
    [layer] = viewer.open(str(src), plugin="medwave")
    np.testing.assert_allclose(layer.scale, [2, 2, 2])
    np.testing.assert_allclose(_ras(layer, [0, 0, 0]), tpl.affine[:3, 3])
    out = tmp_path / "mni_saved.nii.gz"
    layer.save(str(out), plugin="medwave")
    _assert_same_file(src, out)


def test_moved_layer_is_written_where_it_now_is(viewer, tmp_path, rng):
    arr = rng.random((5, 6, 7)).astype(np.float32)
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    path = _save(tmp_path / "a.nii.gz", arr, affine)
    [layer] = viewer.open(str(path), plugin="medwave")
    layer.translate = (3.0, -4.0, 5.0)  # in the layer's (S, P, L) frame
    out = tmp_path / "moved.nii.gz"
    layer.save(str(out), plugin="medwave")
    moved = nib.load(str(out))
    np.testing.assert_allclose(moved.affine[:3, 3], _ras(layer, [0, 0, 0]))
    np.testing.assert_allclose(moved.affine[:3, 3], [5.0, -4.0, 3.0])
    np.testing.assert_allclose(np.diag(moved.affine)[:3], [1.0, 1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(moved.dataobj), arr)


def test_label_maps_open_as_labels_and_round_trip(viewer, tmp_path, rng):
    seg = rng.integers(0, 5, (9, 8, 7)).astype(np.int16)
    affine = np.array([[0.8, 0, 0, 1.0], [0, 0.8, 0, 2.0], [0, 0, 1.2, 3.0], [0, 0, 0, 1]])
    path = _save(tmp_path / "sub-01_dseg.nii.gz", seg, affine, intent="label")
    [layer] = viewer.open(str(path), plugin="medwave")
    assert layer._type_string == "labels"
    np.testing.assert_array_equal(layer.data, seg.transpose(2, 1, 0))
    np.testing.assert_allclose(layer.scale, [1.2, 0.8, 0.8])
    out = tmp_path / "seg_out.nii.gz"
    layer.save(str(out), plugin="medwave")
    _assert_same_file(path, out)


def test_labels_painted_in_napari_get_the_image_affine(viewer, tmp_path, rng):
    arr = rng.random((10, 11, 12)).astype(np.float32)
    affine = np.array([[1.2, 0, 0, -3.0], [0, 1.1, 0, 4.0], [0, 0, 0.9, 5.0], [0, 0, 0, 1]])
    [img] = viewer.open(str(_save(tmp_path / "img.nii.gz", arr, affine)), plugin="medwave")
    painted = np.zeros(img.data.shape, dtype=np.int64)  # napari's default label type; written as uint8
    painted[4:8, 3:6, 2:5] = 3  # layer order (Z, Y, X)
    labels = viewer.add_labels(painted, scale=img.scale, translate=img.translate, affine=img.affine, name="painted")
    out = tmp_path / "painted.nii.gz"
    labels.save(str(out), plugin="medwave")
    back = nib.load(str(out))
    np.testing.assert_allclose(back.affine, affine)
    assert back.get_data_dtype() == np.uint8
    assert back.header.get_intent()[0] == "label"
    np.testing.assert_array_equal(np.asarray(back.dataobj), painted.transpose(2, 1, 0))
    [again] = viewer.open(str(out), plugin="medwave")
    assert again._type_string == "labels"


def test_4d_and_vector_images_put_extra_axes_first_and_back(viewer, tmp_path, rng):
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    ts = rng.random((6, 5, 4, 3)).astype(np.float32)
    p4 = _save(tmp_path / "bold.nii.gz", ts, affine)
    [layer] = viewer.open(str(p4), plugin="medwave")
    assert layer.data.shape == (3, 4, 5, 6)
    np.testing.assert_allclose(layer.scale, [1, 2, 2, 2])
    np.testing.assert_array_equal(layer.data[1], ts[..., 1].transpose(2, 1, 0))
    out = tmp_path / "bold_out.nii.gz"
    layer.save(str(out), plugin="medwave")
    _assert_same_file(p4, out)

    ddf = rng.normal(size=(6, 5, 4, 1, 3)).astype(np.float32)
    pv = _save(tmp_path / "ddf.nii.gz", ddf, affine, intent="vector")
    [vec] = viewer.open(str(pv), plugin="medwave")
    assert vec.data.shape == (3, 4, 5, 6)
    assert vec.axis_labels[0] == "component"
    np.testing.assert_array_equal(vec.data[2], ddf[:, :, :, 0, 2].transpose(2, 1, 0))
    outv = tmp_path / "ddf_out.nii.gz"
    vec.save(str(outv), plugin="medwave")
    _assert_same_file(pv, outv)
