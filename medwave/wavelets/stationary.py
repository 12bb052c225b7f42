"""Stationary (undecimated, "a trous") wavelet transform over the last 1-3 axes, as ``pywt.swtn``/``pywt.iswtn``.

Coefficients equal PyWavelets' key for key (every discrete wavelet, ``start_level``, ``trim_approx``,
``norm``), the inverse equals ``pywt.iswtn`` on any coefficients (not only consistent ones), and both are
differentiable with exact adjoints. CPU float32/float64 inputs run on numba kernels that transform each axis
in place in the output buffer (:mod:`medwave.wavelets.circular`).

Example:
    >>> import torch
    >>> from medwave.wavelets import swt, iswt
    >>> x = torch.randn(1, 1, 8, 8, 8, dtype=torch.float64)
    >>> c = swt(x, "db2", level=2)          # [{'aaa': ..., 'aad': ..., ...} level 2, {...} level 1]
    >>> len(c), sorted(c[0])[:2], c[0]["aaa"].shape
    (2, ['aaa', 'aad'], torch.Size([1, 1, 8, 8, 8]))
    >>> torch.allclose(iswt(c, "db2"), x)
    True
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import pywt
import torch

from medwave.utils.memory import pooled_empty
from medwave.wavelets.circular import CircMerge, CircOp, CircSplit, taps_from_column
from medwave.wavelets.filters import FilterBank, WaveletLike, get_filter_bank
from medwave.wavelets.functional import _as_float_tensor, _check_finite, _compute_dtype, _resolve_dims, subband_keys

__all__ = ["swt", "iswt", "swt_packed", "iswt_packed", "swt_max_level"]

SwtCoeffs = list


def swt_max_level(shape: Union[int, Sequence[int]]) -> int:
    """Deepest stationary level for ``shape`` (``pywt.swt_max_level``; the smallest power of two decides)."""
    sizes = [int(shape)] if isinstance(shape, int) else [int(s) for s in shape]
    return int(min(pywt.swt_max_level(n) for n in sizes))


@lru_cache(maxsize=256)
def analysis_circ(fb: FilterBank, n: int, j: int, norm: bool) -> CircOp:
    """Taps of ``pywt.swt(.., level=1, start_level=j, norm=norm)`` along an axis of length ``n``."""
    delta = np.zeros(n)
    delta[0] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, d = pywt.swt(delta, fb.to_pywt(), level=1, start_level=j, norm=norm)[0]
    (oa, wa), (od, wd) = taps_from_column(np.asarray(a)), taps_from_column(np.asarray(d))
    return CircOp(n, (oa, od), (wa, wd))


@lru_cache(maxsize=256)
def synthesis_circ(fb: FilterBank, n: int, j: int, norm: bool) -> CircOp:
    """Taps of one level of ``pywt.iswt`` at sample step ``2**j`` along an axis of length ``n``.

    PyWavelets inverts level ``j`` on each of the ``2**j`` interleaved sub-grids separately with the step-1
    inverse (the average of the even and odd sub-grids' ``idwt``), so its taps are the step-1 taps on a
    length ``n / 2**j`` axis with the offsets scaled by ``2**j``.
    """
    step = 2**j
    m = n // step
    delta = np.zeros(m)
    delta[0] = 1.0
    zero = np.zeros(m)
    w = fb.to_pywt()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lo = pywt.iswt([(delta, zero)], w, norm=norm)
        hi = pywt.iswt([(zero, delta)], w, norm=norm)
    taps = []
    for col in (np.asarray(lo), np.asarray(hi)):
        o, wt = taps_from_column(col)
        taps.append((o * step, wt))
    return CircOp(n, (taps[0][0], taps[1][0]), (taps[0][1], taps[1][1]))


def _check_levels(spatial: Sequence[int], level: int, start_level: int) -> None:
    if level < 1:
        raise ValueError(f"level must be >= 1, got {level}.")
    if start_level < 0:
        raise ValueError(f"start_level must be >= 0, got {start_level}.")
    top = start_level + level
    bad = [n for n in spatial if n % (2**top)]
    if bad:
        raise ValueError(
            f"The stationary transform to level {level} from start_level {start_level} needs every transformed "
            f"axis to be a multiple of 2**{top} = {2 ** top}; spatial shape {tuple(spatial)} is not. Pad the "
            f"input (e.g. to a multiple of {2 ** top}) or lower level/start_level (the maximum for this shape is "
            f"{swt_max_level(spatial)} levels in all)."
        )


def _warn_norm(fb: FilterBank, norm: bool) -> None:
    if norm and not fb.orthogonal:
        warnings.warn(
            f"norm=True, but wavelet {fb.name!r} is not orthogonal: the transform is not energy preserving "
            f"(as in pywt.swtn).",
            UserWarning,
            stacklevel=3,
        )


def swt_packed(
    x: torch.Tensor,
    wavelet: WaveletLike = "haar",
    *,
    level: Optional[int] = None,
    start_level: int = 0,
    norm: bool = False,
    spatial_dims: Optional[int] = None,
    check_finite: bool = True,
) -> list[torch.Tensor]:
    """Stationary transform with the ``2**d`` subbands of each level stacked: finest level first.

    Args:
        x: ``(B, C, *spatial)`` tensor (any leading axes are kept).
        wavelet: Wavelet name, :class:`pywt.Wavelet`, :class:`FilterBank` or four filters.
        level: Number of levels (default: as many as the shape allows after ``start_level``).
        start_level: Level of the first decomposition (the filters are upsampled ``2**start_level`` times).
        norm: PyWavelets' ``norm`` (filters scaled by ``1/sqrt(2)``).
        spatial_dims: Number of trailing axes to transform (default ``x.ndim - 2``).
        check_finite: Raise on NaN/Inf input.

    Returns:
        ``[level start_level+1, level start_level+2, ...]``, each ``(*lead, 2**d, *spatial)`` with band ``i``
        the key ``subband_keys(d)[i]``.
    """
    x = _as_float_tensor(x)
    d = _resolve_dims(x, spatial_dims)
    fb = get_filter_bank(wavelet)
    spatial = tuple(int(s) for s in x.shape[-d:])
    if level is None:
        level = swt_max_level(spatial) - start_level
    _check_levels(spatial, level, start_level)
    _warn_norm(fb, norm)
    if check_finite:
        _check_finite(x)
    lead = tuple(x.shape[: x.ndim - d])
    a = x.to(_compute_dtype(x)).reshape((-1, 1) + spatial)
    out = []
    for j in range(start_level, start_level + level):
        ops = tuple(analysis_circ(fb, n, j, bool(norm)) for n in spatial)
        packed = CircSplit.apply(a, ops)
        out.append(packed.reshape(lead + packed.shape[1:]).to(x.dtype))
        a = packed[:, :1]
    return out


def swt(
    x: torch.Tensor,
    wavelet: WaveletLike = "haar",
    *,
    level: Optional[int] = None,
    start_level: int = 0,
    trim_approx: bool = False,
    norm: bool = False,
    spatial_dims: Optional[int] = None,
    check_finite: bool = True,
) -> SwtCoeffs:
    """n-D stationary wavelet transform, as ``pywt.swtn(x, wavelet, level, start_level, axes, trim_approx, norm)``.

    Args:
        x: ``(B, C, *spatial)`` tensor; every transformed axis a multiple of ``2**(start_level + level)``.
        wavelet: Wavelet name, :class:`pywt.Wavelet`, :class:`FilterBank` or four filters.
        level: Number of levels (default: the most the shape allows).
        start_level: As in PyWavelets.
        trim_approx: Keep only the coarsest approximation: ``[cA_n, {details_n}, ..., {details_1}]``.
        norm: As in PyWavelets (energy preserving for orthogonal wavelets with ``trim_approx``).
        spatial_dims: Number of trailing axes to transform.
        check_finite: Raise on NaN/Inf input.

    Returns:
        ``[{coeffs level n}, ..., {coeffs level 1}]`` keyed ``'aaa'``, ``'aad'``, ... (coarsest first), or with
        ``trim_approx`` the list above. Values are views of one packed tensor per level.
    """
    x = _as_float_tensor(x)
    d = _resolve_dims(x, spatial_dims)
    packed = swt_packed(x, wavelet, level=level, start_level=start_level, norm=norm, spatial_dims=d,
                        check_finite=check_finite)
    keys = subband_keys(d)
    out: list = []
    for p in reversed(packed):
        axis = p.ndim - d - 1
        lv = {k: p.select(axis, i) for i, k in enumerate(keys)}
        if trim_approx:
            lv.pop(keys[0])
        out.append(lv)
    if trim_approx:
        out.insert(0, packed[-1].select(packed[-1].ndim - d - 1, 0))
    return out


def _joined(parts: Sequence[torch.Tensor], dim: int, stack: bool) -> torch.Tensor:
    """``torch.stack``/``torch.cat`` of CPU tensors, into a pooled buffer when no gradient is recorded.

    The inverse's inputs are re-packed per level (hundreds of MB for a volume); a reused buffer saves the
    page faults of fresh memory (:func:`medwave.utils.memory.pooled_empty`).
    """
    join = torch.stack if stack else torch.cat
    if (torch.is_grad_enabled() and any(p.requires_grad for p in parts)) or any(p.device.type != "cpu" for p in parts):
        return join(list(parts), dim=dim)
    shape = list(parts[0].shape)
    if stack:
        shape.insert(dim, len(parts))
    else:
        shape[dim] = sum(int(p.shape[dim]) for p in parts)
    return join(list(parts), dim=dim, out=pooled_empty(shape, parts[0].dtype))


def iswt_packed(
    coeffs: Sequence[torch.Tensor],
    wavelet: WaveletLike = "haar",
    *,
    approx: Optional[torch.Tensor] = None,
    start_level: int = 0,
    norm: bool = False,
    spatial_dims: Optional[int] = None,
) -> torch.Tensor:
    """Inverse of :func:`swt_packed` (finest level first, each ``(*lead, 2**d, *spatial)``).

    The approximation of each level is ignored except the coarsest one's (or ``approx`` when given), as in
    ``pywt.iswtn``. ``start_level`` gives the step of the finest level (PyWavelets' ``iswtn`` always starts at 0).
    """
    if not coeffs:
        raise ValueError("iswt needs at least one level of coefficients.")
    c0 = _as_float_tensor(coeffs[-1])
    d = spatial_dims if spatial_dims is not None else c0.ndim - 3
    if d not in (1, 2, 3):
        raise ValueError(f"spatial_dims must be 1, 2 or 3, got {d}.")
    fb = get_filter_bank(wavelet)
    spatial = tuple(int(s) for s in c0.shape[-d:])
    _check_levels(spatial, len(coeffs), start_level)
    lead = tuple(c0.shape[: c0.ndim - d - 1])
    dtype = _compute_dtype(c0)
    a = (_as_float_tensor(approx) if approx is not None else c0.select(c0.ndim - d - 1, 0)).to(dtype)
    a = a.reshape((-1, 1) + spatial)
    for j in reversed(range(len(coeffs))):
        c = _as_float_tensor(coeffs[j]).to(dtype).reshape((-1, 2**d) + spatial)
        c = _joined([a, c[:, 1:]], 1, stack=False)
        ops = tuple(synthesis_circ(fb, n, start_level + j, bool(norm)) for n in spatial)
        a = CircMerge.apply(c, ops)
    return a.reshape(lead + spatial).to(c0.dtype)


def iswt(
    coeffs: SwtCoeffs,
    wavelet: WaveletLike = "haar",
    *,
    norm: bool = False,
    spatial_dims: Optional[int] = None,
) -> torch.Tensor:
    """Inverse stationary transform from :func:`swt`'s output (or ``pywt.swtn``'s layout), as ``pywt.iswtn``.

    Args:
        coeffs: ``[{level n}, ..., {level 1}]`` or, trimmed, ``[cA_n, {details n}, ..., {details 1}]``; missing or
            ``None`` detail bands are zero.
        wavelet: The wavelet of the forward transform.
        norm: The forward's ``norm``.
        spatial_dims: Number of transformed axes (default: the key length).

    Returns:
        The reconstruction, ``(*lead, *spatial)``.
    """
    if not coeffs:
        raise ValueError("iswt needs at least one level of coefficients.")
    trimmed = not isinstance(coeffs[0], Mapping)
    levels = list(coeffs[1:]) if trimmed else list(coeffs)
    if not levels:
        raise ValueError("iswt got only an approximation; pass at least one level of details.")
    d = max(len(k) for k in levels[-1])
    if spatial_dims is not None and spatial_dims != d:
        raise ValueError(f"Keys like {next(iter(levels[-1]))!r} imply spatial_dims={d}, but {spatial_dims} was given.")
    keys = subband_keys(d)
    approx = coeffs[0] if trimmed else levels[0].get(keys[0])
    if approx is None:
        raise ValueError(f"iswt needs the coarsest approximation ({keys[0]!r}).")
    approx = _as_float_tensor(approx)
    packed = []
    for lv in reversed(levels):  # finest first
        unknown = set(lv) - set(keys)
        if unknown:
            raise ValueError(f"Unknown subband keys {sorted(unknown)}; expected keys among {keys}.")
        bands = []
        for k in keys:
            v = lv.get(k) if k != keys[0] else None
            bands.append(_as_float_tensor(v).to(approx.dtype) if v is not None else torch.zeros_like(approx))
        packed.append(_joined(bands, approx.ndim - d, stack=True))
    return iswt_packed(packed, wavelet, approx=approx, norm=norm, spatial_dims=d)


def warm() -> None:
    """Compile the circular kernels for float32 and float64 (1-3 axes, split and merge, forward and adjoint).

    Part of :func:`medwave.warmup.warm`, which ``make install`` runs.
    """
    import medwave.wavelets.circular as circular

    fb = get_filter_bank("db2")
    prev, circular.MIN_ELEMENTS = circular.MIN_ELEMENTS, 0
    try:
        for dtype in (torch.float32, torch.float64):
            for shape in ((8,), (8, 8), (8, 8, 8)):
                x = torch.zeros((1, 1) + shape, dtype=dtype)
                c = circular.circ_split(x, tuple(analysis_circ(fb, n, 0, False) for n in shape))
                circular.circ_merge(c, tuple(synthesis_circ(fb, n, 0, False) for n in shape))
    finally:
        circular.MIN_ELEMENTS = prev
