"""GUI-free views of a registration result: checkerboards, a deformed grid and displacement vectors.

All arrays are on the fixed image's grid, ``(X, Y, Z)`` like :class:`medwave.registration.api.RegistrationResult`,
and the DDF follows MONAI (voxels, ``warped(x) = moving(x + ddf(x))``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["checkerboard", "deformed_grid", "displacement_vectors", "normalise"]


def normalise(arr: np.ndarray) -> np.ndarray:
    """Intensities scaled to [0, 1] by the 0.5-99.5 percentiles (so two modalities/contrasts compare)."""
    a = np.asarray(arr, dtype=np.float32)
    lo, hi = np.percentile(a, [0.5, 99.5])
    return np.clip((a - lo) / (hi - lo if hi > lo else 1.0), 0, 1).astype(np.float32)


def checkerboard(a: np.ndarray, b: np.ndarray, tile: int = 8) -> np.ndarray:
    """Tiles alternating between ``a`` and ``b`` (both normalised), ``tile`` voxels wide along every axis."""
    a, b = normalise(a), normalise(b)
    if a.shape != b.shape:
        raise ValueError(f"checkerboard needs images on one grid, got {a.shape} and {b.shape}.")
    idx = sum(np.arange(n).reshape([-1 if i == ax else 1 for i in range(a.ndim)]) // tile
              for ax, n in enumerate(a.shape))
    return np.where(idx % 2 == 0, a, b).astype(np.float32)


def deformed_grid(ddf: np.ndarray, spacing: int = 8, thickness: int = 1) -> np.ndarray:
    """A grid of planes every ``spacing`` voxels, warped by the DDF (``(X, Y, Z, 3)``): bends show the motion.

    Uses :func:`medwave.registration.warp`, so the grid is deformed exactly as the moving image was.
    """
    import torch

    from medwave.registration import warp

    ddf = np.asarray(ddf, dtype=np.float32)
    shape = ddf.shape[:3]
    grid = np.zeros(shape, dtype=np.float32)
    for ax in range(3):
        sl = [slice(None)] * 3
        coords = np.arange(shape[ax])
        on = (coords % spacing) < thickness
        sl[ax] = on
        grid[tuple(sl)] = 1.0
    field = torch.from_numpy(np.ascontiguousarray(np.moveaxis(ddf, -1, 0)))[None]
    with torch.no_grad():
        out = warp(torch.from_numpy(grid)[None, None], field)[0, 0].numpy()
    return out.astype(np.float32)


def displacement_vectors(ddf: np.ndarray, step: int = 6, min_length: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """napari vectors ``(N, 2, 3)`` (voxel position, displacement) every ``step`` voxels, and their lengths."""
    ddf = np.asarray(ddf, dtype=np.float32)
    shape = ddf.shape[:3]
    g = np.stack(np.meshgrid(*[np.arange(step // 2, s, step) for s in shape], indexing="ij"), axis=-1).reshape(-1, 3)
    d = ddf[g[:, 0], g[:, 1], g[:, 2]]
    length = np.linalg.norm(d, axis=1)
    keep = length >= min_length
    vec = np.stack([g[keep].astype(np.float32), d[keep]], axis=1)
    return vec, length[keep]
