"""Exact, fast, differentiable 1-3D discrete wavelet transforms (PyWavelets-compatible)."""

from medwave.wavelets.filters import DISCRETE_WAVELETS, FilterBank, get_filter_bank
from medwave.wavelets.functional import (
    coeff_shape,
    dwt,
    dwt_lowpass,
    dwt_max_level,
    dwt_packed,
    idwt,
    idwt_packed,
    subband_keys,
    wavedec,
    waverec,
)
from medwave.wavelets.layers import DWT, IDWT, DWTPool
from medwave.wavelets.learnable import LearnableWavelet
from medwave.wavelets.modes import MODES, Mode

__all__ = [
    "DWT",
    "IDWT",
    "DWTPool",
    "LearnableWavelet",
    "DISCRETE_WAVELETS",
    "FilterBank",
    "get_filter_bank",
    "MODES",
    "Mode",
    "coeff_shape",
    "dwt",
    "dwt_lowpass",
    "dwt_max_level",
    "dwt_packed",
    "idwt",
    "idwt_packed",
    "subband_keys",
    "wavedec",
    "waverec",
]
