"""The fused 3D kernels (numba) against the torch engine and PyWavelets: every mode, odd/even/short axes,
several slabs per volume, batches and groups, adjoints, gradients, threads and forked workers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import pywt
import torch

import medwave.wavelets.engine as engine
import medwave.wavelets.fused as fused
from medwave.utils import compiled
from medwave.wavelets import MODES, dwt_lowpass, dwt_packed, idwt_packed
from medwave.wavelets.filters import get_filter_bank
from medwave.wavelets.functional import _analysis_ops, _synthesis_ops

pytestmark = pytest.mark.skipif(not compiled.NUMBA_AVAILABLE, reason="numba not installed")

SHAPES = [(16, 18, 20), (9, 11, 13), (3, 5, 40), (2, 1, 7), (21, 4, 33)]


@pytest.fixture(autouse=True)
def _fused_at_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The small test volumes must reach the kernels, which by default skip inputs this small."""
    monkeypatch.setattr(fused, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(fused, "MIN_ELEMENTS_HAAR", 1)


def _torch_engine(fn, *args):
    prev = compiled.set_compiled(False)
    try:
        return fn(*args)
    finally:
        compiled.set_compiled(prev)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wavelet", ["haar", "db2", "bior2.2", "sym4", "coif1", "rbio1.3"])
def test_split_merge_and_adjoints_equal_torch_engine(wavelet: str, mode: str) -> None:
    fb = get_filter_bank(wavelet)
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        x = torch.as_tensor(rng.standard_normal((2, 3) + shape))
        try:
            ops = _analysis_ops(fb, shape, mode)
        except ValueError:  # PyWavelets refuses this length in this mode (e.g. 1 sample in reflect)
            continue
        assert fused.fused_applicable(x, ops)
        ref = _torch_engine(engine.split_nd, x, ops)
        got = engine.split_nd(x, ops)
        scale = max(1.0, float(ref.abs().max()))
        assert got.shape == ref.shape
        assert float((got - ref).abs().max()) <= 1e-12 * scale, shape
        for merge_ops in (_synthesis_ops(fb, ref.shape[2:], mode), tuple(op.T for op in ops)):
            r_ref = _torch_engine(engine.merge_nd, ref, merge_ops)
            r_got = engine.merge_nd(ref, merge_ops)
            scale = max(1.0, float(r_ref.abs().max()))
            assert r_got.shape == r_ref.shape
            assert float((r_got - r_ref).abs().max()) <= 1e-12 * scale, shape


@pytest.mark.parametrize("wavelet", ["haar", "db2", "bior2.2"])
def test_many_slabs_and_float32_match_pywt(monkeypatch: pytest.MonkeyPatch, wavelet: str) -> None:
    monkeypatch.setattr(fused, "SLAB_ELEMENTS", 700)  # one output row per slab: many tasks per thread
    x = np.random.default_rng(1).standard_normal((1, 1, 24, 14, 66))
    ref = pywt.dwtn(x[0, 0], wavelet, mode="symmetric")
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        c = dwt_packed(torch.as_tensor(x, dtype=dtype), wavelet, mode="symmetric")
        for i, k in enumerate(sorted(ref, key=lambda s: s)):
            assert np.abs(c[0, 0, i].double().numpy() - ref[k]).max() <= tol * max(1.0, np.abs(ref[k]).max()), k
        rec = idwt_packed(c, wavelet, mode="symmetric")
        assert np.abs(rec[0, 0].double().numpy() - pywt.idwtn(ref, wavelet, mode="symmetric")).max() <= tol * 10


def test_haar_butterfly_kernel_is_taken_and_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = engine.butterfly_split3_fused
    monkeypatch.setattr(engine, "butterfly_split3_fused", lambda *a: calls.append(1) or real(*a))
    x = torch.randn(2, 3, 8, 10, 12, dtype=torch.float64)
    c = dwt_packed(x, "haar", mode="symmetric")
    assert calls, "the fused Haar kernel was not used for an even-sized CPU float64 volume"
    ref = pywt.dwtn(x.numpy(), "haar", mode="symmetric", axes=(2, 3, 4))
    for i, k in enumerate(["aaa", "aad", "ada", "add", "daa", "dad", "dda", "ddd"]):
        np.testing.assert_allclose(c[:, :, i].numpy(), ref[k], atol=1e-12)
    np.testing.assert_allclose(idwt_packed(c, "haar", mode="symmetric").numpy(), x.numpy(), atol=1e-12)


def test_odd_haar_and_lowpass_take_the_generic_kernel() -> None:
    x = torch.randn(1, 2, 7, 9, 10, dtype=torch.float64)
    for fn in (lambda t: dwt_packed(t, "haar", mode="symmetric"), lambda t: dwt_lowpass(t, "db2", mode="zero")):
        assert torch.allclose(fn(x), _torch_engine(fn, x), atol=1e-12)


def test_non_contiguous_and_requires_grad_inputs() -> None:
    base = torch.randn(1, 20, 17, 2, 19, dtype=torch.float64)
    before = base.clone()
    x = base.permute(0, 3, 1, 2, 4).requires_grad_()  # (1, 2, 20, 17, 19), not contiguous
    c = dwt_packed(x, "db2", mode="periodization")
    assert torch.allclose(c, _torch_engine(lambda: dwt_packed(x.detach().contiguous(), "db2", mode="periodization")))
    assert torch.equal(base, before)  # the input is never written


@pytest.mark.parametrize("wavelet,mode", [("db2", "symmetric"), ("haar", "periodization"), ("bior2.2", "smooth")])
def test_gradcheck_through_fused_kernels(wavelet: str, mode: str) -> None:
    x = torch.randn(1, 1, 6, 5, 10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: dwt_packed(t, wavelet, mode=mode), (x,))
    c = dwt_packed(x.detach(), wavelet, mode=mode).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: idwt_packed(t, wavelet, mode=mode), (c,))


