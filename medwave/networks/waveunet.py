"""3D-WaveUNet (and the 2D WaveSNet-style U-Net): a U-Net whose down- and up-sampling are wavelet transforms.

Encoder: at each of the four levels two ``3x3x3`` conv + norm + ReLU, then a one-level DWT; the low band
goes on to the next level and the high bands (7 in 3D, 3 in 2D) are kept. Decoder: the decoder
features, projected to the width of the level, are the low band of an IDWT whose high bands are the
kept ones (optionally hard-shrunk, the paper's best variant); the result is concatenated with the
encoder skip and passed through two conv + norm + ReLU. A final ``1x1x1`` conv gives the class logits.

Variants of the paper's ablation (``variant=``):

* ``"dwt_idwt"``: DWT down, IDWT up with the kept high bands;
* ``"dwt_idwt_shrink"`` (default): the same, the kept high bands hard-shrunk
  (``h * (|h| > shrink_lambda)``, lambda 0.25 as in the paper) before the IDWT;
* ``"dwt_trilinear"``: DWT (low band only) down, trilinear (bilinear in 2D) up-sampling;
* ``"dwt_transposed"``: DWT (low band only) down, transposed-conv up-sampling.

Any wavelet of :mod:`medwave.wavelets` works and any input size works (``mode="periodization"``
halves every axis to ``ceil(n/2)`` and the IDWT crops back to the skip's shape), so the network
needs no padding to multiples of 16.

Example:
    >>> import torch
    >>> from medwave.networks import WaveUNet
    >>> net = WaveUNet(spatial_dims=3, in_channels=1, out_channels=2)
    >>> net(torch.randn(1, 1, 16, 32, 32)).shape
    torch.Size([1, 2, 16, 32, 32])
    >>> WaveUNet(spatial_dims=2, wavelet="db2")(torch.randn(2, 1, 40, 36)).shape
    torch.Size([2, 2, 40, 36])
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from medwave.wavelets import DWT, IDWT, DWTPool
from medwave.wavelets.filters import WaveletLike

__all__ = ["WaveUNet", "VARIANTS"]

Variant = Literal["dwt_idwt", "dwt_idwt_shrink", "dwt_trilinear", "dwt_transposed"]
VARIANTS = ("dwt_idwt", "dwt_idwt_shrink", "dwt_trilinear", "dwt_transposed")


def _fast(base: type) -> type:
    """A conv class that calls oneDNN (MKLDNN) directly on CPU.

    PyTorch's CPU dispatch sends 3D convolutions with batch size 1 and a small ``C x D`` product
    (every level of this narrow network when segmenting one cube at a time) to a slow im2col
    path: its heuristic was tuned for 2D images. Calling ``aten::mkldnn_convolution`` (the same
    convolution, with autograd) is 3-30x faster there. Other devices, dtypes and padding modes
    use the normal path; the stored weights are those of the base class.
    """

    class Fast(base):  # type: ignore[misc, valid-type]
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if (
                x.device.type == "cpu"
                and x.dtype == torch.float32
                and x.ndim in (4, 5)
                and self.padding_mode == "zeros"
                and not isinstance(self.padding, str)
                and torch.backends.mkldnn.is_available()
                and torch.backends.mkldnn.enabled
            ):
                return torch.ops.aten.mkldnn_convolution(
                    x.contiguous(), self.weight, self.bias, list(self.padding), list(self.stride),
                    list(self.dilation), self.groups,
                )
            return super().forward(x)

    Fast.__name__ = base.__name__
    Fast.__qualname__ = base.__qualname__
    return Fast


_CONVS = tuple(_fast(c) for c in (nn.Conv1d, nn.Conv2d, nn.Conv3d))


def _conv(spatial_dims: int):
    return _CONVS[spatial_dims - 1]


def _norm(spatial_dims: int, kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[spatial_dims - 1](channels)
    if kind == "instance":
        return (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)[spatial_dims - 1](channels, affine=True)
    raise ValueError(f"norm must be 'batch' or 'instance', got {kind!r}.")


def _act(kind: str, channels: int) -> nn.Module:
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "leakyrelu":
        return nn.LeakyReLU(0.01, inplace=True)
    if kind == "prelu":
        return nn.PReLU(channels)
    raise ValueError(f"act must be 'relu', 'leakyrelu' or 'prelu', got {kind!r}.")


class _DoubleConv(nn.Sequential):
    """Two (conv 3^d, norm, activation) layers."""

    def __init__(self, spatial_dims: int, cin: int, cout: int, norm: str, act: str = "relu") -> None:
        conv = _conv(spatial_dims)
        super().__init__(
            conv(cin, cout, 3, padding=1, bias=False),
            _norm(spatial_dims, norm, cout),
            _act(act, cout),
            conv(cout, cout, 3, padding=1, bias=False),
            _norm(spatial_dims, norm, cout),
            _act(act, cout),
        )


class WaveUNet(nn.Module):
    """3D-WaveUNet (``spatial_dims=3``) / WaveSNet-style U-Net (``spatial_dims=2``).

    Args:
        spatial_dims: 2 or 3 (1 also works).
        in_channels: Input channels.
        out_channels: Output channels (class logits; 2 = background/neurite as in the paper).
        channels: Widths of the four encoder/decoder levels (paper: 4, 8, 16, 32). Its length is the
            number of DWT down-samplings.
        bottleneck: Width of the bottleneck at ``1/2**len(channels)`` resolution (paper: 32).
        wavelet: Any discrete wavelet of :mod:`medwave.wavelets` (name or filter bank).
        variant: Up-sampling of the paper's ablation (see the module docstring).
        shrink_lambda: Hard-shrinkage threshold of the kept high bands (``"dwt_idwt_shrink"`` only).
        norm: ``"batch"`` (default; the output of a voxel does not depend on the rest of the cube
            at inference, which keeps cube reassembly seamless) or ``"instance"``.
        act: Activation after each norm: ``"relu"`` (the paper), ``"leakyrelu"`` or ``"prelu"``.

    Shapes:
        input ``(B, in_channels, *spatial)``, output ``(B, out_channels, *spatial)``, any spatial size.

    Raises:
        ValueError: Unknown variant or bad arguments.
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        out_channels: int = 2,
        channels: Sequence[int] = (4, 8, 16, 32),
        bottleneck: int = 32,
        wavelet: WaveletLike = "haar",
        *,
        variant: Variant = "dwt_idwt_shrink",
        shrink_lambda: float = 0.25,
        norm: Literal["batch", "instance"] = "batch",
        act: Literal["relu", "leakyrelu", "prelu"] = "relu",
    ) -> None:
        super().__init__()
        if spatial_dims not in (1, 2, 3):
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims}.")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}.")
        channels = tuple(int(c) for c in channels)
        if not channels or any(c < 1 for c in channels) or bottleneck < 1:
            raise ValueError(f"channels must be a non-empty sequence of positive widths, got {channels}.")
        if shrink_lambda < 0:
            raise ValueError(f"shrink_lambda must be >= 0, got {shrink_lambda}.")
        self.config = dict(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels,
                           channels=list(channels), bottleneck=int(bottleneck),
                           wavelet=wavelet if isinstance(wavelet, str) else getattr(wavelet, "name", str(wavelet)),
                           variant=variant, shrink_lambda=float(shrink_lambda), norm=norm, act=act)
        self.spatial_dims = spatial_dims
        self.in_channels, self.out_channels = in_channels, out_channels
        self.channels, self.bottleneck_channels = channels, int(bottleneck)
        self.variant, self.shrink_lambda = variant, float(shrink_lambda)
        conv = _conv(spatial_dims)
        self.uses_idwt = variant in ("dwt_idwt", "dwt_idwt_shrink")
        self.dwt = DWT(spatial_dims, wavelet) if self.uses_idwt else None
        self.pool = None if self.uses_idwt else DWTPool(spatial_dims, wavelet)
        self.idwt = IDWT(spatial_dims, wavelet) if self.uses_idwt else None
        self.encoders = nn.ModuleList()
        cin = in_channels
        for c in channels:
            self.encoders.append(_DoubleConv(spatial_dims, cin, c, norm, act))
            cin = c
        self.bottleneck = _DoubleConv(spatial_dims, cin, self.bottleneck_channels, norm, act)
        # Up-sampling from the coarser decoder width to the width of each level.
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        coarser = self.bottleneck_channels
        for c in reversed(channels):
            if variant == "dwt_transposed":
                tconv = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[spatial_dims - 1]
                self.ups.append(tconv(coarser, c, 2, stride=2))
            elif coarser != c:
                self.ups.append(conv(coarser, c, 1))
            else:
                self.ups.append(nn.Identity())
            self.decoders.append(_DoubleConv(spatial_dims, 2 * c, c, norm, act))
            coarser = c
        self.head = conv(channels[0], out_channels, 1)

    def _shrink(self, high: torch.Tensor) -> torch.Tensor:
        if self.variant == "dwt_idwt_shrink" and self.shrink_lambda > 0:
            return high * (high.abs() > self.shrink_lambda)
        return high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != self.spatial_dims + 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"WaveUNet(spatial_dims={self.spatial_dims}, in_channels={self.in_channels}) expects "
                f"(B, {self.in_channels}, *{self.spatial_dims} spatial axes), got {tuple(x.shape)}."
            )
        skips, highs = [], []
        h = x
        for enc in self.encoders:
            h = enc(h)
            skips.append(h)
            if self.uses_idwt:
                h, high = self.dwt(h)
                highs.append(high)
            else:
                h = self.pool(h)
        h = self.bottleneck(h)
        for i, (up, dec) in enumerate(zip(self.ups, self.decoders)):
            level = len(self.channels) - 1 - i
            skip = skips[level]
            size = tuple(skip.shape[2:])
            if self.uses_idwt:
                h = self.idwt(up(h), self._shrink(highs[level]), shape=size)
            elif self.variant == "dwt_trilinear":
                mode = ("linear", "bilinear", "trilinear")[self.spatial_dims - 1]
                h = F.interpolate(up(h), size=size, mode=mode, align_corners=False)
            else:  # transposed conv doubles the size; crop to the skip (odd sizes)
                h = up(h)
                h = h[(slice(None), slice(None)) + tuple(slice(0, s) for s in size)]
            h = dec(torch.cat([h, skip], dim=1))
        return self.head(h)

    @classmethod
    def from_checkpoint(cls, path, *, map_location="cpu") -> "WaveUNet":
        """Build a WaveUNet from a checkpoint ``{"config", "state_dict", "meta"}`` (``medwave train-neurons``'s
        ``model.pt``), read with ``torch.load(weights_only=True)``; eval mode. The calibrated mask threshold is
        ``meta["threshold"]`` (:func:`medwave.networks.checkpoint.load_network` returns the meta).

        Raises:
            FileNotFoundError: No such file.
            ValueError: Not a WaveUNet checkpoint (or pickled objects inside: refused unread).
        """
        from medwave.networks.checkpoint import load_network

        return load_network(cls, path, map_location=map_location, what="WaveUNet checkpoint",
                            hint="Use a model.pt written by `medwave train-neurons`.")[0]

    def extra_repr(self) -> str:
        return (
            f"spatial_dims={self.spatial_dims}, channels={self.channels}, bottleneck={self.bottleneck_channels}, "
            f"variant={self.variant!r}, shrink_lambda={self.shrink_lambda}"
        )
