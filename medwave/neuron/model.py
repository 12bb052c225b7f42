"""The neuron segmentation model: build it from a config, load it from a checkpoint, run it on cubes.

Shared by inference (:mod:`medwave.neuron.api`) and training (:mod:`medwave.neuron.train`), which import this
module and never each other. Checkpoints use the one medwave format ``{"config", "state_dict", "meta"}``
(:mod:`medwave.networks.checkpoint`), read with ``torch.load(weights_only=True)``: ``config`` holds the network's
constructor arguments, ``meta["arch"]`` the class (``"WaveUNet"``, or ``"UNet"`` for MONAI's UNet baseline) and
``meta["threshold"]`` the mask threshold calibrated by ``medwave train-neurons``.

Example:
    >>> from medwave.neuron.model import build_model
    >>> type(build_model({"channels": [4, 8], "bottleneck": 8})).__name__
    'WaveUNet'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

__all__ = ["DEFAULT_WEIGHTS", "NeuronModel", "build_model", "load_model", "load_default_model", "make_predictor",
           "normalize_params", "model_checkpoint_parts"]

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "waveunet_synthetic.pt"
_ARCHS = ("WaveUNet", "UNet")


@dataclass
class NeuronModel:
    """A loaded segmentation network and its checkpoint metadata (``threshold``, ``arch``, ...)."""

    module: torch.nn.Module
    meta: dict = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        """The calibrated mask threshold of the checkpoint (0.5 when it has none)."""
        return float(self.meta.get("threshold", 0.5))


def build_model(model_cfg: dict, arch: str = "WaveUNet") -> torch.nn.Module:
    """A :class:`~medwave.networks.waveunet.WaveUNet` (or MONAI's ``UNet`` with ``arch="UNet"``) from its
    constructor arguments. A legacy ``"arch": "monai_unet"`` entry inside ``model_cfg`` is understood too."""
    cfg = dict(model_cfg)
    legacy = cfg.pop("arch", None)
    if legacy == "monai_unet":
        arch = "UNet"
    if arch not in _ARCHS:
        raise ValueError(f"unknown neuron network {arch!r}; medwave builds {', '.join(_ARCHS)}.")
    if arch == "UNet":
        from monai.networks.nets import UNet

        return UNet(**cfg)
    from medwave.networks.waveunet import WaveUNet

    cfg["channels"] = tuple(cfg.get("channels", (4, 8, 16, 32)))
    return WaveUNet(**cfg)


def model_checkpoint_parts(model_cfg: dict) -> tuple[dict, str]:
    """``(constructor config, arch)`` of a training ``model`` option (``{"arch": "monai_unet", ...}`` -> UNet)."""
    cfg = dict(model_cfg)
    legacy = cfg.pop("arch", "waveunet")
    return cfg, ("UNet" if legacy in ("monai_unet", "UNet") else "WaveUNet")


def load_model(weights: Union[None, str, os.PathLike, torch.nn.Module, NeuronModel] = None,
               device: str = "cpu") -> NeuronModel:
    """Load a segmentation model in eval mode with its checkpoint metadata.

    Args:
        weights: None (the shipped synthetic-trained model), a checkpoint written by ``medwave train-neurons``
            (``model.pt``), a module (no metadata) or a :class:`NeuronModel` (returned on ``device``).
        device: Torch device.

    Raises:
        FileNotFoundError: The checkpoint does not exist.
        ValueError: Not a medwave neuron checkpoint, or one holding pickled objects (refused unread: nothing ran).
    """
    if isinstance(weights, NeuronModel):
        return NeuronModel(weights.module.to(device).eval(), dict(weights.meta))
    if isinstance(weights, torch.nn.Module):
        return NeuronModel(weights.to(device).eval(), {})
    from medwave.networks.checkpoint import CheckpointError, read_checkpoint

    path = Path(weights).expanduser() if weights is not None else DEFAULT_WEIGHTS
    if weights is None and not path.exists():
        raise FileNotFoundError(f"{path}: no such weights file (the shipped default weights are missing from this "
                                "installation; train some with `medwave train-neurons`).")
    ck = read_checkpoint(path, map_location=device, what="neuron checkpoint",
                         hint="Use a model.pt written by `medwave train-neurons`.")
    meta = dict(ck["meta"])
    try:
        model = build_model(ck["config"], str(meta.get("arch", "WaveUNet")))
        model.load_state_dict(ck["state_dict"])
    except (TypeError, RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: its config/weights do not build a neuron network "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}).") from None
    return NeuronModel(model.to(device).eval(), meta)


def load_default_model(weights: Union[None, str, os.PathLike, torch.nn.Module] = None,
                       device: str = "cpu") -> torch.nn.Module:
    """The module of :func:`load_model` (without its metadata)."""
    return load_model(weights, device).module


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


def normalize_params(stack: Any, *, max_samples: int = 2_000_000) -> tuple[float, float]:
    """Robust intensity range ``(lo, hi)`` of a stack: its 1st and 99.95th percentiles.

    Computed on a strided subsample (at most ``max_samples`` voxels, read slab by slab) so it works
    on stacks larger than memory. Inference maps ``(x - lo) / (hi - lo)``.
    """
    shape = tuple(stack.shape)
    n = int(np.prod(shape))
    step = max(1, int(round((n / max_samples) ** (1 / 3))))
    zs = range(0, shape[0], step)
    vals = np.concatenate([np.asarray(stack[z, ::step, ::step], dtype=np.float32).ravel() for z in zs])
    lo, hi = np.percentile(vals, [1.0, 99.95])
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)
