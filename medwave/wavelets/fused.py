"""Fused 3D path: one compiled (numba) kernel applies the three per-axis operators of a 3D transform.

The torch engine (:mod:`medwave.wavelets.engine`) runs each per-axis operator as a few dozen strided
ATen ops per chunk of the volume; a db2 forward + inverse + backward on a 160x192x224 volume is about
10,000 ops. Here the volume is cut into slabs of output rows along the first spatial axis and each slab
runs through all three axes inside one parallel kernel while it is in cache:

* first and second axis: every output row (a plane, then a line) is a short sum of input rows times
  the operator's weights, read from the exact operator matrix (CSR), so every mode and edge is exact;
* last axis (contiguous): the even and odd samples of every line are split once, then each interior
  tap is one long contiguous multiply-add over all lines of the slab at once; the few boundary rows
  are then written from the operator matrix.

Results equal the torch engine's up to float rounding (the same products, summed in a different order);
the tests check both against PyWavelets. Used for CPU float32/float64 3D transforms when numba is
installed and the compiled kernels are on (:mod:`medwave.utils.compiled`: ``MEDWAVE_FUSED=0`` or
``set_compiled(False)`` turns them off). The kernels (:mod:`medwave.wavelets.kernels_numba`) are imported and
compiled on first use and cached on disk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from medwave.utils.compiled import compiled_accepts, load_kernels, parallel_call
from medwave.wavelets.operators import AxisOp

__all__ = ["fused_applicable", "split3d_fused", "merge3d_fused", "kernels"]

#: Elements of a slab's first intermediate: small enough to stay in a core's L2 cache.
SLAB_ELEMENTS = 1 << 17
#: Smallest input (elements) sent to the fused kernels. Below it, launching the kernel's threads costs more
#: than the torch engine's ops (measured on 2 cores: the general kernel wins from ~5e4 elements, the Haar
#: butterfly, whose torch path is a handful of ops, from ~3e5).
MIN_ELEMENTS = 1 << 15
MIN_ELEMENTS_HAAR = 1 << 18


def fused_applicable(x: torch.Tensor, ops: Sequence[AxisOp], haar: bool = False) -> bool:
    """Whether a fused kernel should run ``ops`` on ``x``: 3 axes, CPU, float32/float64, large enough, enabled.

    Args:
        x: The input of the transform.
        ops: Its per-axis operators.
        haar: Whether the operators are Haar butterflies (their kernel has its own size threshold).
    """
    return len(ops) == 3 and compiled_accepts(x) and x.numel() >= max(1, MIN_ELEMENTS_HAAR if haar else MIN_ELEMENTS)


# --------------------------------------------------------------------------------------------------
# operator tables


@dataclass(frozen=True)
class _Csr:
    """Rows ``o * n_out + n`` of an operator: ``sum_k val[k] * input[band[k]][col[k]]``."""

    ptr: np.ndarray
    band: np.ndarray
    col: np.ndarray
    val: np.ndarray


@dataclass(frozen=True)
class _Inner:
    """Interior of each output band along the last axis: rows ``P*m + p``, ``lo[o] <= m < hi[o]``.

    Row ``P*m + p`` of band ``o`` is ``sum_e w[e] * input[band[e]][S*m + k[e]]`` for the entries
    ``e`` in ``ptr[o*P + p] : ptr[o*P + p + 1]``.
    """

    P: int
    S: int
    lo: np.ndarray
    hi: np.ndarray
    ptr: np.ndarray
    band: np.ndarray
    k: np.ndarray
    w: np.ndarray


def _csr(op: AxisOp, dtype: np.dtype) -> _Csr:
    cache = op.__dict__.setdefault("_fused", {})
    key = ("csr", np.dtype(dtype).str)
    if key not in cache:
        ptr, band, col, val = [0], [], [], []
        for row in op.blocks:
            mats = [(i, b.matrix) for i, b in enumerate(row) if b is not None]
            for n in range(op.n_out):
                for i, m in mats:
                    nz = np.flatnonzero(m[n])
                    band.extend([i] * nz.size)
                    col.extend(nz.tolist())
                    val.extend(m[n, nz].tolist())
                ptr.append(len(col))
        cache[key] = _Csr(
            np.asarray(ptr, np.int64), np.asarray(band, np.int64), np.asarray(col, np.int64), np.asarray(val, dtype)
        )
    return cache[key]


def _inner(op: AxisOp, dtype: np.dtype) -> _Inner:
    cache = op.__dict__.setdefault("_fused", {})
    key = ("inner", np.dtype(dtype).str)
    if key not in cache:
        blks = [b for row in op.blocks for b in row if b is not None]
        P, S = (blks[0].P, blks[0].S) if blks else (1, 2)
        lo, hi, ptr, band, k, w = [], [], [0], [], [], []
        for row in op.blocks:
            used = [(i, b) for i, b in enumerate(row) if b is not None]
            interior = used and all(not b.dense and b.P == P and b.S == S for _, b in used)
            a = max(b.m0 for _, b in used) if interior else 0
            z = min(b.m1 for _, b in used) if interior else 0
            if S == 1:
                z = min(z, op.n_in)  # interior phase sums are laid out with the input's pitch
            if z <= a:
                a = z = 0
            lo.append(a)
            hi.append(z)
            for p in range(P):
                if z > a:
                    for i, b in used:
                        for t, tap in enumerate(b.taps[p]):
                            if tap != 0.0:
                                band.append(i)
                                k.append(b.offs[p] + t)
                                w.append(tap)
                ptr.append(len(w))
        cache[key] = _Inner(
            int(P),
            int(S),
            np.asarray(lo, np.int64),
            np.asarray(hi, np.int64),
            np.asarray(ptr, np.int64),
            np.asarray(band, np.int64),
            np.asarray(k, np.int64),
            np.asarray(w, dtype),
        )
    return cache[key]


# --------------------------------------------------------------------------------------------------
# kernels (compiled on first use, cached on disk)


def _run(x7: torch.Tensor, out7: torch.Tensor, ops: Sequence[AxisOp]) -> None:
    xn = x7.detach().numpy()
    c0, c1, c2 = (_csr(op, xn.dtype) for op in ops)
    inner = _inner(ops[2], xn.dtype)
    per_row = out7.shape[1] * x7.shape[2] * x7.shape[3] * x7.shape[5] * x7.shape[6]
    rows = max(1, min(out7.shape[4], SLAB_ELEMENTS // max(1, per_row)))
    on = out7.detach().numpy().reshape(out7.shape[:4] + (-1,))
    dims_out = np.asarray(out7.shape[4:], np.int64)
    parallel_call(
        kernels().apply3, xn, on, dims_out, rows, c0.ptr, c0.band, c0.col, c0.val, c1.ptr, c1.band, c1.col, c1.val,
        inner.P, inner.S, inner.lo, inner.hi, inner.ptr, inner.band, inner.k, inner.w, c2.ptr, c2.band, c2.col,
        c2.val,
    )


def kernels():
    """The compiled kernels (:mod:`medwave.wavelets.kernels_numba`), imported on first use."""
    return load_kernels("medwave.wavelets.kernels_numba")


def split3d_fused(x: torch.Tensor, ops: Sequence[AxisOp]) -> torch.Tensor:
    """:func:`~medwave.wavelets.engine.split_nd` for 3 axes: ``(N, G0, X, Y, Z)`` to ``(N, G0 * prod(k), ...)``."""
    n, g0 = x.shape[:2]
    nbs = [len(op.blocks) for op in ops]
    coarse = [op.n_out for op in ops]
    x7 = x.detach().reshape([n * g0, 1, 1, 1] + list(x.shape[2:])).contiguous()
    out = torch.empty([n * g0] + nbs + coarse, dtype=x.dtype)
    _run(x7, out, ops)
    return out.view([n, g0 * math.prod(nbs)] + coarse)


def merge3d_fused(c: torch.Tensor, ops: Sequence[AxisOp]) -> torch.Tensor:
    """:func:`~medwave.wavelets.engine.merge_nd` for 3 axes: ``(N, G, *coarse)`` to ``(N, G / prod(k), *fine)``."""
    n, g = c.shape[:2]
    nbs = [len(op.blocks[0]) for op in ops]
    g_out = g // math.prod(nbs)
    fine = [op.n_out for op in ops]
    c7 = c.detach().reshape([n * g_out] + nbs + list(c.shape[2:])).contiguous()
    out = torch.empty([n * g_out, 1, 1, 1] + fine, dtype=c.dtype)
    _run(c7, out, ops)
    return out.view([n, g_out] + fine)

