"""Synthetic registration data built offline from the MNI152 2009 template shipped by nilearn.

* :func:`mni_atlas` — the 2 mm MNI152 T1 template (99 x 117 x 95, intensities in [0, 1]), its GM/WM
  probability maps, and a label map with 32 labels: each voxel is classed GM or WM (the larger of
  the two maps, > 0.5) and the brain is split into 16 regions by a fixed Voronoi parcellation of
  the template grid (16 seed points drawn with seed 0 from the brain mask). Labels 1-16 are GM in
  region 1-16, labels 17-32 WM in region 1-16. They are *pseudo-anatomical*: tissue classes cut by
  fixed geometric regions, not an anatomical atlas; they test label overlap on realistic boundaries.
* :func:`random_velocity` — a smooth random stationary velocity (Gaussian noise on a coarse control
  grid, up-sampled trilinearly and Gaussian-smoothed, scaled to a maximum amplitude) that is
  integrated by scaling and squaring into a diffeomorphism.
* :func:`make_pair` — a (fixed, moving) pair: the template warped by two random diffeomorphisms
  (or the template itself as moving in ``"atlas"`` mode), each with random intensity changes (gamma,
  smooth multiplicative bias field, Gaussian noise), plus their label maps warped with nearest
  neighbour. All randomness comes from ``seed``.

Example:
    >>> from medwave.registration.synthetic import make_pair
    >>> pair = make_pair(3)
    >>> pair["fixed"].shape, len(set(pair["fixed_labels"].ravel())) - 1
    ((99, 117, 95), 32)
"""

from __future__ import annotations

import functools
from typing import Literal, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from medwave.networks.blocks.fields import integrate_velocity, warp

__all__ = ["mni_atlas", "random_velocity", "make_pair", "make_subject", "N_REGIONS"]

N_REGIONS = 16


@functools.lru_cache(maxsize=2)
def _atlas_cached(resolution: int) -> dict:
    try:
        from nilearn import datasets
    except ImportError as exc:  # pragma: no cover
        raise ImportError("Synthetic MNI data needs nilearn (pip install 'medwave[data]').") from exc
    t1 = datasets.load_mni152_template(resolution=resolution)
    gm = datasets.load_mni152_gm_template(resolution=resolution)
    wm = datasets.load_mni152_wm_template(resolution=resolution)
    img = np.asarray(t1.get_fdata(), dtype=np.float32)
    img = (img - img.min()) / max(float(img.max() - img.min()), 1e-6)
    g = np.asarray(gm.get_fdata(), dtype=np.float32)
    w = np.asarray(wm.get_fdata(), dtype=np.float32)
    brain = (np.maximum(g, w) > 0.5)
    tissue = np.where(g >= w, 1, 2) * brain  # 1 GM, 2 WM
    # fixed Voronoi parcellation of the brain mask into N_REGIONS regions
    rng = np.random.default_rng(0)
    coords = np.argwhere(brain)
    seeds = coords[rng.choice(len(coords), N_REGIONS, replace=False)].astype(np.float32)
    from scipy.spatial import cKDTree

    grid = np.indices(img.shape).reshape(3, -1).T.astype(np.float32)
    region = cKDTree(seeds).query(grid)[1].reshape(img.shape) + 1
    labels = np.where(tissue == 1, region, np.where(tissue == 2, region + N_REGIONS, 0)).astype(np.int16)
    return {"image": img, "gm": g, "wm": w, "labels": labels, "affine": np.asarray(t1.affine, dtype=np.float64)}


def mni_atlas(resolution: int = 2) -> dict:
    """The MNI152 2009 template with GM/WM maps and 32 pseudo-anatomical labels (copies; see module docs).

    Returns:
        ``{"image", "gm", "wm", "labels", "affine"}`` with arrays ``(X, Y, Z)``.
    """
    a = _atlas_cached(resolution)
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in a.items()}


