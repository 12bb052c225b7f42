"""Fused 3D DTCWT forward: one compiled (numba) kernel per level writes the complex highpasses in place.

The torch path of :func:`medwave.wavelets.dtcwt_forward` (the differentiable one) runs each per-axis step on
whole volumes: eight real octant bands of the input's size per level, then their 2x2x2 polyphase rearranged
into complex subbands, about 11x the input in temporaries. Here each pair of output rows of the first axis
runs through the three axes in cache (planes, then lines) and its seven highpass octants go straight into the
complex output ``(..., x/2, y/2, z/2, 28)``:

* first and second axis: every output plane/line is a short sum of input planes/lines, read from the exact
  operator matrix of the step (:func:`medwave.wavelets.dtcwt._matrix`, CSR), so every edge rule is ``dtcwt``'s;
* last axis (contiguous): the interior rows of each phase are long multiply-adds ``w * src[S*q + k]``
  (taps read off the same matrix and checked row by row against it), the few boundary rows the matrix rows.

With two levels and no ``include_scale``, the level-1 lowpass (the size of the input) is never held whole:
the second level runs in chunks of its first axis, each on a buffer of the level-1 lowpass rows it reads
(computed for that chunk, the few overlapping rows twice), so the forward's memory beyond its output is a
fraction of the input. Used for CPU float32/float64 3D forwards without autograd when the compiled kernels
are on (:mod:`medwave.utils.compiled`); results equal the torch path's to float rounding (tests check both
against the ``dtcwt`` package).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from medwave.utils.compiled import compiled_accepts, load_kernels, parallel_call
from medwave.utils.memory import empty_large

__all__ = ["fused_dtcwt_applicable", "forward3_fused", "kernels", "MIN_ELEMENTS", "CHUNK_FRACTION"]

#: Smallest input (elements) sent to the fused kernel (below it the torch path's few ops cost less).
MIN_ELEMENTS = 1 << 15
#: The level-1 lowpass buffer of a chunked second level holds about this fraction of the input's rows.
CHUNK_FRACTION = 0.25


def kernels():
    """The compiled kernel module (:mod:`medwave.wavelets.kernels_dtcwt`), imported on first use."""
    return load_kernels("medwave.wavelets.kernels_dtcwt")


def fused_dtcwt_applicable(x: torch.Tensor) -> bool:
    """Whether the fused kernel should run the 3D forward of ``x``: CPU float32/64, no autograd, large enough."""
    return (compiled_accepts(x) and not (torch.is_grad_enabled() and x.requires_grad)
            and x.numel() >= max(1, MIN_ELEMENTS))


@dataclass(frozen=True)
class _Axis:
    """One per-axis step with both bands (0: lowpass, 1: highpass) as CSR rows ``band * n_out + r``."""

    n_out: int
    ptr: np.ndarray
    col: np.ndarray
    val: np.ndarray
    # interior taps of each band and phase (entry ``band * P + p``) and the boundary rows of each band
    P: int
    S: int
    lo: np.ndarray
    hi: np.ndarray
    iptr: np.ndarray
    ik: np.ndarray
    iw: np.ndarray
    bptr: np.ndarray
    brows: np.ndarray

    def args(self) -> tuple:
        return self.ptr, self.col, self.val, self.n_out

    def last_args(self) -> tuple:
        return self.P, self.S, self.lo, self.hi, self.iptr, self.ik, self.iw, self.bptr, self.brows


def _interior(m: np.ndarray, P: int, S: int) -> tuple[list, list, list, list]:
    """For each phase ``p``: the widest range of ``q`` (around the middle) whose rows ``P*q + p`` are the
    middle row's taps shifted by ``S*q`` (exact equality of columns and weights), and those taps."""
    n_out, n_in = m.shape
    los, his, ks, ws = [], [], [], []
    for p in range(P):
        nq = (n_out - p + P - 1) // P
        if nq <= 0:
            los.append(0), his.append(0), ks.append([]), ws.append([])
            continue
        qm = nq // 2
        cols = np.flatnonzero(m[P * qm + p])
        k = cols - S * qm
        w = m[P * qm + p, cols]

        def same(q: int) -> bool:
            row = m[P * q + p]
            c = S * q + k
            if c.size and (c.min() < 0 or c.max() >= n_in):
                return False
            return np.count_nonzero(row) == c.size and bool(np.all(row[c] == w))

        a = qm
        while a - 1 >= 0 and same(a - 1):
            a -= 1
        z = qm + 1
        while z < nq and same(z):
            z += 1
        los.append(a), his.append(z), ks.append(k.tolist()), ws.append(w.tolist())
    return los, his, ks, ws


@lru_cache(maxsize=256)
def _axis(kind: str, n: int, biort: str, qshift: str, dtype: str) -> _Axis:
    from medwave.wavelets.dtcwt import _matrix

    if kind == "filter":
        mats = [_matrix("filter", n, biort, qshift, (name,)) for name in ("h0o", "h1o")]
        P, S = 1, 1
    else:
        mats = [_matrix("dfilter", n, biort, qshift, names) for names in (("h0b", "h0a"), ("h1b", "h1a"))]
        P, S = 2, 4
    n_out = mats[0].shape[0]
    ptr, col, val = [0], [], []
    lo, hi, iptr, ik, iw, bptr, brows = [], [], [0], [], [], [0], []
    for m in mats:
        for row in m:
            nz = np.flatnonzero(row)
            col.extend(nz.tolist())
            val.extend(row[nz].tolist())
            ptr.append(len(col))
        a, z, ks, ws = _interior(m, P, S)
        for p in range(P):
            lo.append(a[p]), hi.append(z[p])
            ik.extend(ks[p]), iw.extend(ws[p])
            iptr.append(len(ik))
        inner = np.zeros(n_out, bool)
        for p in range(P):
            inner[P * np.arange(a[p], z[p]) + p] = True
        brows.extend(np.flatnonzero(~inner).tolist())
        bptr.append(len(brows))
    i64 = lambda v: np.asarray(v, np.int64)  # noqa: E731
    return _Axis(n_out, i64(ptr), i64(col), np.asarray(val, dtype), P, S, i64(lo), i64(hi), i64(iptr), i64(ik),
                 np.asarray(iw, dtype), i64(bptr), i64(brows))


