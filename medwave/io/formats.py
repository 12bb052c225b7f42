"""Readers and writers beyond NIfTI: SimpleITK (mha/mhd/nrrd/DICOM) and tifffile (TIFF stacks).

All return or take an :class:`~medwave.io.Image` whose array has the spatial axes first in
``(X, Y, Z)`` order (as nibabel returns NIfTI data) and whose affine maps voxel indices to RAS world
coordinates. ITK stores LPS physical points with ``origin``, ``spacing`` and a ``direction`` matrix;
the conversion is ``affine = diag(-1, -1, 1, 1) @ [[direction @ diag(spacing), origin], [0, 1]]``.
TIFF stacks carry no orientation: their affine is ``diag(sx, sy, sz)`` in the file's unit (usually
micrometres), read from ImageJ or OME metadata; the origin is kept in ImageJ metadata written by medwave.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from medwave.io.record import Image

__all__ = [
    "LPS_TO_RAS",
    "sitk_to_image",
    "image_to_sitk",
    "read_sitk",
    "read_dicom_series",
    "write_sitk",
    "read_tiff",
    "write_tiff",
    "SITK_EXTENSIONS",
    "TIFF_EXTENSIONS",
]

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
SITK_EXTENSIONS = (".mha", ".mhd", ".nrrd", ".nhdr", ".dcm", ".nii.gz.mha")
TIFF_EXTENSIONS = (".tif", ".tiff", ".ome.tif", ".ome.tiff")


# --------------------------------------------------------------------------- SimpleITK


def sitk_to_image(img, path: Optional[Path] = None, fmt: str = "sitk") -> Image:
    """Convert a SimpleITK image to an :class:`Image` (array ``(X, Y[, Z])[, C]``, RAS affine)."""
    import SimpleITK as sitk

    dim = img.GetDimension()
    if dim not in (2, 3):
        raise ValueError(f"{path or 'image'}: {dim}-D ITK images are not supported; medwave reads 2D and 3D images.")
    arr = sitk.GetArrayFromImage(img)  # (Z, Y, X[, C])
    vector = img.GetNumberOfComponentsPerPixel() > 1
    sp_axes = tuple(range(dim))[::-1]
    arr = np.transpose(arr, sp_axes + ((dim,) if vector else ()))
    spacing = np.asarray(img.GetSpacing(), dtype=np.float64)
    direction = np.asarray(img.GetDirection(), dtype=np.float64).reshape(dim, dim)
    origin = np.asarray(img.GetOrigin(), dtype=np.float64)
    lps = np.eye(4)
    lps[:dim, :dim] = direction @ np.diag(spacing)
    lps[:dim, 3] = origin
    affine = LPS_TO_RAS @ lps
    meta: dict[str, Any] = {"format": fmt}
    try:
        meta["sitk_metadata"] = {k: img.GetMetaData(k) for k in img.GetMetaDataKeys()}
    except Exception:  # pragma: no cover - some ITK IO have no dictionary
        pass
    if vector:
        meta["vector"] = True
    return Image(np.ascontiguousarray(arr), affine=affine, meta=meta, path=path)


def image_to_sitk(image: Image, *, vector: bool = False):
    """Convert an :class:`Image` to a SimpleITK image (RAS affine back to LPS origin/spacing/direction)."""
    import SimpleITK as sitk

    arr = np.asarray(image.array)
    vector = vector or bool(image.meta.get("vector"))
    dim = arr.ndim - (1 if vector else 0)
    if dim not in (2, 3):
        raise ValueError(f"Cannot write a {arr.ndim}-D array of shape {arr.shape} with SimpleITK; it needs 2D or 3D images.")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    sp_axes = tuple(range(dim))[::-1]
    data = np.ascontiguousarray(np.transpose(arr, sp_axes + ((dim,) if vector else ())))
    img = sitk.GetImageFromArray(data, isVector=vector)
    lps = LPS_TO_RAS @ image.affine
    m = lps[:dim, :dim]
    spacing = np.linalg.norm(m, axis=0)
    if np.any(spacing == 0):
        raise ValueError("The image affine is singular (a zero voxel size); fix it before writing.")
    img.SetSpacing([float(s) for s in spacing])
    img.SetDirection([float(v) for v in (m / spacing).ravel()])
    img.SetOrigin([float(v) for v in lps[:dim, 3]])
    for k, v in (image.meta.get("sitk_metadata") or {}).items():
        if not k.startswith("ITK_") and k not in ("NRRD_space", "NRRD_kinds", "NRRD_centerings"):
            try:
                img.SetMetaData(str(k), str(v))
            except Exception:  # pragma: no cover
                pass
    return img


def read_sitk(path: Path) -> Image:
    """Read mha/mhd/nrrd/single DICOM (any SimpleITK-readable file)."""
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"{path}: cannot read as a medical image through SimpleITK ({first}). Is the file complete and in a "
            f"supported format (NIfTI, mha/mhd, nrrd, DICOM, TIFF)?"
        ) from exc
    fmt = path.suffix.lower().lstrip(".") or "sitk"
    out = sitk_to_image(img, path=path, fmt=fmt)
    if fmt == "dcm" and out.array.ndim == 3 and out.array.shape[2] == 1:
        # A single DICOM slice / radiograph: a 2D image (the slice position stays in the affine).
        out.array = out.array[:, :, 0]
    return out


def read_dicom_series(folder: Path) -> Image:
    """Read a DICOM series from a folder (the largest series when there are several)."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    ids = list(reader.GetGDCMSeriesIDs(str(folder)) or ())
    if not ids:
        raise IsADirectoryError(
            f"{folder} is a folder without a DICOM series; pass an image file (NIfTI, mha, nrrd, TIFF) or a folder of "
            f"DICOM slices."
        )
    files_per = {sid: list(reader.GetGDCMSeriesFileNames(str(folder), sid)) for sid in ids}
    sid = max(ids, key=lambda s: len(files_per[s]))
    reader.SetFileNames(files_per[sid])
    reader.MetaDataDictionaryArrayUpdateOn()
    reader.LoadPrivateTagsOn()
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise ValueError(f"{folder}: cannot read DICOM series {sid} ({str(exc).strip().splitlines()[-1]}).") from exc
    out = sitk_to_image(img, path=folder, fmt="dicom")
    out.meta["dicom_series_uid"] = sid
    out.meta["dicom_files"] = len(files_per[sid])
    if len(ids) > 1:
        out.meta["dicom_other_series"] = [s for s in ids if s != sid]
    try:
        out.meta["dicom_tags"] = {k: reader.GetMetaData(0, k) for k in reader.GetMetaDataKeys(0)}
    except Exception:  # pragma: no cover
        pass
    return out


