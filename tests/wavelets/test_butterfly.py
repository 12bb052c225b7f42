"""The Haar butterfly fast path: taken exactly where the operator is the butterfly, equal to PyWavelets."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch

import medwave.wavelets.butterfly as bf
from medwave.wavelets import MODES, dwt, dwt_packed, idwt, idwt_packed, subband_keys
from medwave.wavelets.filters import get_filter_bank
from medwave.wavelets.operators import analysis_op, synthesis_op

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
HAAR_LIKE = ["haar", "db1", "bior1.1", "rbio1.1"]


def _fast(wavelet: str, shape: tuple, mode: str) -> bool:
    fb = get_filter_bank(wavelet)
    return bf.split_kind_scale([analysis_op(fb, n, mode) for n in shape]) is not None


def _check(x: np.ndarray, wavelet: str, mode: str, dtype: torch.dtype, axes: tuple) -> None:
    ref = pywt.dwtn(x, wavelet, mode=mode, axes=axes)
    xt = torch.as_tensor(x, dtype=dtype)
    ours = dwt(xt, wavelet, mode=mode, spatial_dims=len(axes))
    for k, v in ref.items():
        err = float(np.abs(ours[k].double().numpy() - v).max())
        assert err <= TOL[dtype] * max(1.0, float(np.abs(v).max())), (k, err)
    rec_ref = pywt.idwtn(ref, wavelet, mode=mode, axes=axes)
    rec = idwt({k: torch.as_tensor(v, dtype=dtype) for k, v in ref.items()}, wavelet, mode=mode)
    assert rec.shape == rec_ref.shape
    assert float(np.abs(rec.double().numpy() - rec_ref).max()) <= TOL[dtype] * max(1.0, float(np.abs(rec_ref).max()))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(6,), (4, 10), (8, 6, 4), (2, 2, 2), (10, 12, 14)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_even_sizes_take_the_fast_path_and_match_pywt(mode: str, shape: tuple, dtype: torch.dtype) -> None:
    assert _fast("haar", shape, mode)
    x = np.random.default_rng(0).standard_normal((2, 3) + shape)
    _check(x, "haar", mode, dtype, tuple(range(2, 2 + len(shape))))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(7,), (5, 8), (8, 7, 4), (9, 5, 3), (3, 2, 2)])
def test_odd_sizes_fall_back_and_match_pywt(mode: str, shape: tuple) -> None:
    assert not _fast("haar", shape, mode)
    x = np.random.default_rng(1).standard_normal((1, 2) + shape)
    for dtype in (torch.float32, torch.float64):
        _check(x, "haar", mode, dtype, tuple(range(2, 2 + len(shape))))


@pytest.mark.parametrize("wavelet", HAAR_LIKE)
def test_haar_like_filter_banks_are_recognised_from_their_matrices(wavelet: str) -> None:
    fb = get_filter_bank(wavelet)
    assert bf.butterfly_scale(analysis_op(fb, 8, "symmetric")) == ("split", pytest.approx(2**-0.5))
    assert bf.butterfly_scale(synthesis_op(fb, 5, "symmetric"))[0] == "merge"
    assert bf.butterfly_scale(analysis_op(get_filter_bank("db2"), 8, "periodization")) is None
    assert bf.butterfly_scale(synthesis_op(get_filter_bank("db2"), 8, "periodization")) is None
    x = np.random.default_rng(2).standard_normal((1, 1, 6, 4, 8))
    _check(x, wavelet, "symmetric", torch.float64, (2, 3, 4))


def test_many_chunks_and_a_ragged_last_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bf, "BUTTERFLY_CHUNK", 3 * 2 * 6 * 8 * 2)  # 2 rows of 2 channels per chunk
    x = np.random.default_rng(3).standard_normal((1, 2, 22, 6, 8))
    for dtype in (torch.float32, torch.float64):
        _check(x, "haar", "periodization", dtype, (2, 3, 4))
    x2 = np.random.default_rng(4).standard_normal((3, 1, 14, 10))
    _check(x2, "haar", "zero", torch.float64, (2, 3))


def test_non_contiguous_and_channels_last_inputs() -> None:
    base = torch.randn(4, 2, 8, 10, 6, dtype=torch.float64)
    for x in (base.transpose(0, 1), base[:, :, :, ::1, :].permute(0, 1, 2, 4, 3), base.to(memory_format=torch.channels_last_3d)):
        ref = pywt.dwtn(x.numpy(), "haar", axes=(2, 3, 4))
        ours = dwt(x, "haar")
        for k in subband_keys(3):
            assert np.allclose(ours[k].numpy(), ref[k], atol=1e-12)
        packed = dwt_packed(x, "haar")
        assert torch.allclose(idwt_packed(packed.transpose(0, 1).contiguous().transpose(0, 1), "haar"), x, atol=1e-12)


@pytest.mark.parametrize("mode", ["symmetric", "periodization", "zero", "smooth"])
@pytest.mark.parametrize("shape", [(6, 4, 2), (4, 7, 2), (8,), (6, 4)])
def test_gradcheck_fast_and_fallback(mode: str, shape: tuple) -> None:
    x = torch.randn((2, 2) + shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: dwt_packed(t, "haar", mode=mode), (x,))
    c = dwt_packed(x.detach(), "haar", mode=mode).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: idwt_packed(t, "haar", mode=mode), (c,))
    assert torch.autograd.gradgradcheck(lambda t: dwt_packed(t, "haar", mode=mode), (x,))


def test_float32_roundtrip_and_gradient_of_a_large_volume() -> None:
    x = torch.randn(1, 1, 64, 48, 40, requires_grad=True)
    c = dwt_packed(x, "haar", mode="symmetric")
    y = idwt_packed(c, "haar", mode="symmetric")
    assert torch.allclose(y, x, atol=1e-5)
    w = torch.randn_like(y)
    (y * w).sum().backward()
    assert torch.allclose(x.grad, w, atol=1e-5)  # orthogonal: the round trip's adjoint is the identity
