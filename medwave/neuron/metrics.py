"""Segmentation and tracing metrics.

* Voxel metrics of a predicted mask against a ground-truth mask: Dice, IoU, precision, recall.
* Tracing metrics between two SWCs as Vaa3D's ``neuron_distance`` plugin defines them
  (``neuron_score_rounding_nearest_neighbor`` in ``neuron_sim_scores.cpp``, Peng et al.):
  every segment (node -> parent) of one neuron is resampled into ``N = int(1 + len + 0.5)`` evenly
  spaced points, both ends included (one point, the child node, when ``N <= 1``); each point's
  distance to the other neuron is its distance to the nearest segment (point-to-line-segment). Then

  - ``ESA`` (entire structure average) = mean over the two directions of the mean point distance;
  - ``DSA`` (different structure average) = mean over the two directions of the mean distance of
    the points at least ``d_thres`` (2 voxels) away (a direction with no such point is left out;
    0 if neither has any);
  - ``PDS`` (percentage of different structure) = mean over the two directions of the fraction of
    points at least ``d_thres`` away.

Example:
    >>> import numpy as np
    >>> from medwave.neuron.swc import SWC
    >>> from medwave.neuron.metrics import neuron_distance
    >>> a = SWC(np.array([[1, 3, 0, 0, 0, 1, -1], [2, 3, 4, 0, 0, 1, 1]], float))
    >>> b = SWC(np.array([[1, 3, 0, 3, 0, 1, -1], [2, 3, 4, 3, 0, 1, 1]], float))
    >>> neuron_distance(a, b)["esa"]
    3.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medwave.neuron.swc import SWC

__all__ = ["voxel_metrics", "neuron_distance", "resample_segments", "point_to_swc_distance"]


def voxel_metrics(pred: Any, gt: Any) -> dict[str, float]:
    """Dice, IoU, precision and recall of a binary prediction against a binary ground truth.

    Empty-vs-empty counts as perfect (1.0); a metric whose denominator is 0 otherwise is 0.0.
    """
    p = np.asarray(pred).astype(bool)
    g = np.asarray(gt).astype(bool)
    if p.shape != g.shape:
        raise ValueError(f"prediction shape {p.shape} differs from ground-truth shape {g.shape}.")
    tp = float(np.count_nonzero(p & g))
    fp = float(np.count_nonzero(p & ~g))
    fn = float(np.count_nonzero(~p & g))
    if tp + fp + fn == 0:
        return {"dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0}
    return {
        "dice": 2 * tp / (2 * tp + fp + fn),
        "iou": tp / (tp + fp + fn),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
    }


def resample_segments(swc: SWC) -> np.ndarray:
    """Vaa3D's resampling: ``N = int(1 + len + 0.5)`` points per segment from child to parent, ends included."""
    e = swc.edges()
    pts = []
    xyz = swc.xyz
    if len(e):
        from medwave.io.guard import check_memory

        total = float(np.sum(np.linalg.norm(xyz[e[:, 1]] - xyz[e[:, 0]], axis=1) + 1.5))
        check_memory(total * 3 * 8 * 4, "the SWC", f"resampling its {len(e)} segments ({total:.3g} points)")
    for c, p in e:
        a, b = xyz[c], xyz[p]
        n = int(1 + np.linalg.norm(b - a) + 0.5)
        if n <= 1:
            pts.append(a[None])
        else:
            t = np.arange(n)[:, None] / (n - 1)
            pts.append(a + t * (b - a))
    return np.concatenate(pts) if pts else np.zeros((0, 3))


def point_to_swc_distance(points: np.ndarray, swc: SWC, chunk: int = 4096) -> np.ndarray:
    """Distance of each point to the nearest segment of ``swc`` (to its only node if it has one node)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    e = swc.edges()
    if len(e) == 0:
        if len(swc) == 0:
            raise ValueError("point_to_swc_distance: the SWC has no nodes.")
        return np.linalg.norm(points - swc.xyz[0], axis=1)
    a = swc.xyz[e[:, 0]]
    ab = swc.xyz[e[:, 1]] - a
    l2 = np.einsum("ij,ij->i", ab, ab)
    safe = np.where(l2 > 0, l2, 1.0)
    out = np.empty(len(points))
    for s in range(0, len(points), chunk):
        p = points[s: s + chunk]
        ap = p[:, None, :] - a[None]
        t = np.clip(np.einsum("ijk,jk->ij", ap, ab) / safe, 0.0, 1.0)
        t = np.where(l2 > 0, t, 0.0)
        d = ap - t[..., None] * ab[None]
        out[s: s + chunk] = np.sqrt(np.einsum("ijk,ijk->ij", d, d).min(axis=1))
    return out


def neuron_distance(swc1: SWC, swc2: SWC, *, d_thres: float = 2.0) -> dict[str, float]:
    """ESA, DSA and PDS between two neurons as Vaa3D's ``neuron_distance`` computes them.

    Args:
        swc1: First neuron (e.g. the ground truth); coordinates in voxels for the usual 2-voxel threshold.
        swc2: Second neuron (e.g. the reconstruction).
        d_thres: Distance from which a point counts as "different structure" (Vaa3D: 2).

    Returns:
        ``esa``, ``esa12``, ``esa21``, ``dsa``, ``pds``, ``pds12``, ``pds21``, ``max_dist`` and the
        point counts ``n12``/``n21``.

    Raises:
        ValueError: A neuron with fewer than two nodes (Vaa3D needs at least one segment each).
    """
    for name, s in (("first", swc1), ("second", swc2)):
        if len(s) < 2 or len(s.edges()) == 0:
            raise ValueError(f"neuron_distance: the {name} neuron has no segment (needs at least two connected nodes).")
    d12 = point_to_swc_distance(resample_segments(swc1), swc2)
    d21 = point_to_swc_distance(resample_segments(swc2), swc1)
    big12, big21 = d12[d12 >= d_thres], d21[d21 >= d_thres]
    parts = [b.mean() for b in (big12, big21) if len(b)]
    return {
        "esa12": float(d12.mean()),
        "esa21": float(d21.mean()),
        "esa": float((d12.mean() + d21.mean()) / 2),
        "dsa": float(np.mean(parts)) if parts else 0.0,
        "pds12": float(len(big12) / len(d12)),
        "pds21": float(len(big21) / len(d21)),
        "pds": float((len(big12) / len(d12) + len(big21) / len(d21)) / 2),
        "max_dist": float(max(d12.max(), d21.max())),
        "n12": int(len(d12)),
        "n21": int(len(d21)),
    }
