"""The separable n-D engine: per-axis operators chained over 1-3 spatial axes, with exact autograd.

Layout: analysis (``split``) takes ``(N, 1, *spatial)`` to ``(N, G, *coarse)`` with ``G`` bands in
PyWavelets' key order (first axis most significant, ``'a'`` before ``'d'``); synthesis (``merge``)
does the reverse. Each step writes straight into one preallocated buffer, so a 3D forward needs
at most two buffers the size of its output.
"""

from __future__ import annotations

from typing import Sequence

import torch

from medwave.wavelets.operators import AxisOp, apply_axis_op

__all__ = ["split_nd", "merge_nd", "Split", "Merge"]


def split_nd(x: torch.Tensor, ops: Sequence[AxisOp]) -> torch.Tensor:
    """Apply split-type ops (1 band in, k bands out) along spatial axes ``0..d-1``.

    Args:
        x: ``(N, G0, *spatial)`` with ``len(ops)`` spatial axes.
        ops: One operator per spatial axis.

    Returns:
        ``(N, G0 * prod(k), *coarse)``.
    """
    cur = x
    for k, op in enumerate(ops):
        dim = 2 + k
        nb = len(op.blocks)
        shape = list(cur.shape)
        shape[dim] = op.n_out
        buf = cur.new_empty(shape[:2] + [nb] + shape[2:])
        # buf is (N, G, nb, ...): band axis after the group axis keeps PyWavelets' key order.
        outs = [buf.select(2, b) for b in range(nb)]
        apply_axis_op(op, [cur], outs, dim)
        cur = buf.flatten(1, 2)
    return cur


def merge_nd(c: torch.Tensor, ops: Sequence[AxisOp]) -> torch.Tensor:
    """Apply merge-type ops (k bands in, 1 band out), last spatial axis first.

    Args:
        c: ``(N, G, *coarse)`` with ``G`` divisible by the product of the in-band counts.
        ops: One operator per spatial axis.

    Returns:
        ``(N, G / prod(k), *fine)``.
    """
    cur = c
    for k in reversed(range(len(ops))):
        op = ops[k]
        dim = 2 + k
        nb = len(op.blocks[0])
        v = cur.unflatten(1, (cur.shape[1] // nb, nb))
        ins = [v.select(2, b) for b in range(nb)]
        shape = list(ins[0].shape)
        shape[dim] = op.n_out
        out = cur.new_empty(shape)
        apply_axis_op(op, ins, [out], dim)
        cur = out
    return cur


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
