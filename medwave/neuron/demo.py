"""End-to-end neuron demo on a synthetic stack (``make demo``): segment, trace, score.

Example:
    >>> from medwave.neuron.demo import run_demo  # doctest: +SKIP
    >>> run_demo("demo_output/neurons")["metrics"]["voxel"]["dice"] > 0.5  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Union

import numpy as np

__all__ = ["run_demo"]


def run_demo(outdir: Union[str, os.PathLike], progress: bool = True, *, seed: int = 2026,
             shape: tuple[int, int, int] = (48, 192, 192)) -> dict:
    """Generate a synthetic neuron stack, segment it with the shipped 3D-WaveUNet, trace and score it.

    Writes to ``outdir``: ``stack.tif`` (input), ``ground_truth.swc``, ``ground_truth_mask.tif``,
    ``probability.tif``, ``mask.tif``, ``neuron.swc`` and ``metrics.json`` (voxel Dice/IoU/precision/
    recall against the ground-truth mask, ESA/DSA/PDS against the ground-truth SWC), and the same
    for an Otsu threshold as a reference.

    Returns:
        A dict with the output paths, metrics and timings.
    """
    import tifffile
    from skimage.filters import threshold_otsu

    from medwave.neuron.api import segment_neurons
    from medwave.neuron.metrics import neuron_distance, voxel_metrics
    from medwave.neuron.stacks import write_volume
    from medwave.neuron.swc import write_swc
    from medwave.neuron.synthetic import synthetic_neuron
    from medwave.utils.atomic import atomic_path

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    s = synthetic_neuron(shape, seed=seed, n_neurons=1)
    paths = {k: out / v for k, v in {
        "stack": "stack.tif", "ground_truth_swc": "ground_truth.swc", "ground_truth_mask": "ground_truth_mask.tif",
        "probability": "probability.tif", "mask": "mask.tif", "swc": "neuron.swc", "metrics": "metrics.json"}.items()}
    with atomic_path(paths["stack"]) as tmp:
        tifffile.imwrite(str(tmp), s.stack, imagej=True, metadata={"axes": "ZYX"})
    write_swc(s.swc, paths["ground_truth_swc"])
    write_volume(s.mask, paths["ground_truth_mask"], overwrite=True)
    res = segment_neurons(s.stack, cube=(32, 128, 128), overlap=0.25, progress=progress)
    write_volume(res.probability, paths["probability"], overwrite=True)
    write_volume(res.mask, paths["mask"], overwrite=True)
    write_swc(res.swc, paths["swc"])
    otsu = s.stack > threshold_otsu(s.stack)
    metrics = {
        "voxel": voxel_metrics(res.mask, s.mask),
        "tracing": neuron_distance(s.swc, res.swc) if len(res.swc.edges()) else None,
        "otsu_voxel": voxel_metrics(otsu, s.mask),
        "shape": list(shape), "cubes": res.n_cubes, "seconds_segment_and_trace": round(res.seconds, 2),
    }
    with atomic_path(paths["metrics"]) as tmp:
        tmp.write_text(json.dumps(metrics, indent=1))
    return {"outputs": {k: str(v) for k, v in paths.items()}, "metrics": metrics, "seconds": round(time.time() - t0, 2)}
