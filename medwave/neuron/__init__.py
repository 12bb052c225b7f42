"""Neuron segmentation (3D-WaveUNet): SWC I/O and rendering, synthetic neurons, cube partition and
reassembly, tracing to SWC, metrics and the :func:`segment_neurons` API.

Submodules are imported lazily so that ``import medwave.neuron`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SWC": "medwave.neuron.swc",
    "read_swc": "medwave.neuron.swc",
    "write_swc": "medwave.neuron.swc",
    "render_swc": "medwave.neuron.swc",
    "synthetic_neuron": "medwave.neuron.synthetic",
    "partition": "medwave.neuron.cubes",
    "sliding_window_segment": "medwave.neuron.cubes",
    "trace_mask": "medwave.neuron.trace",
    "voxel_metrics": "medwave.neuron.metrics",
    "neuron_distance": "medwave.neuron.metrics",
    "segment_neurons": "medwave.neuron.api",
    "load_default_model": "medwave.neuron.api",
    "run_demo": "medwave.neuron.demo",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medwave.neuron' has no attribute {name!r}")
