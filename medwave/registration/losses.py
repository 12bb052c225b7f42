"""Registration losses: image similarity (MONAI LNCC, window 9, or MSE) + lambda x smoothness (DiffusionLoss).

Example:
    >>> import torch
    >>> from medwave.registration.losses import RegistrationLoss
    >>> loss = RegistrationLoss(similarity="lncc", smoothness=1.0)
    >>> x = torch.rand(1, 1, 16, 16, 16)
    >>> total, parts = loss(x, x, torch.zeros(1, 3, 16, 16, 16))
    >>> round(float(parts["similarity"]), 3)
    -1.0
"""

from __future__ import annotations

import warnings

from typing import Literal

import torch
from torch import nn

__all__ = ["RegistrationLoss", "registration_loss"]


class RegistrationLoss(nn.Module):
    """``similarity(warped, fixed) + smoothness * DiffusionLoss(field)``.

    Args:
        similarity: ``"lncc"`` (MONAI LocalNormalizedCrossCorrelationLoss, rectangular window; -1 is a
            perfect match) or ``"mse"``.
        window: LNCC window (9 as in VoxelMorph / WiNet).
        smoothness: lambda, the weight of the first-order (diffusion) regulariser on the field.
        spatial_dims: 2 or 3.
    """

    def __init__(self, similarity: Literal["lncc", "mse"] = "lncc", *, window: int = 9, smoothness: float = 1.0,
                 spatial_dims: int = 3) -> None:
        super().__init__()
        from monai.losses import DiffusionLoss, LocalNormalizedCrossCorrelationLoss

        if similarity not in ("lncc", "mse"):
            raise ValueError(f"similarity must be 'lncc' or 'mse', got {similarity!r}.")
        if smoothness < 0:
            raise ValueError(f"smoothness (lambda) must be >= 0, got {smoothness}.")
        self.similarity_name = similarity
        self.smoothness = float(smoothness)
        if similarity == "lncc":
            self.sim = LocalNormalizedCrossCorrelationLoss(spatial_dims=spatial_dims, kernel_size=window,
                                                           kernel_type="rectangular")
        else:
            self.sim = nn.MSELoss()
        self.reg = DiffusionLoss()

    def forward(self, warped: torch.Tensor, fixed: torch.Tensor, field: torch.Tensor):
        """Return ``(total, {"similarity": ..., "smoothness": ...})``."""
        s = self.sim(warped, fixed)
        if self.smoothness > 0:
            with warnings.catch_warnings():
                # MONAI's spatial_gradient indexes with a list of slices; torch warns on every call
                # (the result is the same). Silenced here so training logs stay readable.
                warnings.filterwarnings("ignore", message="Using a non-tuple sequence for multidimensional indexing")
                r = self.reg(field)
        else:
            r = field.new_zeros(())
        return s + self.smoothness * r, {"similarity": s.detach(), "smoothness": r.detach()}


def registration_loss(warped: torch.Tensor, fixed: torch.Tensor, field: torch.Tensor, *,
                      similarity: Literal["lncc", "mse"] = "lncc", window: int = 9, smoothness: float = 1.0) -> torch.Tensor:
    """Functional form of :class:`RegistrationLoss` (returns the total)."""
    return RegistrationLoss(similarity, window=window, smoothness=smoothness, spatial_dims=fixed.ndim - 2)(
        warped, fixed, field)[0]
