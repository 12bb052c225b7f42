"""MONAI transforms for the stationary wavelet transform, wavelet packets and the DTCWT (array and dictionary forms).

* :class:`WaveletSWT`: ``(C, *spatial)`` to ``(C * (1 + L * (2**d - 1)), *spatial)`` on the same grid (affine
  unchanged): per input channel the coarsest approximation, then the details of level ``L`` down to 1 in
  PyWavelets' key order (``swt(..., trim_approx=True)``'s layout). Invertible (``pywt.iswtn``).
* :class:`WaveletPacket`: ``(C, *spatial)`` to ``(C * 2**(d*L), *coarse)``: per input channel the level-``L``
  nodes in PyWavelets' natural (``WaveletPacketND``) or frequency order, on the coarse grid (affine updated as
  :class:`~medwave.transforms.WaveletDecompose` does). Invertible.
* :class:`DTCWT`: ``(C, *spatial)`` to ``(C * M, *coarse)``: the dual-tree complex wavelet pyramid (real lowpass,
  complex highpasses as real-part and imaginary-part channels) space-to-depth on the grid of its coarsest
  highpasses (affine updated). Invertible (perfect reconstruction).

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

__all__ = ["WaveletSWT", "WaveletSWTd", "WaveletPacket", "WaveletPacketd", "swt_channel_names", "DTCWT", "DTCWTd",
           "dtcwt_channel_names", "DTCWT_ORIENTATIONS"]


def swt_channel_names(spatial_dims: int, level: int) -> list[str]:
    """Names of :class:`WaveletSWT`'s channels per input channel (``'a...a'``, then ``'<key>_<level>'``)."""
    keys = subband_keys(spatial_dims)
    return [keys[0] + f"_{level}"] + [f"{k}_{lv}" for lv in range(level, 0, -1) for k in keys[1:]]


