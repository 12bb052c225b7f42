"""Reading and writing images with affine and header kept (the record itself: :mod:`medwave.io.record`).

Example:
    >>> import numpy as np, tempfile, os
    >>> from medwave.io import Image, load_image, save_image
    >>> img = Image(np.zeros((4, 5, 6), np.float32), affine=np.diag([2.0, 2.0, 2.0, 1.0]))
    >>> p = save_image(img, os.path.join(tempfile.mkdtemp(), "x.nii.gz"))
    >>> load_image(p).spacing
    (2.0, 2.0, 2.0)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from medwave.io.record import Image
from medwave.utils.atomic import atomic_path, check_output_path

__all__ = ["Image", "read_image_file", "save_image"]

PathLike = Union[str, "Path"]


NIFTI_EXTENSIONS = (".nii", ".nii.gz", ".hdr", ".img", ".img.gz")


def _kind(p: Path) -> str:
    name = p.name.lower()
    if name.endswith(NIFTI_EXTENSIONS):
        return "nifti"
    if name.endswith((".tif", ".tiff")):
        return "tiff"
    if name.endswith((".png", ".jpg", ".jpeg", ".bmp", ".gif")):
        return "raster"
    if name.endswith((".mha", ".mhd", ".nrrd", ".nhdr", ".dcm", ".dicom", ".ima")):
        return "sitk"
    return "unknown"


def _check_affine(image: Image, p: Path) -> None:
    aff = image.affine
    if not np.all(np.isfinite(aff)):
        raise ValueError(f"{p} has a non-finite affine (NaN/Inf in qform/sform); fix the header (e.g. fslorient) and retry.")
    nd = min(image.array.ndim, 3)
    if abs(np.linalg.det(aff[:nd, :nd])) < 1e-12:
        raise ValueError(
            f"{p} has a singular affine (a zero voxel size or collapsed axes: {np.round(aff[:3, :3], 4).tolist()}); "
            f"fix pixdim/qform/sform in the header (e.g. fslorient or nibabel set_qform) and retry, or pass "
            f"check_affine=False to read it anyway."
        )


def _load_nifti(p: Path) -> Image:
    import gzip
    import zlib

    from medwave.utils.nibabel_import import import_nibabel

    nib = import_nibabel()
    from nibabel.filebasedimages import ImageFileError

    try:
        img = nib.load(str(p))
    except ImageFileError as exc:
        raise ValueError(f"{p} is not a NIfTI/Analyze image ({exc}). Check the file type; medwave reads NIfTI, mha, nrrd, DICOM and TIFF.") from exc
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise ValueError(f"{p}: the file is truncated or not valid gzip ({type(exc).__name__}: {exc}). Copy/download it again.") from exc
    except Exception as exc:  # nibabel raises many types for corrupt headers
        raise ValueError(f"{p}: cannot read the NIfTI header ({type(exc).__name__}: {exc}). Is it a complete .nii/.nii.gz image?") from exc
    try:
        data = np.asanyarray(img.dataobj)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ValueError(f"{p}: the image data is truncated or the gzip stream is corrupt ({type(exc).__name__}: {exc}). Copy/download the file again.") from exc
    except Exception as exc:
        raise ValueError(f"{p}: cannot read the image data ({type(exc).__name__}: {exc}). Is the file complete?") from exc
    header = img.header
    meta: dict[str, Any] = {"header": header.copy(), "format": "nifti"}
    try:
        meta["units"] = header.get_xyzt_units()
        meta["intent"] = header.get_intent()[0]
        meta["qform_code"] = int(header["qform_code"])
        meta["sform_code"] = int(header["sform_code"])
    except Exception:  # pragma: no cover - non-NIfTI1 headers (Analyze)
        pass
    return Image(np.asarray(data), affine=np.asarray(img.affine), meta=meta, path=p)


def read_image_file(path: PathLike, *, check_affine: bool = True, allow_complex: bool = True,
                    purpose: str = "medwave") -> Image:
    """Read an image file or DICOM folder, guarded (the one reader per format behind :func:`medwave.io.load_image`).

    Args:
        path: File, or folder holding one DICOM series.
        check_affine: Raise on a singular or non-finite affine (default).
        allow_complex: Accept complex voxels (refused by name otherwise).
        purpose: What the image is read for (named in refusals: "denoise", "register"...).

    Raises:
        See :func:`medwave.io.load_image`.
    """
    from medwave.io.guard import guard_image

    p = Path(path).expanduser()
    if not p.exists() and not p.is_symlink():
        hint = ""
        if p.parent.is_dir():
            similar = sorted(x.name for x in p.parent.iterdir() if x.name.split(".")[0] == p.name.split(".")[0])[:3]
            if similar:
                hint = f" Did you mean {', '.join(similar)}?"
        raise FileNotFoundError(f"{p}: no such file or folder. Check the path.{hint}")
    # regular file (or DICOM folder), readable, voxel type whitelisted, memory checked from the header first
    guard_image(p, allow_dir=True, allow_complex=allow_complex, purpose=purpose)
    if p.is_dir():
        from medwave.io.formats import read_dicom_series

        image = read_dicom_series(p)
    else:
        kind = _kind(p)
        if p.stat().st_size == 0:
            raise ValueError(f"{p} is an empty file (0 bytes); it was not written completely. Recreate or copy it again.")
        if kind == "nifti":
            image = _load_nifti(p)
        elif kind == "tiff":
            from medwave.io.formats import read_tiff

            image = read_tiff(p)
        elif kind == "sitk":
            from medwave.io.formats import read_sitk

            image = read_sitk(p)
        elif kind == "raster":
            from medwave.io.raster import read_raster

            image = read_raster(p)
        else:
            from medwave.io.formats import read_sitk

            try:
                image = read_sitk(p)
            except ValueError as exc:
                raise ValueError(
                    f"{p} is not an image medwave can read (unknown extension {p.suffix or '(none)'!r}, and neither "
                    f"SimpleITK nor nibabel recognise it). Use NIfTI (.nii/.nii.gz), .mha, .nrrd, DICOM or TIFF."
                ) from exc
    if check_affine:
        _check_affine(image, p)
    return image


def save_image(
    image: Union[Image, np.ndarray],
    path: PathLike,
    *,
    affine: Optional[np.ndarray] = None,
    header: Any = None,
    dtype: Any = None,
    overwrite: bool = True,
    vector: bool = False,
    inputs: Optional[list] = None,
) -> Path:
    """Write an image atomically with the affine of its grid; the format follows the extension.

    ``.nii``/``.nii.gz``: nibabel, header kept (qform and sform set to the affine). ``.mha``,
    ``.mhd``, ``.nrrd``: SimpleITK (RAS affine converted to LPS origin/spacing/direction).
    ``.tif``/``.tiff``/``.ome.tif``: tifffile with the voxel size (axis-aligned affines only).

    Args:
        image: An :class:`Image` or an array (then ``affine`` is used, identity by default).
        path: Output path.
        affine: Overrides the image's affine.
        header: A nibabel header to start from (default: the image's own, if any; NIfTI only).
        dtype: On-disk data type (default: the array's).
        overwrite: Replace an existing file.
        vector: Mark a trailing axis as a vector (NIfTI intent ``vector``, stored as 5-D ``X,Y,Z,1,V``;
            a vector pixel type for SimpleITK formats).
        inputs: Paths that must never be overwritten (the command's inputs).

    Returns:
        The written path.
    """
    if isinstance(image, Image):
        img = image
    else:
        img = Image(np.asarray(image), affine=np.eye(4))
    if affine is not None:
        img = Image(img.array, affine=np.asarray(affine, dtype=np.float64), meta=img.meta, path=img.path)
    p = check_output_path(path, overwrite=overwrite, inputs=inputs)
    if dtype is not None:
        img = Image(img.array.astype(dtype), affine=img.affine, meta=img.meta, path=img.path)
    kind = _kind(p)
    if kind == "nifti":
        return _save_nifti(img, p, header=header, vector=vector)
    if kind == "tiff":
        from medwave.io.formats import write_tiff

        with atomic_path(p) as tmp:
            write_tiff(img, tmp)
        return p
    if kind == "sitk" and not p.name.lower().endswith((".dcm", ".dicom", ".ima")):
        from medwave.io.formats import write_sitk

        with atomic_path(p) as tmp:
            write_sitk(img, tmp, vector=vector)
        return p
    raise ValueError(
        f"Cannot write {p.name}: unknown or unsupported output extension. Use .nii.gz (NIfTI), .mha, .nrrd or .tif."
    )


def save_images(jobs: list[tuple], *, max_workers: Optional[int] = None) -> list[Path]:
    """Write several images at once: ``jobs`` is a list of ``(image, path, kwargs)`` for :func:`save_image`.

    Compressing ``.nii.gz`` is most of a write's time and zlib releases the GIL, so the files are written by a
    thread each (at most ``max_workers``, default the CPU count, capped at 4). Every file is still written
    atomically; if one fails the others finish and the first error is raised.

    Returns:
        The written paths, in the order of ``jobs``.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    if not jobs:
        return []
    workers = max_workers or min(4, os.cpu_count() or 1, len(jobs))
    if workers <= 1:
        return [save_image(img, path, **kw) for img, path, kw in jobs]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="medwave-save") as pool:
        futures = [pool.submit(save_image, img, path, **kw) for img, path, kw in jobs]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]


def _save_nifti(img: Image, p: Path, *, header: Any = None, vector: bool = False) -> Path:
    from medwave.utils.nibabel_import import import_nibabel

    nib = import_nibabel()

    arr, aff = img.array, img.affine
    header = header if header is not None else img.meta.get("header")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    if vector:
        arr = arr.reshape(arr.shape[:3] + (1, arr.shape[-1]))
    hdr = header.copy() if header is not None else None
    nimg = nib.Nifti1Image(arr, aff, header=hdr)
    nimg.set_data_dtype(arr.dtype)
    if hdr is None and img.meta.get("units"):
        try:
            nimg.header.set_xyzt_units(*tuple(img.meta["units"])[:2])
        except Exception:  # an unknown unit name: leave nibabel's default
            pass
    nimg.set_qform(aff, code=int(img.meta.get("qform_code") or 1))
    nimg.set_sform(aff, code=int(img.meta.get("sform_code") or 1))
    if vector:
        nimg.header.set_intent("vector")
    with atomic_path(p) as tmp:
        nib.save(nimg, str(tmp))
    return p
