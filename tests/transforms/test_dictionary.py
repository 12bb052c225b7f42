"""Dictionary transforms in MONAI pipelines: Compose + Invertd round trips, missing keys, shared draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Invertd, Spacingd, SpatialPadd

from medwave.transforms import RandWaveletHighFreqDropoutd, WaveletDecomposed, WaveletDenoised, WaveletReconstructd


def _sample(shape=(1, 19, 16, 13)):
    aff = torch.diag(torch.tensor([1.5, 1.0, 2.0, 1.0], dtype=torch.float64))
    aff[:3, 3] = torch.tensor([-30.0, 12.0, 4.0], dtype=torch.float64)
    img = MetaTensor(torch.randn(*shape, generator=torch.Generator().manual_seed(3)), affine=aff)
    return {"image": img, "label": MetaTensor((torch.rand(*shape) > 0.5).float(), affine=aff.clone())}


@pytest.mark.parametrize("mode,wavelet,levels", [("symmetric", "db2", 1), ("periodization", "haar", 2), ("zero", "sym3", 1)])
def test_compose_invertd_round_trip(mode, wavelet, levels):
    data = _sample()
    orig = data["image"].clone()
    pre = Compose(
        [SpatialPadd(keys=["image", "label"], spatial_size=(20, 18, 14)), WaveletDecomposed(keys=["image", "label"], wavelet=wavelet, levels=levels, mode=mode)]
    )
    out = pre(data)
    assert out["image"].shape[0] == 8**levels
    assert out["image"].affine[0, 0].item() == pytest.approx(1.5 * 2**levels)
    inv = Invertd(keys=["image", "label"], transform=pre, orig_keys=["image", "label"], nearest_interp=False)(out)
    assert inv["image"].shape == orig.shape
    torch.testing.assert_close(inv["image"].as_tensor(), orig.as_tensor(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(inv["image"].affine.numpy(), orig.affine.numpy(), atol=1e-10)
    torch.testing.assert_close(inv["label"].as_tensor(), data["label"].as_tensor(), atol=1e-5, rtol=0)


def test_after_spacing_and_2d():
    data = _sample()
    pre = Compose([Spacingd(keys="image", pixdim=(2.0, 2.0, 2.0)), WaveletDecomposed(keys="image", levels=1)])
    out = pre({"image": data["image"]})
    back = pre.inverse(out)
    np.testing.assert_allclose(back["image"].affine.numpy(), data["image"].affine.numpy(), atol=1e-6)
    assert back["image"].shape == data["image"].shape

    img2 = MetaTensor(torch.randn(2, 11, 14))
    t = WaveletDecomposed(keys="x", levels=1, mode="symmetric")
    o = t({"x": img2})
    assert o["x"].shape == (8, 6, 7)
    torch.testing.assert_close(t.inverse(o)["x"].as_tensor(), img2.as_tensor(), atol=1e-5, rtol=0)


def test_reconstructd_and_missing_keys():
    data = _sample((1, 16, 16, 16))
    dec = WaveletDecomposed(keys=["image", "other"], levels=2, allow_missing_keys=True)
    out = dec(data)
    assert out["label"].shape == (1, 16, 16, 16)  # not listed: untouched
    rec = WaveletReconstructd(keys="image")(out)
    torch.testing.assert_close(rec["image"].as_tensor(), data["image"].as_tensor(), atol=1e-5, rtol=0)
    with pytest.raises(KeyError):
        WaveletDecomposed(keys=["missing"])(data)


def test_denoised_only_touches_its_keys():
    data = _sample((1, 24, 24, 24))
    out = WaveletDenoised(keys="image", method="BayesShrink")(data)
    assert out["label"] is data["label"]
    assert float(out["image"].std()) < float(data["image"].std())
    np.testing.assert_allclose(out["image"].affine.numpy(), data["image"].affine.numpy())


def test_rand_dropoutd_same_bands_for_all_keys_and_seeded():
    x = torch.randn(1, 16, 16, 16, generator=torch.Generator().manual_seed(1))
    data = {"a": x, "b": x.clone()}
    t = RandWaveletHighFreqDropoutd(keys=["a", "b"], prob=1.0, band_prob=0.5, levels=2).set_random_state(11)
    out = t(data)
    torch.testing.assert_close(out["a"], out["b"])
    assert not torch.allclose(out["a"], x)
    t2 = RandWaveletHighFreqDropoutd(keys=["a", "b"], prob=1.0, band_prob=0.5, levels=2).set_random_state(11)
    torch.testing.assert_close(t2(data)["a"], out["a"])
    skip = RandWaveletHighFreqDropoutd(keys="a", prob=0.0)(data)
    assert skip["a"] is x