def write_sitk(image: Image, path: Path, *, vector: bool = False) -> None:
    """Write mha/mhd/nrrd through SimpleITK (compressed), to ``path`` as given (the caller makes it atomic)."""
    import SimpleITK as sitk

    sitk.WriteImage(image_to_sitk(image, vector=vector), str(path), True)


# --------------------------------------------------------------------------- TIFF

_UNIT_TO_UM = {"um": 1.0, "µm": 1.0, "\\u00B5m": 1.0, "micron": 1.0, "microns": 1.0, "nm": 1e-3, "mm": 1e3,
               "cm": 1e4, "m": 1e6, "pixel": 1.0, "": 1.0}


def _res_to_spacing(tag) -> Optional[float]:
    if tag is None:
        return None
    v = tag.value
    try:
        num, den = (v if isinstance(v, tuple) else (v, 1))[:2]
        num, den = float(num), float(den)
    except Exception:
        return None
    if num <= 0 or den <= 0:
        return None
    return den / num


def read_tiff(path: Path) -> Image:
    """Read a TIFF stack with its voxel size (ImageJ ``spacing``/resolution or OME ``PhysicalSize*``).

    The array becomes ``(X, Y[, Z])[, C]``; the affine is ``diag(sx, sy, sz)`` plus a stored origin.
    """
    import tifffile

    try:
        with tifffile.TiffFile(str(path)) as tif:
            series = tif.series[0]
            arr = series.asarray()
            axes = series.axes.upper()
            page = tif.pages[0]
            sx = _res_to_spacing(page.tags.get("XResolution"))
            sy = _res_to_spacing(page.tags.get("YResolution"))
            sz = None
            unit = None
            origin = [0.0, 0.0, 0.0]
            source = "default"
            ij = tif.imagej_metadata
            if tif.is_ome and tif.ome_metadata:
                px = re.search(r"<Pixels [^>]*>", tif.ome_metadata)
                if px:
                    attrs = dict(re.findall(r'(\w+)="([^"]*)"', px.group(0)))
                    for ax, key in (("x", "PhysicalSizeX"), ("y", "PhysicalSizeY"), ("z", "PhysicalSizeZ")):
                        if key in attrs:
                            scale = _UNIT_TO_UM.get(attrs.get(key + "Unit", "µm"), 1.0)
                            val = float(attrs[key]) * scale
                            if ax == "x":
                                sx = val
                            elif ax == "y":
                                sy = val
                            else:
                                sz = val
                    unit, source = "um", "ome"
            elif ij:
                if "spacing" in ij:
                    sz = float(ij["spacing"])
                unit = str(ij.get("unit", "pixel")).replace("\\u00B5", "µ")
                source = "imagej"
                origin = [float(ij.get(f"origin_{a}", 0.0)) for a in "xyz"]
            elif sx is not None:
                source = "resolution"
    except (tifffile.TiffFileError, ValueError, OSError, EOFError, KeyError, IndexError) as exc:
        raise ValueError(
            f"{path}: cannot read as a TIFF stack ({type(exc).__name__}: {exc}). Is the file complete and a TIFF image?"
        ) from exc
    # Bring to (X, Y, Z[, C]).
    if "T" in axes and arr.shape[axes.index("T")] > 1:
        raise ValueError(f"{path} is a time series (axes {axes}, shape {arr.shape}); split it into one stack per time point.")
    keep = []
    for i, a in enumerate(axes):
        if a in "XYZ" or (a in "CS" and arr.shape[i] > 1) or (a not in "XYZCST" and arr.shape[i] > 1):
            keep.append(i)
    arr = arr.reshape([arr.shape[i] for i in keep]) if len(keep) != arr.ndim else arr
    axes = "".join(axes[i] for i in keep)
    order = [axes.index(a) for a in "XYZ" if a in axes]
    rest = [i for i in range(len(axes)) if i not in order]
    if len(rest) > 1:
        raise ValueError(f"{path}: unsupported TIFF axes {axes!r}; medwave reads (Z)YX stacks with at most one channel axis.")
    arr = np.ascontiguousarray(np.transpose(arr, order + rest))
    nd = len(order)
    scale_um = _UNIT_TO_UM.get((unit or "").lower(), 1.0) if source == "imagej" else 1.0
    sp = [(sx or 1.0) * scale_um, (sy or 1.0) * scale_um, (sz or 1.0) * scale_um][:nd]
    affine = np.eye(4)
    for i in range(nd):
        affine[i, i] = sp[i]
        affine[i, 3] = origin[i]
    meta: dict[str, Any] = {"format": "tiff", "spatial_unit": "um" if source != "default" else "pixel",
                            "spacing_source": source, "tiff_axes": series.axes}
    if rest:
        meta["vector"] = True
    return Image(arr, affine=affine, meta=meta, path=path)


