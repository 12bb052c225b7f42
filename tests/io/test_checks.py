"""Validators: messages name the file, the shape and what is needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medwave.io import Image, check_finite_image, require_2d_or_3d, require_3d


def test_require_3d_message_for_2d():
    with pytest.raises(ValueError) as exc:
        require_3d(Image(np.zeros((256, 256), np.float32)), "moving.nii.gz", "register")
    assert str(exc.value) == "moving.nii.gz is 2D (256x256); register needs 3D volumes."


def test_require_3d_single_slice_and_4d():
    with pytest.raises(ValueError, match=r"fixed.nii.gz is 2D \(64x64x1, a single slice\); register"):
        require_3d(Image(np.zeros((64, 64, 1), np.float32)), "fixed.nii.gz", "register")
    with pytest.raises(ValueError, match=r"is 4D \(4x4x4x5\).*one 3D volume"):
        require_3d(Image(np.zeros((4, 4, 4, 5), np.float32)), "bold.nii.gz", "register")


def test_require_3d_accepts_volumes_and_vector_fields():
    require_3d(Image(np.zeros((4, 5, 6), np.float32)), "a", "x")
    require_3d(Image(np.zeros((4, 5, 6, 1), np.float32)), "a", "x")
    require_3d(Image(np.zeros((4, 5, 6, 3), np.float32), meta={"intent": "vector"}), "ddf", "warp")
    require_3d(Image(np.zeros((4, 5, 6, 1, 3), np.float32), meta={"intent": "vector"}), "ddf", "warp")


def test_name_defaults_to_file_name():
    img = Image(np.zeros((3, 3), np.float32), path=Path("/data/sub-01_T1w.nii.gz"))
    with pytest.raises(ValueError, match="sub-01_T1w.nii.gz is 2D"):
        require_3d(img, purpose="segment")


def test_require_2d_or_3d():
    assert require_2d_or_3d(Image(np.zeros((5, 6), np.float32))) == 2
    assert require_2d_or_3d(Image(np.zeros((5, 6, 1), np.float32))) == 2
    assert require_2d_or_3d(Image(np.zeros((5, 6, 7), np.float32))) == 3
    with pytest.raises(ValueError, match="is 1D"):
        require_2d_or_3d(Image(np.zeros((5,), np.float32)), "sig.nii", "denoise")


def test_check_finite_image_counts_bad_voxels():
    arr = np.ones((4, 4, 4), np.float32)
    arr[0, 0, 0] = np.nan
    arr[1, 2, 3] = np.inf
    with pytest.raises(ValueError, match=r"brain.nii.gz has 2 NaN/Inf voxel\(s\) out of 64"):
        check_finite_image(Image(arr), "brain.nii.gz")
    check_finite_image(Image(np.ones((4, 4, 4), np.float32)), "ok")
    check_finite_image(Image(np.ones((4, 4, 4), np.int16)), "ints")
