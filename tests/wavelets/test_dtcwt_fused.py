"""The fused (numba) 3D DTCWT forward and inverse against the torch path (itself checked against the dtcwt package's
stored output in test_dtcwt.py) and, where the dtcwt venv exists, against ``dtcwt.Transform3d`` directly on volumes
large enough for the kernel; which path runs when."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import medwave.wavelets.dtcwt_fused as fused_mod
from medwave.utils.compiled import NUMBA_AVAILABLE, compiled_off
from medwave.wavelets import DtcwtPyramid, dtcwt_forward, dtcwt_inverse

pytestmark = pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba is not installed")
DTCWT_PYTHON = "/work/venvs/dtcwt/bin/python"


def _assert_same(a, b, atol: float) -> None:
    torch.testing.assert_close(a.lowpass, b.lowpass, rtol=0, atol=atol)
    assert len(a.highpasses) == len(b.highpasses) and len(a.scales) == len(b.scales)
    for u, v in zip(a.highpasses, b.highpasses):
        assert u.dtype == v.dtype and u.shape == v.shape
        torch.testing.assert_close(u, v, rtol=0, atol=atol)
    for u, v in zip(a.scales, b.scales):
        torch.testing.assert_close(u, v, rtol=0, atol=atol)


@pytest.mark.parametrize(
    "shape, biort, qshift",
    [
        ((1, 1, 64, 56, 48), "near_sym_a", "qshift_a"),
        ((2, 1, 70, 66, 58), "near_sym_b", "qshift_b"),  # level-2 sizes not multiples of 4 (two-sample extension)
        ((1, 2, 64, 40, 56), "antonini", "qshift_06"),
        ((1, 1, 130, 66, 70), "legall", "qshift_d"),  # level 3 has no kernel form on the short axes: torch path
        ((1, 1, 16, 24, 20), "near_sym_a", "qshift_a"),  # only level 1 has one
    ],
)
@pytest.mark.parametrize("nlevels", [1, 2, 3])
def test_fused_equals_torch_path(shape, biort, qshift, nlevels, monkeypatch, rng) -> None:
    monkeypatch.setattr(fused_mod, "MIN_ELEMENTS", 0)
    x = torch.as_tensor(rng.standard_normal(shape))
    x0 = x.clone()
    for include_scale in (False, True):
        got = dtcwt_forward(x, nlevels=nlevels, biort=biort, qshift=qshift, include_scale=include_scale)
        with compiled_off():
            want = dtcwt_forward(x, nlevels=nlevels, biort=biort, qshift=qshift, include_scale=include_scale)
        _assert_same(got, want, 1e-12)
    torch.testing.assert_close(dtcwt_inverse(got), x, rtol=0, atol=1e-9)
    assert torch.equal(x, x0)  # the input is not modified
    # the inverse of any coefficients (not only a forward's)
    noisy = DtcwtPyramid(torch.randn_like(got.lowpass), tuple(torch.randn_like(h) for h in got.highpasses), biort=biort,
                         qshift=qshift, spatial_dims=3)
    kept = [h.clone() for h in noisy.highpasses]
    z = dtcwt_inverse(noisy)
    with compiled_off():
        torch.testing.assert_close(z, dtcwt_inverse(noisy), rtol=0, atol=1e-12)
    assert all(torch.equal(a, b) for a, b in zip(kept, noisy.highpasses))


def test_kernel_form_exists_where_expected() -> None:
    assert len(fused_mod._plan((160, 192, 224), 2, "near_sym_b", "qshift_b", "<f4")) == 2
    assert len(fused_mod._plan((64, 56, 48), 3, "near_sym_a", "qshift_a", "<f8")) == 3
    assert len(fused_mod._plan((40, 36, 44), 3, "near_sym_a", "qshift_a", "<f8")) == 2  # level 3 on axes of 20: torch
    assert len(fused_mod._plan((8, 12, 16), 2, "near_sym_a", "qshift_a", "<f8")) == 1  # level 2: torch
    assert fused_mod.forward3_fused(torch.zeros(1, 1, 4, 4, 4), 1, "near_sym_b", "qshift_b", False) is None


def test_chunked_second_level_and_float32(monkeypatch, rng) -> None:
    """Chunks of every size (forward: level 2 from level-1 lowpass rows; inverse: output rows), float32."""
    monkeypatch.setattr(fused_mod, "MIN_ELEMENTS", 0)
    x = torch.as_tensor(rng.standard_normal((1, 1, 72, 40, 48)))
    with compiled_off():
        want = dtcwt_forward(x, nlevels=2, biort="near_sym_b", qshift="qshift_b")
    for frac in (0.01, 0.3, 1.0):  # one pair per chunk ... one chunk
        monkeypatch.setattr(fused_mod, "CHUNK_FRACTION", frac)
        got = dtcwt_forward(x, nlevels=2, biort="near_sym_b", qshift="qshift_b")
        _assert_same(got, want, 1e-12)
        torch.testing.assert_close(dtcwt_inverse(got), x, rtol=0, atol=1e-9)
    got32 = dtcwt_forward(x.float(), nlevels=2, biort="near_sym_b", qshift="qshift_b")
    assert got32.highpasses[0].dtype == torch.complex64 and got32.lowpass.dtype == torch.float32
    for u, v in zip(got32.highpasses, want.highpasses):
        torch.testing.assert_close(u.to(torch.complex128), v, rtol=0, atol=1e-5)
    z32 = dtcwt_inverse(got32)
    assert z32.dtype == torch.float32
    torch.testing.assert_close(z32.double(), x, rtol=0, atol=1e-5)


def test_paths_chosen(monkeypatch, rng) -> None:
    import medwave.wavelets.dtcwt as dtcwt_mod

    calls, inv = [], []
    real, real_inv = fused_mod.forward3_fused, fused_mod.inverse_level_fused
    monkeypatch.setattr(dtcwt_mod, "forward3_fused", lambda *a: calls.append(a) or real(*a))
    monkeypatch.setattr(dtcwt_mod, "inverse_level_fused", lambda *a: inv.append(a) or real_inv(*a))
    x = torch.as_tensor(rng.standard_normal((1, 1, 40, 40, 40)))
    dtcwt_forward(x, nlevels=2)
    assert len(calls) == 1  # large enough, no autograd: fused
    xg = x.clone().requires_grad_()
    p = dtcwt_forward(xg, nlevels=2)
    assert len(calls) == 1  # autograd: the torch path
    p.highpasses[1].abs().sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all()
    dtcwt_forward(torch.zeros(1, 1, 8, 8, 8), nlevels=1)
    assert len(calls) == 1  # below MIN_ELEMENTS: the torch path
    with compiled_off():
        dtcwt_forward(x, nlevels=2)
    assert len(calls) == 1
    q = dtcwt_forward(x, nlevels=2)
    dtcwt_inverse(q)
    assert len(inv) == 2  # no autograd: fused, both levels
    hg = q.highpasses[0].clone().requires_grad_()
    dtcwt_inverse(DtcwtPyramid(q.lowpass, (hg, q.highpasses[1]), spatial_dims=3)).sum().backward()
    assert len(inv) == 2 and hg.grad is not None  # a highpass needs its gradient: the torch path
    with torch.no_grad():
        dtcwt_inverse(DtcwtPyramid(q.lowpass, (hg, q.highpasses[1]), spatial_dims=3))
    assert len(inv) == 4


@pytest.mark.skipif(not os.path.exists(DTCWT_PYTHON), reason="no dtcwt venv at /work/venvs/dtcwt")
def test_fused_equals_dtcwt_package(tmp_path, monkeypatch) -> None:
    """dtcwt.Transform3d on a volume where every level runs in the kernel (the stored references are too small)."""
    monkeypatch.setattr(fused_mod, "MIN_ELEMENTS", 0)
    script = (
        "import sys, numpy as np, dtcwt\n"
        "x = np.random.default_rng(5).standard_normal((44, 40, 36))\n"
        "t = dtcwt.Transform3d(biort='near_sym_b', qshift='qshift_b')\n"
        "p = t.forward(x, nlevels=3)\n"
        "rng = np.random.default_rng(6)\n"
        "nl = rng.standard_normal(p.lowpass.shape)\n"
        "nh = [rng.standard_normal(h.shape) + 1j * rng.standard_normal(h.shape) for h in p.highpasses]\n"
        "z = t.inverse(dtcwt.Pyramid(nl, tuple(nh)))\n"
        "np.savez(sys.argv[1], x=x, lowpass=p.lowpass, nl=nl, z=z,\n"
        "         **{f'h{j}': h for j, h in enumerate(p.highpasses)}, **{f'nh{j}': h for j, h in enumerate(nh)})\n"
    )
    out = tmp_path / "ref.npz"
    subprocess.run([DTCWT_PYTHON, "-c", script, str(out)], check=True, capture_output=True, cwd=str(tmp_path))
    ref = np.load(out)
    assert len(fused_mod._plan((44, 40, 36), 3, "near_sym_b", "qshift_b", "<f8")) == 2  # level 3 on the torch path
    p = dtcwt_forward(torch.from_numpy(ref["x"])[None, None], nlevels=3, biort="near_sym_b", qshift="qshift_b")
    np.testing.assert_allclose(p.lowpass[0, 0].numpy(), ref["lowpass"], rtol=0, atol=1e-8)
    for j, h in enumerate(p.highpasses):
        np.testing.assert_allclose(h[0, 0].numpy(), ref[f"h{j}"], rtol=0, atol=1e-8)
    noisy = DtcwtPyramid(torch.from_numpy(ref["nl"])[None, None],
                         tuple(torch.from_numpy(ref[f"nh{j}"])[None, None] for j in range(3)), biort="near_sym_b",
                         qshift="qshift_b", spatial_dims=3)
    assert fused_mod.fused_inverse_applicable(noisy.lowpass, list(noisy.highpasses))
    np.testing.assert_allclose(dtcwt_inverse(noisy)[0, 0].numpy(), ref["z"], rtol=0, atol=1e-8)


def test_warm_compiles_without_error() -> None:
    fused_mod.warm()
    assert "medwave.wavelets.kernels_dtcwt" in sys.modules
