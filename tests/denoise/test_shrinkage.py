"""denoise_volume / wavelet_shrinkage against skimage.restoration.denoise_wavelet (the reference) and their contracts."""

from __future__ import annotations

import numpy as np
import pywt
import pytest
import torch
from skimage.restoration import denoise_wavelet

from medwave.denoise import denoise_volume, estimate_noise_sigma, wavelet_shrinkage
from medwave.denoise.shrinkage import median_abs_nonzero


def _phantom(shape, rng, noise=0.1, dtype=np.float32):
    grids = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    r2 = sum(g**2 for g in grids)
    clean = (np.exp(-3 * r2) + 0.5 * (r2 < 0.3)).astype(dtype)
    noisy = (clean + noise * rng.standard_normal(shape)).astype(dtype)
    return clean, noisy


def _no_warning():
    import contextlib

    return contextlib.nullcontext()


def _psnr(x, ref):
    return 10 * np.log10((ref.max() - ref.min()) ** 2 / np.mean((x.astype(np.float64) - ref) ** 2))


@pytest.mark.parametrize("shape", [(67, 80), (33, 40, 37)])
@pytest.mark.parametrize("wavelet", ["db1", "db2", "sym4"])
@pytest.mark.parametrize("method", ["BayesShrink", "VisuShrink"])
@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_matches_skimage(shape, wavelet, method, mode, rng):
    clean, noisy = _phantom(shape, rng)
    ref = denoise_wavelet(noisy, wavelet=wavelet, method=method, mode=mode, channel_axis=None)
    out = denoise_volume(noisy, wavelet=wavelet, method=method, mode=mode)
    assert out.dtype == noisy.dtype and out.shape == noisy.shape
    assert abs(_psnr(out, clean) - _psnr(ref, clean)) < 0.2  # the acceptance criterion
    np.testing.assert_allclose(out, ref, atol=2e-5)  # and in fact the same numbers


@pytest.mark.parametrize("levels", [1, 2, 4])
def test_levels_and_given_sigma_match_skimage(levels, rng):
    clean, noisy = _phantom((40, 48, 36), rng, dtype=np.float64)
    with pytest.warns(UserWarning) if levels > 3 else _no_warning():  # db2 on 36 voxels: max level 3
        ref = denoise_wavelet(noisy, sigma=0.08, wavelet="db2", wavelet_levels=levels, channel_axis=None)
    with pytest.warns(UserWarning, match="deeper than useful") if levels > 3 else _no_warning():
        out = denoise_volume(noisy, sigma=0.08, wavelet="db2", levels=levels)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, ref, atol=1e-10)


def test_denoising_improves_psnr(rng):
    clean, noisy = _phantom((48, 48, 48), rng, noise=0.2)
    out = denoise_volume(noisy)
    assert _psnr(out, clean) > _psnr(noisy, clean) + 5


def test_sigma_estimate_matches_skimage_and_truth(rng):
    from skimage.restoration import estimate_sigma

    noise = 0.3 * rng.standard_normal((64, 64, 64))
    _, sig, _ = wavelet_shrinkage(noise, wavelet="db2")  # estimate_sigma uses db2
    assert abs(float(sig[0]) - estimate_sigma(noise)) < 1e-9
    assert abs(float(sig[0]) - 0.3) < 0.01


def test_median_abs_nonzero_equals_numpy(rng):
    for n in (1, 2, 7, 8, 1001, 1000):
        v = rng.standard_normal(n).astype(np.float32)
        v[rng.random(n) < 0.3] = 0
        v[: n // 5] = v[0]  # ties
        nz = np.abs(v[v != 0])
        expected = np.median(nz) if nz.size else 0.0
        assert median_abs_nonzero(torch.from_numpy(v)) == pytest.approx(float(expected), rel=1e-6)
    assert median_abs_nonzero(torch.zeros(10)) == 0.0


def test_leading_axes_are_independent_images(rng):
    _, a = _phantom((32, 36), rng, noise=0.05)
    _, b = _phantom((32, 36), rng, noise=0.3)
    both = np.stack([a, b])
    out, sig, levels = wavelet_shrinkage(both, spatial_dims=2)
    assert isinstance(out, np.ndarray) and levels == max(pywt.dwt_max_level(32, 2) - 3, 1) == 2
    np.testing.assert_allclose(out[0], denoise_volume(a), atol=1e-6)
    np.testing.assert_allclose(out[1], denoise_volume(b), atol=1e-6)
    assert sig.shape == (2,) and sig[1] > 3 * sig[0]


def test_torch_in_torch_out_input_untouched(rng):
    _, noisy = _phantom((24, 24, 24), rng)
    t = torch.from_numpy(noisy.copy())
    before = t.clone()
    out = denoise_volume(t)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert torch.equal(t, before)
    np.testing.assert_allclose(out.numpy(), denoise_volume(noisy), atol=1e-6)


def test_integer_input_gives_float32_without_rescaling(rng):
    arr = (1000 + 50 * rng.standard_normal((24, 24, 24))).astype(np.int16)
    out = denoise_volume(arr)
    assert out.dtype == np.float32
    assert abs(out.mean() - arr.mean()) < 1.0  # HU-like values kept, not rescaled to [0, 1]


def test_errors(rng):
    x = rng.standard_normal((16, 16)).astype(np.float32)
    with pytest.raises(ValueError, match="method"):
        denoise_volume(x, method="SureShrink")
    with pytest.raises(ValueError, match="wavelet_mode"):
        denoise_volume(x, mode="symmetric")
    with pytest.raises(ValueError, match="spatial_dims"):
        denoise_volume(np.zeros((2, 2, 8, 8, 8), np.float32))
    with pytest.raises(ValueError, match="levels must be >= 1"):
        denoise_volume(x, levels=0)
    bad = x.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="1 NaN/Inf"):
        denoise_volume(bad)
    for wavelet in ("db1", "db2", "bior2.2"):  # every voxel reaches a coefficient, corners included
        for pos in ((0, 0, 0), (16, 17, 14), (8, 9, 7)):
            vol = rng.standard_normal((17, 18, 15)).astype(np.float32)
            vol[pos] = np.inf
            with pytest.raises(ValueError, match="1 NaN/Inf"):
                denoise_volume(vol, wavelet=wavelet)
    huge = np.full((16, 16), 1e30, np.float32)  # norms overflow float32 but the data is finite
    assert np.all(np.isfinite(denoise_volume(huge)))
    with pytest.raises(ValueError, match="one value or one per image"):
        denoise_volume(np.stack([x, x, x]), spatial_dims=2, sigma=[0.1, 0.2])


def test_estimate_noise_sigma_batch():
    band = torch.tensor([[0.0, 1.0, -2.0, 3.0], [0.0, 0.0, 0.0, 0.0]])
    s = estimate_noise_sigma(band)
    assert s[0].item() == pytest.approx(2.0 / 0.6744897501960817)
    assert s[1].item() == 0.0


def test_metatensor_keeps_meta(rng):
    from monai.data import MetaTensor

    x = rng.standard_normal((1, 16, 18, 20)).astype(np.float32)
    aff = torch.diag(torch.tensor([2.0, 3.0, 4.0, 1.0], dtype=torch.float64))
    out = denoise_volume(MetaTensor(torch.from_numpy(x), affine=aff), spatial_dims=3)
    assert isinstance(out, MetaTensor)
    np.testing.assert_allclose(out.affine.numpy(), aff.numpy())
    np.testing.assert_allclose(out.as_tensor().numpy(), denoise_volume(x, spatial_dims=3), atol=1e-6)
