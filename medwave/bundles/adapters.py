"""Glue used by the bundle configs: weight loading, single-tensor network views, file-to-file pipelines.

The configs build the medwave networks themselves (``_target_: medwave.networks...``); the helpers here
only load the shipped checkpoints into them, give MONAI's ``verify_net_in_out`` a one-tensor forward
(it calls ``net(torch.rand(1, C, *spatial))``), and run the package API on a file given on the command
line. Nothing here re-implements a pipeline: registration is :func:`medwave.register`, neurons
:func:`medwave.segment_neurons`, gaze :func:`medwave.predict_gaze`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

__all__ = ["load_weights", "checkpoint_config", "checkpoint_meta", "PairToDDF", "GEMPoints", "run_registration", "run_neurons", "run_gaze"]

PathLike = Union[str, os.PathLike]


def load_weights(network: nn.Module, path: PathLike) -> nn.Module:
    """Load a medwave checkpoint's weights into ``network`` (strictly) and return it in eval mode.

    Every shipped file has the one format ``{"config", "state_dict", "meta"}``, read with
    ``torch.load(weights_only=True)`` (:func:`medwave.networks.checkpoint.read_checkpoint`); a file holding
    pickled objects is refused unread. The metadata stays in the file: :func:`checkpoint_meta`.

    Raises:
        FileNotFoundError: The checkpoint does not exist.
        ValueError: Not a medwave checkpoint (or pickled objects inside).
    """
    from medwave.networks.checkpoint import read_checkpoint

    ckpt = read_checkpoint(path, what="bundle checkpoint",
                           hint="Point the bundle's 'weights_path' at a medwave checkpoint.")
    network.load_state_dict(ckpt["state_dict"])
    return network.eval()


def checkpoint_config(path: PathLike) -> dict:
    """The ``config`` entry of a medwave checkpoint (safe read)."""
    from medwave.networks.checkpoint import read_checkpoint

    return dict(read_checkpoint(path, what="bundle checkpoint")["config"])


def checkpoint_meta(path: PathLike) -> dict:
    """The ``meta`` entry of a medwave checkpoint (safe read): the neuron ``threshold``, GEM's ``image_size``..."""
    from medwave.networks.checkpoint import read_checkpoint

    return dict(read_checkpoint(path, what="bundle checkpoint")["meta"])


class PairToDDF(nn.Module):
    """WiNet with one input tensor: channel 0 = moving, channel 1 = fixed -> DDF ``(B, 3, *spatial)``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        if pair.shape[1] != 2:
            raise ValueError(f"PairToDDF needs 2 channels (moving, fixed), got {pair.shape[1]}.")
        return self.net(pair[:, :1], pair[:, 1:])


class GEMPoints(nn.Module):
    """GEM with one input tensor and a fixed sentence: image ``(B, 1, H, W)`` -> points ``(B, K, 2)`` in [0, 1]."""

    def __init__(self, net: nn.Module, sentence: str) -> None:
        super().__init__()
        self.net = net
        self.sentence = str(sentence)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image, [self.sentence] * image.shape[0])["points"]


def run_registration(network: nn.Module, input_file: PathLike, output_dir: PathLike, *,
                     fixed_file: Optional[PathLike] = None, optimize: bool = False,
                     iterations: Union[int, Sequence[int]] = 50) -> dict:
    """Register ``input_file`` (moving NIfTI) onto ``fixed_file`` (default: nilearn's MNI152 2 mm template).

    Writes ``warped.nii.gz``, ``ddf.nii.gz``, ``jacdet.nii.gz`` and ``metrics.json`` into ``output_dir``
    (see :meth:`medwave.registration.api.RegistrationResult.save`). Returns the metrics.
    """
    from medwave.registration.api import register

    if fixed_file in (None, "", "None"):
        from nilearn.datasets import load_mni152_template

        fixed = load_mni152_template(resolution=2)
    else:
        fixed = fixed_file
    res = register(fixed, input_file, weights=network, optimize=bool(optimize), iterations=iterations,
                   progress=False)
    res.save(output_dir, overwrite=True)
    return res.metrics


def run_neurons(network: nn.Module, input_file: PathLike, output_dir: PathLike, *,
                cube: Sequence[int] = (32, 128, 128), threshold: Optional[float] = None, trace: bool = True) -> dict:
    """Segment (and trace) the stack ``input_file`` (NIfTI or TIFF) with ``network``.

    Writes ``probability.nii.gz``, ``mask.nii.gz`` (input grid and affine), ``neuron.swc`` and
    ``summary.json`` into ``output_dir`` (:meth:`medwave.neuron.api.NeuronSegmentation.save`). Returns the summary.
    """
    from medwave.neuron.api import segment_neurons

    res = segment_neurons(str(input_file), weights=network, cube=tuple(cube), threshold=threshold,
                          trace=bool(trace), progress=False)
    res.save(output_dir, overwrite=True, format="nifti")
    return res.summary


def _read_radiograph(path: PathLike) -> Union[np.ndarray, str]:
    name = str(path).lower()
    if name.endswith((".nii", ".nii.gz")):
        import nibabel as nib

        arr = np.squeeze(np.asarray(nib.load(str(path)).dataobj, dtype=np.float32))
        if arr.ndim != 2:
            raise ValueError(f"{path}: a radiograph NIfTI must hold one 2D image, got shape {arr.shape}.")
        # NIfTI stores (x = column, y = row); show it as rows x columns
        return arr.T
    return str(path)


def run_gaze(weights_path: PathLike, input_file: PathLike, output_dir: PathLike, *, sentence: str) -> dict:
    """Predict the gaze of ``sentence`` on the radiograph ``input_file`` (2D NIfTI, DICOM, PNG, JPEG).

    Calls :func:`medwave.predict_gaze` with ``weights_path`` (the checkpoint the bundle's ``network`` is
    built from; ``predict_gaze`` takes a checkpoint, not a module). Writes ``gaze_points.csv``,
    ``gaze_heatmap.npy``/``.png``, ``gaze_overlay.png`` and ``summary.json`` into ``output_dir``.
    Returns ``{"sentence", "points", "files"}`` (points ``(x, y)`` in input pixels).
    """
    from medwave.gaze.api import predict_gaze

    res = predict_gaze(_read_radiograph(input_file), str(sentence), weights=weights_path)
    files = res.save(output_dir, overwrite=True)["sentences"][0]
    return {"sentence": res.sentence, "points": res.points.tolist(), "files": {k: str(v) for k, v in files.items()}}
