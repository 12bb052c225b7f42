"""Glue used by the bundle configs: model loading, datalists, MONAI evaluator pieces over the front doors.

A bundle's ``configs/inference.json`` builds a MONAI ``SupervisedEvaluator`` over a datalist (a decathlon
JSON, or every image in ``dataset_dir``). Its inferer is a thin call of the pipeline's front door
(:func:`medwave.register`, :func:`medwave.segment_neurons`, :func:`medwave.predict_gaze`) that also writes
the case's outputs into ``output_dir/<case>/``: nothing here re-implements a pipeline. The network comes
from the bundle's own ``models/model.pt`` through the network's ``from_checkpoint`` (``weights_only=True``),
so a bundle copied anywhere runs as it is.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any, Literal, Optional, Sequence, Union

import numpy as np
import torch
from monai.inferers import Inferer
from torch import nn

from medwave.utils.paths import file_stem

__all__ = ["load_network", "datalist", "collate_cases", "prepare_cases", "RegistrationInferer", "NeuronInferer",
           "GazeInferer", "PairToDDF", "GEMPoints"]

PathLike = Union[str, os.PathLike]


def load_network(kind: Literal["winet", "waveunet", "gem"], path: PathLike) -> nn.Module:
    """Build a shipped network from a medwave checkpoint (``torch.load(weights_only=True)``), in eval mode.

    Args:
        kind: ``"winet"``, ``"waveunet"`` or ``"gem"``.
        path: The checkpoint (a bundle's ``models/model.pt``).

    Raises:
        FileNotFoundError: The checkpoint does not exist.
        ValueError: Unknown kind, or not a checkpoint of that network.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such checkpoint; a bundle keeps its weights in models/model.pt "
                                "(reinstall medwave, or set 'model_path' to your own checkpoint).")
    if kind == "winet":
        from medwave.networks.winet import WiNet

        net = WiNet.from_checkpoint(p)
    elif kind == "gem":
        from medwave.networks.gem import GEM

        net = GEM.from_checkpoint(p)
    elif kind == "waveunet":
        from medwave.neuron.model import load_model

        loaded = load_model(p)  # WaveUNet (or MONAI UNet) via from_checkpoint, with the checkpoint's meta
        net = loaded.module
        net.medwave_meta = dict(loaded.meta)  # the calibrated mask threshold: meta["threshold"]
    else:
        raise ValueError(f"unknown network kind {kind!r}; choose winet, waveunet or gem.")
    return net.eval()


def datalist(dataset_dir: Optional[PathLike] = None, datalist_file: Optional[PathLike] = None, *,
             section: str = "test", key: str = "image", pattern: str = "*.nii.gz") -> list[dict]:
    """The cases of a bundle run, MONAI style: a decathlon datalist JSON or every matching file of a folder.

    Args:
        dataset_dir: Folder of the images; base of the datalist's relative paths.
        datalist_file: Decathlon-style JSON (``{"test": [{"image": ...}, ...]}``, MONAI's
            ``load_decathlon_datalist``); without it every ``pattern`` file in ``dataset_dir`` is a case ``{key: path}``.
        section: Datalist section (``"test"``, ``"validation"``, ``"training"``).
        key: The entry key a folder's files go to (``"image"``; ``"moving"`` for registration).
        pattern: Glob of the folder's images.

    Returns:
        Entries with absolute paths and a ``"name"`` (the file name of ``key`` without extension, or the
        entry's own ``"name"``).

    Raises:
        ValueError: Neither argument given, or no case found.
    """
    if datalist_file not in (None, "", "None"):
        from monai.data import load_decathlon_datalist

        base = dataset_dir if dataset_dir not in (None, "", "None") else Path(datalist_file).resolve().parent
        data = load_decathlon_datalist(str(datalist_file), is_segmentation=False, data_list_key=section,
                                       base_dir=str(base))
        where = f"{datalist_file} [{section}]"
    elif dataset_dir not in (None, "", "None"):
        data = [{key: p} for p in sorted(glob.glob(os.path.join(str(dataset_dir), pattern)))]
        where = f"{dataset_dir}/{pattern}"
    else:
        raise ValueError("set 'dataset_dir' (a folder of images) or 'datalist_file' (a decathlon JSON).")
    if not data:
        raise ValueError(f"no cases in {where}; point 'dataset_dir' at the images or fix 'datalist_file'.")
    for d in data:
        d.setdefault("name", file_stem(str(d[key])))
    return data


def collate_cases(batch: list[dict]) -> list[dict]:
    """DataLoader ``collate_fn`` that keeps the cases as they are (paths and names, no tensors)."""
    return list(batch)


def _label(path: Optional[str]) -> Optional[torch.Tensor]:
    if path is None:
        return None
    from medwave.neuron.stacks import open_stack

    return torch.as_tensor(np.asarray(open_stack(path).data[...]) > 0)[None]


def prepare_cases(batchdata: list[dict], device: Any = None, non_blocking: bool = False, **kwargs: Any):
    """``prepare_batch`` of the bundle evaluators: the cases go to the inferer as they are; ``"label"``
    entries (binary masks, read like the images) become the evaluator's targets ``(B, 1, *spatial)``."""
    labels = [_label(d.get("label")) for d in batchdata]
    target = torch.stack(labels).float() if labels and all(t is not None for t in labels) else None
    return batchdata, target


