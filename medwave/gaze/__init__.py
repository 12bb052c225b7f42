"""GEM gaze estimation over radiology reports: readers, synthetic data, metrics, training, inference.

Submodules: :mod:`medwave.gaze.io` (radiographs, REFLACX, EGD-CXR, gaze CSV),
:mod:`medwave.gaze.metrics`, :mod:`medwave.gaze.synthetic`, :mod:`medwave.gaze.training`,
:mod:`medwave.gaze.api` (``predict_gaze``) and :mod:`medwave.gaze.demo`. Imported lazily. The
network's blocks (text encoder, behaviour graph and matching) live in :mod:`medwave.networks.blocks`.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "predict_gaze": "medwave.gaze.api",
    "GazeResult": "medwave.gaze.api",
    "load_radiograph": "medwave.gaze.io",
    "read_gaze_csv": "medwave.gaze.io",
    "write_gaze_csv": "medwave.gaze.io",
    "read_reflacx": "medwave.gaze.io",
    "read_egd_cxr": "medwave.gaze.io",
    "train_gaze": "medwave.gaze.training",
    "make_synthetic_gaze": "medwave.gaze.synthetic",
    "run_demo": "medwave.gaze.demo",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medwave.gaze' has no attribute {name!r}")
