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
from medwave.neuron.stacks import Stack, open_stack
from medwave.neuron.swc import SWC
from medwave.utils.errors import OptionError

__all__ = ["segment_neurons", "load_default_model", "make_predictor", "NeuronSegmentation", "DEFAULT_WEIGHTS"]

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "waveunet_synthetic.pt"
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
        swc: Traced neuron (voxel coordinates, ``x`` = last axis), or None with ``trace=False``.
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
        return {"stack": str(self.stack.path) if self.stack.path is not None else None,
                "shape": [int(v) for v in self.stack.shape], "spacing_zyx": [float(v) for v in self.stack.spacing],
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
    attrs = {"spacing": [float(v) for v in stack.spacing], "axes": "ZYX", "source": str(stack.path)}
    if not (folder is not None and folder.parent == target.parent and folder.name.startswith(f".{target.name}.")):
        z, folder = create_zarr(target, tuple(int(v) for v in arr.shape), np.dtype(dtype).str, overwrite=True)
        step = int(z.chunks[0])
        for z0 in range(0, int(arr.shape[0]), step):
            z[z0:z0 + step] = np.asarray(arr[z0:z0 + step], dtype=dtype)
        arr = z
    arr.attrs.update(attrs)
    return finalize_zarr(folder, target)


def load_default_model(weights: Union[None, str, os.PathLike, torch.nn.Module] = None, device: str = "cpu") -> torch.nn.Module:
    """Load a segmentation model in eval mode.

    Args:
        weights: None (the shipped synthetic-trained model), a checkpoint path written by
            ``medwave train-neurons`` (``model.pt`` or ``last.pt``), or a module (returned as is).
        device: Torch device.

    Raises:
        FileNotFoundError: The checkpoint does not exist.
        ValueError: The file is not a medwave neuron checkpoint.
    """
    if isinstance(weights, torch.nn.Module):
        return weights.to(device).eval()
    from medwave.neuron.train import build_model

    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    if not path.exists():
        hint = " (the shipped default weights are missing from this installation; train some with `medwave train-neurons`)" if weights is None else ""
        raise FileNotFoundError(f"{path}: no such weights file{hint}.")
    try:
        ck = torch.load(path, map_location=device, weights_only=False)
        model = build_model(ck["model_config"])
        model.load_state_dict(ck["state_dict"])
        model.medwave_threshold = float(ck.get("threshold", 0.5))
    except Exception as exc:  # pickle, zip and key errors of foreign files
        raise ValueError(
            f"{path}: not a medwave neuron checkpoint ({type(exc).__name__}: {exc}); use a model.pt written by "
            "`medwave train-neurons`."
        ) from exc
    return model.to(device).eval()


def make_predictor(model: torch.nn.Module, lo: float, hi: float, device: str = "cpu"):
    """Wrap a 2-class model as a cube predictor: normalise, run, softmax, return the foreground channel."""
    scale = 1.0 / max(hi - lo, 1e-12)

    def predict(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(((batch - lo) * scale).astype(np.float32, copy=False)).to(device)
        with torch.inference_mode():
            logits = model(x)
            if logits.shape[1] == 1:
                p = torch.sigmoid(logits[:, 0])
            else:
                p = torch.softmax(logits, dim=1)[:, 1]
        return p.float().cpu().numpy()

    return predict


def _as_stack(stack: Any) -> Stack:
    if isinstance(stack, Stack):
        return stack
    if isinstance(stack, (str, os.PathLike)):
        return open_stack(stack)
    if hasattr(stack, "shape") and hasattr(stack, "__getitem__"):
        if len(stack.shape) != 3:
            raise ValueError(f"segment_neurons needs a 3D (Z, Y, X) stack, got shape {tuple(stack.shape)}.")
        return Stack(stack, "array")
    raise TypeError(f"stack must be a path, an array or a Stack, got {type(stack).__name__}.")


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
    weights: Union[None, str, os.PathLike, torch.nn.Module] = None,
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
) -> NeuronSegmentation:
    """Segment (and trace) the neurons of a light-microscopy stack.

    Args:
        stack: ``(Z, Y, X)`` array (NumPy, zarr, anything sliceable), a :class:`~medwave.neuron.stacks.Stack`,
            or a path (TIFF read lazily, zarr, NIfTI).
        weights: Model weights (see :func:`load_default_model`).
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
        trace_kwargs: Options of :func:`medwave.neuron.trace.trace_mask`.

    Returns:
        A :class:`NeuronSegmentation`; ``.save(outdir)`` writes it.

    Raises:
        FileNotFoundError: Missing stack or weights.
        ValueError: Not a 3D stack, bad cube/overlap/threshold/batch size, unreadable file, NaN/Inf voxels
            (named with the stack's path; found before any work for in-memory stacks, while reading
            cubes for lazily read ones, before any output is written).
    """
    t0 = time.time()
    st = _as_stack(stack)
    if len(st.shape) != 3:
        raise ValueError(f"segment_neurons needs a 3D (Z, Y, X) stack, got shape {st.shape}.")
    from medwave.neuron.cubes import partition
    from medwave.neuron.train import normalize_params

    n_cubes = len(partition(st.shape, cube, overlap))
    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise OptionError("threshold", threshold, ": a foreground probability threshold must be in [0, 1].")
    if int(batch_size) < 1:
        raise OptionError("batch_size", batch_size, ": give at least 1 cube per forward pass.")
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
    model = load_default_model(weights, device)
    if threshold is None:
        threshold = float(getattr(model, "medwave_threshold", 0.5))
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
        from medwave.neuron.trace import trace_mask

        m = np.asarray(mask[...]).astype(bool)
        swc = trace_mask(m, **(trace_kwargs or {}))
        src = f" source: {st.path}" if st.path else " source: in-memory stack"
        swc.comments = [" traced by medwave segment-neurons (3D-WaveUNet)", src,
                        " coordinates: voxels, x = last stack axis"]
    return NeuronSegmentation(prob, mask, swc, st, (lo, hi), n_cubes, time.time() - t0, {"threshold": threshold})
