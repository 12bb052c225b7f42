"""The numba kernels of the fused 3D DTCWT (forward and inverse), compiled on first use and cached on disk.

Imported only by :func:`medwave.wavelets.dtcwt_fused.kernels` on the first 3D DTCWT that runs fused, so that
``import medwave`` does not import numba. The operator tables and the level schedule (which rows, which
chunk) are in :mod:`medwave.wavelets.dtcwt_fused`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Floating-point contraction (fused multiply-add) only: sums keep their order.
FAST = {"contract"}
#: The seven highpass octants in ``dtcwt``'s order, as ``4 * bit0 + 2 * bit1 + bit2`` (axis 0 most significant).
OCTANT_CODES = np.array([2, 4, 6, 1, 3, 5, 7], np.int64)


@njit(cache=True, nogil=True, fastmath=FAST)
def extend_line(src, emap, ext):  # pragma: no cover - compiled
    """``ext[u % S, u // S] = src[emap[u]]``: the line extended by its edge rule, split into ``S`` phases."""
    S = ext.shape[0]
    for u in range(emap.shape[0]):
        ext[u % S, u // S] = src[emap[u]]


@njit(cache=True, nogil=True, fastmath=FAST)
def apply_last(ext, dst, b, P, S, nq, iptr, ik, iw, tmp):  # pragma: no cover - compiled
    """Band ``b`` of the last-axis step on one extended line: ``dst[P*q + p] = sum_t iw[t] * ext_u[S*q + ik[t]]``.

    ``ext`` holds the extended line split into its ``S`` phases, so every tap is one contiguous multiply-add over
    ``q`` (two taps per pass); phases of a decimating step (``P == 2``) are summed in ``tmp`` and interleaved.
    """
    for p in range(P):
        e = b * P + p
        n = nq[p]
        d = dst if P == 1 else tmp
        t0 = iptr[e]
        t1 = iptr[e + 1]
        if t1 == t0:
            for q in range(n):
                d[q] = 0.0
        else:
            kk = ik[t0]
            s0 = ext[kk % S, kk // S: kk // S + n]
            w = iw[t0]
            for q in range(n):
                d[q] = w * s0[q]
            t = t0 + 1
            while t < t1:
                k1 = ik[t]
                s1 = ext[k1 % S, k1 // S: k1 // S + n]
                w1 = iw[t]
                if t + 1 < t1:
                    k2 = ik[t + 1]
                    s2 = ext[k2 % S, k2 // S: k2 // S + n]
                    w2 = iw[t + 1]
                    for q in range(n):
                        d[q] += w1 * s1[q] + w2 * s2[q]
                    t += 2
                else:
                    for q in range(n):
                        d[q] += w1 * s1[q]
                    t += 1
        if P != 1:
            for q in range(n):
                dst[P * q + p] = tmp[q]


@njit(cache=True, nogil=True, fastmath=FAST)
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


@njit(parallel=True, cache=True, nogil=True, fastmath=FAST)
def level3(x, nb, xrows, xoff, yin, zin, p0, c0, v0, n0, p1, c1, v1, n1, n2, P, S, nq, emap, iptr, ik, iw,
           i0, i1, h0, h1, high, low, lrows, loff):  # pragma: no cover
    """One DTCWT level of ``nb`` volumes, output row pairs ``i0 <= I < i1`` along the first axis.

    Args:
        x: The input, flat ``(nb, xrows, yin, zin)``; its row ``r`` is row ``r + xoff`` of the level's input.
        p0, c0, v0: CSR of the first axis' operator, rows ``band * n0 + r`` (band 0 lowpass, 1 highpass);
            p1, c1, v1: the second axis' (rows ``band * n1 + r``); the last axis' as taps on its line extended by
            ``emap`` (see :func:`apply_last`).
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
        q = np.empty(zin, x.dtype)
        ext = np.empty((S, (emap.shape[0] + S - 1) // S), x.dtype)
        tmp = np.empty(n2, x.dtype)
        r = np.empty((2, 2, 2, 2, 2, n2), x.dtype)
        for J in range(n1 // 2):
            for ip in range(2):
                for b0 in range(nbands):
                    src = planes[ip, b0]
                    for yp in range(2):
                        for b1 in range(nbands):
                            rows_sum(q, src, 0, zin, 0, p1, c1, v1, b1 * n1 + 2 * J + yp, zin)
                            extend_line(q, emap, ext)
                            for b2 in range(nbands):
                                apply_last(ext, r[ip, b0, yp, b1, b2], b2, P, S, nq, iptr, ik, iw, tmp)
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


@njit(cache=True, nogil=True, fastmath=FAST)
def rows_add(dst, x, base, stride, off, ptr, col, val, row, length):  # pragma: no cover - compiled
    """``dst[:length] += sum_k val[k] * x[base + (col[k] - off) * stride : ... + length]`` (x flat)."""
    for k in range(ptr[row], ptr[row + 1]):
        s = base + (col[k] - off) * stride
        w = val[k]
        for j in range(length):
            dst[j] += w * x[s + j]


#: ``_c2cube``'s real octant sample at parities (axis 0, axis 1, axis 2) from the four complex subbands p, q, r, s:
#: ``0.5 * sum_k sign[k] * part(subband k)``, rows ``[part (0 real, 1 imaginary), sign_p, sign_q, sign_r, sign_s]``.
C2CUBE = np.array([
    [[[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]],  # (0,0,0), (0,0,1)
     [[1, 1, -1, 1, -1], [0, -1, 1, -1, 1]]],  # (0,1,0), (0,1,1)
    [[[1, 1, 1, -1, -1], [0, -1, -1, 1, 1]],  # (1,0,0), (1,0,1)
     [[0, -1, 1, 1, -1], [1, -1, 1, 1, -1]]],  # (1,1,0), (1,1,1)
], np.int64)
#: The position of each octant code (``4 * bit0 + 2 * bit1 + bit2``) in ``dtcwt``'s order (code 0: the lowpass).
OCTANT_INDEX = np.array([-1, 3, 0, 4, 1, 5, 2, 6], np.int64)


@njit(parallel=True, cache=True, nogil=True, fastmath=FAST)
def inv_rows(z, high, nb, xin, yin, zin, r0, r1, p1, c1, v1, n1, jc0, jc1, n2, P, S, nq, emap, iptr, ik, iw, kc0,
             kc1, u):  # pragma: no cover - compiled
    """Inverse, first stage: coefficient rows ``r0 <= r < r1`` through the last two axes' synthesis, both bands of
    the first axis: ``u[bb, b0, r - r0] = sum_{b1, b2} (G1_b1 x G2_b2) band(b0, b1, b2)[r]`` (output rows
    ``jc0 <= j < jc1`` and samples ``kc0 <= k < kc1`` kept); band 0 is the lowpass ``z``, the others are rebuilt from
    the complex ``high`` (``(nb, xin/2, yin/2, zin/2, 28, 2)``) as ``_c2cube`` does. ``u``: flat
    ``(nb, 2, r1 - r0, jc1 - jc0, kc1 - kc0)``."""
    rows = r1 - r0
    ny = jc1 - jc0
    nz = kc1 - kc0
    for t in prange(nb * rows):
        bb = t // rows
        r = r0 + t % rows
        rp = r & 1
        coef = np.empty(zin, z.dtype)
        ext = np.empty((S, (emap.shape[0] + S - 1) // S), z.dtype)
        tmp = np.empty(n2, z.dtype)
        line = np.empty(n2, z.dtype)
        v = np.empty((2, yin * nz), z.dtype)
        for b0 in range(2):
            for s in range(yin):
                sp = s & 1
                for b1 in range(2):
                    dv = v[b1, s * nz:(s + 1) * nz]
                    for b2 in range(2):
                        code = 4 * b0 + 2 * b1 + b2
                        if code == 0:
                            base = ((bb * xin + r) * yin + s) * zin
                            for k in range(zin):
                                coef[k] = z[base + k]
                        else:
                            j4 = 4 * OCTANT_INDEX[code]
                            hl = high[bb, r >> 1, s >> 1]
                            for tp in range(2):
                                rule = C2CUBE[rp, sp, tp]
                                part = rule[0]
                                for k in range(tp, zin, 2):
                                    hv = hl[k >> 1]
                                    coef[k] = 0.5 * (rule[1] * hv[j4, part] + rule[2] * hv[j4 + 1, part]
                                                     + rule[3] * hv[j4 + 2, part] + rule[4] * hv[j4 + 3, part])
                        extend_line(coef, emap, ext)
                        apply_last(ext, line, b2, P, S, nq, iptr, ik, iw, tmp)
                        if b2 == 0:
                            for k in range(nz):
                                dv[k] = line[kc0 + k]
                        else:
                            for k in range(nz):
                                dv[k] += line[kc0 + k]
            ub = ((bb * 2 + b0) * rows + (r - r0)) * ny * nz
            for j in range(jc0, jc1):
                dst = u[ub + (j - jc0) * nz: ub + (j - jc0 + 1) * nz]
                rows_sum(dst, v[0], 0, nz, 0, p1, c1, v1, j, nz)
                rows_add(dst, v[1], 0, nz, 0, p1, c1, v1, n1 + j, nz)


@njit(parallel=True, cache=True, nogil=True, fastmath=FAST)
def inv_out(u, nb, rows, r0, plane, p0, c0, v0, n0, i0, i1, ic0, out, xout):  # pragma: no cover - compiled
    """Inverse, second stage: output rows ``i0 <= i < i1`` of the first axis, ``sum_b0 G0_b0 u[b0]``, written at row
    ``i - ic0`` of ``out`` (flat ``(nb, xout, plane)``)."""
    n = i1 - i0
    for t in prange(nb * n):
        bb = t // n
        i = i0 + t % n
        dst = out[(bb * xout + i - ic0) * plane:(bb * xout + i - ic0 + 1) * plane]
        rows_sum(dst, u, (bb * 2) * rows * plane, plane, r0, p0, c0, v0, i, plane)
        rows_add(dst, u, (bb * 2 + 1) * rows * plane, plane, r0, p0, c0, v0, n0 + i, plane)
