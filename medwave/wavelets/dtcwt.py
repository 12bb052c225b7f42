"""Dual-tree complex wavelet transform (Kingsbury) over the last 1, 2 or 3 axes, as the ``dtcwt`` package's
``Transform1d``/``Transform2d``/``Transform3d`` (numpy backend, ``ext_mode=4``), differentiable, on any torch device.

Level 1 filters with a biorthogonal set (``near_sym_a`` ...), levels >= 2 with a Q-shift set (``qshift_a`` ...),
half-sample symmetric extension, two-sample edge extension of levels whose length is not a multiple of 4, and
the complex subbands formed from the two trees as in ``dtcwt``: 1D highpasses ``(*lead, n_l)`` complex, 2D
highpasses ``(*lead, h_l, w_l, 6)`` complex with the orientations in ``dtcwt``'s order (15, 45, 75, 105, 135,
165 degrees), 3D highpasses ``(*lead, x_l, y_l, z_l, 28)`` (seven octants times four, ``dtcwt``'s order).
Each per-axis step (filter, decimating and interpolating Q-shift filter, with its edge handling)
is an exact linear operator along one axis, stored as a small dense matrix built once per axis length, so
every output equals ``dtcwt``'s to float rounding and the adjoint (autograd) is exact. That torch path is the
differentiable one; a 3D forward or inverse on the CPU that needs no gradient runs in compiled kernels instead
(:mod:`medwave.wavelets.dtcwt_fused`: the same operators, no volume-sized temporaries).

Example:
    >>> import torch
    >>> from medwave.wavelets import dtcwt_forward, dtcwt_inverse
    >>> x = torch.randn(1, 1, 32, 48, dtype=torch.float64)
    >>> p = dtcwt_forward(x, nlevels=3)
    >>> p.lowpass.shape, [tuple(h.shape) for h in p.highpasses][0]
    (torch.Size([1, 1, 8, 12]), (1, 1, 16, 24, 6))
    >>> torch.allclose(dtcwt_inverse(p), x)
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

import numpy as np
import torch

from medwave.wavelets.dtcwt_filters import BIORT, QSHIFT
from medwave.wavelets.dtcwt_fused import (
    forward3_fused,
    fused_dtcwt_applicable,
    fused_inverse_applicable,
    inverse_level_fused,
)
from medwave.wavelets.dtcwt_matrices import _filters, _matrix, _sym_index
from medwave.wavelets.functional import _as_float_tensor, _check_finite

__all__ = ["DtcwtPyramid", "dtcwt_forward", "dtcwt_inverse", "BIORT_NAMES", "QSHIFT_NAMES"]

BIORT_NAMES = tuple(BIORT)
QSHIFT_NAMES = tuple(QSHIFT)


@dataclass
class DtcwtPyramid:
    """A DTCWT decomposition (``dtcwt.Pyramid``'s fields) and the options that made it.

    Attributes:
        lowpass: Real lowpass of the coarsest level.
        highpasses: Complex highpasses, finest first.
        scales: Real lowpasses of every level (finest first) when asked for.
        biort, qshift, spatial_dims: The forward's options (the inverse reads them).
    """

    lowpass: torch.Tensor
    highpasses: tuple
    scales: tuple = ()
    biort: str = "near_sym_a"
    qshift: str = "qshift_a"
    spatial_dims: int = 2
    meta: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------ per-axis steps


#: Axes up to this length are transformed with the dense matrix of the step (one matmul).
DENSE_MAX = 64


@lru_cache(maxsize=512)
def _taps(key: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise nonzeros of a step's matrix: column indices ``(n_out, k)`` and weights (zero-padded rows)."""
    m = _matrix(*key)
    nnz = max(1, int((m != 0).sum(axis=1).max()))
    idx = np.zeros((m.shape[0], nnz), np.int64)
    w = np.zeros((m.shape[0], nnz))
    for i, row in enumerate(m):
        cols = np.flatnonzero(row)
        idx[i, : cols.size] = cols
        w[i, : cols.size] = row[cols]
    return idx, w


def _apply(x: torch.Tensor, key: tuple, dim: int) -> torch.Tensor:
    """One per-axis step (its matrix ``(n_out, n)``) along dimension ``dim`` of ``x``.

    Short axes use the dense matrix (one matmul); long ones a sum over the few taps of each row (gathers),
    whose cost grows with the filter length instead of the axis length.
    """
    n = int(x.shape[dim])
    if n <= DENSE_MAX:
        mt = torch.as_tensor(_matrix(*key), dtype=x.dtype, device=x.device)
        return torch.movedim(torch.movedim(x, dim, -1) @ mt.T, -1, dim)
    if key[0] == "filter":  # a plain convolution of the symmetrically extended axis: one shifted view per tap
        h = BIORT[key[2]][key[4][0]]
        m = len(h)
        xe = x.index_select(dim, torch.as_tensor(_sym_index(np.arange(-(m // 2), n + m // 2), n), device=x.device))
        y = xe.narrow(dim, m - 1, n) * h[0]
        for j in range(1, m):
            y = y.add_(xe.narrow(dim, m - 1 - j, n), alpha=h[j])
        return y
    idx, w = _taps(key)
    shape = [1] * x.ndim
    shape[dim] = idx.shape[0]
    y = None
    for j in range(idx.shape[1]):
        wj = torch.as_tensor(w[:, j], dtype=x.dtype, device=x.device).reshape(shape)
        t = x.index_select(dim, torch.as_tensor(idx[:, j], device=x.device)) * wj
        y = t if y is None else y + t
    return y


def _op(x: torch.Tensor, kind: str, dim: int, biort: str, qshift: str, *names: str) -> torch.Tensor:
    return _apply(x, (kind, int(x.shape[dim]), biort, qshift, names), dim)


def _pad_even(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Duplicate the last sample along ``dim`` when its length is odd (``dtcwt``'s 2D input extension)."""
    if x.shape[dim] % 2:
        x = torch.cat([x, x.narrow(dim, x.shape[dim] - 1, 1)], dim=dim)
    return x


def _q2c(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Four real subimages (2x2 polyphase of the last two axes) to the two complex orientations."""
    s = math.sqrt(0.5)
    a, b = y[..., 0::2, 0::2], y[..., 0::2, 1::2]
    c, d = y[..., 1::2, 0::2], y[..., 1::2, 1::2]
    p = torch.complex(a * s, b * s)
    q = torch.complex(d * s, -c * s)
    return p - q, p + q


def _c2q(w0: torch.Tensor, w1: torch.Tensor) -> torch.Tensor:
    """Inverse arrangement of :func:`_q2c` (orientations ``w0``, ``w1``) into one real image."""
    s = math.sqrt(0.5)
    p = (w0 + w1) * s
    q = (w0 - w1) * s
    h, w = p.shape[-2:]
    out = p.real.new_zeros(p.shape[:-2] + (2 * h, 2 * w))
    out[..., 0::2, 0::2] = p.real
    out[..., 0::2, 1::2] = p.imag
    out[..., 1::2, 0::2] = q.imag
    out[..., 1::2, 1::2] = -q.real
    return out


#: The seven highpass octants of the 3D transform, in ``dtcwt``'s order, as (axis 0, axis 1, axis 2) highpass bits.
_OCTANTS = ((0, 1, 0), (1, 0, 0), (1, 1, 0), (0, 0, 1), (0, 1, 1), (1, 0, 1), (1, 1, 1))


def _cube2c(y: torch.Tensor) -> torch.Tensor:
    """One real octant (2x2x2 polyphase of the last three axes) to its four complex subbands ``(..., 4)``."""
    a, b = y[..., 0::2, 0::2, 0::2], y[..., 0::2, 1::2, 0::2]
    c, d = y[..., 1::2, 0::2, 0::2], y[..., 1::2, 1::2, 0::2]
    e, f = y[..., 0::2, 0::2, 1::2], y[..., 0::2, 1::2, 1::2]
    g, h = y[..., 1::2, 0::2, 1::2], y[..., 1::2, 1::2, 1::2]
    p = torch.complex(0.5 * (a - g - d - f), 0.5 * (b - h + c + e))
    q = torch.complex(0.5 * (a - g + d + f), 0.5 * (-b + h + c + e))
    r = torch.complex(0.5 * (a + g + d - f), 0.5 * (b + h - c + e))
    s = torch.complex(0.5 * (a + g - d + f), 0.5 * (-b - h - c + e))
    return torch.stack([p, q, r, s], dim=-1)


def _c2cube(z: torch.Tensor) -> torch.Tensor:
    """Inverse arrangement of :func:`_cube2c`: ``(..., x, y, z, 4)`` complex to ``(..., 2x, 2y, 2z)`` real."""
    pr, qr, rr, sr = (z[..., k].real for k in range(4))
    pi, qi, ri, si = (z[..., k].imag for k in range(4))
    n = z.shape[-4:-1]
    y = pr.new_zeros(pr.shape[:-3] + tuple(2 * k for k in n))
    y[..., 0::2, 0::2, 0::2] = 0.5 * (pr + qr + rr + sr)
    y[..., 1::2, 0::2, 1::2] = 0.5 * (-pr - qr + rr + sr)
    y[..., 1::2, 1::2, 0::2] = 0.5 * (-pr + qr + rr - sr)
    y[..., 0::2, 1::2, 1::2] = 0.5 * (-pr + qr - rr + sr)
    y[..., 0::2, 1::2, 0::2] = 0.5 * (pi - qi + ri - si)
    y[..., 1::2, 1::2, 1::2] = 0.5 * (-pi + qi + ri - si)
    y[..., 1::2, 0::2, 0::2] = 0.5 * (pi + qi - ri - si)
    y[..., 0::2, 0::2, 1::2] = 0.5 * (pi + qi + ri + si)
    return y


def _forward3(x: torch.Tensor, nlevels: int, biort: str, qshift: str,
              start: int = 0) -> tuple[torch.Tensor, list, list]:
    """Levels ``start .. nlevels - 1`` of the 3D forward (``x``: the input, or the lowpass of level ``start``)."""
    highs, scales = [], []
    lo = x
    for level in range(start, nlevels):
        if level == 0:
            if any(n % 2 for n in x.shape[-3:]):
                raise ValueError(f"The 3D DTCWT needs even sizes (as dtcwt), got {tuple(x.shape[-3:])}; pad first.")
            step = lambda t, dim, hi: _op(t, "filter", dim, biort, qshift, "h1o" if hi else "h0o")  # noqa: E731
        else:
            step = lambda t, dim, hi: _op(  # noqa: E731
                t, "dfilter", dim, biort, qshift, *(("h1b", "h1a") if hi else ("h0b", "h0a"))
            )
        bands = {(): lo}
        for dim in (-1, -2, -3):
            bands = {(hb,) + k: step(v, dim, hb) for k, v in bands.items() for hb in (0, 1)}
        # keys are (axis 0, axis 1, axis 2) bits
        lo = bands[(0, 0, 0)]
        highs.append(torch.cat([_cube2c(bands[o]) for o in _OCTANTS], dim=-1))
        scales.append(lo)
    return lo, highs, scales


def _crops(hs: list, level: int) -> tuple[bool, bool, bool]:
    """Whether the reconstruction of ``level`` (>= 1) loses one sample at each end of each axis (``dtcwt``'s
    two-sample extension of the forward, where the finer level's size is not twice this level's)."""
    if level == 0:
        return (False, False, False)
    prev = hs[level - 1].shape[-4:-1]
    return tuple(bool(2 * hs[level].shape[-4 + i] != prev[i]) for i in range(3))


def _inverse3_level(z: torch.Tensor, hs: list, level: int, biort: str, qshift: str) -> torch.Tensor:
    """One level of the 3D inverse on the torch path: the lowpass of level ``level`` from ``z`` and ``hs[level]``."""
    h = hs[level]
    octs = {o: _c2cube(h[..., 4 * i: 4 * i + 4]) for i, o in enumerate(_OCTANTS)}
    octs[(0, 0, 0)] = z
    if level == 0:
        step = lambda t, dim, hi: _op(t, "filter", dim, biort, qshift, "g1o" if hi else "g0o")  # noqa: E731
    else:
        step = lambda t, dim, hi: _op(  # noqa: E731
            t, "ifilter", dim, biort, qshift, *(("g1b", "g1a") if hi else ("g0b", "g0a"))
        )
    for axis, dim in ((0, -3), (1, -2), (2, -1)):
        merged = {}
        for k, v in octs.items():
            rest = k[1:]
            t = step(v, dim, k[0])
            merged[rest] = merged[rest] + t if rest in merged else t
        octs = merged
    z = octs[()]
    for crop, dim in zip(_crops(hs, level), (-3, -2, -1)):
        if crop:
            z = z.narrow(dim, 1, z.shape[dim] - 2)
    return z


# ------------------------------------------------------------------------------ transforms


def _check(x: torch.Tensor, spatial_dims: Optional[int]) -> int:
    d = spatial_dims if spatial_dims is not None else x.ndim - 2
    if d not in (1, 2, 3):
        raise ValueError(f"dtcwt_forward supports spatial_dims=1, 2 or 3, got {d} (tensor of shape {tuple(x.shape)}).")
    if x.ndim < d:
        raise ValueError(f"Input of shape {tuple(x.shape)} has fewer than spatial_dims={d} axes.")
    return d


def dtcwt_forward(
    x: torch.Tensor,
    *,
    nlevels: int = 3,
    biort: str = "near_sym_a",
    qshift: str = "qshift_a",
    spatial_dims: Optional[int] = None,
    include_scale: bool = False,
    check_finite: bool = True,
) -> DtcwtPyramid:
    """Forward DTCWT of the last ``spatial_dims`` (1-3) axes, as ``dtcwt.Transform1d/2d/3d(biort, qshift).forward``.

    Args:
        x: ``(B, C, *spatial)`` real tensor. 1D and 3D: the sizes must be even (as ``dtcwt``); 2D: odd sizes are
            extended by their last row/column first (as ``dtcwt``).
        nlevels: Number of levels.
        biort: Level-1 filter set (:data:`BIORT_NAMES`: ``antonini``, ``legall``, ``near_sym_a``, ``near_sym_b``,
            ``near_sym_b_bp``).
        qshift: Filter set of levels >= 2 (:data:`QSHIFT_NAMES`: ``qshift_06``, ``qshift_a`` ... ``qshift_d``,
            ``qshift_b_bp``, ``qshift_32``).
        spatial_dims: 1, 2 or 3 (default ``x.ndim - 2``).
        include_scale: Also return the lowpass of every level (``Pyramid.scales``).
        check_finite: Raise on NaN/Inf input.

    Returns:
        A :class:`DtcwtPyramid`.
    """
    x = _as_float_tensor(x)
    d = _check(x, spatial_dims)
    _filters(biort, qshift)
    if nlevels < 0:
        raise ValueError(f"nlevels must be >= 0, got {nlevels}.")
    if check_finite:
        _check_finite(x)
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    dims = [x.ndim - d + i for i in range(d)]
    bp_b = "h2o" in BIORT[biort]
    bp_q = "h2a" in QSHIFT[qshift]
    highs, scales = [], []
    if d == 1:
        if x.shape[-1] % 2:
            raise ValueError(f"The 1D DTCWT needs an even length (as dtcwt), got {x.shape[-1]}; pad the signal by one.")
        lo = x
        for level in range(nlevels):
            if level == 0:
                hi = _op(lo, "filter", -1, biort, qshift, "h1o")
                lo = _op(lo, "filter", -1, biort, qshift, "h0o")
            else:
                hi = _op(lo, "dfilter", -1, biort, qshift, "h1b", "h1a")
                lo = _op(lo, "dfilter", -1, biort, qshift, "h0b", "h0a")
            highs.append(torch.complex(hi[..., 0::2], hi[..., 1::2]))
            scales.append(lo)
        return DtcwtPyramid(lo, tuple(highs), tuple(scales) if include_scale else (), biort, qshift, 1)
    if d == 3:
        fused = None
        if nlevels >= 1 and not any(n % 2 for n in x.shape[-3:]) and fused_dtcwt_applicable(x):
            fused = forward3_fused(x, nlevels, biort, qshift, include_scale)  # None: no kernel form for these sizes
        if fused is None:
            lo, highs, scales = _forward3(x, nlevels, biort, qshift)
        else:
            lo, highs, scales, done = fused
            if done < nlevels:  # the coarser levels, whose axes are too short for a kernel form, on the torch path
                lo, more_h, more_s = _forward3(lo, nlevels, biort, qshift, start=done)
                highs, scales = highs + more_h, scales + more_s
        return DtcwtPyramid(lo, tuple(highs), tuple(scales) if include_scale else (), biort, qshift, 3)
    r, c = dims
    ll = _pad_even(_pad_even(x, r), c)
    for level in range(nlevels):
        if level == 0:
            f = lambda t, dim, name: _op(t, "filter", dim, biort, qshift, name)  # noqa: E731
            lo, hi = f(ll, r, "h0o"), f(ll, r, "h1o")
            ba = f(ll, r, "h2o") if bp_b else None
            ll = f(lo, c, "h0o")
            horiz, vert = f(hi, c, "h0o"), f(lo, c, "h1o")
            diag = f(ba, c, "h2o") if bp_b else f(hi, c, "h1o")
        else:
            g = lambda t, dim, n0, n1: _op(t, "dfilter", dim, biort, qshift, n0, n1)  # noqa: E731
            lo, hi = g(ll, r, "h0b", "h0a"), g(ll, r, "h1b", "h1a")
            ba = g(ll, r, "h2b", "h2a") if bp_q else None
            ll = g(lo, c, "h0b", "h0a")
            horiz, vert = g(hi, c, "h0b", "h0a"), g(lo, c, "h1b", "h1a")
            diag = g(ba, c, "h2b", "h2a") if bp_q else g(hi, c, "h1b", "h1a")
        h15, h165 = _q2c(horiz)
        d45, d135 = _q2c(diag)
        v75, v105 = _q2c(vert)
        highs.append(torch.stack([h15, d45, v75, v105, d135, h165], dim=-1))
        scales.append(ll)
    return DtcwtPyramid(ll, tuple(highs), tuple(scales) if include_scale else (), biort, qshift, 2)


def dtcwt_inverse(
    pyramid: DtcwtPyramid,
    *,
    biort: Optional[str] = None,
    qshift: Optional[str] = None,
    gain_mask: Optional[np.ndarray] = None,
) -> torch.Tensor:
    """Inverse DTCWT, as ``dtcwt.Transform1d/2d(biort, qshift).inverse(pyramid, gain_mask)``.

    Args:
        pyramid: The coefficients (any values, not only those of a forward).
        biort: Override the pyramid's level-1 filter set.
        qshift: Override the pyramid's Q-shift set.
        gain_mask: ``dtcwt``'s per-level (1D: ``(nlevels,)``) or per orientation and level (2D: ``(6, nlevels)``)
            gains applied to the highpasses.

    Returns:
        The reconstruction (2D: of the evenly extended size, as ``dtcwt``).
    """
    biort = biort or pyramid.biort
    qshift = qshift or pyramid.qshift
    _filters(biort, qshift)
    d = pyramid.spatial_dims
    z = pyramid.lowpass
    hs = list(pyramid.highpasses)
    a = len(hs)
    if a == 0:
        return z
    if d == 1:
        gains = np.ones(a) if gain_mask is None else np.asarray(gain_mask, dtype=np.float64)
        for level in reversed(range(a)):
            h = hs[level] * float(gains[level])
            hi = torch.stack([h.real, h.imag], dim=-1).flatten(-2)
            if level >= 1:
                z = _op(z, "ifilter", -1, biort, qshift, "g0b", "g0a") + _op(
                    hi, "ifilter", -1, biort, qshift, "g1b", "g1a"
                )
                if z.shape[-1] != 2 * hs[level - 1].shape[-1]:
                    z = z[..., 1:-1]
            else:
                z = _op(z, "filter", -1, biort, qshift, "g0o") + _op(hi, "filter", -1, biort, qshift, "g1o")
        return z
    if d == 3:
        if gain_mask is not None:
            raise ValueError("gain_mask is not supported by the 3D inverse (dtcwt.Transform3d has none either).")
        fused = fused_inverse_applicable(z, hs)
        for level in reversed(range(len(hs))):  # level by level: in the kernels where the level has a kernel form
            y = inverse_level_fused(z, hs[level], _crops(hs, level), level, biort, qshift) if fused else None
            z = y if y is not None else _inverse3_level(z, hs, level, biort, qshift)
        return z
    gains = np.ones((6, a)) if gain_mask is None else np.asarray(gain_mask, dtype=np.float64)
    bp_b = "g2o" in BIORT[biort]
    bp_q = "g2a" in QSHIFT[qshift]
    r, c = z.ndim - 2, z.ndim - 1
    for level in reversed(range(a)):
        h = hs[level]

        def pair(i: int, j: int) -> torch.Tensor:
            return _c2q(h[..., i] * float(gains[i, level]), h[..., j] * float(gains[j, level]))

        lh, hl, hh = pair(0, 5), pair(2, 3), pair(1, 4)
        if level >= 1:
            f = lambda t, dim, n0, n1: _op(t, "ifilter", dim, biort, qshift, n0, n1)  # noqa: E731
            y1 = f(z, r, "g0b", "g0a") + f(lh, r, "g1b", "g1a")
            if bp_q:
                z = f(y1, c, "g0b", "g0a") + f(f(hl, r, "g0b", "g0a"), c, "g1b", "g1a") + f(f(hh, r, "g2b", "g2a"), c,
                                                                                             "g2b", "g2a")
            else:
                y2 = f(hl, r, "g0b", "g0a") + f(hh, r, "g1b", "g1a")
                z = f(y1, c, "g0b", "g0a") + f(y2, c, "g1b", "g1a")
            want = [2 * s for s in hs[level - 1].shape[-3:-1]]
            if z.shape[r] != want[0]:
                z = z.narrow(r, 1, z.shape[r] - 2)
            if z.shape[c] != want[1]:
                z = z.narrow(c, 1, z.shape[c] - 2)
        else:
            g = lambda t, dim, n: _op(t, "filter", dim, biort, qshift, n)  # noqa: E731
            y1 = g(z, r, "g0o") + g(lh, r, "g1o")
            if bp_b:
                z = g(y1, c, "g0o") + g(g(hl, r, "g0o"), c, "g1o") + g(g(hh, r, "g2o"), c, "g2o")
            else:
                y2 = g(hl, r, "g0o") + g(hh, r, "g1o")
                z = g(y1, c, "g0o") + g(y2, c, "g1o")
    return z
