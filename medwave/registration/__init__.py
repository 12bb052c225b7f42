"""Deformable registration on the wavelet core: WiNet, instance optimisation, metrics, ``register()``.

Fields are MONAI DDFs ``(B, d, *spatial)`` in voxel units, sampled as ``moving(x + u(x))``.

Submodules (imported lazily; the field operations live with the networks in
:mod:`~medwave.networks.blocks.fields`: warp, integrate, Jacobian, re-exported here),
:mod:`~medwave.registration.losses`, :mod:`~medwave.registration.metrics`,
:mod:`~medwave.registration.instance` (wavelet-coefficient instance optimisation),
:mod:`~medwave.registration.synthetic` (MNI152 pairs), :mod:`~medwave.registration.api`
(``register``), :mod:`~medwave.registration.transform` (the transform folder: MONAI and ITK conventions,
inverse), :mod:`~medwave.registration.apply` (``apply_transform``), :mod:`~medwave.registration.training`, :mod:`~medwave.registration.demo`.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "warp": "medwave.networks.blocks.fields", "integrate_velocity": "medwave.networks.blocks.fields",
    "jacobian_determinant": "medwave.networks.blocks.fields", "identity_grid": "medwave.networks.blocks.fields",
    "registration_loss": "losses", "RegistrationLoss": "losses",
    "dice_per_label": "metrics", "folding_percent": "metrics", "sdlogj": "metrics", "hd95_per_label": "metrics",
    "warp_labels": "metrics", "field_metrics": "metrics",
    "WaveletField": "instance", "optimize_pair": "instance",
    "register": "api", "RegistrationResult": "api", "load_default_weights": "api",
    "apply_transform": "apply", "apply_to_points": "apply", "Transform": "transform", "invert_ddf": "transform",
    "make_pair": "synthetic", "mni_atlas": "synthetic", "random_velocity": "synthetic",
    "run_demo": "demo",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod = _LAZY[name]
        return getattr(importlib.import_module(mod if "." in mod else f"medwave.registration.{mod}"), name)
    raise AttributeError(f"module 'medwave.registration' has no attribute {name!r}")
