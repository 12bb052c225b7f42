"""``segment_neurons``: the functional core of 3D-WaveUNet neuron segmentation.

A stack is normalised (robust percentiles of the whole stack, so every cube sees the same scale),
cut into overlapping cubes, each cube segmented by the 3D-WaveUNet, the cubes blended back into a
foreground probability and a mask, and the mask traced into an SWC. The CLI
(``medwave segment-neurons``), the napari widget and notebooks call this function.

Weights: by default the small model shipped in ``medwave/neuron/weights/`` (trained by
``medwave train-neurons`` on synthetic neurons only, see the README there); pass ``weights=`` a
checkpoint of your own (``model.pt`` from ``medwave train-neurons``) or a ``torch.nn.Module``.

Example:
    >>> import numpy as np
    >>> from medwave.neuron.synthetic import synthetic_neuron
    >>> from medwave import segment_neurons
    >>> s = synthetic_neuron((32, 96, 96), seed=1)
    >>> r = segment_neurons(s.stack, cube=(32, 64, 64), progress=False)  # doctest: +SKIP
    >>> r.probability.shape, r.mask.dtype, len(r.swc) > 0  # doctest: +SKIP
    ((32, 96, 96), dtype('bool'), True)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Sequence, Union

import numpy as np
import torch

from medwave.neuron.cubes import DEFAULT_CUBE, sliding_window_segment
from medwave.neuron.model import DEFAULT_WEIGHTS, NeuronModel, load_default_model, load_model, make_predictor, normalize_params
from medwave.neuron.stacks import Stack, open_stack, stack_from_image
from medwave.neuron.swc import SWC
from medwave.utils.errors import OptionError

__all__ = ["segment_neurons", "load_default_model", "make_predictor", "NeuronSegmentation", "DEFAULT_WEIGHTS"]

PathLike = Union[str, os.PathLike]
OutputFormat = Literal["auto", "tiff", "nifti", "zarr"]
_EXT = {"tiff": ".tif", "nifti": ".nii.gz", "zarr": ".zarr"}
_BIG = 512 * 1024**2  # bytes of a float32 probability above which "auto" writes zarr


@dataclass
class NeuronSegmentation:
    """Result of :func:`segment_neurons`.

    Attributes:
        probability: ``(Z, Y, X)`` foreground probability (float32 array, or the ``prob_out`` array given).
        mask: ``(Z, Y, X)`` boolean mask (or the ``mask_out`` array given).
        swc: Traced neuron (physical coordinates by default, voxel indices with ``swc_units="voxel"``;
            ``x`` = last stack axis), or None with ``trace=False``.
        stack: The input and its metadata (spacing, affine, path).
        normalization: ``(lo, hi)`` intensity range mapped to ``[0, 1]``.
        n_cubes: Number of cubes predicted.
        seconds: Wall time of segmentation and tracing.
    """

    probability: Any
    mask: Any
    swc: Optional[SWC]
    stack: Stack
    normalization: tuple[float, float]
    n_cubes: int
    seconds: float
    info: dict = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, Any]:
        """What the run did, JSON-ready (``summary.json``; one row of a batch ``summary.csv``)."""
        n_edges = len(self.swc.edges()) if self.swc is not None else None
        fg = sum(int(np.count_nonzero(np.asarray(self.mask[z]))) for z in range(int(self.mask.shape[0])))
        # one axis convention in what the user reads (as `medwave info`): x, y, z; TIFF stacks have no orientation
        return {"stack": str(self.stack.path) if self.stack.path is not None else None, "axes": "x, y, z",
                "shape": [int(v) for v in self.stack.shape[::-1]], "spacing": [float(v) for v in self.stack.spacing[::-1]],
                "unit": self.stack.unit or "pixel", "swc_units": self.info.get("swc_units"),
                "cubes": int(self.n_cubes), "seconds": round(float(self.seconds), 3), "foreground_voxels": fg,
                "normalization": [float(v) for v in self.normalization], "threshold": self.info.get("threshold"),
                "swc_nodes": int(len(self.swc)) if self.swc is not None else None, "swc_edges": n_edges}

    def output_format(self, format: OutputFormat = "auto") -> str:
        """The format :meth:`save` uses: ``auto`` is zarr for zarr inputs, for results already held in zarr
        (``prob_out``) and for stacks over 512 MB as float32, NIfTI for NIfTI inputs, else TIFF."""
        if format != "auto":
            return format
        big = int(np.prod(self.stack.shape)) * 4 > _BIG
        if self.stack.kind == "zarr" or big or not isinstance(self.probability, np.ndarray):
            return "zarr"
        return "nifti" if self.stack.kind == "nifti" else "tiff"

    def output_paths(self, outdir: PathLike, format: OutputFormat = "auto") -> dict[str, Path]:
        """The files :meth:`save` writes: ``probability``, ``mask`` (extension by format), ``swc``
        (``neuron.swc``, when traced) and ``summary`` (``summary.json``)."""
        out = Path(outdir).expanduser()
        ext = _EXT[self.output_format(format)]
        paths = {"probability": out / f"probability{ext}", "mask": out / f"mask{ext}"}
        if self.swc is not None:
            paths["swc"] = out / "neuron.swc"
        paths["summary"] = out / "summary.json"
        return paths

    def save(self, outdir: PathLike, *, overwrite: bool = False, format: OutputFormat = "auto") -> dict[str, Path]:
        """Write the probability, the mask (on the input's grid: NIfTI affine, TIFF spacing), the SWC and
        ``summary.json`` into ``outdir``, each atomically; every output is checked before any is written.

        zarr outputs are written chunk by chunk; results computed into zarr temporaries made by
        :func:`medwave.neuron.stacks.create_zarr` beside ``outdir/probability.zarr`` (what ``medwave
        segment-neurons`` does for big stacks) are moved into place instead of copied.

        Args:
            outdir: Output folder (created).
            overwrite: Replace existing outputs (the input stack is never overwritten).
            format: ``"auto"`` (see :meth:`output_format`), ``"tiff"``, ``"nifti"`` or ``"zarr"``.

        Returns:
            The written paths (keys as :meth:`output_paths`).

        Raises:
            FileExistsError: An output exists and ``overwrite`` is False.
            ValueError: An output is the input.
        """
        import json

        from medwave.neuron.stacks import write_volume
        from medwave.utils.atomic import atomic_write_bytes, check_output_path

        fmt = self.output_format(format)
        if fmt not in _EXT:
            raise ValueError(f"format={format!r}: use 'auto', 'tiff', 'nifti' or 'zarr'.")
        paths = self.output_paths(outdir, fmt)
        for t in paths.values():
            check_output_path(t, overwrite=overwrite, inputs=[self.stack.path])
        Path(outdir).expanduser().mkdir(parents=True, exist_ok=True)
        for key, arr, dtype in (("probability", self.probability, np.float32), ("mask", self.mask, np.uint8)):
            if fmt == "zarr":
                _save_zarr(arr, paths[key], dtype, self.stack)
            else:
                write_volume(np.asarray(arr[...], dtype=dtype), paths[key], like=self.stack, overwrite=True)
        if self.swc is not None:
            from medwave.neuron.swc import write_swc
            from medwave.utils.atomic import atomic_path

            with atomic_path(paths["swc"]) as tmp:
                write_swc(self.swc, tmp)
        summary = dict(self.summary, outputs={k: str(v) for k, v in paths.items()})
        atomic_write_bytes(paths["summary"], (json.dumps(summary, indent=1) + "\n").encode())
        return paths


def _zarr_folder(arr: Any) -> Optional[Path]:
    """The folder of a zarr array stored on the local disk (zarr 2 and 3), else None."""
    store = getattr(arr, "store", None)
    for attr in ("root", "path", "dir_path"):
        v = getattr(store, attr, None)
        v = v() if callable(v) else v
        if v:
            return Path(str(v))
    return None


def _save_zarr(arr: Any, target: Path, dtype: Any, stack: Stack) -> Path:
    """Write ``arr`` as the zarr array ``target``: move it there if it is a temporary made for ``target``,
    else copy it slab by slab into a new temporary and move that."""
    from medwave.neuron.stacks import create_zarr, finalize_zarr

    folder = _zarr_folder(arr)
    attrs = {"spacing": [float(v) for v in stack.spacing], "axes": "ZYX", "source": str(stack.path),
             "unit": stack.unit, "affine": stack.grid_affine().tolist()}
    if not (folder is not None and folder.parent == target.parent and folder.name.startswith(f".{target.name}.")):
        z, folder = create_zarr(target, tuple(int(v) for v in arr.shape), np.dtype(dtype).str, overwrite=True)
        step = int(z.chunks[0])
        for z0 in range(0, int(arr.shape[0]), step):
            z[z0:z0 + step] = np.asarray(arr[z0:z0 + step], dtype=dtype)
        arr = z
    arr.attrs.update(attrs)
    return finalize_zarr(folder, target)


def _as_stack(stack: Any) -> Stack:
    """Any accepted input as a ``(Z, Y, X)`` :class:`Stack`.

    Paths are opened lazily (:func:`~medwave.neuron.stacks.open_stack`); NumPy arrays and plain tensors are
    ``(Z, Y, X)`` (the order tifffile reads a stack in); nibabel images, :class:`medwave.io.Image` and MONAI
    MetaTensors (channel first, x-first spatial axes) go through :func:`medwave.io.as_image`, the one
    conversion every front door uses, and keep their spacing and affine. Other sliceable arrays (zarr, dask)
    are used as they are, ``(Z, Y, X)``.
    """
    from medwave.io import as_image
    from medwave.io.convert import is_path

    if isinstance(stack, Stack):
        return stack
    if is_path(stack):
        return open_stack(stack)
    try:
        img = as_image(stack, name="stack", array_order="zyx")
    except TypeError:
        img = None
    if img is not None:
        if img.array.ndim != 3:
            raise ValueError(f"segment_neurons needs one 3D (Z, Y, X) stack, got an image of shape "
                             f"{tuple(np.shape(stack))} ({img.array.ndim} axes after dropping the channel axis).")
        return stack_from_image(img, name="stack")
    if hasattr(stack, "shape") and hasattr(stack, "__getitem__"):
        if len(stack.shape) != 3:
            raise ValueError(f"segment_neurons needs a 3D (Z, Y, X) stack, got shape {tuple(stack.shape)}.")
        return Stack(stack, "array")
    raise TypeError(f"stack must be a path, an array, a nibabel image, a medwave.io.Image, a MetaTensor or a Stack, "
                    f"got {type(stack).__name__}.")


def swc_units_note(stack: Stack, units: str) -> str:
    """The SWC comment line saying what the coordinates are."""
    if units == "voxel":
        return " coordinates: voxel indices (x = last stack axis, z = first); radius in voxels of the finest axis"
    unit = stack.unit or "pixel (the stack has no unit)"
    world = "RAS world of the input affine" if stack.kind == "nifti" else "the stack's physical grid"
    return f" coordinates: physical, {unit} ({world}); radius in {stack.unit or 'pixels'}"


def _trace(mask: np.ndarray, st: Stack, units: str, trace_kwargs: Optional[dict]) -> SWC:
    """Trace ``mask`` with the stack's anisotropy, return the SWC in physical or voxel coordinates."""
    from medwave.neuron.trace import trace_mask

    sp = np.asarray(st.spacing, dtype=np.float64)  # (sz, sy, sx)
    finest = float(sp.min()) if np.all(sp > 0) else 1.0
    rel = sp / finest  # tracing lengths stay in voxels of the finest axis, so defaults fit any unit
    swc = trace_mask(mask, spacing=tuple(rel), **(trace_kwargs or {}))
    if len(swc) == 0:
        return swc
    from medwave.neuron.swc import swc_to_physical

    nodes = swc.nodes.copy()
    nodes[:, 2:5] = nodes[:, 2:5] / rel[::-1]  # x, y, z voxel indices
    vox = SWC(nodes, swc.comments)
    return vox if units == "voxel" else swc_to_physical(vox, st.grid_affine())


def _raise_not_finite(name: str, bad: int, where: str = "") -> None:
    where = f" {where}" if where else ""
    raise ValueError(
        f"{name} has {bad} NaN/Inf voxel(s){where}; replace them first (e.g. numpy.nan_to_num) and segment again."
    )


def _check_finite(data: Any, name: str) -> None:
    """Raise a ValueError naming ``name`` if ``data`` (read slab by slab) has NaN/Inf voxels."""
    bad = 0
    for z in range(int(data.shape[0])):
        sl = np.asarray(data[z])
        bad += int(sl.size - np.count_nonzero(np.isfinite(sl)))
    if bad:
        _raise_not_finite(name, bad)


def segment_neurons(
    stack: Any,
    *,
    weights: Union[None, str, os.PathLike, torch.nn.Module, NeuronModel] = None,
    cube: Sequence[int] = DEFAULT_CUBE,
    overlap: float = 0.25,
    device: str = "cpu",
    seed: Optional[int] = None,
    trace: bool = True,
    progress: bool = True,
    threshold: Optional[float] = None,
    batch_size: int = 1,
    prob_out: Any = None,
    mask_out: Any = None,
    trace_kwargs: Optional[dict] = None,
    swc_units: Literal["physical", "voxel"] = "physical",
) -> NeuronSegmentation:
    """Segment (and trace) the neurons of a light-microscopy stack.

    Args:
        stack: ``(Z, Y, X)`` array (NumPy, zarr, anything sliceable), a :class:`~medwave.neuron.stacks.Stack`,
            a path (TIFF read lazily, zarr, NIfTI), or a nibabel image, :class:`medwave.io.Image` or MONAI
            MetaTensor ``(1, X, Y, Z)`` (x first, read by :func:`medwave.io.as_image`). Never modified.
        weights: Model weights: None (shipped), a ``model.pt`` path, a module, or a
            :class:`~medwave.neuron.model.NeuronModel` (see :func:`medwave.neuron.model.load_model`).
        cube: Cube size ``(Z, Y, X)`` (NeuCuDa: 32 x 128 x 128).
        overlap: Overlap between neighbouring cubes (fraction, default 0.25).
        device: ``"cpu"``, ``"cuda"``, ...
        seed: Unused (inference and tracing are deterministic); present so every front door has the same
            signature ``(inputs, *, weights, device, seed, progress)``.
        trace: Trace the mask into an SWC (needs the mask in memory).
        progress: Progress bar over cubes.
        threshold: Foreground probability threshold of the mask; None uses the threshold stored in
            the checkpoint (calibrated on held-out data by ``medwave train-neurons``), else 0.5.
        batch_size: Cubes per forward pass.
        prob_out: Optional array (e.g. zarr on disk) receiving the probabilities chunk by chunk.
        mask_out: Optional array receiving the mask.
        trace_kwargs: Options of :func:`medwave.neuron.trace.trace_mask` (lengths in voxels of the finest axis;
            the tracing follows the stack's anisotropy).
        swc_units: ``"physical"`` (default): SWC ``x, y, z`` and radii in the stack's unit (um for
            TIFF, mm RAS world for NIfTI; voxel index times spacing plus origin), or ``"voxel"``: voxel
            indices. The SWC's comment lines and ``result.info["swc_units"]`` say which.

    Returns:
        A :class:`NeuronSegmentation`; ``.save(outdir)`` writes it.

    Raises:
        FileNotFoundError: Missing stack or weights.
        ValueError: Not a 3D stack, bad cube/overlap/threshold/batch size, unreadable file, NaN/Inf voxels
            (named with the stack's path; found before any work for in-memory stacks, while reading
            cubes for lazily read ones, before any output is written).
    """
    t0 = time.time()
    if swc_units not in ("physical", "voxel"):
        raise OptionError("swc_units", swc_units, ": use 'physical' (the stack's unit, default) or 'voxel'.")
    from medwave.utils.validate import segment_options

    opts = segment_options(cube=cube, overlap=overlap, threshold=threshold, batch_size=batch_size)
    cube, overlap, batch_size = opts["cube"], opts["overlap"], opts["batch_size"]
    threshold = opts.get("threshold")
    st = _as_stack(stack)
    if len(st.shape) != 3:
        raise ValueError(f"segment_neurons needs a 3D (Z, Y, X) stack, got shape {st.shape}.")
    from medwave.neuron.cubes import partition

    n_cubes = len(partition(st.shape, cube, overlap))
    name = str(st.path) if st.path is not None else "the stack"
    dtype = np.dtype(getattr(st.data, "dtype", np.float32))
    if dtype.kind == "c":
        raise ValueError(f"{name} has complex voxels ({dtype}); segmentation needs real intensities. Save the "
                         f"magnitude (numpy.abs) as the stack.")
    if dtype.kind not in "biuf":
        raise ValueError(f"{name} has voxels of type {dtype}, not numbers; segment_neurons needs a numeric stack.")
    floating = np.issubdtype(dtype, np.floating)
    if floating and isinstance(st.data, np.ndarray):
        _check_finite(st.data, name)  # in memory: one cheap pass before any work
    loaded = load_model(weights, device)
    model = loaded.module
    if threshold is None:
        threshold = loaded.threshold
    lo, hi = normalize_params(st.data)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        _check_finite(st.data, name)
    predictor = make_predictor(model, lo, hi, device)
    if floating and not isinstance(st.data, np.ndarray):
        # read lazily (TIFF, zarr): every voxel passes through some cube, so checking the cubes finds any NaN/Inf
        inner = predictor

        def predictor(batch: np.ndarray) -> np.ndarray:
            if not np.isfinite(batch).all():
                _raise_not_finite(name, int(batch.size - np.count_nonzero(np.isfinite(batch))), "in one cube batch")
            return inner(batch)
    prob, mask = sliding_window_segment(
        st.data, predictor, cube=cube, overlap=overlap, threshold=threshold, batch_size=batch_size,
        prob_out=prob_out, mask_out=mask_out, progress=progress,
    )
    swc = None
    if trace:
        m = np.asarray(mask[...]).astype(bool)
        swc = _trace(m, st, swc_units, trace_kwargs)
        src = f" source: {st.path}" if st.path else " source: in-memory stack"
        swc.comments = [" traced by medwave segment-neurons (3D-WaveUNet)", src, swc_units_note(st, swc_units)]
    info = {"threshold": threshold, "swc_units": swc_units if trace else None, "unit": st.unit,
            "spacing_xyz": [float(v) for v in st.spacing[::-1]]}
    return NeuronSegmentation(prob, mask, swc, st, (lo, hi), n_cubes, time.time() - t0, info)
