"""numba kernels of the compiled LNCC registration step (3D, channels first, C-contiguous arrays).

Loaded by :func:`medwave.utils.compiled.load_kernels` on first use; see
:mod:`medwave.networks.blocks.lncc` (the torch reference of every kernel lives there and the tests compare
them). Four kernels, each one parallel pass over the volume:

* :func:`warp_sample`: trilinear sampling of the moving image at ``x + u(x)`` (edges replicated, as
  ``grid_sample(padding_mode="border", align_corners=True)``) and the exact gradient of that sample with
  respect to ``u`` (the derivative of the trilinear interpolant);
* :func:`box_sums`: window sums of a stack of maps, zero outside (three running sums, float64);
* :func:`lncc_maps`: from the window sums, the squared local correlation and the four maps whose window
  sums give its gradient;
* :func:`smooth_axis`: one axis of a separable convolution of a stack of maps (edges replicated);
* :func:`compose`: ``s(x) + u(x + s(x))``, the displacement of ``(id + u) o (id + s)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from medwave.networks.blocks.kernels_trilinear import cell, clamp, lerp3


@njit(parallel=True, cache=True)
def warp_sample(img, u, out, grad):  # pragma: no cover - compiled
    """``out = img(x + u(x))`` (trilinear, coordinates clamped to the grid) and ``grad = d out / d u``.

    ``img (X, Y, Z)``, ``u (3, X, Y, Z)`` voxel units, ``out (X, Y, Z)``, ``grad (3, X, Y, Z)``. Where a
    coordinate is clamped its derivative is 0 (``grid_sample``'s border mode).
    """
    n0, n1, n2 = img.shape
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                q0 = i + u[0, i, j, k]
                q1 = j + u[1, i, j, k]
                q2 = k + u[2, i, j, k]
                x0, x1, t0 = cell(clamp(q0, n0), n0)
                y0, y1, t1 = cell(clamp(q1, n1), n1)
                z0, z1, t2 = cell(clamp(q2, n2), n2)
                c000 = img[x0, y0, z0]
                c001 = img[x0, y0, z1]
                c010 = img[x0, y1, z0]
                c011 = img[x0, y1, z1]
                c100 = img[x1, y0, z0]
                c101 = img[x1, y0, z1]
                c110 = img[x1, y1, z0]
                c111 = img[x1, y1, z1]
                # interpolate along z, then y, then x, keeping the partial derivatives
                c00 = c000 + t2 * (c001 - c000)
                c01 = c010 + t2 * (c011 - c010)
                c10 = c100 + t2 * (c101 - c100)
                c11 = c110 + t2 * (c111 - c110)
                c0 = c00 + t1 * (c01 - c00)
                c1 = c10 + t1 * (c11 - c10)
                out[i, j, k] = c0 + t0 * (c1 - c0)
                g0 = c1 - c0
                g1 = (c01 - c00) + t0 * ((c11 - c10) - (c01 - c00))
                d00 = c001 - c000
                d01 = c011 - c010
                d10 = c101 - c100
                d11 = c111 - c110
                d0 = d00 + t1 * (d01 - d00)
                d1 = d10 + t1 * (d11 - d10)
                g2 = d0 + t0 * (d1 - d0)
                grad[0, i, j, k] = g0 if (q0 >= 0.0 and q0 <= n0 - 1.0) else 0.0
                grad[1, i, j, k] = g1 if (q1 >= 0.0 and q1 <= n1 - 1.0) else 0.0
                grad[2, i, j, k] = g2 if (q2 >= 0.0 and q2 <= n2 - 1.0) else 0.0


@njit(parallel=True, cache=True)
def box_sums(x, tmp, out, r):  # pragma: no cover - compiled
    """Sums of each map of ``x (C, X, Y, Z)`` over the ``(2r+1)**3`` window centred on each voxel, zeros
    outside the grid, into the float64 ``out`` of the same shape (running sums along each axis; ``tmp`` is a
    float64 buffer of that shape)."""
    c, n0, n1, n2 = x.shape
    # axis 2 (contiguous): a running sum per line, x -> out
    for ci in range(c):
        for i in prange(n0):
            for j in range(n1):
                s = 0.0
                for k in range(min(r, n2)):
                    s += x[ci, i, j, k]
                for k in range(n2):
                    if k + r < n2:
                        s += x[ci, i, j, k + r]
                    if k - r - 1 >= 0:
                        s -= x[ci, i, j, k - r - 1]
                    out[ci, i, j, k] = s
    # axis 1: running sum of rows, out -> tmp
    for ci in range(c):
        for i in prange(n0):
            for k in range(n2):
                tmp[ci, i, 0, k] = 0.0
            for j in range(min(r, n1)):
                for k in range(n2):
                    tmp[ci, i, 0, k] += out[ci, i, j, k]
            for j in range(n1):
                if j > 0:
                    for k in range(n2):
                        tmp[ci, i, j, k] = tmp[ci, i, j - 1, k]
                if j + r < n1:
                    for k in range(n2):
                        tmp[ci, i, j, k] += out[ci, i, j + r, k]
                if j - r - 1 >= 0:
                    for k in range(n2):
                        tmp[ci, i, j, k] -= out[ci, i, j - r - 1, k]
    # axis 0: running sum of planes, tmp -> out (parallel over the second axis)
    for ci in range(c):
        for j in prange(n1):
            for k in range(n2):
                out[ci, 0, j, k] = 0.0
            for i in range(min(r, n0)):
                for k in range(n2):
                    out[ci, 0, j, k] += tmp[ci, i, j, k]
            for i in range(n0):
                if i > 0:
                    for k in range(n2):
                        out[ci, i, j, k] = out[ci, i - 1, j, k]
                if i + r < n0:
                    for k in range(n2):
                        out[ci, i, j, k] += tmp[ci, i + r, j, k]
                if i - r - 1 >= 0:
                    for k in range(n2):
                        out[ci, i, j, k] -= tmp[ci, i - r - 1, j, k]
    return out


@njit(parallel=True, cache=True)
def lncc_maps(fixed, warped, si, sii, sj, out, n, eps):  # pragma: no cover - compiled
    """Local squared correlation of ``fixed`` and ``warped`` and the maps of its gradient.

    ``si, sii`` are the window sums of the fixed image and its square, ``sj (3, ...)`` those of the warped
    image, its square and the product. With ``A = Sij - Si Sj / n``, ``B = Sii - Si^2 / n``, ``C = Sjj - Sj^2 / n``
    (``B, C`` at least ``eps``), ``cc = A^2 / (B C)``; ``out (4, ...)`` receives ``a = 2A/(BC)``, ``a * mean_i``,
    ``b = 2A^2/(B C^2)`` and ``b * mean_j``, so that ``d sum(cc) / d warped(y) = fixed(y) box(a) - box(a mean_i)
    - warped(y) box(b) + box(b mean_j)``. Returns the sum of ``cc``.
    """
    n0, n1, n2 = fixed.shape
    total = 0.0
    for i in prange(n0):
        acc = 0.0
        for j in range(n1):
            for k in range(n2):
                s_i = si[0, i, j, k]
                s_j = sj[0, i, j, k]
                a = sj[2, i, j, k] - s_i * s_j / n
                b = sii[0, i, j, k] - s_i * s_i / n
                c = sj[1, i, j, k] - s_j * s_j / n
                if b < eps:
                    b = eps
                if c < eps:
                    c = eps
                bc = b * c
                cc = a * a / bc
                al = 2.0 * a / bc
                be = 2.0 * cc / c
                out[0, i, j, k] = al
                out[1, i, j, k] = al * s_i / n
                out[2, i, j, k] = be
                out[3, i, j, k] = be * s_j / n
                acc += cc
        total += acc
    return total


@njit(parallel=True, cache=True)
def lncc_gradient(fixed, warped, boxed, dw, scale, g):  # pragma: no cover - compiled
    """``g = scale * (fixed box(a) - box(a mean_i) - warped box(b) + box(b mean_j)) * dw`` (3 channels)."""
    n0, n1, n2 = fixed.shape
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                gy = scale * (fixed[i, j, k] * boxed[0, i, j, k] - boxed[1, i, j, k]
                              - warped[i, j, k] * boxed[2, i, j, k] + boxed[3, i, j, k])
                g[0, i, j, k] = gy * dw[0, i, j, k]
                g[1, i, j, k] = gy * dw[1, i, j, k]
                g[2, i, j, k] = gy * dw[2, i, j, k]


@njit(parallel=True, cache=True)
def smooth_axis(x, out, kernel, axis):  # pragma: no cover - compiled
    """Convolve each map of ``x (C, X, Y, Z)`` along ``axis`` with the odd ``kernel``, edges replicated."""
    c, n0, n1, n2 = x.shape
    r = kernel.shape[0] // 2
    for ci in range(c):
        if axis == 2:
            for i in prange(n0):
                for j in range(n1):
                    for k in range(n2):
                        s = 0.0
                        if k >= r and k + r < n2:  # interior: no clamping
                            for t in range(-r, r + 1):
                                s += kernel[t + r] * x[ci, i, j, k + t]
                        else:
                            for t in range(-r, r + 1):
                                s += kernel[t + r] * x[ci, i, j, min(max(k + t, 0), n2 - 1)]
                        out[ci, i, j, k] = s
        elif axis == 1:
            for i in prange(n0):
                for j in range(n1):
                    for k in range(n2):
                        out[ci, i, j, k] = 0.0
                    for t in range(-r, r + 1):
                        jj = min(max(j + t, 0), n1 - 1)
                        w = kernel[t + r]
                        for k in range(n2):
                            out[ci, i, j, k] += w * x[ci, i, jj, k]
        else:
            for i in prange(n0):
                for j in range(n1):
                    for k in range(n2):
                        out[ci, i, j, k] = 0.0
                for t in range(-r, r + 1):
                    ii = min(max(i + t, 0), n0 - 1)
                    w = kernel[t + r]
                    for j in range(n1):
                        for k in range(n2):
                            out[ci, i, j, k] += w * x[ci, ii, j, k]
    return out


@njit(parallel=True, cache=True)
def compose(u, s, out):  # pragma: no cover - compiled
    """``out(x) = s(x) + u(x + s(x))``: ``u`` sampled trilinearly, coordinates clamped to the grid."""
    _, n0, n1, n2 = u.shape
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                x0, x1, t0 = cell(clamp(i + s[0, i, j, k], n0), n0)
                y0, y1, t1 = cell(clamp(j + s[1, i, j, k], n1), n1)
                z0, z1, t2 = cell(clamp(k + s[2, i, j, k], n2), n2)
                for c in range(3):
                    out[c, i, j, k] = s[c, i, j, k] + lerp3(u, c, x0, y0, z0, x1, y1, z1, t0, t1, t2)
    return out
