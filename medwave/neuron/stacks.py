"""Open microscopy stacks lazily (TIFF, zarr) or in memory (NIfTI), and write results beside them.

All stacks are handled as ``(Z, Y, X)`` arrays (the order of TIFF pages and of the NeuCuDa cubes), the
x-last view of medwave's x-first :class:`~medwave.io.Image` grid: NIfTI volumes (nibabel order ``X, Y, Z``)
are transposed on reading and transposed back on writing, with the input's affine kept, so outputs
overlay the input in any viewer. TIFF stacks are opened through tifffile's zarr interface (pages are
read only when a cube needs them) and zarr arrays are opened in place. The voxel size of a TIFF comes
from :func:`medwave.io.formats.tiff_geometry`, the same reader :func:`medwave.io.load_image` uses, and
results are written with it (:func:`write_volume`: ImageJ metadata and resolution tags).

Example:
    >>> import numpy as np, tempfile, os, tifffile
    >>> from medwave.neuron.stacks import open_stack
    >>> p = os.path.join(tempfile.mkdtemp(), "s.tif")
    >>> tifffile.imwrite(p, np.zeros((4, 8, 8), np.uint16))
    >>> s = open_stack(p)
    >>> s.kind, s.shape
    ('tiff', (4, 8, 8))
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import numpy as np

__all__ = ["Stack", "open_stack", "stack_from_image", "stack_kind", "write_volume", "create_zarr", "finalize_zarr"]

PathLike = Union[str, os.PathLike]
Kind = Literal["tiff", "nifti", "zarr", "array"]


@dataclass
class Stack:
    """A ``(Z, Y, X)`` stack and where it came from.

    Attributes:
        data: Array-like ``(Z, Y, X)`` (NumPy, zarr, lazily read TIFF).
        kind: ``"tiff"``, ``"nifti"``, ``"zarr"`` or ``"array"``.
        spacing: Voxel size ``(sz, sy, sx)`` (1 when unknown), in ``unit``.
        affine: The 4x4 voxel-to-world matrix of the x-first ``(X, Y, Z)`` grid (NIfTI: the file's; TIFF and
            zarr: ``diag(sx, sy, sz)`` plus origin; None: ``diag(spacing)``, see :meth:`grid_affine`).
        path: The source path, if any.
        meta: Extra format information (NIfTI header, TIFF resolution...).
        unit: Length unit of ``spacing`` and ``affine`` (``"um"``, ``"mm"``) or None (pixels).
    """

    data: Any
    kind: Kind = "array"
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    affine: Optional[np.ndarray] = None
    path: Optional[Path] = None
    meta: dict = field(default_factory=dict)
    unit: Optional[str] = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.data.shape)

    def grid_affine(self) -> np.ndarray:
        """The affine of the x-first grid: ``affine`` if known, else ``diag(sx, sy, sz)``."""
        if self.affine is not None:
            return np.asarray(self.affine, dtype=np.float64)
        return np.diag([*(float(v) for v in self.spacing[::-1]), 1.0])


def stack_from_image(image: Any, *, name: str = "stack", kind: Kind = "array") -> Stack:
    """A ``(Z, Y, X)`` :class:`Stack` view of an x-first :class:`~medwave.io.Image` (spacing, affine, unit kept)."""
    from medwave.io.formats import spatial_unit

    arr = np.asarray(image.array)
    if arr.ndim != 3:
        arr = arr.reshape(_squeeze3d(arr.shape, image.path or name))
    sx, sy, sz = (float(v) for v in image.spacing[:3])
    fmt = str(image.meta.get("format", ""))
    kind = "nifti" if fmt == "nifti" else "tiff" if fmt == "tiff" else kind
    return Stack(arr.transpose(2, 1, 0), kind, (sz, sy, sx), np.asarray(image.affine, np.float64).copy(),
                 image.path, dict(image.meta), spatial_unit(image))


def stack_kind(path: PathLike) -> Kind:
    """Format of a stack path from its name (``.tif/.tiff``, ``.nii/.nii.gz``, ``.zarr`` or a zarr folder)."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".tif", ".tiff")):
        return "tiff"
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith(".zarr") or (p.is_dir() and ((p / "zarr.json").exists() or (p / ".zarray").exists())):
        return "zarr"
    raise ValueError(
        f"{p}: unknown stack format; medwave reads TIFF (.tif/.tiff), NIfTI (.nii/.nii.gz) and zarr (.zarr) stacks."
    )


