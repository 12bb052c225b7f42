"""The stationary wavelet transform against ``pywt.swtn``/``pywt.iswtn``: keys, values (1e-10 in float64),
every option, both engines (torch and the numba kernels), perfect reconstruction and exact gradients."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import pywt
import torch

import medwave.wavelets.circular as circular
from medwave.utils import compiled
from medwave.wavelets import DISCRETE_WAVELETS, iswt, swt, swt_max_level, swt_packed

FAST_WAVELETS = ["haar", "db2", "sym3", "coif1", "bior2.4", "rbio3.1", "db5"]
SHAPES = {1: (32,), 2: (16, 24), 3: (8, 16, 12)}


@pytest.fixture(params=["torch", "kernels"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on the torch path and on the numba kernels (sent every size)."""
    if request.param == "kernels":
        if not compiled.NUMBA_AVAILABLE:
            pytest.skip("numba not installed")
        monkeypatch.setattr(circular, "MIN_ELEMENTS", 1)
        prev = compiled.set_compiled(True)
    else:
        prev = compiled.set_compiled(False)
    yield request.param
    compiled.set_compiled(prev)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach()[0, 0].numpy()


def _compare(ref: list, got: list, tol: float = 1e-10) -> None:
    assert len(ref) == len(got)
    for r, g in zip(ref, got):
        if isinstance(r, dict):
            assert sorted(r) == sorted(g)
            for k in r:
                np.testing.assert_allclose(_np(g[k]), r[k], rtol=0, atol=tol, err_msg=k)
        else:
            np.testing.assert_allclose(_np(g), r, rtol=0, atol=tol)


