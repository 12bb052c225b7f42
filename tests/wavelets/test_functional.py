"""medwave.wavelets functional API against PyWavelets (the reference), coefficient for coefficient."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import pywt
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from medwave.wavelets import (
    DISCRETE_WAVELETS,
    MODES,
    dwt,
    dwt_lowpass,
    dwt_max_level,
    dwt_packed,
    idwt,
    idwt_packed,
    subband_keys,
    wavedec,
    waverec,
)

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
# One of each family, plus the longest filter (dmey), for the fast sweep; the slow sweep takes all of them.
FAST_WAVELETS = ["haar", "db2", "db5", "sym4", "coif2", "bior2.2", "bior3.5", "rbio1.3", "rbio4.4", "dmey"]
SHAPES_3D = [(9, 10, 11), (8, 8, 8), (5, 12, 3), (2, 3, 1), (17, 6, 20)]


def _pywt_dwtn(x: np.ndarray, wavelet: str, mode: str):
    try:
        return pywt.dwtn(x, wavelet, mode=mode)
    except ValueError:  # pywt refuses some (mode, size) pairs, e.g. reflect on length 1
        return None


def _close(ours: torch.Tensor, ref: np.ndarray, dtype: torch.dtype, scale: float = 1.0) -> None:
    """Equal within TOL relative to max(1, |ref|, scale).

    ``scale`` is the magnitude of the operands: a reconstruction from coefficients of size 1e6
    (smooth mode with 76-tap filters extrapolates far) cannot be more exact than eps * 1e6.
    """
    ours_np = ours.detach().to(torch.float64).numpy()
    assert ours_np.shape == ref.shape
    scale = max(1.0, float(np.abs(ref).max()) if ref.size else 0.0, scale)
    err = float(np.abs(ours_np - ref).max()) if ref.size else 0.0
    assert err <= TOL[dtype] * scale, f"max error {err:.3g} (scale {scale:.3g})"


def _smooth_gain(wavelet: str, mode: str) -> float:
    """'smooth' extrapolates linearly over filter_len - 1 samples: operands grow ~filter_len-fold."""
    return float(pywt.Wavelet(wavelet).dec_len) if mode == "smooth" else 1.0


def _mag(coeffs) -> float:
    if isinstance(coeffs, dict):
        return max(float(np.abs(v).max()) for v in coeffs.values())
    return max(_mag(c) if isinstance(c, dict) else float(np.abs(c).max()) for c in coeffs)


def _check_dwt_idwt(wavelet: str, mode: str, shape: tuple, dtype: torch.dtype, seed: int = 0) -> None:
    x = np.random.default_rng(seed).standard_normal(shape)
    ref = _pywt_dwtn(x, wavelet, mode)
    if ref is None:
        with pytest.raises(ValueError, match="Cannot apply wavelet"):
            dwt(torch.as_tensor(x, dtype=dtype)[None, None], wavelet, mode=mode)
        return
    d = len(shape)
    xt = torch.as_tensor(x, dtype=dtype)[None, None]
    ours = dwt(xt, wavelet, mode=mode)
    assert list(ours) == subband_keys(d) == sorted(ref)
    for k in ref:
        _close(ours[k][0, 0], ref[k], dtype, scale=_smooth_gain(wavelet, mode))
    rec_ref = pywt.idwtn(ref, wavelet, mode=mode)
    rec = idwt({k: torch.as_tensor(v, dtype=dtype)[None, None] for k, v in ref.items()}, wavelet, mode=mode)
    _close(rec[0, 0], rec_ref, dtype, scale=_mag(ref))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wavelet", FAST_WAVELETS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dwtn_idwtn_3d_match_pywt(wavelet: str, mode: str, dtype: torch.dtype) -> None:
    for shape in SHAPES_3D:
        _check_dwt_idwt(wavelet, mode, shape, dtype)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(1,), (2,), (3,), (7,), (64,), (65,), (5, 7), (12, 33)])
def test_1d_2d_match_pywt_including_shorter_than_filter(mode: str, shape: tuple) -> None:
    for wavelet in ("db4", "sym7", "bior6.8"):  # filters of length 8-18: most shapes are shorter
        _check_dwt_idwt(wavelet, mode, shape, torch.float64)


@pytest.mark.slow
@pytest.mark.parametrize("wavelet", DISCRETE_WAVELETS)
def test_every_wavelet_every_mode_matches_pywt(wavelet: str) -> None:
    for mode, shape, dtype in itertools.product(MODES, [(7, 4, 9), (16, 5, 2), (1, 13)], [torch.float32, torch.float64]):
        x = np.random.default_rng(2).standard_normal(shape)
        try:
            ref = pywt.dwtn(x, wavelet, mode=mode)
        except ValueError:
            continue
        ours = dwt(torch.as_tensor(x, dtype=dtype)[None, None], wavelet, mode=mode)
        for k in ref:
            _close(ours[k][0, 0], ref[k], dtype, scale=_smooth_gain(wavelet, mode))
        rec = idwt(ours, wavelet, mode=mode)
        _close(rec[0, 0], pywt.idwtn(ref, wavelet, mode=mode), dtype, scale=_mag(ref))


def _check_multilevel(wavelet: str, mode: str, shape: tuple, dtype: torch.dtype, level=None) -> None:
    x = np.random.default_rng(3).standard_normal(shape)
    ref = pywt.wavedecn(x, wavelet, mode=mode, level=level)
    ours = wavedec(torch.as_tensor(x, dtype=dtype)[None, None], wavelet, mode=mode, level=level)
    assert len(ours) == len(ref)
    gain = _smooth_gain(wavelet, mode) ** len(ref)
    _close(ours[0][0, 0], ref[0], dtype, scale=gain)
    for o, r in zip(ours[1:], ref[1:]):
        assert sorted(o) == sorted(r)
        for k in r:
            _close(o[k][0, 0], r[k], dtype, scale=gain)
    rec = waverec(ours, wavelet, mode=mode)
    _close(rec[0, 0], pywt.waverecn(ref, wavelet, mode=mode), dtype, scale=_mag(ref))
    # with shape=, the original comes back exactly (pywt adds a sample along odd axes)
    rec = waverec(ours, wavelet, mode=mode, shape=shape)
    _close(rec[0, 0], x, dtype, scale=_mag(ref))


@pytest.mark.parametrize("wavelet", ["haar", "db3", "bior2.2", "coif1"])
@pytest.mark.parametrize("mode", ["symmetric", "periodization", "zero", "smooth", "antireflect"])
def test_wavedecn_waverecn_up_to_max_level(wavelet: str, mode: str) -> None:
    for shape in [(33, 20, 17), (64, 9, 40)]:
        max_level = pywt.dwtn_max_level(shape, wavelet)
        assert dwt_max_level(shape, wavelet) == max_level
        for level in range(1, max_level + 1):
            _check_multilevel(wavelet, mode, shape, torch.float64, level)
        _check_multilevel(wavelet, mode, shape, torch.float32, None)


@pytest.mark.slow
@pytest.mark.parametrize("wavelet", DISCRETE_WAVELETS)
def test_multilevel_every_wavelet(wavelet: str) -> None:
    for mode in MODES:
        _check_multilevel(wavelet, mode, (40, 23, 31), torch.float64)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(1, 24), min_size=1, max_size=3),
    wavelet=st.sampled_from(["haar", "db2", "sym3", "bior1.3", "rbio2.4", "coif1"]),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_match_pywt(shape, wavelet, mode, seed) -> None:
    x = np.random.default_rng(seed).standard_normal(shape)
    try:
        ref = pywt.dwtn(x, wavelet, mode=mode)
    except ValueError:
        return
    ours = dwt(torch.as_tensor(x)[None, None], wavelet, mode=mode)
    for k in ref:
        _close(ours[k][0, 0], ref[k], torch.float64)
    _close(idwt(ours, wavelet, mode=mode)[0, 0], pywt.idwtn(ref, wavelet, mode=mode), torch.float64, scale=_mag(ref))


def test_packed_layout_batch_channels_and_lowpass() -> None:
    x = torch.randn(3, 2, 10, 7, 6, dtype=torch.float64)
    p = dwt_packed(x, "db2", mode="symmetric")
    assert p.shape == (3, 2, 8, 6, 5, 4)
    for b in range(3):
        for c in range(2):
            ref = pywt.dwtn(x[b, c].numpy(), "db2", mode="symmetric")
            for i, k in enumerate(subband_keys(3)):
                np.testing.assert_allclose(p[b, c, i].numpy(), ref[k], atol=1e-12)
    np.testing.assert_allclose(dwt_lowpass(x, "db2", mode="symmetric").numpy(), p[:, :, 0].numpy(), atol=0)
    rec = idwt_packed(p, "db2", mode="symmetric", shape=(10, 7, 6))
    np.testing.assert_allclose(rec.numpy(), x.numpy(), atol=1e-12)


def test_extra_leading_axes_and_explicit_spatial_dims() -> None:
    x = torch.randn(2, 3, 4, 12, 10)
    c = dwt(x, "haar", mode="periodization", spatial_dims=2)
    assert c["ad"].shape == (2, 3, 4, 6, 5)
    ref = pywt.dwtn(x[1, 2, 3].numpy().astype(np.float64), "haar", mode="periodization")
    np.testing.assert_allclose(c["ad"][1, 2, 3].numpy(), ref["ad"], atol=1e-5)


def test_idwt_missing_and_none_bands_are_zero() -> None:
    x = np.random.default_rng(4).standard_normal((9, 8))
    ref = pywt.dwtn(x, "db2")
    partial = {"aa": ref["aa"], "dd": None, "ad": ref["ad"]}
    expected = pywt.idwtn({"aa": ref["aa"], "ad": ref["ad"], "da": None, "dd": None}, "db2")
    ours = idwt({k: None if v is None else torch.as_tensor(v) for k, v in partial.items()}, "db2")
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-12)


def test_integer_input_is_promoted_and_float16_roundtrips() -> None:
    x = torch.arange(64, dtype=torch.int32).reshape(1, 1, 8, 8)
    c = dwt(x, "haar")
    assert c["aa"].dtype == torch.get_default_dtype()
    ref = pywt.dwtn(x[0, 0].numpy().astype(np.float64), "haar")
    np.testing.assert_allclose(c["aa"][0, 0].numpy(), ref["aa"], rtol=1e-6)
    h = torch.randn(1, 1, 16, 16).half()
    assert dwt_packed(h, "db2").dtype == torch.float16
