"""affine_prealign recovers a known rigid motion of the real MNI152 template (nilearn, 2 mm)."""

from __future__ import annotations

import numpy as np
import pytest

from medwave.io import Image, affine_prealign, apply_world_transform, resample_to_reference

nilearn_datasets = pytest.importorskip("nilearn.datasets")


@pytest.fixture(scope="module")
def mni():
    t = nilearn_datasets.load_mni152_template(resolution=2)
    return Image(np.asarray(t.get_fdata(), np.float32), affine=np.asarray(t.affine))


def _motion(deg_z=10.0, deg_x=-6.0, shift=(6.0, -8.0, 4.0)):
    a, b = np.deg2rad(deg_z), np.deg2rad(deg_x)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    T = np.eye(4)
    T[:3, :3] = rz @ rx
    T[:3, 3] = shift
    return T


def _moved(fixed: Image, T: np.ndarray) -> Image:
    # moving(w) = fixed(inv(T) w), on the same axis-aligned grid as the fixed image
    return resample_to_reference(Image(fixed.array, affine=T @ fixed.affine), fixed)


def _rotation_error_deg(A, B):
    R = A[:3, :3] @ np.linalg.inv(B[:3, :3])
    return float(np.rad2deg(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))))


def _point_error_mm(T_est, T, image):
    idx = np.argwhere(image.array > 0.2 * image.array.max())[::20]
    pts = image.affine @ np.c_[idx, np.ones(len(idx))].T
    return np.linalg.norm((T_est - T) @ pts, axis=0)


def test_rigid_recovers_rotation_and_translation(mni):
    T = _motion(15.0, 5.0, (-10.0, 5.0, 8.0))
    moving = _moved(mni, T)
    aligned, T_est = affine_prealign(mni, moving, kind="rigid", shrink_factors=(4, 2), smoothing_sigmas=(2.0, 1.0))
    assert _rotation_error_deg(T_est, T) < 0.25
    err = _point_error_mm(T_est, T, mni)
    assert err.max() < 0.5  # mm over the brain (voxels are 2 mm); about 0.07 mm in practice
    np.testing.assert_allclose(aligned.affine, mni.affine)
    mask = mni.array > 0.1 * mni.array.max()
    before = np.corrcoef(moving.array[mask], mni.array[mask])[0, 1]
    after = np.corrcoef(aligned.array[mask], mni.array[mask])[0, 1]
    assert before < 0.5 and after > 0.95  # (two linear resamplings blur a little)
    assert aligned.meta["prealign"]["kind"] == "rigid"
    # the transform applied again gives the same image
    again = apply_world_transform(moving, mni, T_est)
    np.testing.assert_allclose(again.array, aligned.array, atol=1e-5)


def test_same_seed_same_result(mni):
    moving = _moved(mni, _motion(4.0, 0.0, (3.0, 0.0, -2.0)))
    kw = dict(kind="rigid", shrink_factors=(4,), smoothing_sigmas=(2.0,), seed=5)
    _, a = affine_prealign(mni, moving, **kw)
    _, b = affine_prealign(mni, moving, **kw)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


@pytest.mark.slow
def test_affine_recovers_scaling(mni):
    T = _motion(8.0, 0.0, (4.0, 2.0, -3.0))
    T[:3, :3] = T[:3, :3] @ np.diag([1.08, 0.95, 1.0])
    aligned, T_est = affine_prealign(mni, _moved(mni, T), kind="affine")
    np.testing.assert_allclose(T_est[:3, :3], T[:3, :3], atol=0.01)
    assert _point_error_mm(T_est, T, mni).max() < 0.5


def test_rejects_2d_and_nan(mni):
    with pytest.raises(ValueError, match="is 2D.*affine pre-alignment needs 3D"):
        affine_prealign(Image(np.zeros((32, 32), np.float32)), mni)
    bad = mni.array.copy()
    bad[10, 10, 10] = np.nan
    with pytest.raises(ValueError, match="NaN/Inf"):
        affine_prealign(mni, Image(bad, mni.affine))
    with pytest.raises(ValueError, match="kind"):
        affine_prealign(mni, mni, kind="similarity")  # type: ignore[arg-type]
