"""What one batch item does, per task, and the per-process model cache.

Each task function takes the item's inputs, its (empty) output folder and the options, writes its
outputs atomically there and returns a flat dict of metrics (one row of ``summary.csv``).
Models are loaded once per process (:func:`cached_model`), so a Dask worker loads them once for all
the items it runs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Hashable

__all__ = ["TASK_FUNCS", "TASK_MODULES", "cached_model", "configure_threads", "warm_task", "estimate_seconds"]

_MODELS: dict[Hashable, Any] = {}
_THREADS_SET = False


def configure_threads(n: int = 1) -> None:
    """Limit torch/BLAS threads in this process (once) so parallel workers do not oversubscribe cores."""
    global _THREADS_SET
    if _THREADS_SET:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    import torch

    torch.set_num_threads(max(1, int(n)))
    _THREADS_SET = True


def cached_model(key: Hashable, loader: Callable[[], Any]) -> Any:
    """Return the model cached under ``key`` in this process, loading it with ``loader()`` the first time."""
    if key not in _MODELS:
        _MODELS[key] = loader()
    return _MODELS[key]


def _weights_key(weights: Any) -> str:
    if weights is None or weights == "default":
        return str(weights)
    from medwave.io.guard import check_input_file

    p = check_input_file(weights, what="weights file")
    return f"{p.resolve()}@{p.stat().st_mtime}"


def _scalars(d: dict, keys) -> dict:
    return {k: d.get(k) for k in keys if isinstance(d.get(k), (int, float, str, type(None)))}


def run_denoise(inputs: dict, outdir: Path, options: dict) -> dict:
    """Wavelet shrinkage of one image (:func:`medwave.denoise`) -> ``denoised.nii.gz`` (or the input's format)."""
    from medwave.denoise import denoise

    kw = {k: options[k] for k in ("wavelet", "levels", "method", "mode", "sigma", "wavelet_mode", "spatial_dims")
          if options.get(k) is not None}
    res = denoise(inputs["image"], device=options.get("device", "cpu"), progress=False, **kw)
    res.save(outdir, overwrite=True)
    return res.metrics


def run_register(inputs: dict, outdir: Path, options: dict) -> dict:
    """Deformable registration of one pair -> warped/ddf/jacdet(/warped_seg).nii.gz + metrics.json."""
    from medwave.registration.api import DEFAULT_SMOOTHNESS, _load_net, register

    weights = options.get("weights")
    device = options.get("device", "cpu")
    if weights is not None:
        weights = cached_model(("winet", _weights_key(weights), device), lambda: _load_net(weights, device))
    res = register(inputs["fixed"], inputs["moving"], weights=weights, optimize=options.get("optimize", True),
                   iterations=options.get("iterations"), affine=options.get("affine", False),
                   moving_seg=inputs.get("moving_seg"), fixed_seg=inputs.get("fixed_seg"),
                   smoothness=options.get("smoothness", DEFAULT_SMOOTHNESS), device=device, seed=options.get("seed", 0),
                   progress=False)
    res.metrics["inputs"] = {k: inputs.get(k) for k in ("fixed", "moving", "moving_seg", "fixed_seg")}
    res.save(outdir, overwrite=True)
    return _scalars(res.metrics, ("folding_percent", "sdlogj", "dice_mean_before", "dice_mean", "total_seconds"))


def run_segment_neurons(inputs: dict, outdir: Path, options: dict) -> dict:
    """Neuron segmentation and tracing of one stack -> probability/mask (NIfTI or TIFF), neuron.swc, summary.json."""
    import numpy as np

    from medwave.neuron.api import segment_neurons
    from medwave.neuron.model import load_model

    weights = options.get("weights")
    device = options.get("device", "cpu")
    model = cached_model(("neuron", _weights_key(weights), device), lambda: load_model(weights, device))
    kw = {}
    if options.get("cube"):
        kw["cube"] = tuple(options["cube"])
    res = segment_neurons(inputs["image"], weights=model, device=device, trace=options.get("trace", True),
                          progress=False, threshold=options.get("threshold"), **kw)
    res.save(outdir, overwrite=True, format="nifti" if res.stack.kind == "nifti" else "tiff")
    s = res.summary
    return {"shape": "x".join(map(str, s["shape"])), "cubes": s["cubes"],
            "foreground_fraction": round(float(np.mean(np.asarray(res.mask))), 6), "swc_edges": s["swc_edges"],
            "seconds": round(res.seconds, 4)}


def run_gaze(inputs: dict, outdir: Path, options: dict) -> dict:
    """GEM gaze prediction for one radiograph and its report sentence(s) (GEM weights cached per process)."""
    from medwave.gaze.api import load_gem, predict_gaze

    t0 = time.perf_counter()
    device = options.get("device", "cpu")
    load_gem(options.get("weights"), device=device)  # lru-cached per process in medwave.gaze.api
    results = predict_gaze(inputs["image"], list(inputs["report"]), weights=options.get("weights"),
                           k=options.get("k", 8), device=device)
    results.save(outdir, overwrite=True)
    return {"sentences": len(results), "seconds": round(time.perf_counter() - t0, 4)}


TASK_FUNCS: dict[str, Callable[[dict, Path, dict], dict]] = {
    "register": run_register,
    "denoise": run_denoise,
    "segment-neurons": run_segment_neurons,
    "gaze": run_gaze,
}


#: The modules each task imports (what a Dask worker loads once, at start, in :func:`warm_task`).
TASK_MODULES: dict[str, tuple[str, ...]] = {
    "register": ("torch", "medwave.io", "medwave.registration.api"),
    "denoise": ("torch", "medwave.io", "medwave.transforms"),
    "segment-neurons": ("torch", "medwave.neuron.api", "medwave.neuron.stacks", "medwave.neuron.swc"),
    "gaze": ("torch", "medwave.gaze.api"),
}

#: Rough single-thread cost of one item on this project's reference machine: (seconds per item,
#: seconds per million input voxels). Only used to decide whether starting Dask workers pays off.
_COST: dict[str, tuple[float, float]] = {
    "register": (0.3, 12.0),  # 120 instance-optimisation steps; 48^3 pair ~1.3 s
    "denoise": (0.02, 0.4),  # NIfTI gzip read/write dominates
    "segment-neurons": (0.3, 6.0),
    "gaze": (0.5, 0.0),
}


def warm_task(task: str) -> float:
    """Import everything ``task`` needs in this process (run once per Dask worker at start); returns seconds."""
    import importlib

    t0 = time.perf_counter()
    for mod in TASK_MODULES.get(task, ()):
        importlib.import_module(mod)
    return time.perf_counter() - t0


def _voxels(path: str) -> float:
    p = Path(path)
    try:
        if p.name.lower().endswith((".nii", ".nii.gz")):
            from medwave.utils.nibabel_import import import_nibabel

            nib = import_nibabel()
            n = 1.0
            for s in nib.load(str(p)).shape:
                n *= s
            return n
        return p.stat().st_size / 4.0
    except Exception:  # noqa: BLE001 - an unreadable file fails later with a clear message; cost 0 here
        return 0.0


def estimate_seconds(task: str, items) -> float:
    """A rough sequential run time of ``items`` (seconds); ``inf`` for tasks without a cost model (callables)."""
    if not isinstance(task, str) or task not in _COST:
        return float("inf")
    per_item, per_mvox = _COST[task]
    key = "moving" if task == "register" else "image"
    return sum(per_item + per_mvox * _voxels(it.inputs[key]) / 1e6 for it in items)
