"""Validators for images read from disk: clear messages that name the file and the fix.

Example:
    >>> import numpy as np
    >>> from medwave.io import Image, require_3d
    >>> require_3d(Image(np.zeros((256, 256), np.float32)), "moving.nii.gz", "register")
    Traceback (most recent call last):
    ...
    ValueError: moving.nii.gz is 2D (256x256); register needs 3D volumes.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from medwave.io.record import Image

__all__ = [
    "require_3d",
    "require_2d_or_3d",
    "require_min_size",
    "require_not_constant",
    "require_real",
    "check_finite_image",
    "spatial_shape",
    "describe_shape",
]


def _name(image: Image, name: Optional[str]) -> str:
    if name:
        return str(name)
    if image.path is not None:
        return image.path.name
    return "the image"


def describe_shape(shape) -> str:
    """``(256, 256)`` -> ``'256x256'``."""
    return "x".join(str(int(s)) for s in shape)


def spatial_shape(image: Image) -> tuple[int, ...]:
    """The spatial shape of an image record.

    NIfTI vector images (intent ``vector``) and 4-D arrays whose meta says ``"vector": True`` keep their
    trailing component axis out of the spatial shape; a 5-D NIfTI ``X,Y,Z,1,V`` field also counts as 3D.
    """
    shape = tuple(int(s) for s in image.array.shape)
    intent = image.meta.get("intent")
    if image.meta.get("vector") or intent == "vector":
        if len(shape) == 5 and shape[3] == 1:
            return shape[:3]
        return shape[:-1]
    return shape


def require_3d(image: Image, name: Optional[str] = None, purpose: str = "this step") -> None:
    """Raise unless ``image`` is a 3D volume (singleton 3rd axis counts as 2D, a 4th axis needs one volume).

    Args:
        image: The image record.
        name: How to call it in the message (default: its file name).
        purpose: What needs the volume ("register", "denoise 3D", ...).

    Raises:
        ValueError: ``"moving.nii.gz is 2D (256x256); register needs 3D volumes."``
    """
    n = _name(image, name)
    shape = spatial_shape(image)
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) == 3 and min(shape) == 1:
        flat = tuple(s for s in shape if s != 1)
        raise ValueError(
            f"{n} is {len(flat)}D ({describe_shape(shape)}, a single slice); {purpose} needs 3D volumes with more "
            f"than one voxel along every axis."
        )
    if len(shape) < 3:
        raise ValueError(f"{n} is {len(shape)}D ({describe_shape(shape)}); {purpose} needs 3D volumes.")
    if len(shape) > 3:
        raise ValueError(
            f"{n} is {len(shape)}D ({describe_shape(shape)}), e.g. a time series; {purpose} needs one 3D volume. "
            f"Extract a single volume first (e.g. fslroi or nibabel's img.slicer[..., 0])."
        )


def require_2d_or_3d(image: Image, name: Optional[str] = None, purpose: str = "this step") -> int:
    """Raise unless the image is 2D or 3D; return the number of spatial dims (a singleton 3rd axis is 2D)."""
    n = _name(image, name)
    shape = spatial_shape(image)
    while len(shape) > 2 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) not in (2, 3):
        raise ValueError(f"{n} is {len(shape)}D ({describe_shape(shape)}); {purpose} needs a 2D image or a 3D volume.")
    return len(shape)


def check_finite_image(image: Image, name: Optional[str] = None) -> None:
    """Raise if the image has NaN or Inf voxels, saying how many and how to fix it.

    Raises:
        ValueError: ``"brain.nii.gz has 12 NaN/Inf voxels out of 1000000; ..."``
    """
    arr = np.asarray(image.array)
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.complexfloating):
        return
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        n = _name(image, name)
        raise ValueError(
            f"{n} has {bad} NaN/Inf voxel(s) out of {arr.size}; replace them first (e.g. "
            f"`fslmaths in -nan out` or numpy.nan_to_num) and run again."
        )


def require_min_size(image: Image, min_size: int, name: Optional[str] = None, purpose: str = "this step",
                     why: str = "") -> None:
    """Raise unless every spatial axis of ``image`` has at least ``min_size`` voxels.

    Args:
        image: The image record.
        min_size: Smallest accepted length of a spatial axis.
        name: How to call it in the message (default: its file name).
        purpose: What needs the size ("register", ...).
        why: Why (e.g. "its 3-level wavelet pyramid halves every axis 3 times").

    Raises:
        ValueError: ``"tiny.nii.gz is 2x2x2: too small for register (...); every axis needs at least 8 voxels."``

    Example:
        >>> require_min_size(Image(np.zeros((2, 2, 2), np.float32)), 8, "tiny.nii.gz", "register")
        Traceback (most recent call last):
        ...
        ValueError: tiny.nii.gz is 2x2x2: too small for register; every spatial axis needs at least 8 voxels. Use a larger volume (or resample it to a finer grid).
    """
    shape = spatial_shape(image)
    if shape and min(shape) < int(min_size):
        because = f" ({why})" if why else ""
        raise ValueError(
            f"{_name(image, name)} is {describe_shape(shape)}: too small for {purpose}{because}; every spatial axis "
            f"needs at least {int(min_size)} voxels. Use a larger volume (or resample it to a finer grid)."
        )


def require_not_constant(image: Image, name: Optional[str] = None, purpose: str = "this step") -> None:
    """Raise if every voxel of ``image`` has the same value (e.g. an all-zero export).

    Args:
        image: The image record.
        name: How to call it in the message (default: its file name).
        purpose: What needs contrast ("register", ...).

    Raises:
        ValueError: ``"zeros.nii.gz is constant (every voxel is 0); register needs image contrast ..."``

    Example:
        >>> require_not_constant(Image(np.zeros((4, 4, 4), np.float32)), "zeros.nii.gz", "register")
        Traceback (most recent call last):
        ...
        ValueError: zeros.nii.gz is constant (every voxel is 0); register needs image contrast. Check that the right file was given (an empty mask or a failed export?).
    """
    arr = np.asarray(image.array)
    if arr.size and np.all(arr == arr.flat[0]):
        v = arr.flat[0]
        v_txt = f"{v:g}" if np.isscalar(v) and np.isreal(v) else str(v)
        raise ValueError(
            f"{_name(image, name)} is constant (every voxel is {v_txt}); {purpose} needs image contrast. Check that the "
            f"right file was given (an empty mask or a failed export?)."
        )


def require_real(image: Image, name: Optional[str] = None, purpose: str = "this step") -> None:
    """Raise unless the voxels are real numbers (not complex, not strings or objects).

    A complex image cast to float silently loses its imaginary part, so it is refused instead.

    Raises:
        ValueError: ``"complex.nii.gz has complex voxels (complex64); register needs real values. ..."``

    Example:
        >>> require_real(Image(np.zeros((4, 4, 4), np.complex64)), "complex.nii.gz", "register")
        Traceback (most recent call last):
        ...
        ValueError: complex.nii.gz has complex voxels (complex64); register needs real values. Save the magnitude (numpy.abs) or the real part as a separate image.
    """
    dtype = np.asarray(image.array).dtype
    n = _name(image, name)
    if dtype.kind == "c":
        raise ValueError(f"{n} has complex voxels ({dtype}); {purpose} needs real values. Save the magnitude "
                         f"(numpy.abs) or the real part as a separate image.")
    if dtype.kind not in "biuf":
        raise ValueError(f"{n} has voxels of type {dtype}, not numbers; {purpose} needs a numeric image.")
