"""Registration metrics: Dice per label, % folding (|J| <= 0), SDlogJ, HD95; label warping.

Example:
    >>> import numpy as np
    >>> from medwave.registration.metrics import dice_per_label
    >>> a = np.zeros((4, 4, 4), int); a[:2] = 1
    >>> dice_per_label(a, a)
    {1: 1.0}
"""

from __future__ import annotations

from typing import Literal, Optional, Sequence, Union

import numpy as np
import torch

from medwave.networks.blocks.fields import jacobian_determinant, warp

__all__ = ["warp_labels", "dice_per_label", "folding_percent", "sdlogj", "hd95_per_label", "field_metrics"]

ArrayLike = Union[np.ndarray, torch.Tensor]


def _np(x: ArrayLike) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def warp_labels(labels: ArrayLike, ddf: torch.Tensor, *, method: Literal["linear", "nearest"] = "linear",
                chunk: int = 8) -> np.ndarray:
    """Warp an integer label map ``(*spatial)`` by a DDF ``(1, d, *spatial)``.

    ``"linear"`` warps the one-hot encoding with linear interpolation and takes the arg-max (the
    evaluation protocol of TransMorph / WiNet); ``"nearest"`` samples the nearest label. Labels are
    processed ``chunk`` at a time to bound memory.

    Returns:
        The warped label map, same dtype and spatial shape as ``labels``.
    """
    lab = _np(labels)
    if ddf.ndim != lab.ndim + 2 or tuple(ddf.shape[2:]) != lab.shape:
        raise ValueError(f"warp_labels: labels {lab.shape} and field {tuple(ddf.shape)} do not match.")
    ddf = ddf.detach().float()
    if method == "nearest":
        t = torch.as_tensor(lab.astype(np.float32))[None, None]
        return warp(t, ddf, mode="nearest")[0, 0].round().numpy().astype(lab.dtype)
    if method != "linear":
        raise ValueError(f"method must be 'linear' or 'nearest', got {method!r}.")
    values = np.unique(lab)
    best = torch.full(lab.shape, -1.0)
    out = np.zeros(lab.shape, dtype=lab.dtype)
    lab_t = torch.as_tensor(lab)
    for start in range(0, len(values), chunk):
        vals = values[start:start + chunk]
        onehot = torch.stack([(lab_t == int(v)).float() for v in vals], 0)[None]
        w = warp(onehot, ddf.expand(1, *ddf.shape[1:]), mode="bilinear")[0]
        m, idx = w.max(0)
        upd = m > best
        best = torch.where(upd, m, best)
        out[upd.numpy()] = np.asarray(vals)[idx.numpy()][upd.numpy()]
    return out


def dice_per_label(pred: ArrayLike, target: ArrayLike, labels: Optional[Sequence[int]] = None, *,
                   ignore_background: bool = True) -> dict[int, float]:
    """Dice ``2|A n B| / (|A| + |B|)`` per label (labels present in either map by default, 0 skipped).

    A label absent from both maps is skipped; absent from one gives 0.
    """
    p, t = _np(pred), _np(target)
    if p.shape != t.shape:
        raise ValueError(f"dice_per_label: shapes differ {p.shape} vs {t.shape}.")
    if labels is None:
        labels = np.union1d(np.unique(p), np.unique(t))
    out: dict[int, float] = {}
    for v in labels:
        v = int(v)
        if ignore_background and v == 0:
            continue
        a, b = p == v, t == v
        s = int(a.sum()) + int(b.sum())
        if s == 0:
            continue
        out[v] = float(2.0 * np.logical_and(a, b).sum() / s)
    return out


def folding_percent(jacdet: ArrayLike, mask: Optional[ArrayLike] = None) -> float:
    """Percentage of voxels with Jacobian determinant ``<= 0`` (within ``mask`` if given)."""
    j = _np(jacdet)
    if mask is not None:
        j = j[_np(mask).astype(bool)]
    return float(100.0 * np.mean(j <= 0)) if j.size else 0.0


def sdlogj(jacdet: ArrayLike, mask: Optional[ArrayLike] = None, *, eps: float = 1e-9) -> float:
    """Standard deviation of ``log(J)``, with ``J`` clipped below at ``eps`` (the Learn2Reg convention)."""
    j = _np(jacdet).astype(np.float64)
    if mask is not None:
        j = j[_np(mask).astype(bool)]
    return float(np.std(np.log(np.clip(j, eps, None)))) if j.size else 0.0


def hd95_per_label(pred: ArrayLike, target: ArrayLike, labels: Optional[Sequence[int]] = None, *,
                   spacing: Optional[Sequence[float]] = None) -> dict[int, float]:
    """95th-percentile Hausdorff distance per label (MONAI ``compute_hausdorff_distance``), in mm if ``spacing``."""
    from monai.metrics import compute_hausdorff_distance

    p, t = _np(pred), _np(target)
    if labels is None:
        labels = [v for v in np.union1d(np.unique(p), np.unique(t)) if v != 0]
    out = {}
    for v in labels:
        a, b = p == v, t == v
        if not a.any() or not b.any():
            continue
        hd = compute_hausdorff_distance(torch.as_tensor(a)[None, None], torch.as_tensor(b)[None, None],
                                        percentile=95, spacing=None if spacing is None else list(spacing))
        out[int(v)] = float(hd.item())
    return out


def field_metrics(ddf: torch.Tensor, mask: Optional[ArrayLike] = None) -> dict[str, float]:
    """``{"folding_percent", "sdlogj", "jacdet_min", "jacdet_max", "displacement_max"}`` of a DDF ``(1, d, *spatial)``."""
    j = jacobian_determinant(ddf.detach())[0]
    jn = j.numpy()
    return {
        "folding_percent": folding_percent(jn, mask),
        "sdlogj": sdlogj(jn, mask),
        "jacdet_min": float(jn.min()),
        "jacdet_max": float(jn.max()),
        "displacement_max": float((ddf.detach() ** 2).sum(1).max().sqrt()),
    }
