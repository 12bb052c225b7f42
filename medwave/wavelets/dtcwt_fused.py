"""Fused 3D DTCWT forward and inverse: compiled (numba) kernels, no volume-sized temporaries.

The torch path of :func:`medwave.wavelets.dtcwt_forward` (the differentiable one) runs each per-axis step on
whole volumes: eight real octant bands of the input's size per level, then their 2x2x2 polyphase rearranged
into complex subbands, about 11x the input in temporaries. Here each pair of output rows of the first axis
runs through the three axes in cache (planes, then lines) and its seven highpass octants go straight into the
complex output ``(..., x/2, y/2, z/2, 28)``:

* first and second axis: every output plane/line is a short sum of input planes/lines, read from the exact
  operator matrix of the step (:func:`medwave.wavelets.dtcwt._matrix`, CSR), so every edge rule is ``dtcwt``'s;
* last axis (contiguous): each line is extended by the step's edge rule (symmetric, with the two-sample
  extension of decimating steps whose length is not a multiple of 4) and split into its phases, then every tap
  is one contiguous multiply-add. The taps and the extension are checked against the step's matrix when the
  tables are built; a step on an axis too short for an interior has no such form and its level runs on the
  torch path.

With two levels and no ``include_scale``, the level-1 lowpass (the size of the input) is never held whole:
the second level runs in chunks of its first axis, each on a buffer of the level-1 lowpass rows it reads
(computed for that chunk, the few overlapping rows twice), so the forward's memory beyond its output is a
fraction of the input. The inverse runs level by level in two stages over chunks of output rows: coefficient rows
(the octants rebuilt from the complex highpasses as ``_c2cube`` does) through the last two axes' synthesis into a
buffer, then the first axis. Used for CPU float32/float64 3D transforms without autograd when the compiled
kernels are on (:mod:`medwave.utils.compiled`); results equal the torch path's to float rounding (tests check
both against the ``dtcwt`` package).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np
import torch

from medwave.utils.compiled import compiled_accepts, load_kernels, parallel_call
from medwave.utils.memory import empty_large
from medwave.wavelets.dtcwt_matrices import _matrix, _sym_index

__all__ = ["fused_dtcwt_applicable", "forward3_fused", "fused_inverse_applicable", "inverse_level_fused", "kernels",
           "warm", "MIN_ELEMENTS", "CHUNK_FRACTION"]

#: Smallest input (elements) sent to the fused kernel (below it the torch path's few ops cost less).
MIN_ELEMENTS = 1 << 15
#: The level-1 lowpass buffer of a chunked second level holds about this fraction of the input's rows.
CHUNK_FRACTION = 0.25


def kernels():
    """The compiled kernel module (:mod:`medwave.wavelets.kernels_dtcwt`), imported on first use."""
    return load_kernels("medwave.wavelets.kernels_dtcwt")


def fused_dtcwt_applicable(x: torch.Tensor) -> bool:
    """Whether the fused kernel should run the 3D forward of ``x``: CPU float32/64, no autograd, large enough."""
    return (compiled_accepts(x) and not (torch.is_grad_enabled() and x.requires_grad)
            and x.numel() >= max(1, MIN_ELEMENTS))


@dataclass(frozen=True)
class _Axis:
    """One per-axis step with both bands (0: lowpass, 1: highpass).

    As CSR rows ``band * n_out + r`` of its exact matrix (first and second axes), and as taps on the line
    extended by its edge rule (last axis): row ``P*q + p`` of band ``b`` is
    ``sum_t iw[t] * line[emap[S*q + ik[t]]]`` over ``iptr[b*P + p] <= t < iptr[b*P + p + 1]``, for ``q < nq[p]``.
    """

    n_out: int
    ptr: np.ndarray
    col: np.ndarray
    val: np.ndarray
    P: int
    S: int
    nq: np.ndarray
    emap: np.ndarray
    iptr: np.ndarray
    ik: np.ndarray
    iw: np.ndarray

    def args(self) -> tuple:
        return self.ptr, self.col, self.val, self.n_out

    def last_args(self) -> tuple:
        return self.n_out, self.P, self.S, self.nq, self.emap, self.iptr, self.ik, self.iw


def _middle_taps(m: np.ndarray, P: int, S: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """The taps of the middle row of phase ``p`` relative to ``S*q``: columns offsets and weights."""
    nq = (m.shape[0] - p + P - 1) // P
    qm = nq // 2
    cols = np.flatnonzero(m[P * qm + p])
    return cols - S * qm, m[P * qm + p, cols]


def _edge_map(kind: str, n: int, u: np.ndarray) -> np.ndarray:
    """Which sample of a length-``n`` line sits at (possibly outside) position ``u``, by ``dtcwt``'s edge rules."""
    if kind != "dfilter" or n % 4 == 0:
        return _sym_index(u, n)
    padmap = np.r_[0, np.arange(n), n - 1]  # the two-sample extension of a decimating step, then symmetric
    return padmap[_sym_index(u + 1, n + 2)]


