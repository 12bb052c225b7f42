"""Wavelet shrinkage denoising (VisuShrink, BayesShrink) on torch tensors: the functional core.

This is the one implementation behind :func:`medwave.denoise` (the ``medwave denoise`` command, the
batch task), :class:`~medwave.transforms.WaveletDenoise` and the napari widget. It follows :func:`skimage.restoration.denoise_wavelet`
(same defaults, same noise estimate, thresholds and number of levels) so results agree with it,
but runs on the medwave wavelet core: any device, float32/float64, batched over leading axes.

Algorithm (Donoho & Johnstone 1994; Chang, Yu & Vetterli 2000):

* ``levels`` defaults to ``max(dwt_max_level(shape, wavelet) - 3, 1)`` (the coarsest scales are
  skipped, as scikit-image does);
* the noise standard deviation is ``median(|d|) / Phi^-1(0.75)`` over the non-zero coefficients
  of the finest all-detail band (``'dd'``/``'ddd'``), unless ``sigma`` is given;
* VisuShrink uses one universal threshold ``sigma * sqrt(2 log N)`` (``N`` voxels); BayesShrink uses
  ``sigma^2 / sqrt(max(mean(d^2) - sigma^2, eps))`` for every detail band of every level;
* soft (``sign(d) max(|d| - t, 0)``) or hard (``d`` where ``|d| >= t``, else 0) thresholding, the
  approximation band is kept.

Example:
    >>> import numpy as np
    >>> from medwave.denoise import denoise_volume
    >>> rng = np.random.default_rng(0)
    >>> clean = np.outer(np.hanning(64), np.hanning(64)).astype(np.float32)
    >>> noisy = clean + 0.05 * rng.standard_normal(clean.shape).astype(np.float32)
    >>> out = denoise_volume(noisy)
    >>> bool(np.mean((out - clean) ** 2) < np.mean((noisy - clean) ** 2) / 2)
    True
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch

from medwave.utils.errors import OptionError
from medwave.wavelets import DISCRETE_WAVELETS, MODES, dwt_max_level, dwt_packed, get_filter_bank, idwt_packed

__all__ = [
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

DenoiseMethod = Literal["BayesShrink", "VisuShrink"]
ThresholdMode = Literal["soft", "hard"]

class Shrinkage(NamedTuple):
    """What :func:`wavelet_shrinkage` returns.

    Attributes:
        denoised: The denoised image, same type (NumPy or torch), shape and device as the input.
        sigma: ``(N,)`` float64 tensor: the noise standard deviation used for each of the ``N`` images
            (the leading axes flattened), estimated or given.
        levels: The number of decomposition levels used.
    """

    denoised: Any
    sigma: torch.Tensor
    levels: int


# scipy.stats.norm.ppf(0.75): the 75th percentile of |N(0, 1)|.
_PHI_INV_075 = 0.6744897501960817


def median_abs_nonzero(v: torch.Tensor) -> float:
    """``numpy.median(|v[v != 0]|)`` of a 1-D tensor without building the masked copy.

    The ``z`` zeros sort first among ``|v|``, so the median of the ``m`` non-zero values is the
    order statistic of rank ``z + (m + 1) // 2`` (mean with the next one when ``m`` is even). On CPU
    one in-place ``numpy.partition`` (introselect) finds it; on other devices ``torch.kthvalue``.
    """
    if v.device.type == "cpu":
        a = np.abs(v.detach().numpy())
        m = int(np.count_nonzero(a))
        if m == 0:
            return 0.0
        k = a.size - m + (m + 1) // 2  # 1-based rank
        a.partition(k - 1)
        lo = float(a[k - 1])
        return lo if m % 2 else 0.5 * (lo + float(a[k:].min()))
    a = v.detach().abs()
    m = int(torch.count_nonzero(a))
    if m == 0:
        return 0.0
    k = a.numel() - m + (m + 1) // 2
    lo = torch.kthvalue(a, k).values
    if m % 2:
        return float(lo)
    hi = torch.kthvalue(a, k + 1).values
    return float(0.5 * (lo + hi))


def estimate_noise_sigma(finest_diagonal: torch.Tensor) -> torch.Tensor:
    """Robust noise sigma per image from the finest all-detail band: ``median(|d != 0|) / 0.6745``.

    This is scikit-image's estimate (``_sigma_est_dwt``, Donoho & Johnstone 1994, section 4.2).

    Args:
        finest_diagonal: ``(N, *coarse)`` band (one row per image).

    Returns:
        ``(N,)`` float64 tensor (0 where the band is all zero).
    """
    flat = finest_diagonal.reshape(finest_diagonal.shape[0], -1)
    out = torch.empty(flat.shape[0], dtype=torch.float64)
    for i in range(flat.shape[0]):
        out[i] = median_abs_nonzero(flat[i]) / _PHI_INV_075
    return out


def _to_tensor(x) -> tuple[torch.Tensor, bool]:
    if isinstance(x, torch.Tensor):
        return (x.as_tensor() if hasattr(x, "as_tensor") else x), False
    return torch.as_tensor(np.ascontiguousarray(np.asarray(x))), True


def wavelet_thresholds(
    details: torch.Tensor,
    sigma: torch.Tensor,
    method: DenoiseMethod,
    n_voxels: int,
    norms: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Thresholds for the detail bands of one level.

    Args:
        details: ``(N, G, *coarse)`` detail bands (``G = 2**d - 1``).
        sigma: ``(N,)`` noise standard deviation.
        method: ``"BayesShrink"`` (one threshold per band) or ``"VisuShrink"`` (universal).
        n_voxels: Voxels per image (for VisuShrink).
        norms: Precomputed ``(N, G)`` L2 norms of the bands (saves a pass over them).

    Returns:
        ``(N, G)`` thresholds in ``details``' dtype.
    """
    n, g = details.shape[:2]
    sigma = sigma.to(device=details.device, dtype=torch.float64)
    if method == "VisuShrink":
        t = sigma * float(np.sqrt(2.0 * np.log(n_voxels)))
        return t[:, None].expand(n, g).to(details.dtype)
    var = sigma**2
    count = details[0, 0].numel()
    if norms is None:
        norms = torch.linalg.vector_norm(details.reshape(n, g, -1), ord=2, dim=-1)
    # Zero-mean details: mean(d^2) = var(d). One pass, pairwise float accumulation.
    dvar = norms.double().pow(2) / count
    eps = float(torch.finfo(details.dtype).eps)
    t = var[:, None] / torch.sqrt(torch.clamp(dvar - var[:, None], min=eps))
    return t.to(details.dtype)


