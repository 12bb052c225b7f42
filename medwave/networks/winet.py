"""WiNet: wavelet-based incremental learning for efficient deformable registration.

Written from the paper (Cheng et al., "WiNet: Wavelet-based Incremental Learning for Efficient
Medical Image Registration", MICCAI 2024, arXiv 2407.13426), on medwave's exact DWT/IDWT layers.

The network never convolves at full resolution. Both images go through a one-level Haar DWT
(``2**d`` subbands each, ``2 * 2**d`` channels at 1/2 resolution); a U-Net style encoder runs down to
1/16 and a decoder back up to 1/2. The decoder predicts the *wavelet coefficients* of the field, scale
by scale:

* at 1/8: all ``2**d`` subbands of the ``d``-component field (LLL + high bands);
* at 1/4 and 1/2: the ``2**d - 1`` high bands, merged with the up-sampled high bands of the coarser
  scale by a grouped-convolution refinement block (one group per subband);
* after each scale, an IDWT rebuilds the next finer low band; the last IDWT gives the full-resolution
  field.

With ``diffeomorphic=True`` that field is a stationary velocity integrated by scaling and squaring
(:func:`~medwave.networks.blocks.fields.integrate_velocity`, 7 steps, equal to MONAI's
:class:`~monai.networks.blocks.DVF2DDF`; training and inference integrate through the same
:meth:`WiNet.integrate`); otherwise it is the displacement itself.
The output is a MONAI DDF ``(B, d, *spatial)`` in voxel units (sampled as ``moving(x + u(x))``).
Inputs of any size are padded internally to a multiple of 16 and the field is cropped back.

Where this layout differs from the paper's (Fig. 1: a shared DWT layer and four contracting conv layers;
three expanding layers; the Incremental Deformation Learning Module with Conv-0, refinement blocks RB-1 and
RB-2 and a shared parameter-free IDWT):

* coefficients are predicted in full-resolution voxel units (``voxel_coefficients``: every IDWT input is
  scaled by ``2**(d/2)``); the paper's IDWT is the plain orthonormal one. Without the scale a 1/8-scale
  coefficient of 1 moves 0.044 voxel and training with near-zero heads stayed at the identity;
* the image pair's DWT enters the first encoder layer only (one level, all ``2**d`` subbands of both
  images); the refinement blocks see the decoder features and the coarser coefficients, not the image
  pair's own high bands at that scale;
* widths are ``(4c, 4c, 8c, 8c)`` for ``base_width = c`` (``c = 8``: about 1.42 M parameters as in the paper);
  the shipped network uses ``c = 4``; each refinement block is three grouped 3x3x3 convolutions (one group per
  subband, ``refine_width`` channels per group), a residual on the current scale's coefficients;
* the encoder's first convolution has instance normalisation; the rest use LeakyReLU(0.2) without norms.
These last points follow medwave's reading of the paper's text and figure, not its code (unlicensed).

Example:
    >>> import torch
    >>> from medwave.networks import WiNet
    >>> net = WiNet(spatial_dims=3)
    >>> moving, fixed = torch.rand(1, 1, 40, 48, 36), torch.rand(1, 1, 40, 48, 36)
    >>> net(moving, fixed).shape
    torch.Size([1, 3, 40, 48, 36])
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from medwave.networks.blocks.fields import integrate_velocity
from medwave.wavelets import DWT, IDWT
from medwave.wavelets.filters import WaveletLike

__all__ = ["WiNet", "haar_dwt", "haar_idwt", "use_onednn_convolutions"]

_SQRT_HALF = 0.5**0.5


def haar_dwt(x: torch.Tensor, spatial_dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One-level Haar DWT (periodization) of a tensor with even spatial sizes, by butterflies.

    Equal to :class:`medwave.wavelets.DWT` ``(spatial_dims, "haar")`` (same subband order and signs:
    ``a = (x0 + x1) / sqrt 2``, ``d = (x0 - x1) / sqrt 2`` per axis), without its general filter-bank
    machinery: strided slices and adds only. Returns ``low (B, C, *h)`` and ``high (B, C, 2**d - 1, *h)``.
    A plain, readable reference: WiNet and the instance optimisation use the core layers, whose chunked
    butterfly path computes the same and is 2-3x faster.
    """
    bands = [x]
    for axis in range(2, 2 + spatial_dims):
        nxt = []
        for b in bands:
            e, o = b.unflatten(axis, (-1, 2)).unbind(axis + 1)
            nxt += [(e + o) * _SQRT_HALF, (e - o) * _SQRT_HALF]
        bands = nxt
    return bands[0], torch.stack(bands[1:], 2)


