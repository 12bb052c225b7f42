"""medwave: exact, fast, differentiable wavelets for medical and volumetric imaging.

The front doors of the four pipelines are imported lazily, so that ``import medwave`` stays fast and pulls in
no GUI or heavy option: ``medwave.register`` (and ``medwave.apply_transform``), ``medwave.segment_neurons``,
``medwave.predict_gaze`` and ``medwave.denoise`` (the :mod:`medwave.denoise` package, callable as its front door).
Each takes ``(inputs, *, weights, device, seed, progress, ...)`` and returns a result with
``.save(outdir, *, overwrite)``.
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
    "denoise": "medwave.denoise",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name == "denoise":  # the package, callable as the front door (see medwave/denoise/__init__.py)
        return importlib.import_module("medwave.denoise")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medwave' has no attribute {name!r}")
