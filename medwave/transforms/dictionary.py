"""Dictionary forms of the medwave transforms (MONAI ``MapTransform`` conventions).

Example:
    >>> import torch
    >>> from monai.data import MetaTensor
    >>> from monai.transforms import Compose, Invertd
    >>> from medwave.transforms import WaveletDecomposed
    >>> pre = Compose([WaveletDecomposed(keys="image", levels=2)])
    >>> data = pre({"image": MetaTensor(torch.randn(1, 16, 18, 20))})
    >>> data["image"].shape
    torch.Size([64, 4, 5, 5])
    >>> back = Invertd(keys="image", transform=pre, orig_keys="image")(data)
    >>> back["image"].shape
    torch.Size([1, 16, 18, 20])
"""

from __future__ import annotations

from typing import Hashable, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import InvertibleTransform, MapTransform, RandomizableTransform

from medwave.transforms.array import (
    RandWaveletHighFreqDropout,
    WaveletDecompose,
    WaveletDenoise,
    WaveletReconstruct,
    _plain,
    _spatial_dims,
)
from medwave.denoise.shrinkage import DenoiseMethod, ThresholdMode

__all__ = [
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
]


class WaveletDecomposed(MapTransform, InvertibleTransform):
    """Dictionary form of :class:`~medwave.transforms.WaveletDecompose` (invertible, e.g. with ``Invertd``)."""

    backend = WaveletDecompose.backend

    def __init__(
        self,
        keys: KeysCollection,
        spatial_dims: Optional[int] = None,
        wavelet: str = "haar",
        levels: int = 1,
        mode: str = "periodization",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.decomposer = WaveletDecompose(spatial_dims, wavelet, levels, mode)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.decomposer(d[key])
        return d

    def inverse(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.decomposer.inverse(d[key])
        return d


class WaveletReconstructd(MapTransform, InvertibleTransform):
    """Dictionary form of :class:`~medwave.transforms.WaveletReconstruct`."""

    backend = WaveletReconstruct.backend

    def __init__(
        self,
        keys: KeysCollection,
        spatial_dims: Optional[int] = None,
        wavelet: str = "haar",
        levels: int = 1,
        mode: str = "periodization",
        spatial_size: Optional[Sequence[int]] = None,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.reconstructor = WaveletReconstruct(spatial_dims, wavelet, levels, mode, spatial_size)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.reconstructor(d[key])
        return d

    def inverse(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.reconstructor.inverse(d[key])
        return d


class WaveletDenoised(MapTransform):
    """Dictionary form of :class:`~medwave.transforms.WaveletDenoise`."""

    backend = WaveletDenoise.backend

    def __init__(
        self,
        keys: KeysCollection,
        spatial_dims: Optional[int] = None,
        wavelet: str = "db1",
        levels: Optional[int] = None,
        method: DenoiseMethod = "BayesShrink",
        mode: ThresholdMode = "soft",
        sigma: Optional[Union[float, Sequence[float]]] = None,
        wavelet_mode: str = "symmetric",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.denoiser = WaveletDenoise(spatial_dims, wavelet, levels, method, mode, sigma, wavelet_mode)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.denoiser(d[key])
        return d


class RandWaveletHighFreqDropoutd(RandomizableTransform, MapTransform):
    """Dictionary form of :class:`~medwave.transforms.RandWaveletHighFreqDropout`.

    One random draw per call: every key gets the same dropped subbands (image and its paired
    modality stay consistent).
    """

    backend = RandWaveletHighFreqDropout.backend

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.1,
        band_prob: float = 0.5,
        levels: int = 1,
        scale: float = 0.0,
        spatial_dims: Optional[int] = None,
        wavelet: str = "haar",
        mode: str = "symmetric",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.dropper = RandWaveletHighFreqDropout(1.0, band_prob, levels, scale, spatial_dims, wavelet, mode)

    def set_random_state(self, seed: Optional[int] = None, state: Optional[np.random.RandomState] = None):
        super().set_random_state(seed, state)
        self.dropper.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        first = True
        for key in self.key_iterator(d):
            if first:
                x = _plain(d[key])
                self.dropper.randomize(None, spatial_dims=_spatial_dims(x, self.dropper.spatial_dims, type(self).__name__))
                first = False
            d[key] = self.dropper(d[key], randomize=False)
        return d


WaveletDecomposeD = WaveletDecomposeDict = WaveletDecomposed
WaveletReconstructD = WaveletReconstructDict = WaveletReconstructd
WaveletDenoiseD = WaveletDenoiseDict = WaveletDenoised
RandWaveletHighFreqDropoutD = RandWaveletHighFreqDropoutDict = RandWaveletHighFreqDropoutd
