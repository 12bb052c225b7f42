"""Circular (periodic, undecimated) per-axis filter banks over 1-3 axes, with exact autograd.

The stationary wavelet transform (:mod:`medwave.wavelets.stationary`) is, along each axis and at each level,
a pair of circular convolutions (no downsampling), and its inverse is again a pair of circular convolutions
(PyWavelets' average over the even and odd sub-grids is shift-invariant). A :class:`CircOp` holds the taps
of one axis; :func:`circ_split` applies ``d`` of them to ``(N, 1, *spatial)`` and returns the ``2**d`` bands in
PyWavelets' key order, :func:`circ_merge` does the reverse. The taps are read off PyWavelets' own transforms of
a unit impulse, so every wavelet, level and normalisation is PyWavelets' by construction.

Two engines: ``torch.roll`` sums (any device and dtype, the reference) and numba kernels
(:mod:`medwave.wavelets.kernels_circular`) for CPU float32/float64 tensors, which run each axis in place in the
output buffer (no full-size temporaries in a forward) on ``torch.get_num_threads()`` threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from medwave.utils.compiled import compiled_accepts, load_kernels, parallel_call
from medwave.utils.memory import pooled_empty

__all__ = ["CircOp", "circ_split", "circ_merge", "CircSplit", "CircMerge", "taps_from_column", "kernels"]

#: Smallest input (elements) sent to the numba kernels; below it the torch path is faster.
MIN_ELEMENTS = 1 << 14


@dataclass(frozen=True, eq=False)
class CircOp:
    """Two circular tap lists along an axis of length ``n``: ``y_b[i] = sum_k w_b[k] * x[(i + o_b[k]) mod n]``.

    As a split, band ``b`` is ``taps_b(x)``; as a merge, the output is ``taps_0(a) + taps_1(d)``.

    Attributes:
        n: Axis length.
        offs: Signed offsets of band 0 and band 1 (int64 arrays).
        ws: Their float64 weights.
    """

    n: int
    offs: tuple[np.ndarray, np.ndarray]
    ws: tuple[np.ndarray, np.ndarray]

    @property
    def T(self) -> "CircOp":  # noqa: N802 - mathematical name
        """The adjoint taps (offsets negated): the adjoint of a split with these taps is a merge with ``T``."""
        t = self.__dict__.get("_T")
        if t is None:
            t = CircOp(self.n, tuple(-o for o in self.offs), self.ws)  # type: ignore[arg-type]
            object.__setattr__(self, "_T", t)
        return t

    def scaled(self, s: float) -> "CircOp":
        """The same taps times ``s``."""
        return CircOp(self.n, self.offs, tuple(w * s for w in self.ws))  # type: ignore[arg-type]

    def tables(self, dtype: np.dtype) -> tuple:
        """Kernel arguments: offsets in ``[0, n)``, weights in ``dtype``, signed offsets, for both bands."""
        cache = self.__dict__.setdefault("_tables", {})
        key = np.dtype(dtype).str
        if key not in cache:
            out = []
            for o, w in zip(self.offs, self.ws):
                out.append((np.mod(o, self.n).astype(np.int64), np.asarray(w, dtype), np.asarray(o, np.int64)))
            cache[key] = tuple(out)
        return cache[key]


def taps_from_column(col: np.ndarray, tol: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Taps of the circulant matrix whose first column is ``col``: ``y[i] = sum_k col[k] x[i - k]``.

    Returns:
        Signed offsets (in ``(-n/2, n/2]``) and weights.
    """
    n = col.shape[0]
    k = np.flatnonzero(np.abs(col) > tol)
    if k.size == 0:
        k = np.zeros(1, np.int64)
    offs = np.mod(-k, n)
    offs = np.where(offs > n // 2, offs - n, offs).astype(np.int64)
    return offs, np.asarray(col[k], np.float64)


def kernels():
    """The compiled kernels (:mod:`medwave.wavelets.kernels_circular`), imported on first use."""
    return load_kernels("medwave.wavelets.kernels_circular")


def _use_kernels(x: torch.Tensor) -> bool:
    return compiled_accepts(x) and x.numel() >= MIN_ELEMENTS


def _roll_taps(x: torch.Tensor, offs: np.ndarray, ws: np.ndarray, dim: int) -> torch.Tensor:
    y = None
    for o, w in zip(offs.tolist(), ws.tolist()):
        t = torch.roll(x, shifts=-int(o), dims=dim) * w if o else x * w
        y = t if y is None else y + t
    return y


def _pnq(t: np.ndarray, axis: int) -> np.ndarray:
    """View a contiguous band ``(*spatial)`` as ``(P, N, Q)`` around ``axis``."""
    s = t.shape
    return t.reshape(math.prod(s[:axis]), s[axis], math.prod(s[axis + 1 :]))


def _fused_args(tabs: list) -> tuple:
    """Arguments of the fused 3D kernels: wrapped offsets and weights of axes 0 and 1, signed ones of axis 2."""
    (o0a, w0a, _), (o0d, w0d, _) = tabs[0]
    (o1a, w1a, _), (o1d, w1d, _) = tabs[1]
    (_, w2a, s2a), (_, w2d, s2d) = tabs[2]
    return o0a, w0a, o0d, w0d, o1a, w1a, o1d, w1d, s2a, w2a, s2d, w2d


def circ_split(x: torch.Tensor, ops: Sequence[CircOp]) -> torch.Tensor:
    """Apply split taps along spatial axes ``0..d-1`` of ``(N, 1, *spatial)``.

    Returns:
        ``(N, 2**d, *spatial)``, band ``i`` being ``subband_keys(d)[i]`` (first axis most significant).
    """
    d = len(ops)
    n = x.shape[0]
    spatial = tuple(x.shape[2:])
    if _use_kernels(x):
        xc = x.detach().contiguous()
        out = pooled_empty((n, 2**d) + spatial, x.dtype)
        xn, on = xc.numpy(), out.numpy()
        k = kernels()
        if d == 3:
            tabs = [op.tables(on.dtype) for op in ops]
            for s in range(n):
                parallel_call(k.split3, xn[s, 0], on[s], *_fused_args(tabs))
            return out
        for s in range(n):
            for i, op in enumerate(ops):
                (olo, wlo, slo), (ohi, whi, shi) = op.tables(on.dtype)
                step = 2 ** (d - 1 - i)
                for b in range(0, 2**d, 2 * step):
                    src = _pnq(xn[s, 0] if i == 0 else on[s, b], i)
                    parallel_call(k.split, src, _pnq(on[s, b], i), _pnq(on[s, b + step], i), olo, wlo, ohi, whi,
                                  slo, shi)
        return out
    cur = x  # (N, G, *spatial)
    for i, op in enumerate(ops):
        dim = 2 + i
        lo = _roll_taps(cur, op.offs[0], op.ws[0], dim)
        hi = _roll_taps(cur, op.offs[1], op.ws[1], dim)
        cur = torch.stack([lo, hi], dim=2).flatten(1, 2)
    return cur


def circ_merge(c: torch.Tensor, ops: Sequence[CircOp]) -> torch.Tensor:
    """Apply merge taps along spatial axes of ``(N, 2**d, *spatial)``; returns ``(N, 1, *spatial)``."""
    d = len(ops)
    n = c.shape[0]
    spatial = tuple(c.shape[2:])
    if _use_kernels(c):
        cn = c.detach().contiguous().numpy()
        out = pooled_empty((n, 1) + spatial, c.dtype)
        on = out.numpy()
        k = kernels()
        if d == 3:
            tabs = [op.tables(cn.dtype) for op in ops]
            for s in range(n):
                parallel_call(k.merge3, cn[s], on[s, 0], *_fused_args(tabs))
            return out
        work = np.empty((2 ** (d - 1),) + spatial, dtype=cn.dtype) if d > 1 else None
        for s in range(n):
            src = cn[s]
            for i in reversed(range(d)):
                (oa, wa, sa), (od, wd, sd) = ops[i].tables(cn.dtype)
                for m in range(2**i):
                    dst = on[s, 0] if i == 0 else work[m]
                    parallel_call(k.merge, _pnq(src[2 * m], i), _pnq(src[2 * m + 1], i), _pnq(dst, i), oa, wa, od, wd,
                                  sa, sd)
                src = work
        return out
    cur = c
    for i in reversed(range(d)):
        dim = 2 + i
        v = cur.unflatten(1, (cur.shape[1] // 2, 2))
        a, dd = v.select(2, 0), v.select(2, 1)
        cur = _roll_taps(a, ops[i].offs[0], ops[i].ws[0], dim) + _roll_taps(dd, ops[i].offs[1], ops[i].ws[1], dim)
    return cur


class CircSplit(torch.autograd.Function):
    """Autograd wrapper of :func:`circ_split`; its gradient is the exact adjoint (a merge with ``op.T``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, ops: tuple) -> torch.Tensor:  # type: ignore[override]
        ctx.ops = ops
        return circ_split(x, ops)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return CircMerge.apply(grad, tuple(op.T for op in ctx.ops)), None


class CircMerge(torch.autograd.Function):
    """Autograd wrapper of :func:`circ_merge`; its gradient is the exact adjoint (a split with ``op.T``)."""

    @staticmethod
    def forward(ctx, c: torch.Tensor, ops: tuple) -> torch.Tensor:  # type: ignore[override]
        ctx.ops = ops
        return circ_merge(c, ops)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return CircSplit.apply(grad, tuple(op.T for op in ctx.ops)), None

