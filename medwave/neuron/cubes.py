"""Cut a stack into overlapping cubes, predict each, and blend the cubes back into one volume.

The NeuCuDa pipeline segments neuron stacks in cubes of ``32 x 128 x 128`` (``Z, Y, X``). Cubes
overlap (25 % by default); the last cube along an axis is moved back inside the stack so every cube
is whole; an axis shorter than the cube is padded (edge values) and the padding cropped away again.
Predictions are blended with a Gaussian importance map (MONAI's choice), normalised by the summed
weights, so a voxel's result is a weighted mean over the cubes that contain it: when the predictor
is local the reassembled volume equals predicting the stack whole.

Memory: :func:`sliding_window_segment` reads cubes from any sliceable array (NumPy, memmap, zarr,
a lazily read TIFF) and keeps only one slab of ``cube_z x Y x X`` accumulators; finished slabs are
written to the output arrays (which may be zarr arrays on disk), so the stack never has to fit in
memory.

Example:
    >>> import numpy as np
    >>> from medwave.neuron.cubes import partition, sliding_window_segment
    >>> len(partition((40, 200, 130), cube=(32, 128, 128), overlap=0.25))  # 2 x 2 x 2
    8
    >>> x = np.random.default_rng(0).random((40, 200, 130), dtype=np.float32)
    >>> prob, mask = sliding_window_segment(x, lambda b: b[:, 0], progress=False)
    >>> bool(np.allclose(prob, x))
    True
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Optional, Sequence

import numpy as np

from medwave.utils.errors import OptionError

from medwave.utils.progress import progress_bar

__all__ = ["axis_starts", "partition", "gaussian_weight", "sliding_window_segment", "DEFAULT_CUBE", "Predictor"]

DEFAULT_CUBE = (32, 128, 128)

#: ``predictor(batch)``: ``batch`` is ``(B, 1, *cube)`` float32; returns the foreground probability ``(B, *cube)``.
Predictor = Callable[[np.ndarray], np.ndarray]
#: Memory one cube voxel costs in the network (an upper bound used to refuse oversized cubes before allocating).
CUBE_BYTES_PER_VOXEL = 256


def _check(shape: Sequence[int], cube: Sequence[int], overlap: float) -> tuple[tuple[int, ...], tuple[int, ...]]:
    shape = tuple(int(s) for s in shape)
    cube = tuple(int(c) for c in cube)
    if len(cube) != len(shape):
        raise OptionError("cube", cube, f": give one size per stack axis (stack shape {shape}).")
    if any(c < 1 for c in cube):
        raise OptionError("cube", cube, ": every cube size must be at least 1 voxel (Z, Y, X), e.g. 32 128 128.")
    if any(s < 1 for s in shape):
        raise ValueError(f"the stack is empty (shape {shape}); nothing to segment.")
    if not 0.0 <= overlap < 1.0:
        raise OptionError("overlap", overlap, ": the cube overlap must be a fraction in [0, 1).")
    from medwave.io.guard import check_memory

    # the network's activations on one cube: about 256 bytes per voxel (float32, up to 64 feature maps alive)
    check_memory(float(np.prod(cube, dtype=np.float64)) * CUBE_BYTES_PER_VOXEL, f"cube {cube}",
                 "segmenting one cube of this size")
    return shape, cube


def axis_starts(n: int, c: int, overlap: float) -> list[int]:
    """Start indices of cubes of size ``c`` covering ``n`` voxels with fractional ``overlap``.

    The stride is ``c - round(c * overlap)`` (at least 1); the last cube is moved back inside so it
    ends at ``n``. An axis shorter than the cube gets one cube at 0 (padded later).
    """
    if n <= c:
        return [0]
    stride = max(1, c - int(round(c * overlap)))
    starts = list(range(0, n - c, stride))
    if not starts or starts[-1] != n - c:
        starts.append(n - c)
    return starts


def partition(shape: Sequence[int], cube: Sequence[int] = DEFAULT_CUBE, overlap: float = 0.25) -> list[tuple[slice, ...]]:
    """The cubes covering a stack, as tuples of slices (clipped to the stack for short axes).

    Args:
        shape: Stack shape ``(Z, Y, X)`` (any number of axes).
        cube: Cube size per axis.
        overlap: Fraction of a cube shared with its neighbour along each axis.

    Returns:
        Slices in C order (z-start slowest), every voxel covered at least once.
    """
    shape, cube = _check(shape, cube, overlap)
    per_axis = [[slice(s, min(s + c, n)) for s in axis_starts(n, c, overlap)] for n, c in zip(shape, cube)]
    return [tuple(p) for p in itertools.product(*per_axis)]


def gaussian_weight(cube: Sequence[int], sigma_scale: float = 0.125, min_weight: float = 1e-3) -> np.ndarray:
    """Separable Gaussian importance map of a cube (peak 1, ``sigma = sigma_scale * size``), floored at ``min_weight``."""
    w = np.ones((), np.float32)
    for c in cube:
        x = np.arange(c, dtype=np.float64) - (c - 1) / 2.0
        g = np.exp(-0.5 * (x / max(sigma_scale * c, 1e-6)) ** 2)
        w = np.multiply.outer(w, (g / g.max()).astype(np.float32))
    return np.maximum(w, min_weight).astype(np.float32)


def _read(stack: Any, sl: tuple[slice, ...], cube: tuple[int, ...]) -> np.ndarray:
    block = np.asarray(stack[sl], dtype=np.float32)
    pad = [(0, c - b) for c, b in zip(cube, block.shape)]
    if any(p[1] for p in pad):
        block = np.pad(block, pad, mode="edge")
    return block


def sliding_window_segment(
    stack: Any,
    predictor: Predictor,
    *,
    cube: Sequence[int] = DEFAULT_CUBE,
    overlap: float = 0.25,
    threshold: float = 0.5,
    batch_size: int = 1,
    prob_out: Any = None,
    mask_out: Any = None,
    progress: bool = True,
    sigma_scale: float = 0.125,
) -> tuple[Any, Any]:
    """Predict a 3D stack cube by cube and blend the cubes into a probability volume and a mask.

    Args:
        stack: ``(Z, Y, X)`` array-like supporting slicing (NumPy array, memmap, zarr array, lazily
            read TIFF); cubes are read one at a time.
        predictor: Maps a float32 batch ``(B, 1, *cube)`` to foreground probabilities ``(B, *cube)``.
        cube: Cube size ``(Z, Y, X)`` (default 32 x 128 x 128, as NeuCuDa).
        overlap: Fraction of overlap between neighbouring cubes (default 0.25).
        threshold: Probability above which a voxel is foreground in the mask.
        batch_size: Cubes per predictor call.
        prob_out: Optional array of the stack's shape receiving the probabilities (e.g. a zarr
            array on disk, float); allocated in memory (float32) when None.
        mask_out: Optional array of the stack's shape receiving the mask (bool/uint8); allocated when None.
        progress: Show a progress bar over cubes.
        sigma_scale: Width of the Gaussian blending weights relative to the cube.

    Returns:
        ``(prob_out, mask_out)``.

    Raises:
        ValueError: The stack is not 3D, bad cube/overlap, or the predictor returns a wrong shape.
    """
    shape = tuple(int(s) for s in stack.shape)
    if len(shape) != 3:
        raise ValueError(f"sliding_window_segment needs a 3D (Z, Y, X) stack, got shape {shape}.")
    shape, cube = _check(shape, cube, overlap)
    if prob_out is None:
        prob_out = np.zeros(shape, np.float32)
    if mask_out is None:
        mask_out = np.zeros(shape, bool)
    for name, arr in (("prob_out", prob_out), ("mask_out", mask_out)):
        if tuple(arr.shape) != shape:
            raise ValueError(f"{name} has shape {tuple(arr.shape)}, the stack {shape}.")
    weight = gaussian_weight(cube, sigma_scale)
    zs = axis_starts(shape[0], cube[0], overlap)
    ys = axis_starts(shape[1], cube[1], overlap)
    xs = axis_starts(shape[2], cube[2], overlap)
    depth = min(cube[0], shape[0])
    acc = np.zeros((depth,) + shape[1:], np.float32)
    wsum = np.zeros_like(acc)
    bar = progress_bar(total=len(zs) * len(ys) * len(xs), desc="cubes", enabled=progress)

    def flush(z0: int, z1: int) -> None:
        # rows [z0, z1) are final: normalise in place, write out, then shift the slab buffers
        n = z1 - z0
        np.maximum(wsum[:n], 1e-12, out=wsum[:n])
        np.divide(acc[:n], wsum[:n], out=acc[:n])
        prob_out[z0:z1] = acc[:n]
        mask_out[z0:z1] = acc[:n] > threshold
        if n < depth:
            acc[: depth - n] = acc[n:]
            wsum[: depth - n] = wsum[n:]
        acc[depth - n:] = 0
        wsum[depth - n:] = 0

    try:
        for zi, z0 in enumerate(zs):
            slabs = [(z0, y0, x0) for y0 in ys for x0 in xs]
            for b in range(0, len(slabs), max(1, batch_size)):
                group = slabs[b: b + max(1, batch_size)]
                sls = [tuple(slice(s, min(s + c, n)) for s, c, n in zip(st, cube, shape)) for st in group]
                batch = np.stack([_read(stack, sl, cube) for sl in sls])[:, None]
                pred = np.asarray(predictor(batch), dtype=np.float32)
                if pred.shape != (len(group),) + cube:
                    raise ValueError(
                        f"predictor returned shape {pred.shape}; expected {(len(group),) + cube} (foreground probability per cube)."
                    )
                for sl, pr in zip(sls, pred):
                    ext = tuple(s.stop - s.start for s in sl)
                    crop = tuple(slice(0, e) for e in ext)
                    dst = (slice(0, ext[0]), sl[1], sl[2])
                    acc[dst] += pr[crop] * weight[crop]
                    wsum[dst] += weight[crop]
                bar.update(len(group))
            z_next = zs[zi + 1] if zi + 1 < len(zs) else shape[0]
            flush(z0, z_next)
    finally:
        bar.close()
    return prob_out, mask_out
