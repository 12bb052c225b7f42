"""Array transforms: MetaTensor in/out, affines, inverse, randomness through self.R."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from medwave.transforms import (
    RandWaveletHighFreqDropout,
    WaveletDecompose,
    WaveletDenoise,
    WaveletReconstruct,
    denoise_volume,
)


def _affine():
    a = torch.tensor(
        [[0.0, -1.5, 0.0, 10.0], [2.0, 0.0, 0.0, -20.0], [0.0, 0.0, 1.2, 5.0], [0.0, 0.0, 0.0, 1.0]],
        dtype=torch.float64,
    )
    return a


@pytest.mark.parametrize("shape,levels,mode,wavelet", [((1, 17, 20, 13), 2, "symmetric", "db2"), ((2, 16, 16, 16), 3, "periodization", "haar")])
def test_decompose_affine_and_inverse(shape, levels, mode, wavelet):
    img = MetaTensor(torch.randn(*shape), affine=_affine(), meta={"filename_or_obj": "t1.nii.gz"})
    t = WaveletDecompose(levels=levels, wavelet=wavelet, mode=mode)
    y = t(img)
    assert isinstance(y, MetaTensor)
    assert y.shape[0] == shape[0] * 8**levels
    f = 2**levels
    expected = _affine().numpy() @ np.array(
        [[f, 0, 0, (f - 1) / 2], [0, f, 0, (f - 1) / 2], [0, 0, f, (f - 1) / 2], [0, 0, 0, 1]]
    )
    np.testing.assert_allclose(y.affine.numpy(), expected)
    # world position of coarse voxel 0 = centre of the first 2**L block of fine voxels
    centre = _affine().numpy() @ np.array([(f - 1) / 2] * 3 + [1])
    np.testing.assert_allclose(y.affine.numpy()[:, 3], centre)
    assert y.meta["filename_or_obj"] == "t1.nii.gz"
    assert len(y.applied_operations) == 1
    back = t.inverse(y)
    assert back.shape == img.shape
    torch.testing.assert_close(back.as_tensor(), img.as_tensor(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(back.affine.numpy(), _affine().numpy(), atol=1e-12)
    assert len(back.applied_operations) == 0


def test_decompose_plain_tensor_and_numpy():
    x = np.random.default_rng(0).standard_normal((1, 8, 8)).astype(np.float32)
    y = WaveletDecompose(levels=1)(x)
    assert isinstance(y, np.ndarray) and y.shape == (4, 4, 4)
    yt = WaveletDecompose(levels=1)(torch.from_numpy(x))
    assert type(yt) is torch.Tensor


def test_reconstruct_reads_trace_from_decompose():
    img = MetaTensor(torch.randn(1, 15, 14, 13), affine=_affine())
    y = WaveletDecompose(levels=2, wavelet="db2", mode="symmetric")(img)
    back = WaveletReconstruct()(y)  # a different instance, settings from the trace
    assert back.shape == img.shape
    torch.testing.assert_close(back.as_tensor(), img.as_tensor(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(back.affine.numpy(), _affine().numpy(), atol=1e-12)


def test_reconstruct_standalone_and_its_inverse():
    x = torch.randn(4 * 2, 8, 8, dtype=torch.float64)  # two channels' worth of 2D level-1 bands
    img = MetaTensor(x, affine=torch.diag(torch.tensor([4.0, 4.0, 1.0, 1.0], dtype=torch.float64)))
    r = WaveletReconstruct(spatial_dims=2, levels=1)
    y = r(img)
    assert y.shape == (2, 16, 16)
    np.testing.assert_allclose(np.diag(y.affine.numpy()), [2.0, 2.0, 1.0, 1.0])
    np.testing.assert_allclose(y.affine.numpy()[:2, 3], [-1.0, -1.0])
    z = r.inverse(y)
    torch.testing.assert_close(z.as_tensor(), x)


def test_denoise_transform_keeps_meta_and_matches_core(rng):
    x = rng.standard_normal((2, 20, 22, 24)).astype(np.float32)
    img = MetaTensor(torch.from_numpy(x), affine=_affine(), meta={"filename_or_obj": "a.nii"})
    out = WaveletDenoise(method="VisuShrink", wavelet="db2")(img)
    assert isinstance(out, MetaTensor) and out.dtype == torch.float32
    np.testing.assert_allclose(out.affine.numpy(), _affine().numpy())
    for c in range(2):
        np.testing.assert_allclose(out[c].numpy(), denoise_volume(x[c], method="VisuShrink", wavelet="db2"), atol=1e-6)
    with pytest.raises(ValueError, match="channel-first"):
        WaveletDenoise(spatial_dims=3)(torch.zeros(8, 8, 8))


def test_rand_dropout_reproducible_and_really_drops():
    x = torch.randn(1, 16, 16, 16, generator=torch.Generator().manual_seed(0))
    a = RandWaveletHighFreqDropout(prob=1.0, band_prob=0.5, levels=2).set_random_state(7)
    b = RandWaveletHighFreqDropout(prob=1.0, band_prob=0.5, levels=2).set_random_state(7)
    ya, yb = a(x), b(x)
    torch.testing.assert_close(ya, yb)
    assert a._drop.any() and not a._drop.all()
    from medwave.wavelets import dwt

    ca, cx = dwt(ya[None], "haar", mode="symmetric"), dwt(x[None], "haar", mode="symmetric")
    for i, key in enumerate(["aad", "ada", "add", "daa", "dad", "dda", "ddd"]):
        if a._drop[0, i]:
            assert float(ca[key].abs().max()) < 1e-5
        else:
            torch.testing.assert_close(ca[key], cx[key], atol=1e-5, rtol=0)
    # prob=0: untouched, same object
    c = RandWaveletHighFreqDropout(prob=0.0)
    assert c(x) is x
    # other seeds draw other bands
    draws = set()
    for seed in range(8):
        d = RandWaveletHighFreqDropout(prob=1.0, levels=2).set_random_state(seed)
        d(x)
        draws.add(d._drop.tobytes())
    assert len(draws) > 1


def test_rand_dropout_band_prob_one_gives_block_constant_2d():
    x = MetaTensor(torch.randn(1, 16, 16), affine=_affine())
    y = RandWaveletHighFreqDropout(prob=1.0, band_prob=1.0, mode="periodization").set_random_state(0)(x)
    assert isinstance(y, MetaTensor)
    blocks = y[0].reshape(8, 2, 8, 2)
    torch.testing.assert_close(blocks, blocks[:, :1, :, :1].expand_as(blocks), atol=1e-6, rtol=0)
    torch.testing.assert_close(blocks[:, 0, :, 0], x[0].reshape(8, 2, 8, 2).mean(dim=(1, 3)), atol=1e-6, rtol=0)
