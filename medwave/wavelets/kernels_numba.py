"""The numba kernels of the fused 3D wavelet path, compiled on first use and cached on disk.

Imported only by :func:`medwave.wavelets.fused.kernels`, on the first transform that runs fused, so that
``import medwave`` does not pay for importing numba. The wrappers, the operator tables and the switch are
in :mod:`medwave.wavelets.fused` and :mod:`medwave.wavelets.fused_haar`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True)
def fma1(d, a, wa, add):  # pragma: no cover - compiled
    """``d (=|+=) wa * a`` over equal-length contiguous 1D arrays."""
    if add:
        for q in range(d.shape[0]):
            d[q] += wa * a[q]
    else:
        for q in range(d.shape[0]):
            d[q] = wa * a[q]


@njit(cache=True, nogil=True)
def fma2(d, a, wa, b, wb, add):  # pragma: no cover - compiled
    """``d (=|+=) wa * a + wb * b``: two taps per pass over ``d``."""
    if add:
        for q in range(d.shape[0]):
            d[q] += wa * a[q] + wb * b[q]
    else:
        for q in range(d.shape[0]):
            d[q] = wa * a[q] + wb * b[q]


@njit(cache=True, nogil=True)
def pass_first(x, s, r0, ptr, band, col, val, n_out, tmp):  # pragma: no cover - compiled
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
                            fma2(dst, a, val[k], b, val[k + 1], k > k0)
                            k += 2
                        else:
                            fma1(dst, a, val[k], k > k0)
                            k += 1


@njit(cache=True, nogil=True)
def pass_second(tmp, ptr, band, col, val, tmp2):  # pragma: no cover - compiled
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
                                fma2(dst, a, val[k], tmp[o, band[k + 1], bz, i, col[k + 1]], val[k + 1], k > k0)
                                k += 2
                            else:
                                fma1(dst, a, val[k], k > k0)
                                k += 1


@njit(cache=True, nogil=True)
def pass_last(tmp2, P, S, lo, hi, eptr, eband, ek, ew, ptr, band, col, val, out, s, r0):  # pragma: no cover
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
                                fma2(dst, sa, ew[e], sb, ew[g], e > e0)
                                e += 2
                            else:
                                fma1(dst, sa, ew[e], e > e0)
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
def apply3(x, out, dims_out, rows, c0p, c0b, c0c, c0v, c1p, c1b, c1c, c1v, P, S, lo, hi, eptr, eband, ek, ew,
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
        pass_first(x, s, r0, c0p, c0b, c0c, c0v, x_out, tmp)
        tmp2 = np.empty((bx_out, by_out, bz_in, r, y_out, z_in), dtype=x.dtype)
        pass_second(tmp, c1p, c1b, c1c, c1v, tmp2)
        pass_last(tmp2, P, S, lo, hi, eptr, eband, ek, ew, c2p, c2b, c2c, c2v, out, s, r0)


# ---------------------------------------------------------------- Haar butterfly


@njit(parallel=True, cache=True)
def split3(x, out, s):  # pragma: no cover - compiled
    """``x (M, 2X, 2Y, 2Z)`` to ``out (M, 8, X, Y, Z)``, bands in PyWavelets' order, times ``s``."""
    n_m, xo, yo, zo = out.shape[0], out.shape[2], out.shape[3], out.shape[4]
    for task in prange(n_m * xo):
        m = task // xo
        i = task - m * xo
        for j in range(yo):
            a0 = x[m, 2 * i, 2 * j]
            a1 = x[m, 2 * i, 2 * j + 1]
            b0 = x[m, 2 * i + 1, 2 * j]
            b1 = x[m, 2 * i + 1, 2 * j + 1]
            o0 = out[m, 0, i, j]
            o1 = out[m, 1, i, j]
            o2 = out[m, 2, i, j]
            o3 = out[m, 3, i, j]
            o4 = out[m, 4, i, j]
            o5 = out[m, 5, i, j]
            o6 = out[m, 6, i, j]
            o7 = out[m, 7, i, j]
            for k in range(zo):
                # first axis: planes 2i (a) and 2i+1 (b)
                l00 = a0[2 * k] + b0[2 * k]
                l01 = a0[2 * k + 1] + b0[2 * k + 1]
                l10 = a1[2 * k] + b1[2 * k]
                l11 = a1[2 * k + 1] + b1[2 * k + 1]
                h00 = a0[2 * k] - b0[2 * k]
                h01 = a0[2 * k + 1] - b0[2 * k + 1]
                h10 = a1[2 * k] - b1[2 * k]
                h11 = a1[2 * k + 1] - b1[2 * k + 1]
                # second axis: rows 2j (0) and 2j+1 (1)
                ll0 = l00 + l10
                ll1 = l01 + l11
                lh0 = l00 - l10
                lh1 = l01 - l11
                hl0 = h00 + h10
                hl1 = h01 + h11
                hh0 = h00 - h10
                hh1 = h01 - h11
                # last axis: samples 2k (0) and 2k+1 (1)
                o0[k] = s * (ll0 + ll1)
                o1[k] = s * (ll0 - ll1)
                o2[k] = s * (lh0 + lh1)
                o3[k] = s * (lh0 - lh1)
                o4[k] = s * (hl0 + hl1)
                o5[k] = s * (hl0 - hl1)
                o6[k] = s * (hh0 + hh1)
                o7[k] = s * (hh0 - hh1)


@njit(parallel=True, cache=True)
def merge3(c, out, s):  # pragma: no cover - compiled
    """``c (M, 8, X, Y, Z)`` to ``out (M, 2X, 2Y, 2Z)``: the butterfly backwards, times ``s``."""
    n_m, xo, yo, zo = c.shape[0], c.shape[2], c.shape[3], c.shape[4]
    for task in prange(n_m * xo):
        m = task // xo
        i = task - m * xo
        for j in range(yo):
            c0 = c[m, 0, i, j]
            c1 = c[m, 1, i, j]
            c2 = c[m, 2, i, j]
            c3 = c[m, 3, i, j]
            c4 = c[m, 4, i, j]
            c5 = c[m, 5, i, j]
            c6 = c[m, 6, i, j]
            c7 = c[m, 7, i, j]
            a0 = out[m, 2 * i, 2 * j]
            a1 = out[m, 2 * i, 2 * j + 1]
            b0 = out[m, 2 * i + 1, 2 * j]
            b1 = out[m, 2 * i + 1, 2 * j + 1]
            for k in range(zo):
                # last axis
                ll0 = c0[k] + c1[k]
                ll1 = c0[k] - c1[k]
                lh0 = c2[k] + c3[k]
                lh1 = c2[k] - c3[k]
                hl0 = c4[k] + c5[k]
                hl1 = c4[k] - c5[k]
                hh0 = c6[k] + c7[k]
                hh1 = c6[k] - c7[k]
                # second axis
                l00 = ll0 + lh0
                l10 = ll0 - lh0
                l01 = ll1 + lh1
                l11 = ll1 - lh1
                h00 = hl0 + hh0
                h10 = hl0 - hh0
                h01 = hl1 + hh1
                h11 = hl1 - hh1
                # first axis
                a0[2 * k] = s * (l00 + h00)
                a0[2 * k + 1] = s * (l01 + h01)
                a1[2 * k] = s * (l10 + h10)
                a1[2 * k + 1] = s * (l11 + h11)
                b0[2 * k] = s * (l00 - h00)
                b0[2 * k + 1] = s * (l01 - h01)
                b1[2 * k] = s * (l10 - h10)
                b1[2 * k + 1] = s * (l11 - h11)
