"""DTCWT / DTCWTd (array and dictionary forms): channels equal dtcwt_forward's pyramid part by part (real and
imaginary channels, space-to-depth phases), perfect reconstruction through inverse and MONAI's Invertd, MetaTensor
affine and applied_operations, plain tensors and arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Invertd

from medwave.transforms import DTCWT, DTCWTd, dtcwt_channel_names
from medwave.wavelets import dtcwt_forward


def _img(rng: np.random.Generator, shape: tuple) -> MetaTensor:
    d = len(shape) - 1
    aff = torch.eye(4, dtype=torch.float64)
    aff[:d, :d] = torch.diag(torch.tensor([2.0, 3.0, 1.5][:d], dtype=torch.float64))
    aff[:d, 3] = torch.tensor([5.0, -2.0, 1.0][:d], dtype=torch.float64)
    return MetaTensor(torch.as_tensor(rng.standard_normal(shape)), affine=aff)


def _phase(names: list[str], name: str) -> int:
    return names.index(name)


@pytest.mark.parametrize("shape, nlevels, biort, qshift", [
    ((2, 16, 24, 8), 2, "near_sym_a", "qshift_a"),
    ((1, 24, 16), 3, "near_sym_b", "qshift_b"),
    ((2, 32), 3, "legall", "qshift_06"),
])
def test_channels_are_the_pyramid(shape, nlevels, biort, qshift, rng) -> None:
    img = _img(rng, shape)
    d = len(shape) - 1
    t = DTCWT(nlevels=nlevels, biort=biort, qshift=qshift)
    y = t(img)
    names = t.channel_names(d)
    assert names == dtcwt_channel_names(d, nlevels)
    assert y.shape == (shape[0] * len(names),) + tuple(s // 2**nlevels for s in shape[1:])
    assert len(set(names)) == len(names)
    p = dtcwt_forward(img.as_tensor()[None], nlevels=nlevels, biort=biort, qshift=qshift, spatial_dims=d)
    c = shape[0] - 1  # the last input channel
    v = y.as_tensor().reshape((shape[0], len(names)) + tuple(y.shape[1:]))[c]
    # lowpass phase [0,..,0] and [1,..,1]: every other sample of the level-L lowpass
    low = p.lowpass[0, c]
    np.testing.assert_allclose(v[_phase(names, f"L{nlevels}:lowpass[{','.join('0' * d)}]")].numpy(),
                               low[tuple(slice(0, None, 2) for _ in range(d))].numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(v[_phase(names, f"L{nlevels}:lowpass[{','.join('1' * d)}]")].numpy(),
                               low[tuple(slice(1, None, 2) for _ in range(d))].numpy(), rtol=0, atol=1e-12)
    # coarsest highpass (one phase): real and imaginary parts of an orientation
    hs = [h if d > 1 else h[..., None] for h in p.highpasses]  # 1D highpasses have no orientation axis
    k = hs[-1].shape[-1] - 1
    h = hs[-1][0, c, ..., k]
    np.testing.assert_allclose(v[_phase(names, f"L{nlevels}:o{k}.re[{','.join('0' * d)}]")].numpy(), h.real.numpy(),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(v[_phase(names, f"L{nlevels}:o{k}.im[{','.join('0' * d)}]")].numpy(), h.imag.numpy(),
                               rtol=0, atol=1e-12)
    # finest highpass: phase offsets (f - 1, ..., f - 1) of orientation 0, imaginary part
    f = 2 ** (nlevels - 1)
    h1 = hs[0][0, c, ..., 0]
    name = f"L1:o0.im[{','.join([str(f - 1)] * d)}]"
    np.testing.assert_allclose(v[_phase(names, name)].numpy(), h1.imag[tuple(slice(f - 1, None, f) for _ in range(d))]
                               .numpy(), rtol=0, atol=1e-12)
    # metadata: the coarse grid, one recorded operation; the inverse restores values, shape, affine
    fct = 2.0**nlevels
    assert y.affine[0, 0].item() == pytest.approx(2.0 * fct)
    assert y.affine[0, 3].item() == pytest.approx(5.0 + 2.0 * (fct - 1) / 2)
    assert len(y.applied_operations) == 1
    back = t.inverse(y)
    assert back.shape == img.shape and not back.applied_operations
    torch.testing.assert_close(back.as_tensor(), img.as_tensor(), rtol=0, atol=1e-9)
    torch.testing.assert_close(back.affine, img.affine.to(back.affine.dtype))


def test_odd_2d_sizes_are_padded_and_cropped_back(rng) -> None:
    img = _img(rng, (1, 17, 23))
    t = DTCWT(nlevels=2)
    y = t(img)
    p = dtcwt_forward(img.as_tensor()[None], nlevels=2)
    assert y.shape[1:] == (-(-p.highpasses[0].shape[2] // 2), -(-p.highpasses[0].shape[3] // 2))
    back = t.inverse(y)
    assert back.shape == img.shape
    torch.testing.assert_close(back.as_tensor(), img.as_tensor(), rtol=0, atol=1e-9)


def test_3d_volume_through_the_fused_kernel_and_invertd(rng, monkeypatch) -> None:
    import medwave.wavelets.dtcwt_fused as fused_mod

    monkeypatch.setattr(fused_mod, "MIN_ELEMENTS", 0)
    img = _img(rng, (1, 40, 36, 44)).float()
    pre = Compose([DTCWTd(keys=["image", "label"], nlevels=2, biort="near_sym_b", qshift="qshift_b")])
    data = pre({"image": img, "label": img * 2})
    assert data["image"].shape == (len(dtcwt_channel_names(3, 2)), 10, 9, 11) and data["image"].dtype == torch.float32
    t = DTCWT(nlevels=2, biort="near_sym_b", qshift="qshift_b")
    unpacked = t.unpack(data["image"].as_tensor(), data["image"].applied_operations[-1]["extra_info"])
    ref = dtcwt_forward(img.as_tensor()[None], nlevels=2, biort="near_sym_b", qshift="qshift_b")
    for a, b in zip(unpacked.highpasses, ref.highpasses):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(unpacked.lowpass, ref.lowpass, rtol=0, atol=0)
    back = Invertd(keys=["image", "label"], transform=pre, orig_keys=["image", "label"])(data)
    assert back["image"].shape == img.shape
    torch.testing.assert_close(back["image"].as_tensor(), img.as_tensor(), rtol=0, atol=1e-4)
    torch.testing.assert_close(back["label"].as_tensor(), 2 * img.as_tensor(), rtol=0, atol=1e-4)
    torch.testing.assert_close(back["image"].affine, img.affine.to(back["image"].affine.dtype))


def test_plain_inputs_and_errors(rng) -> None:
    x = rng.standard_normal((1, 16, 16))
    y = DTCWT(nlevels=2)(x)
    assert isinstance(y, np.ndarray) and y.shape == (len(dtcwt_channel_names(2, 2)), 4, 4)
    assert isinstance(DTCWT(nlevels=1)(torch.as_tensor(x)), torch.Tensor)
    with pytest.raises(ValueError, match="nlevels"):
        DTCWT(nlevels=0)
    with pytest.raises(ValueError, match="Unknown Q-shift"):
        DTCWT(qshift="nope")
    with pytest.raises(ValueError, match="DivisiblePad"):
        DTCWT()(torch.zeros(1, 8, 9, 8))
    with pytest.raises(ValueError, match="channel-first"):
        DTCWT(spatial_dims=3)(torch.zeros(8, 8))
