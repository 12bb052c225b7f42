"""MONAI transforms built on the wavelet core (array and dictionary forms).

* :class:`WaveletDecompose` / :class:`WaveletReconstruct`: multi-level decomposition into channels on
  the coarsest grid (invertible, affine updated), and back.
* :class:`WaveletDenoise`: BayesShrink / VisuShrink shrinkage, as ``skimage.restoration.denoise_wavelet``;
  thin over :func:`medwave.denoise.denoise_volume`, the core behind ``medwave.denoise()`` and ``medwave denoise``.
* :class:`RandWaveletHighFreqDropout`: random removal of detail subbands (augmentation).
* :class:`WaveletSWT` / :class:`WaveletPacket` / :class:`DTCWT` (and ``...d``): stationary transform, wavelet packets
  and the dual-tree complex wavelet transform as channels, invertible.
"""

from medwave.transforms.array import RandWaveletHighFreqDropout, WaveletDecompose, WaveletDenoise, WaveletReconstruct
from medwave.denoise.shrinkage import denoise_volume, estimate_noise_sigma, wavelet_thresholds
from medwave.transforms.dictionary import (
    RandWaveletHighFreqDropoutd,
    RandWaveletHighFreqDropoutD,
    RandWaveletHighFreqDropoutDict,
    WaveletDecomposed,
    WaveletDecomposeD,
    WaveletDecomposeDict,
    WaveletDenoised,
    WaveletDenoiseD,
    WaveletDenoiseDict,
    WaveletReconstructd,
    WaveletReconstructD,
    WaveletReconstructDict,
)
from medwave.transforms.multiscale import (
    DTCWT,
    DTCWTd,
    WaveletPacket,
    WaveletPacketd,
    WaveletSWT,
    WaveletSWTd,
    dtcwt_channel_names,
    swt_channel_names,
)
from medwave.transforms.wavelet import decomposed_channel_names, wavelet_decompose, wavelet_reconstruct

__all__ = [
    "WaveletSWT",
    "DTCWT",
    "DTCWTd",
    "dtcwt_channel_names",
    "WaveletSWTd",
    "WaveletPacket",
    "WaveletPacketd",
    "swt_channel_names",
    "WaveletDecompose",
    "WaveletReconstruct",
    "WaveletDenoise",
    "RandWaveletHighFreqDropout",
    "WaveletDecomposed",
    "WaveletDecomposeD",
    "WaveletDecomposeDict",
    "WaveletReconstructd",
    "WaveletReconstructD",
    "WaveletReconstructDict",
    "WaveletDenoised",
    "WaveletDenoiseD",
    "WaveletDenoiseDict",
    "RandWaveletHighFreqDropoutd",
    "RandWaveletHighFreqDropoutD",
    "RandWaveletHighFreqDropoutDict",
    "denoise_volume",
    "estimate_noise_sigma",
    "wavelet_thresholds",
    "wavelet_decompose",
    "wavelet_reconstruct",
    "decomposed_channel_names",
]