@lru_cache(maxsize=256)
def _axis(kind: str, n: int, biort: str, qshift: str, dtype: str) -> Optional[_Axis]:
    """The tables of one step (``None`` when the taps-on-extended-line form does not reproduce its matrix)."""
    if kind == "filter":  # analysis, level 1
        mats = [_matrix("filter", n, biort, qshift, (name,)) for name in ("h0o", "h1o")]
        P, S = 1, 1
    elif kind == "gfilter":  # synthesis, level 1
        mats = [_matrix("filter", n, biort, qshift, (name,)) for name in ("g0o", "g1o")]
        P, S = 1, 1
    elif kind == "dfilter":  # analysis, levels >= 2
        mats = [_matrix("dfilter", n, biort, qshift, names) for names in (("h0b", "h0a"), ("h1b", "h1a"))]
        P, S = 2, 4
    else:  # "ifilter": synthesis, levels >= 2
        mats = [_matrix("ifilter", n, biort, qshift, names) for names in (("g0b", "g0a"), ("g1b", "g1a"))]
        P, S = 4, 2
    n_out = mats[0].shape[0]
    ptr, col, val = [0], [], []
    for m in mats:
        for row in m:
            nz = np.flatnonzero(row)
            col.extend(nz.tolist())
            val.extend(row[nz].tolist())
            ptr.append(len(col))
    nq = np.asarray([(n_out - p + P - 1) // P for p in range(P)], np.int64)
    taps = [[_middle_taps(m, P, S, p) for p in range(P)] for m in mats]
    umin = min(int(k.min()) for bt in taps for k, _ in bt)
    umax = max(S * (int(nq[p]) - 1) + int(k.max()) for bt in taps for p, (k, _) in enumerate(bt))
    length = -(-(umax - umin + 1) // S) * S
    emap = _edge_map(kind, n, np.arange(length) + umin).astype(np.int64)
    iptr, ik, iw = [0], [], []
    for b, m in enumerate(mats):
        rebuilt = np.zeros_like(m)
        for p, (k, w) in enumerate(taps[b]):
            for q in range(int(nq[p])):
                np.add.at(rebuilt[P * q + p], emap[S * q + k - umin], w)
            ik.extend((k - umin).tolist())
            iw.extend(w.tolist())
            iptr.append(len(ik))
        if not np.allclose(rebuilt, m, rtol=0, atol=1e-13):
            return None
    i64 = lambda v: np.asarray(v, np.int64)  # noqa: E731
    return _Axis(n_out, i64(ptr), i64(col), np.asarray(val, dtype), P, S, nq, emap, i64(iptr), i64(ik),
                 np.asarray(iw, dtype))


def _level(x3: np.ndarray, nb: int, xrows: int, xoff: int, shape_in: tuple, axes: tuple, i0: int, i1: int, h0: int,
           h1: int, high: np.ndarray, low: np.ndarray, lrows: int, loff: int) -> None:
    a0, a1, a2 = axes
    parallel_call(kernels().level3, x3, nb, xrows, xoff, shape_in[1], shape_in[2], *a0.args(), *a1.args(),
                  *a2.last_args(), i0, i1, h0, h1, high, low, lrows, loff)


def _cols(a: _Axis, r0: int, r1: int) -> tuple[int, int]:
    """The input rows read by output rows ``r0 <= r < r1`` of both bands of axis ``a``: ``[lo, hi)``."""
    cs = [a.col[a.ptr[b * a.n_out + r0]: a.ptr[b * a.n_out + r1]] for b in (0, 1)]
    c = np.concatenate(cs)
    return int(c.min()), int(c.max()) + 1


def _plan(shape: tuple, nlevels: int, biort: str, qshift: str, dtype: str) -> list:
    """The per-axis tables of the first levels whose steps all have a kernel form (the coarser levels, whose axes
    are too short for the filters to have an interior, run on the torch path)."""
    plan = []
    for level in range(nlevels):
        axes = tuple(_axis("filter" if level == 0 else "dfilter", n, biort, qshift, dtype) for n in shape)
        if any(a is None for a in axes):
            break
        plan.append(axes)
        shape = tuple(a.n_out for a in axes)
    return plan


def forward3_fused(x: torch.Tensor, nlevels: int, biort: str, qshift: str,
                   include_scale: bool) -> Optional[tuple[torch.Tensor, list, list, int]]:
    """The first levels of the 3D forward (``nlevels >= 1``) of ``x (..., X, Y, Z)`` (even sizes).

    Returns the lowpass, highpasses and scales of the levels done and their number: the levels up to the first one
    without a kernel form (axes too short for the filters to have an interior), which the caller runs on the torch
    path; ``None`` when level 1 has none.
    """
    lead = tuple(x.shape[:-3])
    shape = tuple(int(s) for s in x.shape[-3:])
    nb = math.prod(lead)
    dt = np.dtype(str(x.dtype).replace("torch.", ""))
    plan = _plan(shape, nlevels, biort, qshift, dt.str)
    if not plan:
        return None
    cdt = torch.complex64 if x.dtype == torch.float32 else torch.complex128
    xn = x.detach().reshape(-1).contiguous().numpy() if nb else np.zeros(0, dt)
    no_low = np.zeros(0, dt)
    highs, scales = [], []
    src, src_shape = xn, shape
    level = 0
    while level < len(plan):
        axes = plan[level]
        out_shape = tuple(a.n_out for a in axes)
        high_t = empty_large(lead + tuple(n // 2 for n in out_shape) + (28,), cdt)
        high = torch.view_as_real(high_t).numpy().reshape((nb,) + tuple(n // 2 for n in out_shape) + (28, 2))
        pairs = out_shape[0] // 2
        chunked = level == 0 and len(plan) >= 2 and not include_scale
        if not chunked:
            low_t = empty_large(lead + out_shape, x.dtype)
            low = low_t.numpy().reshape(-1)
            _level(src, nb, src_shape[0], 0, src_shape, axes, 0, pairs, 0, pairs, high, low, out_shape[0], 0)
            highs.append(high_t)
            scales.append(low_t)
            src, src_shape = low, out_shape
            level += 1
            continue
        # level 1 and 2 together: level 2 in chunks of its first axis, each from a buffer of the level-1 lowpass
        # rows it reads (level-1 highpasses of each row pair written once)
        axes2 = plan[1]
        out2 = tuple(a.n_out for a in axes2)
        high2_t = empty_large(lead + tuple(n // 2 for n in out2) + (28,), cdt)
        high2 = torch.view_as_real(high2_t).numpy().reshape((nb,) + tuple(n // 2 for n in out2) + (28, 2))
        low2_t = empty_large(lead + out2, x.dtype)
        low2 = low2_t.numpy().reshape(-1)
        pairs2 = out2[0] // 2
        step = max(1, int(round(CHUNK_FRACTION * pairs2)))
        chunks = []
        for k0 in range(0, pairs2, step):
            k1 = min(pairs2, k0 + step)
            r0, r1 = _cols(axes2[0], 2 * k0, 2 * k1)
            chunks.append((k0, k1, r0 // 2, (r1 + 1) // 2))
        done, rows_max = 0, 0
        for _, _, p0, p1 in chunks:
            rows_max = max(rows_max, 2 * (p1 - min(p0, done)))
            done = max(done, p1)
        buf = np.empty(nb * rows_max * out_shape[1] * out_shape[2], dt)
        done = 0
        for k0, k1, p0, p1 in chunks:
            i0 = min(p0, done)
            lrows = 2 * (p1 - i0)
            view = buf[: nb * lrows * out_shape[1] * out_shape[2]]
            # lowpass rows of pairs i0 <= I < p1 into the buffer, highpasses of the pairs not written yet
            _level(src, nb, src_shape[0], 0, src_shape, axes, i0, p1, done, p1, high, view, lrows, 2 * i0)
            done = max(done, p1)
            _level(view, nb, lrows, 2 * i0, out_shape, axes2, k0, k1, k0, k1, high2, low2, out2[0], 0)
        if done < pairs:
            _level(src, nb, src_shape[0], 0, src_shape, axes, done, pairs, done, pairs, high, no_low, 0, 0)
        del buf
        highs += [high_t, high2_t]
        scales += [None, low2_t]
        src, src_shape = low2, out2
        level += 2
    return scales[-1], highs, scales, level



# ------------------------------------------------------------------------------ inverse


def fused_inverse_applicable(z: torch.Tensor, hs: list) -> bool:
    """Whether the fused kernels should run the 3D inverse of lowpass ``z`` and highpasses ``hs``: CPU float32/64
    with matching complex highpasses, no autograd, consistent shapes, large enough."""
    if not hs or not compiled_accepts(z) or z.ndim < 3:
        return False
    cdt = torch.complex64 if z.dtype == torch.float32 else torch.complex128
    if torch.is_grad_enabled() and (z.requires_grad or any(h.requires_grad for h in hs)):
        return False
    lead = tuple(z.shape[:-3])
    for h in hs:
        if h.dtype != cdt or h.device != z.device or h.ndim != z.ndim + 1 or tuple(h.shape[:-4]) != lead \
                or h.shape[-1] != 28:
            return False
    if tuple(z.shape[-3:]) != tuple(2 * int(n) for n in hs[-1].shape[-4:-1]):
        return False
    return z.numel() * 8 >= max(1, MIN_ELEMENTS)


def inverse_level_fused(z: torch.Tensor, h: torch.Tensor, crops: tuple, level: int, biort: str,
                        qshift: str) -> Optional[torch.Tensor]:
    """One level of the 3D inverse in the kernels: the lowpass of the next finer level from this level's lowpass
    ``z`` and highpasses ``h``, one sample cropped at each end of the axes where ``crops`` says (``dtcwt``'s
    two-sample extension). ``None``: no kernel form for these sizes (the caller runs the torch path)."""
    lead = tuple(z.shape[:-3])
    nb = math.prod(lead)
    dt = np.dtype(str(z.dtype).replace("torch.", ""))
    shape_in = tuple(int(n) for n in z.shape[-3:])
    kind = "gfilter" if level == 0 else "ifilter"
    axes = tuple(_axis(kind, n, biort, qshift, dt.str) for n in shape_in)
    if any(a is None for a in axes):
        return None
    keep = [(1, a.n_out - 1) if c else (0, a.n_out) for a, c in zip(axes, crops)]
    out_shape = tuple(k1 - k0 for k0, k1 in keep)
    if tuple(2 * int(n) for n in h.shape[-4:-1]) != shape_in:
        return None
    zn = z.detach().reshape(-1).contiguous().numpy()
    high = torch.view_as_real(h.detach().contiguous()).numpy().reshape((nb,) + tuple(h.shape[-4:-1]) + (28, 2))
    out_t = empty_large(lead + out_shape, z.dtype)
    out = out_t.numpy().reshape(-1)
    a0, a1, a2 = axes
    plane = out_shape[1] * out_shape[2]
    (ic0, ic1), (jc0, jc1), (kc0, kc1) = keep
    n = ic1 - ic0
    step = max(1, int(round(CHUNK_FRACTION * n)))
    spans = []
    for i0 in range(ic0, ic1, step):
        i1 = min(ic1, i0 + step)
        spans.append((i0, i1) + _cols(a0, i0, i1))
    rows_max = max(r1 - r0 for _, _, r0, r1 in spans)
    ubuf = np.empty(nb * 2 * rows_max * plane, dt)
    k = kernels()
    for i0, i1, r0, r1 in spans:
        u = ubuf[: nb * 2 * (r1 - r0) * plane]
        parallel_call(k.inv_rows, zn, high, nb, shape_in[0], shape_in[1], shape_in[2], r0, r1, a1.ptr, a1.col,
                      a1.val, a1.n_out, jc0, jc1, *a2.last_args(), kc0, kc1, u)
        parallel_call(k.inv_out, u, nb, r1 - r0, r0, plane, a0.ptr, a0.col, a0.val, a0.n_out, i0, i1, ic0, out,
                      out_shape[0])
    return out_t


#: A volume whose steps all have a kernel form at two levels (used to compile the kernel).
_WARM_SHAPE = (40, 40, 40)


def warm() -> None:
    """Compile the fused DTCWT kernels for float32 and float64 (part of :func:`medwave.warmup.warm`)."""
    for dtype in (torch.float32, torch.float64):
        x = torch.zeros((1, 1) + _WARM_SHAPE, dtype=dtype)
        if len(_plan(_WARM_SHAPE, 2, "near_sym_a", "qshift_a", np.dtype(str(dtype)[6:]).str)) < 2:  # pragma: no cover
            raise RuntimeError(f"the DTCWT warm-up volume {_WARM_SHAPE} has no kernel form")
        forward3_fused(x, 2, "near_sym_a", "qshift_a", False)
        h = torch.zeros((1, 1) + tuple(n // 2 for n in _WARM_SHAPE) + (28,), dtype=torch.complex64 if dtype ==
                        torch.float32 else torch.complex128)
        inverse_level_fused(x, h, (False,) * 3, 0, "near_sym_a", "qshift_a")
