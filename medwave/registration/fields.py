"""Displacement fields: warping (MONAI ``Warp``), scaling and squaring (MONAI ``DVF2DDF``), Jacobians.

Fields are MONAI DDFs ``(B, d, *spatial)`` in voxel units: channel ``i`` is the displacement along
spatial axis ``i`` and an image is warped as ``moving(x + u(x))``.

Example:
    >>> import torch
    >>> from medwave.registration.fields import jacobian_determinant
    >>> ddf = torch.zeros(1, 3, 8, 8, 8)
    >>> ddf[:, 0] = 0.1 * torch.arange(8.0).view(8, 1, 1)   # u_x = 0.1 x  ->  det = 1.1
    >>> float(jacobian_determinant(ddf).mean())
    1.100000023841858
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch

__all__ = ["warp", "integrate_velocity", "jacobian_determinant", "identity_grid"]


def _check_field(ddf: torch.Tensor) -> int:
    d = ddf.ndim - 2
    if d not in (2, 3) or ddf.shape[1] != d:
        raise ValueError(f"A displacement field must be (B, d, *spatial) with d = 2 or 3 channels, got {tuple(ddf.shape)}.")
    return d


def warp(image: torch.Tensor, ddf: torch.Tensor, *, mode: Literal["bilinear", "nearest"] = "bilinear",
         padding_mode: Literal["border", "zeros", "reflection"] = "border") -> torch.Tensor:
    """Warp ``image`` ``(B, C, *spatial)`` by ``ddf`` ``(B, d, *spatial)``: ``out(x) = image(x + ddf(x))``.

    Uses MONAI :class:`~monai.networks.blocks.Warp` (linear or nearest interpolation, differentiable).
    """
    from monai.networks.blocks import Warp

    _check_field(ddf)
    if image.shape[2:] != ddf.shape[2:]:
        raise ValueError(f"warp: image {tuple(image.shape)} and field {tuple(ddf.shape)} must share spatial shape.")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*native grid_sample.*")
        return Warp(mode=mode, padding_mode=padding_mode)(image, ddf.to(image.dtype) if image.is_floating_point() else ddf)


def integrate_velocity(velocity: torch.Tensor, *, steps: int = 7) -> torch.Tensor:
    """Exponentiate a stationary velocity field by scaling and squaring (MONAI ``DVF2DDF``, ``steps`` steps)."""
    from monai.networks.blocks import DVF2DDF

    _check_field(velocity)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*native grid_sample.*")
        return DVF2DDF(num_steps=steps, mode="bilinear", padding_mode="zeros")(velocity)


def identity_grid(shape, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """Voxel coordinates ``(d, *shape)`` (``ij`` indexing)."""
    axes = [torch.arange(n, dtype=dtype, device=device) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), 0)


def jacobian_determinant(ddf: torch.Tensor) -> torch.Tensor:
    """Determinant of the Jacobian of ``x -> x + u(x)``, ``(B, *spatial)``.

    Derivatives are central differences in the interior and one-sided at the border (``torch.gradient``),
    in voxel units (for an axis-aligned grid the determinant is the same in millimetres).
    """
    d = _check_field(ddf)
    ddf = ddf.to(torch.float64) if ddf.dtype == torch.float64 else ddf.float()
    dims = tuple(range(2, 2 + d))
    # grads[i][j] = d u_i / d x_j
    grads = [torch.gradient(ddf[:, i], dim=tuple(k - 1 for k in dims)) for i in range(d)]
    J = [[grads[i][j] + (1.0 if i == j else 0.0) for j in range(d)] for i in range(d)]
    if d == 2:
        return J[0][0] * J[1][1] - J[0][1] * J[1][0]
    return (J[0][0] * (J[1][1] * J[2][2] - J[1][2] * J[2][1])
            - J[0][1] * (J[1][0] * J[2][2] - J[1][2] * J[2][0])
            + J[0][2] * (J[1][0] * J[2][1] - J[1][1] * J[2][0]))