def _level(x3: np.ndarray, nb: int, xrows: int, xoff: int, shape_in: tuple, axes: tuple, i0: int, i1: int, h0: int,
           h1: int, high: np.ndarray, low: np.ndarray, lrows: int, loff: int) -> None:
    a0, a1, a2 = axes
    parallel_call(kernels().level3, x3, nb, xrows, xoff, shape_in[1], shape_in[2], *a0.args(), *a1.args(), *a2.args(),
                  *a2.last_args(), i0, i1, h0, h1, high, low, lrows, loff)


def _cols(a: _Axis, r0: int, r1: int) -> tuple[int, int]:
    """The input rows read by output rows ``r0 <= r < r1`` of both bands of axis ``a``: ``[lo, hi)``."""
    cs = [a.col[a.ptr[b * a.n_out + r0]: a.ptr[b * a.n_out + r1]] for b in (0, 1)]
    c = np.concatenate(cs)
    return int(c.min()), int(c.max()) + 1


def forward3_fused(x: torch.Tensor, nlevels: int, biort: str, qshift: str,
                   include_scale: bool) -> tuple[torch.Tensor, list, list]:
    """The 3D forward (``nlevels >= 1``) of ``x (..., X, Y, Z)`` (even sizes): lowpass, highpasses, scales."""
    lead = tuple(x.shape[:-3])
    shape = tuple(int(s) for s in x.shape[-3:])
    nb = math.prod(lead)
    dt = np.dtype(str(x.dtype).replace("torch.", ""))
    cdt = torch.complex64 if x.dtype == torch.float32 else torch.complex128
    xn = x.detach().reshape(-1).contiguous().numpy() if nb else np.zeros(0, dt)
    no_low = np.zeros(0, dt)
    highs, scales = [], []
    src, src_shape = xn, shape
    level = 0
    while level < nlevels:
        kind = "filter" if level == 0 else "dfilter"
        axes = tuple(_axis(kind, n, biort, qshift, dt.str) for n in src_shape)
        out_shape = tuple(a.n_out for a in axes)
        high_t = empty_large(lead + tuple(n // 2 for n in out_shape) + (28,), cdt)
        high = torch.view_as_real(high_t).numpy().reshape((nb,) + tuple(n // 2 for n in out_shape) + (28, 2))
        pairs = out_shape[0] // 2
        chunked = level == 0 and nlevels >= 2 and not include_scale
        if not chunked:
            low_t = empty_large(lead + out_shape, x.dtype)
            low = low_t.numpy().reshape(-1)
            _level(src, nb, src_shape[0], 0, src_shape, axes, 0, pairs, 0, pairs, high, low, out_shape[0], 0)
            highs.append(high_t)
            scales.append(low_t)
            src, src_shape = low, out_shape
            level += 1
            continue
        # level 1 and 2 together: level 2 in chunks of its first axis, each from a buffer of the level-1 lowpass
        # rows it reads (level-1 highpasses of each row pair written once)
        axes2 = tuple(_axis("dfilter", n, biort, qshift, dt.str) for n in out_shape)
        out2 = tuple(a.n_out for a in axes2)
        high2_t = empty_large(lead + tuple(n // 2 for n in out2) + (28,), cdt)
        high2 = torch.view_as_real(high2_t).numpy().reshape((nb,) + tuple(n // 2 for n in out2) + (28, 2))
        low2_t = empty_large(lead + out2, x.dtype)
        low2 = low2_t.numpy().reshape(-1)
        pairs2 = out2[0] // 2
        step = max(1, int(round(CHUNK_FRACTION * pairs2)))
        chunks = []
        for k0 in range(0, pairs2, step):
            k1 = min(pairs2, k0 + step)
            r0, r1 = _cols(axes2[0], 2 * k0, 2 * k1)
            chunks.append((k0, k1, r0 // 2, (r1 + 1) // 2))
        done, rows_max = 0, 0
        for _, _, p0, p1 in chunks:
            rows_max = max(rows_max, 2 * (p1 - min(p0, done)))
            done = max(done, p1)
        buf = np.empty(nb * rows_max * out_shape[1] * out_shape[2], dt)
        done = 0
        for k0, k1, p0, p1 in chunks:
            i0 = min(p0, done)
            lrows = 2 * (p1 - i0)
            view = buf[: nb * lrows * out_shape[1] * out_shape[2]]
            # lowpass rows of pairs i0 <= I < p1 into the buffer, highpasses of the pairs not written yet
            _level(src, nb, src_shape[0], 0, src_shape, axes, i0, p1, done, p1, high, view, lrows, 2 * i0)
            done = max(done, p1)
            _level(view, nb, lrows, 2 * i0, out_shape, axes2, k0, k1, k0, k1, high2, low2, out2[0], 0)
        if done < pairs:
            _level(src, nb, src_shape[0], 0, src_shape, axes, done, pairs, done, pairs, high, no_low, 0, 0)
        del buf
        highs += [high_t, high2_t]
        scales += [None, low2_t]
        src, src_shape = low2, out2
        level += 2
    return scales[-1], highs, scales
