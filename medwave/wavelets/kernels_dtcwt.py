"""The numba kernel of the fused 3D DTCWT forward, compiled on first use and cached on disk.

Imported only by :func:`medwave.wavelets.dtcwt_fused.kernels` on the first 3D DTCWT that runs fused, so that
``import medwave`` does not import numba. The operator tables and the level schedule (which rows, which
chunk) are in :mod:`medwave.wavelets.dtcwt_fused`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: The seven highpass octants in ``dtcwt``'s order, as ``4 * bit0 + 2 * bit1 + bit2`` (axis 0 most significant).
OCTANT_CODES = np.array([2, 4, 6, 1, 3, 5, 7], np.int64)


@njit(cache=True, nogil=True)
def apply_last(src, dst, b, n_out, ptr, col, val, P, S, lo, hi, iptr, ik, iw, bptr, brows):  # pragma: no cover
    """Band ``b`` of the last-axis operator on one line: ``dst[r] = sum_k val[k] * src[col[k]]``.

    Interior rows ``P*q + p`` (``lo[b*P+p] <= q < hi[b*P+p]``) run tap by tap as long multiply-adds
    ``dst[P*q+p] += w * src[S*q + k]``; the boundary rows ``brows[bptr[b]:bptr[b+1]]`` from the exact operator rows.
    """
    for t in range(bptr[b], bptr[b + 1]):
        rr = brows[t]
        row = b * n_out + rr
        acc = 0.0
        for k in range(ptr[row], ptr[row + 1]):
            acc += val[k] * src[col[k]]
        dst[rr] = acc
    for p in range(P):
        e = b * P + p
        a = lo[e]
        z = hi[e]
        if z <= a:
            continue
        t0 = iptr[e]
        t1 = iptr[e + 1]
        if t1 == t0:
            for q in range(a, z):
                dst[P * q + p] = 0.0
            continue
        w = iw[t0]
        kk = ik[t0]
        for q in range(a, z):
            dst[P * q + p] = w * src[S * q + kk]
        t = t0 + 1
        while t < t1:
            if t + 1 < t1:
                w = iw[t]
                kk = ik[t]
                w2 = iw[t + 1]
                k2 = ik[t + 1]
                for q in range(a, z):
                    dst[P * q + p] += w * src[S * q + kk] + w2 * src[S * q + k2]
                t += 2
            else:
                w = iw[t]
                kk = ik[t]
                for q in range(a, z):
                    dst[P * q + p] += w * src[S * q + kk]
                t += 1


@njit(cache=True, nogil=True)
def rows_sum(dst, x, base, stride, off, ptr, col, val, row, length):  # pragma: no cover - compiled
    """``dst[:length] = sum_k val[k] * x[base + (col[k] - off) * stride : ... + length]`` (x flat)."""
    k0 = ptr[row]
    k1 = ptr[row + 1]
    if k1 == k0:
        for j in range(length):
            dst[j] = 0.0
        return
    s = base + (col[k0] - off) * stride
    w = val[k0]
    for j in range(length):
        dst[j] = w * x[s + j]
    k = k0 + 1
    while k < k1:
        if k + 1 < k1:
            s = base + (col[k] - off) * stride
            s2 = base + (col[k + 1] - off) * stride
            w = val[k]
            w2 = val[k + 1]
            for j in range(length):
                dst[j] += w * x[s + j] + w2 * x[s2 + j]
            k += 2
        else:
            s = base + (col[k] - off) * stride
            w = val[k]
            for j in range(length):
                dst[j] += w * x[s + j]
            k += 1


@njit(parallel=True, cache=True, nogil=True)
def level3(x, nb, xrows, xoff, yin, zin, p0, c0, v0, n0, p1, c1, v1, n1, p2, c2, v2, n2,
           P, S, lo, hi, iptr, ik, iw, bptr, brows, i0, i1, h0, h1, high, low, lrows, loff):  # pragma: no cover
    """One DTCWT level of ``nb`` volumes, output row pairs ``i0 <= I < i1`` along the first axis.

    Args:
        x: The input, flat ``(nb, xrows, yin, zin)``; its row ``r`` is row ``r + xoff`` of the level's input.
        p0, c0, v0: CSR of the first axis' operator, rows ``band * n0 + r`` (band 0 lowpass, 1 highpass);
            p1.. / p2..: the second and last axes' (the last also as interior taps ``P, S, lo, hi, iptr, ik, iw``
            and boundary rows ``bptr, brows``, see :func:`apply_last`).
        h0, h1: Pairs ``h0 <= I < h1`` also get their highpasses (the others only their lowpass rows).
        high: ``(nb, n0 // 2, n1 // 2, n2 // 2, 28, 2)``: the complex highpasses (real, imaginary).
        low: flat ``(nb, lrows, n1, n2)``, row ``r`` of the level's lowpass at ``r - loff``; ``lrows == 0``: none.
    """
    npairs = i1 - i0
    plane = yin * zin
    for t in prange(nb * npairs):
        bb = t // npairs
        I = i0 + t % npairs
        do_hi = h0 <= I < h1
        nbands = 2 if do_hi else 1
        planes = np.empty((2, 2, plane), x.dtype)
        for ip in range(2):
            for b0 in range(nbands):
                rows_sum(planes[ip, b0], x, bb * xrows * plane, plane, xoff, p0, c0, v0, b0 * n0 + 2 * I + ip, plane)
        q = np.empty((2, 2, 2, 2, zin), x.dtype)
        r = np.empty((2, 2, 2, 2, 2, n2), x.dtype)
        for J in range(n1 // 2):
            for ip in range(2):
                for b0 in range(nbands):
                    src = planes[ip, b0]
                    for yp in range(2):
                        for b1 in range(nbands):
                            rows_sum(q[ip, b0, yp, b1], src, 0, zin, 0, p1, c1, v1, b1 * n1 + 2 * J + yp, zin)
                            for b2 in range(nbands):
                                apply_last(q[ip, b0, yp, b1], r[ip, b0, yp, b1, b2], b2, n2, p2, c2, v2, P, S, lo, hi,
                                           iptr, ik, iw, bptr, brows)
            if lrows > 0:
                for ip in range(2):
                    for yp in range(2):
                        base = ((bb * lrows + 2 * I + ip - loff) * n1 + 2 * J + yp) * n2
                        src = r[ip, 0, yp, 0, 0]
                        for j in range(n2):
                            low[base + j] = src[j]
            if do_hi:
                for oi in range(7):
                    code = OCTANT_CODES[oi]
                    b0 = code >> 2
                    b1 = (code >> 1) & 1
                    b2 = code & 1
                    ra = r[0, b0, 0, b1, b2]
                    rb = r[0, b0, 1, b1, b2]
                    rc = r[1, b0, 0, b1, b2]
                    rd = r[1, b0, 1, b1, b2]
                    for K in range(n2 // 2):
                        a = ra[2 * K]
                        e = ra[2 * K + 1]
                        b = rb[2 * K]
                        f = rb[2 * K + 1]
                        c = rc[2 * K]
                        g = rc[2 * K + 1]
                        d = rd[2 * K]
                        h = rd[2 * K + 1]
                        o = high[bb, I, J, K]
                        j = 4 * oi
                        o[j, 0] = 0.5 * (a - g - d - f)
                        o[j, 1] = 0.5 * (b - h + c + e)
                        o[j + 1, 0] = 0.5 * (a - g + d + f)
                        o[j + 1, 1] = 0.5 * (-b + h + c + e)
                        o[j + 2, 0] = 0.5 * (a + g + d - f)
                        o[j + 2, 1] = 0.5 * (b + h - c + e)
                        o[j + 3, 0] = 0.5 * (a + g - d + f)
                        o[j + 3, 1] = 0.5 * (-b - h - c + e)