class RegistrationInferer(Inferer):
    """Register each case's ``moving`` onto its ``fixed`` (or ``fixed_file``) with :func:`medwave.register`.

    Writes ``warped.nii.gz``, ``jacdet.nii.gz``, ``metrics.json`` and the transform files
    (``ddf_monai_voxel.nii.gz``, ``transform_itk_lps_mm.nii.gz``, ...) into ``output_dir/<case>/``
    and returns the cases' metrics (``folding_percent``, ``dice_mean`` when ``moving_seg``/``fixed_seg`` are given).
    """

    def __init__(self, output_dir: PathLike, *, fixed_file: Optional[PathLike] = None, optimize: bool = True,
                 iterations: int = 50) -> None:
        super().__init__()
        self.output_dir, self.fixed_file = Path(output_dir), fixed_file
        self.optimize, self.iterations = bool(optimize), iterations

    def __call__(self, inputs: list[dict], network: nn.Module, *args: Any, **kwargs: Any) -> list[dict]:
        from medwave.registration.api import register

        out = []
        for case in inputs:
            fixed = case.get("fixed") or self.fixed_file
            if fixed in (None, "", "None"):
                raise ValueError(f"case {case['name']}: no fixed image; give each entry a 'fixed' or set 'fixed_file'.")
            with torch.enable_grad():  # instance optimisation runs inside the evaluator's no_grad
                res = register(fixed, case["moving"], weights=network, optimize=self.optimize,
                               iterations=self.iterations, moving_seg=case.get("moving_seg"),
                               fixed_seg=case.get("fixed_seg"), progress=False)
            res.save(self.output_dir / case["name"], overwrite=True)
            out.append(res.metrics)
        return out


class NeuronInferer(Inferer):
    """Segment and trace each case's ``image`` with :func:`medwave.segment_neurons`.

    Writes ``probability.nii.gz``, ``mask.nii.gz`` (the input's grid and affine), ``neuron.swc`` and
    ``summary.json`` into ``output_dir/<case>/``; returns the masks ``(B, 1, *spatial)`` for the Dice metric.
    """

    def __init__(self, output_dir: PathLike, *, cube: Sequence[int] = (32, 128, 128),
                 threshold: Optional[float] = None, trace: bool = True) -> None:
        super().__init__()
        self.output_dir, self.cube, self.threshold, self.trace = Path(output_dir), tuple(cube), threshold, bool(trace)

    def __call__(self, inputs: list[dict], network: nn.Module, *args: Any, **kwargs: Any) -> torch.Tensor:
        from medwave.neuron.api import segment_neurons

        masks = []
        for case in inputs:
            out = self.output_dir / case["name"]
            threshold = self.threshold
            if threshold is None:  # the checkpoint's calibrated threshold, as segment_neurons uses for its own loads
                threshold = getattr(network, "medwave_meta", {}).get("threshold")
            res = segment_neurons(case["image"], weights=network, cube=self.cube, threshold=threshold,
                                  trace=self.trace, progress=False)
            res.save(out, overwrite=True, format="nifti")  # the one writer of neuron outputs
            masks.append(torch.as_tensor(np.asarray(res.mask) > 0)[None].float())
        return torch.stack(masks)


class GazeInferer(Inferer):
    """Predict each case's gaze points for its ``report`` (or ``sentence``) with :func:`medwave.predict_gaze`.

    ``predict_gaze`` takes a checkpoint, so the inferer is given ``model_path`` (the network the evaluator
    holds is built from the same file). Writes ``gaze_points.csv``, ``gaze_heatmap.npy``/``.png``,
    ``gaze_overlay.png`` and ``summary.json`` into ``output_dir/<case>/``; returns the points ``(B, K, 2)``.
    """

    def __init__(self, output_dir: PathLike, model_path: PathLike, *, sentence: str = "") -> None:
        super().__init__()
        self.output_dir, self.model_path, self.sentence = Path(output_dir), str(model_path), str(sentence)

    def __call__(self, inputs: list[dict], network: nn.Module, *args: Any, **kwargs: Any) -> torch.Tensor:
        from medwave.gaze.api import predict_gaze

        points = []
        for case in inputs:
            sentence = case.get("report") or self.sentence
            if isinstance(sentence, (list, tuple)):
                sentence = " ".join(sentence)
            if not sentence:
                raise ValueError(f"case {case['name']}: no report sentence; give the entry a 'report' or set 'sentence'.")
            res = predict_gaze(_read_radiograph(case["image"]), str(sentence), weights=self.model_path)
            res.save(self.output_dir / case["name"], overwrite=True)  # gaze_*.csv/.npy/.png and summary.json
            points.append(torch.as_tensor(np.asarray(res.points, np.float32)))
        return torch.stack(points)


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


def _read_radiograph(path: PathLike) -> Union[np.ndarray, str]:
    name = str(path).lower()
    if name.endswith((".nii", ".nii.gz")):
        from medwave.utils.nibabel_import import import_nibabel

        nib = import_nibabel()

        from medwave.io.guard import guard_image

        guard_image(path, what="radiograph", allow_complex=False, purpose="gaze", bytes_per_voxel=64.0)
        arr = np.squeeze(np.asarray(nib.load(str(path)).dataobj, dtype=np.float32))
        if arr.ndim != 2:
            raise ValueError(f"{path}: a radiograph NIfTI must hold one 2D image, got shape {arr.shape}.")
        # NIfTI stores (x = column, y = row); show it as rows x columns
        return arr.T
    return str(path)