def _pywt_swtn(x: np.ndarray, wavelet: str, **kw) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pywt.swtn(x, wavelet, **kw)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("wavelet", FAST_WAVELETS)
def test_swt_equals_pywt(engine: str, wavelet: str, dims: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal(SHAPES[dims])
    for level, start, trim, norm in [(2, 0, False, False), (1, 1, True, True), (2, 1, False, True), (3, 0, True, False)]:
        if start + level > swt_max_level(x.shape):
            continue
        ref = _pywt_swtn(x, wavelet, level=level, start_level=start, trim_approx=trim, norm=norm)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = swt(torch.from_numpy(x)[None, None], wavelet, level=level, start_level=start, trim_approx=trim,
                      norm=norm)
        _compare(ref, got)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("wavelet", ["haar", "db3", "bior3.5", "sym4"])
def test_iswt_equals_pywt_on_any_coefficients(engine: str, wavelet: str, dims: int, rng: np.random.Generator) -> None:
    """Not only consistent coefficients: perturbed ones (as after thresholding) give pywt.iswtn's answer."""
    x = rng.standard_normal(SHAPES[dims])
    for trim, norm in [(False, False), (True, True)]:
        coeffs = _pywt_swtn(x, wavelet, level=2, trim_approx=trim, norm=norm)
        noisy = [
            {k: v + rng.standard_normal(v.shape) for k, v in c.items()} if isinstance(c, dict)
            else c + rng.standard_normal(c.shape)
            for c in coeffs
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = pywt.iswtn([dict(c) if isinstance(c, dict) else c for c in noisy], wavelet, norm=norm)
        tens = [
            {k: torch.from_numpy(v)[None, None] for k, v in c.items()} if isinstance(c, dict)
            else torch.from_numpy(c)[None, None]
            for c in noisy
        ]
        np.testing.assert_allclose(_np(iswt(tens, wavelet, norm=norm)), ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("wavelet", ["db2", "bior2.2", "coif2"])
def test_perfect_reconstruction_and_batches(engine: str, wavelet: str, rng: np.random.Generator) -> None:
    x = torch.as_tensor(rng.standard_normal((2, 3, 8, 16, 8)))
    c = swt(x, wavelet, level=3)
    assert c[0]["ada"].shape == x.shape
    torch.testing.assert_close(iswt(c, wavelet), x, rtol=0, atol=1e-10)
    trimmed = swt(x, wavelet, level=2, trim_approx=True, norm=True)
    torch.testing.assert_close(iswt(trimmed, wavelet, norm=True), x, rtol=0, atol=1e-10)
    # every (batch, channel) item is its own transform
    one = swt(x[1:2, 2:3], wavelet, level=3)
    torch.testing.assert_close(c[1]["dad"][1:2, 2:3], one[1]["dad"], rtol=0, atol=1e-12)


def test_float32_and_lead_axes(engine: str, rng: np.random.Generator) -> None:
    x = rng.standard_normal((3, 16, 32)).astype(np.float32)
    got = swt(torch.from_numpy(x), "db2", level=2, spatial_dims=2)
    ref = pywt.swtn(x.astype(np.float64), "db2", level=2, axes=(1, 2))
    assert got[0]["ad"].dtype == torch.float32
    np.testing.assert_allclose(got[0]["ad"].numpy(), ref[0]["ad"], rtol=0, atol=1e-5)


def test_gradients_are_exact(engine: str, rng: np.random.Generator) -> None:
    x = torch.as_tensor(rng.standard_normal((1, 2, 4, 8, 4)), dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: tuple(swt_packed(t, "db2", level=2)), (x,), fast_mode=True)
    c = [p.detach().requires_grad_() for p in swt_packed(x.detach(), "sym3", level=2)]
    from medwave.wavelets.stationary import iswt_packed

    assert torch.autograd.gradcheck(lambda a, b: iswt_packed([a, b], "sym3"), tuple(c), fast_mode=True)


def test_kernels_equal_torch_path_and_adjoint(monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator) -> None:
    if not compiled.NUMBA_AVAILABLE:
        pytest.skip("numba not installed")
    from medwave.utils import memory

    monkeypatch.setattr(circular, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(memory, "HUGE_MIN_BYTES", 1)  # outputs and gradients in pooled buffers, as large ones are
    for shape in [(16, 8, 32), (8, 24), (64,)]:
        x = torch.as_tensor(rng.standard_normal((1, 2) + shape))
        prev = compiled.set_compiled(False)
        ref = swt_packed(x, "coif1", level=2)
        xg = x.clone().requires_grad_()
        sum(((p * p.detach()).sum() for p in swt_packed(xg, "coif1", level=2))).backward()
        compiled.set_compiled(True)
        got = swt_packed(x, "coif1", level=2)
        xk = x.clone().requires_grad_()
        sum(((p * p.detach()).sum() for p in swt_packed(xk, "coif1", level=2))).backward()
        compiled.set_compiled(prev)
        for r, g in zip(ref, got):
            torch.testing.assert_close(g, r, rtol=0, atol=1e-12)
        torch.testing.assert_close(xk.grad, xg.grad, rtol=0, atol=1e-10)


@pytest.mark.parametrize("bad", [(12, 16, 16), (16, 16, 10)])
def test_sizes_not_multiple_of_power_of_two_are_refused(bad: tuple) -> None:
    with pytest.raises(ValueError, match="multiple of 2"):
        swt(torch.zeros((1, 1) + bad), "haar", level=3)


def test_levels_and_default_level() -> None:
    x = torch.zeros(1, 1, 16, 32)
    assert len(swt(x, "haar")) == 4 == swt_max_level((16, 32))
    with pytest.raises(ValueError, match="level must be >= 1"):
        swt(x, "haar", level=0)


@pytest.mark.slow
@pytest.mark.parametrize("wavelet", DISCRETE_WAVELETS)
def test_every_wavelet_equals_pywt(wavelet: str, rng: np.random.Generator) -> None:
    for dims in (1, 2, 3):
        x = rng.standard_normal(SHAPES[dims])
        for trim, norm, level, start in [(False, False, 2, 0), (True, True, 1, 1)]:
            ref = _pywt_swtn(x, wavelet, level=level, start_level=start, trim_approx=trim, norm=norm)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = swt(torch.from_numpy(x)[None, None], wavelet, level=level, start_level=start, trim_approx=trim,
                          norm=norm)
            _compare(ref, got)
            coeffs = _pywt_swtn(x, wavelet, level=2, trim_approx=trim, norm=norm)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref_x = pywt.iswtn(coeffs, wavelet, norm=norm)
            tens = [
                {k: torch.from_numpy(v)[None, None] for k, v in c.items()} if isinstance(c, dict)
                else torch.from_numpy(c)[None, None]
                for c in coeffs
            ]
            np.testing.assert_allclose(_np(iswt(tens, wavelet, norm=norm)), ref_x, rtol=0, atol=1e-10)


def test_reused_output_buffers_are_fully_overwritten(monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator) -> None:
    """The kernels write every output element: buffers reused from the pool (here full of NaN) leave no trace."""
    if not compiled.NUMBA_AVAILABLE:
        pytest.skip("numba not installed")
    from medwave.utils import memory

    monkeypatch.setattr(circular, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(memory, "HUGE_MIN_BYTES", 1)
    monkeypatch.setattr(memory, "POOL_MAX_BYTES", 1 << 24)
    prev = compiled.set_compiled(True)
    try:
        x = rng.standard_normal((8, 16, 12))
        for wavelet in ("haar", "coif1"):
            memory.release_pool()
            stale = [memory.pooled_empty((1, 8, 8, 16, 12), torch.float64).fill_(float("nan")) for _ in range(2)]
            stale.append(memory.pooled_empty((1, 1, 8, 16, 12), torch.float64).fill_(float("nan")))
            del stale
            got = swt(torch.from_numpy(x)[None, None], wavelet, level=2)
            assert memory.pool_bytes() == x.size * 8  # the two level buffers were taken from the pool
            _compare(_pywt_swtn(x, wavelet, level=2), got)
            torch.testing.assert_close(iswt(got, wavelet)[0, 0], torch.from_numpy(x), rtol=0, atol=1e-10)
            del got
    finally:
        compiled.set_compiled(prev)
        memory.release_pool()