def _gaussian_smooth(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(round(3 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype) / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    for axis in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = -1
        pad = [0, 0, 0, 0, 0, 0]
        pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = r
        x = F.conv3d(F.pad(x, pad, mode="replicate"), k.view(shape).expand(c, 1, *k.view(shape).shape[2:]), groups=c)
    return x


def random_velocity(shape: Sequence[int], generator: torch.Generator, *, amplitude: float = 3.0,
                    control_spacing: int = 12, sigma: float = 3.0) -> torch.Tensor:
    """A smooth random velocity ``(1, 3, *shape)`` whose largest component magnitude is ``amplitude`` voxels."""
    coarse = [max(2, int(np.ceil(n / control_spacing)) + 1) for n in shape]
    noise = torch.randn(1, 3, *coarse, generator=generator)
    v = F.interpolate(noise, size=tuple(shape), mode="trilinear", align_corners=True)
    v = _gaussian_smooth(v, sigma)
    return v * (amplitude / v.abs().max().clamp_min(1e-6))


def _intensity_change(img: torch.Tensor, generator: torch.Generator, strength: float) -> torch.Tensor:
    if strength <= 0:
        return img
    u = lambda lo, hi: float(lo + (hi - lo) * torch.rand((), generator=generator))  # noqa: E731
    gamma = np.exp(u(-0.3, 0.3) * strength)
    out = img.clamp_min(0) ** gamma
    bias = torch.randn(1, 1, 4, 4, 4, generator=generator)
    bias = F.interpolate(bias, size=tuple(img.shape[2:]), mode="trilinear", align_corners=True)
    out = out * torch.exp(0.1 * strength * bias / bias.abs().max().clamp_min(1e-6))
    out = out + 0.01 * strength * torch.randn(out.shape, generator=generator)
    return out.clamp(0, None)


def make_pair(seed: int, *, mode: Literal["pairwise", "atlas"] = "pairwise", amplitude: float = 3.0,
              intensity: float = 1.0, resolution: int = 2) -> dict:
    """Build one synthetic (fixed, moving) pair from the MNI152 template.

    Args:
        seed: Seed of every random draw (same seed, same pair, bit for bit on CPU).
        mode: ``"pairwise"``: both images are warped copies of the template. ``"atlas"``: the moving
            image is the template itself (atlas-to-subject) and ``"true_ddf"`` is the exact answer.
        amplitude: Largest velocity component, in voxels (2 mm each).
        intensity: Strength of the intensity changes (0 = none).
        resolution: Template resolution in mm (2 as shipped by nilearn).

    Returns:
        ``{"fixed", "moving", "fixed_labels", "moving_labels", "affine", "true_ddf"}``; ``true_ddf``
        ``(1, 3, *spatial)`` maps the moving onto the fixed in atlas mode, ``None`` in pairwise mode.
    """
    if mode not in ("pairwise", "atlas"):
        raise ValueError(f"mode must be 'pairwise' or 'atlas', got {mode!r}.")
    atlas = _atlas_cached(resolution)
    g = torch.Generator().manual_seed(int(seed))
    img = torch.as_tensor(atlas["image"])[None, None]
    lab = torch.as_tensor(atlas["labels"].astype(np.float32))[None, None]
    shape = img.shape[2:]

    def deform():
        ddf = integrate_velocity(random_velocity(shape, g, amplitude=amplitude))
        with torch.no_grad():
            return ddf, warp(img, ddf), warp(lab, ddf, mode="nearest")

    with torch.no_grad():
        ddf_f, fixed, fixed_lab = deform()
        if mode == "pairwise":
            _, moving, moving_lab = deform()
            true = None
        else:
            moving, moving_lab, true = img.clone(), lab.clone(), ddf_f
        fixed = _intensity_change(fixed, g, intensity)
        moving = _intensity_change(moving, g, intensity) if mode == "pairwise" else moving
    return {
        "fixed": fixed[0, 0].numpy().astype(np.float32),
        "moving": moving[0, 0].numpy().astype(np.float32),
        "fixed_labels": fixed_lab[0, 0].round().numpy().astype(np.int16),
        "moving_labels": moving_lab[0, 0].round().numpy().astype(np.int16),
        "affine": atlas["affine"].copy(),
        "true_ddf": true,
    }


def make_subject(seed: int, *, amplitude: float = 3.0, intensity: float = 1.0, resolution: int = 2) -> dict:
    """One synthetic subject: the template warped by a random diffeomorphism with intensity changes.

    Returns:
        ``{"image", "labels", "affine"}`` (arrays ``(X, Y, Z)``); same seed, same subject.
    """
    atlas = _atlas_cached(resolution)
    g = torch.Generator().manual_seed(int(seed))
    img = torch.as_tensor(atlas["image"])[None, None]
    lab = torch.as_tensor(atlas["labels"].astype(np.float32))[None, None]
    with torch.no_grad():
        ddf = integrate_velocity(random_velocity(img.shape[2:], g, amplitude=amplitude))
        out = _intensity_change(warp(img, ddf), g, intensity)
        out_lab = warp(lab, ddf, mode="nearest")
    return {"image": out[0, 0].numpy().astype(np.float32), "labels": out_lab[0, 0].round().numpy().astype(np.int16),
            "affine": atlas["affine"].copy()}
