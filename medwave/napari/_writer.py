"""napari writers: image and labels layers to NIfTI with the affine of their grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medwave.napari._layers import layer_to_image

__all__ = ["write_nifti_image", "write_nifti_labels", "smallest_label_dtype"]


def _nifti_path(path: str) -> Path:
    p = Path(path)
    if not p.name.lower().endswith((".nii", ".nii.gz")):
        p = p.with_name(p.name + ".nii.gz")
    return p


def smallest_label_dtype(arr: np.ndarray) -> np.dtype:
    """The smallest NIfTI-friendly integer type holding every label (uint8, int16, int32)."""
    if arr.size == 0:
        return np.dtype(np.uint8)
    lo, hi = int(arr.min()), int(arr.max())
    for dt in (np.uint8, np.int16, np.int32):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dt)
    raise ValueError(f"Labels range [{lo}, {hi}] does not fit int32, the largest label type NIfTI tools read.")


def _rescaled(arr: np.ndarray, scaling: Any) -> tuple[np.ndarray, float, float] | None:
    """The on-disk integers of ``arr`` under the file's original slope/intercept, if exactly representable."""
    if not scaling or not np.issubdtype(arr.dtype, np.floating):
        return None
    dtype, slope, inter = np.dtype(scaling[0]), float(scaling[1]), float(scaling[2])
    raw = np.rint((arr.astype(np.float64) - inter) / slope)
    info = np.iinfo(dtype)
    if raw.size and (raw.min() < info.min or raw.max() > info.max):
        return None
    raw = raw.astype(dtype)
    back = raw.astype(np.float64) * slope + inter
    if not np.array_equal(back.astype(arr.dtype), arr):
        return None
    return raw, slope, inter


def _save_nifti(img: Any, path: str, *, intent: str | None = None, scaling: Any = None) -> str:
    """Write a :class:`~medwave.io.Image` atomically, keeping its header's qform/sform codes."""
    from medwave.utils.nibabel_import import import_nibabel

    nib = import_nibabel()

    from medwave.utils import atomic_path, check_output_path

    arr = np.asarray(img.array)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    header = img.meta.get("header")
    hdr = header.copy() if header is not None else nib.Nifti1Header()
    hdr.set_data_dtype(arr.dtype)
    qcode = int(hdr["qform_code"]) if header is not None else 1
    scode = int(hdr["sform_code"]) if header is not None else 1
    if qcode == 0 and scode == 0:  # nothing said where the grid is: it is scanner space
        qcode = scode = 1
    packed = _rescaled(arr, scaling)
    if packed is not None:  # write the original integers and scale factors, not a float copy
        arr, slope, inter = packed
        hdr.set_data_dtype(arr.dtype)
    out = nib.Nifti1Image(arr, img.affine, header=hdr)
    if packed is not None:
        out.header.set_slope_inter(slope, inter)
    out.set_qform(img.affine, code=qcode)
    out.set_sform(img.affine, code=scode)
    if intent is not None:
        out.header.set_intent(intent)
    p = check_output_path(_nifti_path(path), overwrite=True)
    with atomic_path(p) as tmp:
        nib.save(out, str(tmp))
    return str(p)


def write_nifti_image(path: str, data: Any, meta: dict) -> list[str]:
    """Write an image layer to NIfTI (``.nii``/``.nii.gz``) with its original affine and header.

    The affine is the one the reader stored (bit for bit) unless the layer was moved in napari, in
    which case it is composed from the layer's current ``affine``/``scale``/``translate``. The header
    (units, descriptions, qform/sform codes, intent) is the one the file was read with.
    """
    img = layer_to_image(data, meta)
    arr = img.array
    if arr.dtype == np.float64 and img.meta.get("header") is None:
        arr = arr.astype(np.float32)
    if arr.dtype == np.int64:
        arr = arr.astype(smallest_label_dtype(arr))
    img.array = arr
    scaling = ((meta.get("metadata") or {}).get("medwave") or {}).get("scaling") if "header" in img.meta else None
    return [_save_nifti(img, path, scaling=scaling)]


def write_nifti_labels(path: str, data: Any, meta: dict) -> list[str]:
    """Write a labels layer to NIfTI as an integer image with the ``label`` intent.

    The data type is the file's own (when the layer came from a NIfTI and its labels still fit), else the
    smallest of uint8/int16/int32 that holds every label (napari's default int64 is not read by many tools).

    The NIfTI intent is set to ``label`` so the reader opens it as labels again, whatever its name.
    """
    img = layer_to_image(data, meta)
    arr = np.asarray(img.array)
    dtype = smallest_label_dtype(arr)
    header = img.meta.get("header")
    if header is not None:  # keep the file's own integer type when the labels still fit in it
        disk = np.dtype(header.get_data_dtype())
        if np.issubdtype(disk, np.integer) and disk.itemsize <= 4 and arr.size:
            info = np.iinfo(disk)
            if info.min <= int(arr.min()) and int(arr.max()) <= info.max:
                dtype = disk
    img.array = arr.astype(dtype)
    return [_save_nifti(img, path, intent="label")]
