"""Multi-level wavelet decomposition of an image into channels on the coarsest grid, and back.

The functional core behind :class:`~medwave.transforms.WaveletDecompose` and
:class:`~medwave.transforms.WaveletReconstruct`.

Channel layout (for ``d`` spatial axes and ``L`` levels, ``K = 2**d`` subbands per level): every
input channel ``c`` becomes the ``2**(d*L)`` output channels ``c * 2**(d*L) + j``, ``j`` running over

1. ``a...a`` of level ``L`` (1 channel),
2. the details of level ``L`` in PyWavelets' key order (``subband_keys(d)[1:]``: ``'aad', 'ada', ...,
   'ddd'``), ``K - 1`` channels,
3. the details of level ``L-1``, key by key, each *space-to-depth* rearranged by a factor 2 per axis
   (``2**d`` phase channels per key, the phase offset along the first spatial axis varying slowest,
   the order of :func:`torch.nn.functional.pixel_unshuffle`), ``(K - 1) * 2**d`` channels,
4. ... down to level 1 (factor ``2**(L-1)`` per axis).

Bands that are not an exact multiple of the coarsest grid (odd sizes, boundary modes other than
``periodization``) are zero-padded at the end before the rearrangement and cropped back on the way
in, so decomposition followed by reconstruction is exact for any shape and mode. With
``periodization`` and sizes divisible by ``2**L`` the channels hold exactly as many numbers as the
input (an orthogonal transform for orthogonal wavelets).

Example:
    >>> import torch
    >>> from medwave.transforms.wavelet import wavelet_decompose, wavelet_reconstruct
    >>> x = torch.randn(2, 9, 10, 11)          # (C, *spatial)
    >>> y, info = wavelet_decompose(x, spatial_dims=3, wavelet="haar", levels=2, mode="symmetric")
    >>> y.shape                                # 2 channels * 2**(3*2)
    torch.Size([128, 3, 3, 3])
    >>> torch.allclose(wavelet_reconstruct(y, **info), x, atol=1e-5)
    True
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

from medwave.wavelets import coeff_shape, dwt_max_level, dwt_packed, get_filter_bank, idwt_packed, subband_keys
from medwave.wavelets.modes import check_mode

__all__ = ["wavelet_decompose", "wavelet_reconstruct", "decomposition_shapes", "decomposed_channel_names", "coarse_grid_affine"]


def decomposition_shapes(spatial: Sequence[int], wavelet, levels: int, mode: str) -> list[tuple[int, ...]]:
    """Spatial shapes ``[s_0 (input), s_1, ..., s_L]`` of the approximations at each level."""
    shapes = [tuple(int(s) for s in spatial)]
    for _ in range(levels):
        shapes.append(coeff_shape(shapes[-1], wavelet, mode))
    return shapes


def _space_to_depth(x: torch.Tensor, f: int, d: int, target: Sequence[int]) -> torch.Tensor:
    """``(N, *s)`` zero-padded to ``f * target`` then rearranged to ``(N, f**d, *target)``."""
    n = x.shape[0]
    s = tuple(x.shape[1:])
    full = tuple(f * t for t in target)
    if s != full:
        pad = x.new_zeros((n,) + full)
        pad[(slice(None),) + tuple(slice(0, k) for k in s)] = x
        x = pad
    if f == 1:
        return x.unsqueeze(1)
    shape = [n]
    for t in target:
        shape += [t, f]
    v = x.reshape(shape)
    # axes: 0=n, 1+2i = t_i, 2+2i = f_i -> (n, f_1..f_d, t_1..t_d)
    perm = [0] + [2 + 2 * i for i in range(d)] + [1 + 2 * i for i in range(d)]
    return v.permute(perm).reshape((n, f**d) + tuple(target))


def _depth_to_space(x: torch.Tensor, f: int, d: int, crop: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`_space_to_depth`: ``(N, f**d, *t)`` to ``(N, *crop)``."""
    n = x.shape[0]
    target = tuple(x.shape[2:])
    if f == 1:
        y = x[:, 0]
    else:
        v = x.reshape((n,) + (f,) * d + target)
        # (n, f_1..f_d, t_1..t_d) -> (n, t_1, f_1, ..., t_d, f_d)
        perm = [0]
        for i in range(d):
            perm += [1 + d + i, 1 + i]
        y = v.permute(perm).reshape((n,) + tuple(f * t for t in target))
    return y[(slice(None),) + tuple(slice(0, k) for k in crop)]


