"""Instance optimisation: fit the wavelet coefficients of one pair's field directly (no weights needed).

The field (a stationary velocity when ``diffeomorphic``, else the displacement) is represented by a
wavelet pyramid on a grid padded to a multiple of ``2**levels``: a low band at the coarsest level
``K`` and the high bands of every finer level. Optimisation runs coarse to fine: at pyramid level
``k`` the field is rebuilt by IDWT from the coefficients of levels ``>= k + 1`` only, integrated,
up-sampled x2 and used to warp the images averaged down by ``2**(k-1)`` (one level finer than the
field, ``fine_similarity="all"``), and Adam minimises LNCC + lambda x diffusion. When moving to the
next finer level the field is up-sampled trilinearly and re-decomposed, so that the new high bands
start from a smooth field rather than a blocky one. By default (3 levels) the field is optimised on
levels 3 and 2; the returned velocity is up-sampled, integrated on level 1 (7 steps) and the
displacement up-sampled to full resolution. A network prediction (e.g. WiNet) can seed the pyramid.

Coefficients are kept in full-resolution voxel units: with Haar at zero detail, the IDWT of
``2**(d/2) * a`` is ``a`` repeated, so ``field_k = IDWT(2**(d/2) field_{k+1}, 2**(d/2) h_{k+1})``.

Example:
    >>> import torch
    >>> from medwave.registration.instance import optimize_pair
    >>> fixed = torch.rand(1, 1, 32, 32, 32)
    >>> ddf, info = optimize_pair(fixed, fixed, iterations=(5, 5, 0, 0), progress=False)
    >>> ddf.shape
    torch.Size([1, 3, 32, 32, 32])
"""

from __future__ import annotations

import time
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from medwave.networks.blocks.fields import integrate_velocity, warp
from medwave.registration.losses import RegistrationLoss
from medwave.utils import progress_bar
from medwave.wavelets import DWT, IDWT
from medwave.wavelets.filters import WaveletLike

__all__ = ["WaveletField", "optimize_pair", "default_iterations", "border_ramp", "Adam"]


