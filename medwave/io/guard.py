"""One guarded entry for every input file: what it is, whether it can be read, and what reading it will cost.

Every reader of medwave (images, stacks, radiographs, SWCs, checkpoints, datalists, CSVs) calls
:func:`check_input_file` before it opens anything, and the image readers call :func:`guard_image` too:

- the path must be a regular file (or, where allowed, a folder holding a DICOM series / a zarr store): named
  pipes, devices, sockets, symlink loops and folders are refused from ``stat`` alone, so nothing blocks on them;
- it must be readable (a permission problem is named as such, not as an "incomplete file");
- its format is sniffed from its first bytes (:func:`sniff_format`);
- the memory reading it will need is computed from the header (NIfTI, mha/mhd, nrrd, DICOM, TIFF, PNG/JPEG,
  ``.npy``) *before* any voxel is read, and the file is refused when that exceeds :func:`memory_limit`
  (default half of the RAM available when the command starts; ``MEDWAVE_MAX_MEMORY=16G`` or the CLI's
  ``--max-memory 16G`` for big machines);
- voxel types outside a whitelist (RGB24 NIfTI, structured records, strings, complex where the pipeline needs real
  values) are refused by name.

Refusals are :class:`InputRefused` (a ``ValueError``, exit code 2 in the CLI) naming the file, the problem and the fix.

Example:
    >>> import os, tempfile
    >>> from medwave.io.guard import check_input_file
    >>> d = tempfile.mkdtemp()
    >>> check_input_file(d)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    IsADirectoryError: ... is a folder, not a file; give the image file itself.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

__all__ = ["InputRefused", "MemoryLimitExceeded", "check_input_file", "sniff_format", "memory_limit",
           "parse_size", "format_size", "set_memory_limit", "guard_image", "ImageHeader", "read_header",
           "check_dtype", "check_memory", "ALLOWED_KINDS", "read_text"]

PathLike = Union[str, os.PathLike]
#: numpy dtype kinds read as voxels: bool, signed/unsigned integers, floats (complex only where asked).
ALLOWED_KINDS = "biuf"
_DEFAULT_FRACTION = 0.5
_ENV = "MEDWAVE_MAX_MEMORY"


class InputRefused(ValueError):
    """An input medwave will not read (exit code 2 in the CLI); the message names the file and the fix."""


class MemoryLimitExceeded(InputRefused):
    """Reading (or processing) the input would need more memory than the limit."""


# --------------------------------------------------------------------------- sizes and the limit

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024 ** 2, "mb": 1024 ** 2, "mib": 1024 ** 2,
          "g": 1024 ** 3, "gb": 1024 ** 3, "gib": 1024 ** 3, "t": 1024 ** 4, "tb": 1024 ** 4, "tib": 1024 ** 4}


def parse_size(text: Union[str, int, float]) -> int:
    """``"16G"`` -> bytes (K/M/G/T are powers of 1024; a plain number is bytes).

    Raises:
        ValueError: Not a positive size.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError(f"memory size {text!r}: give a number of bytes with an optional unit K, M, G or T "
                             "(e.g. 16G).")
        value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"memory size {text!r}: must be a positive size such as 512M or 16G.")
    return int(value)


