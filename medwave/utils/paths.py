"""File-name helpers shared by every layer: a file's stem and extension with double extensions kept whole."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

__all__ = ["DOUBLE_EXTENSIONS", "split_extension", "file_stem"]

#: Extensions of two parts that name one format (``sub-01.nii.gz`` is NIfTI, not gzip of ``sub-01.nii``).
DOUBLE_EXTENSIONS = (".nii.gz", ".ome.tiff", ".ome.tif", ".img.gz", ".tar.gz")


def split_extension(filename: Union[str, os.PathLike]) -> tuple[str, str]:
    """``(stem, extension)`` of a file name, a double extension kept whole.

    Example:
        >>> split_extension("sub-01_T1w.nii.gz"), split_extension("stack.tif"), split_extension("README")
        (('sub-01_T1w', '.nii.gz'), ('stack', '.tif'), ('README', ''))
    """
    name = Path(filename).name
    low = name.lower()
    for ext in DOUBLE_EXTENSIONS:
        if low.endswith(ext) and len(name) > len(ext):
            return name[: -len(ext)], name[-len(ext):]
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if dot and stem else (name, "")


def file_stem(path: Union[str, os.PathLike]) -> str:
    """File name without its (double) extension: ``sub-01_T1w.nii.gz`` -> ``sub-01_T1w``."""
    return split_extension(path)[0]
