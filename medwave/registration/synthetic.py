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

__all__ = ["mni_atlas", "random_velocity", "make_pair", "make_subject", "make_pair_hard", "make_pair_multimodal",
           "t2_like", "N_REGIONS", "SEEDS"]

#: Which generator seeds serve what, so that nothing is tuned or trained on the pairs it is judged on.
#: ``make_pair`` and ``make_pair_hard`` seeds are the pair's seed; WiNet's training subjects are
#: ``make_subject(10000 + i)`` (``train_registration(synthetic=N, seed=0)``).
SEEDS = {
    "tuning_mni": (500, 501, 502, 503),          # make_pair: medwave's and demons' defaults chosen here
    "tuning_hard": (600, 601, 602, 603),         # make_pair_hard: idem
    "benchmark_mni": tuple(range(2000, 2008)),   # make_pair: held out (bench_registration.py)
    "benchmark_hard": tuple(range(3000, 3008)),  # make_pair_hard: held out
    "tuning_multimodal": (4500, 4501),          # make_pair_multimodal: similarity settings chosen here
    "benchmark_multimodal": tuple(range(4000, 4004)),  # make_pair_multimodal: held out
    "winet_training_subjects": tuple(range(10000, 10100)),  # make_subject, never a pair seed above
}

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
    try:
        mask = np.asarray(datasets.load_mni152_brain_mask(resolution=resolution).get_fdata(), dtype=np.float32)
    except Exception:  # pragma: no cover - older nilearn
        mask = (img > 0.1).astype(np.float32)
    return {"image": img, "gm": g, "wm": w, "labels": labels, "affine": np.asarray(t1.affine, dtype=np.float64),
            "brain_mask": mask}


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


def _contrast_change(img: torch.Tensor, generator: torch.Generator, knots: int = 5, spread: float = 0.5) -> torch.Tensor:
    """A random monotone piecewise-linear intensity map of [0, 1] (``knots`` inner knots, seeded)."""
    u = torch.rand(knots + 1, generator=generator)
    steps = (1 - spread) / (knots + 1) + spread * u / u.sum()  # positive increments summing to 1
    ys = torch.cat([torch.zeros(1), steps.cumsum(0)])
    xs = torch.linspace(0, 1, knots + 2)
    x = img.clamp(0, 1)
    idx = torch.clamp(torch.bucketize(x, xs) - 1, 0, knots)
    t = (x - xs[idx]) / (xs[idx + 1] - xs[idx])
    return ys[idx] + t * (ys[idx + 1] - ys[idx])


def make_pair_hard(seed: int, *, amplitude: float = 5.0, control_spacing: int = 8, bias: float = 0.3,
                   noise: float = 0.02, resolution: int = 2) -> dict:
    """A second, harder pair generator: larger and finer deformations, strong bias fields, contrast changes.

    Differs from :func:`make_pair` in every random ingredient: the velocity has a finer control grid
    (``control_spacing`` 8 voxels instead of 12) and a larger amplitude (5 voxels instead of 3), each image
    gets a random monotone piecewise-linear contrast map (5 knots), a smooth multiplicative bias field of
    up to ``exp(+-bias)`` on a 3 x 3 x 3 control grid, and Gaussian noise of ``noise`` x range.

    Returns:
        The same keys as :func:`make_pair` (``true_ddf`` is ``None``).
    """
    atlas = _atlas_cached(resolution)
    g = torch.Generator().manual_seed(int(seed) + 7_919_000)  # its own stream: no draw shared with make_pair
    img = torch.as_tensor(atlas["image"])[None, None]
    lab = torch.as_tensor(atlas["labels"].astype(np.float32))[None, None]
    shape = img.shape[2:]
    out = {}
    for key in ("fixed", "moving"):
        v = random_velocity(shape, g, amplitude=amplitude, control_spacing=control_spacing, sigma=2.0)
        with torch.no_grad():
            ddf = integrate_velocity(v)
            im, lb = warp(img, ddf), warp(lab, ddf, mode="nearest")
            im = _contrast_change(im, g)
            b = F.interpolate(torch.randn(1, 1, 3, 3, 3, generator=g), size=tuple(shape), mode="trilinear",
                              align_corners=True)
            im = im * torch.exp(bias * b / b.abs().max().clamp_min(1e-6))
            im = (im + noise * torch.randn(im.shape, generator=g)).clamp_min(0)
        out[key], out[key + "_labels"] = im[0, 0].numpy().astype(np.float32), lb[0, 0].round().numpy().astype(np.int16)
    out["affine"], out["true_ddf"] = atlas["affine"].copy(), None
    return out


def t2_like(resolution: int = 2, *, wm: float = 0.25, gm: float = 0.55, csf: float = 1.0) -> np.ndarray:
    """A T2-weighted-looking image of the MNI152 template from its GM/WM maps and brain mask.

    Tissue intensities are T2's order (CSF bright, GM mid, WM dark), the reverse of T1's; cerebrospinal
    fluid is what the brain mask holds beyond GM and WM. Values in [0, 1].
    """
    a = _atlas_cached(resolution)
    g, w = a["gm"], a["wm"]
    c = np.clip(a["brain_mask"] - g - w, 0.0, 1.0)
    img = wm * w + gm * g + csf * c
    return np.clip(img / max(float(img.max()), 1e-6), 0, 1).astype(np.float32)


def make_pair_multimodal(seed: int, *, amplitude: float = 3.0, resolution: int = 2) -> dict:
    """A cross-contrast pair: the T1 template as fixed, the T2-like image (:func:`t2_like`) as moving.

    Each is warped by its own random diffeomorphism (as in :func:`make_pair`) and gets a smooth bias field
    and noise. No single-modality metric (SSD) can align them; mutual information or MIND can.
    """
    atlas = _atlas_cached(resolution)
    g = torch.Generator().manual_seed(int(seed) + 3_571_000)
    lab = torch.as_tensor(atlas["labels"].astype(np.float32))[None, None]
    out = {}
    for key, src in (("fixed", atlas["image"]), ("moving", t2_like(resolution))):
        img = torch.as_tensor(src)[None, None]
        with torch.no_grad():
            ddf = integrate_velocity(random_velocity(img.shape[2:], g, amplitude=amplitude))
            im = _intensity_change(warp(img, ddf), g, 1.0)
            lb = warp(lab, ddf, mode="nearest")
        out[key], out[key + "_labels"] = im[0, 0].numpy().astype(np.float32), lb[0, 0].round().numpy().astype(np.int16)
    out["affine"], out["true_ddf"] = atlas["affine"].copy(), None
    return out
