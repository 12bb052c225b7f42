"""napari readers: NIfTI images and label maps (affine and header kept)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from medwave.napari._layers import image_to_layer_data

__all__ = ["get_nifti_reader", "read_nifti", "is_label_image"]

PathOrPaths = Union[str, Sequence[str]]
LayerData = tuple[Any, dict, str]

_NIFTI_EXT = (".nii", ".nii.gz")
_LABEL_NAME = re.compile(r"(^|[^a-z])(label|labels|seg|segmentation|mask|parc|aseg|aparc|dseg)([^a-z]|$)", re.I)


def _paths(path: PathOrPaths) -> list[str]:
    return [str(path)] if isinstance(path, (str, Path)) else [str(p) for p in path]


def get_nifti_reader(path: PathOrPaths) -> Optional[Callable[[PathOrPaths], list[LayerData]]]:
    """napari reader hook: a reader when every path is a ``.nii``/``.nii.gz`` file, else None."""
    paths = _paths(path)
    if not paths or not all(p.lower().endswith(_NIFTI_EXT) for p in paths):
        return None
    return read_nifti


def is_label_image(array: np.ndarray, meta: dict, name: str) -> bool:
    """Whether a NIfTI image should open as a labels layer.

    True for integer images whose NIfTI intent is ``label`` or whose file name says label/seg/mask/parc
    (``sub-01_dseg.nii.gz``, ``brain_mask.nii``, ``aparc+aseg.nii``).
    """
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        return False
    return meta.get("intent") == "label" or bool(_LABEL_NAME.search(name))


def _disk_scaling(path: str) -> Optional[tuple[str, float, float]]:
    """``(on-disk dtype, slope, intercept)`` of a scaled integer NIfTI (nibabel drops them from the header)."""
    from medwave.utils.nibabel_import import import_nibabel

    nib = import_nibabel()

    try:
        proxy = nib.load(path).dataobj
        slope, inter = float(proxy.slope), float(proxy.inter)
        dtype = np.dtype(proxy.dtype)
    except Exception:  # not a proxy (e.g. unusual formats): nothing to keep
        return None
    if not np.issubdtype(dtype, np.integer) or (slope == 1.0 and inter == 0.0):
        return None
    return (dtype.str, slope, inter)


def read_nifti(path: PathOrPaths) -> list[LayerData]:
    """Read NIfTI files into napari layers.

    Each file gives one layer in voxel-axis order ``(X, Y, Z)`` (time/vector axes in front) with
    ``scale``/``translate`` (or napari ``affine`` for oblique grids) from the NIfTI affine, and the full
    affine and header in ``metadata['medwave']`` so the NIfTI writers write it back unchanged.
    Integer label maps (see :func:`is_label_image`) open as labels layers.
    """
    from medwave.io import load_image

    out: list[LayerData] = []
    for p in _paths(path):
        img = load_image(p)
        data, kw, _ = image_to_layer_data(img)
        kw["metadata"]["medwave"]["scaling"] = _disk_scaling(p)
        kind = "labels" if is_label_image(img.array, img.meta, kw["name"]) else "image"
        if kind == "labels":
            if img.array.dtype == np.bool_:
                data = data.astype(np.uint8)
        else:
            finite = np.asarray(data, dtype=np.float64)
            finite = finite[np.isfinite(finite)]
            if finite.size:
                lo, hi = np.percentile(finite, [0.5, 99.5]) if finite.size > 16 else (finite.min(), finite.max())
                if hi <= lo:
                    lo, hi = float(finite.min()), float(finite.max()) + (1.0 if finite.max() == finite.min() else 0.0)
                kw["contrast_limits"] = (float(lo), float(hi))
            kw["colormap"] = "gray"
        out.append((data, kw, kind))
    return out
