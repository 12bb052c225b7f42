"""Functional DWT/IDWT over the last 1, 2 or 3 axes of a ``(B, C, *spatial)`` tensor.

Coefficients and reconstructions equal PyWavelets' ``dwtn``/``idwtn``/``wavedecn``/``waverecn``
(same subband keys, modes and output sizes), and every function is differentiable with an exact,
fast adjoint.

Example:
    >>> import torch
    >>> from medwave.wavelets import dwt, idwt
    >>> x = torch.randn(1, 1, 9, 10, 11)
    >>> c = dwt(x, "db2", mode="symmetric")
    >>> sorted(c)[:3], c["aaa"].shape
    (['aaa', 'aad', 'ada'], torch.Size([1, 1, 6, 6, 7]))
    >>> torch.allclose(idwt(c, "db2", mode="symmetric", shape=x.shape[-3:]), x, atol=1e-5)
    True
"""

from __future__ import annotations

import itertools
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import pywt
import torch

from medwave.wavelets.engine import Merge, Split
from medwave.wavelets.filters import FilterBank, WaveletLike, get_filter_bank
from medwave.wavelets.learnable import LearnableWavelet, dense_merge, dense_split
from medwave.wavelets.modes import Mode, check_mode, coeff_len
from medwave.wavelets.operators import AxisOp, analysis_op, synthesis_op

__all__ = [
    "subband_keys",
    "dwt",
    "dwt_packed",
    "dwt_lowpass",
    "idwt",
    "idwt_packed",
    "wavedec",
    "waverec",
    "dwt_max_level",
    "coeff_shape",
]

Coeffs = dict[str, torch.Tensor]


def subband_keys(spatial_dims: int) -> list[str]:
    """PyWavelets' subband names for ``spatial_dims`` axes, in packed order (``'aa', 'ad', ...``)."""
    return ["".join(k) for k in itertools.product("ad", repeat=spatial_dims)]


def _resolve_dims(x: torch.Tensor, spatial_dims: Optional[int]) -> int:
    if spatial_dims is None:
        spatial_dims = x.ndim - 2
        if spatial_dims not in (1, 2, 3):
            raise ValueError(
                f"Cannot infer spatial_dims from a {x.ndim}-D tensor of shape {tuple(x.shape)}: expected "
                f"(B, C, *spatial) with 1-3 spatial axes. Pass spatial_dims=1, 2 or 3 explicitly."
            )
    if spatial_dims not in (1, 2, 3):
        raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims}.")
    if x.ndim < spatial_dims:
        raise ValueError(
            f"Input of shape {tuple(x.shape)} has fewer than spatial_dims={spatial_dims} axes; "
            f"pass a (B, C, *spatial) tensor or lower spatial_dims."
        )
    if any(int(n) < 1 for n in x.shape[x.ndim - spatial_dims:]):
        raise ValueError(f"Input of shape {tuple(x.shape)} is empty along a spatial axis; nothing to transform.")
    return spatial_dims