def _shrink_(d: torch.Tensor, t: torch.Tensor, mode: str) -> None:
    """Threshold ``d`` (``(N, G, *coarse)``) in place with per-(N, G) thresholds ``t``."""
    tl = t.tolist()
    for i in range(d.shape[0]):
        for g in range(d.shape[1]):
            band, ti = d[i, g], float(tl[i][g])
            if mode == "soft":
                band.sub_(band.clamp(-ti, ti))  # d - clamp(d, -t, t) = sign(d) max(|d| - t, 0)
            else:
                band.masked_fill_(band.abs() < ti, 0)


def check_denoise_levels(
    spatial: Sequence[int],
    wavelet,
    levels: Optional[int],
    *,
    name: str = "the image",
) -> int:
    """Resolve and validate the number of decomposition levels for an image of spatial shape ``spatial``.

    A level halves every axis, so an image needs at least 2 voxels along each spatial axis. The
    deepest accepted level is ``max(dwt_max_level, floor(log2(min(spatial))))``: one level past
    PyWavelets' ``dwt_max_level`` (for long filters on short axes) is still accepted with a warning,
    as scikit-image does, but a level that would halve an axis below one voxel is an error.

    Args:
        spatial: Spatial shape.
        wavelet: Wavelet name or filter bank.
        levels: Requested levels, or None for the default ``max(max_level - 3, 1)``.
        name: How to call the image in messages (e.g. its file name).

    Returns:
        The number of levels to use.

    Raises:
        ValueError: The image is smaller than one level.
        OptionError: ``levels`` is < 1 or too deep (the message gives the maximum).

    Example:
        >>> check_denoise_levels((16, 16, 16), "db1", None)
        1
        >>> check_denoise_levels((16, 16, 16), "db1", 40)
        Traceback (most recent call last):
        ...
        medwave.utils.errors.OptionError: levels=40 is too deep for the image (16x16x16) with wavelet 'db1': at most 4 levels (each level halves every axis); use 4 or fewer, or leave it unset for the default.
    """
    spatial = tuple(int(n) for n in spatial)
    shape_txt = "x".join(str(n) for n in spatial)
    if not spatial or min(spatial) < 2:
        raise ValueError(
            f"{name} is {shape_txt}: smaller than one wavelet level (a level halves every axis, so each spatial axis "
            f"needs at least 2 voxels). Use a larger image."
        )
    fb = get_filter_bank(wavelet)
    max_level = dwt_max_level(spatial, fb)
    if levels is None:
        return max(max_level - 3, 1)
    levels = int(levels)
    if levels < 1:
        raise OptionError("levels", levels, ": the number of levels must be >= 1.")
    hard = max(max_level, int(np.floor(np.log2(min(spatial)))))
    if levels > hard:
        raise OptionError(
            "levels", levels, f" is too deep for {name} ({shape_txt}) with wavelet {fb.name!r}: at most {hard} levels "
            f"(each level halves every axis); use {hard} or fewer, or leave it unset for the default."
        )
    return levels


