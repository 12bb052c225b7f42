"""Wavelet shrinkage denoising (BayesShrink / VisuShrink) and its front door :func:`medwave.denoise`.

* :func:`denoise` (``medwave.denoise``): whole images from any input, a :class:`DenoiseResult` with ``.save()``;
  what ``medwave denoise`` and ``medwave batch denoise`` call.
* :func:`denoise_volume` / :func:`wavelet_shrinkage`: the functional core on arrays and tensors (batched over
  leading axes), as ``skimage.restoration.denoise_wavelet``; the MONAI transforms wrap it.

This package imports torch and the wavelet core, never MONAI (``medwave denoise`` starts without it).
"""

from medwave.denoise.api import DenoiseResult, denoise
from medwave.denoise.shrinkage import (
    DenoiseMethod,
    Shrinkage,
    ThresholdMode,
    check_denoise_levels,
    check_options,
    denoise_volume,
    estimate_noise_sigma,
    wavelet_shrinkage,
    wavelet_thresholds,
)

__all__ = [
    "denoise",
    "DenoiseResult",
    "denoise_volume",
    "wavelet_shrinkage",
    "Shrinkage",
    "estimate_noise_sigma",
    "wavelet_thresholds",
    "check_denoise_levels",
    "check_options",
    "DenoiseMethod",
    "ThresholdMode",
]


class _CallablePackage(type(__import__("sys"))):
    """The package is also the front door: ``medwave.denoise(image, ...)`` calls :func:`denoise`.

    ``medwave.denoise`` names this package (Python binds a package to its parent's attribute on import), so the
    package itself is made callable rather than letting the function and the package fight over one name.
    """

    def __call__(self, image, **kwargs) -> DenoiseResult:  # noqa: D102 (the signature is denoise's)
        return denoise(image, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallablePackage
