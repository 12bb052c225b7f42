"""The separable n-D engine: per-axis operators chained over 1-3 spatial axes, with exact autograd.

3D transforms on the CPU run in one compiled kernel when numba is installed (:mod:`medwave.wavelets.fused`,
:mod:`medwave.wavelets.fused_haar`); this engine is the reference they are tested against, and the path for
1D/2D, other devices and dtypes.

Layout: analysis (``split``) takes ``(N, 1, *spatial)`` to ``(N, G, *coarse)`` with ``G`` bands in
PyWavelets' key order (first axis most significant, ``'a'`` before ``'d'``); synthesis (``merge``)
does the reverse. Each step writes straight into one preallocated buffer, so a 3D forward needs
at most two buffers the size of its output.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from medwave.wavelets.butterfly import butterfly_merge, butterfly_split, merge_kind_scale, split_kind_scale
from medwave.wavelets.fused import fused_applicable, merge3d_fused, split3d_fused
from medwave.wavelets.fused_haar import butterfly_merge3_fused, butterfly_split3_fused
from medwave.wavelets.operators import AxisOp, apply_axis_op

__all__ = ["split_nd", "merge_nd", "Split", "Merge"]


#: Target size (elements) of the per-chunk temporaries: small enough to stay in cache.
CHUNK_ELEMENTS = 1 << 19


def _chunk_rows(total_rows: int, elements_per_row: int) -> int:
    return max(1, min(total_rows, CHUNK_ELEMENTS // max(1, elements_per_row)))


def _split_steps(cur: torch.Tensor, ops: Sequence[AxisOp], first_axis: int, out: torch.Tensor) -> None:
    """Apply ``ops`` to spatial axes ``first_axis, first_axis+1, ...`` of ``cur``; the last step writes ``out``.

    ``out`` is ``(N, G_before_last, nb_last, *spatial_out)``.
    """
    for j, op in enumerate(ops):
        dim = 2 + first_axis + j
        nb = len(op.blocks)
        if j == len(ops) - 1:
            buf = out
        else:
            shape = list(cur.shape)
            shape[dim] = op.n_out
            buf = cur.new_empty(shape[:2] + [nb] + shape[2:])
        apply_axis_op(op, [cur], [buf.select(2, b) for b in range(nb)], dim)
        cur = buf.flatten(1, 2)


def split_nd(x: torch.Tensor, ops: Sequence[AxisOp]) -> torch.Tensor:
    """Apply split-type ops (1 band in, k bands out) along spatial axes ``0..d-1``.

    The first axis is processed in chunks of output rows; each chunk runs through all the other
    axes while it is in cache and lands in the single output buffer, so the only full-size
    allocation is the output.

    Args:
        x: ``(N, G0, *spatial)`` with ``len(ops)`` spatial axes.
        ops: One operator per spatial axis.

    Returns:
        ``(N, G0 * prod(k), *coarse)``.
    """
    scale = split_kind_scale(ops)
    if scale is not None:
        if fused_applicable(x, ops, haar=True):
            return butterfly_split3_fused(x, scale)
        return butterfly_split(x, scale)
    if fused_applicable(x, ops):
        return split3d_fused(x, ops)
    n, g0 = x.shape[:2]
    nbs = [len(op.blocks) for op in ops]
    coarse = [op.n_out for op in ops]
    g_before_last = g0 * math.prod(nbs[:-1])
    out = x.new_empty([n, g_before_last, nbs[-1]] + coarse)
    if len(ops) == 1:
        apply_axis_op(ops[0], [x], [out.select(2, b) for b in range(nbs[0])], 2)
        return out.flatten(1, 2)
    op0 = ops[0]
    rest_in = math.prod(x.shape[3:])
    rows = _chunk_rows(op0.n_out, n * g0 * nbs[0] * rest_in)
    out_v = out.view([n, g0, nbs[0], g_before_last // (g0 * nbs[0]), nbs[-1]] + coarse)
    for r0 in range(0, op0.n_out, rows):
        r1 = min(op0.n_out, r0 + rows)
        tmp = x.new_empty([n, g0, nbs[0], r1 - r0] + list(x.shape[3:]))
        apply_axis_op(op0, [x], [tmp.select(2, b) for b in range(nbs[0])], 2, rows=(r0, r1))
        # out rows of this chunk, as (N, G0*nb0*..., nb_last, r1-r0, ...)
        dst = out_v.narrow(5, r0, r1 - r0).flatten(1, 3)
        _split_steps(tmp.flatten(1, 2), ops[1:], 1, dst)
    return out.flatten(1, 2)


def merge_nd(c: torch.Tensor, ops: Sequence[AxisOp]) -> torch.Tensor:
    """Apply merge-type ops (k bands in, 1 band out) along spatial axes ``0..d-1``.

    The volume runs chunk by chunk of the first axis' output rows: each chunk is merged along the
    first axis (most significant band bit), then along the others, straight into the output buffer.

    Args:
        c: ``(N, G, *coarse)`` with ``G`` divisible by the product of the in-band counts.
        ops: One operator per spatial axis.

    Returns:
        ``(N, G / prod(k), *fine)``.
    """
    scale = merge_kind_scale(ops)
    if scale is not None:
        if fused_applicable(c, ops, haar=True):
            return butterfly_merge3_fused(c, scale)
        return butterfly_merge(c, scale, len(ops))
    if fused_applicable(c, ops):
        return merge3d_fused(c, ops)
    n, g = c.shape[:2]
    nbs = [len(op.blocks[0]) for op in ops]
    g_out = g // math.prod(nbs)
    fine = [op.n_out for op in ops]
    # axis 0: bands (G_out, nb0, rest) -> (G_out, rest)
    op0 = ops[0]
    rest = g // (g_out * nbs[0])
    v = c.unflatten(1, (g_out, nbs[0], rest))
    ins = [v.select(2, b) for b in range(nbs[0])]  # (N, G_out, rest, L0, ...)
    if len(ops) == 1:
        tmp = c.new_empty([n, g_out, rest, op0.n_out] + list(c.shape[3:]))
        apply_axis_op(op0, ins, [tmp], 3)
        return tmp.flatten(1, 2)
    out = c.new_empty([n, g_out] + fine)
    rows = _chunk_rows(op0.n_out, n * g * math.prod(c.shape[3:]) // nbs[0])
    for r0 in range(0, op0.n_out, rows):
        r1 = min(op0.n_out, r0 + rows)
        # axis 0 for this chunk's output rows only: the chunk stays in cache through all axes
        tmp = c.new_empty([n, g_out, rest, r1 - r0] + list(c.shape[3:]))
        apply_axis_op(op0, ins, [tmp], 3, rows=(r0, r1))
        cur = tmp.flatten(1, 2)  # (N, G_out*rest, rows, ...)
        for k in reversed(range(1, len(ops))):
            op = ops[k]
            dim = 2 + k
            nb = nbs[k]
            vv = cur.unflatten(1, (cur.shape[1] // nb, nb))
            ins_k = [vv.select(2, b) for b in range(nb)]
            if k == 1:
                dst = out.narrow(2, r0, r1 - r0)
            else:
                shape = list(ins_k[0].shape)
                shape[dim] = op.n_out
                dst = cur.new_empty(shape)
            apply_axis_op(op, ins_k, [dst], dim)
            cur = dst
    return out


class Split(torch.autograd.Function):
    """Autograd wrapper of :func:`split_nd`; the gradient is the exact adjoint (a merge)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, ops: tuple) -> torch.Tensor:  # type: ignore[override]
        ctx.ops = ops
        return split_nd(x, ops)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return Merge.apply(grad, tuple(op.T for op in ctx.ops)), None


class Merge(torch.autograd.Function):
    """Autograd wrapper of :func:`merge_nd`; the gradient is the exact adjoint (a split)."""

    @staticmethod
    def forward(ctx, c: torch.Tensor, ops: tuple) -> torch.Tensor:  # type: ignore[override]
        ctx.ops = ops
        return merge_nd(c, ops)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return Split.apply(grad, tuple(op.T for op in ctx.ops)), None
