"""medwave: exact, fast, differentiable wavelets for medical and volumetric imaging.

Top-level conveniences are imported lazily (``medwave.register``, ``medwave.apply_transform``,
``medwave.segment_neurons``, ``medwave.predict_gaze``) so that ``import medwave`` stays fast and pulls in no GUI or heavy option.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "register": "medwave.registration.api",
    "apply_transform": "medwave.registration.apply",
    "segment_neurons": "medwave.neuron.api",
    "predict_gaze": "medwave.gaze.api",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medwave' has no attribute {name!r}")
