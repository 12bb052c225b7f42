"""Displacement fields: warping and scaling and squaring (the computations of MONAI ``Warp`` / ``DVF2DDF``,
done in ``grid_sample`` units with the sampling split over the CPU threads; tests compare them), Jacobians.

Fields are MONAI DDFs ``(B, d, *spatial)`` in voxel units: channel ``i`` is the displacement along
spatial axis ``i`` and an image is warped as ``moving(x + u(x))``.

Example:
    >>> import torch
    >>> from medwave.networks.blocks.fields import jacobian_determinant
    >>> ddf = torch.zeros(1, 3, 8, 8, 8)
    >>> ddf[:, 0] = 0.1 * torch.arange(8.0).view(8, 1, 1)   # u_x = 0.1 x  ->  det = 1.1
    >>> round(float(jacobian_determinant(ddf).mean()), 4)
    1.1
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from medwave.utils.compiled import compiled_accepts, compiled_enabled, load_kernels, parallel_call

__all__ = ["warp", "integrate_velocity", "jacobian_determinant", "identity_grid", "grid_sample_parallel", "inverse_step",
           "load_field_kernels"]


def _check_field(ddf: torch.Tensor) -> int:
    d = ddf.ndim - 2
    if d not in (2, 3) or ddf.shape[1] != d:
        raise ValueError(f"A displacement field must be (B, d, *spatial) with d = 2 or 3 channels, got {tuple(ddf.shape)}.")
    return d


def _normalised_identity(shape, *, dtype, device) -> torch.Tensor:
    """Identity sampling grid ``(1, *shape, d)`` in ``grid_sample`` coordinates (last axis first, align_corners)."""
    axes = [torch.linspace(-1.0, 1.0, n, dtype=dtype, device=device) if n > 1 else
            torch.zeros(1, dtype=dtype, device=device) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij")[::-1], -1)[None]


def _grid_units(shape) -> list[float]:
    """Per spatial axis, ``grid_sample`` units (align_corners) per voxel."""
    return [2.0 / max(n - 1, 1) for n in shape]


def _voxel_units(shape) -> list[float]:
    """Per spatial axis, voxels per ``grid_sample`` unit."""
    return [max(n - 1, 1) / 2.0 for n in shape]


def _to_normalised(ddf: torch.Tensor) -> torch.Tensor:
    """Voxel DDF ``(B, d, *sp)`` -> same field in ``grid_sample`` units, channels in reversed axis order."""
    shape = ddf.shape[2:]
    scale = torch.tensor(_grid_units(shape), dtype=ddf.dtype, device=ddf.device)
    return (ddf * scale.view(1, -1, *([1] * len(shape)))).flip(1)


def _from_normalised(u: torch.Tensor) -> torch.Tensor:
    shape = u.shape[2:]
    scale = torch.tensor(_voxel_units(shape), dtype=u.dtype, device=u.device)
    return u.flip(1) * scale.view(1, -1, *([1] * len(shape)))


def _slabs(device: torch.device, ndim: int, batch: int, n0: int) -> int:
    """How many slabs (the CPU threads) to cut a 3D sampling of ``batch`` volumes into; 0 = do not cut.

    PyTorch's CPU 3D sampler parallelises over the batch only, so a single volume runs on one core.
    """
    k = torch.get_num_threads()
    return k if device.type == "cpu" and ndim == 5 and batch < k and k >= 2 and n0 >= 2 * k else 0


def grid_sample_parallel(image: torch.Tensor, grid: torch.Tensor, *, mode: str = "bilinear",
                         padding_mode: str = "zeros") -> torch.Tensor:
    """``F.grid_sample(image, grid, align_corners=True)``, split over the CPU threads.

    PyTorch's CPU 3D sampler parallelises over the batch only, so a single volume runs on one core.
    The output points are cut into ``torch.get_num_threads()`` slabs along the first spatial axis and
    stacked as a batch over a broadcast (not copied) image: identical values, all threads busy.
    Differentiable like ``grid_sample``.
    """
    import torch.nn.functional as F

    b, n0 = grid.shape[0], grid.shape[1]
    k = _slabs(image.device, image.ndim, b, n0)
    if not k:
        return F.grid_sample(image, grid, mode=mode, padding_mode=padding_mode, align_corners=True)
    step = -(-n0 // k)
    pad = step * k - n0
    g = grid if not pad else torch.cat([grid, grid[:, -1:].expand(b, pad, *grid.shape[2:])], 1)
    g = g.reshape(b * k, step, *grid.shape[2:])
    img = image.unsqueeze(1).expand(b, k, *image.shape[1:]).reshape(b * k, *image.shape[1:])
    out = F.grid_sample(img, g, mode=mode, padding_mode=padding_mode, align_corners=True)
    out = out.reshape(b, k, image.shape[1], step, *out.shape[3:]).transpose(1, 2)
    out = out.reshape(b, image.shape[1], k * step, *out.shape[4:])
    return out[:, :, :n0] if pad else out


def warp(image: torch.Tensor, ddf: torch.Tensor, *, mode: Literal["bilinear", "nearest"] = "bilinear",
         padding_mode: Literal["border", "zeros", "reflection"] = "border") -> torch.Tensor:
    """Warp ``image`` ``(B, C, *spatial)`` by ``ddf`` ``(B, d, *spatial)``: ``out(x) = image(x + ddf(x))``.

    The same sampling as MONAI :class:`~monai.networks.blocks.Warp` (``grid_sample`` with
    ``align_corners=True`` on the voxel grid; linear or nearest interpolation, differentiable), with the
    grid built once in ``grid_sample`` units and the sampling split over the CPU threads.
    """
    d = _check_field(ddf)
    if image.shape[2:] != ddf.shape[2:]:
        raise ValueError(f"warp: image {tuple(image.shape)} and field {tuple(ddf.shape)} must share spatial shape.")
    if image.shape[0] != ddf.shape[0]:
        raise ValueError(f"warp: image batch {image.shape[0]} and field batch {ddf.shape[0]} differ.")
    dtype = image.dtype if image.is_floating_point() else ddf.dtype
    src = image if image.is_floating_point() else image.to(dtype)
    u = _to_normalised(ddf.to(dtype))
    grid = _normalised_identity(ddf.shape[2:], dtype=dtype, device=ddf.device) + u.movedim(1, -1)
    mode_ = "bilinear" if mode in ("bilinear", "trilinear", "linear") else mode
    out = grid_sample_parallel(src, grid, mode=mode_, padding_mode=padding_mode)
    del d
    return out if image.is_floating_point() else out.to(image.dtype)


def inverse_step(ddf: torch.Tensor, inv: torch.Tensor) -> tuple[torch.Tensor, float, float]:
    """One fixed-point step of the inversion of ``ddf``: ``(-ddf(x + inv(x)), largest, mean)`` with the largest
    and mean norm (voxels) of the residual ``inv + ddf(x + inv(x))`` of the given ``inv``.

    ``ddf, inv (1, 3, X, Y, Z)`` float32; in one compiled kernel (numba) when possible, else :func:`warp`
    (edges replicated) and torch reductions, the same values up to float rounding.
    """
    if (ddf.ndim == 5 and ddf.shape == inv.shape and ddf.shape[:2] == (1, 3) and min(ddf.shape[2:]) >= 2
            and ddf.dtype == inv.dtype == torch.float32 and compiled_accepts(ddf) and compiled_accepts(inv)
            and not (torch.is_grad_enabled() and (ddf.requires_grad or inv.requires_grad))):
        import numpy as np

        kern = load_kernels("medwave.networks.blocks.kernels_numba").inverse_step
        u, v = ddf[0].detach().contiguous(), inv[0].detach().contiguous()
        out = torch.empty_like(u)
        rmax, rsum = np.zeros(u.shape[1]), np.zeros(u.shape[1])
        parallel_call(kern, u.numpy(), v.numpy(), out.numpy(), rmax, rsum)
        return out[None], float(rmax.max()), float(rsum.sum() / (u[0].numel()))
    pulled = warp(ddf, inv, padding_mode="border")
    r = inv + pulled
    norm = (r * r).sum(1).sqrt()  # not Tensor.norm(dim=1): ~25x slower on CPU (torch 2.13)
    return -pulled, float(norm.max()), float(norm.mean())


def integrate_velocity(velocity: torch.Tensor, *, steps: int = 7) -> torch.Tensor:
    """Exponentiate a stationary velocity field by scaling and squaring, ``steps`` steps.

    Computes what MONAI ``DVF2DDF(num_steps=steps, mode="bilinear", padding_mode="zeros")`` computes
    (``u <- u + u o (id + u)`` from ``v / 2**steps``), but in ``grid_sample`` units throughout, with the
    identity grid built once and each sampling split over the CPU threads. A 3D field on the CPU without
    autograd runs in a compiled kernel instead (numba; ``MEDWAVE_FUSED=0`` keeps the torch path).
    """
    _check_field(velocity)
    if steps < 0:
        raise ValueError(f"integrate_velocity: steps must be >= 0, got {steps}.")
    if _compiled_squaring(velocity, steps):
        return _square_compiled(velocity, steps)
    ident = _normalised_identity(velocity.shape[2:], dtype=velocity.dtype, device=velocity.device)
    k = _slabs(velocity.device, velocity.ndim, velocity.shape[0], velocity.shape[2])
    if (k and steps and velocity.shape[0] == 1 and velocity.is_floating_point()
            and not (torch.is_grad_enabled() and velocity.requires_grad)):
        return _square_in_buffers(velocity, ident, steps, k)
    u = _to_normalised(velocity) / 2**steps
    for _ in range(steps):
        u = u + grid_sample_parallel(u, ident + u.movedim(1, -1), mode="bilinear", padding_mode="zeros")
    return _from_normalised(u)


def load_field_kernels() -> bool:
    """Import numba and load the compiled field kernels now, instead of in the first call that needs them.

    A fresh process pays about half a second for this once (numba's import, then the kernel's cache). Callers that
    time a stage (``register``'s ``network_seconds``) call this before the clock starts, so that the one-time cost
    is not counted as the stage's; it is a no-op when the kernels are off or already loaded.

    Returns:
        Whether the compiled kernels are on (and now loaded).
    """
    global _FIELD_KERNELS_LOADED
    if not compiled_enabled():
        return False
    if not _FIELD_KERNELS_LOADED:  # once per process: register() calls this for every pair
        kern = load_kernels("medwave.networks.blocks.kernels_numba")
        u = np.zeros((2, 2, 2, 3), np.float32)
        parallel_call(kern.square_steps, u, np.empty_like(u), 1)  # loads the cached machine code (float32)
        _FIELD_KERNELS_LOADED = True
    return True


_FIELD_KERNELS_LOADED = False


def _compiled_squaring(velocity: torch.Tensor, steps: int) -> bool:
    """Whether :func:`integrate_velocity` runs in the compiled kernel: 3D, CPU float32/float64, no autograd,
    every axis at least 2 voxels long (the kernel samples in voxel units; ``grid_sample`` pins 1-voxel axes)."""
    return (
        steps > 0
        and velocity.ndim == 5
        and compiled_accepts(velocity)
        and min(velocity.shape[2:]) >= 2
        and not (torch.is_grad_enabled() and velocity.requires_grad)
    )


def _square_compiled(velocity: torch.Tensor, steps: int) -> torch.Tensor:
    """:func:`integrate_velocity` in one parallel numba kernel per volume (:mod:`medwave.networks.blocks.kernels_numba`).

    Works in voxel units throughout (``grid_sample``'s unnormalised coordinate of ``x + u`` is ``x + u``), so
    the values equal MONAI's DVF2DDF up to float rounding (tests: 1e-5 voxels) rather than bit for bit.
    """
    kern = load_kernels("medwave.networks.blocks.kernels_numba").square_steps
    out = torch.empty_like(velocity, memory_format=torch.contiguous_format)
    for b in range(velocity.shape[0]):
        u = (velocity[b].detach() / 2**steps).movedim(0, -1).contiguous()  # (D, H, W, 3)
        nxt = torch.empty_like(u)
        res = parallel_call(kern, u.numpy(), nxt.numpy(), steps)
        out[b] = torch.from_numpy(res).movedim(-1, 0)
    return out


def _square_in_buffers(velocity: torch.Tensor, ident: torch.Tensor, steps: int, k: int) -> torch.Tensor:
    """:func:`integrate_velocity` for one 3D volume without autograd: the same values, bit for bit.

    The same operations as the loop there (``grid = ident + u``; ``grid_sample`` over ``k`` slabs of
    output points; ``u + sampled``; unit changes by per-channel products, scaling by ``2**-steps``
    folded into them, which is exact), but the grid and the two fields live in buffers allocated once
    and every result is written straight into its buffer (the sum from the slab layout, the unit
    changes channel by channel, so no flipped copies). That saves three full-size allocations and one
    copy per step: each fresh allocation of a volume-sized tensor is a new memory mapping, and on a
    virtual machine its page faults cost about as much as the sampling.
    """
    import torch.nn.functional as F

    c, n0, rest = velocity.shape[1], velocity.shape[2], tuple(velocity.shape[3:])
    to_grid, to_voxels = _grid_units(velocity.shape[2:]), _voxel_units(velocity.shape[2:])
    step = -(-n0 // k)
    rows = step * k
    cur = velocity.new_empty((1, c, rows) + rest)
    cur[:, :, n0:] = 0
    for i in range(c):  # channel i of u is spatial axis c-1-i, in grid_sample units, / 2**steps
        torch.mul(velocity[:, c - 1 - i], to_grid[c - 1 - i] / 2**steps, out=cur[:, i, :n0])
    nxt = torch.empty_like(cur)
    grid = velocity.new_empty((1, rows) + rest + (c,))
    grid[:, n0:] = ident[:, -1:]  # padding rows of the last slab: valid points, results never used
    for _ in range(steps):
        img = cur[:, :, :n0]
        torch.add(ident, img.movedim(1, -1), out=grid[:, :n0])
        sampled = F.grid_sample(img.expand((k, c, n0) + rest), grid.view((k, step) + rest + (c,)), mode="bilinear",
                                padding_mode="zeros", align_corners=True)  # (k, c, step, *rest)
        slabs = (1, c, k, step) + rest
        torch.add(cur.view(slabs).transpose(1, 2)[0], sampled, out=nxt.view(slabs).transpose(1, 2)[0])
        cur, nxt = nxt, cur
    out = velocity.new_empty((1, c, n0) + rest)
    for i in range(c):
        torch.mul(cur[:, c - 1 - i, :n0], to_voxels[i], out=out[:, i])
    return out


def identity_grid(shape, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """Voxel coordinates ``(d, *shape)`` (``ij`` indexing)."""
    axes = [torch.arange(n, dtype=dtype, device=device) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), 0)


def jacobian_determinant(ddf: torch.Tensor) -> torch.Tensor:
    """Determinant of the Jacobian of ``x -> x + u(x)``, ``(B, *spatial)``.

    Derivatives are central differences in the interior and one-sided at the border (``torch.gradient``),
    in voxel units (for an axis-aligned grid the determinant is the same in millimetres).
    """
    d = _check_field(ddf)
    ddf = ddf.to(torch.float64) if ddf.dtype == torch.float64 else ddf.float()
    dims = tuple(range(2, 2 + d))
    # grads[i][j] = d u_i / d x_j
    grads = [torch.gradient(ddf[:, i], dim=tuple(k - 1 for k in dims)) for i in range(d)]
    J = [[grads[i][j] + (1.0 if i == j else 0.0) for j in range(d)] for i in range(d)]
    if d == 2:
        return J[0][0] * J[1][1] - J[0][1] * J[1][0]
    return (J[0][0] * (J[1][1] * J[2][2] - J[1][2] * J[2][1])
            - J[0][1] * (J[1][0] * J[2][2] - J[1][2] * J[2][0])
            + J[0][2] * (J[1][0] * J[2][1] - J[1][1] * J[2][0]))
