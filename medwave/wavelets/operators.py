"""Exact per-axis wavelet operators and a fast engine that applies them to tensors.

Along one axis, a one-level analysis (or synthesis) of a length-``n`` signal is a linear map. We
build its matrix once, in float64, by running PyWavelets on the identity (so boundary handling
is PyWavelets' by construction, for every mode, odd sizes and signals shorter than the filter),
then split it into

* an *interior*: rows that are shifted copies of the same taps (a strided correlation),
  applied with a few fused multiply-adds over strided views, no padding copy; and
* *edges*: the few rows touched by the boundary, applied as small dense matrices.

The adjoint of every operator (for autograd) is stored the same way, so gradients are exact and
as fast as the forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional, Sequence

import numpy as np
import pywt
import torch

from medwave.wavelets.filters import FilterBank
from medwave.wavelets.modes import coeff_len, rec_len

__all__ = ["Block", "AxisOp", "analysis_op", "synthesis_op", "apply_axis_op"]

_MIN_INTERIOR = 8  # below this many interior rows the whole block is applied densely


@dataclass(eq=False)
class Block:
    """One linear map ``y = A x`` along an axis, stored as interior taps + dense edges.

    Output row ``n = P*m + p`` (phase ``p``) of an interior row reads input
    ``x[S*m + off[p] + t]`` for ``t < len(taps[p])``.
    """

    n_out: int
    n_in: int
    matrix: np.ndarray  # float64 (n_out, n_in), the exact operator
    P: int = 1
    S: int = 2
    m0: int = 0
    m1: int = 0
    taps: tuple[tuple[float, ...], ...] = ()
    offs: tuple[int, ...] = ()
    # (row_start, row_stop, col_start, col_stop) of each dense edge region
    edges: tuple[tuple[int, int, int, int], ...] = ()
    dense: bool = True
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def T(self) -> "Block":  # noqa: N802 - mathematical name
        """The adjoint (transpose) block, built and structured once."""
        if "T" not in self._cache:
            Pt, St = (2, 1) if self.S == 2 else (1, 2)
            t = _structure(np.ascontiguousarray(self.matrix.T), Pt, St)
            t._cache["T"] = self
            self._cache["T"] = t
        return self._cache["T"]

    def tensor(self, rows: tuple[int, int], cols: tuple[int, int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Cached torch copy of a sub-matrix."""
        key = (rows, cols, dtype, str(device))
        t = self._cache.get(key)
        if t is None:
            sub = self.matrix[rows[0] : rows[1], cols[0] : cols[1]]
            t = torch.as_tensor(np.ascontiguousarray(sub), dtype=dtype, device=device)
            self._cache[key] = t
        return t


def _structure(A: np.ndarray, P: int, S: int) -> Block:
    """Split matrix ``A`` into strided interior taps and dense edges (verified exactly)."""
    n_out, n_in = A.shape
    blk = Block(n_out=n_out, n_in=n_in, matrix=A, P=P, S=S)
    n_m = n_out // P
    if n_m < _MIN_INTERIOR or not A.any():
        return blk
    m_ref = n_m // 2
    taps, offs = [], []
    for p in range(P):
        row = A[P * m_ref + p]
        nz = np.flatnonzero(row)
        if nz.size == 0:
            return blk
        taps.append(row[nz[0] : nz[-1] + 1].copy())
        offs.append(int(nz[0]) - S * m_ref)
    ok = np.zeros(n_m, dtype=bool)
    for m in range(n_m):
        good = True
        for p in range(P):
            start = S * m + offs[p]
            stop = start + len(taps[p])
            if start < 0 or stop > n_in:
                good = False
                break
            row = A[P * m + p]
            if not (np.array_equal(row[start:stop], taps[p]) and not row[:start].any() and not row[stop:].any()):
                good = False
                break
        ok[m] = good
    if not ok[m_ref]:
        return blk
    m0 = m_ref
    while m0 > 0 and ok[m0 - 1]:
        m0 -= 1
    m1 = m_ref + 1
    while m1 < n_m and ok[m1]:
        m1 += 1
    if m1 - m0 < _MIN_INTERIOR:
        return blk
    edges = []
    for r0, r1 in ((0, P * m0), (P * m1, n_out)):
        if r1 <= r0:
            continue
        cols = np.flatnonzero(A[r0:r1].any(axis=0))
        c0, c1 = (int(cols[0]), int(cols[-1]) + 1) if cols.size else (0, 0)
        edges.append((r0, r1, c0, c1))
    blk.m0, blk.m1 = m0, m1
    blk.taps = tuple(tuple(float(v) for v in t) for t in taps)
    blk.offs = tuple(offs)
    blk.edges = tuple(edges)
    blk.dense = False
    return blk


