"""Fused 3D Haar butterfly: one compiled pass from each ``2 x 2 x 2`` input block to its 8 coefficients.

Where every per-axis operator is the Haar butterfly (see :mod:`medwave.wavelets.butterfly`), a 3D analysis
reads each input sample once and writes each coefficient once: the input is read four lines at a time
(the two rows of the two planes of a block row) and the eight band lines of the output are written in the
same loop. Synthesis (and both adjoints) is the same butterfly run backwards. The pass is as close to a
memory copy as the transform can be, which is what issue #2 asks of the Haar forward.

Runs under the same switch as :mod:`medwave.wavelets.fused` (CPU, float32/float64, numba installed); the kernels
are ``split3``/``merge3`` in :mod:`medwave.wavelets.kernels_numba`.
"""

from __future__ import annotations

import torch

from medwave.utils.compiled import parallel_call
from medwave.wavelets.fused import kernels

__all__ = ["butterfly_split3_fused", "butterfly_merge3_fused"]


def butterfly_split3_fused(x: torch.Tensor, scale: float) -> torch.Tensor:
    """:func:`~medwave.wavelets.butterfly.butterfly_split` for 3 even axes: ``(N, G, *spatial)`` to ``(N, 8G, ...)``."""
    n, g = x.shape[:2]
    spatial = list(x.shape[2:])
    coarse = [v // 2 for v in spatial]
    xm = x.detach().reshape([n * g] + spatial).contiguous()
    out = torch.empty([n * g, 8] + coarse, dtype=x.dtype)
    xn = xm.numpy()
    parallel_call(kernels().split3, xn, out.numpy(), xn.dtype.type(scale))  # scale in the data's precision
    return out.view([n, g * 8] + coarse)


def butterfly_merge3_fused(c: torch.Tensor, scale: float) -> torch.Tensor:
    """:func:`~medwave.wavelets.butterfly.butterfly_merge` for 3 axes: ``(N, 8G, *coarse)`` to ``(N, G, *2 coarse)``."""
    n, gb = c.shape[:2]
    g = gb // 8
    coarse = list(c.shape[2:])
    fine = [2 * v for v in coarse]
    cm = c.detach().reshape([n * g, 8] + coarse).contiguous()
    out = torch.empty([n * g] + fine, dtype=c.dtype)
    cn = cm.numpy()
    parallel_call(kernels().merge3, cn, out.numpy(), cn.dtype.type(scale))
    return out.view([n, g] + fine)
