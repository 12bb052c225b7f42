"""Compiled greedy LNCC registration: the analytic LNCC gradient, Gaussian smoothing as the regulariser.

The scheme of greedy diffeomorphic registration (Joshi et al. 2004; Yushkevich et al., "Fast automatic
segmentation of hippocampal subfields...", 2016, the ``greedy`` tool): at each pyramid level and iteration

1. warp the moving image by the current displacement ``u`` (trilinear) and take the exact derivative of
   the warped image with respect to ``u``;
2. the gradient of the mean squared local correlation (window ``2 radius + 1``) with respect to ``u``, in
   closed form from window sums (:func:`lncc_gradient`), no autograd;
3. smooth it with a Gaussian of ``sigma_fluid`` voxels, scale it so that its largest vector is ``step``
   voxels, and compose: ``id + u <- (id + u) o (id + s)``;
4. smooth ``u`` with a Gaussian of ``sigma_elastic`` voxels.

Levels are coarsest first; images are averaged down by ``2**k`` and the field up-sampled trilinearly between
levels. Every step is a numba kernel (:mod:`medwave.networks.blocks.kernels_lncc`); the torch reference of
the gradient is :class:`medwave.registration.losses.LocalNCC` through autograd (tests compare them).

Example:
    >>> import torch
    >>> from medwave.registration.greedy import greedy_lncc
    >>> f = torch.rand(1, 1, 24, 24, 24)
    >>> ddf, info = greedy_lncc(f, f, iterations=(5, 5), progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from medwave.utils import progress_bar
from medwave.utils.compiled import load_kernels, parallel_call

__all__ = ["greedy_lncc", "greedy_iterations", "seed_scale", "lncc_gradient", "gaussian_kernel", "GREEDY_ITERATIONS", "GREEDY_SPLIT",
           "GREEDY_SEEDED_ITERATIONS", "GREEDY_SEEDED_SPLIT"]

#: The default iterations per level (images averaged by 8, 4, 2, 1; coarsest first), chosen on the tuning pairs
#: (``SEEDS["tuning_mni"]``, ``SEEDS["tuning_hard"]``; benchmarks/tune_registration.py).
GREEDY_ITERATIONS = (0, 30, 30, 15)
#: How :func:`greedy_iterations` splits a total over those levels (the default's proportions).
GREEDY_SPLIT = (0.0, 0.4, 0.4, 0.2)
#: The default when the optimisation starts from a network's field (``register(weights=...)``): the network has
#: done the coarse work, so the 1/4 level is dropped, and the network's forward stops at 1/2 resolution
#: (:func:`seed_scale`). Chosen on the same tuning pairs (benchmarks/tune_seeded.py, shipped WiNet, 2 threads, median
#: of 3 whole calls): 0.8636 mean Dice in 3.75 s against 0.8630 in 4.08 s for the default from zero; of the cheaper
#: candidates 0,0,20,14 only equalled it on the hard pairs (to 4 decimals) and 0,0,20,12, 0,0,15,15, 0,0,10,15 fell below.
GREEDY_SEEDED_ITERATIONS = (0, 0, 20, 15)
#: How a total is split when the optimisation starts from a network's field.
GREEDY_SEEDED_SPLIT = (0.0, 0.0, 4 / 7, 3 / 7)

_KERNELS = "medwave.networks.blocks.kernels_lncc"


def gaussian_kernel(sigma: float, *, truncate: float = 2.0) -> np.ndarray:
    """A normalised 1-D Gaussian of ``sigma`` voxels, ``2 ceil(truncate sigma) + 1`` taps (float32)."""
    r = max(1, int(math.ceil(truncate * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / max(sigma, 1e-6)) ** 2)
    return (k / k.sum()).astype(np.float32)


def _smooth(x: np.ndarray, sigma: float, tmp: np.ndarray) -> np.ndarray:
    """Separable Gaussian smoothing of the maps ``x (C, X, Y, Z)``; returns the buffer holding the result, ``x`` or
    ``tmp`` (a buffer like ``x``; the other one is overwritten)."""
    if sigma <= 0:
        return x
    kern = load_kernels(_KERNELS)
    k = gaussian_kernel(sigma)
    parallel_call(kern.smooth_axis, x, tmp, k, 0)
    parallel_call(kern.smooth_axis, tmp, x, k, 1)
    parallel_call(kern.smooth_axis, x, tmp, k, 2)
    return tmp


class _Level:
    """Buffers and the fixed image's window sums for one pyramid level."""

    def __init__(self, fixed: np.ndarray, moving: np.ndarray, radius: int) -> None:
        kern = load_kernels(_KERNELS)
        shape = fixed.shape
        self.fixed, self.moving, self.radius = fixed, moving, int(radius)
        self.n = float((2 * radius + 1) ** 3)
        self.tmp64 = np.empty((4,) + shape, np.float64)
        fs = np.ascontiguousarray(np.stack([fixed, fixed * fixed]))
        self.fsum = np.empty((2,) + shape, np.float64)
        parallel_call(kern.box_sums, fs, self.tmp64[:2], self.fsum, self.radius)
        self.warped = np.empty(shape, np.float32)
        self.dw = np.empty((3,) + shape, np.float32)
        self.stack = np.empty((3,) + shape, np.float32)
        self.wsum = np.empty((3,) + shape, np.float64)
        self.maps = np.empty((4,) + shape, np.float64)
        self.boxed = np.empty((4,) + shape, np.float64)
        self.grad = np.empty((3,) + shape, np.float32)

    def gradient(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean squared local correlation at ``u`` and its gradient with respect to ``u`` (in ``self.grad``)."""
        kern = load_kernels(_KERNELS)
        parallel_call(kern.warp_sample, self.moving, u, self.warped, self.dw)
        np.copyto(self.stack[0], self.warped)
        np.multiply(self.warped, self.warped, out=self.stack[1])
        np.multiply(self.warped, self.fixed, out=self.stack[2])
        parallel_call(kern.box_sums, self.stack, self.tmp64[:3], self.wsum, self.radius)
        total = parallel_call(kern.lncc_maps, self.fixed, self.warped, self.fsum[:1], self.fsum[1:], self.wsum,
                              self.maps, self.n, 1e-5)
        parallel_call(kern.box_sums, self.maps, self.tmp64, self.boxed, self.radius)
        count = float(self.warped.size)
        parallel_call(kern.lncc_gradient, self.fixed, self.warped, self.boxed, self.dw, 1.0 / count, self.grad)
        return total / count, self.grad


def lncc_gradient(fixed: torch.Tensor, moving: torch.Tensor, ddf: torch.Tensor, *, radius: int = 2
                  ) -> tuple[float, torch.Tensor]:
    """Mean squared local correlation of ``fixed`` and ``moving`` warped by ``ddf`` and its gradient w.r.t. ``ddf``.

    ``fixed, moving (1, 1, X, Y, Z)``, ``ddf (1, 3, X, Y, Z)`` voxels (MONAI convention, edges replicated).
    The value is minus :class:`~medwave.registration.losses.LocalNCC` (window ``2 radius + 1``) of the warped
    image, and the gradient that of its autograd (compiled kernels, float32 images, float64 window sums).
    """
    f = np.ascontiguousarray(fixed[0, 0].detach().cpu().numpy(), np.float32)
    m = np.ascontiguousarray(moving[0, 0].detach().cpu().numpy(), np.float32)
    u = np.ascontiguousarray(ddf[0].detach().cpu().numpy(), np.float32)
    lv = _Level(f, m, radius)
    val, g = lv.gradient(u)
    return val, torch.from_numpy(g.copy())[None]


def greedy_iterations(iterations, *, seeded: bool = False) -> tuple[int, ...]:
    """Iterations per level for :func:`greedy_lncc`, coarsest first (images averaged by 8, 4, 2, 1).

    ``None`` gives :data:`GREEDY_ITERATIONS`, a total is split by :data:`GREEDY_SPLIT` (120 -> 0, 48, 48, 24),
    a sequence is returned as integers. With ``seeded`` (the optimisation starts from a network's field)
    :data:`GREEDY_SEEDED_ITERATIONS` and :data:`GREEDY_SEEDED_SPLIT` (70 -> 0, 0, 40, 30) replace the first two.
    """
    if iterations is None:
        return GREEDY_SEEDED_ITERATIONS if seeded else GREEDY_ITERATIONS
    if isinstance(iterations, (int, np.integer)):
        split = GREEDY_SEEDED_SPLIT if seeded else GREEDY_SPLIT
        return tuple(int(round(int(iterations) * w)) for w in split)
    return tuple(int(i) for i in iterations)


def seed_scale(iterations: Sequence[int]) -> int:
    """How much coarser than the images a starting field may be for ``iterations`` (per level, coarsest first).

    The first level that runs works on images averaged by ``2**k``; a start on a grid up to that coarse loses
    nothing the optimisation would see, and a network's field is cheaper to predict there
    (:meth:`medwave.networks.winet.WiNet.predict_field` with ``scale``). Capped at 2: WiNet's stages below
    1/2 are a small part of its forward. Returns 1 or 2.
    """
    its = [int(i) for i in iterations]
    first = next((li for li, n in enumerate(its) if n > 0), len(its) - 1)  # no level runs: no coarser start
    return 2 if first < len(its) - 1 else 1


def _ramp(shape: Sequence[int], width: float) -> np.ndarray:
    """``(1, *shape)`` weight rising from 0 on the boundary to 1 at ``width`` voxels inside (float32)."""
    w = np.ones((1,) * len(shape), np.float32)
    for axis, n in enumerate(shape):
        i = np.arange(n, dtype=np.float32)
        r = np.clip(np.minimum(i, n - 1 - i) / max(width, 1e-6), 0.0, 1.0)
        view = [1] * len(shape)
        view[axis] = n
        w = w * r.reshape(view)
    return np.ascontiguousarray(w[None], np.float32)


def _down(x: np.ndarray, k: int) -> np.ndarray:
    if k == 0:
        return np.ascontiguousarray(x, np.float32)
    t = torch.from_numpy(np.ascontiguousarray(x, np.float32))[None, None]
    return F.avg_pool3d(t, 2**k, ceil_mode=True, count_include_pad=False)[0, 0].numpy().copy()


def _resize_field(u: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Trilinear resize of a voxel displacement ``(3, *old)`` to ``shape``, values rescaled per axis."""
    old = u.shape[1:]
    t = torch.from_numpy(u)[None]
    r = F.interpolate(t, size=tuple(shape), mode="trilinear", align_corners=False)[0]
    for a in range(3):
        r[a] *= shape[a] / old[a]
    return np.ascontiguousarray(r.numpy(), np.float32)


def greedy_lncc(
    fixed: torch.Tensor,
    moving: torch.Tensor,
    *,
    iterations: Sequence[int] = GREEDY_ITERATIONS,
    radius: int = 1,
    sigma_fluid: float = 2.0,
    sigma_elastic: float = 0.5,
    step: float = 1.0,
    border: float = 4.0,
    init_ddf: Optional[torch.Tensor] = None,
    progress: bool = True,
    callback: Optional[Callable[[int, int, np.ndarray], None]] = None,
) -> tuple[torch.Tensor, dict]:
    """Register ``moving`` onto ``fixed`` by greedy LNCC descent (module docstring), coarsest level first.

    Args:
        fixed, moving: ``(1, 1, X, Y, Z)`` images on one grid (intensities roughly in [0, 1]).
        iterations: Iterations per level, coarsest first; level ``k`` (from ``len - 1`` down to 0) works on
            images averaged by ``2**k``. A level with 0 iterations is skipped.
        radius: LNCC window radius (window ``2 radius + 1`` voxels of the level; 1 did better than Greedy's 2 on
            the tuning pairs, +0.004 Dice on both sets, and is cheaper).
        sigma_fluid: Gaussian smoothing (voxels of the level) of each update.
        sigma_elastic: Gaussian smoothing (voxels of the level) of the whole displacement after each update.
        step: Largest update per iteration (voxels of the level).
        border: Width (full-resolution voxels) of a ramp from 0 on the grid's boundary to 1 inside that
            multiplies every update: the field stays zero on the boundary, so it maps the grid onto itself
            and its inverse is defined everywhere (0 turns it off).
        init_ddf: Optional starting displacement ``(1, 3, *grid)``, on the images' grid or a coarser one (a
            level's: ``ceil(n / 2**k)`` voxels per axis), its values in voxels of its own grid; each level
            resizes it trilinearly to its grid.
        progress: Show a progress bar.
        callback: Called after every iteration as ``callback(k, i, u)``: the level (images averaged by ``2**k``),
            the iteration within it, and the displacement ``(3, *level shape)`` in the level's voxels (a live buffer:
            copy it to keep it). Its time is counted in ``info["callback_seconds"]`` and left out of
            ``info["seconds"]``; a Dice-against-seconds curve of one run is its use.

    Returns:
        ``(ddf, info)``: the displacement ``(1, 3, X, Y, Z)`` in voxels (``warped(x) = moving(x + ddf(x))``) and
        a dict with the similarity per level and the seconds.
    """
    if fixed.shape != moving.shape or fixed.ndim != 5 or fixed.shape[:2] != (1, 1):
        raise ValueError(f"greedy_lncc: fixed {tuple(fixed.shape)} and moving {tuple(moving.shape)} must both be "
                         "(1, 1, X, Y, Z) on the same grid.")
    kern = load_kernels(_KERNELS)
    t0 = time.perf_counter()
    f = fixed[0, 0].detach().cpu().float().numpy()
    m = moving[0, 0].detach().cpu().float().numpy()
    full = f.shape
    nlev = len(iterations)
    u = None if init_ddf is None else np.ascontiguousarray(init_ddf[0].detach().cpu().numpy(), np.float32)
    history: dict[int, list[float]] = {}
    callback_seconds = 0.0
    bar = progress_bar(total=int(sum(iterations)), desc="greedy LNCC", enabled=progress)
    for li, its in enumerate(iterations):
        k = nlev - 1 - li
        if its <= 0:
            continue
        fk, mk = _down(f, k), _down(m, k)
        if min(fk.shape) < 2 * radius + 2:
            continue
        shape = fk.shape
        u = np.zeros((3,) + shape, np.float32) if u is None else _resize_field(u, shape)
        lv = _Level(fk, mk, radius)
        nxt = np.empty_like(u)
        tmp = np.empty_like(u)
        ramp = _ramp(shape, border / 2**k) if border > 0 else None
        hist = history.setdefault(k, [])
        for i in range(int(its)):
            val, g = lv.gradient(u)
            hist.append(val)
            s = _smooth(g, sigma_fluid, tmp)
            mx = float(np.sqrt((s * s).sum(0).max()))
            if mx <= 0:
                break
            s *= step / mx
            if ramp is not None:
                s *= ramp
            parallel_call(kern.compose, u, s, nxt)
            u, nxt = nxt, u
            sm = _smooth(u, sigma_elastic, nxt)  # the old field's buffer is the scratch
            if sm is not u:
                u, nxt = sm, u
            bar.update(1)
            if callback is not None:
                tc = time.perf_counter()
                callback(k, i, u)
                callback_seconds += time.perf_counter() - tc
        bar.set_postfix(level=k, lncc=f"{hist[-1]:.4f}" if hist else "")
    bar.close()
    if u is None:
        u = np.zeros((3,) + full, np.float32)
    elif u.shape[1:] != full:
        u = _resize_field(u, full)
    info = {"similarity_history": history, "seconds": time.perf_counter() - t0 - callback_seconds,
            "callback_seconds": callback_seconds}
    return torch.from_numpy(u)[None], info