def haar_idwt(low: torch.Tensor, high: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    """Inverse of :func:`haar_dwt` (equal to :class:`medwave.wavelets.IDWT` ``(spatial_dims, "haar")``)."""
    bands = [low] + list(high.unbind(2))
    for axis in range(1 + spatial_dims, 1, -1):  # last axis first: its bit is the least significant
        nxt = []
        for a, d in zip(bands[0::2], bands[1::2]):
            e, o = (a + d) * _SQRT_HALF, (a - d) * _SQRT_HALF
            nxt.append(torch.stack([e, o], axis + 1).flatten(axis, axis + 1))
        bands = nxt
    return bands[0]

def _onednn_ok(x: torch.Tensor, conv: nn.modules.conv._ConvNd) -> bool:
    return (x.device.type == "cpu" and x.dtype == torch.float32 and conv.padding_mode == "zeros"
            and not isinstance(conv.padding, str) and torch.backends.mkldnn.is_available()
            and torch.backends.mkldnn.enabled)


class _OneDNNConv:
    """Mixin: the convolution always takes oneDNN on CPU float32 (same weights, same values up to float rounding).

    PyTorch picks its native "slow_conv3d" for a batch of one when ``N * C * D * H`` is at most 20480, which is
    every WiNet layer below 1/2 resolution on a 2 mm brain and nearly all of them on a 64^3 training crop. That
    path is several times slower, backward above all: a batch-1 training step took 1.24 s, one of two pairs
    0.65 s. WiNet's convolutions are switched to these classes after construction (``state_dict`` unchanged).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if _onednn_ok(x, self):
            return torch.ops.aten.mkldnn_convolution(x, self.weight, self.bias, list(self.padding),
                                                     list(self.stride), list(self.dilation), self.groups)
        return super().forward(x)


class _OneDNNConv3d(_OneDNNConv, nn.Conv3d):
    """``nn.Conv3d`` through oneDNN (see :class:`_OneDNNConv`)."""


class _OneDNNConv2d(_OneDNNConv, nn.Conv2d):
    """``nn.Conv2d`` through oneDNN (see :class:`_OneDNNConv`)."""


_ONEDNN = {nn.Conv3d: _OneDNNConv3d, nn.Conv2d: _OneDNNConv2d}


def use_onednn_convolutions(module: nn.Module) -> int:
    """Switch every plain ``nn.Conv2d``/``nn.Conv3d`` of ``module`` to the oneDNN-always classes; returns how many.

    Only the class changes (parameters, buffers and ``state_dict`` keys stay), so checkpoints are unaffected.
    """
    convs = [m for m in module.modules() if type(m) in _ONEDNN]
    for m in convs:
        m.__class__ = _ONEDNN[type(m)]
    return len(convs)


class _ConvBlock(nn.Sequential):
    """Convolution, then optional instance norm and LeakyReLU(0.2): the layout of MONAI's ``Convolution`` block.

    Children and parameter names are MONAI's (``conv``, ``adn.N``, ``adn.A``), so checkpoints of either read the
    same; written here because importing ``monai.networks`` costs a `medwave register --weights` command several
    seconds of start-up (its package imports every network and optional dependency) for three layer types.
    """

    def __init__(self, conv: nn.Module, cout: int, d: int, *, norm: Optional[str], act: bool) -> None:
        super().__init__()
        self.add_module("conv", conv)
        adn = nn.Sequential()
        if norm == "instance":
            adn.add_module("N", (nn.InstanceNorm3d if d == 3 else nn.InstanceNorm2d)(cout))
        elif norm is not None:
            raise ValueError(f"WiNet blocks know norm='instance' or None, got {norm!r}.")
        if act:
            adn.add_module("A", nn.LeakyReLU(negative_slope=0.2, inplace=True))
        if len(adn):
            self.add_module("adn", adn)


def _conv(d: int, cin: int, cout: int, *, strides: int = 1, norm: Optional[str] = None, groups: int = 1,
          conv_only: bool = False) -> _ConvBlock:
    """3x3(x3) convolution (padding 1, stride ``strides``), then ``norm`` and LeakyReLU unless ``conv_only``."""
    conv = (nn.Conv3d if d == 3 else nn.Conv2d)(cin, cout, 3, stride=strides, padding=1, groups=groups)
    return _ConvBlock(conv, cout, d, norm=None if conv_only else norm, act=not conv_only)


def _up(d: int, cin: int, cout: int) -> _ConvBlock:
    """2x2(x2) transposed convolution of stride 2 (doubles every axis), then LeakyReLU."""
    conv = (nn.ConvTranspose3d if d == 3 else nn.ConvTranspose2d)(cin, cout, 2, stride=2)
    return _ConvBlock(conv, cout, d, norm=None, act=True)


class _Refine(nn.Module):
    """Merge up-sampled coarser high bands with the current ones, one convolution group per subband."""

    def __init__(self, d: int, n_bands: int, hidden: int) -> None:
        super().__init__()
        self.d, self.n_bands = d, n_bands
        self.body = nn.Sequential(
            _conv(d, 2 * d * n_bands, hidden * n_bands, groups=n_bands),
            _conv(d, hidden * n_bands, hidden * n_bands, groups=n_bands),
            _conv(d, hidden * n_bands, d * n_bands, groups=n_bands, conv_only=True),
        )

    def forward(self, coarse_up: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        b, sp = current.shape[0], current.shape[2:]
        # interleave per band: (B, nb, 2d, *sp) so that each group sees one band's 2d channels
        a = coarse_up.reshape(b, self.n_bands, self.d, *sp)
        c = current.reshape(b, self.n_bands, self.d, *sp)
        x = torch.cat([a, c], dim=2).reshape(b, 2 * self.d * self.n_bands, *sp)
        fmt = torch.channels_last_3d if len(sp) == 3 else torch.channels_last
        return (current + self.body(x.contiguous(memory_format=fmt))).contiguous()


class WiNet(nn.Module):
    """WiNet deformable registration network (MONAI conventions).

    Args:
        spatial_dims: 2 or 3.
        wavelet: Wavelet of the input DWT and of the field reconstruction (``"haar"`` as in the paper;
            ``"db4"`` was used for cardiac data). Periodization mode, so every axis halves exactly.
        diffeomorphic: Integrate the predicted field as a stationary velocity (scaling and squaring,
            ``integration_steps`` steps) so that the output is diffeomorphic.
        base_width: Width multiplier ``c``; encoder widths are ``(4c, 4c, 8c, 8c)``. ``c=8`` gives the
            paper's network (about 1.42 M parameters in 3D).
        integration_steps: Scaling-and-squaring steps (7 as in VoxelMorph/WiNet).
        refine_width: Hidden channels per subband in the refinement blocks.
        in_channels: Channels per image.
        voxel_coefficients: Heads predict coefficients in full-resolution voxel units (each IDWT input is
            scaled by ``2**(d/2)``), so that a unit head output moves one voxel at every scale. ``False`` is
            the plain orthonormal IDWT of the first medwave versions, under which a 1/8-scale coefficient
            of 1 rebuilds a 0.044-voxel field in 3D: with heads initialised near zero, training stayed at
            the identity for hundreds of steps.

    Shapes:
        ``forward(moving, fixed)`` with both ``(B, 1, *spatial)`` returns the DDF ``(B, d, *spatial)``.
    """

    multiple = 16

    def __init__(
        self,
        spatial_dims: int = 3,
        wavelet: WaveletLike = "haar",
        *,
        diffeomorphic: bool = True,
        base_width: int = 8,
        integration_steps: int = 7,
        refine_width: int = 8,
        in_channels: int = 1,
        voxel_coefficients: bool = True,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"WiNet: spatial_dims must be 2 or 3, got {spatial_dims}.")
        if base_width < 1:
            raise ValueError(f"WiNet: base_width must be >= 1, got {base_width}.")
        d = self.spatial_dims = spatial_dims
        nb = 2**d
        self.n_high = nb - 1
        self.diffeomorphic = bool(diffeomorphic)
        self.integration_steps = int(integration_steps)
        self.in_channels = in_channels
        self.wavelet = wavelet if isinstance(wavelet, str) else getattr(wavelet, "name", str(wavelet))
        self.base_width = base_width
        self.config = dict(spatial_dims=spatial_dims, wavelet=self.wavelet, diffeomorphic=self.diffeomorphic,
                           base_width=base_width, integration_steps=integration_steps, refine_width=refine_width,
                           in_channels=in_channels, voxel_coefficients=bool(voxel_coefficients))
        # every IDWT input is scaled by 2**(d/2), so that a head output of 1 is a 1-voxel field (full-resolution
        # units) whatever its scale; without it a 1/8 low band of 1 rebuilds a field of 2**(-4.5) = 0.044 voxel
        # in 3D and the heads need outputs ~50 for a 2-voxel move (training then barely leaves the identity)
        self.coef_scale = 2.0 ** (d / 2.0) if voxel_coefficients else 1.0
        c1, c2, c3, c4 = 4 * base_width, 4 * base_width, 8 * base_width, 8 * base_width
        self.dwt = DWT(d, wavelet)
        self.idwt = IDWT(d, wavelet)
        cin = 2 * in_channels * nb
        # encoder: 1/2 -> 1/16
        self.enc1 = nn.Sequential(_conv(d, cin, c1, norm="instance"), _conv(d, c1, c1))
        self.enc2 = nn.Sequential(_conv(d, c1, c2, strides=2), _conv(d, c2, c2))
        self.enc3 = nn.Sequential(_conv(d, c2, c3, strides=2), _conv(d, c3, c3))
        self.enc4 = nn.Sequential(_conv(d, c3, c4, strides=2), _conv(d, c4, c4), _conv(d, c4, c4))
        # decoder: 1/16 -> 1/8 -> 1/4 -> 1/2
        self.up3 = _up(d, c4, c3)
        self.dec3 = nn.Sequential(_conv(d, 2 * c3, c3), _conv(d, c3, c3), _conv(d, c3, c3))
        self.up2 = _up(d, c3, c2)
        self.dec2 = nn.Sequential(_conv(d, 2 * c2, c2), _conv(d, c2, c2), _conv(d, c2, c2))
        self.up1 = _up(d, c2, c1)
        self.dec1 = nn.Sequential(_conv(d, 2 * c1, c1), _conv(d, c1, c1))
        # coefficient heads
        self.head8 = _conv(d, c3, d * nb, conv_only=True)
        self.head4 = _conv(d, c2, d * self.n_high, conv_only=True)
        self.head2 = _conv(d, c1, d * self.n_high, conv_only=True)
        self.refine4 = _Refine(d, self.n_high, refine_width)
        self.refine2 = _Refine(d, self.n_high, refine_width)
        for head in (self.head8, self.head4, self.head2, self.refine4.body[-1], self.refine2.body[-1]):
            conv = head.conv
            nn.init.normal_(conv.weight, 0.0, 1e-5)
            nn.init.zeros_(conv.bias)
        self._fmt = torch.channels_last_3d if d == 3 else torch.channels_last
        use_onednn_convolutions(self)

    def integrate(self, field: torch.Tensor) -> torch.Tensor:
        """The displacement of a predicted field: scaling and squaring of a velocity, or the field itself.

        The one integrator of WiNet, used by :meth:`forward` and by training alike.
        """
        return integrate_velocity(field, steps=self.integration_steps) if self.diffeomorphic else field

    # -- helpers -------------------------------------------------------------------------------------
    def _split(self, coeffs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, d*nb, *sp) with component-major... -> low (B, d, *sp), high (B, d, nb-1, *sp)."""
        b, sp = coeffs.shape[0], coeffs.shape[2:]
        c = coeffs.reshape(b, self.n_high + 1, self.spatial_dims, *sp)  # band-major channels
        low = c[:, 0]
        high = c[:, 1:].transpose(1, 2)  # (B, d, nb-1, *sp)
        return low, high

    def _high_to_channels(self, high: torch.Tensor) -> torch.Tensor:
        """(B, d, nb-1, *sp) -> band-major channels (B, (nb-1)*d, *sp)."""
        b, sp = high.shape[0], high.shape[3:]
        return high.transpose(1, 2).reshape(b, self.n_high * self.spatial_dims, *sp)

    def _channels_to_high(self, ch: torch.Tensor) -> torch.Tensor:
        b, sp = ch.shape[0], ch.shape[2:]
        return ch.reshape(b, self.n_high, self.spatial_dims, *sp).transpose(1, 2)

    def _dwt(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # the core layers take their chunked butterfly path for Haar (2-3x faster than haar_dwt/haar_idwt)
        return self.dwt(x)

    def _idwt(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        return self.idwt(low.contiguous(), high.contiguous())

    def _rebuild(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """The next finer field from predicted coefficients (scaled to voxel units, see ``voxel_coefficients``)."""
        s = self.coef_scale
        return self._idwt(low * s, high * s) if s != 1.0 else self._idwt(low, high)

    def _upsample(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="trilinear" if self.spatial_dims == 3 else "bilinear",
                             align_corners=False)

    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        spatial = x.shape[2:]
        pads: list[int] = []
        for n in reversed(spatial):
            pads += [0, (-n) % self.multiple]
        if any(pads):
            x = F.pad(x, pads)
        return x, list(spatial)

    def _cl(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=self._fmt)

    def _first_block(self, x: torch.Tensor) -> torch.Tensor:
        """``enc1[0]`` (conv, InstanceNorm, LeakyReLU) with its output kept channels-last.

        PyTorch's InstanceNorm returns the default layout, after which every later conv would pay two oneDNN
        reorders of a full 1/2-resolution tensor. The norm MONAI builds there (no affine, no running
        statistics) is computed here on the channels-last conv output: per-channel mean and biased variance
        over space, as ``F.instance_norm`` (equal up to float rounding).
        """
        block = self.enc1[0]
        y = self._cl(block.conv(x))  # a no-op where oneDNN ran on channels-last input
        var, mean = torch.var_mean(y, dim=tuple(range(2, y.ndim)), keepdim=True, correction=0)
        z, r = y - mean, torch.rsqrt(var + block.adn.N.eps)
        z = z.mul_(r) if not torch.is_grad_enabled() else z * r
        return block.adn.A(z)

    # -- forward -------------------------------------------------------------------------------------
    def predict_field(self, moving: torch.Tensor, fixed: torch.Tensor, *, scale: int = 1) -> torch.Tensor:
        """The network's field before integration (velocity if diffeomorphic), on the padded grid.

        Convolutions run on channels-last tensors: oneDNN's grouped 3D convolutions (the refinement
        blocks) are 10-20x slower in the default layout on CPU. The values are those of the default
        layout up to float rounding.

        Args:
            moving, fixed: ``(B, C, *spatial)`` images on the padded grid (see :meth:`forward`).
            scale: 1 (default) for the full-resolution field; 2 or 4 stop at the field the network rebuilds on
                the grid ``scale`` times coarser, skipping the finer decoder stages (at 1/2 they are most of the
                forward's time). That field is the block average of the full one (the Haar IDWT keeps a
                block's mean in its low band) and its values are in full-resolution voxels: divide by ``scale``
                for voxels of its own grid. For a start that an optimiser refines from that level on.
        """
        if scale not in (1, 2, 4):
            raise ValueError(f"WiNet.predict_field: scale must be 1, 2 or 4, got {scale!r}.")
        x = torch.cat([moving, fixed], dim=1)
        low, high = self._dwt(x)  # (B, 2C, *h), (B, 2C, nb-1, *h)
        b, sp = x.shape[0], low.shape[2:]
        feats = torch.cat([low.unsqueeze(2), high], dim=2).reshape(b, -1, *sp)
        feats = feats.contiguous(memory_format=self._fmt)
        e1 = self.enc1[1](self._first_block(feats))  # 1/2
        # every stage output back to channels-last: PyTorch runs the small 1/16 convs outside oneDNN and returns
        # the default layout, which would otherwise carry on into the 1/2-resolution decoder
        cl = self._cl
        e2 = cl(self.enc2(e1))  # 1/4
        e3 = cl(self.enc3(e2))  # 1/8
        e4 = cl(self.enc4(e3))  # 1/16
        d3 = cl(self.dec3(torch.cat([cl(self.up3(e4)), e3], 1)))  # 1/8
        low8, high8 = self._split(self.head8(d3).contiguous())  # coefficients at 1/8 -> field at 1/4
        field4 = self._rebuild(low8, high8)
        if scale == 4:
            return field4
        d2 = cl(self.dec2(torch.cat([cl(self.up2(d3)), e2], 1)))  # 1/4
        h4 = self.refine4(self._upsample(self._high_to_channels(high8)), self.head4(d2).contiguous())
        field2 = self._rebuild(field4, self._channels_to_high(h4))  # field at 1/2
        if scale == 2:
            return field2
        d1 = cl(self.dec1(torch.cat([cl(self.up1(d2)), e1], 1)))  # 1/2
        h2 = self.refine2(self._upsample(h4), self.head2(d1).contiguous())
        return self._rebuild(field2, self._channels_to_high(h2))  # full resolution

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
        """Predict the DDF that warps ``moving`` onto ``fixed``.

        Args:
            moving: ``(B, C, *spatial)`` moving image (``C = in_channels``).
            fixed: ``(B, C, *spatial)`` fixed image on the same grid.

        Returns:
            DDF ``(B, spatial_dims, *spatial)`` in voxel units.
        """
        if moving.shape != fixed.shape:
            raise ValueError(f"WiNet: moving {tuple(moving.shape)} and fixed {tuple(fixed.shape)} must have the same "
                             "shape; resample the moving image onto the fixed grid first.")
        if moving.ndim != self.spatial_dims + 2 or moving.shape[1] != self.in_channels:
            raise ValueError(f"WiNet(spatial_dims={self.spatial_dims}, in_channels={self.in_channels}) expects "
                             f"(B, {self.in_channels}, *spatial) inputs, got {tuple(moving.shape)}.")
        m, spatial = self._pad(moving)
        f, _ = self._pad(fixed)
        field = self.integrate(self.predict_field(m, f))
        crop = (slice(None), slice(None)) + tuple(slice(0, n) for n in spatial)
        return field[crop].contiguous()

    @classmethod
    def from_checkpoint(cls, path, *, map_location="cpu") -> "WiNet":
        """Build a WiNet from a checkpoint ``{"config", "state_dict", "meta"}`` (see
        :mod:`medwave.networks.checkpoint`), read with ``torch.load(weights_only=True)``; eval mode.

        Raises:
            FileNotFoundError: No such file.
            medwave.networks.checkpoint.UnsafeCheckpointError: The file holds pickled objects (refused unread).
            medwave.networks.checkpoint.CheckpointError: Corrupt, another layout, or not a WiNet.
        """
        from medwave.networks.checkpoint import load_network

        return load_network(_LegacyAwareWiNet, path, map_location=map_location, what="WiNet checkpoint",
                            hint="Use a file written by `medwave train-registration` (best.pt / last.pt) or "
                                 "--weights default.")[0]


class _LegacyAwareWiNet(WiNet):
    """What :meth:`WiNet.from_checkpoint` builds: a config without ``voxel_coefficients`` (written before the
    option existed) means the plain orthonormal IDWT those weights were trained with."""

    def __init__(self, *args, **config) -> None:
        config.setdefault("voxel_coefficients", False)
        super().__init__(*args, **config)


_LegacyAwareWiNet.__name__ = _LegacyAwareWiNet.__qualname__ = "WiNet"