def test_concurrent_python_threads_get_right_results() -> None:
    xs = [torch.randn(1, 1, 12, 14, 30) for _ in range(4)]
    refs = [_torch_engine(dwt_packed, x, "db2") for x in xs]
    errors: list[float] = []

    def work(i: int) -> None:
        for _ in range(5):
            errors.append(float((dwt_packed(xs[i], "db2") - refs[i]).abs().max()))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 20 and max(errors) < 1e-5


_FORK_SCRIPT = """
import multiprocessing as mp, sys, torch
from medwave.wavelets import dwt_packed

def child(q):  # runs in a forked process, one torch thread as in a torch DataLoader worker
    torch.set_num_threads(1)  # GNU OpenMP (torch's pool) is not fork-safe: a plain torch op hangs here otherwise
    q.put(float(dwt_packed(torch.ones(1, 1, 40, 40, 40), "db2", mode="periodization")[0, 0, 0].mean()))

if __name__ == "__main__":
    dwt_packed(torch.ones(1, 1, 40, 40, 40), "db2", mode="periodization")  # above the fused size threshold
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q,))
    p.start()
    p.join(timeout=120)
    print(p.exitcode, q.get(timeout=5) if p.exitcode == 0 else "nan")
"""


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_forked_worker_after_parent_used_the_kernel(tmp_path) -> None:
    # In a fresh process of its own, on a volume above the fused size threshold (the kernel really runs in the
    # parent; the earlier 8^3 volume took the torch path): a pytest-xdist worker that ran other suites has threads
    # of its own, and a forked child of it was ended by SIGTERM once in a full run.
    script = tmp_path / "fork_after_kernel.py"
    script.write_text(_FORK_SCRIPT)
    env = dict(os.environ, MEDWAVE_FUSED="1")
    env.pop("NUMBA_THREADING_LAYER", None)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    code, value = proc.stdout.split()
    assert code == "0", f"forked child exit code {code}: {proc.stderr[-2000:]}"
    assert abs(float(value) - 2.0 ** 1.5) < 1e-5  # constant signal: low band = 2^(3/2)


def test_size_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fused, "MIN_ELEMENTS", 1000)
    monkeypatch.setattr(fused, "MIN_ELEMENTS_HAAR", 4000)
    ops = _analysis_ops(get_filter_bank("db2"), (10, 10, 10), "symmetric")
    assert not fused.fused_applicable(torch.zeros(1, 1, 9, 10, 10), ops)
    assert fused.fused_applicable(torch.zeros(1, 1, 10, 10, 10), ops)
    assert not fused.fused_applicable(torch.zeros(3, 1, 10, 10, 10), ops, haar=True)
    assert fused.fused_applicable(torch.zeros(4, 1, 10, 10, 10), ops, haar=True)
    calls = []
    real = engine.butterfly_split3_fused
    monkeypatch.setattr(engine, "butterfly_split3_fused", lambda *a: calls.append(1) or real(*a))
    small = torch.randn(1, 1, 8, 10, 12)
    c = dwt_packed(small, "haar")  # below the Haar threshold: torch butterfly, same result
    assert not calls
    assert torch.allclose(idwt_packed(c, "haar"), small, atol=1e-5)


def test_switch_and_environment_variable() -> None:
    x = torch.randn(1, 1, 4, 4, 4)
    ops = _analysis_ops(get_filter_bank("db2"), x.shape[2:], "symmetric")
    assert fused.fused_applicable(x, ops)
    assert not fused.fused_applicable(x.half(), ops)
    assert not fused.fused_applicable(x[..., 0], ops[:2])  # 2D stays on the torch engine
    prev = compiled.set_compiled(False)
    try:
        assert not fused.fused_applicable(x, ops)
    finally:
        compiled.set_compiled(prev)
    code = "import sys, medwave, medwave.utils.compiled as c; print(c.compiled_enabled(), 'numba' in sys.modules)"
    env = dict(os.environ, MEDWAVE_FUSED="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"  # switched off, and importing medwave does not import numba


# The PyWavelets sweeps of test_functional.py, re-run with the kernels taking every size (the fixture above):
# at their default thresholds those small volumes go to the torch engine.
import test_functional as _sweeps  # noqa: E402 - tests/wavelets is on sys.path under pytest's rootdir import


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("wavelet", _sweeps.FAST_WAVELETS)
def test_pywt_sweep_3d_through_kernels(wavelet: str, mode: str) -> None:
    for dtype in (torch.float32, torch.float64):
        _sweeps.test_dwtn_idwtn_3d_match_pywt(wavelet, mode, dtype)


@pytest.mark.slow
@pytest.mark.parametrize("wavelet", _sweeps.DISCRETE_WAVELETS)
def test_every_wavelet_every_mode_through_kernels(wavelet: str) -> None:
    _sweeps.test_every_wavelet_every_mode_matches_pywt(wavelet)
