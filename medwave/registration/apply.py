"""``medwave.apply_transform``: apply a saved registration transform to an image, a label map or a point set.

Images and label maps move from the moving space onto the fixed grid (``inverse=True``: from the fixed space
onto the moving grid), resampled through physical space, so an input on another grid than the one the
registration saw (another voxel size, an oblique or LPS-stored header) lands in the right place. Point sets
(world coordinates, mm) move the other way round from images: a point of the moving image goes to the fixed
space with the inverse field (``inverse=True``: fixed-space points to the moving space with the forward field).
:func:`medwave.register` makes its ``warped`` and ``warped_seg`` with this same function.

Example:
    >>> import numpy as np
    >>> from medwave.registration.transform import Transform
    >>> from medwave.registration.apply import apply_transform
    >>> u = np.zeros((8, 8, 8, 3), np.float32); u[..., 0] = 1.0          # pull from one voxel further along x
    >>> tx = Transform(u, fixed_affine=np.eye(4), moving_affine=np.eye(4), moving_shape=(8, 8, 8))
    >>> moving = np.zeros((8, 8, 8), np.float32); moving[4, 4, 4] = 1.0
    >>> out = apply_transform(tx, moving)
    >>> np.argwhere(out.array == 1).tolist()
    [[3, 4, 4]]
    >>> apply_transform(tx, np.array([[4.0, 4.0, 4.0]])).round(3).tolist()  # the moving point lands there too
    [[3.0, 4.0, 4.0]]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional, Union

import numpy as np

from medwave.io import Image, as_image, check_finite_image, require_3d, require_real
from medwave.io.record import is_tensor
from medwave.registration.transform import Transform, load_transform

__all__ = ["apply_transform", "apply_to_points", "read_points_csv", "write_points_csv"]

Interpolation = Literal["linear", "nearest", "label"]


def _is_points(obj: Any) -> bool:
    if isinstance(obj, (str, Path)):
        return str(obj).lower().endswith(".csv")
    return isinstance(obj, np.ndarray) and obj.ndim == 2 and obj.shape[1] == 3


def _bare_array(obj: Any) -> bool:
    """A NumPy array or a plain tensor: voxels without an affine."""
    return isinstance(obj, np.ndarray) or (is_tensor(obj) and not hasattr(obj, "affine"))


def _input_image(obj: Any, grid: Optional[tuple], what: str) -> Image:
    """The image to move, as an :class:`Image` on its own grid; a bare array is taken to be on ``grid``."""
    img = as_image(obj, name=what)
    label = img.path.name if img.path is not None else what
    arr = np.asarray(img.array)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    img = Image(arr, affine=img.affine, meta=img.meta, path=img.path)
    require_3d(img, label, "apply_transform")
    require_real(img, label, "apply_transform")
    if _bare_array(obj):  # no geometry of its own: it can only live on the grid the transform expects
        if grid is None or tuple(grid[0]) != tuple(arr.shape[:3]):
            expect = "unknown" if grid is None else "x".join(map(str, grid[0]))
            raise ValueError(f"{label}: an array without an affine ({'x'.join(map(str, arr.shape[:3]))}) must be on "
                             f"the transform's input grid ({expect}); pass an image with its affine (a file, a "
                             "nibabel image, a MetaTensor or a medwave.io.Image) instead.")
        img = Image(arr, affine=np.asarray(grid[1], np.float64), meta=img.meta, path=img.path)
    return img


def _output_grid(reference: Any) -> Optional[tuple]:
    if reference is None:
        return None
    ref = as_image(reference, name="reference")
    return tuple(int(v) for v in ref.array.shape[:3]), np.asarray(ref.affine, np.float64)


def apply_to_points(transform: Union[str, Path, Transform, Any], points: np.ndarray, *, inverse: bool = False,
                    space: Literal["ras", "lps"] = "ras") -> np.ndarray:
    """Move world points ``(N, 3)`` (mm): moving space -> fixed space, or (``inverse``) fixed -> moving.

    Points go the opposite way of images: an image is pulled back through fixed -> moving, so a landmark of
    the moving image reaches the fixed space through the inverse (``moving_to_fixed``).

    Args:
        transform: A transform folder, :class:`~medwave.registration.transform.Transform` or ``RegistrationResult``.
        points: ``(N, 3)`` world coordinates.
        inverse: Fixed-space points to the moving space instead.
        space: ``"ras"`` (NIfTI/nibabel world, default) or ``"lps"`` (ITK/DICOM world) for input and output.
    """
    tx = load_transform(transform)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must be (N, 3) world coordinates, got shape {pts.shape}.")
    if not np.all(np.isfinite(pts)):
        raise ValueError("points have NaN/Inf coordinates; remove or fix those rows.")
    if space not in ("ras", "lps"):
        raise ValueError(f"space must be 'ras' or 'lps', got {space!r}.")
    flip = np.array([-1.0, -1.0, 1.0]) if space == "lps" else np.ones(3)
    out = tx.fixed_to_moving(pts * flip) if inverse else tx.moving_to_fixed(pts * flip)
    return out * flip


def read_points_csv(path: Union[str, Path]) -> tuple[np.ndarray, list[str], list[list[str]]]:
    """A CSV of points: ``(coords (N, 3), header, rows)``; columns ``x, y, z`` by name, else the first three."""
    import csv
    import io

    from medwave.io.guard import read_text

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such points file. Check the path.")
    text = read_text(p, what="points CSV")
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r and any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"{p} is empty; a points CSV needs one point per row (x,y,z in mm).")

    def numeric(row):
        try:
            [float(c) for c in row[:3]]
            return True
        except ValueError:
            return False

    header = [] if numeric(rows[0]) else [c.strip() for c in rows[0]]
    body = rows[1:] if header else rows
    lower = [h.lower() for h in header]
    cols = [lower.index(c) for c in ("x", "y", "z")] if all(c in lower for c in ("x", "y", "z")) else [0, 1, 2]
    try:
        coords = np.array([[float(r[c]) for c in cols] for r in body], dtype=np.float64)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{p}: every row needs three numeric coordinates (columns x, y, z, or the first three) "
                         f"({exc}).") from exc
    return coords.reshape(-1, 3), header, body


def write_points_csv(path: Union[str, Path], coords: np.ndarray, header: list[str], rows: list[list[str]]) -> Path:
    """Write ``rows`` with their coordinate columns replaced by ``coords`` (atomically)."""
    import csv
    import io

    from medwave.utils.atomic import atomic_path

    lower = [h.lower() for h in header]
    cols = [lower.index(c) for c in ("x", "y", "z")] if all(c in lower for c in ("x", "y", "z")) else [0, 1, 2]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(header)
    for r, c in zip(rows, coords):
        r = list(r)
        for k, v in zip(cols, c):
            r[k] = f"{float(v):.6f}"
        w.writerow(r)
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())
    return Path(path)


def apply_transform(
    transform: Union[str, Path, Transform, Any],
    image: Any,
    *,
    inverse: bool = False,
    interpolation: Interpolation = "linear",
    reference: Any = None,
    points_space: Literal["ras", "lps"] = "ras",
) -> Union[Image, np.ndarray]:
    """Apply a registration transform to an image, a label map or a point set.

    Args:
        transform: A transform folder written by ``medwave register`` / ``RegistrationResult.save`` (older
            folders with only ``ddf.nii.gz`` too), a :class:`~medwave.registration.transform.Transform` or a
            ``RegistrationResult``.
        image: An image of the moving space (``inverse``: of the fixed space) on any grid: a path, nibabel
            image, MetaTensor, :class:`medwave.io.Image`, or an array ``(X, Y, Z)`` on the transform's input
            grid; 4D with one volume is fine. Or points: a ``.csv`` path or an ``(N, 3)`` array of world
            coordinates (see :func:`apply_to_points`).
        inverse: Move a fixed-space image onto the moving grid (points: fixed -> moving).
        interpolation: ``"linear"``; ``"nearest"`` (ITK's nearest neighbour, dtype kept); ``"label"`` (label
            maps: each label one-hot, linear, arg-max; dtype kept). 0 outside the input image, as ITK.
        reference: An image whose grid the output takes (default: the fixed grid; ``inverse``: the moving grid).
        points_space: World convention of points, ``"ras"`` (default) or ``"lps"``.

    Returns:
        An :class:`Image` on the output grid (float32 for ``"linear"``), or for points the moved ``(N, 3)``
        array (a CSV path gives the array too; the CLI writes it).

    Raises:
        ValueError: Not a transform folder, an image that is not 3D, an array that is not on the transform's
            grid, an image that does not overlap the space it should be in, unknown interpolation.
    """
    if interpolation not in ("linear", "nearest", "label"):
        raise ValueError(f"interpolation must be 'linear', 'nearest' or 'label', got {interpolation!r}.")
    tx = load_transform(transform)
    if _is_points(image):
        pts = read_points_csv(image)[0] if isinstance(image, (str, Path)) else image
        return apply_to_points(tx, pts, inverse=inverse, space=points_space)
    if inverse:
        grid = (tx.fixed_shape, tx.fixed_affine)
    else:
        grid = None if tx.moving_shape is None else (tx.moving_shape, tx.moving_affine)
    img = _input_image(image, grid, "the image")
    if interpolation == "linear":
        check_finite_image(img, img.path.name if img.path is not None else "the image")
    return tx.resample(img, inverse=inverse, interpolation=interpolation, grid=_output_grid(reference))