def format_size(n: float) -> str:
    """``3.2e9`` -> ``'3.0 GiB'``."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _available_memory() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # pragma: no cover - psutil missing: /proc/meminfo, then a conservative 4 GiB
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 4 * 1024 ** 3


def memory_limit() -> tuple[int, str]:
    """``(bytes, where it comes from)``: ``MEDWAVE_MAX_MEMORY`` if set, else half of the available RAM.

    Raises:
        ValueError: ``MEDWAVE_MAX_MEMORY`` is not a size.
    """
    env = os.environ.get(_ENV)
    if env:
        try:
            return parse_size(env), f"{_ENV}={env}"
        except ValueError as exc:
            raise ValueError(f"{_ENV}={env!r}: {exc}") from None
    avail = _available_memory()
    return int(avail * _DEFAULT_FRACTION), f"half of the {format_size(avail)} of RAM available"


def set_memory_limit(value: Union[None, str, int]) -> None:
    """Set the limit for this process and the workers it starts (the CLI's ``--max-memory``); None keeps it."""
    if value is None:
        return
    parse_size(value)
    os.environ[_ENV] = str(value).strip()


def check_memory(needed: float, path: Any, what: str) -> None:
    """Raise :class:`MemoryLimitExceeded` when ``needed`` bytes exceed :func:`memory_limit`.

    Args:
        needed: Bytes the step will allocate.
        path: The file (or option) named in the message.
        what: What needs it ("reading it (512x512x4000 float32)").
    """
    limit, source = memory_limit()
    if needed > limit:
        raise MemoryLimitExceeded(
            f"{path}: {what} needs about {format_size(needed)}, more than the memory limit of {format_size(limit)} "
            f"({source}). Crop or downsample the input, use a machine with more memory, or raise the limit with "
            f"--max-memory / {_ENV} (e.g. {_ENV}=64G) if this machine can hold it."
        )


# --------------------------------------------------------------------------- the file itself


def check_input_file(path: PathLike, *, what: str = "input", allow_dir: bool = False,
                     dir_hint: str = "give the image file itself") -> Path:
    """Check that ``path`` is an existing, readable regular file (or folder, with ``allow_dir``) without
    opening anything that could block.

    Returns:
        The path (``~`` expanded).

    Raises:
        FileNotFoundError: No such file (or a broken symlink).
        IsADirectoryError: A folder where a file is needed.
        PermissionError: Not readable (named as a permission problem).
        InputRefused: A named pipe, device, socket, symlink loop or an empty file.
    """
    p = Path(path).expanduser()
    try:
        st = os.stat(p)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputRefused(f"{p}: a symbolic link loop (the link points back to itself); give the real file.") from None
        if exc.errno == errno.EACCES:
            raise PermissionError(f"{p}: permission denied while looking up this {what} (a folder on its path is not "
                                  "searchable); check the folders' permissions.") from None
        if exc.errno == errno.ENAMETOOLONG:
            raise InputRefused(f"{p}: file name too long.") from None
        if os.path.islink(p):
            raise FileNotFoundError(f"{p}: a broken symbolic link (its target does not exist); give the real file.") from None
        if exc.errno == errno.ENOTDIR:
            raise FileNotFoundError(f"{p}: no such file (a parent of this path is a file, not a folder).") from None
        raise FileNotFoundError(f"{p}: no such file (the {what} is missing). Check the path.") from None
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        if allow_dir:
            if not os.access(p, os.R_OK | os.X_OK):
                raise PermissionError(f"{p}: permission denied: this folder is not readable; check its permissions "
                                      "(chmod u+rx).")
            return p
        raise IsADirectoryError(f"{p} is a folder, not a file; {dir_hint}.")
    if not stat.S_ISREG(mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
                else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise InputRefused(f"{p} is {kind}, not a regular file; medwave reads {what}s from regular files only "
                           f"(reading it could block forever). Save the data to a file first.")
    if not os.access(p, os.R_OK):
        raise PermissionError(f"{p}: permission denied: this {what} is not readable by you (the file is complete, its "
                              "permissions forbid reading); fix with chmod u+r or run as its owner.")
    if st.st_size == 0:
        raise InputRefused(f"{p} is an empty file (0 bytes); it was not written completely. Recreate or copy it again.")
    return p


_MAGIC = (
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (0, b"II+\x00", "tiff"),
    (0, b"MM\x00+", "tiff"),
    (0, b"\x1f\x8b", "gzip"),
    (0, b"NRRD", "nrrd"),
    (0, b"PK\x03\x04", "zip"),
    (0, b"\x93NUMPY", "npy"),
    (128, b"DICM", "dicom"),
    (344, b"n+1\x00", "nifti"),
    (344, b"ni1\x00", "nifti"),
    (4, b"ni1\x00", "nifti2"),
    (4, b"n+2\x00", "nifti2"),
)


def sniff_format(path: PathLike) -> str:
    """The file's format from its first bytes: ``png``, ``jpeg``, ``tiff``, ``gzip``, ``nrrd``, ``zip``, ``npy``,
    ``dicom``, ``nifti``, ``nifti2``, ``pickle``, ``mha`` (MetaImage text header), ``text`` or ``unknown``."""
    with open(path, "rb") as fh:
        head = fh.read(352)
    for off, magic, name in _MAGIC:
        if head[off:off + len(magic)] == magic:
            return name
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    if re.match(rb"\s*(ObjectType|NDims|DimSize|ElementType)\s*=", head):
        return "mha"
    if int.from_bytes(head[:4], "little") == 348 or int.from_bytes(head[:4], "big") == 348:
        return "analyze"
    try:
        head.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "unknown"


def read_text(path: PathLike, *, what: str = "text file", max_bytes: int = 256 * 1024 ** 2) -> str:
    """Read a UTF-8 text file (a BOM is dropped) through the guard; undecodable bytes are named, not replaced.

    Raises:
        InputRefused: Not UTF-8 (the message gives the line, the byte offset and the bytes), or larger than
            ``max_bytes``; and what :func:`check_input_file` raises.
    """
    p = check_input_file(path, what=what)
    size = p.stat().st_size
    if size > max_bytes:
        raise InputRefused(f"{p}: a {format_size(size)} {what}; medwave reads {what}s up to {format_size(max_bytes)}. "
                           "Is this the right file?")
    try:
        data = p.read_bytes()
    except PermissionError:
        raise PermissionError(f"{p}: permission denied while reading this {what}; fix with chmod u+r.") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start:exc.end + 3][:6]
        raise InputRefused(f"{p}, line {line} (byte {exc.start}): bytes {bad!r} are not UTF-8; this {what} must be "
                           "UTF-8 text. Re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8).") from None


# --------------------------------------------------------------------------- headers


@dataclass
class ImageHeader:
    """What a file's header says it holds (nothing of the voxel data read)."""

    path: Path
    format: str
    shape: tuple[int, ...]
    dtype: str
    itemsize: int
    kind: str  # numpy dtype kind ('u', 'f', 'c', 'V' for records such as RGB24, '?' unknown)

    @property
    def voxels(self) -> int:
        n = 1
        for s in self.shape:
            n *= max(int(s), 0)
        return n

    @property
    def nbytes(self) -> int:
        return self.voxels * self.itemsize


_SITK_DTYPES = {"8-bit unsigned integer": ("uint8", 1, "u"), "8-bit signed integer": ("int8", 1, "i"),
                "16-bit unsigned integer": ("uint16", 2, "u"), "16-bit signed integer": ("int16", 2, "i"),
                "32-bit unsigned integer": ("uint32", 4, "u"), "32-bit signed integer": ("int32", 4, "i"),
                "64-bit unsigned integer": ("uint64", 8, "u"), "64-bit signed integer": ("int64", 8, "i"),
                "32-bit float": ("float32", 4, "f"), "64-bit float": ("float64", 8, "f")}


def _nifti_header(p: Path, fmt: str) -> Optional[ImageHeader]:
    from medwave.utils.nibabel_import import import_nibabel

    nib = import_nibabel()

    try:
        img = nib.load(str(p))  # header only: the data stays on disk (proxy)
        shape = tuple(int(s) for s in img.header.get_data_shape())
        dt = np.dtype(img.header.get_data_dtype())
    except Exception:
        return None  # the reader itself reports corrupt headers with its own message
    if any(s < 0 for s in shape):
        raise InputRefused(f"{p}: its header claims a negative size {shape}; the file is corrupt.")
    try:  # the raw header: nibabel's loaded header has zero pixdims already replaced by 1
        import gzip

        with (gzip.open if p.name.lower().endswith(".gz") else open)(p, "rb") as fh:
            raw = fh.read(348)
        hdr = nib.Nifti1Header(raw, check=False) if len(raw) == 348 else None
        nsp = min(len(shape), 3)
        pixdim = [float(v) for v in hdr["pixdim"][1:1 + nsp]] if hdr is not None else []
        sform = int(hdr["sform_code"]) if hdr is not None else 1
    except Exception:
        pixdim, sform = [], 1
    bad = [i for i, v in enumerate(pixdim) if not (np.isfinite(v) and v > 0)]
    if bad and sform == 0:  # the affine then comes from pixdim, where nibabel silently replaces 0 by 1
        raise InputRefused(f"{p}: its header gives voxel size pixdim[{bad[0] + 1}] = {pixdim[bad[0]]:g} (a zero, negative "
                           "or non-finite voxel size) and no sform; every distance computed from it would be wrong. "
                           "Fix pixdim in the header (e.g. nibabel header.set_zooms or fslchpixdim).")
    name = "RGB24" if dt.names == ("R", "G", "B") else "RGBA32" if dt.names == ("R", "G", "B", "A") else str(dt)
    return ImageHeader(p, fmt, shape, name, int(dt.itemsize), "V" if dt.names else dt.kind)


def _sitk_header(p: Path, fmt: str) -> Optional[ImageHeader]:
    import SimpleITK as sitk

    try:
        r = sitk.ImageFileReader()
        r.SetFileName(str(p))
        r.ReadImageInformation()
        size = tuple(int(s) for s in r.GetSize())
        comps = int(r.GetNumberOfComponents())
        ptype = r.GetPixelIDTypeAsString() if hasattr(r, "GetPixelIDTypeAsString") else ""
        pid = r.GetPixelID()
        comp_name = sitk.GetPixelIDValueAsString(pid) if hasattr(sitk, "GetPixelIDValueAsString") else ptype
    except Exception:
        return None
    comp_name = comp_name.replace("vector of ", "").strip()
    dt = _SITK_DTYPES.get(comp_name)
    if dt is None:
        kind = "c" if "complex" in comp_name else "?"
        return ImageHeader(p, fmt, size + ((comps,) if comps > 1 else ()), comp_name, 8, kind)
    return ImageHeader(p, fmt, size + ((comps,) if comps > 1 else ()), dt[0], dt[1], dt[2])


def _tiff_header(p: Path) -> Optional[ImageHeader]:
    import tifffile

    try:
        with tifffile.TiffFile(str(p)) as tif:
            s = tif.series[0]
            shape, dt = tuple(int(v) for v in s.shape), np.dtype(s.dtype)
    except Exception:
        return None
    return ImageHeader(p, "tiff", shape, str(dt), int(dt.itemsize), dt.kind)


def _pil_header(p: Path, fmt: str) -> Optional[ImageHeader]:
    try:
        from PIL import Image as PILImage

        with PILImage.open(str(p)) as im:  # reads the header only
            w, h = im.size
            bands = len(im.getbands())
            mode = im.mode
    except Exception:
        return None
    itemsize = 2 if mode.startswith("I;16") else 4 if mode in ("I", "F") else 1
    return ImageHeader(p, fmt, (int(h), int(w)) + ((bands,) if bands > 1 else ()), f"{mode} ({itemsize} byte(s))",
                       itemsize, "u" if mode not in ("F",) else "f")


def _npy_header(p: Path) -> Optional[ImageHeader]:
    try:
        with open(p, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            shape, _, dt = np.lib.format._read_array_header(fh, version)  # no data, no pickle
    except Exception:
        return None
    return ImageHeader(p, "npy", tuple(int(v) for v in shape), str(dt), int(dt.itemsize), "O" if dt.hasobject else dt.kind)


def read_header(path: PathLike) -> Optional[ImageHeader]:
    """Shape and voxel type of an image file from its header alone, or None for formats without one here."""
    p = Path(path)
    fmt = sniff_format(p)
    name = p.name.lower()
    if fmt in ("nifti", "nifti2", "analyze") or (fmt == "gzip" and name.endswith((".nii.gz", ".img.gz"))):
        return _nifti_header(p, "nifti")
    if fmt == "tiff":
        return _tiff_header(p)
    if fmt in ("png", "jpeg"):
        return _pil_header(p, fmt)
    if fmt == "npy":
        return _npy_header(p)
    if fmt in ("nrrd", "mha", "dicom") or name.endswith((".mha", ".mhd", ".nrrd", ".nhdr", ".dcm")):
        return _sitk_header(p, fmt)
    return None


def check_dtype(header: ImageHeader, *, allow_complex: bool = False, purpose: str = "medwave") -> None:
    """Refuse voxel types outside the whitelist (bool, integers, floats; complex with ``allow_complex``).

    Raises:
        InputRefused: Naming the type ("RGB24", "complex64", ...) and the fix.
    """
    if header.kind in ALLOWED_KINDS:
        return
    if header.kind == "c":
        if allow_complex:
            return
        raise InputRefused(f"{header.path} has complex voxels ({header.dtype}); {purpose} needs real values. Save the "
                           f"magnitude (numpy.abs) or the real part as a separate image.")
    if header.dtype.startswith("RGB"):
        raise InputRefused(f"{header.path} holds {header.dtype} colour voxels; {purpose} needs one grey value per "
                           f"voxel. Convert it to greyscale (or split the channels) and save it as a scalar image.")
    raise InputRefused(f"{header.path} holds voxels of type {header.dtype}, not numbers medwave reads (bool, "
                       f"integers, floats); convert it to a numeric image.")


def guard_image(path: PathLike, *, what: str = "image", allow_dir: bool = False, allow_complex: bool = True,
                purpose: str = "medwave", bytes_per_voxel: float = 4.0, copies: float = 1.0) -> Optional[ImageHeader]:
    """The guarded entry of an image reader: :func:`check_input_file`, then the header's voxel type and the memory
    it needs (the array as stored, plus ``copies`` working arrays of ``bytes_per_voxel`` per voxel), checked
    before any voxel is read.

    Returns:
        The header, or None (a DICOM folder, or a format without a header reader here).

    Raises:
        FileNotFoundError, IsADirectoryError, PermissionError, InputRefused, MemoryLimitExceeded.
    """
    p = check_input_file(path, what=what, allow_dir=allow_dir)
    if p.is_dir():
        return None
    try:
        header = read_header(p)
    except PermissionError:
        raise PermissionError(f"{p}: permission denied while reading this {what}; fix with chmod u+r.") from None
    if header is None:
        return None
    check_dtype(header, allow_complex=allow_complex, purpose=purpose)
    shape = "x".join(str(s) for s in header.shape)
    needed = header.nbytes + copies * header.voxels * bytes_per_voxel
    check_memory(needed, p, f"reading it ({shape} {header.dtype}, header) and working on it")
    return header


def guard_paths(paths: Sequence[PathLike], **kwargs: Any) -> list[Optional[ImageHeader]]:
    """:func:`guard_image` over several paths, in order."""
    return [guard_image(p, **kwargs) for p in paths]