def write_tiff(image: Image, path: Path) -> None:
    """Write a ``(X, Y[, Z])`` image as a TIFF stack with its voxel size.

    ImageJ format (``uint8``/``uint16``/``float32``; Fiji reads the voxel size) or OME-TIFF for other
    data types and ``.ome.tif`` names. A rotated or sheared affine cannot be stored in a TIFF:
    that raises, resample first or write NIfTI.
    """
    import tifffile

    arr = np.asarray(image.array)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    vector = bool(image.meta.get("vector")) and arr.ndim == 4
    nd = arr.ndim - (1 if vector else 0)
    if nd not in (2, 3):
        raise ValueError(f"Cannot write a {arr.ndim}-D array of shape {arr.shape} as a TIFF stack; it needs 2D or 3D.")
    m = image.affine[:nd, :nd]
    if not np.allclose(m, np.diag(np.diag(m)), atol=1e-6 * max(1.0, float(np.abs(m).max()))) or np.any(np.diag(m) <= 0):
        raise ValueError(
            f"{path}: a TIFF stack can only store a voxel size, but this image's affine has rotations or flips "
            f"({np.round(m, 4).tolist()}). Write NIfTI (.nii.gz) instead, or resample to an axis-aligned grid first."
        )
    sp = [float(v) for v in np.diag(m)] + [1.0] * (3 - nd)
    origin = [float(v) for v in image.affine[:3, 3]]
    order = list(range(nd))[::-1] + ([nd] if vector else [])
    data = np.ascontiguousarray(np.transpose(arr, order))  # (Z,) Y, X (, C)
    axes = ("ZYX" if nd == 3 else "YX") + ("C" if vector else "")
    name = path.name.lower()
    if arr.dtype in (np.uint8, np.uint16, np.float32) and not (name.endswith(".ome.tif") or name.endswith(".ome.tiff")) and not vector:
        md = {"axes": axes, "unit": "um", "origin_x": origin[0], "origin_y": origin[1], "origin_z": origin[2]}
        if nd == 3:
            md["spacing"] = sp[2]
        tifffile.imwrite(str(path), data, imagej=True, resolution=(1.0 / sp[0], 1.0 / sp[1]), metadata=md)
    else:
        md = {"axes": axes, "PhysicalSizeX": sp[0], "PhysicalSizeXUnit": "µm", "PhysicalSizeY": sp[1],
              "PhysicalSizeYUnit": "µm"}
        if nd == 3:
            md.update(PhysicalSizeZ=sp[2], PhysicalSizeZUnit="µm")
        tifffile.imwrite(str(path), data, ome=True, metadata=md)
