"""The image record of :mod:`medwave.io`: an array on a grid, with its affine and format metadata.

Every reader in :mod:`medwave.io` returns one; it has no I/O of its own, so the readers and writers
(:mod:`medwave.io.image`, :mod:`medwave.io.formats`) import it and not each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

__all__ = ["Image"]


@dataclass
class Image:
    """An image array on a grid.

    Attributes:
        array: Voxel data, spatial axes first (``(X, Y, Z)`` for NIfTI, as nibabel returns them),
            optional trailing vector/channel axis.
        affine: 4x4 voxel-to-world (RAS, mm) matrix.
        meta: Format metadata (NIfTI header fields, units, source path, ...).
        path: Where it was read from, if anywhere.
    """

    array: np.ndarray
    affine: np.ndarray = field(default_factory=lambda: np.eye(4))
    meta: dict[str, Any] = field(default_factory=dict)
    path: Optional[Path] = None

    def __post_init__(self) -> None:
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise ValueError(f"affine must be 4x4, got {self.affine.shape}")

    @property
    def spacing(self) -> tuple[float, ...]:
        """Voxel size along each spatial axis (mm), from the affine's column norms."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    def to_metatensor(self, channel_first: bool = True):
        """Convert to a MONAI MetaTensor ``(C, *spatial)`` carrying the affine and metadata."""
        import torch
        from monai.data import MetaTensor

        arr = self.array
        if channel_first:
            arr = arr[None] if arr.ndim <= 3 else np.moveaxis(arr, -1, 0)
        meta = {k: v for k, v in self.meta.items() if k != "header"}
        if self.path is not None:
            meta["filename_or_obj"] = str(self.path)
        return MetaTensor(torch.as_tensor(np.ascontiguousarray(arr)), affine=torch.as_tensor(self.affine), meta=meta)

    @classmethod
    def from_metatensor(cls, t, meta: Optional[dict] = None) -> "Image":
        """Build an :class:`Image` from a channel-first MONAI MetaTensor (single channel squeezed)."""
        arr = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
        arr = arr[0] if arr.shape[0] == 1 else np.moveaxis(arr, 0, -1)
        affine = np.asarray(t.affine.detach().cpu().numpy() if hasattr(t, "affine") else np.eye(4), dtype=np.float64)
        return cls(arr, affine=affine, meta=dict(meta or {}))
