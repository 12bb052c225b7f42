"""GUI-free wavelet decomposition/reconstruction of layer arrays (used by the wavelet widget).

The work is :func:`medwave.wavelets.dwt` one level at a time and :func:`medwave.wavelets.waverec` one
level at a time, written as generators that yield after each level so a napari ``thread_worker`` can
show progress and stop between levels. The coefficient layout is PyWavelets' ``wavedecn`` list
``[cA_n, {details_n}, ..., {details_1}]``; arrays are ``(*lead, *spatial)`` with the leading axes (time,
channels) transformed independently.

Example:
    >>> import numpy as np
    >>> from medwave.napari._wavelet import decompose, reconstruct, run
    >>> x = np.random.default_rng(0).random((9, 10, 11)).astype(np.float32)
    >>> coeffs = run(decompose(x, "db2", level=2))
    >>> bool(np.allclose(run(reconstruct(coeffs, "db2", shape=x.shape)), x, atol=1e-5))
    True
"""

from __future__ import annotations

from typing import Any, Generator, Optional, Sequence

import numpy as np

__all__ = [
    "band_placement",
    "decompose",
    "reconstruct",
    "run",
    "to_tiled",
    "from_tiled",
]

Coeffs = list  # [cA_n, {details_n}, ..., {details_1}] of numpy arrays


def run(gen: Generator[int, None, Any]) -> Any:
    """Drive a progress generator to the end and return its value (for scripts and tests)."""
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def _as_batch(arr: np.ndarray, spatial_dims: int):
    import torch

    arr = np.asarray(arr)
    lead = arr.shape[: arr.ndim - spatial_dims]
    dtype = np.float64 if arr.dtype == np.float64 else np.float32
    x = torch.from_numpy(np.ascontiguousarray(arr, dtype=dtype)).reshape((-1, 1) + arr.shape[arr.ndim - spatial_dims :])
    return x, lead


def decompose(
    array: np.ndarray,
    wavelet: str = "haar",
    *,
    mode: str = "symmetric",
    level: int = 1,
    spatial_dims: Optional[int] = None,
) -> Generator[int, None, Coeffs]:
    """Multi-level DWT of the last ``spatial_dims`` axes, one :func:`medwave.wavelets.dwt` per level.

    Yields the number of levels done; returns the ``wavedecn``-style list of numpy arrays.

    Raises:
        ValueError: ``level`` is out of range for the shape and wavelet (message says the maximum).
    """
    from medwave.wavelets import dwt, dwt_max_level

    array = np.asarray(array)
    d = spatial_dims or min(array.ndim, 3)
    spatial = array.shape[array.ndim - d :]
    max_level = dwt_max_level(spatial, wavelet)
    if not 1 <= level <= max(max_level, 1):
        raise ValueError(
            f"level={level} is out of range for an image of spatial shape {spatial} with wavelet {wavelet!r}: "
            f"use 1..{max(max_level, 1)}."
        )
    x, lead = _as_batch(array, d)
    details = []
    a = x
    for i in range(level):
        c = dwt(a, wavelet, mode=mode, spatial_dims=d)
        a = c.pop("a" * d)
        details.append({k: v.reshape(lead + tuple(v.shape[2:])).numpy().copy() for k, v in c.items()})
        yield i + 1
    approx = a.reshape(lead + tuple(a.shape[2:])).numpy().copy()
    return [approx] + details[::-1]


def reconstruct(
    coeffs: Sequence[Any], wavelet: str = "haar", *, mode: str = "symmetric", shape: Optional[Sequence[int]] = None
) -> Generator[int, None, np.ndarray]:
    """Inverse of :func:`decompose`, one :func:`medwave.wavelets.waverec` level at a time.

    Args:
        coeffs: ``[cA_n, {details_n}, ..., {details_1}]`` (numpy arrays; edited bands are fine).
        wavelet: The wavelet used to decompose.
        mode: The signal extension mode used to decompose.
        shape: The spatial shape of the original image (odd sizes are cropped back exactly).

    Yields the number of levels done; returns the reconstruction ``(*lead, *spatial)``.
    """
    import torch

    from medwave.wavelets import waverec

    if len(coeffs) < 2:
        raise ValueError("Need an approximation and at least one level of details to reconstruct.")
    d = len(next(iter(coeffs[1])))
    lead = np.asarray(coeffs[0]).shape[: np.asarray(coeffs[0]).ndim - d]

    def t(v: Any) -> Any:
        if v is None:
            return None
        v = np.asarray(v)
        return torch.from_numpy(np.ascontiguousarray(v)).reshape((-1, 1) + v.shape[v.ndim - d :])

    a = t(coeffs[0])
    n = len(coeffs) - 1
    for i, det in enumerate(coeffs[1:]):
        last = i == n - 1
        a = waverec(
            [a, {k: t(v) for k, v in det.items()}],
            wavelet,
            mode=mode,
            spatial_dims=d,
            shape=tuple(shape)[-d:] if (last and shape is not None) else None,
        )
        yield i + 1
    out = a.reshape(tuple(lead) + tuple(a.shape[2:])).numpy()
    return out


def band_placement(
    level: int, wavelet: str, scale: Sequence[float], translate: Sequence[float], spatial_dims: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(scale, translate)`` that lay a level-``level`` subband over its source layer.

    Coefficient ``i`` of the analysis filter (length ``F``) at level ``l`` sits at source sample
    ``2**l * i + (3 - F) / 2 * (2**l - 1)`` (exact for the low-pass centre; Haar: the middle of its block).
    Leading (non-spatial) axes keep their scale and translate.
    """
    import pywt

    f = pywt.Wavelet(wavelet).dec_len
    c = (3 - f) / 2 * (2**level - 1)
    scale = list(map(float, scale))
    translate = list(map(float, translate))
    n = len(scale)
    for ax in range(n - spatial_dims, n):
        translate[ax] = translate[ax] + scale[ax] * c
        scale[ax] = scale[ax] * 2**level
    return tuple(scale), tuple(translate)


def to_tiled(coeffs: Coeffs, spatial_dims: int) -> tuple[np.ndarray, Any]:
    """All subbands in one array, PyWavelets' ``coeffs_to_array`` layout (approximation in the corner).

    Returns:
        ``(array (*lead, *tiled), slices)``; ``slices`` goes to :func:`from_tiled`.
    """
    import pywt

    axes = tuple(range(-spatial_dims, 0))
    arr, slices = pywt.coeffs_to_array(coeffs, axes=axes)
    return arr, slices


def from_tiled(array: np.ndarray, slices: Any) -> Coeffs:
    """Inverse of :func:`to_tiled`."""
    import pywt

    return pywt.array_to_coeffs(np.asarray(array), slices, output_format="wavedecn")
