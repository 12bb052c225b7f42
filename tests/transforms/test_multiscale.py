"""WaveletSWT / WaveletPacket (array and dictionary forms) against PyWavelets, and their inverses (MetaTensor
affine and shape, applied_operations, Invertd)."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Invertd

from medwave.transforms import WaveletPacket, WaveletPacketd, WaveletSWT, WaveletSWTd, swt_channel_names


def _img(rng: np.random.Generator, shape: tuple) -> MetaTensor:
    aff = torch.diag(torch.tensor([2.0, 3.0, 1.5, 1.0], dtype=torch.float64))
    aff[:3, 3] = torch.tensor([5.0, -2.0, 1.0], dtype=torch.float64)
    return MetaTensor(torch.as_tensor(rng.standard_normal(shape)), affine=aff)


def test_swt_channels_equal_pywt_and_invert(rng: np.random.Generator) -> None:
    img = _img(rng, (2, 8, 16, 8))
    t = WaveletSWT(wavelet="db2", level=2)
    y = t(img)
    names = swt_channel_names(3, 2)
    assert y.shape == (2 * len(names), 8, 16, 8) and len(names) == 15
    ref = pywt.swtn(img[1].numpy(), "db2", level=2, trim_approx=True)
    np.testing.assert_allclose(y[len(names)].numpy(), ref[0], atol=1e-10)
    np.testing.assert_allclose(y[len(names) + names.index("dad_1")].numpy(), ref[2]["dad"], atol=1e-10)
    np.testing.assert_allclose(y[len(names) + names.index("add_2")].numpy(), ref[1]["add"], atol=1e-10)
    assert torch.equal(y.affine, img.affine) and len(y.applied_operations) == 1
    back = t.inverse(y)
    torch.testing.assert_close(back.as_tensor(), img.as_tensor(), rtol=0, atol=1e-10)
    assert not back.applied_operations


@pytest.mark.parametrize("order", ["natural", "freq"])
def test_packet_channels_equal_pywt_and_invert(order: str, rng: np.random.Generator) -> None:
    img = _img(rng, (1, 9, 16, 10))
    t = WaveletPacket(wavelet="sym2", level=2, mode="symmetric", order=order)
    y = t(img)
    names = t.channel_names(3)
    wp = pywt.WaveletPacketND(img[0].numpy(), "sym2", mode="symmetric", maxlevel=2)
    for j in (0, 17, 63):
        np.testing.assert_allclose(y[j].numpy(), wp[names[j]].data, atol=1e-10)
    assert y.affine[0, 0].item() == 8.0  # voxel size times 2**level
    back = t.inverse(y)
    assert back.shape == img.shape
    torch.testing.assert_close(back.as_tensor(), img.as_tensor(), rtol=0, atol=1e-10)
    torch.testing.assert_close(back.affine, img.affine.to(back.affine.dtype))


def test_dictionary_forms_invert_through_invertd(rng: np.random.Generator) -> None:
    pre = Compose([WaveletSWTd(keys="image", wavelet="haar", level=1), WaveletPacketd(keys="image", level=1)])
    data = pre({"image": _img(rng, (1, 8, 8, 8))})
    assert data["image"].shape == (64, 4, 4, 4)
    back = Invertd(keys="image", transform=pre, orig_keys="image")(data)
    assert back["image"].shape == (1, 8, 8, 8)


def test_plain_tensors_and_arrays(rng: np.random.Generator) -> None:
    x = rng.standard_normal((1, 16, 16))
    y = WaveletSWT(level=2)(x)
    assert isinstance(y, np.ndarray) and y.shape == (7, 16, 16)
    assert WaveletPacket(level=2)(torch.as_tensor(x)).shape == (16, 4, 4)
    with pytest.raises(ValueError, match="level"):
        WaveletSWT(level=0)


@pytest.mark.parametrize("dims", [1, 2])
def test_packet_of_a_1d_or_2d_image_moves_the_origin_like_3d(dims: int, rng: np.random.Generator) -> None:
    """MONAI keeps a 4x4 affine for 1D/2D images: the coarse grid's scale and origin shift land in it (the origin
    of a level-2 grid is 1.5 fine voxels further: (2**level - 1) / 2), and the inverse gives the affine back."""
    img = _img(rng, (1, 32) if dims == 1 else (1, 16, 16))
    t = WaveletPacket(spatial_dims=dims, wavelet="haar", level=2)
    y = t(img)
    assert y.affine.shape == (4, 4)
    assert y.affine[0, 0].item() == 8.0 and y.affine[0, 3].item() == 5.0 + 2.0 * 1.5
    if dims == 2:
        assert y.affine[1, 1].item() == 12.0 and y.affine[1, 3].item() == -2.0 + 3.0 * 1.5
    assert y.affine[2, 2].item() == 1.5 and y.affine[2, 3].item() == 1.0  # an axis not transformed stays
    back = t.inverse(y)
    torch.testing.assert_close(back.affine, img.affine.to(back.affine.dtype))
    torch.testing.assert_close(back.as_tensor(), img.as_tensor(), rtol=0, atol=1e-10)
