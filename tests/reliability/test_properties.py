"""Property tests (hypothesis): invariants that must hold for any input, not only hand-picked ones.

* wavelet core: multilevel round trip equal to PyWavelets' ``wavedecn``/``waverecn`` for random shapes,
  wavelets and boundary modes; perfect reconstruction; linearity; energy (Parseval) preservation of
  orthogonal wavelets with ``mode="periodization"``;
* cube partition + reassembly: with an identity predictor, any stack shape, cube size and overlap gives
  the stack back exactly, and the cubes cover every voxel;
* SWC: ``write_swc`` then ``read_swc`` gives the same morphology (coordinates rounded to 4 decimals).

Each test runs a bounded number of examples (``max_examples``) with ``deadline=None`` (a shared 2-core
machine makes per-example timing meaningless) and no example database, so it stays a few seconds long.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pywt
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medwave.neuron.cubes import partition, sliding_window_segment
from medwave.neuron.swc import SWC, read_swc, write_swc
from medwave.wavelets import dwt, idwt, wavedec, waverec

SETTINGS = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MODES = ["zero", "constant", "symmetric", "periodic", "smooth", "periodization", "reflect", "antisymmetric",
         "antireflect"]
WAVELETS = ["haar", "db2", "db3", "sym4", "coif1", "bior2.2", "rbio1.3", "bior3.1"]
ORTHOGONAL = ["haar", "db2", "db4", "sym3", "sym5", "coif1", "coif2"]

shapes = st.lists(st.integers(2, 20), min_size=1, max_size=3).map(tuple)


def _x(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


@settings(max_examples=30, **SETTINGS)
@given(shape=shapes, wavelet=st.sampled_from(WAVELETS), mode=st.sampled_from(MODES), seed=st.integers(0, 2**16),
       want_level=st.integers(1, 3))
def test_wavedec_matches_pywt_and_round_trips(shape, wavelet, mode, seed, want_level) -> None:
    """Every subband of every level equals ``pywt.wavedecn``; ``waverec`` gives the input back."""
    x = _x(shape, seed)
    max_level = pywt.dwtn_max_level(shape, wavelet)
    level = min(want_level, max_level)
    if level < 1:
        level = 0
    ref = pywt.wavedecn(x, wavelet, mode=mode, level=level)
    ours = wavedec(torch.as_tensor(x)[None, None], wavelet, mode=mode, level=level)
    assert len(ours) == len(ref)
    np.testing.assert_allclose(ours[0][0, 0].numpy(), ref[0], atol=1e-9, rtol=1e-9)
    for o, r in zip(ours[1:], ref[1:]):
        assert set(o) == set(r)
        for k in r:
            np.testing.assert_allclose(o[k][0, 0].numpy(), r[k], atol=1e-9, rtol=1e-9)
    rec = waverec(ours, wavelet, mode=mode)[(0, 0) + tuple(slice(0, n) for n in shape)]
    np.testing.assert_allclose(rec.numpy(), x, atol=1e-9)
    ref_rec = pywt.waverecn(ref, wavelet, mode=mode)[tuple(slice(0, n) for n in shape)]
    np.testing.assert_allclose(rec.numpy(), ref_rec, atol=1e-9)


@settings(max_examples=25, **SETTINGS)
@given(shape=shapes, wavelet=st.sampled_from(WAVELETS), mode=st.sampled_from(MODES), seed=st.integers(0, 2**16),
       a=st.floats(-5, 5, allow_nan=False), b=st.floats(-5, 5, allow_nan=False))
def test_dwt_and_idwt_are_linear(shape, wavelet, mode, seed, a, b) -> None:
    """``dwt(a x + b y) = a dwt(x) + b dwt(y)`` band by band, and the same for ``idwt``."""
    x = torch.as_tensor(_x(shape, seed))[None, None]
    y = torch.as_tensor(_x(shape, seed + 1))[None, None]
    cx, cy, cxy = dwt(x, wavelet, mode=mode), dwt(y, wavelet, mode=mode), dwt(a * x + b * y, wavelet, mode=mode)
    scale = 1 + abs(a) + abs(b)
    for k in cxy:
        torch.testing.assert_close(cxy[k], a * cx[k] + b * cy[k], atol=1e-10 * scale * 10, rtol=1e-10)
    lin = {k: a * cx[k] + b * cy[k] for k in cx}
    torch.testing.assert_close(idwt(lin, wavelet, mode=mode),
                               a * idwt(cx, wavelet, mode=mode) + b * idwt(cy, wavelet, mode=mode),
                               atol=1e-10 * scale * 10, rtol=1e-10)


@settings(max_examples=25, **SETTINGS)
@given(half=st.lists(st.integers(1, 12), min_size=1, max_size=3), wavelet=st.sampled_from(ORTHOGONAL),
       seed=st.integers(0, 2**16), want_level=st.integers(1, 3))
def test_orthogonal_periodization_preserves_energy(half, wavelet, seed, want_level) -> None:
    """Orthogonal wavelet + periodization on even sizes is an orthogonal transform: sum of squares is kept.

    Levels are applied with :func:`dwt` on the approximation while every axis is even (periodization then
    halves exactly), also past PyWavelets' ``dwt_max_level`` (periodization has no boundary samples).
    """
    shape = tuple(2 * h for h in half)
    x = torch.as_tensor(_x(shape, seed))[None, None]
    bands, a, level = [], x, 0
    while level < want_level and all(n % 2 == 0 for n in a.shape[2:]):
        c = dwt(a, wavelet, mode="periodization")
        bands.append(c)
        a = c["a" * len(shape)]
        level += 1
    energy = float((a**2).sum()) + sum(float((v**2).sum()) for c in bands for k, v in c.items() if set(k) != {"a"})
    assert energy == pytest.approx(float((x**2).sum()), rel=1e-10)
    n_coeffs = a.numel() + sum(v.numel() for c in bands for k, v in c.items() if set(k) != {"a"})
    assert n_coeffs == x.numel()  # non-redundant
    rec = a
    for c in reversed(bands):
        rec = idwt({**c, "a" * len(shape): rec}, wavelet, mode="periodization")
    torch.testing.assert_close(rec, x, atol=1e-10, rtol=1e-10)
    ref = pywt.dwtn(x[0, 0].numpy(), wavelet, mode="periodization")  # first level equals PyWavelets
    for k in ref:
        np.testing.assert_allclose(bands[0][k][0, 0].numpy(), ref[k], atol=1e-10)


@settings(max_examples=30, **SETTINGS)
@given(shape=st.tuples(st.integers(1, 17), st.integers(1, 24), st.integers(1, 24)),
       cube=st.tuples(st.integers(1, 12), st.integers(1, 16), st.integers(1, 16)),
       overlap=st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75]), batch=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_cube_reassembly_is_exact_for_any_shape(shape, cube, overlap, batch, seed) -> None:
    """Identity predictor: the reassembled probability is the stack, bit for bit up to float32 blending."""
    x = np.random.default_rng(seed).random(shape, dtype=np.float32)
    seen = []

    def identity(b: np.ndarray) -> np.ndarray:
        assert b.shape[1:] == (1,) + cube and b.dtype == np.float32
        seen.append(len(b))
        return b[:, 0]

    prob, mask = sliding_window_segment(x, identity, cube=cube, overlap=overlap, batch_size=batch, progress=False,
                                        threshold=0.5)
    cubes = partition(shape, cube, overlap)
    assert sum(seen) == len(cubes)
    cover = np.zeros(shape, np.int32)
    for sl in cubes:
        assert all(s.start >= 0 and s.stop <= n for s, n in zip(sl, shape))
        cover[sl] += 1
    assert cover.min() >= 1, "a voxel is in no cube"
    # a weighted mean of identical values: exact up to float32 accumulation (a few eps per overlapping cube)
    eps = float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(prob, x, rtol=4 * eps * int(cover.max()), atol=0)
    np.testing.assert_array_equal(mask, prob > 0.5)
    assert len({tuple((s.start, s.stop) for s in sl) for sl in cubes}) == len(cubes), "a cube is repeated"


@settings(max_examples=40, **SETTINGS)
@given(n=st.integers(0, 30), seed=st.integers(0, 2**16), n_comments=st.integers(0, 3),
       magnitude=st.sampled_from([1.0, 100.0, 1e4]))
def test_swc_write_read_round_trip(n, seed, n_comments, magnitude, tmp_path: Path) -> None:
    """Ids, types, parents and comments are kept exactly; coordinates and radii to 4 decimals."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.arange(1, 3 * n + 2))[:n] if n else np.zeros(0)
    parents = np.full(n, -1.0)
    for i in range(1, n):
        if rng.random() < 0.85:
            parents[i] = ids[rng.integers(0, i)]  # a tree (or forest) in file order
    nodes = np.zeros((n, 7))
    nodes[:, 0] = ids
    nodes[:, 1] = rng.integers(0, 8, n)
    nodes[:, 2:5] = (rng.random((n, 3)) - 0.5) * magnitude
    nodes[:, 5] = rng.random(n) * 5
    nodes[:, 6] = parents
    comments = [f" comment {i}: medwave property test" for i in range(n_comments)]
    path = tmp_path / f"rt_{seed}_{n}.swc"
    write_swc(SWC(nodes, comments), path)
    back = read_swc(path)
    assert back.nodes.shape == (n, 7)
    np.testing.assert_array_equal(back.nodes[:, [0, 1, 6]], nodes[:, [0, 1, 6]])
    np.testing.assert_allclose(back.nodes[:, 2:6], nodes[:, 2:6], atol=5.001e-5, rtol=0)
    assert back.comments == comments
    write_swc(back, path)  # a second round trip is exact: the file is a fixed point
    np.testing.assert_array_equal(read_swc(path).nodes, back.nodes)
