"""medwave.io.as_image / load_image: every accepted form of the same image reads the same way."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from medwave.io import Image, as_image, load_image, save_image


@pytest.fixture
def vol():
    rng = np.random.default_rng(0)
    arr = rng.random((5, 6, 7)).astype(np.float32)  # x, y, z (asymmetric)
    aff = np.array([[0, 0, 2.0, 10], [-1.5, 0, 0, 20], [0, 3.0, 0, -5], [0, 0, 0, 1]])
    return arr, aff


def _forms(arr, aff, tmp_path):
    from monai.data import MetaTensor

    p = save_image(Image(arr, aff), tmp_path / "v.nii.gz")
    return {
        "path": str(p),
        "pathlib": p,
        "nibabel": nib.load(str(p)),
        "image": Image(arr, aff),
        "metatensor": MetaTensor(torch.from_numpy(arr[None].copy()), affine=torch.from_numpy(aff)),
        "metatensor_lps": MetaTensor(torch.from_numpy(arr[None].copy()), affine=torch.from_numpy(np.diag([-1, -1, 1, 1.0]) @ aff),
                                     meta={"space": "LPS"}),
    }


def test_every_form_gives_the_same_image(vol, tmp_path):
    arr, aff = vol
    for name, obj in _forms(arr, aff, tmp_path).items():
        img = as_image(obj, name=name)
        np.testing.assert_array_equal(np.asarray(img.array), arr, err_msg=name)
        np.testing.assert_allclose(img.affine, aff, atol=1e-6, err_msg=name)
        again = load_image(obj)  # the public reader takes the same forms
        np.testing.assert_array_equal(np.asarray(again.array), arr, err_msg=name)
        np.testing.assert_allclose(again.affine, aff, atol=1e-6, err_msg=name)


def test_monai_loadimage_output_reads_like_the_file(vol, tmp_path):
    from monai.transforms import LoadImage

    arr, aff = vol
    p = save_image(Image(arr, aff), tmp_path / "v.nii.gz")
    mt = LoadImage(ensure_channel_first=True, image_only=True)(str(p))
    a, b = as_image(mt), load_image(p)
    np.testing.assert_array_equal(np.asarray(a.array), b.array)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-6)


def test_plain_arrays_follow_the_stated_axis_order(vol):
    arr, _ = vol
    zyx = np.ascontiguousarray(arr.transpose(2, 1, 0))
    np.testing.assert_array_equal(as_image(zyx, array_order="zyx").array, arr)
    np.testing.assert_array_equal(as_image(torch.from_numpy(zyx), array_order="zyx").array, arr)
    np.testing.assert_array_equal(as_image(arr).array, arr)
    np.testing.assert_array_equal(as_image(arr[None, None]).array, arr)  # leading singleton axes dropped
    two_d = np.arange(6.0).reshape(2, 3)  # (rows, columns)
    assert as_image(two_d, array_order="zyx").shape == (3, 2)


def test_channels_go_last_and_one_channel_is_squeezed(vol):
    from monai.data import MetaTensor

    arr, aff = vol
    two = np.stack([arr, 2 * arr])
    img = as_image(MetaTensor(torch.from_numpy(two), affine=torch.from_numpy(aff)))
    assert img.shape == arr.shape + (2,) and img.meta["vector"]
    np.testing.assert_array_equal(img.array[..., 1], 2 * arr)
    batched = MetaTensor(torch.from_numpy(arr[None, None].copy()), affine=torch.from_numpy(aff)[None])
    np.testing.assert_array_equal(as_image(batched).array, arr)
    with pytest.raises(ValueError, match="batch of 2"):
        as_image(MetaTensor(torch.zeros(2, 1, 4, 4, 4), affine=torch.eye(4)[None].repeat(2, 1, 1)), name="x")


def test_inputs_are_never_modified_and_cannot_be_written_through(vol):
    arr, aff = vol
    src = Image(arr[..., None].copy(), aff.copy(), meta={"k": 1})
    before = src.array.copy()
    img = as_image(src)
    assert img is not src and img.meta is not src.meta and img.affine is not src.affine
    img.array = img.array[..., 0]
    img.meta["k"] = 2
    img.affine[0, 3] = 99
    assert src.array.shape == before.shape and src.meta["k"] == 1 and src.affine[0, 3] == aff[0, 3]
    with pytest.raises(ValueError):
        img.array[0, 0, 0] = 5.0  # read-only view of the caller's data
    np.testing.assert_array_equal(src.array, before)


def test_unknown_type_is_refused_with_the_name():
    with pytest.raises(TypeError, match="moving: cannot use an object of type dict"):
        as_image({"a": 1}, name="moving")
