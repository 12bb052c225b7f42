"""Networks built on the wavelet core: WiNet (registration), WaveUNet (3D-WaveUNet / 2D WaveSNet), GEM (gaze).

Imported lazily so that ``import medwave.networks`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "WiNet": "medwave.networks.winet",
    "WaveUNet": "medwave.networks.waveunet",
    "GEM": "medwave.networks.gem",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medwave.networks' has no attribute {name!r}")
