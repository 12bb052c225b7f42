"""2D raster images (PNG, JPEG, BMP) as :class:`~medwave.io.Image` records: x first, identity affine.

Raster files have no physical geometry: the affine is the identity (pixel units, ``spatial_unit='pixel'``)
and there is no orientation. RGB(A) pixels go to a trailing channel axis; the array is ``(X, Y[, C])``
like every :class:`Image` (``(columns, rows)``; scikit-image/PIL give ``(rows, columns)``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medwave.io.record import Image

__all__ = ["RASTER_EXTENSIONS", "read_raster"]

RASTER_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def read_raster(path: Path) -> Image:
    """Read a PNG/JPEG/BMP image (scikit-image) keeping its data type; ``(X, Y[, C])``, identity affine.

    Raises:
        ValueError: Not a readable raster image (the message names the file).
    """
    from skimage import io as skio

    try:
        arr = np.asarray(skio.imread(str(path)))
    except Exception as exc:
        raise ValueError(f"{path}: cannot read as an image ({type(exc).__name__}: {exc}). Is it a complete "
                         f"PNG/JPEG/BMP file?") from exc
    if arr.ndim not in (2, 3):
        raise ValueError(f"{path}: shape {arr.shape} is not a 2D grey or colour image.")
    vector = arr.ndim == 3
    arr = np.ascontiguousarray(np.swapaxes(arr, 0, 1))  # (rows, cols[, C]) -> (X, Y[, C])
    meta = {"format": path.suffix.lower().lstrip(".").replace("jpg", "jpeg"), "spatial_unit": "pixel",
            "orientation": None}
    if vector:
        meta["vector"] = True
    return Image(arr, affine=np.eye(4), meta=meta, path=path)
