"""Compile every numba kernel of medwave once (``make install`` runs :func:`warm`).

This sits at the top of the package because it touches kernels of several layers (the wavelet core and
the field integration of the networks' blocks); :mod:`medwave.utils.compiled` only holds the switch and
the loader they share.

Example:
    >>> from medwave.warmup import warm
    >>> seconds = warm()  # doctest: +SKIP
"""

from __future__ import annotations

import time

import torch

from medwave.networks.blocks.fields import integrate_velocity
from medwave.utils.compiled import compiled_enabled
from medwave.wavelets.dtcwt_fused import warm as warm_dtcwt
from medwave.wavelets.filters import get_filter_bank
from medwave.wavelets.fused import merge3d_fused, split3d_fused
from medwave.wavelets.fused_haar import butterfly_merge3_fused, butterfly_split3_fused
from medwave.wavelets.operators import analysis_op, synthesis_op
from medwave.wavelets.stationary import warm as warm_circular

__all__ = ["warm"]


def warm() -> float:
    """Compile every kernel for float32 and float64 (or load it from numba's disk cache); returns seconds.

    ``make install`` runs this once so that the first transform of a session does not pay the compilation
    (about half a minute in all; later processes load the cache in about a second).
    """
    t0 = time.perf_counter()
    if not compiled_enabled():
        return 0.0
    fb = get_filter_bank("db2")
    with torch.no_grad():
        for dtype in (torch.float32, torch.float64):  # the fused wavelet kernels (every bank shares them)
            x = torch.zeros(1, 1, 10, 10, 10, dtype=dtype)
            c = split3d_fused(x, (analysis_op(fb, 10, "symmetric"),) * 3)
            merge3d_fused(c, (synthesis_op(fb, c.shape[-1], "symmetric"),) * 3)
            butterfly_merge3_fused(butterfly_split3_fused(x, 0.5), 0.5)
        warm_circular()  # the stationary transform's kernels
        warm_dtcwt()  # the 3D DTCWT forward's kernel
        for dtype in (torch.float32, torch.float64):
            integrate_velocity(torch.zeros(1, 3, 4, 4, 4, dtype=dtype), steps=1)  # scaling and squaring
    return time.perf_counter() - t0
