"""The image record and NIfTI read/write with affine and header kept.

Example:
    >>> import numpy as np, tempfile, os
    >>> from medwave.io import Image, load_image, save_image
    >>> img = Image(np.zeros((4, 5, 6), np.float32), affine=np.diag([2.0, 2.0, 2.0, 1.0]))
    >>> p = save_image(img, os.path.join(tempfile.mkdtemp(), "x.nii.gz"))
    >>> load_image(p).spacing
    (2.0, 2.0, 2.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from medwave.utils.atomic import atomic_path, check_output_path

__all__ = ["Image", "load_image", "save_image"]

PathLike = Union[str, "Path"]


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


def load_image(path: PathLike) -> Image:
    """Read a NIfTI image (``.nii``/``.nii.gz``) keeping its affine, header, units and data type.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is not a readable NIfTI image (message names the file and the fix).
    """
    import nibabel as nib

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file. Check the path.")
    if p.is_dir():
        raise IsADirectoryError(f"{p} is a folder, not an image file.")
    try:
        img = nib.load(str(p))
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise ValueError(f"{p}: cannot read as NIfTI ({type(exc).__name__}: {exc}). Is the file complete and a .nii/.nii.gz image?") from exc
    header = img.header
    meta: dict[str, Any] = {"header": header.copy(), "format": "nifti"}
    try:
        meta["units"] = header.get_xyzt_units()
        meta["intent"] = header.get_intent()[0]
    except Exception:  # pragma: no cover - non-NIfTI1 headers
        pass
    return Image(np.asarray(data), affine=np.asarray(img.affine), meta=meta, path=p)


def save_image(
    image: Union[Image, np.ndarray],
    path: PathLike,
    *,
    affine: Optional[np.ndarray] = None,
    header: Any = None,
    dtype: Any = None,
    overwrite: bool = True,
    vector: bool = False,
) -> Path:
    """Write an image to NIfTI atomically, with its affine (and header when it has one).

    Args:
        image: An :class:`Image` or an array (then ``affine`` is used, identity by default).
        path: ``.nii`` or ``.nii.gz`` path.
        affine: Overrides the image's affine.
        header: A nibabel header to start from (default: the image's own, if any).
        dtype: On-disk data type (default: the array's).
        overwrite: Replace an existing file.
        vector: Mark a trailing axis as a vector (NIfTI intent ``vector``, stored as 5-D ``X,Y,Z,1,V``).

    Returns:
        The written path.
    """
    import nibabel as nib

    if isinstance(image, Image):
        arr, aff = image.array, image.affine
        header = header if header is not None else image.meta.get("header")
    else:
        arr, aff = np.asarray(image), np.eye(4)
    if affine is not None:
        aff = np.asarray(affine, dtype=np.float64)
    p = check_output_path(path, overwrite=overwrite)
    if dtype is not None:
        arr = arr.astype(dtype)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    if vector:
        arr = arr.reshape(arr.shape[:3] + (1, arr.shape[-1]))
    hdr = header.copy() if header is not None else None
    img = nib.Nifti1Image(arr, aff, header=hdr)
    img.set_data_dtype(arr.dtype)
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=1)
    if vector:
        img.header.set_intent("vector")
    with atomic_path(p) as tmp:
        nib.save(img, str(tmp))
    return p
