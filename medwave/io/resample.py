"""Resampling of an image onto another image's grid, from the two voxel-to-world affines.

Example:
    >>> import numpy as np
    >>> from medwave.io import Image, resample_to_reference
    >>> ref = Image(np.zeros((4, 4, 4), np.float32), affine=np.eye(4))
    >>> aff = np.eye(4); aff[0, 3] = 1.0   # moving voxel 0 sits at world x = 1
    >>> mov = Image(np.arange(64, dtype=np.float32).reshape(4, 4, 4), affine=aff)
    >>> out = resample_to_reference(mov, ref)
    >>> float(out.array[2, 0, 0]), float(mov.array[1, 0, 0])
    (16.0, 16.0)
"""

from __future__ import annotations

import numpy as np

from medwave.io.record import Image

__all__ = ["resample_to_reference", "resample_array"]


def resample_array(
    array: np.ndarray,
    voxel_map: np.ndarray,
    out_shape: tuple[int, ...],
    *,
    order: int = 1,
    cval: float = 0.0,
) -> np.ndarray:
    """Resample ``array`` with a 4x4 map from output voxel to input voxel coordinates.

    Extra trailing axes (vector components, time) are resampled one by one.
    """
    from scipy import ndimage

    if order not in range(6):
        raise ValueError(f"order must be 0 (nearest, for labels) ... 5, got {order}.")
    nd = min(array.ndim, 3)
    M = np.asarray(voxel_map, dtype=np.float64)
    matrix, offset = M[:nd, :nd], M[:nd, 3]
    in_dtype = array.dtype
    if order == 0:
        work_dtype = in_dtype
    elif np.issubdtype(in_dtype, np.floating):
        work_dtype = in_dtype if in_dtype != np.float16 else np.float32
    else:
        work_dtype = np.float32
    lead_shape = array.shape[nd:]
    flat = array.reshape(array.shape[:nd] + (-1,))
    out = np.empty(tuple(out_shape[:nd]) + (flat.shape[-1],), dtype=work_dtype)
    for k in range(flat.shape[-1]):
        src = flat[..., k]
        if order > 0 and src.dtype != work_dtype:
            src = src.astype(work_dtype)
        out[..., k] = ndimage.affine_transform(
            src,
            matrix,
            offset=offset,
            output_shape=tuple(out_shape[:nd]),
            order=order,
            mode="grid-constant" if order > 1 else "constant",
            cval=cval,
            prefilter=order > 1,
        )
    return out.reshape(tuple(out_shape[:nd]) + lead_shape)


def resample_to_reference(moving: Image, reference: Image, *, order: int = 1, cval: float = 0.0) -> Image:
    """Resample ``moving`` onto the grid of ``reference`` using both voxel-to-world affines.

    For every reference voxel ``i`` the world point ``A_ref @ i`` is looked up in the moving image at
    voxel ``inv(A_mov) @ A_ref @ i`` (no registration: the images must already share a world space,
    e.g. scanner RAS). Points outside the moving image get ``cval``.

    Args:
        moving: Image to resample. Trailing non-spatial axes (vector components, time) are resampled
            one by one as scalars (vector components are *not* rotated).
        reference: Image whose grid (shape of its first 3 axes, affine) defines the output.
        order: Spline order: 0 nearest neighbour (labels; dtype kept), 1 linear (default), 3 cubic.
        cval: Value outside the moving image's field of view.

    Returns:
        A new :class:`Image` with the reference's spatial shape and affine; the moving image's meta
        (minus its NIfTI header, which described the other grid) and ``"resampled_from"``.

    Raises:
        ValueError: An affine is singular, or the images have a different number of spatial axes.
    """
    for img, what in ((moving, "moving"), (reference, "reference")):
        if abs(np.linalg.det(img.affine[:3, :3])) < 1e-12 or not np.all(np.isfinite(img.affine)):
            src = f" ({img.path.name})" if img.path is not None else ""
            raise ValueError(f"The {what} image{src} has a singular or non-finite affine; fix its header (qform/sform).")
    nd_ref = min(reference.array.ndim, 3)
    nd_mov = min(moving.array.ndim, 3)
    if nd_ref != nd_mov:
        raise ValueError(
            f"Cannot resample a {nd_mov}D moving image onto a {nd_ref}D reference grid; both need the same "
            f"number of spatial axes."
        )
    nd = nd_ref
    # 2D images: embed the in-plane part of the 4x4 affine.
    A_ref, A_mov = reference.affine, moving.affine
    voxel_map = np.linalg.solve(A_mov, A_ref)
    if nd < 3:
        sub = np.eye(4)
        sub[:nd, :nd] = voxel_map[:nd, :nd]
        sub[:nd, 3] = voxel_map[:nd, 3]
        voxel_map = sub
    out = resample_array(
        np.asarray(moving.array), voxel_map, tuple(reference.array.shape[:nd]), order=order, cval=cval
    )
    meta = {k: v for k, v in moving.meta.items() if k != "header"}
    if moving.path is not None:
        meta["resampled_from"] = str(moving.path)
    return Image(out, affine=reference.affine.copy(), meta=meta, path=None)
