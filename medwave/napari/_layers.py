"""Conversions between medwave images and napari layer data (no Qt, no napari import).

napari layers live in *array axis order*: a NIfTI volume of shape ``(X, Y, Z)`` becomes a layer whose
axis ``i`` is voxel axis ``i``. World coordinates are then RAS millimetres in the same order:

* axis-aligned affines with positive voxel sizes map exactly to ``scale`` (voxel sizes) and ``translate``
  (the world position of voxel 0);
* any other affine (flips, rotations, shears) keeps ``scale`` = voxel sizes and puts the remaining
  direction matrix and origin into napari's ``affine``, so ``affine @ diag(scale)`` is the NIfTI affine.

The full affine and the NIfTI header ride along in ``layer.metadata`` so that a layer written back to
disk gets the very same affine and header (see :func:`layer_affine`).

**Display frame.** napari shows the last two world axes (rows down, columns right) and slices the first.
In RAS voxel order ``(X, Y, Z)`` that is a sagittal slice lying on its side. A 3D image that has an
orientation (NIfTI, mha, nrrd, DICOM; not TIFF stacks) is therefore shown in a display frame: its layer data
are its voxel axes reordered to the ones closest to ``(z, y, x)`` (``(Z, Y, X)`` for a RAS- or LPS-stored
volume; a view, no copy; napari slices data axes, so a permuting affine would not do; the order comes from
``nibabel.orientations.io_orientation``), and its world axes are :data:`DISPLAY_FROM_RAS` applied to RAS:
``(S, P, L) = (z, -y, -x)`` millimetres (the flips go into napari's ``affine``). The first view is then an
axial slice in radiological orientation (anterior up, the patient's left on the right of the screen), the
slider going from inferior to superior. Every medwave layer of an oriented image uses the same frame, so
they overlay; :func:`layer_to_image` and :func:`layer_affine` undo it, so what is written to disk is the
original array and RAS affine. ``layer.metadata['medwave']['display']`` records the frame (None: the layer
is in RAS voxel order, as 2D images and TIFF stacks are); :func:`to_layer_order` puts x-first arrays
computed on an image's grid into its layer's order.

Non-spatial trailing axes (time, vector components) are moved *in front* of the spatial axes so that
napari shows them as sliders, and moved back by :func:`layer_to_image`.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from medwave.io import Image
from medwave.utils.paths import file_stem

__all__ = [
    "METADATA_KEY",
    "DISPLAY_FROM_RAS",
    "DISPLAY_AXIS_LABELS",
    "image_layer_kwargs",
    "image_to_layer_data",
    "layer_affine",
    "layer_display",
    "display_order",
    "layer_to_image",
    "to_layer_order",
    "nifti_units",
]

#: Key of the medwave record in ``layer.metadata``.
METADATA_KEY = "medwave"

#: napari world ``(S, P, L)`` from RAS ``(x, y, z)``: slider inferior->superior, rows posterior-going (anterior
#: up), columns towards the patient's left (radiological).
DISPLAY_FROM_RAS = np.array([[0.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
#: World axis names of oriented 3D layers (what napari's axis labels show).
DISPLAY_AXIS_LABELS = ("S (z)", "P (-y)", "L (-x)")

_UNIT_NAMES = {"mm": "mm", "micron": "um", "meter": "m", "unknown": None}


def nifti_units(meta: Mapping[str, Any]) -> Optional[str]:
    """The spatial unit of an image (``'mm'``, ``'um'``, ``'m'``) from its metadata, or None."""
    units = meta.get("units")
    if units and units[0] in _UNIT_NAMES:
        return _UNIT_NAMES[units[0]]
    return None


def _split_affine(affine: np.ndarray, ndim: int) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Split a ``(ndim+1)`` square voxel-to-world matrix into scale, translate and a residual affine.

    Returns:
        ``(scale, translate, residual)``; ``residual`` is None when the matrix is diagonal with positive
        entries, else an ``(ndim+1)`` matrix ``M`` with ``M @ diag(scale, 1) == affine`` (and ``translate``
        is zero, the origin lives in ``M``).
    """
    lin = affine[:ndim, :ndim]
    scale = np.linalg.norm(lin, axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    off_diag = lin - np.diag(np.diag(lin))
    if np.all(off_diag == 0) and np.all(np.diag(lin) > 0):
        return np.diag(lin).astype(float), affine[:ndim, ndim].astype(float), None
    residual = np.eye(ndim + 1)
    residual[:ndim, :ndim] = lin / scale[None, :]
    residual[:ndim, ndim] = affine[:ndim, ndim]
    return scale.astype(float), np.zeros(ndim), residual


def image_layer_kwargs(
    affine: np.ndarray,
    n_lead: int = 0,
    *,
    units: Optional[str] = None,
    spatial_names: tuple[str, ...] = ("x", "y", "z"),
    lead_names: Optional[tuple[str, ...]] = None,
) -> dict[str, Any]:
    """napari ``scale``/``translate``/``affine``/``axis_labels``/``units`` for data ``(*lead, *spatial)``.

    Args:
        affine: 4x4 voxel-to-world matrix of the 3 spatial axes (a 2D image uses its top-left 3x3 part
            when ``len(spatial_names) == 2``).
        n_lead: Number of leading non-spatial axes (time, vector components), given unit scale.
        units: Spatial unit name for napari (``'mm'``...), or None.
        spatial_names: Labels of the spatial axes, also fixing how many there are (2 or 3).
        lead_names: Labels of the leading axes (default ``'t'`` for one, ``'axis0'``... for more).
    """
    nsp = len(spatial_names)
    a = np.asarray(affine, dtype=float)
    if nsp == 2:
        a = np.array([[a[0, 0], a[0, 1], a[0, 3]], [a[1, 0], a[1, 1], a[1, 3]], [0.0, 0.0, 1.0]])
    scale, translate, residual = _split_affine(a, nsp)
    kw: dict[str, Any] = {
        "scale": tuple([1.0] * n_lead + scale.tolist()),
        "translate": tuple([0.0] * n_lead + translate.tolist()),
    }
    if lead_names is None:
        lead_names = ("t",) if n_lead == 1 else tuple(f"axis{i}" for i in range(n_lead))
    kw["axis_labels"] = tuple(lead_names) + tuple(spatial_names)
    if residual is not None:
        full = np.eye(n_lead + nsp + 1)
        full[n_lead:, n_lead:] = residual
        kw["affine"] = full
    if units:
        kw["units"] = tuple(["pixel"] * n_lead + [units] * nsp)
    return kw


def image_to_layer_data(
    image: Image, *, name: Optional[str] = None, kind: str = "image", extra: Optional[Mapping[str, Any]] = None
) -> tuple[np.ndarray, dict[str, Any], str]:
    """A napari LayerDataTuple for a medwave :class:`~medwave.io.Image` (NIfTI-style ``(X, Y, Z, ...)``).

    Trailing non-spatial axes are moved in front (``(X, Y, Z, T)`` -> ``(T, X, Y, Z)``; a NIfTI vector image
    ``(X, Y, Z, 1, V)`` -> ``(V, X, Y, Z)``); the record in ``metadata['medwave']`` says how to undo it.

    Args:
        image: The image (its ``meta['header']`` is kept).
        name: Layer name (default: the file name without extension).
        kind: ``'image'`` or ``'labels'``.
        extra: More layer keyword arguments (colormap, contrast limits...).

    Returns:
        ``(data, layer_kwargs, kind)``.
    """
    arr = np.asarray(image.array)
    n_spatial = min(arr.ndim, 3)
    lead_shape = arr.shape[3:]
    squeezed_t = False
    if arr.ndim == 5 and arr.shape[3] == 1:  # NIfTI vector image X,Y,Z,1,V
        arr = arr[:, :, :, 0, :]
        squeezed_t = True
    n_lead = arr.ndim - n_spatial
    data = np.moveaxis(arr, tuple(range(n_spatial, arr.ndim)), tuple(range(n_lead))) if n_lead else arr
    if name is None:
        name = file_stem(image.path) if image.path is not None else "image"
    kw = image_layer_kwargs(
        image.affine,
        n_lead,
        units=nifti_units(image.meta),
        spatial_names=("x", "y", "z")[:n_spatial],
        lead_names=("component",) if (squeezed_t or image.meta.get("intent") == "vector") and n_lead == 1 else None,
    )
    display = None
    perm = None
    if n_spatial == 3 and image.meta.get("orientation", "oriented") is not None:
        display = DISPLAY_FROM_RAS.copy()
        perm = display_order(image.affine)
        data = _permute_spatial(data, n_lead, perm)
        kw = image_layer_kwargs(display @ np.asarray(image.affine, dtype=float) @ _perm_matrix(perm), n_lead,
                                units=nifti_units(image.meta), spatial_names=DISPLAY_AXIS_LABELS,
                                lead_names=kw["axis_labels"][:n_lead])
    record = {
        "display": display,
        "display_perm": perm,
        "affine": np.array(image.affine, dtype=float),
        "header": image.meta.get("header"),
        "path": str(image.path) if image.path is not None else None,
        "n_lead": n_lead,
        "disk_shape": tuple(image.array.shape),
        "squeezed_t": squeezed_t,
        "lead_shape": tuple(lead_shape),
        "layer_transform": {
            "scale": np.array(kw["scale"], dtype=float),
            "translate": np.array(kw["translate"], dtype=float),
            "affine": np.array(kw.get("affine", np.eye(data.ndim + 1)), dtype=float),
        },
    }
    metadata = {METADATA_KEY: record}
    for k in ("units", "intent", "format"):
        if k in image.meta:
            metadata[k] = image.meta[k]
    kw.update({"name": name, "metadata": metadata})
    if extra:
        kw.update(extra)
    return data, kw, kind


def display_order(affine: np.ndarray) -> list[int]:
    """The voxel axes (of an x-first grid) closest to world ``z``, ``y``, ``x``, in that order.

    ``[2, 1, 0]`` for a volume stored along R/L, A/P, S/I (RAS, LPS...); another permutation for volumes
    stored e.g. sagittally (nibabel's ``io_orientation``).
    """
    from nibabel.orientations import io_orientation

    ornt = io_orientation(np.asarray(affine, dtype=float))
    axis_of = {int(w): v for v, (w, _) in enumerate(ornt)}
    if sorted(axis_of) != [0, 1, 2]:  # degenerate affine: keep the voxel order reversed
        return [2, 1, 0]
    return [axis_of[2], axis_of[1], axis_of[0]]


def _perm_matrix(perm: list[int]) -> np.ndarray:
    """4x4 ``P`` with ``voxel = P @ layer_index`` (layer axis ``a`` is voxel axis ``perm[a]``)."""
    m = np.zeros((4, 4))
    for a, v in enumerate(perm):
        m[v, a] = 1.0
    m[3, 3] = 1.0
    return m


def _permute_spatial(arr: Any, n_lead: int, perm: list[int]) -> Any:
    """Layer order of the 3 trailing (spatial) axes: axis ``a`` becomes voxel axis ``perm[a]`` (a view)."""
    return np.transpose(arr, tuple(range(n_lead)) + tuple(n_lead + v for v in perm))


def _unpermute_spatial(arr: Any, n_lead: int, perm: list[int]) -> Any:
    inv = list(np.argsort(perm))
    return np.transpose(arr, tuple(range(n_lead)) + tuple(n_lead + int(a) for a in inv))


def _layer_perm(layer_attrs: Mapping[str, Any]) -> list[int]:
    meta = (layer_attrs.get("metadata") or {}).get(METADATA_KEY) or {}
    perm = meta.get("display_perm")
    return [int(v) for v in perm] if perm is not None else [2, 1, 0]


def to_layer_order(array: Any, layer_metadata: Mapping[str, Any], *, points: bool = False) -> Any:
    """An x-first array on an image's grid, in the axis order of that image's layer.

    Args:
        array: ``(X, Y, Z)`` data (or ``(..., 3)`` x-first coordinates with ``points=True``, e.g. napari
            vectors ``(N, 2, 3)``).
        layer_metadata: The image layer's ``metadata`` (its ``'medwave'`` record says the order).
        points: ``array`` holds coordinates in its last axis rather than a volume.
    """
    rec = (layer_metadata or {}).get(METADATA_KEY) or {}
    if rec.get("display") is None:
        return array
    perm = _layer_perm({"metadata": layer_metadata})
    arr = np.asarray(array)
    if points:
        return arr[..., perm]
    return _permute_spatial(arr, arr.ndim - 3, perm)


def _current_transform(layer_attrs: Mapping[str, Any], ndim: int) -> dict[str, np.ndarray]:
    scale = np.asarray(layer_attrs.get("scale", np.ones(ndim)), dtype=float)
    translate = np.asarray(layer_attrs.get("translate", np.zeros(ndim)), dtype=float)
    aff = layer_attrs.get("affine")
    aff = np.eye(ndim + 1) if aff is None else np.asarray(getattr(aff, "affine_matrix", aff), dtype=float)
    return {"scale": scale, "translate": translate, "affine": aff}


def layer_display(layer_attrs: Mapping[str, Any], n_spatial: int) -> Optional[np.ndarray]:
    """The display frame of a layer: its medwave record's, else :data:`DISPLAY_FROM_RAS` when a layer made in
    napari took an oriented image's transform (napari ``affine`` flips ``diag(1, -1, -1)`` on its 3 spatial
    axes, or the display axis labels), else None (RAS voxel order)."""
    meta = (layer_attrs.get("metadata") or {}).get(METADATA_KEY) or {}
    if meta:
        d = meta.get("display")
        return None if d is None else np.asarray(d, dtype=float)
    if n_spatial != 3:
        return None
    labels = tuple(layer_attrs.get("axis_labels") or ())
    if labels[-3:] == DISPLAY_AXIS_LABELS:
        return DISPLAY_FROM_RAS.copy()
    aff = layer_attrs.get("affine")
    if aff is not None:
        a = np.asarray(getattr(aff, "affine_matrix", aff), dtype=float)
        if a.shape[0] >= 4 and np.allclose(a[-4:-1, -4:-1], np.diag([1.0, -1.0, -1.0])):
            return DISPLAY_FROM_RAS.copy()
    return None


def layer_affine(layer_attrs: Mapping[str, Any], n_spatial: int) -> np.ndarray:
    """The 4x4 voxel-to-world matrix of a layer's spatial (trailing) axes.

    When the layer still has the transform the reader gave it, the affine stored in its metadata is
    returned unchanged (bit for bit); otherwise it is composed from napari's ``affine``, ``scale`` and
    ``translate`` (so a user's edits are written too).

    Args:
        layer_attrs: ``layer.as_layer_data_tuple()[1]`` or the ``meta`` dict napari passes to writers.
        n_spatial: Number of trailing spatial axes (2 or 3).
    """
    meta = (layer_attrs.get("metadata") or {}).get(METADATA_KEY) or {}
    scale = np.asarray(layer_attrs.get("scale", ()), dtype=float)
    ndim = scale.size if scale.size else n_spatial
    cur = _current_transform(layer_attrs, ndim)
    stored = meta.get("layer_transform")
    if stored is not None and meta.get("affine") is not None:
        same = all(
            np.asarray(stored[k]).shape == cur[k].shape and np.allclose(stored[k], cur[k], rtol=1e-9, atol=1e-9)
            for k in ("scale", "translate", "affine")
        )
        if same:
            return np.asarray(meta["affine"], dtype=float)
    # Compose: world = A_napari @ (scale * i + translate), restricted to the spatial axes.
    full = cur["affine"] @ np.block(
        [[np.diag(cur["scale"]), cur["translate"][:, None]], [np.zeros((1, ndim)), np.ones((1, 1))]]
    )
    sp = slice(ndim - n_spatial, ndim)
    out = np.eye(4)
    lin = full[sp, sp]
    off = full[sp, ndim]
    out[:n_spatial, :n_spatial] = lin
    out[:n_spatial, 3] = off
    display = layer_display(layer_attrs, n_spatial)
    if display is not None and n_spatial == 3:  # display frame, reversed voxel axes: back to RAS, x first
        out = np.linalg.inv(np.asarray(display, dtype=float)) @ out @ np.linalg.inv(_perm_matrix(_layer_perm(layer_attrs)))
    return out


def layer_to_image(data: Any, layer_attrs: Mapping[str, Any]) -> Image:
    """The :class:`~medwave.io.Image` a layer stands for (inverse of :func:`image_to_layer_data`).

    Leading non-spatial axes that the reader moved in front go back to the end (vector images get their
    singleton time axis back), the affine is :func:`layer_affine`, and the stored header is reused.
    """
    arr = np.asarray(data)
    metadata = layer_attrs.get("metadata") or {}
    meta = metadata.get(METADATA_KEY) or {}
    n_lead = int(meta.get("n_lead", 0)) if meta else 0
    if not meta:
        # A layer made in napari: the last min(ndim, 3) axes are spatial unless it is RGB.
        n_lead = max(arr.ndim - 3, 0)
        if layer_attrs.get("rgb"):
            n_lead = 0
    n_spatial = arr.ndim - n_lead if not layer_attrs.get("rgb") else arr.ndim - 1
    if n_spatial not in (1, 2, 3):
        raise ValueError(f"Cannot write a {arr.ndim}-D layer of shape {arr.shape} as NIfTI: expected 2-3 spatial axes.")
    affine = layer_affine(layer_attrs, n_spatial)
    if layer_display(layer_attrs, n_spatial) is not None and n_spatial == 3:
        arr = _unpermute_spatial(arr, n_lead, _layer_perm(layer_attrs))  # layer order back to x first
    if n_lead:
        arr = np.moveaxis(arr, tuple(range(n_lead)), tuple(range(arr.ndim - n_lead, arr.ndim)))
        if meta.get("squeezed_t"):
            arr = arr[:, :, :, None, :]
    out_meta: dict[str, Any] = {}
    header = meta.get("header")
    if header is not None:
        disk_shape = tuple(meta.get("disk_shape", ()))
        if disk_shape and tuple(arr.shape[:3]) == tuple(disk_shape[:3]):
            out_meta["header"] = header
    return Image(arr, affine=affine, meta=out_meta)
