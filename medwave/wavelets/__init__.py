"""Exact, fast, differentiable 1-3D discrete wavelet transforms (PyWavelets-compatible)."""

from medwave.wavelets.dtcwt import BIORT_NAMES, QSHIFT_NAMES, DtcwtPyramid, dtcwt_forward, dtcwt_inverse
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
from medwave.wavelets.packets import iwavelet_packet, packet_names, wavelet_packet, wavelet_packet_packed
from medwave.wavelets.radiomics import radiomics_wavelet, radiomics_wavelet_names
from medwave.wavelets.stationary import iswt, iswt_packed, swt, swt_max_level, swt_packed

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
    "swt",
    "iswt",
    "swt_packed",
    "iswt_packed",
    "swt_max_level",
    "radiomics_wavelet",
    "radiomics_wavelet_names",
    "wavelet_packet",
    "wavelet_packet_packed",
    "iwavelet_packet",
    "packet_names",
    "DtcwtPyramid",
    "dtcwt_forward",
    "dtcwt_inverse",
    "BIORT_NAMES",
    "QSHIFT_NAMES",
]