def _squeeze3d(shape: tuple[int, ...], path: Path) -> tuple[int, ...]:
    dims = [s for s in shape if s != 1] if len(shape) > 3 else list(shape)
    if len(dims) != 3:
        raise ValueError(
            f"{path}: a {len(shape)}-D stack of shape {shape}; segment-neurons needs one 3D channel (Z, Y, X). "
            "Split channels/time points first."
        )
    return tuple(dims)


def _check_tiff_complete(tf: Any, path: Path) -> None:
    """Raise if a page's image data lies beyond the end of the file (a truncated copy or download).

    Only the page headers are read (no pixel data), so this is cheap even for large stacks; without it
    a truncated stack opens fine and fails later, inside a cube, with no file name in the message.
    """
    size = path.stat().st_size
    end = 0
    for page in tf.pages:
        offsets = getattr(page, "dataoffsets", None) or ()
        counts = getattr(page, "databytecounts", None) or ()
        for o, c in zip(offsets, counts):
            end = max(end, int(o) + int(c))
    if end > size:
        raise ValueError(
            f"{path}: truncated TIFF (image data runs to byte {end} but the file has {size} bytes); copy or export "
            f"the stack again."
        )


def _refuse_colour_tiff(p: Path) -> None:
    """Refuse an RGB(A) TIFF: its samples axis would otherwise be read as a third spatial axis."""
    import tifffile

    try:
        with tifffile.TiffFile(str(p)) as tf:
            s = tf.series[0]
            axes, shape = s.axes.upper(), tuple(s.shape)
            photometric = getattr(tf.pages[0], "photometric", None)
    except Exception:
        return  # reported by the reader with its own message
    if "S" in axes or int(getattr(photometric, "value", photometric) or 0) == 2:
        raise ValueError(f"{p}: a colour (RGB) TIFF image of shape {shape} (axes {axes}), not a 3D grey stack; "
                         "segment-neurons would read the colour samples as a third axis. Save one grey channel "
                         "per slice as a (Z, Y, X) stack.")


def open_stack(path: PathLike) -> Stack:
    """Open a stack for cube-wise reading.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Unknown format, unreadable file, or not a single-channel 3D stack.
    """
    from medwave.io.guard import check_input_file, guard_image

    p = Path(path).expanduser()
    if not p.exists() and not p.is_symlink():
        raise FileNotFoundError(f"{p}: no such stack. Check the path.")
    kind = stack_kind(p)
    # a regular readable file (a zarr store: a folder), voxel type whitelisted, memory checked from the header: the
    # stack (NIfTI: in memory), a float32 probability and a mask come to about 5 bytes per voxel beyond the data
    check_input_file(p, what="stack", allow_dir=kind == "zarr", dir_hint="give the stack file itself")
    if kind != "zarr":
        header = guard_image(p, what="stack", allow_complex=False, purpose="segment-neurons", bytes_per_voxel=5.0)
        if header is not None and kind == "tiff":
            _refuse_colour_tiff(p)
    if kind == "nifti":
        from medwave.io import load_image

        st = stack_from_image(load_image(p, allow_complex=False, purpose="segment-neurons"), kind="nifti")
        st.data = np.ascontiguousarray(st.data)
        return st
    if kind == "zarr":
        import zarr

        try:
            z = zarr.open(str(p), mode="r")
        except Exception as exc:
            raise ValueError(f"{p}: cannot open as zarr ({type(exc).__name__}: {exc}).") from exc
        if not hasattr(z, "shape"):  # a group: take its only array / the first one
            names = sorted(k for k, _ in z.arrays())
            if not names:
                raise ValueError(f"{p}: zarr group without arrays; point to the array itself.")
            z = z[names[0]]
        if len(z.shape) != 3:
            raise ValueError(f"{p}: zarr array of shape {z.shape}; segment-neurons needs a 3D (Z, Y, X) array.")
        spacing = tuple(float(v) for v in z.attrs.get("spacing", (1.0, 1.0, 1.0)))
        unit = z.attrs.get("unit")
        st = Stack(z, "zarr", spacing, None, p, {"zarr_attrs": dict(z.attrs)}, str(unit) if unit else None)
        aff = z.attrs.get("affine")
        st.affine = np.asarray(aff, np.float64) if aff is not None else st.grid_affine()
        return st
    import logging

    import tifffile
    import zarr

    from medwave.io.formats import tiff_geometry, tiff_layout

    if p.is_file() and p.stat().st_size == 0:
        raise ValueError(f"{p}: empty file (0 bytes); was it copied completely? Copy or export the stack again.")
    tiff_log = logging.getLogger("tifffile")
    level = tiff_log.level
    tiff_log.setLevel(logging.CRITICAL)  # a damaged file is reported once, below, not as tifffile's log lines
    try:
        with tifffile.TiffFile(str(p)) as tf:
            _check_tiff_complete(tf, p)
            series = tf.series[0]
            shape = tuple(series.shape)
            axes = series.axes
            geom = tiff_geometry(tf)
        store = tifffile.imread(str(p), aszarr=True)
        z = zarr.open(store, mode="r")
        if hasattr(z, "arrays") and not hasattr(z, "shape"):
            z = z[sorted(k for k, _ in z.arrays())[0]]
    except ValueError as exc:
        if str(exc).startswith(str(p)):
            raise
        raise ValueError(f"{p}: cannot read as TIFF ({type(exc).__name__}: {exc}). Is the file complete?") from exc
    except Exception as exc:
        raise ValueError(f"{p}: cannot read as TIFF ({type(exc).__name__}: {exc}). Is the file complete?") from exc
    finally:
        tiff_log.setLevel(level)
    sx, sy, sz = geom.spacing
    meta = {"format": "tiff", "spacing_source": geom.source, "tiff_axes": axes, "spatial_unit": geom.unit or "pixel"}
    st = Stack(z, "tiff", (sz, sy, sx), geom.affine, p, meta, geom.unit)
    try:
        spatial, chan, nsp = tiff_layout(axes, shape, p)
    except ValueError as exc:
        raise ValueError(f"{exc} segment-neurons needs one 3D channel (Z, Y, X).") from None
    if len(shape) != 3 or chan or nsp != 3 or spatial != [2, 1, 0]:
        if chan or nsp != 3:
            raise ValueError(f"{p}: a stack of shape {shape} (axes {axes}); segment-neurons needs one 3D channel "
                             f"(Z, Y, X). Split channels/time points first.")
        keep = sorted(spatial)
        arr = np.asarray(z[...]).reshape([shape[i] for i in keep])
        st.data = np.transpose(arr, [keep.index(i) for i in spatial][::-1])  # (Z, Y, X)
    return st