def check_options(
    *, wavelet: Any = "db1", method: str = "BayesShrink", mode: str = "soft", wavelet_mode: str = "symmetric",
    levels: Optional[int] = None,
) -> None:
    """Check the shrinkage options before any work (the one check behind the API, the CLI and batch).

    Raises:
        OptionError: An unknown method, threshold mode, boundary mode or wavelet, or ``levels < 1``.
    """
    if method not in ("BayesShrink", "VisuShrink"):
        raise OptionError("method", method, ": use 'BayesShrink' or 'VisuShrink'.")
    if mode not in ("soft", "hard"):
        raise OptionError("mode", mode, ": use 'soft' or 'hard' (the boundary mode is wavelet_mode).")
    if wavelet_mode not in MODES:
        raise OptionError("wavelet_mode", wavelet_mode, f" is not a boundary mode; use one of {', '.join(MODES)}.")
    if isinstance(wavelet, str) and wavelet not in DISCRETE_WAVELETS:
        raise OptionError("wavelet", wavelet, " is not a discrete wavelet; try db1, db2, sym4, coif1, bior2.2.")
    if levels is not None and int(levels) < 1:
        raise OptionError("levels", levels, ": the number of levels must be >= 1.")


def denoise_volume(
    x: Union[np.ndarray, torch.Tensor],
    *,
    wavelet: str = "db1",
    levels: Optional[int] = None,
    method: DenoiseMethod = "BayesShrink",
    mode: ThresholdMode = "soft",
    sigma: Optional[Union[float, Sequence[float], torch.Tensor]] = None,
    wavelet_mode: str = "symmetric",
    spatial_dims: Optional[int] = None,
):
    """Denoise 1-3D images by wavelet shrinkage (as ``skimage.restoration.denoise_wavelet``).

    The denoised image only, always; :func:`wavelet_shrinkage` takes the same arguments and also returns
    the noise sigma and the number of levels used. Arguments, errors: see :func:`wavelet_shrinkage`.

    Returns:
        The denoised image, same type (NumPy, torch or MONAI ``MetaTensor``), shape and device as ``x``.
    """
    return wavelet_shrinkage(x, wavelet=wavelet, levels=levels, method=method, mode=mode, sigma=sigma,
                             wavelet_mode=wavelet_mode, spatial_dims=spatial_dims).denoised


