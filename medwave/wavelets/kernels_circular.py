"""The numba kernels of the undecimated (circular) wavelet path, compiled on first use and cached on disk.

Imported only by :func:`medwave.wavelets.circular.kernels` (through :func:`medwave.utils.compiled.load_kernels`).
Every array is viewed as ``(P, N, Q)``: the transformed axis is the middle one. An operator along it is a
short list of circular taps, ``y[p, n, q] = sum_k w[k] * x[p, (n + o[k]) mod N, q]`` with ``0 <= o[k] < N``.
Destinations may be the same memory as a source (each task copies the block it reads first), which is how
a 3D stationary transform runs in its output buffer without full-size temporaries.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Columns of a ``(N, Q)`` block copied per task when ``Q > 1``.
QCHUNK = 512
#: Lines per task when the transformed axis is the contiguous one (``Q == 1``).
LINES = 64


@njit(cache=True, nogil=True)
def _taps_block(tmp, dst, offs, ws, n_len):  # pragma: no cover - compiled
    """``dst[n, :] (=) sum_k ws[k] * tmp[(n + offs[k]) mod N, :]`` for one ``(N, w)`` block."""
    w = tmp.shape[1]
    for n in range(n_len):
        row = dst[n]
        i0 = n + offs[0]
        if i0 >= n_len:
            i0 -= n_len
        src = tmp[i0]
        w0 = ws[0]
        for q in range(w):
            row[q] = w0 * src[q]
        for k in range(1, offs.shape[0]):
            ik = n + offs[k]
            if ik >= n_len:
                ik -= n_len
            src = tmp[ik]
            wk = ws[k]
            for q in range(w):
                row[q] += wk * src[q]


@njit(cache=True, nogil=True)
def _taps_line(ext, dst, offs, ws, omin, add):  # pragma: no cover - compiled
    """``dst[n] (=|+=) sum_k ws[k] * ext[n + offs[k] - omin]`` (``ext`` is the circularly extended line).

    One pass over ``dst`` per tap; the source of each tap is a slice, so that the loop index is non-negative
    and numba emits no wrap-around test for negative indices (which would keep LLVM from vectorising it).
    """
    n_len = dst.shape[0]
    for k in range(offs.shape[0]):
        a = offs[k] - omin
        src = ext[a:a + n_len]
        wk = ws[k]
        if k == 0 and not add:
            for n in range(n_len):
                dst[n] = wk * src[n]
        else:
            for n in range(n_len):
                dst[n] += wk * src[n]


@njit(cache=True, nogil=True)
def _extend(line, ext, omin):  # pragma: no cover - compiled
    """``ext[i] = line[(i + omin) mod N]``: plain copies when the taps span less than the line."""
    n_len = line.shape[0]
    e_len = ext.shape[0]
    if -n_len <= omin <= 0 and e_len + omin <= 2 * n_len:
        h = -omin
        for i in range(h):
            ext[i] = line[n_len - h + i]
        for i in range(n_len):
            ext[h + i] = line[i]
        for i in range(e_len - h - n_len):
            ext[h + n_len + i] = line[i]
    else:
        for i in range(e_len):
            ext[i] = line[(i + omin) % n_len]


@njit(parallel=True, cache=True)
def split(src, lo, hi, o_lo, w_lo, o_hi, w_hi, s_lo, s_hi):  # pragma: no cover - compiled
    """``lo = taps_lo(src)``, ``hi = taps_hi(src)`` along the middle axis of ``(P, N, Q)`` arrays.

    ``o_*`` are the tap offsets in ``[0, N)``; ``s_*`` the signed offsets (for the line path). ``lo`` or
    ``hi`` may be ``src`` itself.
    """
    p_n, n_len, q_n = src.shape
    if q_n > 1:
        nq = (q_n + QCHUNK - 1) // QCHUNK
        for task in prange(p_n * nq):
            p = task // nq
            q0 = (task - p * nq) * QCHUNK
            q1 = min(q_n, q0 + QCHUNK)
            tmp = src[p, :, q0:q1].copy()
            _taps_block(tmp, lo[p, :, q0:q1], o_lo, w_lo, n_len)
            _taps_block(tmp, hi[p, :, q0:q1], o_hi, w_hi, n_len)
    else:
        omin = min(s_lo.min(), s_hi.min())
        omax = max(s_lo.max(), s_hi.max())
        nt = (p_n + LINES - 1) // LINES
        for task in prange(nt):
            ext = np.empty(n_len + omax - omin, dtype=src.dtype)
            for p in range(task * LINES, min(p_n, (task + 1) * LINES)):
                _extend(src[p, :, 0], ext, omin)
                _taps_line(ext, lo[p, :, 0], s_lo, w_lo, omin, False)
                _taps_line(ext, hi[p, :, 0], s_hi, w_hi, omin, False)


@njit(parallel=True, cache=True)
def merge(a, d, dst, o_a, w_a, o_d, w_d, s_a, s_d):  # pragma: no cover - compiled
    """``dst = taps_a(a) + taps_d(d)`` along the middle axis of ``(P, N, Q)`` arrays (``dst`` may be ``a``)."""
    p_n, n_len, q_n = a.shape
    if q_n > 1:
        nq = (q_n + QCHUNK - 1) // QCHUNK
        for task in prange(p_n * nq):
            p = task // nq
            q0 = (task - p * nq) * QCHUNK
            q1 = min(q_n, q0 + QCHUNK)
            ta = a[p, :, q0:q1].copy()
            td = d[p, :, q0:q1].copy()
            acc = np.empty_like(ta)
            _taps_block(td, acc, o_d, w_d, n_len)
            out = dst[p, :, q0:q1]
            _taps_block(ta, out, o_a, w_a, n_len)
            for n in range(n_len):
                orow = out[n]
                arow = acc[n]
                for q in range(q1 - q0):
                    orow[q] += arow[q]
    else:
        omin = min(s_a.min(), s_d.min())
        omax = max(s_a.max(), s_d.max())
        nt = (p_n + LINES - 1) // LINES
        for task in prange(nt):
            ea = np.empty(n_len + omax - omin, dtype=a.dtype)
            ed = np.empty(n_len + omax - omin, dtype=a.dtype)
            for p in range(task * LINES, min(p_n, (task + 1) * LINES)):
                _extend(a[p, :, 0], ea, omin)
                _extend(d[p, :, 0], ed, omin)
                _taps_line(ea, dst[p, :, 0], s_a, w_a, omin, False)
                _taps_line(ed, dst[p, :, 0], s_d, w_d, omin, True)


# ---------------------------------------------------------------- fused 3D (one level, all axes, row by row)


@njit(cache=True, nogil=True)
def _taps_rows(src, i, offs, ws, dst, add):  # pragma: no cover - compiled
    """``dst (=|+=) sum_k ws[k] * src[(i + offs[k]) mod X]`` for ``src (X, M)`` and ``dst (M,)``."""
    x_len, m = src.shape
    for k in range(offs.shape[0]):
        r = i + offs[k]
        if r >= x_len:
            r -= x_len
        row = src[r]
        wk = ws[k]
        if k == 0 and not add:
            for q in range(m):
                dst[q] = wk * row[q]
        else:
            for q in range(m):
                dst[q] += wk * row[q]


#: Elements of a plane combined at a time by :func:`_plane_taps` (all taps of a tile stay in L1).
TILE = 2048


@njit(cache=True, nogil=True)
def _plane_taps(src, i, offs, ws, src2, offs2, ws2, dst):  # pragma: no cover - compiled
    """``dst = sum_k ws[k] src[(i + offs[k]) mod X] + sum_k ws2[k] src2[(i + offs2[k]) mod X]`` (rows of
    ``(X, M)`` arrays; ``offs2`` may be empty), tile by tile so that ``dst`` is written once, not once per tap."""
    x_len, m = src.shape
    for q0 in range(0, m, TILE):
        q1 = min(m, q0 + TILE)
        d = dst[q0:q1]
        n = q1 - q0
        for k in range(offs.shape[0]):
            r = i + offs[k]
            if r >= x_len:
                r -= x_len
            row = src[r, q0:q1]
            wk = ws[k]
            if k == 0:
                for q in range(n):
                    d[q] = wk * row[q]
            else:
                for q in range(n):
                    d[q] += wk * row[q]
        for k in range(offs2.shape[0]):
            r = i + offs2[k]
            if r >= x_len:
                r -= x_len
            row = src2[r, q0:q1]
            wk = ws2[k]
            for q in range(n):
                d[q] += wk * row[q]


@njit(cache=True, nogil=True)
def _halo(ext, h, n_len):  # pragma: no cover - compiled
    """``ext[h:h + N]`` holds a line: fill ``ext[:h]`` and ``ext[h + N:]`` with its circular continuation."""
    e_len = ext.shape[0]
    if h <= n_len and e_len - h - n_len <= n_len:
        for t in range(h):
            ext[t] = ext[n_len + t]
        for t in range(e_len - h - n_len):
            ext[h + n_len + t] = ext[h + t]
    else:
        for t in range(h):
            ext[t] = ext[h + (t - h) % n_len]
        for t in range(h + n_len, e_len):
            ext[t] = ext[h + (t - h) % n_len]


@njit(parallel=True, cache=True)
def split3(x, out, o0a, w0a, o0d, w0d, o1a, w1a, o1d, w1d, s2a, w2a, s2d, w2d):  # pragma: no cover - compiled
    """One 3D level: ``x (X, Y, Z)`` to ``out (8, X, Y, Z)`` (bands in PyWavelets' key order), row by row.

    Each task takes one output row along the first axis: the first axis combines whole input planes into
    two ``(Y, Z)`` planes (they stay in L2), then for each line ``y`` the second axis combines lines of those
    planes into four extended lines (L1), and the last axis writes the eight output lines from them. Every
    output element is written once, by the thread that computes it (so first-touch faults are spread over
    the threads), and nothing full-size but the output is allocated.
    """
    x_len, y_len, z_len = x.shape
    xf = x.reshape(x_len, y_len * z_len)
    omin = min(0, min(s2a.min(), s2d.min()))
    omax = max(0, max(s2a.max(), s2d.max()))
    h = -omin
    e_len = z_len + omax - omin
    for i in prange(x_len):
        a = np.empty((2, y_len, z_len), dtype=x.dtype)
        _plane_taps(xf, i, o0a, w0a, xf, o0a[:0], w0a[:0], a[0].reshape(y_len * z_len))
        _plane_taps(xf, i, o0d, w0d, xf, o0d[:0], w0d[:0], a[1].reshape(y_len * z_len))
        ext = np.empty((4, e_len), dtype=x.dtype)
        for y in range(y_len):
            for bx in range(2):
                _taps_rows(a[bx], y, o1a, w1a, ext[2 * bx, h:h + z_len], False)
                _taps_rows(a[bx], y, o1d, w1d, ext[2 * bx + 1, h:h + z_len], False)
            for b in range(4):
                e = ext[b]
                _halo(e, h, z_len)
                _taps_line(e, out[2 * b, i, y], s2a, w2a, omin, False)
                _taps_line(e, out[2 * b + 1, i, y], s2d, w2d, omin, False)


@njit(parallel=True, cache=True)
def merge3(c, out, o0a, w0a, o0d, w0d, o1a, w1a, o1d, w1d, s2a, w2a, s2d, w2d):  # pragma: no cover - compiled
    """One 3D level backwards: ``c (8, X, Y, Z)`` to ``out (X, Y, Z)``, row by row of the output.

    The first axis combines the bands' planes into four ``(Y, Z)`` planes; for each line ``y`` the second
    axis combines their lines into two extended lines (L1), and the last axis writes the output line.
    """
    x_len, y_len, z_len = out.shape
    cf = c.reshape(8, x_len, y_len * z_len)
    omin = min(0, min(s2a.min(), s2d.min()))
    omax = max(0, max(s2a.max(), s2d.max()))
    h = -omin
    e_len = z_len + omax - omin
    for i in prange(x_len):
        p = np.empty((2, 2, y_len, z_len), dtype=c.dtype)
        for by in range(2):
            for bz in range(2):
                _plane_taps(cf[2 * by + bz], i, o0a, w0a, cf[4 + 2 * by + bz], o0d, w0d, p[by, bz].reshape(y_len * z_len))
        ext = np.empty((2, e_len), dtype=c.dtype)
        for y in range(y_len):
            for bz in range(2):
                line = ext[bz, h:h + z_len]
                _taps_rows(p[0, bz], y, o1a, w1a, line, False)
                _taps_rows(p[1, bz], y, o1d, w1d, line, True)
                _halo(ext[bz], h, z_len)
            _taps_line(ext[0], out[i, y], s2a, w2a, omin, False)
            _taps_line(ext[1], out[i, y], s2d, w2d, omin, True)
