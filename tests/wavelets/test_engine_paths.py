"""Engine code paths that small shapes never reach: long innermost axes (de-interleaved analysis,
re-interleaved synthesis), many chunks, compared with PyWavelets for every mode."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch

import medwave.wavelets.engine as engine
from medwave.wavelets import MODES, dwt, dwt_packed, idwt, idwt_packed

WAVELETS = ["db2", "bior2.2", "sym4", "coif1", "rbio3.5", "db7"]
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def _check(x: np.ndarray, wavelet: str, mode: str, dtype: torch.dtype) -> None:
    axes = tuple(range(2, x.ndim))
    try:
        ref = pywt.dwtn(x, wavelet, mode=mode, axes=axes)
    except ValueError:
        pytest.skip("pywt refuses this size/mode")
    ours = dwt(torch.as_tensor(x, dtype=dtype), wavelet, mode=mode)
    gain = float(pywt.Wavelet(wavelet).dec_len) if mode == "smooth" else 1.0
    for k, v in ref.items():
        scale = max(1.0, float(np.abs(v).max()), gain)
        assert float(np.abs(ours[k].double().numpy() - v).max()) <= TOL[dtype] * scale, k
    rec_ref = pywt.idwtn(ref, wavelet, mode=mode, axes=axes)
    rec = idwt({k: torch.as_tensor(v, dtype=dtype) for k, v in ref.items()}, wavelet, mode=mode)
    scale = max(1.0, max(float(np.abs(v).max()) for v in ref.values()))
    assert float(np.abs(rec.double().numpy() - rec_ref).max()) <= TOL[dtype] * scale


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("shape", [(67,), (3, 70), (4, 3, 71), (5, 6, 64)])
def test_long_innermost_axis_matches_pywt(shape: tuple, wavelet: str, mode: str) -> None:
    x = np.random.default_rng(len(shape)).standard_normal((2, 1) + shape)
    _check(x, wavelet, mode, torch.float64)
    _check(x, wavelet, mode, torch.float32)


@pytest.mark.parametrize("mode", ["symmetric", "periodization", "smooth", "zero"])
def test_many_chunks_long_rows(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setattr(engine, "CHUNK_ELEMENTS", 2000)
    x = np.random.default_rng(5).standard_normal((1, 2, 23, 5, 41))
    _check(x, "db2", mode, torch.float64)
    _check(x, "bior2.2", mode, torch.float32)


@pytest.mark.parametrize("mode", ["symmetric", "periodization", "antireflect"])
def test_gradcheck_long_innermost_axis(mode: str) -> None:
    x = torch.randn(1, 2, 3, 37, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: dwt_packed(t, "db2", mode=mode), (x,))
    c = dwt_packed(x.detach(), "db2", mode=mode).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: idwt_packed(t, "db2", mode=mode), (c,))


def test_non_contiguous_input_long_axis() -> None:
    base = torch.randn(3, 2, 6, 50, dtype=torch.float64)
    x = base.transpose(0, 1)
    ref = pywt.dwtn(x.numpy(), "db3", mode="reflect", axes=(2, 3))
    ours = dwt(x, "db3", mode="reflect")
    for k, v in ref.items():
        assert np.allclose(ours[k].numpy(), v, atol=1e-12)


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(-1).view(torch.uint8)


def test_deinterleave_and_interleave_are_exact_bit_copies() -> None:
    from medwave.wavelets.operators import _deinterleave, _interleave_into

    special = torch.tensor([0.0, -0.0, float("nan"), float("inf"), -float("inf"), 1e-45, -3.5, 2.0**100])
    base = torch.cat([special, torch.randn(56)]).view(4, 16)
    for x in (base, base[:, 1:15], base[1:, :], base.double(), base[:, :15]):  # fast path, odd offsets, float64, odd n
        even, odd = _deinterleave(x, 1)
        assert torch.equal(_bits(even), _bits(x[:, 0::2]))
        assert torch.equal(_bits(odd), _bits(x[:, 1::2]))
        k = odd.shape[1]
        for start in (0, 1):
            out = torch.zeros(x.shape[0], 2 * k + start + 1, dtype=x.dtype)
            _interleave_into(out, 1, start, even[:, :k], odd)
            assert torch.equal(_bits(out[:, start : start + 2 * k : 2]), _bits(even[:, :k]))
            assert torch.equal(_bits(out[:, start + 1 : start + 2 * k : 2]), _bits(odd))
