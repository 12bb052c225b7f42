"""Inlined numba helpers of the trilinear samplers in the field kernels (:mod:`kernels_lncc`, :mod:`kernels_numba`).

Every sampler with edges replicated does the same three things per voxel: clamp the sampling point to the grid,
find the cell that holds it (its lower and upper neighbour per axis and the fraction along the axis), and
interpolate. Compiled into each caller (``inline="always"``): no call overhead in the voxel loop.

numba's on-disk cache of a caller is keyed on the caller's own file: after editing this one, touch
``kernels_lncc.py`` and ``kernels_numba.py`` (or clear their ``__pycache__``) so that they are compiled again.
"""

from __future__ import annotations

import math

from numba import njit


@njit(inline="always")
def clamp(p, n):  # pragma: no cover - compiled
    """``p`` limited to ``[0, n - 1]`` (a NaN stays NaN)."""
    if p < 0.0:
        return 0.0
    if p > n - 1.0:
        return n - 1.0
    return p


@njit(inline="always")
def cell(p, n):  # pragma: no cover - compiled
    """``(lower, upper, fraction)`` of a coordinate ``p`` already inside ``[0, n - 1]`` on an axis of ``n`` voxels.

    The lower neighbour is at most ``n - 2``, so the last voxel is reached with fraction 1; a one-voxel axis gives
    ``(0, 0, p)``.
    """
    lo = min(int(math.floor(p)), n - 2) if n > 1 else 0
    return lo, min(lo + 1, n - 1), p - lo


@njit(inline="always")
def lerp3(a, c, x0, y0, z0, x1, y1, z1, t0, t1, t2):  # pragma: no cover - compiled
    """Trilinear value of component ``c`` of ``a (C, X, Y, Z)`` in the cell found by :func:`cell` on each axis."""
    c00 = a[c, x0, y0, z0] + t2 * (a[c, x0, y0, z1] - a[c, x0, y0, z0])
    c01 = a[c, x0, y1, z0] + t2 * (a[c, x0, y1, z1] - a[c, x0, y1, z0])
    c10 = a[c, x1, y0, z0] + t2 * (a[c, x1, y0, z1] - a[c, x1, y0, z0])
    c11 = a[c, x1, y1, z0] + t2 * (a[c, x1, y1, z1] - a[c, x1, y1, z0])
    c0 = c00 + t1 * (c01 - c00)
    c1 = c10 + t1 * (c11 - c10)
    return c0 + t0 * (c1 - c0)