class WaveletField(nn.Module):
    """A ``d``-component field on ``shape`` parametrised by wavelet coefficients (levels ``1..levels``).

    Args:
        shape: Spatial shape, divisible by ``2**levels``.
        levels: Number of wavelet levels ``K``; the low band lives on ``shape / 2**K``.
        wavelet: Wavelet of the pyramid (periodization mode).
        init: Optional full-resolution field ``(1, d, *shape)`` to decompose as the starting point.
    """

    def __init__(self, shape: Sequence[int], levels: int, *, wavelet: WaveletLike = "haar",
                 init: Optional[torch.Tensor] = None, dtype=torch.float32) -> None:
        super().__init__()
        d = len(shape)
        if any(n % (2**levels) for n in shape):
            raise ValueError(f"WaveletField: shape {tuple(shape)} must be divisible by 2**levels = {2 ** levels}.")
        self.shape, self.levels, self.d = tuple(int(n) for n in shape), int(levels), d
        self.norm = 2.0 ** (d / 2.0)
        self.dwt, self.idwt = DWT(d, wavelet), IDWT(d, wavelet)  # Haar takes the layers' butterfly path
        coarse = [n // 2**levels for n in shape]
        self.low = nn.Parameter(torch.zeros(1, d, *coarse, dtype=dtype))
        self.high = nn.ParameterList(
            [nn.Parameter(torch.zeros(1, d, 2**d - 1, *[n // 2**j for n in shape], dtype=dtype))
             for j in range(1, levels + 1)])  # high[j-1] rebuilds level j-1 from level j
        if init is not None:
            self.set_field(init, 0)

    def _idwt(self, low: torch.Tensor, high: Optional[torch.Tensor]) -> torch.Tensor:
        if high is None:
            high = low.new_zeros((low.shape[0], low.shape[1], 2**self.d - 1) + tuple(low.shape[2:]))
        return self.idwt(low, high)

    def field(self, level: int = 0) -> torch.Tensor:
        """The field on pyramid level ``level`` (grid ``shape / 2**level``), in full-resolution voxel units."""
        f = self.low
        for j in range(self.levels, level, -1):
            f = self._idwt(self.norm * f, self.norm * self.high[j - 1])
        return f

    @torch.no_grad()
    def set_field(self, field: torch.Tensor, level: int) -> None:
        """Set the coefficients of levels ``> level`` so that ``field(level)`` equals ``field`` (full-res units)."""
        f = field.detach().to(self.low.dtype)
        for j in range(level + 1, self.levels + 1):
            low, high = self.dwt(f)
            self.high[j - 1].copy_(high / self.norm)
            f = low / self.norm
        self.low.copy_(f)
        for j in range(1, level + 1):
            self.high[j - 1].zero_()


class Adam:
    """Adam (Kingma and Ba), the update of ``torch.optim.Adam`` without weight decay or AMSGrad, in a few tensor ops.

    Used instead of ``torch.optim.Adam`` because the latter imports ``torch._dynamo`` on construction: about a
    second of a ``medwave register`` command's start-up (a quarter of its CPU time outside the optimisation)
    for an optimiser of a handful of tensors. Same values as ``torch.optim.Adam`` up to float rounding
    (tests compare them).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = list(params)
        self.lr, (self.b1, self.b2), self.eps = float(lr), betas, float(eps)
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        c1, c2 = 1.0 - self.b1**self.t, 1.0 - self.b2**self.t
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            g = p.grad
            m.lerp_(g, 1.0 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1.0 - self.b2)
            denom = (v.sqrt() / c2**0.5).add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / c1)


def default_iterations(levels: int = 3, total: int = 200) -> tuple[int, ...]:
    """Split ``total`` iterations over levels ``K..0``, coarsest first.

    With 3 levels the field is optimised on levels 3 and 2 only (1/8 and 1/4 of the grid), each against
    images one level finer (see ``fine_similarity`` in :func:`optimize_pair`); finer field levels cost
    8x and 64x a level-2 step and, on the benchmark's 2 mm MNI pairs, add little once the similarity
    is measured on the finer images. The velocity is then up-sampled trilinearly.
    """
    weights = {3: [0.5, 0.5, 0.0, 0.0], 2: [0.3, 0.3, 0.4], 1: [0.6, 0.4], 4: [0.2, 0.2, 0.25, 0.35, 0.0]}
    w = weights.get(levels, [1.0 / (levels + 1)] * (levels + 1))
    return tuple(max(0, int(round(total * x))) for x in w)


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    pads: list[int] = []
    for n in reversed(x.shape[2:]):
        pads += [0, (-n) % multiple]
    return F.pad(x, pads) if any(pads) else x


def _down(x: torch.Tensor, k: int) -> torch.Tensor:
    if k == 0:
        return x
    return (F.avg_pool3d if x.ndim == 5 else F.avg_pool2d)(x, 2**k)


def _up(x: torch.Tensor, factor: int) -> torch.Tensor:
    mode = "trilinear" if x.ndim == 5 else "bilinear"
    return F.interpolate(x, scale_factor=factor, mode=mode, align_corners=False)


def border_ramp(shape: Sequence[int], width: float, *, dtype=torch.float32) -> torch.Tensor:
    """A weight ``(1, 1, *shape)`` that rises from 0 on the grid's border to 1 at ``width`` voxels inside.

    Multiplying the velocity by it keeps the flow inside the grid (zero velocity on the boundary), so
    scaling and squaring never samples outside the grid, where it would fold.
    """
    w = torch.ones((), dtype=dtype)
    for axis, n in enumerate(shape):
        i = torch.arange(n, dtype=dtype)
        r = torch.clamp(torch.minimum(i, n - 1 - i) / max(width, 1e-6), 0.0, 1.0)
        view = [1] * len(shape)
        view[axis] = n
        w = w * r.view(view)
    return w[None, None]


def optimize_pair(
    fixed: torch.Tensor,
    moving: torch.Tensor,
    *,
    iterations: Union[int, Sequence[int]] = 200,
    levels: int = 3,
    wavelet: WaveletLike = "haar",
    diffeomorphic: bool = True,
    similarity: str = "lncc",
    similarity_options: Optional[dict] = None,
    smoothness: float = 0.5,
    lr: float = 0.25,
    init_field: Optional[torch.Tensor] = None,
    border: float = 4.0,
    windows: Optional[Sequence[int]] = None,
    optimisation_steps: int = 3,
    seed: int = 0,
    progress: bool = True,
    loop_threads: Optional[int] = None,
    final_field: str = "upsample",
    integrate_level: int = 1,
    fine_similarity: Union[bool, str] = "all",
    fixed_mask: Optional[torch.Tensor] = None,
    moving_mask: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, dict]:
    """Register one pair by optimising the wavelet coefficients of its field, coarse to fine.

    Args:
        fixed: ``(1, 1, *spatial)`` fixed image (intensities roughly in [0, 1]).
        moving: ``(1, 1, *spatial)`` moving image on the same grid.
        iterations: Adam steps per pyramid level, coarsest first (``levels + 1`` numbers), or a total
            split by :func:`default_iterations`. A level with 0 steps is skipped (its field is the
            trilinear up-sampling of the coarser one), and so is a level whose grid is under 4 voxels
            along some axis.
        levels: Coarsest pyramid level ``K`` (images averaged by ``2**K``).
        wavelet: Wavelet of the coefficient pyramid.
        diffeomorphic: Optimise a stationary velocity integrated by scaling and squaring (7 steps).
        similarity: ``"lncc"``, ``"mse"``, ``"mi"`` (global mutual information, any two modalities) or
            ``"mind"`` (MIND-SSC descriptors, 3D); see :mod:`medwave.registration.losses`.
        similarity_options: Keyword arguments of :class:`~medwave.registration.losses.RegistrationLoss` for the
            similarity (``num_bins``, ``mi_kernel``, ``mind_radius``, ``mind_dilation``).
        smoothness: lambda of the diffusion regulariser.
        lr: Adam learning rate (full-resolution voxels per step, roughly).
        init_field: Optional starting field ``(1, d, *spatial)`` (velocity if diffeomorphic), e.g. a
            network prediction, in full-resolution voxel units on the unpadded grid.
        windows: LNCC window per level, coarsest first (default 5 everywhere: at level 1 it spans 10
            full-resolution voxels, about the window 9 of full-resolution training).
        optimisation_steps: Scaling-and-squaring steps inside the optimisation loop (the returned field is
            always integrated with 7); fewer is faster on coarse levels where velocities are small.
        final_field: ``"upsample"`` (default): between levels and at the end the field is the trilinear
            up-sampling of the coarser level's field (re-decomposed into the finer coefficients);
            ``"carry"``: the older scheme, coarser field kept blockily (Haar) plus the up-sampled last
            update (0.003-0.004 lower Dice on the benchmark pairs).
        integrate_level: The returned velocity is integrated (7 steps) on this pyramid level and the
            displacement up-sampled trilinearly to full resolution (x 2**level in voxel units); 0
            integrates at full resolution. Never coarser than the finest optimised level (with no
            optimisation steps at all the field is integrated at full resolution). Full resolution is ~8x
            the work for the same Dice to 0.001-0.002 on the benchmark pairs,
            since the velocity is itself an up-sampled level->=1 field by default).
        fine_similarity: Measure the similarity on images one pyramid level finer than the field being
            optimised (the displacement is up-sampled x2 to warp them): ``"all"`` levels (default),
            ``"last"`` (finest optimised level only), ``"coarse"`` (every level but the finest optimised one,
            whose images are then on its own grid: 8x cheaper steps there) or ``False``. Sub-voxel image detail the coarse
            images average away: +0.03 Dice on the benchmark pairs.
        border: Width (full-resolution voxels) of the border ramp that brings the velocity to zero on the
            padded grid's boundary (diffeomorphic only): no folding from sampling outside the grid.
        seed: Seed (the optimisation is deterministic; kept for API symmetry and future jitter).
        fixed_mask: Optional ``(1, 1, *spatial)`` mask on the fixed grid: the similarity counts only the voxels
            it covers (values in [0, 1]; averaged down with the images on coarse levels).
        moving_mask: Optional ``(1, 1, *spatial)`` mask on the moving image (same grid): warped with the
            field each step, it weights the similarity as well (voxels mapped outside it do not count).
        progress: Show a progress bar.
        loop_threads: PyTorch threads inside the optimisation loop (restored afterwards); ``None`` (default)
            keeps the caller's setting. On an idle 2-core machine two threads are about 25 % faster than one
            (3.4-3.6 s against 4.5-4.8 s for a 99x117x95 pair); on a machine loaded by other jobs, ``1`` can be
            several times faster, because the loop's many sub-millisecond ops make OpenMP threads wait for
            each other. The final full-resolution integration always uses the caller's thread count.

    Returns:
        ``(ddf, info)``: the DDF ``(1, d, *spatial)`` and a dict with the loss per level, the field before
        integration (``"field"``) and the run time.
    """
    if fixed.shape != moving.shape or fixed.ndim not in (4, 5) or fixed.shape[:2] != (1, 1):
        raise ValueError(f"optimize_pair: fixed {tuple(fixed.shape)} and moving {tuple(moving.shape)} must both be "
                         "(1, 1, *spatial) on the same grid.")
    torch.manual_seed(seed)
    d = fixed.ndim - 2
    if isinstance(iterations, int):
        iterations = default_iterations(levels, iterations)
    iterations = tuple(int(i) for i in iterations)
    if len(iterations) != levels + 1:
        raise ValueError(f"iterations must have levels + 1 = {levels + 1} entries (coarsest first), got {iterations}.")
    spatial = tuple(fixed.shape[2:])
    mult = 2**levels
    f_pad, m_pad = _pad(fixed.float(), mult), _pad(moving.float(), mult)
    masks = []
    for nm, mk in (("fixed_mask", fixed_mask), ("moving_mask", moving_mask)):
        if mk is not None and tuple(mk.shape) != tuple(fixed.shape):
            raise ValueError(f"optimize_pair: {nm} {tuple(mk.shape)} must have the images' shape {tuple(fixed.shape)}.")
        masks.append(None if mk is None else _pad(mk.float().clamp(0, 1), mult))
    fm_pad, mm_pad = masks
    shape = tuple(f_pad.shape[2:])
    init = None
    if init_field is not None:
        init = _pad(init_field.detach().float(), mult)
    wf = WaveletField(shape, levels, wavelet=wavelet, init=init)
    t0 = time.perf_counter()
    history: dict[int, list[float]] = {}
    timing: dict[int, float] = {}
    # levels whose grid is smaller than 4 voxels along an axis are skipped (too coarse for a smoothness term)
    skipped = [k for k in range(levels, -1, -1) if iterations[levels - k] > 0 and min(shape) // 2**k < 4]
    active = [k for k in range(levels, -1, -1) if iterations[levels - k] > 0 and k not in skipped]
    bar = progress_bar(total=sum(iterations[levels - k] for k in active), desc="instance optimisation", enabled=progress)
    current_level = active[0] if active else 0
    snapshot = wf.field(current_level).detach()

    def carry_down(c: int, k: int) -> torch.Tensor:
        """Field on level k after the level-c updates, with the update up-sampled smoothly (not blockily)."""
        delta = wf.field(c).detach() - snapshot
        blocky = delta
        for _ in range(c - k):
            blocky = wf._idwt(wf.norm * blocky, None)
        return wf.field(k).detach() - blocky + _up(delta, 2 ** (c - k))

    caller_threads = torch.get_num_threads()
    if loop_threads is not None:
        torch.set_num_threads(max(1, min(int(loop_threads), caller_threads)))
    try:
        for k in active:
            if k != current_level:
                with torch.no_grad():
                    if final_field == "upsample":
                        wf.set_field(_up(wf.field(current_level).detach(), 2 ** (current_level - k)), k)
                    else:
                        wf.set_field(carry_down(current_level, k), k)
                current_level = k
                snapshot = wf.field(k).detach()
            fine = (fine_similarity == "all" or (fine_similarity in (True, "last") and k == active[-1])
                    or (fine_similarity == "coarse" and k != active[-1]))
            ki = k - 1 if (fine and k > 0) else k
            fk, mk = _down(f_pad, ki), _down(m_pad, ki)
            fmk = _down(fm_pad, ki) if fm_pad is not None else None
            mmk = _down(mm_pad, ki) if mm_pad is not None else None
            window = int(windows[levels - k]) if windows is not None else 5
            loss_fn = RegistrationLoss(similarity, window=window, smoothness=smoothness, spatial_dims=d,
                                       **(similarity_options or {}))
            params = [wf.low] + [wf.high[j - 1] for j in range(k + 1, levels + 1)]
            opt = Adam(params, lr=lr)
            ramp = border_ramp(wf.field(k).shape[2:], border / 2**k) if diffeomorphic else 1.0
            hist = history.setdefault(k, [])
            tl = time.perf_counter()
            for _ in range(iterations[levels - k]):
                opt.zero_grad(set_to_none=True)
                v = wf.field(k) / 2**k * ramp  # level-k voxel units, zero on the border
                ddf = integrate_velocity(v, steps=optimisation_steps) if diffeomorphic else v
                if ki < k:  # similarity on the 2x finer images: displacement up-sampled, in their voxels
                    ddf = _up(ddf, 2) * 2.0
                weight = fmk
                if mmk is not None:
                    wm = warp(mmk, ddf)
                    weight = wm if weight is None else weight * wm
                loss, parts = loss_fn(warp(mk, ddf), fk, v, weight)
                loss.backward()
                opt.step()
                hist.append(float(loss.detach()))
                bar.update(1)
                bar.set_postfix(level=k, loss=f"{hist[-1]:.4f}")
            timing[k] = time.perf_counter() - tl
    finally:
        torch.set_num_threads(caller_threads)
    bar.close()
    with torch.no_grad():
        if current_level == 0:
            field = wf.field(0).detach()
        elif final_field == "upsample":
            field = _up(wf.field(current_level).detach(), 2**current_level)
        else:
            field = carry_down(current_level, 0)
        if diffeomorphic and border > 0:
            field = field * border_ramp(field.shape[2:], border)
        j = min(integrate_level, current_level)  # never coarser than the finest optimised level
        if diffeomorphic and j > 0:
            ddf = _up(integrate_velocity(_down(field, j) / 2**j), 2**j) * 2**j
        else:
            ddf = integrate_velocity(field) if diffeomorphic else field
        crop = (slice(None), slice(None)) + tuple(slice(0, n) for n in spatial)
        ddf, field = ddf[crop].contiguous(), field[crop].contiguous()
    info = {"loss_history": history, "field": field, "seconds": time.perf_counter() - t0, "seconds_per_level": timing,
            "iterations": iterations, "levels": levels, "skipped_levels": skipped, "diffeomorphic": diffeomorphic}
    return ddf, info
