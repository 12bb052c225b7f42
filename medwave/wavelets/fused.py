"""Fused 3D path: one compiled (numba) kernel applies the three per-axis operators of a 3D transform.

The torch engine (:mod:`medwave.wavelets.engine`) runs each per-axis operator as a few dozen strided
ATen ops per chunk of the volume; a db2 forward + inverse + backward on a 160x192x224 volume is about
10,000 ops. Here the volume is cut into slabs of output rows along the first spatial axis and each slab
runs through all three axes inside one parallel kernel while it is in cache:

* first and second axis: every output row (a plane, then a line) is a short sum of input rows times
  the operator's weights, read from the exact operator matrix (CSR), so every mode and edge is exact;
* last axis (contiguous): the even and odd samples of every line are split once, then each interior
  tap is one long contiguous multiply-add over all lines of the slab at once; the few boundary rows
  are then written from the operator matrix.

Results equal the torch engine's up to float rounding (the same products, summed in a different order);
the tests check both against PyWavelets. Used for CPU float32/float64 3D transforms when numba is
installed; :func:`set_fused` or ``MEDWAVE_FUSED=0`` turns it off. Importing this module sets numba's threading
layer to ``"forksafe"`` unless ``NUMBA_THREADING_LAYER`` is set, so forked workers keep working.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from medwave.wavelets.operators import AxisOp

try:  # numba is a dependency, but the torch engine must keep working without it
    import numba
    from numba import njit, prange
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None

__all__ = ["fused_enabled", "set_fused", "fused_applicable", "split3d_fused", "merge3d_fused", "parallel_call"]

#: Elements of a slab's first intermediate: small enough to stay in a core's L2 cache.
SLAB_ELEMENTS = 1 << 17
#: Smallest input (elements) sent to the fused kernels. Below it, launching the kernel's threads costs more
#: than the torch engine's ops (measured on 2 cores: the general kernel wins from ~5e4 elements, the Haar
#: butterfly, whose torch path is a handful of ops, from ~3e5).
MIN_ELEMENTS = 1 << 15
MIN_ELEMENTS_HAAR = 1 << 18

if numba is not None and "NUMBA_THREADING_LAYER" not in os.environ:
    # numba's default prefers a GNU OpenMP layer where one is found, and a process that has used it is
    # killed when it forks (a torch DataLoader worker, a multiprocessing pool). "forksafe" skips that
    # layer (TBB, or numba's own workqueue); NUMBA_THREADING_LAYER set by the user wins.
    numba.config.THREADING_LAYER = "forksafe"

_ENABLED = os.environ.get("MEDWAVE_FUSED", "1").strip().lower() not in ("0", "false", "no", "off")
# numba's default (workqueue) threading layer must not be entered by two threads at once
_LOCK = threading.Lock()


def fused_enabled() -> bool:
    """Whether the fused 3D kernel is available (numba importable) and switched on."""
    return _ENABLED and numba is not None


def set_fused(enabled: bool) -> bool:
    """Switch the fused 3D kernel on or off for this process; returns the previous setting.

    Off, every transform runs on the torch engine (the reference the fused kernel is tested against).
    """
    global _ENABLED
    prev = _ENABLED
    _ENABLED = bool(enabled)
    return prev


def fused_applicable(x: torch.Tensor, ops: Sequence[AxisOp], haar: bool = False) -> bool:
    """Whether a fused kernel should run ``ops`` on ``x``: 3 axes, CPU, float32/float64, large enough, enabled.

    Args:
        x: The input of the transform.
        ops: Its per-axis operators.
        haar: Whether the operators are Haar butterflies (their kernel has its own size threshold).
    """
    return (
        len(ops) == 3
        and fused_enabled()
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.numel() >= max(1, MIN_ELEMENTS_HAAR if haar else MIN_ELEMENTS)
    )


# --------------------------------------------------------------------------------------------------
# operator tables


@dataclass(frozen=True)
class _Csr:
    """Rows ``o * n_out + n`` of an operator: ``sum_k val[k] * input[band[k]][col[k]]``."""

    ptr: np.ndarray
    band: np.ndarray
    col: np.ndarray
    val: np.ndarray


@dataclass(frozen=True)
class _Inner:
    """Interior of each output band along the last axis: rows ``P*m + p``, ``lo[o] <= m < hi[o]``.

    Row ``P*m + p`` of band ``o`` is ``sum_e w[e] * input[band[e]][S*m + k[e]]`` for the entries
    ``e`` in ``ptr[o*P + p] : ptr[o*P + p + 1]``.
    """

    P: int
    S: int
    lo: np.ndarray
    hi: np.ndarray
    ptr: np.ndarray
    band: np.ndarray
    k: np.ndarray
    w: np.ndarray


def _csr(op: AxisOp, dtype: np.dtype) -> _Csr:
    cache = op.__dict__.setdefault("_fused", {})
    key = ("csr", np.dtype(dtype).str)
    if key not in cache:
        ptr, band, col, val = [0], [], [], []
        for row in op.blocks:
            mats = [(i, b.matrix) for i, b in enumerate(row) if b is not None]
            for n in range(op.n_out):
                for i, m in mats:
                    nz = np.flatnonzero(m[n])
                    band.extend([i] * nz.size)
                    col.extend(nz.tolist())
                    val.extend(m[n, nz].tolist())
                ptr.append(len(col))
        cache[key] = _Csr(
            np.asarray(ptr, np.int64), np.asarray(band, np.int64), np.asarray(col, np.int64), np.asarray(val, dtype)
        )
    return cache[key]


def _inner(op: AxisOp, dtype: np.dtype) -> _Inner:
    cache = op.__dict__.setdefault("_fused", {})
    key = ("inner", np.dtype(dtype).str)
    if key not in cache:
        blks = [b for row in op.blocks for b in row if b is not None]
        P, S = (blks[0].P, blks[0].S) if blks else (1, 2)
        lo, hi, ptr, band, k, w = [], [], [0], [], [], []
        for row in op.blocks:
            used = [(i, b) for i, b in enumerate(row) if b is not None]
            interior = used and all(not b.dense and b.P == P and b.S == S for _, b in used)
            a = max(b.m0 for _, b in used) if interior else 0
            z = min(b.m1 for _, b in used) if interior else 0
            if S == 1:
                z = min(z, op.n_in)  # interior phase sums are laid out with the input's pitch
            if z <= a:
                a = z = 0
            lo.append(a)
            hi.append(z)
            for p in range(P):
                if z > a:
                    for i, b in used:
                        for t, tap in enumerate(b.taps[p]):
                            if tap != 0.0:
                                band.append(i)
                                k.append(b.offs[p] + t)
                                w.append(tap)
                ptr.append(len(w))
        cache[key] = _Inner(
            int(P),
            int(S),
            np.asarray(lo, np.int64),
            np.asarray(hi, np.int64),
            np.asarray(ptr, np.int64),
            np.asarray(band, np.int64),
            np.asarray(k, np.int64),
            np.asarray(w, dtype),
        )
    return cache[key]


# --------------------------------------------------------------------------------------------------
# kernels (compiled on first use, cached on disk)

if numba is not None:

    @njit(cache=True, nogil=True)
    def _fma1(d, a, wa, add):  # pragma: no cover - compiled
        """``d (=|+=) wa * a`` over equal-length contiguous 1D arrays."""
        if add:
            for q in range(d.shape[0]):
                d[q] += wa * a[q]
        else:
            for q in range(d.shape[0]):
                d[q] = wa * a[q]

    @njit(cache=True, nogil=True)
    def _fma2(d, a, wa, b, wb, add):  # pragma: no cover - compiled
        """``d (=|+=) wa * a + wb * b``: two taps per pass over ``d``."""
        if add:
            for q in range(d.shape[0]):
                d[q] += wa * a[q] + wb * b[q]
        else:
            for q in range(d.shape[0]):
                d[q] = wa * a[q] + wb * b[q]

    @njit(cache=True, nogil=True)
    def _pass_first(x, s, r0, ptr, band, col, val, n_out, tmp):  # pragma: no cover - compiled
        """``tmp[o, by, bz, i] = sum_k val[k] * x[s, band[k], by, bz, col[k]]`` for output rows ``r0 + i``."""
        bo, by_n, bz_n, r = tmp.shape[0], tmp.shape[1], tmp.shape[2], tmp.shape[3]
        plane = tmp.shape[4] * tmp.shape[5]
        for o in range(bo):
            for i in range(r):
                row = o * n_out + r0 + i
                k0, k1 = ptr[row], ptr[row + 1]
                for by in range(by_n):
                    for bz in range(bz_n):
                        dst = tmp[o, by, bz, i].reshape(plane)
                        if k1 == k0:
                            dst[:] = 0.0
                            continue
                        k = k0
                        while k < k1:
                            a = x[s, band[k], by, bz, col[k]].reshape(plane)
                            if k + 1 < k1:
                                b = x[s, band[k + 1], by, bz, col[k + 1]].reshape(plane)
                                _fma2(dst, a, val[k], b, val[k + 1], k > k0)
                                k += 2
                            else:
                                _fma1(dst, a, val[k], k > k0)
                                k += 1

    @njit(cache=True, nogil=True)
    def _pass_second(tmp, ptr, band, col, val, tmp2):  # pragma: no cover - compiled
        """``tmp2[o, b, bz, i, n] = sum_k val[k] * tmp[o, band[k], bz, i, col[k]]`` (lines of the last axis)."""
        bo, b_n, bz_n, r, n_out, z_n = tmp2.shape
        for o in range(bo):
            for bz in range(bz_n):
                for i in range(r):
                    for b in range(b_n):
                        for n in range(n_out):
                            dst = tmp2[o, b, bz, i, n]
                            row = b * n_out + n
                            k0, k1 = ptr[row], ptr[row + 1]
                            if k1 == k0:
                                dst[:] = 0.0
                                continue
                            k = k0
                            while k < k1:
                                a = tmp[o, band[k], bz, i, col[k]]
                                if k + 1 < k1:
                                    _fma2(dst, a, val[k], tmp[o, band[k + 1], bz, i, col[k + 1]], val[k + 1], k > k0)
                                    k += 2
                                else:
                                    _fma1(dst, a, val[k], k > k0)
                                    k += 1

    @njit(cache=True, nogil=True)
    def _pass_last(tmp2, P, S, lo, hi, eptr, eband, ek, ew, ptr, band, col, val, out, s, r0):  # pragma: no cover
        """Last axis, from ``tmp2 (bx, by, b_in, r, Y, Z_in)`` into ``out[s, bx, by, c]`` (flat ``X*Y*Z``).

        Analysis (``S == 2``): the even and odd samples of every line are split into phase rows laid out
        with the output's pitch, so each tap of the interior is one contiguous multiply-add over all
        lines of the slab, written straight into the output. Synthesis (``P == 2``): the two phase sums
        are laid out with the input's pitch, then interleaved into the output lines. Boundary rows (and
        the rows between lines, which the flat loops fill with garbage) are then written from the
        exact operator rows.
        """
        bx_n, by_n, b_in, r, y_n, z_in = tmp2.shape
        b_out = out.shape[3]
        z_out = (ptr.shape[0] - 1) // b_out
        lines = r * y_n
        o_base = r0 * y_n * z_out
        if S == 2:
            pitch = z_out  # analysis: z_out >= ceil(z_in / 2)
            half = z_in // 2
            ph = np.empty((b_in, 2, lines * pitch), dtype=tmp2.dtype)
            acc = np.empty((1, 1), dtype=tmp2.dtype)
        else:
            pitch = z_in
            half = 0
            ph = np.empty((1, 1, 1), dtype=tmp2.dtype)
            acc = np.empty((P, lines * pitch), dtype=tmp2.dtype)
        for bx in range(bx_n):
            for by in range(by_n):
                if S == 2:
                    for bi in range(b_in):
                        for li in range(lines):
                            line = tmp2[bx, by, bi, li // y_n, li % y_n]
                            ev = ph[bi, 0, li * pitch : (li + 1) * pitch]
                            od = ph[bi, 1, li * pitch : (li + 1) * pitch]
                            for m in range(half):
                                ev[m] = line[2 * m]
                                od[m] = line[2 * m + 1]
                            if z_in % 2 == 1:
                                ev[half] = line[z_in - 1]
                                od[half] = 0.0
                                first_pad = half + 1
                            else:
                                first_pad = half
                            for m in range(first_pad, pitch):
                                ev[m] = 0.0
                                od[m] = 0.0
                for c in range(b_out):
                    a, z = lo[c], hi[c]
                    if z > a:
                        # interior rows of all lines at once; the rows between lines get garbage,
                        # overwritten below from the exact operator rows
                        f0 = a
                        f1 = (lines - 1) * pitch + z
                        for p in range(P):
                            if S == 2:
                                dst = out[s, bx, by, c, o_base + f0 : o_base + f1]
                            else:
                                dst = acc[p, f0:f1]
                            e0, e1 = eptr[c * P + p], eptr[c * P + p + 1]
                            if e1 == e0:
                                dst[:] = 0.0
                                continue
                            e = e0
                            while e < e1:
                                if S == 2:
                                    sa = ph[eband[e], ek[e] & 1, f0 + (ek[e] >> 1) : f1 + (ek[e] >> 1)]
                                else:
                                    sa = tmp2[bx, by, eband[e]].reshape(lines * pitch)[f0 + ek[e] : f1 + ek[e]]
                                if e + 1 < e1:
                                    g = e + 1
                                    if S == 2:
                                        sb = ph[eband[g], ek[g] & 1, f0 + (ek[g] >> 1) : f1 + (ek[g] >> 1)]
                                    else:
                                        sb = tmp2[bx, by, eband[g]].reshape(lines * pitch)[f0 + ek[g] : f1 + ek[g]]
                                    _fma2(dst, sa, ew[e], sb, ew[g], e > e0)
                                    e += 2
                                else:
                                    _fma1(dst, sa, ew[e], e > e0)
                                    e += 1
                    for li in range(lines):
                        i = li // y_n
                        y = li - i * y_n
                        lb = o_base + li * z_out
                        o_line = out[s, bx, by, c, lb : lb + z_out]
                        if z > a:
                            if P == 2:
                                a0 = acc[0, li * pitch + a : li * pitch + z]
                                a1 = acc[1, li * pitch + a : li * pitch + z]
                                o_mid = o_line[2 * a : 2 * z]
                                for m in range(z - a):
                                    o_mid[2 * m] = a0[m]
                                    o_mid[2 * m + 1] = a1[m]
                            e_lo, e_hi = P * a, P * z
                        else:
                            e_lo, e_hi = z_out, z_out
                        for j in range(z_out - (e_hi - e_lo)):
                            n = j if j < e_lo else j + e_hi - e_lo
                            rw = c * z_out + n
                            v = 0.0
                            for k in range(ptr[rw], ptr[rw + 1]):
                                v += val[k] * tmp2[bx, by, band[k], i, y, col[k]]
                            o_line[n] = v

    @njit(parallel=True, cache=True)
    def _apply3(x, out, dims_out, rows, c0p, c0b, c0c, c0v, c1p, c1b, c1c, c1v, P, S, lo, hi, eptr, eband, ek, ew,
                c2p, c2b, c2c, c2v):  # pragma: no cover - compiled
        """``out[s] = op2 op1 op0 x[s]`` for ``x (S, Bx, By, Bz, X, Y, Z)``, slab by slab in parallel.

        ``out`` is ``(S, Bx', By', Bz', X' * Y' * Z')`` with ``dims_out = (X', Y', Z')``.
        """
        n_s = x.shape[0]
        by_in, bz_in, y_in, z_in = x.shape[2], x.shape[3], x.shape[5], x.shape[6]
        bx_out, by_out = out.shape[1], out.shape[2]
        x_out, y_out = dims_out[0], dims_out[1]
        n_slabs = (x_out + rows - 1) // rows
        for task in prange(n_s * n_slabs):
            s = task // n_slabs
            r0 = (task - s * n_slabs) * rows
            r = min(x_out, r0 + rows) - r0
            tmp = np.empty((bx_out, by_in, bz_in, r, y_in, z_in), dtype=x.dtype)
            _pass_first(x, s, r0, c0p, c0b, c0c, c0v, x_out, tmp)
            tmp2 = np.empty((bx_out, by_out, bz_in, r, y_out, z_in), dtype=x.dtype)
            _pass_second(tmp, c1p, c1b, c1c, c1v, tmp2)
            _pass_last(tmp2, P, S, lo, hi, eptr, eband, ek, ew, c2p, c2b, c2c, c2v, out, s, r0)


def _run(x7: torch.Tensor, out7: torch.Tensor, ops: Sequence[AxisOp]) -> None:
    dt = np.float32 if x7.dtype == torch.float32 else np.float64
    c0, c1, c2 = (_csr(op, dt) for op in ops)
    inner = _inner(ops[2], dt)
    per_row = out7.shape[1] * x7.shape[2] * x7.shape[3] * x7.shape[5] * x7.shape[6]
    rows = max(1, min(out7.shape[4], SLAB_ELEMENTS // max(1, per_row)))
    xn = x7.detach().numpy()
    on = out7.detach().numpy().reshape(out7.shape[:4] + (-1,))
    dims_out = np.asarray(out7.shape[4:], np.int64)
    parallel_call(
        _apply3, xn, on, dims_out, rows, c0.ptr, c0.band, c0.col, c0.val, c1.ptr, c1.band, c1.col, c1.val,
        inner.P, inner.S, inner.lo, inner.hi, inner.ptr, inner.band, inner.k, inner.w, c2.ptr, c2.band, c2.col,
        c2.val,
    )


def parallel_call(kernel, *args) -> None:
    """Run a parallel numba kernel on as many threads as torch uses, one kernel at a time in the process."""
    with _LOCK:
        prev = numba.get_num_threads()
        numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
        try:
            kernel(*args)
        finally:
            numba.set_num_threads(prev)


def split3d_fused(x: torch.Tensor, ops: Sequence[AxisOp]) -> torch.Tensor:
    """:func:`~medwave.wavelets.engine.split_nd` for 3 axes: ``(N, G0, X, Y, Z)`` to ``(N, G0 * prod(k), ...)``."""
    n, g0 = x.shape[:2]
    nbs = [len(op.blocks) for op in ops]
    coarse = [op.n_out for op in ops]
    x7 = x.detach().reshape([n * g0, 1, 1, 1] + list(x.shape[2:])).contiguous()
    out = torch.empty([n * g0] + nbs + coarse, dtype=x.dtype)
    _run(x7, out, ops)
    return out.view([n, g0 * math.prod(nbs)] + coarse)


def merge3d_fused(c: torch.Tensor, ops: Sequence[AxisOp]) -> torch.Tensor:
    """:func:`~medwave.wavelets.engine.merge_nd` for 3 axes: ``(N, G, *coarse)`` to ``(N, G / prod(k), *fine)``."""
    n, g = c.shape[:2]
    nbs = [len(op.blocks[0]) for op in ops]
    g_out = g // math.prod(nbs)
    fine = [op.n_out for op in ops]
    c7 = c.detach().reshape([n * g_out] + nbs + list(c.shape[2:])).contiguous()
    out = torch.empty([n * g_out, 1, 1, 1] + fine, dtype=c.dtype)
    _run(c7, out, ops)
    return out.view([n, g_out] + fine)