def _track(img: MetaTensor, y: torch.Tensor, info: dict, xform: Optional[torch.Tensor], who) -> MetaTensor:
    d = int(info["spatial_dims"])
    if xform is None:
        xform = torch.eye(d + 1, dtype=torch.float64)
    if isinstance(img, MetaTensor):  # a 1D/2D image keeps MONAI's 4x4 affine: the grid change is embedded in it
        xform = _embed(xform, img.affine.shape[-1])
    meta_info = TraceableTransform.track_transform_meta(
        img,
        sp_size=list(y.shape[1:]),
        affine=xform,
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


# ------------------------------------------------------------------------------ dual-tree complex wavelet transform

#: Complex highpass orientations per level: 1D 1, 2D 6 (dtcwt's order), 3D 28 (seven octants times four).
DTCWT_ORIENTATIONS = {1: 1, 2: 6, 3: 28}


def _dtcwt_parts(d: int, nlevels: int) -> list[tuple[str, int, int, int, str]]:
    """The parts of :class:`DTCWT`'s layout in order: ``(name, level, orientation, factor, 're'|'im'|'')``."""
    parts = [(f"L{nlevels}:lowpass", nlevels, -1, 2, "")]
    for lev in range(nlevels, 0, -1):
        for o in range(DTCWT_ORIENTATIONS[d]):
            for comp in ("re", "im"):
                parts.append((f"L{lev}:o{o}.{comp}", lev, o, 2 ** (nlevels - lev), comp))
    return parts


def dtcwt_channel_names(spatial_dims: int, nlevels: int) -> list[str]:
    """Names of :class:`DTCWT`'s channels per input channel, e.g. ``'L2:lowpass[0,1,1]'``, ``'L1:o5.im[1,0,1]'``.

    The bracket is the space-to-depth phase (offset along each spatial axis on the finer grid of that part).
    """
    names = []
    for name, _, _, f, _ in _dtcwt_parts(spatial_dims, nlevels):
        names += [f"{name}[{','.join(str(p) for p in ph)}]" for ph in np.ndindex(*(f,) * spatial_dims)]
    return names


class DTCWT(InvertibleTransform):
    """Dual-tree complex wavelet transform (Kingsbury; ``dtcwt``'s ``Transform1d/2d/3d``) into real channels.

    ``(C, *spatial)`` becomes ``(C * M, *coarse)`` on the grid of the coarsest highpasses (``2**nlevels`` times
    coarser; the MetaTensor affine is updated as :class:`~medwave.transforms.WaveletDecompose` does). Every
    part of :func:`~medwave.wavelets.dtcwt_forward`'s pyramid is stored *space-to-depth* on that grid
    (``pixel_unshuffle`` phase order, zero-padded at the end where a part is not an exact multiple), per input
    channel in this order (:func:`dtcwt_channel_names` names them):

    1. the real lowpass of level ``nlevels`` (twice the coarse grid: ``2**d`` phase channels);
    2. the complex highpasses of level ``nlevels`` down to 1, orientation by orientation in ``dtcwt``'s order
       (1D: 1, 2D: 6, 3D: 28 orientations), each as its **real part then its imaginary part**, each of
       ``(2**(nlevels - level))**d`` phase channels.

    Sizes divisible by ``2**nlevels`` fill the grid exactly (no padding). :meth:`inverse` (also through MONAI's
    ``Invertd``) rebuilds the image with :func:`~medwave.wavelets.dtcwt_inverse`: values (perfect
    reconstruction), shape (2D odd sizes, which ``dtcwt`` extends, are cropped back) and affine. The forward of
    a CPU 3D volume that needs no gradient runs in the fused kernel.

    Args:
        spatial_dims: Number of spatial axes (default: ``img.ndim - 1``).
        nlevels: Number of levels (>= 1).
        biort: Level-1 filter set (:data:`~medwave.wavelets.BIORT_NAMES`).
        qshift: Q-shift filter set of levels >= 2 (:data:`~medwave.wavelets.QSHIFT_NAMES`).

    Example:
        >>> import torch
        >>> DTCWT(nlevels=2)(torch.randn(1, 32, 32)).shape   # 4 lowpass + 2 * 6 * (1 + 4) highpass channels
        torch.Size([64, 8, 8])
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, spatial_dims: Optional[int] = None, nlevels: int = 2, biort: str = "near_sym_a",
                 qshift: str = "qshift_a") -> None:
        from medwave.wavelets.dtcwt_matrices import _filters

        _filters(biort, qshift)
        if int(nlevels) < 1:
            raise ValueError(f"DTCWT needs nlevels >= 1, got {nlevels}.")
        self.spatial_dims, self.nlevels, self.biort, self.qshift = spatial_dims, int(nlevels), biort, qshift

    def channel_names(self, spatial_dims: int) -> list[str]:
        """The name of each output channel (per input channel)."""
        return dtcwt_channel_names(spatial_dims, self.nlevels)

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        from medwave.transforms.wavelet import _space_to_depth
        from medwave.wavelets import dtcwt_forward

        x = _plain(img)
        d = _spatial_dims(x, self.spatial_dims, type(self).__name__)
        if d in (1, 3) and any(int(s) % 2 for s in x.shape[1:]):
            raise ValueError(f"DTCWT in {d}D needs even sizes (as dtcwt), got {tuple(x.shape[1:])}; pad first, e.g. "
                             "with monai.transforms.DivisiblePad(k=2).")
        if not x.is_floating_point():
            x = x.float()
        p = dtcwt_forward(x[None], nlevels=self.nlevels, biort=self.biort, qshift=self.qshift, spatial_dims=d)
        c = int(x.shape[0])
        low = p.lowpass[0]  # (C, *s)
        highs = [h[0] if d > 1 else h[0, ..., None] for h in p.highpasses]  # (C, *s_j, K) (1D: K = 1)
        target = [-(-int(n) // 2) for n in low.shape[1:]]
        for lev, h in enumerate(highs, start=1):
            f = 2 ** (self.nlevels - lev)
            target = [max(t, -(-int(n) // f)) for t, n in zip(target, h.shape[1:-1])]
        blocks = [_space_to_depth(low, 2, d, target)]  # (C, 2**d, *t)
        for lev in range(self.nlevels, 0, -1):
            h = torch.movedim(highs[lev - 1], -1, 1)  # (C, K, *s_j)
            k = h.shape[1]
            ri = torch.stack([h.real, h.imag], dim=2).reshape((c * k * 2,) + tuple(h.shape[2:]))
            s2d = _space_to_depth(ri, 2 ** (self.nlevels - lev), d, target)
            blocks.append(s2d.reshape((c, -1) + tuple(target)))
        y = torch.cat(blocks, dim=1).reshape((-1,) + tuple(target))
        if not isinstance(img, MetaTensor):
            return _with_meta(y, img)
        info = {"spatial_dims": d, "nlevels": self.nlevels, "biort": self.biort, "qshift": self.qshift,
                "channels": c, "spatial_size": [int(s) for s in x.shape[1:]],
                "lowpass_size": [int(s) for s in low.shape[1:]],
                "highpass_sizes": [[int(s) for s in h.shape[1:-1]] for h in highs]}
        xform = torch.as_tensor(coarse_grid_affine(self.nlevels, d), dtype=torch.float64)
        return _track(img, y, info, xform, self)

    @staticmethod
    def unpack(y: torch.Tensor, info: Mapping) -> "object":
        """The :class:`~medwave.wavelets.DtcwtPyramid` stored in channels ``y`` (``info``: the forward's record)."""
        from medwave.transforms.wavelet import _depth_to_space
        from medwave.wavelets import DtcwtPyramid

        d, nlevels, c = int(info["spatial_dims"]), int(info["nlevels"]), int(info["channels"])
        target = tuple(int(s) for s in y.shape[1:])
        v = y.reshape((c, -1) + target)
        pos = 2**d
        low = _depth_to_space(v[:, :pos], 2, d, info["lowpass_size"])
        highs: list = [None] * nlevels
        k = DTCWT_ORIENTATIONS[d]
        for lev in range(nlevels, 0, -1):
            f = 2 ** (nlevels - lev)
            n = k * 2 * f**d
            blk = v[:, pos: pos + n].reshape((c * k * 2, f**d) + target)
            pos += n
            ri = _depth_to_space(blk, f, d, info["highpass_sizes"][lev - 1]).reshape((c, k, 2) + tuple(
                info["highpass_sizes"][lev - 1]))
            h = torch.movedim(torch.complex(ri[:, :, 0], ri[:, :, 1]), 1, -1)[None]
            highs[lev - 1] = h if d > 1 else h[..., 0]
        return DtcwtPyramid(low[None], tuple(highs), biort=info["biort"], qshift=info["qshift"], spatial_dims=d)

    def inverse(self, data: torch.Tensor) -> torch.Tensor:
        """The image this transform decomposed (values, shape and affine)."""
        from medwave.wavelets import dtcwt_inverse

        info = dict(self.pop_transform(data)[TraceKeys.EXTRA_INFO])
        d = int(info["spatial_dims"])
        z = dtcwt_inverse(self.unpack(_plain(data), info))[0]
        y = z[(slice(None),) + tuple(slice(0, int(s)) for s in info["spatial_size"])]
        out = MetaTensor(y)
        out.copy_meta_from(data)
        inv = torch.as_tensor(np.linalg.inv(coarse_grid_affine(int(info["nlevels"]), d)), dtype=torch.float64)
        aff = data.affine if isinstance(data, MetaTensor) else torch.eye(d + 1, dtype=torch.float64)
        out.affine = aff.to(torch.float64) @ _embed(inv, aff.shape[-1])
        return out


class DTCWTd(_Dict):
    """Dictionary form of :class:`DTCWT` (invertible, e.g. with ``Invertd``)."""

    backend = DTCWT.backend

    def __init__(self, keys: KeysCollection, spatial_dims: Optional[int] = None, nlevels: int = 2,
                 biort: str = "near_sym_a", qshift: str = "qshift_a", allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.t = DTCWT(spatial_dims, nlevels, biort, qshift)