def decomposed_channel_names(spatial_dims: int, levels: int) -> list[str]:
    """Names of the ``2**(d*L)`` channels per input channel, e.g. ``'L2:aaa'``, ``'L1:aad[0,1,1]'``."""
    d, L = spatial_dims, levels
    keys = subband_keys(d)
    names = [f"L{L}:{keys[0]}"] + [f"L{L}:{k}" for k in keys[1:]]
    for lev in range(L - 1, 0, -1):
        f = 2 ** (L - lev)
        phases = list(np.ndindex(*(f,) * d))
        for k in keys[1:]:
            names += [f"L{lev}:{k}[{','.join(str(p) for p in ph)}]" for ph in phases]
    return names


def coarse_grid_affine(levels: int, spatial_dims: int) -> np.ndarray:
    """Voxel-to-voxel map of the coarsest grid: ``i_fine = 2**L * i_coarse + (2**L - 1) / 2``.

    Each coarse voxel sits at the centre of the ``2**L`` block of input voxels it summarises (as for
    MONAI's integer down-sampling), so ``new_affine = affine @ coarse_grid_affine(L, d)``.
    """
    f = float(2**levels)
    m = np.eye(spatial_dims + 1)
    for i in range(spatial_dims):
        m[i, i] = f
        m[i, -1] = (f - 1.0) / 2.0
    return m


def wavelet_decompose(
    x: torch.Tensor,
    *,
    spatial_dims: Optional[int] = None,
    wavelet: str = "haar",
    levels: int = 1,
    mode: str = "periodization",
) -> tuple[torch.Tensor, dict]:
    """Decompose ``(..., C, *spatial)`` into ``(..., C * 2**(d*L), *coarse)`` (layout in the module doc).

    Args:
        x: Tensor with a channel axis right before the ``spatial_dims`` spatial axes.
        spatial_dims: Number of spatial axes (default ``x.ndim - 1``).
        wavelet: Any discrete PyWavelets wavelet name.
        levels: Decomposition levels ``L >= 1``.
        mode: Boundary mode (PyWavelets' meaning). ``periodization`` keeps the number of values.

    Returns:
        ``(channels, info)``; ``info`` holds what :func:`wavelet_reconstruct` needs
        (``spatial_dims``, ``wavelet``, ``levels``, ``mode``, ``spatial_size``).

    Raises:
        ValueError: ``levels < 1`` or a bad ``spatial_dims``.
        UserWarning: ``levels`` deeper than ``pywt.dwtn_max_level`` (PyWavelets warns the same way).
    """
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    if spatial_dims is None:
        spatial_dims = x.ndim - 1
    d = int(spatial_dims)
    if d not in (1, 2, 3) or x.ndim < d + 1:
        raise ValueError(
            f"Expected a channel-first tensor (C, *spatial) with 1-3 spatial axes, got shape {tuple(x.shape)} "
            f"with spatial_dims={spatial_dims}."
        )
    check_mode(mode)
    fb = get_filter_bank(wavelet)
    levels = int(levels)
    spatial = tuple(int(s) for s in x.shape[-d:])
    max_level = dwt_max_level(spatial, fb)
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}.")
    if levels > max(max_level, 1):
        import warnings

        warnings.warn(
            f"levels={levels} is deeper than useful for spatial shape {spatial} with wavelet {fb.name!r} (at most "
            f"{max(max_level, 1)} by PyWavelets' rule); the result is still exactly invertible.",
            UserWarning,
            stacklevel=2,
        )
    if not x.is_floating_point():
        x = x.float()
    lead = tuple(x.shape[: x.ndim - d])
    flat = x.reshape((-1,) + spatial)
    n = flat.shape[0]
    K = 2**d
    packs = []
    a = flat
    for _ in range(levels):
        p = dwt_packed(a, fb, mode=mode, spatial_dims=d)  # (n, K, *coarse)
        packs.append(p)
        a = p[:, 0]
    coarse = tuple(packs[-1].shape[2:])
    parts = [packs[-1]]  # a_L and level-L details
    for lev in range(levels - 1, 0, -1):  # level index lev (1 = finest), packs[lev - 1]
        f = 2 ** (levels - lev)
        det = packs[lev - 1][:, 1:]  # (n, K-1, *s_lev)
        s2d = _space_to_depth(det.reshape((n * (K - 1),) + tuple(det.shape[2:])), f, d, coarse)
        parts.append(s2d.reshape((n, (K - 1) * f**d) + coarse))
    out = torch.cat(parts, dim=1)  # (n, 2**(dL), *coarse)
    out = out.reshape(lead[:-1] + (lead[-1] * 2 ** (d * levels),) + coarse) if lead else out[0]
    info = {"spatial_dims": d, "wavelet": fb.name, "levels": levels, "mode": mode, "spatial_size": spatial}
    return out, info


