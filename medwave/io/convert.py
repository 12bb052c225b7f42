"""One input contract: any image-like object -> :class:`~medwave.io.Image`, read the same way everywhere.

Every front door (``medwave.register``, ``medwave.segment_neurons``, ``medwave.predict_gaze``, the denoise
path, :func:`medwave.io.load_image`) turns its inputs into an :class:`Image` through :func:`as_image`, so a
path, a NumPy array, a nibabel image, a :class:`medwave.io.Image` and a MONAI ``MetaTensor`` holding the same
image give the same result.

Axis convention (one for the whole package): an :class:`Image` array has its spatial axes **x first**,
``(X, Y[, Z])`` as nibabel and MONAI give them (array axis ``i`` is the affine's voxel index ``i``),
an optional trailing channel axis; the affine maps voxel indices to world coordinates (RAS mm for medical
formats, an axis-aligned ``diag(spacing)`` in micrometres for microscopy stacks, which have no orientation).

* Paths: read by :func:`medwave.io.load_image` (one reader per format).
* :class:`Image`: a new record sharing the caller's (read-only viewed) array; never modified.
* nibabel images: data and affine as nibabel gives them.
* MONAI ``MetaTensor``: channel first ``(C, *spatial)`` in MONAI's axis order (the output of
  ``LoadImage(ensure_channel_first=True)``), affine from ``.affine`` (an ``LPS`` ``meta['space']`` is turned
  into RAS); one channel is squeezed, several go to a trailing axis; a batch axis of 1 is dropped.
* Plain arrays and tensors carry no geometry: their axis order is ``array_order`` (``"xyz"``, x first, or
  ``"zyx"``, x last: TIFF/microscopy ``(Z, Y, X)`` and 2D images ``(rows, columns)`` as tifffile, PIL,
  scikit-image and pydicom return them); each front door documents the order it expects. Identity affine.

Arrays are never copied; they are handed on as read-only views, so no pipeline can write into a caller's
data.

Example:
    >>> import numpy as np
    >>> from medwave.io import as_image
    >>> a = np.zeros((4, 5, 6), np.float32)          # (Z, Y, X), as tifffile reads a stack
    >>> as_image(a, array_order="zyx").shape          # x first
    (6, 5, 4)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np

from medwave.io.image import Image, read_image_file
from medwave.io.record import LPS_TO_RAS_4, image_from_metatensor, is_tensor as _is_tensor, readonly
from medwave.io.record import tensor_numpy as _tensor_numpy

__all__ = ["as_image", "load_image", "ArrayOrder", "readonly", "is_path", "to_array_order", "LPS_TO_RAS_4"]

ArrayOrder = Literal["xyz", "zyx"]


def is_path(obj: Any) -> bool:
    """Whether ``obj`` is a file path (``str`` or ``os.PathLike``)."""
    return isinstance(obj, (str, os.PathLike))


def _is_nibabel(obj: Any) -> bool:
    return hasattr(obj, "dataobj") and hasattr(obj, "affine") and hasattr(obj, "header")


def to_array_order(arr: np.ndarray, order: ArrayOrder, nsp: Optional[int] = None) -> np.ndarray:
    """Reorder the first ``nsp`` (default: all) axes of an x-first array into ``order`` (a view)."""
    if order == "xyz":
        return arr
    nsp = arr.ndim if nsp is None else nsp
    return np.transpose(arr, tuple(range(nsp))[::-1] + tuple(range(nsp, arr.ndim)))


def as_image(
    obj: Any,
    *,
    name: str = "image",
    array_order: ArrayOrder = "xyz",
    channel_first: Optional[bool] = None,
    check_affine: bool = True,
) -> Image:
    """Turn a path, NumPy array, nibabel image, :class:`Image` or MONAI MetaTensor into an :class:`Image`.

    Args:
        obj: The image (see the module docstring for how each kind is read).
        name: What to call it in error messages (``"fixed"``, ``"stack"``...).
        array_order: Axis order of plain arrays and plain tensors: ``"xyz"`` (x first, nibabel/MONAI
            order) or ``"zyx"`` (x last: ``(Z, Y, X)`` stacks, ``(rows, columns)`` 2D images). Ignored for
            inputs that carry their geometry (paths, Image, nibabel, MetaTensor).
        channel_first: Whether the first axis is a channel axis. Default: True for MetaTensors (MONAI's
            convention), False for plain arrays and tensors (whose leading axes of length 1 beyond 3 are
            dropped). A channel axis ends up last in the Image (one channel is squeezed).
        check_affine: For paths: raise on a singular or non-finite affine.

    Returns:
        A new :class:`Image` (x-first array as a read-only view, its own affine and meta).

    Raises:
        TypeError: An object of another kind.
        ValueError: A batch of several images, or an unusable affine.
    """
    if isinstance(obj, Image):
        return Image(readonly(obj.array), affine=obj.affine.copy(), meta=dict(obj.meta), path=obj.path)
    if is_path(obj):
        img = read_image_file(obj, check_affine=check_affine)
        img.array = readonly(img.array)
        return img
    if _is_nibabel(obj):
        meta: dict[str, Any] = {"format": "nifti", "header": obj.header.copy(), "source_form": "nibabel"}
        try:
            meta["units"] = obj.header.get_xyzt_units()
            meta["intent"] = obj.header.get_intent()[0]
        except Exception:  # pragma: no cover - Analyze/MGH headers
            pass
        fname = getattr(obj, "get_filename", lambda: None)()
        return Image(readonly(np.asanyarray(obj.dataobj)), affine=np.asarray(obj.affine, np.float64), meta=meta,
                     path=Path(fname) if fname else None)
    if _is_tensor(obj) and hasattr(obj, "affine"):
        return image_from_metatensor(obj, name, True if channel_first is None else bool(channel_first))
    if _is_tensor(obj) or isinstance(obj, np.ndarray) or (hasattr(obj, "__array__") and hasattr(obj, "shape")):
        arr = _tensor_numpy(obj) if _is_tensor(obj) else np.asarray(obj)
        meta = {"format": "array", "source_form": "tensor" if _is_tensor(obj) else "array"}
        if channel_first:
            nsp = arr.ndim - 1
            arr = arr[0] if arr.shape[0] == 1 else np.moveaxis(arr, 0, -1)
        else:
            while arr.ndim > 3 and arr.shape[0] == 1:
                arr = arr[0]
            nsp = arr.ndim
        arr = to_array_order(arr, array_order, nsp)
        if arr.ndim > nsp:
            meta["vector"] = True
        return Image(readonly(arr), affine=np.eye(4), meta=meta)
    raise TypeError(
        f"{name}: cannot use an object of type {type(obj).__name__}; pass a file path, a numpy array, a nibabel "
        f"image, a MONAI MetaTensor or a medwave.io.Image."
    )


def load_image(path: Any, *, check_affine: bool = True, allow_complex: bool = True, purpose: str = "medwave") -> Image:
    """Read an image keeping its affine, header, units and data type.

    Besides a path, ``path`` may be any image-like object :func:`medwave.io.as_image` takes (a NumPy array
    ``(X, Y, Z)``, a nibabel image, an :class:`Image`, a MONAI MetaTensor ``(C, X, Y, Z)``): it is then
    converted the same way every medwave front door converts it.

    Formats: NIfTI (``.nii``, ``.nii.gz``, Analyze ``.hdr/.img``) through nibabel; ``.mha/.mhd``,
    ``.nrrd``, single DICOM files and DICOM series (a folder) through SimpleITK, direction converted to
    a RAS affine (LPS -> RAS); TIFF stacks through tifffile with the ImageJ/OME/resolution-tag voxel size
    (micrometres, no orientation); PNG/JPEG/BMP through scikit-image (pixels, identity affine). Arrays have
    the spatial axes first in ``(X, Y, Z)`` order, as nibabel returns NIfTI data.

    Args:
        path: File, or folder holding one DICOM series.
        check_affine: Raise on a singular or non-finite affine (default).
        allow_complex: Accept complex voxels (refused by name otherwise).
        purpose: What the image is read for (named in refusals: "denoise", "register"...).

    Raises:
        FileNotFoundError: The path does not exist.
        PermissionError: Not readable.
        medwave.io.guard.InputRefused: A pipe/device/symlink loop, an RGB24 or other non-numeric voxel type, or
            a header whose size exceeds the memory limit (:func:`medwave.io.guard.memory_limit`).
        IsADirectoryError: A folder without a DICOM series.
        ValueError: Not an image, truncated/corrupt file, singular affine (the message names the file and the fix).

    Example:
        >>> import numpy as np, tempfile, os
        >>> from medwave.io import Image, load_image, save_image
        >>> p = save_image(Image(np.zeros((4, 5, 6), np.int16), np.diag([1., 2., 3., 1.])), os.path.join(tempfile.mkdtemp(), "a.nrrd"))
        >>> img = load_image(p)
        >>> img.shape, img.spacing, img.array.dtype
        ((4, 5, 6), (1.0, 2.0, 3.0), dtype('int16'))
    """
    if not is_path(path):
        return as_image(path, check_affine=check_affine)
    return read_image_file(path, check_affine=check_affine, allow_complex=allow_complex, purpose=purpose)