def wavelet_shrinkage(
    x: Union[np.ndarray, torch.Tensor],
    *,
    wavelet: str = "db1",
    levels: Optional[int] = None,
    method: DenoiseMethod = "BayesShrink",
    mode: ThresholdMode = "soft",
    sigma: Optional[Union[float, Sequence[float], torch.Tensor]] = None,
    wavelet_mode: str = "symmetric",
    spatial_dims: Optional[int] = None,
) -> Shrinkage:
    """Denoise 1-3D images by wavelet shrinkage (as ``skimage.restoration.denoise_wavelet``).

    Args:
        x: Array or tensor. The last ``spatial_dims`` axes are spatial; any leading axes (batch,
            channels) are independent images, each with its own noise estimate and thresholds. A MONAI
            MetaTensor is channel first (``spatial_dims`` defaults to ``ndim - 1``). A path, nibabel image
            or :class:`medwave.io.Image` is read by :func:`medwave.io.as_image` and a new ``Image`` on the
            same grid is returned (for whole images with their header and output files, use
            :func:`medwave.denoise`). The input is never modified.
            Float32/float64 are kept; other dtypes are computed and returned as float32 (values are
            *not* rescaled to [0, 1], unlike scikit-image for integer images).
        wavelet: Any discrete PyWavelets wavelet (orthogonal ones are what shrinkage assumes).
        levels: Decomposition levels; default ``max(max_level - 3, 1)`` as scikit-image.
        method: ``"BayesShrink"`` (adaptive per band, default) or ``"VisuShrink"`` (universal
            threshold; removes more, blurs more).
        mode: ``"soft"`` or ``"hard"`` thresholding.
        sigma: Noise standard deviation (a scalar, or one per leading image); estimated from the
            finest diagonal band when None.
        wavelet_mode: Boundary extension (PyWavelets' modes; scikit-image uses ``"symmetric"``).
        spatial_dims: Number of spatial axes; default all axes of a 1-3-D input (a 4-D+ input must
            say how many of its trailing axes are spatial).

    Returns:
        A :class:`Shrinkage` ``(denoised, sigma, levels)``: the denoised image (same type, NumPy, torch or
        MONAI ``MetaTensor``, shape and device as ``x``), the ``(N,)`` noise sigma used per image, the levels.

    Raises:
        ValueError: Unknown method/mode, complex or NaN/Inf input, an image smaller than one level
            (an axis under 2 voxels), ``levels < 1`` or deeper than halving allows (see
            :func:`check_denoise_levels`).
        UserWarning: ``levels`` deeper than ``dwt_max_level`` (as PyWavelets).
    """
    check_options(wavelet=wavelet, method=method, mode=mode, wavelet_mode=wavelet_mode)
    from medwave.io import Image, as_image
    from medwave.io.convert import is_path

    if is_path(x) or isinstance(x, Image) or (hasattr(x, "dataobj") and hasattr(x, "affine")):
        # files, medwave images and nibabel images: read by medwave.io.as_image (x first, a channel axis
        # last), denoised per channel, returned as a new Image on the same grid
        img = as_image(x, name="image")
        arr = np.asarray(img.array)
        vector = bool(img.meta.get("vector")) and arr.ndim >= 2
        work = np.moveaxis(arr, -1, 0) if vector else arr
        res = wavelet_shrinkage(work, wavelet=wavelet, levels=levels, method=method, mode=mode, sigma=sigma,
                                wavelet_mode=wavelet_mode, spatial_dims=(arr.ndim - 1) if vector else spatial_dims)
        y = np.moveaxis(res.denoised, 0, -1) if vector else res.denoised
        meta = {k: v for k, v in img.meta.items() if k != "header"}
        return Shrinkage(Image(y, affine=img.affine.copy(), meta=meta, path=None), res.sigma, res.levels)
    if spatial_dims is None and hasattr(x, "affine") and hasattr(x, "copy_meta_from") and x.ndim >= 2:
        spatial_dims = min(x.ndim - 1, 3)  # a MetaTensor is channel first (MONAI): (C, *spatial)
    t, was_numpy = _to_tensor(x)
    if spatial_dims is None:
        if t.ndim not in (1, 2, 3):
            raise ValueError(
                f"Cannot tell which axes of a {t.ndim}-D input of shape {tuple(t.shape)} are spatial; pass "
                f"spatial_dims=2 or 3 (leading axes are then denoised independently)."
            )
        spatial_dims = t.ndim
    d = int(spatial_dims)
    if d not in (1, 2, 3) or t.ndim < d:
        raise ValueError(f"spatial_dims must be 1, 2 or 3 and at most x.ndim={t.ndim}, got {spatial_dims}.")
    if t.is_complex():
        raise ValueError(
            f"The image is complex ({str(t.dtype).replace('torch.', '')}); wavelet shrinkage needs real values. Denoise "
            f"the magnitude (numpy.abs) or the real and imaginary parts separately."
        )
    if t.dtype == torch.bool:
        t = t.to(torch.float32)
    orig_dtype = t.dtype
    work_dtype = t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float32
    spatial = tuple(int(s) for s in t.shape[t.ndim - d :])
    lead = tuple(int(s) for s in t.shape[: t.ndim - d])
    if min(spatial) < 1:
        raise ValueError(f"Cannot denoise an empty image of shape {tuple(t.shape)}.")
    flat = t.reshape((-1,) + spatial).to(work_dtype)
    n_img = flat.shape[0]
    fb = get_filter_bank(wavelet)
    max_level = dwt_max_level(spatial, fb)
    levels = check_denoise_levels(spatial, fb, levels)
    if levels > max(max_level, 1):
        import warnings

        warnings.warn(
            f"levels={levels} is deeper than useful for an image of shape {spatial} with wavelet {fb.name!r} "
            f"(at most {max(max_level, 1)}); the coarsest levels are dominated by boundary effects. "
            f"(PyWavelets and scikit-image warn the same way.)",
            UserWarning,
            stacklevel=3,
        )

    with torch.no_grad():
        # Analysis: keep each level's packed coefficients; the approximation of level k feeds k+1.
        packs: list[torch.Tensor] = []
        a = flat
        for _ in range(levels):
            p = dwt_packed(a, fb, mode=wavelet_mode, spatial_dims=d, check_finite=False)  # (N, 2**d, *coarse)
            packs.append(p)
            a = p[:, 0]
        # NaN/Inf voxels: the transform is invertible, so each reaches some level-1 coefficient and
        # makes that band's norm non-finite. Checking the norms (needed anyway) spares a pass over
        # the input; the exact count is only computed when something is wrong.
        level1_norms = torch.linalg.vector_norm(packs[0].reshape(n_img, 2**d, -1), ord=2, dim=-1)
        if not bool(torch.isfinite(level1_norms).all()):
            bad = int((~torch.isfinite(flat)).sum())
            if bad:
                raise ValueError(
                    f"The image has {bad} NaN/Inf voxel(s); replace them first (numpy.nan_to_num) and denoise again."
                )
            level1_norms = torch.linalg.vector_norm(packs[0].reshape(n_img, 2**d, -1).double(), ord=2, dim=-1)
        if sigma is None:
            sig = estimate_noise_sigma(packs[0][:, -1])
        else:
            sig = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1)
            if sig.numel() == 1:
                sig = sig.expand(n_img)
            elif sig.numel() != n_img:
                raise OptionError("sigma", sig.tolist(), f": {sig.numel()} values for {n_img} images; give one value "
                                  f"or one per image.")
            if bool((sig < 0).any()) or not bool(torch.isfinite(sig).all()):
                raise OptionError("sigma", sigma, ": the noise standard deviation must be finite and >= 0.")
        n_vox = int(np.prod(spatial))
        for k, p in enumerate(packs):
            det = p[:, 1:]
            _shrink_(det, wavelet_thresholds(det, sig, method, n_vox, norms=level1_norms[:, 1:] if k == 0 else None), mode)
        # Synthesis, coarsest first; the reconstruction may be one sample longer than the next
        # level's coefficients (pywt.waverecn crops it the same way).
        rec = packs[-1][:, 0]
        for k in range(levels - 1, -1, -1):
            p = packs[k]
            coarse = tuple(p.shape[2:])
            p[:, 0] = rec[(slice(None),) + tuple(slice(0, s) for s in coarse)]
            rec = idwt_packed(p, fb, mode=wavelet_mode, spatial_dims=d)
        out = rec[(slice(None),) + tuple(slice(0, s) for s in spatial)]
        out = out.reshape(lead + spatial)
    if orig_dtype in (torch.float32, torch.float64):
        out = out.to(orig_dtype)
    if was_numpy:
        out = out.cpu().numpy()
    elif isinstance(x, torch.Tensor) and out.device != x.device:
        out = out.to(x.device)
    if hasattr(x, "copy_meta_from"):  # a MONAI MetaTensor: computed on the plain tensor, meta kept
        from monai.data import MetaTensor

        out = MetaTensor(out).copy_meta_from(x)
    return Shrinkage(out, sig, int(levels))
