"""resample_to_reference: known shifts, flips, scalings, labels, vector images, against nibabel."""

from __future__ import annotations

import numpy as np
import pytest

from medwave.io import Image, resample_to_reference


def _vol(rng, shape=(9, 10, 11)):
    return rng.standard_normal(shape).astype(np.float32)


def test_integer_shift_moves_voxels(rng):
    arr = _vol(rng)
    ref = Image(np.zeros_like(arr), affine=np.diag([2.0, 2.0, 2.0, 1.0]))
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = [4.0, -2.0, 0.0]  # moving voxel (0,0,0) is at world (4,-2,0) = reference voxel (2,-1,0)
    out = resample_to_reference(Image(arr, affine=aff), ref, order=1)
    assert out.array.shape == ref.array.shape
    np.testing.assert_allclose(out.affine, ref.affine)
    # reference voxel (i, j, k) -> moving voxel (i - 2, j + 1, k)
    np.testing.assert_allclose(out.array[2:, :-1, :], arr[:-2, 1:, :], atol=1e-6)
    assert np.all(out.array[:2] == 0)  # outside the moving field of view


def test_half_voxel_shift_is_linear_interpolation(rng):
    arr = _vol(rng)
    ref = Image(np.zeros_like(arr), affine=np.eye(4))
    aff = np.eye(4)
    aff[0, 3] = -0.5  # reference voxel i = moving voxel i + 0.5
    out = resample_to_reference(Image(arr, affine=aff), ref, order=1)
    np.testing.assert_allclose(out.array[:-1], 0.5 * (arr[:-1] + arr[1:]), atol=1e-6)


def test_axis_flip_between_ras_and_las(rng):
    arr = _vol(rng)
    n = arr.shape[0]
    las = np.diag([-1.0, 1.0, 1.0, 1.0])
    las[0, 3] = n - 1
    out = resample_to_reference(Image(arr, affine=np.eye(4)), Image(np.zeros_like(arr), affine=las), order=1)
    np.testing.assert_allclose(out.array, arr[::-1], atol=1e-6)


def test_matches_nibabel_processing(rng):
    nib_proc = pytest.importorskip("nibabel.processing")
    import nibabel as nib

    arr = _vol(rng, (12, 13, 14)).astype(np.float64)
    theta = 0.2
    mov_aff = np.array(
        [[np.cos(theta) * 1.5, -np.sin(theta), 0, 3.0], [np.sin(theta) * 1.5, np.cos(theta), 0, -1.0], [0, 0, 2.0, 2.5], [0, 0, 0, 1]]
    )
    ref_aff = np.diag([1.2, 1.1, 1.7, 1.0])
    ref_aff[:3, 3] = [1.0, 0.5, 2.0]
    ref_shape = (15, 11, 13)
    ours = resample_to_reference(Image(arr, affine=mov_aff), Image(np.zeros(ref_shape), affine=ref_aff), order=1)
    theirs = nib_proc.resample_from_to(nib.Nifti1Image(arr, mov_aff), (ref_shape, ref_aff), order=1, cval=0.0)
    np.testing.assert_allclose(ours.array, np.asarray(theirs.dataobj), atol=1e-8)


def test_labels_nearest_keep_dtype_and_values(rng):
    labels = rng.integers(0, 4, size=(8, 8, 8)).astype(np.uint8)
    aff = np.diag([1.0, 1.0, 1.0, 1.0])
    ref = Image(np.zeros((16, 16, 16), np.float32), affine=np.diag([0.5, 0.5, 0.5, 1.0]))
    out = resample_to_reference(Image(labels, affine=aff), ref, order=0)
    assert out.array.dtype == np.uint8
    assert set(np.unique(out.array)) <= set(np.unique(labels))
    # ref voxel 2*i sits exactly on moving voxel i
    np.testing.assert_array_equal(out.array[::2, ::2, ::2], labels)


def test_vector_image_components_resampled(rng):
    field = rng.standard_normal((6, 7, 8, 3)).astype(np.float32)
    aff = np.eye(4)
    aff[1, 3] = 1.0
    out = resample_to_reference(Image(field, affine=aff), Image(np.zeros((6, 7, 8)), affine=np.eye(4)))
    assert out.array.shape == (6, 7, 8, 3)
    np.testing.assert_allclose(out.array[:, 1:], field[:, :-1], atol=1e-6)


def test_integer_input_linear_gives_float(rng):
    arr = rng.integers(0, 100, size=(5, 5, 5)).astype(np.int16)
    out = resample_to_reference(Image(arr), Image(np.zeros((5, 5, 5))), order=1)
    assert out.array.dtype == np.float32
    np.testing.assert_allclose(out.array, arr)


def test_singular_affine_rejected(rng):
    bad = np.eye(4)
    bad[2, 2] = 0
    with pytest.raises(ValueError, match="singular"):
        resample_to_reference(Image(_vol(rng), affine=bad), Image(_vol(rng)))


def test_dimension_mismatch_rejected(rng):
    with pytest.raises(ValueError, match="2D moving image onto a 3D"):
        resample_to_reference(Image(np.zeros((4, 4), np.float32)), Image(_vol(rng)))


def test_2d_shift(rng):
    arr = rng.standard_normal((6, 7)).astype(np.float32)
    aff = np.eye(4)
    aff[1, 3] = 2.0
    out = resample_to_reference(Image(arr, affine=aff), Image(np.zeros((6, 7)), affine=np.eye(4)))
    np.testing.assert_allclose(out.array[:, 2:], arr[:, :-2], atol=1e-6)