def _as_float_tensor(x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        arr = np.asarray(x)
        if arr.dtype.kind not in "biufc":
            raise ValueError(
                f"Cannot transform an array of dtype {arr.dtype} (from {type(x).__name__}); pass a real-valued "
                f"torch tensor or numpy array."
            )
        x = torch.as_tensor(arr)
    if x.is_complex():  # before the float cast below, which would silently drop the imaginary part
        raise ValueError(
            f"Complex input ({str(x.dtype).replace('torch.', '')}) is not supported; transform the real and "
            f"imaginary parts separately (x.real, x.imag)."
        )
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    return x


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def _check_finite(x: torch.Tensor, what: str = "input") -> None:
    with torch.no_grad():
        if torch.isfinite(x.sum()):
            return
        bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise ValueError(
            f"The {what} contains {bad} NaN/Inf value(s) out of {x.numel()}; wavelet transforms would spread "
            f"them to every coefficient they touch. Replace them first (e.g. torch.nan_to_num) or pass "
            f"check_finite=False."
        )


def coeff_shape(shape: Sequence[int], wavelet: WaveletLike, mode: Mode = "symmetric") -> tuple[int, ...]:
    """Spatial shape of one-level coefficients for a spatial ``shape`` (``pywt.dwt_coeff_len`` per axis)."""
    fb = get_filter_bank(wavelet)
    return tuple(coeff_len(int(n), fb.length, mode) for n in shape)


def dwt_max_level(shape: Union[int, Sequence[int]], wavelet: WaveletLike) -> int:
    """The deepest useful level, as ``pywt.dwtn_max_level`` (smallest axis decides)."""
    length = wavelet.length if isinstance(wavelet, LearnableWavelet) else get_filter_bank(wavelet).length
    n = min(shape) if isinstance(shape, (tuple, list, torch.Size)) else int(shape)
    return int(pywt.dwt_max_level(int(n), length))


def _analysis_ops(fb: FilterBank, spatial: Sequence[int], mode: str, low_only: bool = False) -> tuple[AxisOp, ...]:
    ops = []
    for n in spatial:
        if n < 1:
            raise ValueError(f"Cannot transform an empty axis (spatial shape {tuple(spatial)}).")
        try:
            op = analysis_op(fb, int(n), mode)
        except ValueError as exc:  # pywt refuses e.g. too short signals for some modes
            raise ValueError(
                f"Cannot apply wavelet {fb.name!r} with mode {mode!r} to an axis of length {n}: {exc}"
            ) from exc
        if low_only:
            op = AxisOp((op.blocks[0],), n_in=op.n_in, n_out=op.n_out)
        ops.append(op)
    return tuple(ops)


def _synthesis_ops(fb: FilterBank, coarse: Sequence[int], mode: str) -> tuple[AxisOp, ...]:
    return tuple(synthesis_op(fb, int(n), mode) for n in coarse)


def _flatten_lead(x: torch.Tensor, spatial_dims: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    lead = tuple(x.shape[: x.ndim - spatial_dims])
    return x.reshape((-1, 1) + tuple(x.shape[x.ndim - spatial_dims :])), lead


def dwt_packed(
    x: torch.Tensor,
    wavelet: WaveletLike = "haar",
    *,
    mode: Mode = "symmetric",
    spatial_dims: Optional[int] = None,
    check_finite: bool = True,
) -> torch.Tensor:
    """One-level n-D DWT with all subbands stacked in one tensor.

    Args:
        x: ``(B, C, *spatial)`` tensor (any leading axes are kept).
        wavelet: Wavelet name, :class:`pywt.Wavelet`, :class:`FilterBank` or four filters.
        mode: Boundary mode, PyWavelets' meaning.
        spatial_dims: Number of trailing axes to transform (default ``x.ndim - 2``).
        check_finite: Raise on NaN/Inf input.

    Returns:
        ``(*lead, 2**spatial_dims, *coarse)``; band ``i`` is ``subband_keys(spatial_dims)[i]``.
    """
    x = _as_float_tensor(x)
    d = _resolve_dims(x, spatial_dims)
    check_mode(mode)
    if check_finite:
        _check_finite(x)
    dtype = _compute_dtype(x)
    flat, lead = _flatten_lead(x.to(dtype), d)
    if isinstance(wavelet, LearnableWavelet):
        out = dense_split(flat, wavelet, mode)
    else:
        out = Split.apply(flat, _analysis_ops(get_filter_bank(wavelet), flat.shape[2:], mode))
    return out.reshape(lead + out.shape[1:]).to(x.dtype)


def dwt_lowpass(
    x: torch.Tensor,
    wavelet: WaveletLike = "haar",
    *,
    mode: Mode = "symmetric",
    spatial_dims: Optional[int] = None,
    check_finite: bool = True,
) -> torch.Tensor:
    """Only the approximation (``'a' * d``) band of :func:`dwt`, without computing the others."""
    x = _as_float_tensor(x)
    d = _resolve_dims(x, spatial_dims)
    check_mode(mode)
    if check_finite:
        _check_finite(x)
    flat, lead = _flatten_lead(x.to(_compute_dtype(x)), d)
    if isinstance(wavelet, LearnableWavelet):
        out = dense_split(flat, wavelet, mode, low_only=True)
    else:
        out = Split.apply(flat, _analysis_ops(get_filter_bank(wavelet), flat.shape[2:], mode, low_only=True))
    return out.reshape(lead + out.shape[2:]).to(x.dtype)


def dwt(
    x: torch.Tensor,
    wavelet: WaveletLike = "haar",
    *,
    mode: Mode = "symmetric",
    spatial_dims: Optional[int] = None,
    check_finite: bool = True,
) -> Coeffs:
    """One-level n-D DWT, keyed like ``pywt.dwtn`` (``'aaa'``, ``'aad'``, ...).

    The values are views of one packed tensor (see :func:`dwt_packed`).
    """
    x = _as_float_tensor(x)
    d = _resolve_dims(x, spatial_dims)
    packed = dwt_packed(x, wavelet, mode=mode, spatial_dims=d, check_finite=check_finite)
    band_axis = packed.ndim - d - 1
    return {k: packed.select(band_axis, i) for i, k in enumerate(subband_keys(d))}


def idwt_packed(
    c: torch.Tensor,
    wavelet: WaveletLike = "haar",
    *,
    mode: Mode = "symmetric",
    spatial_dims: Optional[int] = None,
    shape: Optional[Sequence[int]] = None,
) -> torch.Tensor:
    """Inverse of :func:`dwt_packed`.

    Args:
        c: ``(*lead, 2**spatial_dims, *coarse)``.
        wavelet: As for :func:`dwt_packed`.
        mode: As for :func:`dwt_packed`.
        spatial_dims: Number of transformed axes (default ``c.ndim - 3``).
        shape: Crop the result to this spatial shape (PyWavelets returns one extra sample along odd
            axes; pass the original shape to get it back exactly).

    Returns:
        ``(*lead, *spatial)``.
    """
    c = _as_float_tensor(c)
    if spatial_dims is None:
        spatial_dims = c.ndim - 3
    if spatial_dims not in (1, 2, 3) or c.ndim < spatial_dims + 1:
        raise ValueError(
            f"Packed coefficients of shape {tuple(c.shape)} do not fit spatial_dims={spatial_dims}; expected "
            f"(*lead, 2**spatial_dims, *coarse)."
        )
    d = spatial_dims
    if c.shape[-d - 1] != 2**d:
        raise ValueError(
            f"Packed coefficients need {2 ** d} bands on axis {-d - 1} for spatial_dims={d}, got shape {tuple(c.shape)}."
        )
    check_mode(mode)
    dtype = _compute_dtype(c)
    lead = tuple(c.shape[: c.ndim - d - 1])
    flat = c.to(dtype).reshape((-1, 2**d) + tuple(c.shape[c.ndim - d :]))
    if isinstance(wavelet, LearnableWavelet):
        out = dense_merge(flat, wavelet, mode)
    else:
        out = Merge.apply(flat, _synthesis_ops(get_filter_bank(wavelet), flat.shape[2:], mode))
    out = out.reshape(lead + tuple(out.shape[2:]))
    if shape is not None:
        out = _crop(out, shape)
    return out.to(c.dtype)


def _crop(x: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    shape = tuple(int(s) for s in shape)
    d = len(shape)
    have = tuple(x.shape[-d:])
    if any(s > h for s, h in zip(shape, have)):
        raise ValueError(f"Cannot crop a reconstruction of spatial shape {have} to the larger shape {shape}.")
    return x[(..., *[slice(0, s) for s in shape])]


def idwt(
    coeffs: Mapping[str, Optional[torch.Tensor]],
    wavelet: WaveletLike = "haar",
    *,
    mode: Mode = "symmetric",
    spatial_dims: Optional[int] = None,
    shape: Optional[Sequence[int]] = None,
) -> torch.Tensor:
    """Inverse of :func:`dwt` from a dict keyed like ``pywt.idwtn`` (missing or ``None`` bands are zero).

    Args:
        coeffs: Subbands keyed ``'aa'``, ``'ad'``, ... all of the same shape.
        wavelet: As for :func:`dwt`.
        mode: As for :func:`dwt`.
        spatial_dims: Number of transformed axes (default: the key length).
        shape: Optional spatial shape to crop the result to.

    Returns:
        The reconstruction.
    """
    present = {k: v for k, v in coeffs.items() if v is not None}
    if not present:
        raise ValueError("idwt needs at least one subband that is not None.")
    lengths = {len(k) for k in coeffs}
    if len(lengths) != 1:
        raise ValueError(f"Subband keys have different lengths: {sorted(coeffs)}.")
    d = lengths.pop()
    if spatial_dims is not None and spatial_dims != d:
        raise ValueError(f"Keys like {next(iter(coeffs))!r} imply spatial_dims={d}, but {spatial_dims} was given.")
    keys = subband_keys(d)
    unknown = set(coeffs) - set(keys)
    if unknown:
        raise ValueError(f"Unknown subband keys {sorted(unknown)}; expected keys among {keys}.")
    tensors = {k: _as_float_tensor(v) for k, v in present.items()}
    shapes = {tuple(v.shape) for v in tensors.values()}
    if len(shapes) != 1:
        raise ValueError(
            f"All subbands must have the same shape, got {({k: tuple(v.shape) for k, v in tensors.items()})}."
        )
    ref = next(iter(tensors.values()))
    dtype = ref.dtype
    for v in tensors.values():
        dtype = torch.promote_types(dtype, v.dtype)
    packed = torch.stack(
        [tensors[k].to(dtype) if k in tensors else ref.new_zeros(ref.shape, dtype=dtype) for k in keys],
        dim=ref.ndim - d,
    )
    return idwt_packed(packed, wavelet, mode=mode, spatial_dims=d, shape=shape)


def wavedec(
    x: torch.Tensor,
    wavelet: WaveletLike = "haar",
    *,
    mode: Mode = "symmetric",
    level: Optional[int] = None,
    spatial_dims: Optional[int] = None,
    check_finite: bool = True,
) -> list:
    """Multi-level n-D decomposition, as ``pywt.wavedecn``: ``[cA_n, {details_n}, ..., {details_1}]``.

    Args:
        x: ``(B, C, *spatial)`` tensor.
        wavelet: As for :func:`dwt`.
        mode: As for :func:`dwt`.
        level: Number of levels; default the maximum (:func:`dwt_max_level`).
        spatial_dims: Number of trailing axes to transform.
        check_finite: Raise on NaN/Inf input.

    Raises:
        ValueError: ``level`` is negative or deeper than the shape allows.
    """
    x = _as_float_tensor(x)
    d = _resolve_dims(x, spatial_dims)
    fb = wavelet if isinstance(wavelet, LearnableWavelet) else get_filter_bank(wavelet)
    spatial = tuple(x.shape[-d:])
    max_level = dwt_max_level(spatial, fb)
    if level is None:
        level = max_level
    if level < 0:
        raise ValueError(f"level must be >= 0, got {level}.")
    if level > max_level:
        raise ValueError(
            f"level={level} is too high for spatial shape {spatial} with wavelet {fb.name!r} (filter length "
            f"{fb.length}): the maximum is {max_level}. Use level <= {max_level}, a shorter wavelet, or a larger input."
        )
    if check_finite:
        _check_finite(x)
    keys = subband_keys(d)
    details = []
    a = x
    for _ in range(level):
        packed = dwt_packed(a, fb, mode=mode, spatial_dims=d, check_finite=False)
        band_axis = packed.ndim - d - 1
        a = packed.select(band_axis, 0)
        details.append({k: packed.select(band_axis, i) for i, k in enumerate(keys) if i > 0})
    return [a] + details[::-1]


def waverec(
    coeffs: Sequence,
    wavelet: WaveletLike = "haar",
    *,
    mode: Mode = "symmetric",
    spatial_dims: Optional[int] = None,
    shape: Optional[Sequence[int]] = None,
) -> torch.Tensor:
    """Multi-level reconstruction, as ``pywt.waverecn`` (approximation cropped to each level's details).

    Args:
        coeffs: ``[cA_n, {details_n}, ..., {details_1}]`` as returned by :func:`wavedec`.
        wavelet: As for :func:`dwt`.
        mode: As for :func:`dwt`.
        spatial_dims: Number of transformed axes (default: the key length).
        shape: Optional spatial shape to crop the final result to (the original input's).
    """
    if len(coeffs) < 1:
        raise ValueError("waverec needs at least the approximation coefficients.")
    a = coeffs[0]
    fb = wavelet if isinstance(wavelet, LearnableWavelet) else get_filter_bank(wavelet)
    if len(coeffs) == 1:
        if a is None:
            raise ValueError("waverec got only a None approximation.")
        return _crop(_as_float_tensor(a), shape) if shape is not None else _as_float_tensor(a)
    for level_details in coeffs[1:]:
        level_details = dict(level_details or {})
        ref = next((v for v in level_details.values() if v is not None), None)
        if ref is None and a is None:
            continue
        d = len(next(iter(level_details))) if level_details else (spatial_dims or a.ndim - 2)
        if a is not None and ref is not None:
            a = _as_float_tensor(a)
            d_shape = tuple(ref.shape[-d:])
            a_shape = tuple(a.shape[-d:])
            if a_shape != d_shape:
                if all(0 <= s - t <= 1 for s, t in zip(a_shape, d_shape)):
                    a = _crop(a, d_shape)
                else:
                    raise ValueError(
                        f"Approximation of spatial shape {a_shape} does not fit details of shape {d_shape}; "
                        f"coefficients must come from one wavedec call."
                    )
        level_details["a" * d] = a
        a = idwt(level_details, fb, mode=mode, spatial_dims=d)
    if shape is not None:
        a = _crop(a, shape)
    return a
