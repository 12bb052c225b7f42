"""Fused 3D Haar butterfly: one compiled pass from each ``2 x 2 x 2`` input block to its 8 coefficients.

Where every per-axis operator is the Haar butterfly (see :mod:`medwave.wavelets.butterfly`), a 3D analysis
reads each input sample once and writes each coefficient once: the input is read four lines at a time
(the two rows of the two planes of a block row) and the eight band lines of the output are written in the
same loop. Synthesis (and both adjoints) is the same butterfly run backwards. The pass is as close to a
memory copy as the transform can be, which is what issue #2 asks of the Haar forward.

Runs under the same switch as :mod:`medwave.wavelets.fused` (CPU, float32/float64, numba installed).
"""

from __future__ import annotations

import numpy as np
import torch

from medwave.wavelets.fused import numba, parallel_call

__all__ = ["butterfly_split3_fused", "butterfly_merge3_fused"]

if numba is not None:
    from numba import njit, prange

    @njit(parallel=True, cache=True)
    def _split3(x, out, s):  # pragma: no cover - compiled
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
    def _merge3(c, out, s):  # pragma: no cover - compiled
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


def _scalar(scale: float, like: torch.Tensor) -> np.floating:
    """``scale`` in the tensor's precision, so float32 data is scaled in float32 (vectorised)."""
    return (np.float32 if like.dtype == torch.float32 else np.float64)(scale)


def butterfly_split3_fused(x: torch.Tensor, scale: float) -> torch.Tensor:
    """:func:`~medwave.wavelets.butterfly.butterfly_split` for 3 even axes: ``(N, G, *spatial)`` to ``(N, 8G, ...)``."""
    n, g = x.shape[:2]
    spatial = list(x.shape[2:])
    coarse = [v // 2 for v in spatial]
    xm = x.detach().reshape([n * g] + spatial).contiguous()
    out = torch.empty([n * g, 8] + coarse, dtype=x.dtype)
    parallel_call(_split3, xm.numpy(), out.numpy(), _scalar(scale, xm))
    return out.view([n, g * 8] + coarse)


def butterfly_merge3_fused(c: torch.Tensor, scale: float) -> torch.Tensor:
    """:func:`~medwave.wavelets.butterfly.butterfly_merge` for 3 axes: ``(N, 8G, *coarse)`` to ``(N, G, *2 coarse)``."""
    n, gb = c.shape[:2]
    g = gb // 8
    coarse = list(c.shape[2:])
    fine = [2 * v for v in coarse]
    cm = c.detach().reshape([n * g, 8] + coarse).contiguous()
    out = torch.empty([n * g] + fine, dtype=c.dtype)
    parallel_call(_merge3, cm.numpy(), out.numpy(), _scalar(scale, cm))
    return out.view([n, g] + fine)
