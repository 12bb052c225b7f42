"""MONAI transforms for the stationary wavelet transform and wavelet packets (array and dictionary forms).

* :class:`WaveletSWT`: ``(C, *spatial)`` to ``(C * (1 + L * (2**d - 1)), *spatial)`` on the same grid (affine
  unchanged): per input channel the coarsest approximation, then the details of level ``L`` down to 1 in
  PyWavelets' key order (``swt(..., trim_approx=True)``'s layout). Invertible (``pywt.iswtn``).
* :class:`WaveletPacket`: ``(C, *spatial)`` to ``(C * 2**(d*L), *coarse)``: per input channel the level-``L``
  nodes in PyWavelets' natural (``WaveletPacketND``) or frequency order, on the coarse grid (affine updated as
  :class:`~medwave.transforms.WaveletDecompose` does). Invertible.

Example:
    >>> import torch
    >>> from medwave.transforms import WaveletSWT
    >>> t = WaveletSWT(wavelet="db2", level=2)
    >>> y = t(torch.randn(1, 16, 16, 16))
    >>> tuple(y.shape)                        # 1 + 2 * 7 channels
    (15, 16, 16, 16)
"""

from __future__ import annotations

from typing import Hashable, Literal, Mapping, Optional

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import InvertibleTransform, MapTransform
from monai.transforms.inverse import TraceableTransform
from monai.utils import TransformBackends
from monai.utils.enums import TraceKeys

from medwave.transforms.array import _embed, _plain, _spatial_dims, _with_meta
from medwave.transforms.wavelet import coarse_grid_affine
from medwave.wavelets import get_filter_bank, iwavelet_packet, packet_names, swt_packed, subband_keys
from medwave.wavelets.modes import check_mode
from medwave.wavelets.packets import wavelet_packet_packed
from medwave.wavelets.stationary import iswt_packed

__all__ = ["WaveletSWT", "WaveletSWTd", "WaveletPacket", "WaveletPacketd", "swt_channel_names"]


def swt_channel_names(spatial_dims: int, level: int) -> list[str]:
    """Names of :class:`WaveletSWT`'s channels per input channel (``'a...a'``, then ``'<key>_<level>'``)."""
    keys = subband_keys(spatial_dims)
    return [keys[0] + f"_{level}"] + [f"{k}_{lv}" for lv in range(level, 0, -1) for k in keys[1:]]


def _track(img: MetaTensor, y: torch.Tensor, info: dict, xform: Optional[torch.Tensor], who) -> MetaTensor:
    d = int(info["spatial_dims"])
    meta_info = TraceableTransform.track_transform_meta(
        img,
        sp_size=list(y.shape[1:]),
        affine=xform if xform is not None else torch.eye(d + 1, dtype=torch.float64),
        extra_info=info,
        orig_size=list(img.shape[1:]),
        transform_info=who.get_transform_info(),
    )
    return MetaTensor(y).copy_meta_from(meta_info)