@dataclass(eq=False)
class AxisOp:
    """A per-axis operator from ``len(blocks[0])`` input bands to ``len(blocks)`` output bands.

    ``blocks[o][i]`` maps input band ``i`` to output band ``o`` (``None`` for a zero block).
    """

    blocks: tuple[tuple[Optional[Block], ...], ...]
    n_in: int
    n_out: int

    @property
    def T(self) -> "AxisOp":  # noqa: N802
        n_o, n_i = len(self.blocks), len(self.blocks[0])
        blocks = tuple(
            tuple(None if self.blocks[o][i] is None else self.blocks[o][i].T for o in range(n_o)) for i in range(n_i)
        )
        return AxisOp(blocks, n_in=self.n_out, n_out=self.n_in)


def _eye_matrices(fb: FilterBank, n: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    w = fb.to_pywt()
    a, d = pywt.dwt(np.eye(n), w, mode=mode, axis=0)
    return np.ascontiguousarray(a), np.ascontiguousarray(d)


@lru_cache(maxsize=4096)
def analysis_op(fb: FilterBank, n: int, mode: str) -> AxisOp:
    """One-level analysis of a length-``n`` axis: 1 band in, 2 bands (lo, hi) out."""
    a, d = _eye_matrices(fb, n, mode)
    return AxisOp(((_structure(a, 1, 2),), (_structure(d, 1, 2),)), n_in=n, n_out=a.shape[0])


@lru_cache(maxsize=4096)
def synthesis_op(fb: FilterBank, n_coeffs: int, mode: str) -> AxisOp:
    """One-level synthesis of ``n_coeffs`` coefficients per band: 2 bands in, 1 band out."""
    w = fb.to_pywt()
    eye = np.eye(n_coeffs)
    zero = np.zeros_like(eye)
    lo = np.ascontiguousarray(pywt.idwt(eye, zero, w, mode=mode, axis=0))
    hi = np.ascontiguousarray(pywt.idwt(zero, eye, w, mode=mode, axis=0))
    assert lo.shape[0] == rec_len(n_coeffs, fb.length, mode)
    return AxisOp(((_structure(lo, 2, 1), _structure(hi, 2, 1)),), n_in=n_coeffs, n_out=lo.shape[0])


def unit_filter_ops(fb_len: int, n: int, mode: str, kind: str) -> np.ndarray:
    """Operator matrices for unit filters, for learnable (differentiable-in-filter) transforms.

    Returns an array ``T`` of shape ``(fb_len, n_out, n_in)`` such that the operator of filter
    ``f`` is ``sum_j f[j] * T[j]``. ``kind`` is ``"analysis"`` or ``"synthesis"``.
    """
    return _unit_filter_ops(fb_len, n, mode, kind).copy()


@lru_cache(maxsize=512)
def _unit_filter_ops(fb_len: int, n: int, mode: str, kind: str) -> np.ndarray:
    out = []
    for j in range(fb_len):
        e = np.zeros(fb_len)
        e[j] = 1.0
        z = np.zeros(fb_len)
        if kind == "analysis":
            w = pywt.Wavelet("unit", filter_bank=(e, z, z, z))
            out.append(pywt.dwt(np.eye(n), w, mode=mode, axis=0)[0])
        else:
            w = pywt.Wavelet("unit", filter_bank=(z, z, e, z))
            eye = np.eye(n)
            out.append(pywt.idwt(eye, np.zeros_like(eye), w, mode=mode, axis=0))
    return np.stack(out)


def _strided(x: torch.Tensor, dim: int, start: int, count: int, step: int) -> torch.Tensor:
    v = x.narrow(dim, start, (count - 1) * step + 1)
    if step != 1:
        idx = [slice(None)] * x.ndim
        idx[dim] = slice(None, None, step)
        v = v[tuple(idx)]
    return v


def _matmul_along(A: torch.Tensor, x: torch.Tensor, dim: int) -> torch.Tensor:
    """``A @ x`` along axis ``dim`` of ``x``."""
    return torch.movedim(torch.matmul(A, torch.movedim(x, dim, -2)), -2, dim)


def _apply_block(
    blk: Block,
    x: torch.Tensor,
    out: torch.Tensor,
    dim: int,
    accumulate: bool,
    rows: Optional[tuple[int, int]] = None,
    phases: Optional[tuple[torch.Tensor, torch.Tensor]] = None,
) -> None:
    """``out (=|+=) (blk @ x)[rows]`` along ``dim``; ``out`` may be a strided view.

    ``rows=(r0, r1)`` computes only output rows ``r0..r1-1`` (``out`` then has ``r1 - r0`` rows);
    ``x`` is always the whole input along ``dim``. ``phases`` are optional contiguous copies of
    ``x``'s even and odd samples along ``dim``: a stride-2 block then reads them with unit
    stride (vectorised) instead of ``x`` with stride 2.
    """
    r0, r1 = rows if rows is not None else (0, blk.n_out)
    if blk.dense:
        cols = (0, blk.n_in)
        y = _matmul_along(blk.tensor((r0, r1), cols, x.dtype, x.device), x, dim)
        if accumulate:
            out.add_(y)
        else:
            out.copy_(y)
        return
    P, S = blk.P, blk.S
    for p in range(P):
        # interior rows n = P*m + p with r0 <= n < r1 and m0 <= m < m1
        m_lo = max(blk.m0, -((p - r0) // P))
        m_hi = min(blk.m1, -((p - r1) // P))
        if m_hi <= m_lo:
            continue
        count = m_hi - m_lo
        o = _strided(out, dim, P * m_lo + p - r0, count, P)
        first = not accumulate
        for t, tap in enumerate(blk.taps[p]):
            if tap == 0.0:
                continue
            if phases is not None and S == 2:
                k = blk.offs[p] + t
                xs = phases[k % 2].narrow(dim, m_lo + k // 2, count)
            else:
                xs = _strided(x, dim, S * m_lo + blk.offs[p] + t, count, S)
            if first:
                torch.mul(xs, tap, out=o)
                first = False
            else:
                o.add_(xs, alpha=tap)
        if first:
            o.zero_()
    for e0, e1, c0, c1 in blk.edges:
        a, b = max(e0, r0), min(e1, r1)
        if b <= a:
            continue
        o = out.narrow(dim, a - r0, b - a)
        if c1 <= c0:
            if not accumulate:
                o.zero_()
            continue
        y = _matmul_along(blk.tensor((a, b), (c0, c1), x.dtype, x.device), x.narrow(dim, c0, c1 - c0), dim)
        if accumulate:
            o.add_(y)
        else:
            o.copy_(y)


#: Along the innermost axis, stride-2 reads/writes are not vectorised: de-interleave (analysis) or
#: re-interleave (synthesis) once when the interior has at least this many rows.
_PHASE_MIN_ROWS = 16


def _deinterleave(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Contiguous copies of the even and odd samples of ``x`` along its last axis ``dim``.

    For float32 rows that can be reinterpreted as 64-bit words (each word one even/odd pair), the
    split is two integer conversions over contiguous memory: exact bit copies, several times faster
    than a stride-2 gather.
    """
    n = x.shape[dim]
    shape = list(x.shape)
    shape[dim] = (n + 1) // 2
    even = x.new_empty(shape)
    shape[dim] = n // 2
    odd = x.new_empty(shape)
    if x.dtype == torch.float32 and n % 2 == 0 and n > 0 and x.stride(dim) == 1:
        try:
            words = x.view(torch.int64)  # needs even strides and offset; little-endian: low half is even
        except RuntimeError:
            words = None
        if words is not None and _LITTLE_ENDIAN:
            even.view(torch.int32).copy_(words)  # int64 -> int32 keeps the low 32 bits
            odd.view(torch.int32).copy_(torch.bitwise_right_shift(words, 32))
            return even, odd
    torch.mul(_strided(x, dim, 0, even.shape[dim], 2), 1.0, out=even)
    if n > 1:
        torch.mul(_strided(x, dim, 1, odd.shape[dim], 2), 1.0, out=odd)
    return even, odd


def _interleave_into(out: torch.Tensor, dim: int, start: int, even: torch.Tensor, odd: torch.Tensor) -> None:
    """``out[start + 2m] = even[m]``, ``out[start + 2m + 1] = odd[m]`` along the last axis ``dim``."""
    count = even.shape[dim]
    region = out.narrow(dim, start, 2 * count)
    if region.stride(dim) == 1:
        try:
            pairs = torch.view_as_complex(region.unflatten(dim, (count, 2)))
        except RuntimeError:
            pairs = None
        if pairs is not None:
            torch.complex(even, odd, out=pairs)  # one contiguous pass writes both phases
            return
    _strided(out, dim, start, count, 2).copy_(even)
    _strided(out, dim, start + 1, count, 2).copy_(odd)


_LITTLE_ENDIAN = __import__("sys").byteorder == "little"


def _dense_rows(
    row: Sequence[Optional[Block]], inputs: Sequence[torch.Tensor], out: torch.Tensor, dim: int, r0: int, r1: int
) -> None:
    """``out[r0:r1] = sum_i row[i][r0:r1] @ inputs[i]`` along ``dim`` (only the non-zero columns)."""
    o = out.narrow(dim, r0, r1 - r0)
    written = False
    for i, blk in enumerate(row):
        if blk is None:
            continue
        cols = np.flatnonzero(blk.matrix[r0:r1].any(axis=0))
        if cols.size == 0:
            continue
        c0, c1 = int(cols[0]), int(cols[-1]) + 1
        y = _matmul_along(blk.tensor((r0, r1), (c0, c1), o.dtype, o.device), inputs[i].narrow(dim, c0, c1 - c0), dim)
        if written:
            o.add_(y)
        else:
            o.copy_(y)
            written = True
    if not written:
        o.zero_()


def _merge_inner(row: Sequence[Optional[Block]], inputs: Sequence[torch.Tensor], out: torch.Tensor, dim: int) -> bool:
    """Synthesis along the innermost axis with contiguous per-phase sums and one strided write per phase.

    Returns ``False`` (nothing written) when the blocks do not share a long enough interior.
    """
    blks = [(i, b) for i, b in enumerate(row) if b is not None]
    if not blks or any(b.dense or b.P != 2 or b.S != 1 for _, b in blks):
        return False
    m_a = max(b.m0 for _, b in blks)
    m_b = min(b.m1 for _, b in blks)
    count = m_b - m_a
    if count < _PHASE_MIN_ROWS:
        return False
    shape = list(out.shape)
    shape[dim] = count
    tmps = [out.new_empty(shape), out.new_empty(shape)]
    for p in range(2):
        tmp = tmps[p]
        first = True
        for i, b in blks:
            for t, tap in enumerate(b.taps[p]):
                if tap == 0.0:
                    continue
                xs = inputs[i].narrow(dim, m_a + b.offs[p] + t, count)
                if first:
                    torch.mul(xs, tap, out=tmp)
                    first = False
                else:
                    tmp.add_(xs, alpha=tap)
        if first:
            tmp.zero_()
    _interleave_into(out, dim, 2 * m_a, tmps[0], tmps[1])
    n_out = out.shape[dim]
    if 2 * m_a > 0:
        _dense_rows(row, inputs, out, dim, 0, 2 * m_a)
    if 2 * m_b < n_out:
        _dense_rows(row, inputs, out, dim, 2 * m_b, n_out)
    return True


def apply_axis_op(
    op: AxisOp,
    inputs: Sequence[torch.Tensor],
    outputs: Sequence[torch.Tensor],
    dim: int,
    rows: Optional[tuple[int, int]] = None,
) -> None:
    """Apply ``op`` along ``dim``: ``outputs[o] = sum_i op.blocks[o][i] @ inputs[i]`` (in place).

    ``rows=(r0, r1)`` restricts the computation to those output rows (``outputs`` hold only them).
    """
    inner = dim == inputs[0].ndim - 1
    phases: list = [None] * len(inputs)
    if inner:
        for i in range(len(inputs)):
            blks = [row[i] for row in op.blocks if row[i] is not None]
            if blks and all(not b.dense and b.S == 2 and b.m1 - b.m0 >= _PHASE_MIN_ROWS for b in blks):
                phases[i] = _deinterleave(inputs[i], dim)
    for o, row in enumerate(op.blocks):
        if inner and rows is None and _merge_inner(row, inputs, outputs[o], dim):
            continue
        written = False
        for i, blk in enumerate(row):
            if blk is None:
                continue
            _apply_block(blk, inputs[i], outputs[o], dim, accumulate=written, rows=rows, phases=phases[i])
            written = True
        if not written:
            outputs[o].zero_()


__all__ += ["unit_filter_ops", "coeff_len"]
