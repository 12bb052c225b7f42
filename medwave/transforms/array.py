"""Array (channel-first ``(C, *spatial)``) MONAI transforms built on the wavelet core.

Example:
    >>> import torch
    >>> from monai.data import MetaTensor
    >>> from medwave.transforms import WaveletDecompose
    >>> img = MetaTensor(torch.randn(1, 32, 32, 32), affine=torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0])))
    >>> t = WaveletDecompose(levels=2)
    >>> y = t(img)
    >>> tuple(y.shape), y.affine[0, 0].item(), y.affine[0, 3].item()   # 64 channels on an 8 mm grid
    ((64, 8, 8, 8), 8.0, 3.0)
    >>> back = t.inverse(y)
    >>> bool(torch.allclose(back, img, atol=1e-5)), back.affine[0, 0].item()
    (True, 2.0)
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import InvertibleTransform, RandomizableTransform, Transform
from monai.transforms.inverse import TraceableTransform
from monai.utils import TransformBackends, convert_to_tensor
from monai.utils.enums import TraceKeys

from medwave.denoise.shrinkage import DenoiseMethod, ThresholdMode, denoise_volume
from medwave.transforms.wavelet import coarse_grid_affine, wavelet_decompose, wavelet_reconstruct
from medwave.wavelets import dwt_max_level, dwt_packed, get_filter_bank, idwt_packed

__all__ = ["WaveletDecompose", "WaveletReconstruct", "WaveletDenoise", "RandWaveletHighFreqDropout"]


def _spatial_dims(img: torch.Tensor, spatial_dims: Optional[int], who: str) -> int:
    d = img.ndim - 1 if spatial_dims is None else int(spatial_dims)
    if d not in (1, 2, 3) or img.ndim != d + 1:
        raise ValueError(
            f"{who} expects a channel-first image (C, *spatial) with {spatial_dims or '1-3'} spatial axes, got shape "
            f"{tuple(img.shape)}. Add a channel axis first (monai.transforms.EnsureChannelFirst)."
        )
    return d


def _plain(img: NdarrayOrTensor) -> torch.Tensor:
    t = convert_to_tensor(img, track_meta=False)
    return t.as_tensor() if isinstance(t, MetaTensor) else t


def _with_meta(out: torch.Tensor, like: NdarrayOrTensor) -> NdarrayOrTensor:
    """Return ``out`` as the same kind of object as ``like`` (MetaTensor with its meta, tensor, ndarray)."""
    if isinstance(like, MetaTensor):
        m = MetaTensor(out)
        m.copy_meta_from(like)
        return m
    if isinstance(like, np.ndarray):
        return out.detach().cpu().numpy()
    return out


class WaveletDecompose(InvertibleTransform):
    """Multi-level wavelet decomposition of a channel-first image into channels on the coarsest grid.

    ``(C, *spatial)`` becomes ``(C * 2**(d*L), *coarse)``. The channel order is documented in
    :mod:`medwave.transforms.wavelet` (per input channel: the level-``L`` approximation, the level-``L``
    details in PyWavelets' key order, then the finer levels' details rearranged space-to-depth);
    :func:`~medwave.transforms.wavelet.decomposed_channel_names` names them. The MetaTensor affine
    is updated to the coarse grid (voxel size times ``2**L``, origin at the centre of the first
    ``2**L`` block), and :meth:`inverse` (also through MONAI's ``Invertd``) gives back the input,
    its affine and its shape, odd sizes included.

    Args:
        spatial_dims: Number of spatial axes (default: ``img.ndim - 1``).
        wavelet: Any discrete PyWavelets wavelet.
        levels: Decomposition levels.
        mode: Boundary mode; ``"periodization"`` (default) keeps the number of values.

    Example:
        >>> import torch
        >>> WaveletDecompose(levels=1)(torch.zeros(1, 8, 8)).shape
        torch.Size([4, 4, 4])
    """

    backend = [TransformBackends.TORCH]

    def __init__(
        self, spatial_dims: Optional[int] = None, wavelet: str = "haar", levels: int = 1, mode: str = "periodization"
    ) -> None:
        get_filter_bank(wavelet)
        if int(levels) < 1:
            raise ValueError(f"levels must be >= 1, got {levels}.")
        self.spatial_dims = spatial_dims
        self.wavelet = wavelet
        self.levels = int(levels)
        self.mode = mode

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        x = _plain(img)
        d = _spatial_dims(x, self.spatial_dims, type(self).__name__)
        y, info = wavelet_decompose(x, spatial_dims=d, wavelet=self.wavelet, levels=self.levels, mode=self.mode)
        if not isinstance(img, MetaTensor):
            return _with_meta(y, img)
        xform = torch.as_tensor(coarse_grid_affine(self.levels, d), dtype=torch.float64)
        meta_info = TraceableTransform.track_transform_meta(
            img,
            sp_size=list(y.shape[1:]),
            affine=xform,
            extra_info={**info, "spatial_size": list(info["spatial_size"]), "channels": int(x.shape[0])},
            orig_size=list(x.shape[1:]),
            transform_info=self.get_transform_info(),
        )
        out = MetaTensor(y)
        return out.copy_meta_from(meta_info)

    def inverse(self, data: torch.Tensor) -> torch.Tensor:
        """Reconstruct the image this transform decomposed (affine, shape and values)."""
        transform = self.pop_transform(data)
        info = dict(transform[TraceKeys.EXTRA_INFO])
        info.pop("channels", None)
        x = _plain(data)
        y = wavelet_reconstruct(x, **info)
        out = MetaTensor(y)
        out.copy_meta_from(data)
        d = int(info["spatial_dims"])
        inv = torch.as_tensor(np.linalg.inv(coarse_grid_affine(int(info["levels"]), d)), dtype=torch.float64)
        aff = data.affine if isinstance(data, MetaTensor) else torch.eye(d + 1, dtype=torch.float64)
        out.affine = aff.to(torch.float64) @ _embed(inv, aff.shape[-1])
        return out


def _embed(m: torch.Tensor, n: int) -> torch.Tensor:
    """Embed a ``(d+1)x(d+1)`` affine into ``n x n`` (MONAI keeps 4x4 affines for 2D images)."""
    if m.shape[-1] == n:
        return m
    d = m.shape[-1] - 1
    out = torch.eye(n, dtype=m.dtype)
    out[:d, :d] = m[:d, :d]
    out[:d, -1] = m[:d, -1]
    return out


class WaveletReconstruct(InvertibleTransform):
    """Rebuild an image from :class:`WaveletDecompose` channels, as a transform of its own.

    When the input is a MetaTensor that :class:`WaveletDecompose` produced, the original shape and
    settings are read from its ``applied_operations`` (the decomposition is popped from it, the
    affine restored); otherwise the arguments are used and the affine is scaled back to the fine grid.

    Args:
        spatial_dims, wavelet, levels, mode: As for :class:`WaveletDecompose`.
        spatial_size: Original spatial shape (needed to undo odd sizes or non-periodization modes
            when there is no trace to read it from).
    """

    backend = [TransformBackends.TORCH]

    def __init__(
        self,
        spatial_dims: Optional[int] = None,
        wavelet: str = "haar",
        levels: int = 1,
        mode: str = "periodization",
        spatial_size: Optional[Sequence[int]] = None,
    ) -> None:
        get_filter_bank(wavelet)
        self.spatial_dims = spatial_dims
        self.wavelet = wavelet
        self.levels = int(levels)
        self.mode = mode
        self.spatial_size = None if spatial_size is None else tuple(int(s) for s in spatial_size)

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        if isinstance(img, MetaTensor) and img.applied_operations:
            last = img.applied_operations[-1]
            if last.get(TraceKeys.CLASS_NAME) == WaveletDecompose.__name__:
                undo = WaveletDecompose()
                img.applied_operations[-1][TraceKeys.ID] = TraceKeys.NONE  # let another instance pop it
                return undo.inverse(img)
        x = _plain(img)
        d = _spatial_dims(x, self.spatial_dims, type(self).__name__)
        y = wavelet_reconstruct(
            x, spatial_dims=d, wavelet=self.wavelet, levels=self.levels, mode=self.mode, spatial_size=self.spatial_size
        )
        if not isinstance(img, MetaTensor):
            return _with_meta(y, img)
        xform = torch.as_tensor(np.linalg.inv(coarse_grid_affine(self.levels, d)), dtype=torch.float64)
        meta_info = TraceableTransform.track_transform_meta(
            img, sp_size=list(y.shape[1:]), affine=xform, orig_size=list(x.shape[1:]),
            extra_info={"spatial_dims": d, "wavelet": self.wavelet, "levels": self.levels, "mode": self.mode},
            transform_info=self.get_transform_info(),
        )
        return MetaTensor(y).copy_meta_from(meta_info)

    def inverse(self, data: torch.Tensor) -> torch.Tensor:
        transform = self.pop_transform(data)
        info = dict(transform[TraceKeys.EXTRA_INFO])
        dec = WaveletDecompose(info["spatial_dims"], info["wavelet"], info["levels"], info["mode"])
        with dec.trace_transform(False):
            return dec(data)


class WaveletDenoise(Transform):
    """Wavelet shrinkage denoising (BayesShrink / VisuShrink, soft / hard) of each channel.

    A thin wrapper of :func:`medwave.transforms.denoise_volume` (which matches
    ``skimage.restoration.denoise_wavelet``); runs on the tensor's device. Every channel gets its own
    noise estimate. MetaTensor metadata (affine included) is kept; float32/float64 are kept, other
    dtypes come back as float32.

    Args:
        spatial_dims: Number of spatial axes (default ``img.ndim - 1``).
        wavelet: Wavelet name (scikit-image's default ``"db1"``).
        levels: Decomposition levels (default ``max(max_level - 3, 1)``).
        method: ``"BayesShrink"`` or ``"VisuShrink"``.
        mode: ``"soft"`` or ``"hard"`` thresholding.
        sigma: Known noise standard deviation (one value or one per channel); estimated if None.
        wavelet_mode: Boundary mode of the transform (``"symmetric"`` as scikit-image).

    Example:
        >>> import torch
        >>> x = torch.randn(1, 32, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> float(WaveletDenoise()(x).std()) < 0.5
        True
    """

    backend = [TransformBackends.TORCH]

    def __init__(
        self,
        spatial_dims: Optional[int] = None,
        wavelet: str = "db1",
        levels: Optional[int] = None,
        method: DenoiseMethod = "BayesShrink",
        mode: ThresholdMode = "soft",
        sigma: Optional[Union[float, Sequence[float]]] = None,
        wavelet_mode: str = "symmetric",
    ) -> None:
        get_filter_bank(wavelet)
        if method not in ("BayesShrink", "VisuShrink"):
            raise ValueError(f"method must be 'BayesShrink' or 'VisuShrink', got {method!r}.")
        if mode not in ("soft", "hard"):
            raise ValueError(f"mode must be 'soft' or 'hard', got {mode!r}.")
        self.spatial_dims = spatial_dims
        self.kwargs = dict(wavelet=wavelet, levels=levels, method=method, mode=mode, sigma=sigma, wavelet_mode=wavelet_mode)

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        x = _plain(img)
        d = _spatial_dims(x, self.spatial_dims, type(self).__name__)
        y = denoise_volume(x, spatial_dims=d, **self.kwargs)
        return _with_meta(y, img)


class RandWaveletHighFreqDropout(RandomizableTransform):
    """Wavelet-domain augmentation: randomly zero (or attenuate) whole detail subbands.

    With probability ``prob`` the image is decomposed over ``levels`` levels; every detail subband
    (level, key) is independently dropped with probability ``band_prob`` (multiplied by ``scale``,
    0 = removed) and the image is rebuilt. This mimics scanners/reconstructions with different
    high-frequency content (blur along some axes, lost fine texture) while keeping the anatomy.
    Randomness comes from MONAI's ``self.R`` (``set_random_state(seed)`` makes it reproducible); the
    same bands are dropped in every channel.

    Args:
        prob: Probability of applying the augmentation.
        band_prob: Probability of dropping each detail subband.
        levels: Decomposition levels.
        scale: Factor for dropped bands (0 removes them).
        spatial_dims: Number of spatial axes (default ``img.ndim - 1``).
        wavelet: Wavelet name.
        mode: Boundary mode.

    Example:
        >>> import torch
        >>> t = RandWaveletHighFreqDropout(prob=1.0, band_prob=1.0).set_random_state(0)
        >>> x = torch.randn(1, 16, 16)
        >>> y = t(x)          # every detail band removed: a piecewise-constant 2x2 image
        >>> bool(torch.allclose(y[0, 0, 0], y[0, 1, 1], atol=1e-6))
        True
    """

    backend = [TransformBackends.TORCH]

    def __init__(
        self,
        prob: float = 0.1,
        band_prob: float = 0.5,
        levels: int = 1,
        scale: float = 0.0,
        spatial_dims: Optional[int] = None,
        wavelet: str = "haar",
        mode: str = "symmetric",
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        if not 0.0 <= band_prob <= 1.0:
            raise ValueError(f"band_prob must be in [0, 1], got {band_prob}.")
        if int(levels) < 1:
            raise ValueError(f"levels must be >= 1, got {levels}.")
        get_filter_bank(wavelet)
        self.band_prob = float(band_prob)
        self.levels = int(levels)
        self.scale = float(scale)
        self.spatial_dims = spatial_dims
        self.wavelet = wavelet
        self.mode = mode
        self._drop: Optional[np.ndarray] = None

    def randomize(self, data: Optional[NdarrayOrTensor] = None, spatial_dims: int = 3) -> None:
        super().randomize(None)
        if not self._do_transform:
            return
        self._drop = self.R.random_sample((self.levels, 2**spatial_dims - 1)) < self.band_prob

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> NdarrayOrTensor:
        x = _plain(img)
        d = _spatial_dims(x, self.spatial_dims, type(self).__name__)
        if randomize:
            self.randomize(None, spatial_dims=d)
        if not self._do_transform or self._drop is None or not self._drop.any():
            return img
        fb = get_filter_bank(self.wavelet)
        spatial = tuple(x.shape[1:])
        levels = min(self.levels, max(dwt_max_level(spatial, fb), 1))
        work = x if x.is_floating_point() else x.float()
        packs, shapes, a = [], [], work
        with torch.no_grad():
            for _ in range(levels):
                shapes.append(tuple(a.shape[1:]))
                p = dwt_packed(a, fb, mode=self.mode, spatial_dims=d)
                packs.append(p)
                a = p[:, 0]
            for lev in range(levels):
                for b in np.flatnonzero(self._drop[lev]):
                    packs[lev][:, 1 + int(b)].mul_(self.scale)
            rec = packs[-1][:, 0]
            for lev in range(levels - 1, -1, -1):
                p = packs[lev]
                p[:, 0] = rec[(slice(None),) + tuple(slice(0, s) for s in p.shape[2:])]
                rec = idwt_packed(p, fb, mode=self.mode, spatial_dims=d)
            y = rec[(slice(None),) + tuple(slice(0, s) for s in spatial)].to(work.dtype)
        return _with_meta(y, img)
