"""The image record of :mod:`medwave.io`: an array on a grid, with its affine and format metadata, and the
reading of an in-memory MONAI MetaTensor into one.

Every reader in :mod:`medwave.io` returns one; it has no I/O of its own, so the readers and writers
(:mod:`medwave.io.image`, :mod:`medwave.io.formats`) import it and not each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

__all__ = ["Image", "image_from_metatensor", "readonly", "is_tensor", "tensor_numpy", "affine4", "LPS_TO_RAS_4"]

#: RAS <-> LPS (x and y negated): ITK/DICOM physical space against NIfTI/MONAI RAS.
LPS_TO_RAS_4 = np.diag([-1.0, -1.0, 1.0, 1.0])


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
        """Build an :class:`Image` from a channel-first MONAI MetaTensor (single channel squeezed).

        Same reading as :func:`medwave.io.as_image` (``meta`` is merged into the MetaTensor's own).
        """
        img = image_from_metatensor(t, "MetaTensor", True)
        img.meta.update(meta or {})
        return img


def readonly(arr: np.ndarray) -> np.ndarray:
    """A read-only view of ``arr`` (no copy): writing through it raises instead of changing the caller's data."""
    v = np.asarray(arr).view()
    v.flags.writeable = False
    return v


def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a torch tensor or MONAI MetaTensor (without importing torch)."""
    mod = type(obj).__module__
    return mod.startswith("torch") or mod.startswith("monai") or hasattr(obj, "detach")


def tensor_numpy(t: Any) -> np.ndarray:
    """A tensor's values as a NumPy array on the CPU."""
    return t.detach().cpu().numpy()


def affine4(aff: Any, nsp: int, name: str) -> np.ndarray:
    """A 4x4 matrix from a MONAI affine: ``(4, 4)``, ``(nsp+1, nsp+1)`` or batched ``(1, ., .)``."""
    a = np.asarray(tensor_numpy(aff) if is_tensor(aff) else aff, dtype=np.float64)
    if a.ndim == 3:
        if a.shape[0] != 1:
            raise ValueError(f"{name}: a batch of {a.shape[0]} affines was given; pass one image at a time.")
        a = a[0]
    if a.shape == (4, 4):
        return a
    n = a.shape[0] - 1
    if a.ndim == 2 and a.shape[0] == a.shape[1] and 1 <= n <= 3:
        out = np.eye(4)
        out[:n, :n] = a[:n, :n]
        out[:n, 3] = a[:n, n]
        return out
    raise ValueError(f"{name}: affine of shape {a.shape}; expected a 4x4 (or (spatial+1)^2) voxel-to-world matrix.")


def image_from_metatensor(t: Any, name: str, channel_first: bool) -> Image:
    """The :class:`Image` of a MONAI MetaTensor (see :func:`medwave.io.as_image` for the reading)."""
    arr = tensor_numpy(t)
    meta_in = dict(getattr(t, "meta", {}) or {})
    aff = getattr(t, "affine", None)
    if aff is not None and getattr(aff, "ndim", 2) == 3 and arr.ndim >= 3:
        if aff.shape[0] != 1 or arr.shape[0] != 1:
            raise ValueError(f"{name}: a batch of {arr.shape[0]} images was given; pass one image at a time.")
        arr = arr[0]  # (B=1, C, *spatial)
    if channel_first:
        if arr.ndim < 2:
            raise ValueError(f"{name}: a MetaTensor of shape {arr.shape}; expected (C, *spatial).")
        nsp = arr.ndim - 1
        arr = arr[0] if arr.shape[0] == 1 else np.moveaxis(arr, 0, -1)
    else:
        nsp = arr.ndim
    nsp = min(nsp, 3)
    affine = affine4(aff, nsp, name) if aff is not None else np.eye(4)
    space = str(meta_in.get("space", "RAS")).upper()
    if space == "LPS":
        affine = LPS_TO_RAS_4 @ affine
    meta: dict[str, Any] = {k: v for k, v in meta_in.items() if k not in ("affine", "original_affine")}
    meta["format"] = meta.get("format", "metatensor")
    meta["source_form"] = "metatensor"
    if arr.ndim > nsp:
        meta["vector"] = True
    src = meta_in.get("filename_or_obj")
    path = Path(src) if isinstance(src, (str, os.PathLike)) and str(src) else None
    return Image(readonly(arr), affine=affine, meta=meta, path=path)