class WaveletSWT(InvertibleTransform):
    """Stationary (undecimated) wavelet transform of a channel-first image into channels on the same grid.

    Args:
        spatial_dims: Number of spatial axes (default: ``img.ndim - 1``).
        wavelet: Any discrete PyWavelets wavelet.
        level: Number of levels.
        start_level: PyWavelets' ``start_level``.
        norm: PyWavelets' ``norm``.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, spatial_dims: Optional[int] = None, wavelet: str = "haar", level: int = 1,
                 start_level: int = 0, norm: bool = False) -> None:
        get_filter_bank(wavelet)
        if int(level) < 1 or int(start_level) < 0:
            raise ValueError(f"WaveletSWT needs level >= 1 and start_level >= 0, got {level}, {start_level}.")
        self.spatial_dims, self.wavelet, self.level = spatial_dims, wavelet, int(level)
        self.start_level, self.norm = int(start_level), bool(norm)

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        x = _plain(img)
        d = _spatial_dims(x, self.spatial_dims, type(self).__name__)
        packed = swt_packed(x[None], self.wavelet, level=self.level, start_level=self.start_level, norm=self.norm,
                            spatial_dims=d)  # finest first, each (1, C, 2**d, *spatial)
        parts = [packed[-1][0, :, :1]] + [p[0, :, 1:] for p in reversed(packed)]
        y = torch.cat(parts, dim=1).flatten(0, 1)
        if not isinstance(img, MetaTensor):
            return _with_meta(y, img)
        info = {"spatial_dims": d, "wavelet": self.wavelet, "level": self.level, "start_level": self.start_level,
                "norm": self.norm, "channels": int(x.shape[0])}
        return _track(img, y, info, None, self)

    def inverse(self, data: torch.Tensor) -> torch.Tensor:
        """The image this transform decomposed (``pywt.iswtn`` of the channels)."""
        info = dict(self.pop_transform(data)[TraceKeys.EXTRA_INFO])
        x = _plain(data)
        d, level, c = int(info["spatial_dims"]), int(info["level"]), int(info["channels"])
        k = 2**d - 1
        v = x.reshape((c, 1 + level * k) + tuple(x.shape[1:]))
        approx = v[:, 0]
        packed = []
        for lv in range(level, 0, -1):  # finest first for iswt_packed
            det = v[:, 1 + (level - lv) * k: 1 + (level - lv + 1) * k]
            packed.append(torch.cat([torch.zeros_like(det[:, :1]), det], dim=1))
        y = iswt_packed(packed[::-1], info["wavelet"], approx=approx,
                        start_level=int(info["start_level"]), norm=bool(info["norm"]), spatial_dims=d)
        out = MetaTensor(y)
        out.copy_meta_from(data)
        return out


class WaveletPacket(InvertibleTransform):
    """Wavelet packet decomposition of a channel-first image into its level-``L`` nodes as channels.

    Args:
        spatial_dims: Number of spatial axes (default: ``img.ndim - 1``).
        wavelet: Any discrete PyWavelets wavelet.
        level: Packet level.
        mode: Boundary mode; ``"periodization"`` (default) keeps the number of values.
        order: ``'natural'`` (``WaveletPacketND``'s order) or ``'freq'`` (frequency order).
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, spatial_dims: Optional[int] = None, wavelet: str = "haar", level: int = 1,
                 mode: str = "periodization", order: Literal["natural", "freq"] = "natural") -> None:
        get_filter_bank(wavelet)
        check_mode(mode)
        if int(level) < 1:
            raise ValueError(f"WaveletPacket needs level >= 1, got {level}.")
        if order not in ("natural", "freq"):
            raise ValueError(f"order must be 'natural' or 'freq', got {order!r}.")
        self.spatial_dims, self.wavelet, self.level, self.mode, self.order = spatial_dims, wavelet, int(level), mode, order

    def channel_names(self, spatial_dims: int) -> list[str]:
        """The node path of each output channel (per input channel)."""
        return [n for n, _ in packet_names(spatial_dims, self.level, order=self.order, naming="nd")]

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        x = _plain(img)
        d = _spatial_dims(x, self.spatial_dims, type(self).__name__)
        p = wavelet_packet_packed(x, self.wavelet, level=self.level, mode=self.mode, spatial_dims=d,
                                  all_levels=False)[-1]  # (C, K^L, ...)
        idx = [i for _, i in packet_names(d, self.level, order=self.order, naming="nd")]
        if self.order != "natural":
            p = p[:, idx]
        y = p.flatten(0, 1)
        if not isinstance(img, MetaTensor):
            return _with_meta(y, img)
        info = {"spatial_dims": d, "wavelet": self.wavelet, "level": self.level, "mode": self.mode,
                "order": self.order, "channels": int(x.shape[0]), "spatial_size": [int(s) for s in x.shape[1:]]}
        xform = torch.as_tensor(coarse_grid_affine(self.level, d), dtype=torch.float64)
        return _track(img, y, info, xform, self)

    def inverse(self, data: torch.Tensor) -> torch.Tensor:
        """The image this transform decomposed (values, shape and affine)."""
        info = dict(self.pop_transform(data)[TraceKeys.EXTRA_INFO])
        x = _plain(data)
        d, level, c = int(info["spatial_dims"]), int(info["level"]), int(info["channels"])
        names = packet_names(d, level, order=info["order"], naming="nd")
        v = x.reshape((c, len(names)) + tuple(x.shape[1:]))
        nodes = {name: v[:, j] for j, (name, _) in enumerate(names)}
        y = iwavelet_packet(nodes, info["wavelet"], mode=info["mode"], spatial_dims=d, naming="nd",
                            shape=info["spatial_size"])
        out = MetaTensor(y)
        out.copy_meta_from(data)
        inv = torch.as_tensor(np.linalg.inv(coarse_grid_affine(level, d)), dtype=torch.float64)
        aff = data.affine if isinstance(data, MetaTensor) else torch.eye(d + 1, dtype=torch.float64)
        out.affine = aff.to(torch.float64) @ _embed(inv, aff.shape[-1])
        return out


class _Dict(MapTransform, InvertibleTransform):
    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.t(d[key])
        return d

    def inverse(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.t.inverse(d[key])
        return d


class WaveletSWTd(_Dict):
    """Dictionary form of :class:`WaveletSWT` (invertible, e.g. with ``Invertd``)."""

    backend = WaveletSWT.backend

    def __init__(self, keys: KeysCollection, spatial_dims: Optional[int] = None, wavelet: str = "haar", level: int = 1,
                 start_level: int = 0, norm: bool = False, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.t = WaveletSWT(spatial_dims, wavelet, level, start_level, norm)


class WaveletPacketd(_Dict):
    """Dictionary form of :class:`WaveletPacket` (invertible, e.g. with ``Invertd``)."""

    backend = WaveletPacket.backend

    def __init__(self, keys: KeysCollection, spatial_dims: Optional[int] = None, wavelet: str = "haar", level: int = 1,
                 mode: str = "periodization", order: Literal["natural", "freq"] = "natural",
                 allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.t = WaveletPacket(spatial_dims, wavelet, level, mode, order)
