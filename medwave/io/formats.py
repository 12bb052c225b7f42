"""Readers and writers beyond NIfTI: SimpleITK (mha/mhd/nrrd/DICOM) and tifffile (TIFF stacks).

All return or take an :class:`~medwave.io.Image` whose array has the spatial axes first in
``(X, Y, Z)`` order (as nibabel returns NIfTI data) and whose affine maps voxel indices to RAS world
coordinates. ITK stores LPS physical points with ``origin``, ``spacing`` and a ``direction`` matrix;
the conversion is ``affine = diag(-1, -1, 1, 1) @ [[direction @ diag(spacing), origin], [0, 1]]``.
TIFF stacks carry no orientation: their affine is ``diag(sx, sy, sz)`` in the file's unit (usually
micrometres), read from ImageJ or OME metadata; the origin is kept in ImageJ metadata written by medwave.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    "tiff_geometry",
    "spatial_unit",
    "tiff_layout",
    "TiffGeometry",
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
    tags = out.meta.get("sitk_metadata") or {}
    is_dicom = fmt in ("dcm", "dicom", "ima") or "0008|0016" in tags or "0028|0004" in tags
    if is_dicom:
        out.meta["format"] = "dicom"
        _dicom_photometric(out, tags)
    if is_dicom and out.array.ndim == 3 and out.array.shape[2] == 1:
        # A single DICOM slice / radiograph: a 2D image (the slice position stays in the affine).
        out.array = out.array[:, :, 0]
    return out


def _dicom_photometric(out: Image, tags: dict) -> None:
    """Record the photometric interpretation; GDCM (SimpleITK's DICOM reader) has already inverted MONOCHROME1."""
    pm = str(tags.get("0028|0004", "")).strip().upper()
    if pm:
        out.meta["photometric"] = pm
        if pm == "MONOCHROME1":
            out.meta["monochrome1_inverted"] = True  # bright = dense, as MONOCHROME2
    sp = str(tags.get("0028|0030", "") or tags.get("0018|1164", "")).strip()
    try:
        vals = [float(v) for v in sp.split("\\")] if sp else []
    except ValueError:
        vals = []
    out.meta["pixel_spacing"] = vals if len(vals) == 2 and all(v > 0 for v in vals) else None


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
        _dicom_photometric(out, out.meta["dicom_tags"])
    except Exception:  # pragma: no cover
        pass
    return out


def write_sitk(image: Image, path: Path, *, vector: bool = False) -> None:
    """Write mha/mhd/nrrd through SimpleITK (compressed), to ``path`` as given (the caller makes it atomic)."""
    import SimpleITK as sitk

    sitk.WriteImage(image_to_sitk(image, vector=vector), str(path), True)


# --------------------------------------------------------------------------- TIFF

_UNIT_TO_UM = {"um": 1.0, "µm": 1.0, "μm": 1.0, "\\u00b5m": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0,
               "nm": 1e-3, "nanometer": 1e-3, "pm": 1e-6, "å": 1e-4, "angstrom": 1e-4, "mm": 1e3, "millimeter": 1e3,
               "cm": 1e4, "centimeter": 1e4, "m": 1e6, "meter": 1e6, "in": 25400.0, "inch": 25400.0}
#: TIFF ResolutionUnit tag values (2 inch, 3 centimetre) in micrometres; 1 (NONE) has no unit.
_RESUNIT_TO_UM = {2: 25400.0, 3: 1e4}


@dataclass
class TiffGeometry:
    """The physical geometry of a TIFF stack, x first.

    Attributes:
        spacing: Voxel size ``(sx, sy, sz)`` in micrometres (``unit='um'``), or in pixels when no unit is known.
        origin: Position of voxel ``(0, 0, 0)`` (same unit); only medwave-written ImageJ files carry one.
        unit: ``"um"``, or None when the file gives sizes without a unit (or none at all).
        source: ``"ome"`` (OME-XML PhysicalSize*), ``"imagej"`` (ImageJ description + resolution tags),
            ``"resolution"`` (XResolution/YResolution/ResolutionUnit only) or ``"default"`` (nothing: 1 pixel).
    """

    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    unit: Optional[str] = None
    source: str = "default"

    @property
    def affine(self) -> np.ndarray:
        """``diag(sx, sy, sz)`` with the origin: the voxel-to-physical matrix of the x-first grid."""
        a = np.diag([*self.spacing, 1.0])
        a[:3, 3] = self.origin
        return a


def _unit_scale(unit: Any) -> Optional[float]:
    """Micrometres per ``unit`` (``'µm'``, ``'nm'``, ``'mm'``, ``'micron'``...), None when not a length unit."""
    u = str(unit or "").strip().replace("\\u00B5", "µ").replace("\\u00b5", "µ").lower()
    return _UNIT_TO_UM.get(u)


def _res_to_spacing(tag) -> Optional[float]:
    """Pixel size from an XResolution/YResolution tag (pixels per unit), None when absent or not positive."""
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


def _ome_geometry(ome_xml: str) -> Optional[TiffGeometry]:
    """PhysicalSizeX/Y/Z (and units, µm by default) of the first OME image, parsed by tifffile."""
    import tifffile

    try:
        d = tifffile.xml2dict(ome_xml)
    except Exception:
        return None
    image = d.get("OME", {}).get("Image")
    if isinstance(image, list):
        image = image[0] if image else None
    pixels = (image or {}).get("Pixels") or {}
    if not any(f"PhysicalSize{a}" in pixels for a in "XYZ"):
        return None
    sp = []
    for a in "XYZ":
        v = pixels.get(f"PhysicalSize{a}")
        scale = _unit_scale(pixels.get(f"PhysicalSize{a}Unit", "µm"))
        try:
            val = float(v) * (scale if scale is not None else 1.0) if v is not None else None
        except (TypeError, ValueError):
            val = None
        sp.append(val if val is not None and val > 0 else None)
    sx = sp[0] or sp[1] or 1.0
    sy = sp[1] or sp[0] or 1.0
    sz = sp[2] or 1.0
    return TiffGeometry((sx, sy, sz), (0.0, 0.0, 0.0), "um", "ome")


def tiff_geometry(tif: Any) -> TiffGeometry:
    """The voxel size, origin and unit of an open ``tifffile.TiffFile`` (the one place medwave reads them).

    Priority: OME-XML ``PhysicalSize*`` (tifffile's XML parser), then ImageJ metadata (``unit``, ``spacing``
    for z, X/YResolution in pixels per ``unit`` for x and y, medwave's ``origin_*``), then the baseline
    resolution tags (``ResolutionUnit`` inch or centimetre; without a unit the sizes are kept, unit None).
    A z size the file does not give is taken equal to the x size (isotropic) for resolution-tag files and
    1 otherwise.
    """
    page = tif.pages[0]
    rx = _res_to_spacing(page.tags.get("XResolution"))
    ry = _res_to_spacing(page.tags.get("YResolution"))
    if tif.is_ome and tif.ome_metadata:
        g = _ome_geometry(tif.ome_metadata)
        if g is not None:
            return g
    ij = tif.imagej_metadata
    if ij:
        scale = _unit_scale(ij.get("unit"))
        unit = "um" if scale is not None else None
        scale = scale if scale is not None else 1.0
        sx = (rx or 1.0) * scale
        sy = (ry or rx or 1.0) * scale
        sz = float(ij.get("spacing", 1.0)) * scale
        origin = tuple(float(ij.get(f"origin_{a}", 0.0)) * scale for a in "xyz")
        return TiffGeometry((sx, sy, sz), origin, unit, "imagej")  # type: ignore[arg-type]
    ru = page.tags.get("ResolutionUnit")
    ru = int(ru.value) if ru is not None else 2  # TIFF default: inch
    if rx is not None and ry is not None and not (rx == 1.0 and ry == 1.0 and ru == 1):
        scale = _RESUNIT_TO_UM.get(ru)
        if scale is None:
            return TiffGeometry((rx, ry, rx), (0.0, 0.0, 0.0), None, "resolution")
        return TiffGeometry((rx * scale, ry * scale, rx * scale), (0.0, 0.0, 0.0), "um", "resolution")
    return TiffGeometry()


def tiff_layout(axes: str, shape: tuple[int, ...], path: Any) -> tuple[list[int], list[int], int]:
    """Where the x, y, z axes of a tifffile series are: ``(spatial_axes_x_first, channel_axes, nsp)``.

    ``axes`` is tifffile's series axes string (``'ZYX'``, ``'QYX'``, ``'IYX'``, ``'YXS'``, ``'ZCYX'``...).
    A page axis in front of ``Y`` (``Q``, ``I``, ``S``...) is the z axis when the series has no ``Z``;
    length-1 axes other than X/Y/Z are dropped; at most one channel axis (``C`` or trailing samples) is kept.

    Raises:
        ValueError: A time series or more than one channel axis.
    """
    axes = axes.upper()
    if "T" in axes and shape[axes.index("T")] > 1:
        raise ValueError(f"{path} is a time series (axes {axes}, shape {shape}); split it into one stack per time point.")
    roles: list[str] = []
    iy = axes.index("Y") if "Y" in axes else len(axes)
    for i, a in enumerate(axes):
        if a in "XY":
            roles.append(a)
        elif a == "Z":
            roles.append("Z")
        elif shape[i] == 1:
            roles.append("")
        elif a == "C" or (a == "S" and i > iy):
            roles.append("C")
        elif "Z" not in axes and "Z" not in roles and i < iy:
            roles.append("Z")
        else:
            roles.append("C")
    spatial = [roles.index(a) for a in "XYZ" if a in roles]
    chan = [i for i, r in enumerate(roles) if r == "C"]
    if len(chan) > 1:
        raise ValueError(f"{path}: unsupported TIFF axes {axes!r} (shape {shape}); medwave reads (Z)YX stacks with at "
                         f"most one channel axis.")
    return spatial, chan, len(spatial)


def read_tiff(path: Path) -> Image:
    """Read a TIFF stack with its voxel size (OME ``PhysicalSize*``, ImageJ, or resolution tags).

    The array becomes ``(X, Y[, Z])[, C]`` (x first, like every :class:`Image`); the affine is
    ``diag(sx, sy, sz)`` plus a stored origin, in micrometres (see :func:`tiff_geometry`). TIFF has no
    orientation: ``meta['orientation']`` is None.
    """
    import tifffile

    try:
        with tifffile.TiffFile(str(path)) as tif:
            series = tif.series[0]
            arr = series.asarray()
            axes = series.axes.upper()
            geom = tiff_geometry(tif)
    except (tifffile.TiffFileError, ValueError, OSError, EOFError, KeyError, IndexError) as exc:
        raise ValueError(
            f"{path}: cannot read as a TIFF stack ({type(exc).__name__}: {exc}). Is the file complete and a TIFF image?"
        ) from exc
    spatial, chan, nd = tiff_layout(axes, arr.shape, path)
    keep = sorted(spatial + chan)
    arr = arr.reshape([arr.shape[i] for i in keep]) if len(keep) != arr.ndim else arr
    spatial = [keep.index(i) for i in spatial]
    chan = [keep.index(i) for i in chan]
    arr = np.ascontiguousarray(np.transpose(arr, spatial + chan))
    affine = np.eye(4)
    affine[:nd, :nd] = np.diag(geom.spacing[:nd])
    affine[:nd, 3] = geom.origin[:nd]
    meta: dict[str, Any] = {"format": "tiff", "spatial_unit": geom.unit or "pixel", "spacing_source": geom.source,
                            "tiff_axes": series.axes, "orientation": None}
    if chan:
        meta["vector"] = True
    return Image(arr, affine=affine, meta=meta, path=path)


def spatial_unit(image: Image) -> Optional[str]:
    """The length unit of an image's affine: ``'um'``, ``'mm'``, ``'m'``, or None (pixels / unknown).

    TIFF stacks say it in ``meta['spatial_unit']``; NIfTI in its ``xyzt`` units; other medical formats
    (mha, nrrd, DICOM; NIfTI with 'unknown' units) are millimetres; plain arrays have none.
    """
    u = image.meta.get("spatial_unit")
    if u is not None:
        return None if u == "pixel" else str(u)
    units = image.meta.get("units")
    known = {"mm": "mm", "micron": "um", "meter": "m"}.get(str(units[0])) if units and units[0] else None
    if known:
        return known
    fmt = str(image.meta.get("format", ""))
    if fmt in ("nifti", "sitk", "mha", "mhd", "nrrd", "nhdr", "dcm", "dicom", "ima"):
        return "mm"
    return None


def write_tiff(image: Image, path: Path) -> None:
    """Write a ``(X, Y[, Z])`` image as a TIFF stack with its voxel size in micrometres.

    ImageJ format (``uint8``/``uint16``/``float32``: ImageJ ``unit``/``spacing`` metadata and X/YResolution
    tags in pixels per unit, as Fiji reads them) or OME-TIFF (``PhysicalSize*`` in µm plus X/YResolution
    in pixels per centimetre) for other data types and ``.ome.tif`` names. Millimetre (medical) affines are
    converted to micrometres; an image read from a TIFF without a unit is written without one (ImageJ
    ``pixel``), any other in micrometres. A rotated
    or sheared affine cannot be stored in a TIFF: that raises, resample first or write NIfTI.
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
    unit = spatial_unit(image)
    scale = {"mm": 1e3, "m": 1e6}.get(unit or "", 1.0)
    sp = [float(v) * scale for v in np.diag(m)] + [1.0] * (3 - nd)
    origin = [float(v) * scale for v in image.affine[:3, 3]]
    order = list(range(nd))[::-1] + ([nd] if vector else [])
    data = np.ascontiguousarray(np.transpose(arr, order))  # (Z,) Y, X (, C)
    axes = ("ZYX" if nd == 3 else "YX") + ("C" if vector else "")
    name = path.name.lower()
    if arr.dtype in (np.uint8, np.uint16, np.float32) and not (name.endswith(".ome.tif") or name.endswith(".ome.tiff")) and not vector:
        unitless = image.meta.get("spatial_unit") == "pixel"  # read from a TIFF without a unit: keep it so
        md = {"axes": axes, "unit": "pixel" if unitless else "um", "origin_x": origin[0], "origin_y": origin[1],
              "origin_z": origin[2]}
        if nd == 3:
            md["spacing"] = sp[2]
        tifffile.imwrite(str(path), data, imagej=True, resolution=(1.0 / sp[0], 1.0 / sp[1]), metadata=md)
    else:
        md = {"axes": axes, "PhysicalSizeX": sp[0], "PhysicalSizeXUnit": "µm", "PhysicalSizeY": sp[1],
              "PhysicalSizeYUnit": "µm"}
        if nd == 3:
            md.update(PhysicalSizeZ=sp[2], PhysicalSizeZUnit="µm")
        tifffile.imwrite(str(path), data, ome=True, metadata=md, resolution=(1e4 / sp[0], 1e4 / sp[1]),
                         resolutionunit="CENTIMETER")
