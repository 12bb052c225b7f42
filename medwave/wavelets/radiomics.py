"""PyRadiomics' wavelet image type: the undecimated subbands PyRadiomics computes features on, with its names.

PyRadiomics (``radiomics.imageoperations.getWaveletImage``) documents its wavelet filter as a stationary
wavelet transform of the whole volume with ``pywt.swtn``; what it does, and what this module reproduces:

* every axis of odd length is padded by one sample, the axis' first sample repeated at its end (numpy's
  ``'wrap'`` padding);
* each level is a *one-level* ``swtn`` with ``start_level=0`` (the filters are not upsampled from level to
  level, unlike ``pywt.swtn`` with ``level > 1``) of the previous level's approximation; ``start_level``
  levels are computed and dropped first;
* the detail subbands of each of the ``level`` levels and the last approximation are cropped back to the
  input's shape;
* names: ``'wavelet-' + key`` for the first level kept, ``'wavelet<k>-' + key`` for the ``k``-th, and the last
  approximation ``'wavelet-LLL'`` (one level) or ``'wavelet<level>-LLL'``, where ``key`` has ``'L'``/``'H'``
  for ``'a'``/``'d'`` and lists the axes in (x, y, z) order: PyRadiomics transforms SimpleITK's ``(z, y, x)``
  array over the axes ``(2, 1, 0)``.

Example:
    >>> import torch
    >>> from medwave.wavelets import radiomics_wavelet
    >>> bands = radiomics_wavelet(torch.randn(1, 1, 9, 10, 11), wavelet="coif1", level=1)
    >>> list(bands)[:3], bands["wavelet-LLH"].shape
    (['wavelet-LLH', 'wavelet-LHL', 'wavelet-LHH'], torch.Size([1, 1, 9, 10, 11]))
"""

from __future__ import annotations

from typing import Literal, Optional

import torch

from medwave.wavelets.filters import WaveletLike
from medwave.wavelets.functional import _as_float_tensor, _check_finite, _resolve_dims, subband_keys
from medwave.wavelets.stationary import swt_packed

__all__ = ["radiomics_wavelet", "radiomics_wavelet_names"]


def _name_key(key: str, layout: str) -> str:
    letters = key.replace("a", "L").replace("d", "H")
    return letters[::-1] if layout == "zyx" else letters


def radiomics_wavelet_names(spatial_dims: int = 3, level: int = 1, *, layout: Literal["xyz", "zyx"] = "xyz") -> list[str]:
    """The image type names PyRadiomics gives the subbands, in the order it yields them."""
    keys = subband_keys(spatial_dims)
    # PyRadiomics transforms its (z, y, x) array over axes (x, y, z): its key order is ours read in (x, y, z)
    order = keys if layout == "xyz" else sorted(keys, key=lambda k: k[::-1])
    names = []
    for idx in range(1, level + 1):
        prefix = "wavelet-" if idx == 1 else f"wavelet{idx}-"
        names += [prefix + _name_key(k, layout) for k in order if k != keys[0]]
    names.append(("wavelet-" if level == 1 else f"wavelet{level}-") + "L" * spatial_dims)
    return names


def radiomics_wavelet(
    x: torch.Tensor,
    *,
    wavelet: WaveletLike = "coif1",
    level: int = 1,
    start_level: int = 0,
    spatial_dims: Optional[int] = None,
    layout: Literal["xyz", "zyx"] = "xyz",
    check_finite: bool = True,
) -> dict[str, torch.Tensor]:
    """The images of PyRadiomics' wavelet image type (settings ``wavelet``, ``level``, ``start_level``).

    Args:
        x: ``(B, C, *spatial)`` tensor (PyRadiomics' force2D: ``spatial_dims=2``).
        wavelet: PyRadiomics' ``wavelet`` setting (default ``'coif1'``, as PyRadiomics).
        level: Number of levels whose subbands are returned.
        start_level: Levels computed and dropped before the first returned one.
        spatial_dims: Number of trailing axes to transform (default ``x.ndim - 2``).
        layout: ``'xyz'`` when the spatial axes are (x, y, z) (nibabel, MONAI, medwave), ``'zyx'`` when they are
            SimpleITK's array order (``sitk.GetArrayFromImage``); it decides only which letter is which axis.
        check_finite: Raise on NaN/Inf input.

    Returns:
        ``{'wavelet-LLH': ..., ..., 'wavelet-LLL': ...}`` in PyRadiomics' order, each of ``x``'s shape.
    """
    if layout not in ("xyz", "zyx"):
        raise ValueError(f"layout must be 'xyz' or 'zyx', got {layout!r}.")
    if level < 1 or start_level < 0:
        raise ValueError(f"PyRadiomics' wavelet filter needs level >= 1 and start_level >= 0, got {level}, {start_level}.")
    x = _as_float_tensor(x)
    d = _resolve_dims(x, spatial_dims)
    if check_finite:
        _check_finite(x)
    spatial = tuple(int(s) for s in x.shape[-d:])
    data = x
    for i, n in enumerate(spatial):
        if n % 2:
            dim = x.ndim - d + i
            data = torch.cat([data, data.narrow(dim, 0, 1)], dim=dim)
    crop = (...,) + tuple(slice(0, n) for n in spatial)
    keys = subband_keys(d)
    band_axis = x.ndim - d
    for _ in range(start_level):
        data = swt_packed(data, wavelet, level=1, spatial_dims=d, check_finite=False)[0].select(band_axis, 0)
    out: dict[str, torch.Tensor] = {}
    by_name = {}
    for idx in range(1, level + 1):
        packed = swt_packed(data, wavelet, level=1, spatial_dims=d, check_finite=False)[0]
        prefix = "wavelet-" if idx == 1 else f"wavelet{idx}-"
        for i, k in enumerate(keys[1:], start=1):
            by_name[prefix + _name_key(k, layout)] = packed.select(band_axis, i)[crop]
        data = packed.select(band_axis, 0)
    by_name[("wavelet-" if level == 1 else f"wavelet{level}-") + "L" * d] = data[crop]
    for name in radiomics_wavelet_names(d, level, layout=layout):
        out[name] = by_name[name]
    return out
