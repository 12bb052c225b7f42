"""Fast path for Haar-type per-axis operators: the 2-point butterfly.

When every per-axis operator of a transform is the Haar butterfly (each output pair ``k`` reads
exactly input samples ``2k, 2k+1``: ``lo = s (x0 + x1)``, ``hi = s (x0 - x1)``), the n-D transform is
sums and differences over the ``2 x ... x 2`` blocks of the input, times one scale. That is the
case for ``haar``/``db1``/``bior1.1``/``rbio1.1`` analysis on even axis lengths in every mode, for
their synthesis on any length (PyWavelets' Haar reconstruction is always ``2 n``), and for the
adjoints of both, so the gradients take the same path. Operators are recognised from their exact
matrices (built from PyWavelets), never from the wavelet's name, so the fast path cannot change a
result: it only applies where the matrix *is* the butterfly.

The work runs chunk by chunk along the first spatial axis, so that the one or two intermediate
buffers of a chunk stay in cache and every stage is one ``add`` and one ``sub`` over strided
views, the last stage writing straight into the output.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch

from medwave.wavelets.operators import AxisOp

__all__ = ["butterfly_scale", "butterfly_split", "butterfly_merge"]

#: Elements of full-resolution data per chunk: intermediates of this size stay in cache.
BUTTERFLY_CHUNK = 1 << 19


def _pair_matrices(n_pairs: int, s: float) -> tuple[np.ndarray, np.ndarray]:
    eye = np.eye(n_pairs)
    return s * np.kron(eye, [[1.0, 1.0]]), s * np.kron(eye, [[1.0, -1.0]])


def butterfly_scale(op: AxisOp) -> Optional[tuple[str, float]]:
    """``("split" | "merge", s)`` when ``op`` is exactly the Haar butterfly with scale ``s``, else ``None``."""
    cache = op.__dict__.setdefault("_butterfly", {})
    if "v" in cache:
        return cache["v"]
    cache["v"] = None
    blocks = op.blocks
    if len(blocks) == 2 and len(blocks[0]) == 1 and blocks[0][0] is not None and blocks[1][0] is not None:
        kind, lo, hi = "split", blocks[0][0].matrix, blocks[1][0].matrix
        n_pairs = op.n_out
        if op.n_in != 2 * n_pairs or lo.shape != (n_pairs, 2 * n_pairs) or hi.shape != lo.shape:
            return None
    elif len(blocks) == 1 and len(blocks[0]) == 2 and blocks[0][0] is not None and blocks[0][1] is not None:
        kind, lo, hi = "merge", blocks[0][0].matrix.T, blocks[0][1].matrix.T
        n_pairs = op.n_in
        if op.n_out != 2 * n_pairs or lo.shape != (n_pairs, 2 * n_pairs) or hi.shape != lo.shape:
            return None
    else:
        return None
    if n_pairs < 1:
        return None
    s = float(lo[0, 0])
    if s == 0.0:
        return None
    ref_lo, ref_hi = _pair_matrices(n_pairs, s)
    if np.array_equal(lo, ref_lo) and np.array_equal(hi, ref_hi):
        cache["v"] = (kind, s)
    return cache["v"]


def _butterfly_kind(ops: Sequence[AxisOp]) -> Optional[tuple[str, float]]:
    kinds = [butterfly_scale(op) for op in ops]
    if any(k is None for k in kinds) or len({k[0] for k in kinds}) != 1:  # type: ignore[index]
        return None
    return kinds[0][0], math.prod(k[1] for k in kinds)  # type: ignore[index]


def split_kind_scale(ops: Sequence[AxisOp]) -> Optional[float]:
    """Total scale when all ``ops`` are split butterflies, else ``None``."""
    k = _butterfly_kind(ops)
    return k[1] if k is not None and k[0] == "split" else None


def merge_kind_scale(ops: Sequence[AxisOp]) -> Optional[float]:
    """Total scale when all ``ops`` are merge butterflies, else ``None``."""
    k = _butterfly_kind(ops)
    return k[1] if k is not None and k[0] == "merge" else None


def _sum_diff(a: torch.Tensor, b: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> None:
    torch.add(a, b, out=lo)
    torch.sub(a, b, out=hi)


def butterfly_split(x: torch.Tensor, scale: float) -> torch.Tensor:
    """n-D Haar analysis of ``x (N, G, *spatial)`` (even lengths) to ``(N, G * 2**d, *spatial / 2)``.

    Bands are in PyWavelets' key order (first axis most significant bit, ``'a'`` = sum first).
    """
    n, g = x.shape[:2]
    spatial = list(x.shape[2:])
    d = len(spatial)
    coarse = [s // 2 for s in spatial]
    xf = x.flatten(0, 1)  # (M, *spatial); a view whenever N, G are mergeable, else one copy
    m = xf.shape[0]
    out = x.new_empty([m] + [2] * d + coarse)
    if d == 1:
        v = xf.unflatten(1, (coarse[0], 2))
        _sum_diff(v[..., 0], v[..., 1], out[:, 0], out[:, 1])
        out.mul_(scale)
        return out.view([n, g * 2] + coarse)
    plane = math.prod(spatial[1:])
    rows = max(1, min(coarse[0], BUTTERFLY_CHUNK // max(1, 2 * m * plane)))
    # intermediate buffers: after axis j (j < d - 1) the chunk is (M, 2 x (j+1), r, *partially coarse)
    bufs = []
    for j in range(d - 1):
        shape = [m] + [2] * (j + 1) + [rows] + coarse[1 : j + 1] + spatial[j + 1 :]
        bufs.append(x.new_empty(shape))
    for r0 in range(0, coarse[0], rows):
        r = min(rows, coarse[0] - r0)
        cur = xf.narrow(1, 2 * r0, 2 * r)  # (M, 2r, *spatial[1:])
        for j in range(d):
            nb = j  # band dims already in cur, after M
            dim = 1 + nb + j  # the spatial dim being split
            v = cur.unflatten(dim, (cur.shape[dim] // 2, 2))
            a, b = v.select(dim + 1, 0), v.select(dim + 1, 1)
            if j == d - 1:
                dst = out.narrow(1 + d, r0, r)
            else:
                dst = bufs[j].narrow(2 + j, 0, r)
            _sum_diff(a, b, dst.select(1 + j, 0), dst.select(1 + j, 1))
            if j == 0:
                dst.mul_(scale)
            cur = dst
    return out.view([n, g * 2**d] + coarse)


def butterfly_merge(c: torch.Tensor, scale: float, d: int) -> torch.Tensor:
    """Inverse of :func:`butterfly_split` (up to ``scale``): ``(N, G * 2**d, *coarse)`` to ``(N, G, *2 coarse)``."""
    n, gb = c.shape[:2]
    g = gb // 2**d
    coarse = list(c.shape[2:])
    fine = [2 * s for s in coarse]
    cf = c.reshape([n * g] + [2] * d + coarse)  # view when possible
    m = cf.shape[0]
    out = c.new_empty([m] + fine)
    if d == 1:
        v = out.unflatten(1, (coarse[0], 2))
        _sum_diff(cf[:, 0], cf[:, 1], v[..., 0], v[..., 1])
        out.mul_(scale)
        return out.view([n, g] + fine)
    plane = math.prod(coarse[1:])
    rows = max(1, min(coarse[0], BUTTERFLY_CHUNK // max(1, 2**d * m * plane)))
    # after merging axis j (d-1 >= j >= 1) the chunk is (M, 2 x j, r, coarse[1:j], fine[j:])
    bufs = {}
    for j in range(d - 1, 0, -1):
        shape = [m] + [2] * j + [rows] + coarse[1:j] + fine[j:]
        bufs[j] = c.new_empty(shape)
    for r0 in range(0, coarse[0], rows):
        r = min(rows, coarse[0] - r0)
        cur = cf.narrow(1 + d, r0, r)  # (M, 2 x d, r, *coarse[1:])
        for j in range(d - 1, -1, -1):
            a, b = cur.select(1 + j, 0), cur.select(1 + j, 1)  # (M, 2 x j, r, ...)
            dim = 1 + j + j  # spatial axis j in a / dst
            if j == 0:
                dst = out.narrow(1, 2 * r0, 2 * r)
            else:
                dst = bufs[j].narrow(1 + j, 0, r)
            v = dst.unflatten(dim, (dst.shape[dim] // 2, 2))
            _sum_diff(a, b, v.select(dim + 1, 0), v.select(dim + 1, 1))
            if j == d - 1:
                dst.mul_(scale)
            cur = dst
    return out.view([n, g] + fine)
