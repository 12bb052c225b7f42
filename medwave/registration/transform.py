"""A registration's transform on disk: MONAI voxel DDF, ITK/ANTs displacement (LPS mm), affine, inverses, manifest.

A transform maps points of the fixed image's space to points of the moving image's space (the pull-back
that resamples the moving image onto the fixed grid), in this order::

    fixed world p  --(displacement D, on the fixed grid)-->  p + d(p)  --(affine T, optional)-->  moving world

so ``warped(p) = moving(T(D(p)))``. The files of a transform folder (:meth:`Transform.save`):

==================================  ==========================================================================
``ddf_monai_voxel.nii.gz``          ``u``: MONAI DDF, voxels of the fixed grid along its array axes,
                                    ``warped(i) = moving_on_fixed(i + u(i))``; vector NIfTI, fixed affine
``transform_itk_lps_mm.nii.gz``     ``d``: the same displacement as ITK/ANTs want it: physical LPS mm vectors
                                    on the fixed grid (``d = diag(-1, -1, 1) A_f[:3, :3] u``); read it with
                                    ``sitk.ReadImage`` into a ``DisplacementFieldTransform`` or give it to
                                    ``antsApplyTransforms -t``
``affine_itk_lps.mat``              ``T`` (with ``--affine`` only): an ITK ``AffineTransform_double_3_3`` in LPS
                                    mm, fixed point -> moving point (``sitk.ReadTransform``, ``antsApplyTransforms``)
``inverse_ddf_monai_voxel.nii.gz``  ``u_inv``: the inverse displacement, ``i + u_inv(i) + u(i + u_inv(i)) = i``
``inverse_itk_lps_mm.nii.gz``       the same in ITK's convention
``transform.json``                  the manifest: which file is which, conventions, grids, composition order
==================================  ==========================================================================

An ITK ``CompositeTransform`` applies the transform added last to a point first, so the forward transform is
``CompositeTransform([affine, field])``; ``antsApplyTransforms`` lists them the other way round (the image goes
through the last ``-t`` first, so a point goes through the first one first), as for ``antsRegistration``'s own
``-t 1Warp.nii.gz -t 0GenericAffine.mat``: ``-t transform_itk_lps_mm.nii.gz -t affine_itk_lps.mat``. The inverse
(a fixed-space image onto the moving grid) is ``CompositeTransform([inverse_field, affine.GetInverse()])`` /
``-t [affine_itk_lps.mat,1] -t inverse_itk_lps_mm.nii.gz``.

Example:
    >>> import numpy as np
    >>> from medwave.registration.transform import Transform
    >>> u = np.zeros((8, 8, 8, 3), np.float32); u[..., 0] = 1.0      # one voxel along the first axis
    >>> tx = Transform(u, fixed_affine=np.diag([2.0, 2.0, 2.0, 1.0]))
    >>> tx.fixed_to_moving(np.array([[4.0, 4.0, 4.0]]))              # 1 voxel = 2 mm along x
    array([[6., 4., 4.]])
    >>> np.round(tx.moving_to_fixed(np.array([[6.0, 4.0, 4.0]])), 4)
    array([[4., 4., 4.]])
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

import numpy as np
import torch

from medwave.io.formats import LPS_TO_RAS
from medwave.utils.tensors import tensor_from

if TYPE_CHECKING:  # pragma: no cover
    from medwave.io.record import Image

__all__ = [
    "Transform", "FILES", "load_transform", "invert_ddf", "ddf_to_itk", "itk_to_ddf", "affine_to_itk",
    "sample_field", "displace",
]

#: File names of a transform folder (keys are the manifest's ``files`` keys).
FILES = {
    "ddf_monai": "ddf_monai_voxel.nii.gz",
    "displacement_itk": "transform_itk_lps_mm.nii.gz",
    "affine_itk": "affine_itk_lps.mat",
    "inverse_ddf_monai": "inverse_ddf_monai_voxel.nii.gz",
    "inverse_displacement_itk": "inverse_itk_lps_mm.nii.gz",
}
MANIFEST = "transform.json"
#: The file name of the MONAI DDF before the transform folder existed (still read).
LEGACY_DDF = "ddf.nii.gz"
_FLIP = np.diag([-1.0, -1.0, 1.0])  # RAS <-> LPS on vectors


# --------------------------------------------------------------------------------------------------------------
# conventions
# --------------------------------------------------------------------------------------------------------------
def ddf_to_itk(ddf: np.ndarray, fixed_affine: np.ndarray) -> np.ndarray:
    """MONAI voxel DDF ``(X, Y, Z, 3)`` -> ITK displacement ``(X, Y, Z, 3)``: physical LPS mm, same grid."""
    m = _FLIP @ np.asarray(fixed_affine, np.float64)[:3, :3]
    return np.einsum("ij,...j->...i", m, np.asarray(ddf, np.float64)).astype(np.float32)


def itk_to_ddf(field_lps: np.ndarray, fixed_affine: np.ndarray) -> np.ndarray:
    """ITK displacement (LPS mm) ``(X, Y, Z, 3)`` -> MONAI voxel DDF on the same grid (undoes :func:`ddf_to_itk`)."""
    m = np.linalg.inv(_FLIP @ np.asarray(fixed_affine, np.float64)[:3, :3])
    return np.einsum("ij,...j->...i", m, np.asarray(field_lps, np.float64)).astype(np.float32)


def affine_to_itk(transform_ras: np.ndarray):
    """A 4x4 RAS world transform (fixed point -> moving point) as a SimpleITK ``AffineTransform`` in LPS mm."""
    import SimpleITK as sitk

    lps = LPS_TO_RAS @ np.asarray(transform_ras, np.float64) @ LPS_TO_RAS
    tx = sitk.AffineTransform(3)
    tx.SetMatrix([float(v) for v in lps[:3, :3].ravel()])
    tx.SetTranslation([float(v) for v in lps[:3, 3]])
    return tx


def _itk_to_ras(tx) -> np.ndarray:
    """4x4 RAS matrix of a SimpleITK affine-type transform (inverse of :func:`affine_to_itk`)."""
    from medwave.io.prealign import _transform_to_ras

    return _transform_to_ras(tx)


# --------------------------------------------------------------------------------------------------------------
# sampling a field or an image at voxel coordinates
# --------------------------------------------------------------------------------------------------------------
def sample_field(volume: torch.Tensor, coords: torch.Tensor, *, mode: Literal["linear", "nearest"] = "linear",
                 ) -> torch.Tensor:
    """Sample ``volume`` ``(C, X, Y, Z)`` at voxel coordinates ``coords`` ``(*out, 3)``, as ITK does.

    Inside the buffer (``-0.5 <= c <= n - 0.5`` along every axis) the value is interpolated (trilinear or
    nearest, ITK's round-half-up), clamped to the edge voxels within the half-voxel margin; outside it is 0
    (ITK's default pixel value, and a displacement field's zero outside its grid).

    Returns:
        ``(C, *out)`` in ``volume``'s dtype.
    """
    from medwave.networks.blocks.fields import grid_sample_parallel

    shape = volume.shape[1:]
    out_shape = coords.shape[:-1]
    c = coords.reshape(-1, 3).to(torch.float64)
    n = torch.tensor([float(s) for s in shape], dtype=torch.float64)
    inside = ((c >= -0.5) & (c <= n - 0.5)).all(-1)
    c = torch.minimum(torch.clamp(c, min=0.0), n - 1)
    if mode == "nearest":
        c = torch.minimum(torch.floor(c + 0.5), n - 1)
    elif mode != "linear":
        raise ValueError(f"mode must be 'linear' or 'nearest', got {mode!r}.")
    g = torch.where(n > 1, 2.0 * c / torch.clamp(n - 1, min=1.0) - 1.0, torch.zeros_like(c))
    dtype = volume.dtype if volume.is_floating_point() else torch.float32
    grid = g.flip(-1).to(dtype).view(1, -1, 1, 1, 3)
    src = volume.to(dtype)[None]
    out = grid_sample_parallel(src, grid, mode="bilinear" if mode == "linear" else "nearest", padding_mode="border")
    out = out[0, :, :, 0, 0] * inside.to(dtype)
    return out.reshape(volume.shape[0], *out_shape).to(volume.dtype if volume.is_floating_point() else dtype)


def _homogeneous(M: np.ndarray, pts: torch.Tensor) -> torch.Tensor:
    Mt = torch.as_tensor(M, dtype=torch.float64)
    return pts @ Mt[:3, :3].T + Mt[:3, 3]


def displace(pre: np.ndarray, ddf: Optional[torch.Tensor], post: np.ndarray, points: torch.Tensor) -> torch.Tensor:
    """``post @ (i + ddf(i))`` with ``i = pre @ points``: the one composition every mapping here is made of.

    Args:
        pre: 4x4 map from the given points to voxel coordinates of the field's grid.
        ddf: Voxel field ``(3, X, Y, Z)`` (float64 best), zero outside its grid; ``None`` for no displacement.
        post: 4x4 map from the field's voxel coordinates to the result's coordinates.
        points: ``(*out, 3)`` float64.
    """
    i = _homogeneous(pre, points)
    if ddf is not None:
        same = tuple(points.shape[:-1]) == tuple(ddf.shape[1:]) and np.allclose(pre, np.eye(4), atol=1e-9)
        if same:  # the field's own grid: no interpolation
            i = i + ddf.movedim(0, -1).to(torch.float64)
        else:
            i = i + sample_field(ddf.to(torch.float64), i, mode="linear").movedim(0, -1)
    return _homogeneous(post, i)


def voxel_grid(shape) -> torch.Tensor:
    """Voxel coordinates ``(*shape, 3)`` float64."""
    axes = [torch.arange(n, dtype=torch.float64) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)


#: Labels warped one-hot at a time (bounds memory).
LABEL_CHUNK = 8


def _sample(arr: np.ndarray, coords: torch.Tensor, interpolation: str) -> np.ndarray:
    if interpolation == "label":
        return _sample_labels(arr, coords)
    mode = "nearest" if interpolation == "nearest" else "linear"
    if mode == "linear":
        vol = tensor_from(arr, np.float64 if arr.dtype == np.float64 else np.float32)
    else:
        vol = tensor_from(arr, np.float64)
    out = sample_field(vol[None], coords, mode=mode)[0].numpy()
    return out.astype(arr.dtype) if mode == "nearest" else out


def _sample_labels(arr: np.ndarray, coords: torch.Tensor) -> np.ndarray:
    """One-hot of every label, linear interpolation, arg-max (the Dice protocol of TransMorph / WiNet); 0 outside."""
    lab = np.rint(arr).astype(np.int64) if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.int64)
    values = np.unique(lab)
    lab_t = torch.as_tensor(lab)
    best = torch.zeros(coords.shape[:-1], dtype=torch.float32)
    out = np.zeros(coords.shape[:-1], dtype=arr.dtype)
    for start in range(0, len(values), LABEL_CHUNK):
        vals = values[start:start + LABEL_CHUNK]
        onehot = torch.stack([(lab_t == int(v)).float() for v in vals], 0)
        w = sample_field(onehot, coords, mode="linear")
        m, idx = w.max(0)
        upd = m > best
        best = torch.where(upd, m, best)
        sel = upd.numpy()
        out[sel] = vals[idx.numpy()][sel].astype(arr.dtype)
    return out


# --------------------------------------------------------------------------------------------------------------
# inversion
# --------------------------------------------------------------------------------------------------------------
def invert_ddf(ddf: torch.Tensor, *, velocity: Optional[torch.Tensor] = None, iterations: int = 50,
               tolerance: float = 1e-3) -> tuple[torch.Tensor, dict]:
    """Inverse of a voxel DDF ``(1, 3, *spatial)``: ``u_inv`` with ``x + u_inv(x) + u(x + u_inv(x)) = x``.

    With ``velocity`` (a stationary velocity whose exponential is ``ddf``) the start is ``exp(-velocity)``
    (scaling and squaring of the negated velocity); otherwise ``-ddf``. Then fixed-point iterations
    ``u_inv <- -u(x + u_inv(x))`` (Chen et al. 2008) until the largest residual is under ``tolerance``
    voxels, which also absorbs the difference between ``exp(-v)`` and the inverse of a field that was
    integrated on a coarser level and up-sampled.

    Returns:
        ``(u_inv, info)`` with ``info = {"method", "iterations", "residual_max_voxels", "residual_mean_voxels"}``.
    """
    from medwave.networks.blocks.fields import integrate_velocity, inverse_step

    import time

    t0 = time.perf_counter()
    u = ddf.detach().to(torch.float32)
    with torch.no_grad():
        if velocity is not None:
            inv = integrate_velocity(-velocity.detach().to(torch.float32))
            method = "exp(-velocity), then fixed-point refinement"
        else:
            inv = -u
            method = "fixed-point iteration from -u"
        # one sampling gives the residual of inv and the next iterate, -u(x + u_inv(x)) (compiled when possible)
        nxt, largest, mean = inverse_step(u, inv)
        done = 0
        previous = (float("inf"), float("inf"))
        while True:
            # Converged, or stalled: where x + u_inv(x) leaves the grid the residual cannot shrink (the field is
            # only known inside), so when neither the largest nor the mean residual falls by 1 % any more the
            # refinement ends instead of running out its budget (the interior converges geometrically first).
            stalled = largest > 0.99 * previous[0] and mean > 0.99 * previous[1]
            if done >= iterations or largest < tolerance or stalled:
                break
            previous = (largest, mean)
            inv = nxt
            nxt, largest, mean = inverse_step(u, inv)
            done += 1
    return inv, {"method": method, "iterations": done, "residual_max_voxels": largest,
                 "residual_mean_voxels": mean, "seconds": time.perf_counter() - t0}


def _vector_field(arr: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(arr, dtype=np.float32)
    if a.ndim == 5 and a.shape[3] == 1:  # NIfTI vector layout (X, Y, Z, 1, 3)
        a = a[:, :, :, 0]
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"A transform's {what} must be (X, Y, Z, 3) (or the NIfTI layout X, Y, Z, 1, 3), got "
                         f"{a.shape}.")
    return a


# --------------------------------------------------------------------------------------------------------------
# the transform
# --------------------------------------------------------------------------------------------------------------
@dataclass
class Transform:
    """A registration's transform: a displacement on the fixed grid, optionally after an affine.

    Attributes:
        ddf: MONAI voxel DDF ``(X, Y, Z, 3)`` on the fixed grid (``warped(i) = moving_on_fixed(i + u(i))``).
        fixed_affine: 4x4 voxel-to-world (RAS mm) of the fixed grid.
        moving_affine: 4x4 of the moving image's own grid, if known (the default output grid of ``inverse``).
        moving_shape: Its spatial shape, if known.
        prealign: 4x4 RAS world transform, fixed point -> moving point, applied after the displacement; or ``None``.
        ddf_inverse: Inverse voxel DDF ``(X, Y, Z, 3)`` on the fixed grid; computed on first use when ``None``.
        diffeomorphic: Whether ``ddf`` is the exponential of a stationary velocity.
        velocity: That velocity ``(X, Y, Z, 3)`` (voxels), if known: the inverse starts from ``exp(-velocity)``.
            Not written to disk.
        inverse_info: How the inverse was found, and its residual.
        path: The folder it was read from.
    """

    ddf: np.ndarray
    fixed_affine: np.ndarray = field(default_factory=lambda: np.eye(4))
    moving_affine: Optional[np.ndarray] = None
    moving_shape: Optional[tuple] = None
    prealign: Optional[np.ndarray] = None
    ddf_inverse: Optional[np.ndarray] = None
    diffeomorphic: bool = False
    velocity: Optional[np.ndarray] = None
    inverse_info: dict = field(default_factory=dict)
    path: Optional[Path] = None

    def __post_init__(self) -> None:
        self.ddf = _vector_field(self.ddf, "displacement")
        if self.velocity is not None:
            self.velocity = _vector_field(self.velocity, "velocity")
        if self.ddf_inverse is not None:
            self.ddf_inverse = _vector_field(self.ddf_inverse, "inverse displacement")
            if self.ddf_inverse.shape != self.ddf.shape:
                raise ValueError(f"The inverse displacement {self.ddf_inverse.shape} and the displacement "
                                 f"{self.ddf.shape} must be on the same (fixed) grid.")
        self.fixed_affine = np.asarray(self.fixed_affine, np.float64)
        if self.moving_affine is not None:
            self.moving_affine = np.asarray(self.moving_affine, np.float64)
        if self.moving_shape is not None:
            self.moving_shape = tuple(int(v) for v in self.moving_shape[:3])
        if self.prealign is not None:
            self.prealign = np.asarray(self.prealign, np.float64)

    # -- construction -----------------------------------------------------------------------------------------
    @classmethod
    def from_field(cls, ddf: torch.Tensor, *, fixed_affine: np.ndarray, moving_affine: Optional[np.ndarray] = None,
                   moving_shape: Optional[tuple] = None, prealign: Optional[np.ndarray] = None,
                   velocity: Optional[torch.Tensor] = None, diffeomorphic: bool = False) -> "Transform":
        """From a torch DDF ``(1, 3, *spatial)`` and, if diffeomorphic, its velocity (the inverse, computed on first
        use, starts from its negation)."""
        to_np = lambda t: np.moveaxis(t.detach().float().cpu()[0].numpy(), 0, -1)  # noqa: E731
        return cls(to_np(ddf), fixed_affine=fixed_affine, moving_affine=moving_affine, moving_shape=moving_shape,
                   prealign=prealign, diffeomorphic=diffeomorphic,
                   velocity=to_np(velocity) if diffeomorphic and velocity is not None else None)

    @property
    def fixed_shape(self) -> tuple:
        return tuple(int(v) for v in self.ddf.shape[:3])

    def inverse_ddf(self) -> np.ndarray:
        """The inverse voxel DDF ``(X, Y, Z, 3)`` (computed by fixed-point iteration when not stored)."""
        if self.ddf_inverse is None:
            u = torch.as_tensor(np.moveaxis(self.ddf, -1, 0))[None]
            v = None if self.velocity is None else torch.as_tensor(np.moveaxis(self.velocity, -1, 0))[None]
            inv, self.inverse_info = invert_ddf(u, velocity=v)
            self.ddf_inverse = np.moveaxis(inv[0].numpy(), 0, -1).astype(np.float32)
        return self.ddf_inverse

    # -- point maps (world RAS mm) ------------------------------------------------------------------------------
    def _field(self, inverse: bool) -> torch.Tensor:
        arr = self.inverse_ddf() if inverse else self.ddf
        return torch.as_tensor(np.moveaxis(arr, -1, 0).astype(np.float64))

    def fixed_to_moving_voxels(self, out_affine: np.ndarray, out_shape: tuple, in_affine: np.ndarray) -> torch.Tensor:
        """For every voxel of an output grid in fixed space, the voxel coordinate to sample in an image of the moving
        space (``A_in^-1 T(D(A_out j))``), ``(*out_shape, 3)`` float64."""
        T = np.eye(4) if self.prealign is None else self.prealign
        pre = np.linalg.solve(self.fixed_affine, np.asarray(out_affine, np.float64))
        post = np.linalg.solve(np.asarray(in_affine, np.float64), T @ self.fixed_affine)
        return displace(pre, self._field(False), post, voxel_grid(out_shape))

    def moving_to_fixed_voxels(self, out_affine: np.ndarray, out_shape: tuple, in_affine: np.ndarray) -> torch.Tensor:
        """For every voxel of an output grid in moving space, the voxel coordinate to sample in an image of the fixed
        space (``A_in^-1 D^-1(T^-1(A_out j))``), ``(*out_shape, 3)`` float64."""
        T = np.eye(4) if self.prealign is None else self.prealign
        pre = np.linalg.solve(T @ self.fixed_affine, np.asarray(out_affine, np.float64))
        post = np.linalg.solve(np.asarray(in_affine, np.float64), self.fixed_affine)
        return displace(pre, self._field(True), post, voxel_grid(out_shape))

    def fixed_to_moving(self, points: np.ndarray) -> np.ndarray:
        """World points (RAS mm, ``(N, 3)``) of the fixed space -> the corresponding points of the moving space."""
        T = np.eye(4) if self.prealign is None else self.prealign
        pts = torch.as_tensor(np.asarray(points, np.float64).reshape(-1, 3))
        out = displace(np.linalg.inv(self.fixed_affine), self._field(False), T @ self.fixed_affine, pts)
        return out.numpy().reshape(np.shape(points))

    def moving_to_fixed(self, points: np.ndarray) -> np.ndarray:
        """World points (RAS mm) of the moving space -> the corresponding points of the fixed space (the inverse)."""
        T = np.eye(4) if self.prealign is None else self.prealign
        pts = torch.as_tensor(np.asarray(points, np.float64).reshape(-1, 3))
        out = displace(np.linalg.inv(T @ self.fixed_affine), self._field(True), self.fixed_affine, pts)
        return out.numpy().reshape(np.shape(points))

    # -- images -------------------------------------------------------------------------------------------------
    def resample(self, image: "Image", *, inverse: bool = False,
                 interpolation: Literal["linear", "nearest", "label"] = "linear",
                 grid: Optional[tuple] = None) -> "Image":
        """Move an image (its own grid, any) through the transform, resampling it once through physical space.

        The one resampling of :func:`medwave.apply_transform` and of ``register``'s ``warped``/``warped_seg``.

        Args:
            image: A 3D :class:`~medwave.io.Image` of the moving space (``inverse``: of the fixed space).
            inverse: Fixed-space image onto the moving grid.
            interpolation: ``"linear"``, ``"nearest"`` (ITK's nearest neighbour) or ``"label"`` (one-hot, linear,
                arg-max); 0 outside the input image.
            grid: ``(shape, affine)`` of the output (default: the fixed grid; ``inverse``: the moving grid).

        Raises:
            ValueError: No output voxel maps inside the image (it is not in the space it should be in), no
                moving grid is known for the inverse, or an unknown interpolation.
        """
        from medwave.io.record import Image

        if interpolation not in ("linear", "nearest", "label"):
            raise ValueError(f"interpolation must be 'linear', 'nearest' or 'label', got {interpolation!r}.")
        if grid is None:
            if not inverse:
                grid = (self.fixed_shape, self.fixed_affine)
            elif self.moving_affine is None or self.moving_shape is None:
                where = f" ({self.path})" if self.path is not None else ""
                raise ValueError(f"The transform{where} does not record the moving image's grid (a folder written "
                                 "before transform.json existed); pass reference= (CLI: --reference MOVING_IMAGE) to "
                                 "say which grid the inverse should write.")
            else:
                grid = (self.moving_shape, self.moving_affine)
        out_shape, out_affine = tuple(int(v) for v in grid[0][:3]), np.asarray(grid[1], np.float64)
        maker = self.moving_to_fixed_voxels if inverse else self.fixed_to_moving_voxels
        arr = np.asarray(image.array)
        coords = maker(out_affine, out_shape, image.affine)
        n = torch.tensor([float(s) for s in arr.shape[:3]], dtype=torch.float64)
        if not bool(((coords >= -0.5) & (coords <= n - 0.5)).all(-1).any()):
            label = image.path.name if image.path is not None else "the image"
            space = "fixed" if inverse else "moving"
            raise ValueError(f"{label} does not overlap the output grid: no output voxel maps inside it. Is it an "
                             f"image of the {space} space (its affine/header in the same world as the {space} image "
                             "the registration used)? Pass --reference (reference=) to choose another output grid.")
        out = _sample(arr, coords, interpolation)
        meta = {k: v for k, v in image.meta.items() if k not in ("header", "sitk_metadata", "intent", "vector")}
        meta["transform"] = {"inverse": bool(inverse), "interpolation": interpolation,
                             "folder": None if self.path is None else str(self.path)}
        if image.path is not None:
            meta["transformed_from"] = str(image.path)
        return Image(out, affine=out_affine.copy(), meta=meta)

    # -- ITK / SimpleITK -------------------------------------------------------------------------------------------
    def to_sitk(self, *, inverse: bool = False):
        """The transform as a SimpleITK ``CompositeTransform``: fixed point -> moving point (``inverse``: back)."""
        import SimpleITK as sitk

        from medwave.io.formats import image_to_sitk
        from medwave.io.record import Image

        arr = ddf_to_itk(self.inverse_ddf() if inverse else self.ddf, self.fixed_affine)
        img = sitk.Cast(image_to_sitk(Image(arr, affine=self.fixed_affine), vector=True), sitk.sitkVectorFloat64)
        disp = sitk.DisplacementFieldTransform(img)
        if self.prealign is None:
            return sitk.CompositeTransform([disp])
        aff = affine_to_itk(self.prealign)
        return sitk.CompositeTransform([disp, aff.GetInverse()] if inverse else [aff, disp])

    # -- disk ---------------------------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """The ``transform.json`` content."""
        import sys

        # the parent package is loaded whenever this module is: its version, without importing up a layer
        __version__ = getattr(sys.modules.get("medwave"), "__version__", "unknown")

        has_affine = self.prealign is not None
        files = {k: v for k, v in FILES.items() if has_affine or k != "affine_itk"}
        fwd_ants = "-t transform_itk_lps_mm.nii.gz" + (" -t affine_itk_lps.mat" if has_affine else "")
        inv_ants = ("-t [affine_itk_lps.mat,1] " if has_affine else "") + "-t inverse_itk_lps_mm.nii.gz"
        return {
            "format": "medwave-transform",
            "format_version": 1,
            "medwave_version": __version__,
            "files": files,
            "conventions": {
                "direction": "every transform maps points of the fixed space to the moving space (the pull-back "
                             "that resamples the moving image onto the fixed grid); images move with it, point sets "
                             "the other way (moving-space points go to the fixed space with the inverse)",
                "ddf_monai": "MONAI DDF: voxels of the fixed grid along its array axes, "
                             "warped(i) = moving_on_fixed(i + u(i)); vector NIfTI (X, Y, Z, 1, 3), fixed affine",
                "displacement_itk": "ITK/ANTs displacement field: physical LPS mm, on the fixed grid, "
                                    "d = diag(-1, -1, 1) @ A_fixed[:3, :3] @ u; fixed point p -> p + d(p)",
                "affine_itk": "ITK AffineTransform_double_3_3, LPS mm, fixed point -> moving point, applied after "
                              "the displacement",
                "inverse": "inverse_*: on the fixed grid, x + u_inv(x) + u(x + u_inv(x)) = x; maps the moving "
                           "space back (after the inverse affine)",
                "world": "affines are voxel -> world RAS mm (NIfTI/nibabel); ITK files are LPS",
            },
            "fixed": {"shape": list(self.fixed_shape), "affine_ras": self.fixed_affine.tolist()},
            "moving": None if self.moving_affine is None else {
                "shape": None if self.moving_shape is None else list(self.moving_shape),
                "affine_ras": self.moving_affine.tolist()},
            "affine_ras": None if not has_affine else self.prealign.tolist(),
            "composition": {
                "forward_points": "fixed -> moving: affine(displacement(p))" if has_affine else
                                  "fixed -> moving: displacement(p)",
                "simpleitk_forward": ("CompositeTransform([ReadTransform(affine_itk), DisplacementFieldTransform("
                                      "displacement_itk)])" if has_affine else
                                      "DisplacementFieldTransform(displacement_itk)"),
                "simpleitk_inverse": ("CompositeTransform([DisplacementFieldTransform(inverse_displacement_itk), "
                                      "ReadTransform(affine_itk).GetInverse()])" if has_affine else
                                      "DisplacementFieldTransform(inverse_displacement_itk)"),
                "ants_forward": f"antsApplyTransforms -d 3 -i MOVING -r FIXED {fwd_ants} -o OUT",
                "ants_inverse": f"antsApplyTransforms -d 3 -i FIXED_SPACE_IMAGE -r MOVING {inv_ants} -o OUT",
                "ants_python_forward": "ants.apply_transforms(fixed, moving, transformlist=[displacement_itk"
                                       + (", affine_itk])" if has_affine else "])"),
                "order": "an ITK CompositeTransform applies the transform added last to a point first; "
                         "antsApplyTransforms / ants.apply_transforms list them the other way round (a point goes "
                         "through the first -t first), as antsRegistration's -t 1Warp -t 0GenericAffine",
            },
            "diffeomorphic": bool(self.diffeomorphic),
            "inverse": dict(self.inverse_info),
        }

    def save(self, outdir: Union[str, Path], *, overwrite: bool = False) -> dict[str, Path]:
        """Write the transform files and ``transform.json`` into ``outdir`` (atomically, file by file)."""
        import SimpleITK as sitk

        from medwave.io.image import save_images
        from medwave.io.record import Image
        from medwave.utils.atomic import atomic_path, check_output_path

        out = Path(outdir)
        man = self.manifest()
        names = dict(man["files"], manifest=MANIFEST)
        paths = {k: check_output_path(out / v, overwrite=overwrite) for k, v in names.items()}
        out.mkdir(parents=True, exist_ok=True)
        vec = {"vector": True, "intent": "vector"}
        inv = self.inverse_ddf()
        man["inverse"] = dict(self.inverse_info)
        fields = (("ddf_monai", self.ddf), ("displacement_itk", ddf_to_itk(self.ddf, self.fixed_affine)),
                  ("inverse_ddf_monai", inv), ("inverse_displacement_itk", ddf_to_itk(inv, self.fixed_affine)))
        save_images([(Image(arr.astype(np.float32), affine=self.fixed_affine, meta=dict(vec)), paths[key],
                      {"overwrite": True, "vector": True}) for key, arr in fields])
        if self.prealign is not None:
            with atomic_path(paths["affine_itk"]) as tmp:  # the temporary keeps the .mat suffix ITK dispatches on
                sitk.WriteTransform(affine_to_itk(self.prealign), str(tmp))
        with atomic_path(paths["manifest"]) as tmp:
            tmp.write_text(json.dumps(man, indent=2))
        return paths

    @classmethod
    def load(cls, folder: Union[str, Path]) -> "Transform":
        """Read a transform folder (``transform.json``; or an older folder with ``ddf.nii.gz`` only)."""
        from medwave.io import load_image

        p = Path(folder).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such transform folder. Pass the folder `medwave register -o` wrote.")
        if not p.is_dir():
            raise ValueError(f"{p} is a file, not a transform folder; pass the folder `medwave register -o` wrote "
                             f"(it holds {MANIFEST}).")
        man_path = p / MANIFEST
        if man_path.exists():
            try:
                man = json.loads(man_path.read_text())
                files = man["files"]
                ddf_img = load_image(p / files["ddf_monai"])
            except (ValueError, KeyError, TypeError, FileNotFoundError) as exc:
                raise ValueError(f"{man_path} is not a valid medwave transform manifest or a file it lists is missing "
                                 f"({type(exc).__name__}: {exc}); re-run `medwave register`.") from exc
            inv = None
            if "inverse_ddf_monai" in files and (p / files["inverse_ddf_monai"]).exists():
                inv = load_image(p / files["inverse_ddf_monai"]).array
            mov = man.get("moving") or {}
            return cls(ddf_img.array, fixed_affine=ddf_img.affine, moving_affine=mov.get("affine_ras"),
                       moving_shape=mov.get("shape"), prealign=man.get("affine_ras"), ddf_inverse=inv,
                       diffeomorphic=bool(man.get("diffeomorphic", False)), inverse_info=man.get("inverse") or {},
                       path=p)
        if (p / LEGACY_DDF).exists():  # a folder written before transform.json existed
            ddf_img = load_image(p / LEGACY_DDF)
            prealign = None
            metrics = p / "metrics.json"
            if metrics.exists():
                try:
                    m = json.loads(metrics.read_text())
                    prealign = m.get("prealign_transform_ras")
                    diffeo = bool(m.get("diffeomorphic", False))
                except (ValueError, AttributeError):
                    diffeo = False
            else:
                diffeo = False
            return cls(ddf_img.array, fixed_affine=ddf_img.affine, prealign=prealign, diffeomorphic=diffeo, path=p)
        raise ValueError(f"{p} is not a transform folder: it has neither {MANIFEST} nor {LEGACY_DDF}. Pass the folder "
                         "`medwave register -o` wrote.")


def load_transform(transform: Union[str, Path, Transform, Any]) -> Transform:
    """A :class:`Transform` from a folder, a :class:`Transform` or a ``RegistrationResult``."""
    if isinstance(transform, Transform):
        return transform
    if hasattr(transform, "transform") and isinstance(getattr(transform, "transform"), Transform):
        return transform.transform
    if isinstance(transform, (str, Path)):
        return Transform.load(transform)
    raise TypeError(f"transform: cannot use an object of type {type(transform).__name__}; pass a transform folder, "
                    "a medwave.registration.transform.Transform or a RegistrationResult.")
