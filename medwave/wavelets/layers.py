"""``torch.nn`` wavelet layers for networks: DWT, IDWT and DWTPool (WaveCNet-style downsampling).

Layers default to ``mode="periodization"`` so that every axis halves exactly (``ceil(n/2)``) and
IDWT restores the input shape, which is what encoder-decoder networks need. Any PyWavelets mode
and wavelet works; ``learnable=True`` (or passing a :class:`LearnableWavelet`, which layers may
share) makes the filters trainable parameters.

Example:
    >>> import torch
    >>> from medwave.wavelets import DWT, IDWT
    >>> dwt, idwt = DWT(spatial_dims=3, wavelet="db2"), IDWT(spatial_dims=3, wavelet="db2")
    >>> x = torch.randn(2, 4, 16, 16, 16)
    >>> low, high = dwt(x)
    >>> low.shape, high.shape
    (torch.Size([2, 4, 8, 8, 8]), torch.Size([2, 4, 7, 8, 8, 8]))
    >>> torch.allclose(idwt(low, high), x, atol=1e-5)
    True
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import nn

from medwave.wavelets.filters import FilterBank, WaveletLike, get_filter_bank
from medwave.wavelets.functional import dwt_lowpass, dwt_packed, idwt_packed
from medwave.wavelets.learnable import LearnableWavelet
from medwave.wavelets.modes import Mode, check_mode

__all__ = ["DWT", "IDWT", "DWTPool"]


class _WaveletLayer(nn.Module):
    def __init__(self, spatial_dims: int, wavelet: WaveletLike, mode: Mode, learnable: bool = False) -> None:
        super().__init__()
        if spatial_dims not in (1, 2, 3):
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims}.")
        self.spatial_dims = spatial_dims
        self.filter_bank: Union[FilterBank, LearnableWavelet]
        if isinstance(wavelet, LearnableWavelet):
            self.filter_bank = wavelet  # shared (registered) learnable bank
        elif learnable:
            self.filter_bank = LearnableWavelet(wavelet)
        else:
            self.filter_bank = get_filter_bank(wavelet)
        self.mode = check_mode(mode)

    def _check(self, x: torch.Tensor, extra: int = 0) -> None:
        if x.ndim != self.spatial_dims + 2 + extra:
            raise ValueError(
                f"{type(self).__name__}(spatial_dims={self.spatial_dims}) expects a "
                f"{self.spatial_dims + 2 + extra}-D tensor, got shape {tuple(x.shape)}."
            )

    def extra_repr(self) -> str:
        return f"spatial_dims={self.spatial_dims}, wavelet={self.filter_bank.name!r}, mode={self.mode!r}"


class DWT(_WaveletLayer):
    """One-level DWT returning ``(low, high)``.

    ``low`` is ``(B, C, *coarse)``; ``high`` is ``(B, C, 2**d - 1, *coarse)`` with the detail bands
    in PyWavelets' key order (``subband_keys(d)[1:]``).
    """

    def __init__(
        self, spatial_dims: int = 3, wavelet: WaveletLike = "haar", *, mode: Mode = "periodization", learnable: bool = False
    ) -> None:
        super().__init__(spatial_dims, wavelet, mode, learnable)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x)
        c = dwt_packed(x, self.filter_bank, mode=self.mode, spatial_dims=self.spatial_dims, check_finite=False)
        return c[:, :, 0], c[:, :, 1:]


class IDWT(_WaveletLayer):
    """Inverse of :class:`DWT`: ``forward(low, high, shape=None)``.

    ``high`` may be ``None`` (treated as zeros: a wavelet up-sampling of ``low``). ``shape``
    crops the output to a spatial shape (needed for odd sizes in non-periodization modes).
    """

    def __init__(
        self, spatial_dims: int = 3, wavelet: WaveletLike = "haar", *, mode: Mode = "periodization", learnable: bool = False
    ) -> None:
        super().__init__(spatial_dims, wavelet, mode, learnable)

    def forward(
        self, low: torch.Tensor, high: Optional[torch.Tensor] = None, shape: Optional[Sequence[int]] = None
    ) -> torch.Tensor:
        self._check(low)
        if high is None:
            high = low.new_zeros((low.shape[0], low.shape[1], 2**self.spatial_dims - 1) + tuple(low.shape[2:]))
        self._check(high, extra=1)
        if high.shape[:2] != low.shape[:2] or high.shape[3:] != low.shape[2:]:
            raise ValueError(
                f"IDWT: high bands {tuple(high.shape)} do not match low band {tuple(low.shape)}; expected "
                f"(B, C, {2 ** self.spatial_dims - 1}, *low.shape[2:])."
            )
        packed = torch.cat([low.unsqueeze(2), high], dim=2)
        return idwt_packed(packed, self.filter_bank, mode=self.mode, spatial_dims=self.spatial_dims, shape=shape)


class DWTPool(_WaveletLayer):
    """Wavelet pooling: keep only the low band (WaveCNet), computed without the detail bands."""

    def __init__(
        self, spatial_dims: int = 3, wavelet: WaveletLike = "haar", *, mode: Mode = "periodization", learnable: bool = False
    ) -> None:
        super().__init__(spatial_dims, wavelet, mode, learnable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return dwt_lowpass(x, self.filter_bank, mode=self.mode, spatial_dims=self.spatial_dims, check_finite=False)