def wavelet_reconstruct(
    y: torch.Tensor,
    *,
    spatial_dims: Optional[int] = None,
    wavelet: str = "haar",
    levels: int = 1,
    mode: str = "periodization",
    spatial_size: Optional[Sequence[int]] = None,
) -> torch.Tensor:
    """Inverse of :func:`wavelet_decompose`: ``(..., C * 2**(d*L), *coarse)`` to ``(..., C, *spatial)``.

    Args:
        y: Decomposed channels.
        spatial_dims, wavelet, levels, mode: As given to :func:`wavelet_decompose`.
        spatial_size: The original spatial shape. Without it the largest shape consistent with the
            coefficients is used (``2 * n`` per level for ``periodization``, PyWavelets' ``idwt`` length
            ``2 * n - filter_length + 2`` otherwise), which is exact for sizes divisible by ``2**L``
            in ``periodization`` mode.
    """
    if not isinstance(y, torch.Tensor):
        y = torch.as_tensor(np.asarray(y))
    if spatial_dims is None:
        spatial_dims = y.ndim - 1
    d = int(spatial_dims)
    check_mode(mode)
    fb = get_filter_bank(wavelet)
    levels = int(levels)
    K = 2**d
    per = 2 ** (d * levels)
    coarse = tuple(int(s) for s in y.shape[-d:])
    lead = tuple(y.shape[: y.ndim - d])
    if not lead or lead[-1] % per:
        raise ValueError(
            f"Cannot reconstruct from shape {tuple(y.shape)}: the channel axis must hold a multiple of "
            f"2**(spatial_dims*levels) = {per} channels (spatial_dims={d}, levels={levels})."
        )
    if spatial_size is not None:
        shapes = decomposition_shapes(spatial_size, fb, levels, mode)
        if tuple(shapes[-1]) != coarse:
            raise ValueError(
                f"spatial_size={tuple(spatial_size)} gives a coarsest grid {shapes[-1]} after {levels} level(s), "
                f"but the channels are on {coarse}; pass the original image's spatial shape."
            )
    else:
        shapes = [coarse]
        for _ in range(levels):
            if mode == "periodization":
                shapes.insert(0, tuple(2 * s for s in shapes[0]))
            else:
                shapes.insert(0, tuple(2 * s - fb.length + 2 for s in shapes[0]))
    if not y.is_floating_point():
        y = y.float()
    n = int(np.prod(lead[:-1], dtype=np.int64)) * (lead[-1] // per)
    flat = y.reshape((n, per) + coarse)
    rec = None
    pos = K
    top = flat[:, :K]
    details: list[torch.Tensor] = [None] * (levels + 1)  # type: ignore[list-item]
    details[levels] = top[:, 1:]
    for lev in range(levels - 1, 0, -1):
        f = 2 ** (levels - lev)
        m = (K - 1) * f**d
        block = flat[:, pos : pos + m].reshape((n * (K - 1), f**d) + coarse)
        pos += m
        band = _depth_to_space(block, f, d, shapes[lev])
        details[lev] = band.reshape((n, K - 1) + tuple(shapes[lev]))
    rec = top[:, 0]
    for lev in range(levels, 0, -1):
        s_lev = tuple(shapes[lev])
        a = rec[(slice(None),) + tuple(slice(0, k) for k in s_lev)]
        packed = torch.cat([a.unsqueeze(1), details[lev]], dim=1)
        rec = idwt_packed(packed, fb, mode=mode, spatial_dims=d)
    out = rec[(slice(None),) + tuple(slice(0, k) for k in shapes[0])]
    return out.reshape(lead[:-1] + (lead[-1] // per,) + tuple(shapes[0]))
