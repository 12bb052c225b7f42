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
    """Wavelet shrinkage of one image -> ``denoised.nii.gz`` (or the input's format)."""
    import numpy as np
    import torch

    from medwave.io import Image, check_finite_image, load_image, save_image
    from medwave.transforms import denoise_volume

    src = Path(inputs["image"])
    img = load_image(src, allow_complex=False, purpose="denoise")  # refused by name, as `medwave denoise` does
    check_finite_image(img, src.name)
    arr = np.asarray(img.array, dtype=np.float32)
    shape = arr.shape
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3, 4):
        raise ValueError(f"{src.name} is {arr.ndim}D {shape}; denoise needs a 2D image or a 3D volume (or 4D series).")
    t0 = time.perf_counter()
    kw = {k: options[k] for k in ("wavelet", "levels", "method", "mode", "sigma") if options.get(k) is not None}
    vols = [arr] if arr.ndim < 4 else [arr[..., v] for v in range(arr.shape[3])]
    outs, sig = [], []
    for v in vols:
        out, s = denoise_volume(torch.from_numpy(np.ascontiguousarray(v)), return_sigma=True, **kw)
        outs.append(out.cpu().numpy())
        sig.append(float(np.asarray(s.cpu()).ravel()[0]))
    y = outs[0] if arr.ndim < 4 else np.stack(outs, axis=-1)
    y = y.reshape(shape)
    ext = ".nii.gz" if src.name.lower().endswith((".nii", ".nii.gz")) else "".join(src.suffixes[-1:]) or ".nii.gz"
    save_image(Image(y, affine=img.affine, meta=dict(img.meta)), outdir / f"denoised{ext}", overwrite=True,
               inputs=[src], vector=False)
    return {"shape": "x".join(map(str, shape)), "sigma": round(float(np.mean(sig)), 6),
            "seconds": round(time.perf_counter() - t0, 4)}


def run_register(inputs: dict, outdir: Path, options: dict) -> dict:
    """Deformable registration of one pair -> warped/ddf/jacdet(/warped_seg).nii.gz + metrics.json."""
    from medwave.registration.api import DEFAULT_ITERATIONS, DEFAULT_SMOOTHNESS, _load_net, register

    weights = options.get("weights")
    device = options.get("device", "cpu")
    if weights is not None:
        weights = cached_model(("winet", _weights_key(weights), device), lambda: _load_net(weights, device))
    res = register(inputs["fixed"], inputs["moving"], weights=weights, optimize=options.get("optimize", True),
                   iterations=options.get("iterations", DEFAULT_ITERATIONS), affine=options.get("affine", False),
                   moving_seg=inputs.get("moving_seg"), fixed_seg=inputs.get("fixed_seg"),
                   smoothness=options.get("smoothness", DEFAULT_SMOOTHNESS), device=device, seed=options.get("seed", 0),
                   progress=False)
    res.metrics["inputs"] = {k: inputs.get(k) for k in ("fixed", "moving", "moving_seg", "fixed_seg")}
    res.save(outdir, overwrite=True)
    return _scalars(res.metrics, ("folding_percent", "sdlogj", "dice_mean_before", "dice_mean", "total_seconds"))


def run_segment_neurons(inputs: dict, outdir: Path, options: dict) -> dict:
    """Neuron segmentation and tracing of one stack -> probability/mask (NIfTI or TIFF) + neuron.swc."""
    import numpy as np

    from medwave.neuron.api import segment_neurons
    from medwave.neuron.model import load_model
    from medwave.neuron.stacks import open_stack, write_volume

    weights = options.get("weights")
    device = options.get("device", "cpu")
    model = cached_model(("neuron", _weights_key(weights), device), lambda: load_model(weights, device))
    stack = open_stack(inputs["image"])
    kw = {}
    if options.get("cube"):
        kw["cube"] = tuple(options["cube"])
    res = segment_neurons(stack, weights=model, device=device, trace=options.get("trace", True), progress=False,
                          threshold=options.get("threshold"), **kw)
    ext = ".nii.gz" if stack.kind == "nifti" else ".tif"
    write_volume(np.asarray(res.probability, np.float32), outdir / f"probability{ext}", like=stack, overwrite=True)
    write_volume(np.asarray(res.mask, np.uint8), outdir / f"mask{ext}", like=stack, overwrite=True)
    nodes = None
    if res.swc is not None:
        from medwave.neuron.swc import write_swc
        from medwave.utils import atomic_path

        with atomic_path(outdir / "neuron.swc") as tmp:
            write_swc(res.swc, tmp)
        nodes = len(res.swc.edges()) + 1 if len(res.swc.edges()) else 0
    return {"shape": "x".join(map(str, stack.shape)), "cubes": res.n_cubes,
            "foreground_fraction": round(float(np.mean(np.asarray(res.mask))), 6), "swc_edges": nodes and nodes - 1,
            "seconds": round(res.seconds, 4)}


def run_gaze(inputs: dict, outdir: Path, options: dict) -> dict:
    """GEM gaze prediction for one radiograph and its report sentence(s) (GEM weights cached per process)."""
    from medwave.gaze.api import load_gem, predict_gaze, save_summary

    t0 = time.perf_counter()
    device = options.get("device", "cpu")
    load_gem(options.get("weights"), device=device)  # lru-cached per process in medwave.gaze.api
    sentences = list(inputs["report"])
    results = predict_gaze(inputs["image"], sentences, weights=options.get("weights"), k=options.get("k", 8),
                           device=device)
    prefixes = ["gaze"] if len(results) == 1 else [f"gaze_{i:02d}" for i in range(len(results))]
    files = [r.save(outdir, prefix=p, overwrite=True) for r, p in zip(results, prefixes)]
    save_summary(outdir / "summary.json", results, files)
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
            import nibabel as nib

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