def write_volume(array: np.ndarray, path: PathLike, *, like: Optional[Stack] = None, overwrite: bool = False) -> Path:
    """Write a ``(Z, Y, X)`` result as TIFF or NIfTI (by extension), atomically, on ``like``'s grid.

    The physical geometry of the input goes with it: NIfTI outputs get ``like``'s affine (x-first, units
    set from ``like.unit``); TIFF outputs get its voxel size and origin as ImageJ metadata (``unit``,
    ``spacing``) and X/YResolution tags (through :func:`medwave.io.save_image`, the one TIFF writer).
    """
    from medwave.io import Image, save_image
    from medwave.utils.atomic import check_output_path

    p = check_output_path(path, overwrite=overwrite)
    arr = np.asarray(array)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    name = p.name.lower()
    if not name.endswith((".nii", ".nii.gz", ".tif", ".tiff")):
        raise ValueError(f"{p}: output must end in .tif/.tiff or .nii/.nii.gz.")
    affine = like.grid_affine() if like is not None else np.eye(4)
    lin = affine[:3, :3]
    if name.endswith((".tif", ".tiff")) and (np.any(lin != np.diag(np.diag(lin))) or np.any(np.diag(lin) <= 0)):
        affine = np.diag([*np.linalg.norm(lin, axis=0), 1.0])  # a TIFF keeps the voxel size, not the rotation
    unit = like.unit if like is not None else None
    meta: dict[str, Any] = {"spatial_unit": unit or "pixel"}
    if unit is not None:
        meta["units"] = ({"um": "micron", "mm": "mm", "m": "meter"}.get(unit, "unknown"), "sec")
    save_image(Image(arr.transpose(2, 1, 0), affine=affine, meta=meta), p, overwrite=True)
    return p


def create_zarr(path: PathLike, shape: tuple[int, ...], dtype: Any, *, chunks: tuple[int, ...] = (32, 128, 128),
                overwrite: bool = False) -> tuple[Any, Path]:
    """Create a zarr array in a temporary folder beside ``path``; :func:`finalize_zarr` renames it into place."""
    import zarr

    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"Output {target} already exists; pass --overwrite or choose another folder.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    arr = zarr.open_array(str(tmp), mode="w", shape=shape, dtype=dtype,
                          chunks=tuple(min(c, s) for c, s in zip(chunks, shape)))
    return arr, tmp


def finalize_zarr(tmp: Path, path: PathLike) -> Path:
    """Move a finished temporary zarr folder to ``path`` (replacing an existing one)."""
    target = Path(path)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return target
