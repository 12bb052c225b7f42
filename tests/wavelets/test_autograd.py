"""Exact gradients: torch.autograd.gradcheck in float64 for every mode, input and learnable filters."""

from __future__ import annotations

import pytest
import torch

from medwave.wavelets import MODES, LearnableWavelet, dwt_packed, idwt_packed, wavedec, waverec


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wavelet", ["haar", "db3", "bior2.2"])
def test_gradcheck_dwt_and_idwt_every_mode(wavelet: str, mode: str) -> None:
    x = torch.randn(1, 1, 7, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: dwt_packed(t, wavelet, mode=mode), (x,))
    c = dwt_packed(x.detach(), wavelet, mode=mode).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: idwt_packed(t, wavelet, mode=mode), (c,))


@pytest.mark.parametrize("mode", ["symmetric", "periodization", "smooth"])
def test_gradgradcheck_and_multilevel(mode: str) -> None:
    x = torch.randn(1, 1, 13, 12, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda t: dwt_packed(t, "db2", mode=mode), (x,))

    def roundtrip(t: torch.Tensor) -> torch.Tensor:
        coeffs = wavedec(t, "db2", mode=mode, level=2)
        coeffs[0] = coeffs[0] * 2.0  # make it non-identity
        return waverec(coeffs, "db2", mode=mode, shape=t.shape[-2:])

    assert torch.autograd.gradcheck(roundtrip, (x,))


def test_gradient_is_the_adjoint() -> None:
    """<A x, y> == <x, A^T y> with A^T from backward, on a large odd 3D input in float32."""
    x = torch.randn(1, 3, 21, 16, 13)
    y = torch.randn_like(dwt_packed(x, "bior3.5", mode="antireflect"))
    xg = x.clone().requires_grad_()
    (dwt_packed(xg, "bior3.5", mode="antireflect") * y).sum().backward()
    lhs = (dwt_packed(x, "bior3.5", mode="antireflect") * y).sum()
    rhs = (x * xg.grad).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-4)


@pytest.mark.parametrize("mode", ["zero", "symmetric", "periodization"])
def test_gradcheck_learnable_filters(mode: str) -> None:
    lw = LearnableWavelet("db2")
    params = (lw.dec_lo, lw.dec_hi, lw.rec_lo, lw.rec_hi)

    # The autograd gradient w.r.t. the four filters equals central finite differences.
    x = torch.randn(1, 1, 9, dtype=torch.float64)
    w = torch.randn_like(dwt_packed(x, lw, mode=mode))
    loss = (dwt_packed(x, lw, mode=mode) * w).sum() + (idwt_packed(dwt_packed(x, lw, mode=mode), lw, mode=mode) ** 2).sum()
    grads = torch.autograd.grad(loss, params)
    eps = 1e-6
    for p, g in zip(params, grads):
        for j in range(p.numel()):
            with torch.no_grad():
                p[j] += eps
                up = (dwt_packed(x, lw, mode=mode) * w).sum() + (idwt_packed(dwt_packed(x, lw, mode=mode), lw, mode=mode) ** 2).sum()
                p[j] -= 2 * eps
                dn = (dwt_packed(x, lw, mode=mode) * w).sum() + (idwt_packed(dwt_packed(x, lw, mode=mode), lw, mode=mode) ** 2).sum()
                p[j] += eps
            assert abs(float(g[j]) - float((up - dn) / (2 * eps))) < 1e-6


def test_learnable_matches_fixed_and_trains() -> None:
    lw = LearnableWavelet("bior2.2")
    x = torch.randn(2, 1, 10, 9)
    assert torch.allclose(dwt_packed(x, lw, mode="symmetric"), dwt_packed(x, "bior2.2", mode="symmetric"), atol=1e-5)
    assert float(lw.perfect_reconstruction_loss()) < 1e-20
    opt = torch.optim.SGD(lw.parameters(), lr=0.1)
    before = lw.dec_hi.detach().clone()
    loss = dwt_packed(x, lw, mode="periodization")[:, :, 1:].abs().mean()
    loss.backward()
    opt.step()
    assert not torch.equal(before, lw.dec_hi.detach())
    assert float(lw.perfect_reconstruction_loss()) > 1e-8  # training moved it off perfect reconstruction


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_backward_dtype_and_batch(dtype: torch.dtype) -> None:
    x = torch.randn(3, 4, 8, 9, 10, dtype=dtype, requires_grad=True)
    y = idwt_packed(dwt_packed(x, "db2", mode="symmetric"), "db2", mode="symmetric", shape=(8, 9, 10))
    (y * y).sum().backward()
    # perfect reconstruction => d/dx sum(x^2) = 2x
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    assert torch.allclose(x.grad, 2 * x.detach(), atol=tol)
