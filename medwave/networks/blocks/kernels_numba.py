"""numba kernels for scaling and squaring of 3D displacement fields and the fixed-point step of their inversion.

Loaded by :func:`medwave.utils.compiled.load_kernels` on first use; see
:func:`medwave.networks.blocks.fields.integrate_velocity`.
"""

from __future__ import annotations

import math

from numba import njit, prange

from medwave.networks.blocks.kernels_trilinear import cell, lerp3


@njit(parallel=True, cache=True)
def square_steps(u, nxt, steps):  # pragma: no cover - compiled
    """``steps`` times ``u <- u + u o (id + u)`` for a voxel-unit field ``u (D, H, W, 3)``; returns the result.

    Channels last: the three components of a neighbour share a cache line.

    ``u o (id + u)`` is trilinear sampling with zeros outside the grid, as ``grid_sample(align_corners=True,
    padding_mode="zeros")``: each of the 8 neighbours of ``x + u(x)`` contributes only when it lies inside.
    ``nxt`` is a buffer of the same shape; the two are swapped every step.
    """
    n0, n1, n2 = u.shape[0], u.shape[1], u.shape[2]
    for _ in range(steps):
        for i in prange(n0):
            for j in range(n1):
                for k in range(n2):
                    p0 = i + u[i, j, k, 0]
                    p1 = j + u[i, j, k, 1]
                    p2 = k + u[i, j, k, 2]
                    a0 = 0.0
                    a1 = 0.0
                    a2 = 0.0
                    if math.isfinite(p0) and math.isfinite(p1) and math.isfinite(p2):
                        f0 = math.floor(p0)
                        f1 = math.floor(p1)
                        f2 = math.floor(p2)
                        x0 = int(f0)
                        y0 = int(f1)
                        z0 = int(f2)
                        t0 = p0 - f0
                        t1 = p1 - f1
                        t2 = p2 - f2
                        if 0 <= x0 and x0 + 1 < n0 and 0 <= y0 and y0 + 1 < n1 and 0 <= z0 and z0 + 1 < n2:
                            # all 8 neighbours inside: no bounds tests
                            s0 = 1.0 - t0
                            s1 = 1.0 - t1
                            s2 = 1.0 - t2
                            w000 = s0 * s1 * s2
                            w001 = s0 * s1 * t2
                            w010 = s0 * t1 * s2
                            w011 = s0 * t1 * t2
                            w100 = t0 * s1 * s2
                            w101 = t0 * s1 * t2
                            w110 = t0 * t1 * s2
                            w111 = t0 * t1 * t2
                            for c in range(3):
                                v = (w000 * u[x0, y0, z0, c] + w001 * u[x0, y0, z0 + 1, c]
                                     + w010 * u[x0, y0 + 1, z0, c] + w011 * u[x0, y0 + 1, z0 + 1, c]
                                     + w100 * u[x0 + 1, y0, z0, c] + w101 * u[x0 + 1, y0, z0 + 1, c]
                                     + w110 * u[x0 + 1, y0 + 1, z0, c] + w111 * u[x0 + 1, y0 + 1, z0 + 1, c])
                                nxt[i, j, k, c] = u[i, j, k, c] + v
                            continue
                        for dx in range(2):
                            xi = x0 + dx
                            if xi < 0 or xi >= n0:
                                continue
                            wx = t0 if dx == 1 else 1.0 - t0
                            for dy in range(2):
                                yi = y0 + dy
                                if yi < 0 or yi >= n1:
                                    continue
                                wxy = wx * (t1 if dy == 1 else 1.0 - t1)
                                for dz in range(2):
                                    zi = z0 + dz
                                    if zi < 0 or zi >= n2:
                                        continue
                                    w = wxy * (t2 if dz == 1 else 1.0 - t2)
                                    a0 += w * u[xi, yi, zi, 0]
                                    a1 += w * u[xi, yi, zi, 1]
                                    a2 += w * u[xi, yi, zi, 2]
                    nxt[i, j, k, 0] = u[i, j, k, 0] + a0
                    nxt[i, j, k, 1] = u[i, j, k, 1] + a1
                    nxt[i, j, k, 2] = u[i, j, k, 2] + a2
        u, nxt = nxt, u
    return u


@njit(parallel=True, cache=True)
def inverse_step(u, inv, out, rmax, rsum):  # pragma: no cover - compiled
    """One fixed-point step of the inversion of ``u (3, X, Y, Z)``: ``out = -u(x + inv(x))`` (trilinear, edges
    replicated), and per first-axis slab the largest and the summed norm of the residual ``inv + u(x + inv(x))``
    (``rmax``, ``rsum``: float64 arrays of length X)."""
    _, n0, n1, n2 = u.shape
    for i in prange(n0):
        mx = 0.0
        sm = 0.0
        for j in range(n1):
            for k in range(n2):
                p0 = min(max(i + inv[0, i, j, k], 0.0), n0 - 1.0)
                p1 = min(max(j + inv[1, i, j, k], 0.0), n1 - 1.0)
                p2 = min(max(k + inv[2, i, j, k], 0.0), n2 - 1.0)
                if not (math.isfinite(p0) and math.isfinite(p1) and math.isfinite(p2)):
                    for ci in range(3):
                        out[ci, i, j, k] = math.nan
                    mx = math.inf
                    continue
                x0, x1, t0 = cell(p0, n0)
                y0, y1, t1 = cell(p1, n1)
                z0, z1, t2 = cell(p2, n2)
                r2 = 0.0
                for ci in range(3):
                    v = lerp3(u, ci, x0, y0, z0, x1, y1, z1, t0, t1, t2)
                    out[ci, i, j, k] = -v
                    d = inv[ci, i, j, k] + v
                    r2 += d * d
                r = math.sqrt(r2)
                sm += r
                if r > mx:
                    mx = r
        rmax[i] = mx
        rsum[i] = sm
    return out
