"""Wavelet shrinkage for the MONAI transforms: the functional core lives in :mod:`medwave.denoise`.

:class:`~medwave.transforms.WaveletDenoise` / :class:`~medwave.transforms.WaveletDenoised` are thin
wrappers of :func:`medwave.denoise.denoise_volume`; these names are re-exported here so that the transforms
and older code (``from medwave.transforms.denoise import denoise_volume``) keep one implementation.
"""

from __future__ import annotations

from medwave.denoise.shrinkage import (
    DenoiseMethod,
    Shrinkage,
    ThresholdMode,
    check_denoise_levels,
    denoise_volume,
    estimate_noise_sigma,
    median_abs_nonzero,
    wavelet_shrinkage,
    wavelet_thresholds,
)

__all__ = [
    "denoise_volume",
    "wavelet_shrinkage",
    "Shrinkage",
    "estimate_noise_sigma",
    "wavelet_thresholds",
    "check_denoise_levels",
    "median_abs_nonzero",
    "DenoiseMethod",
    "ThresholdMode",
]
