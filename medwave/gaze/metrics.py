"""Gaze estimation metrics: point distances, PCK, saliency metrics on fixation maps, scanpath DTW.

Points are ``(K, 2)`` arrays of ``(x, y)`` pixel positions (``x`` = column, ``y`` = row). Saliency
maps are 2D arrays ``(H, W)``. The saliency metrics follow the MIT/Tuebingen saliency benchmark
definitions (Bylinskii et al., "What do different evaluation metrics tell us about saliency
models?", TPAMI 2019):

* CC: Pearson correlation between the predicted map and the ground-truth fixation density.
* KLD: ``sum(Q * log(eps + Q / (P + eps)))`` with ``P``, ``Q`` the predicted / ground-truth maps
  normalised to sum 1 (``eps = 2.2204e-16``), lower is better.
* NSS: mean of the standardised prediction ``(P - mean) / std`` at the fixated pixels.
* SIM: ``sum(min(P, Q))`` of the sum-normalised maps (1 = identical).
* AUC-Judd: ROC area with the prediction's values at fixations as thresholds; true positive rate
  over fixations, false positive rate over the other pixels (tied values form one threshold).

Finding-grounded metrics (image-grounded benchmark, :mod:`medwave.gaze.findings`):

* :func:`peak_distance`: distance from the fixation density's peak to the mentioned finding (0 when
  the peak is on it).
* NSS and AUC-Judd of a heatmap against the finding *mask* (:func:`nss`, :func:`auc_judd` take any
  boolean mask: the finding's pixels play the fixations' part).
* :func:`point_spread`: RMS distance of a point set to its centroid (compare predictions with targets:
  predictions that collapse to one spot have a small spread).

Example:
    >>> import numpy as np
    >>> from medwave.gaze.metrics import mean_point_distance, pck
    >>> a = np.array([[0.0, 0.0], [10.0, 0.0]]); b = np.array([[3.0, 4.0], [10.0, 0.0]])
    >>> mean_point_distance(a, b), pck(a, b, 0.01, image_size=(100, 100))
    (2.5, 0.5)
"""

from __future__ import annotations

from typing import Literal, Optional, Sequence

import numpy as np

__all__ = [
    "mean_point_distance",
    "pck",
    "hungarian_distance",
    "render_fixation_map",
    "fixation_mask",
    "cc",
    "kld",
    "nss",
    "sim",
    "auc_judd",
    "scanpath_dtw",
    "saliency_metrics",
    "peak_distance",
    "point_spread",
]

EPS = 2.2204e-16


def _pts(p: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(p, dtype=np.float64)
    if a.ndim < 2 or a.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (..., K, 2) of (x, y) positions, got {a.shape}")
    return a


def mean_point_distance(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean Euclidean distance between corresponding points (the k-th to the k-th), in pixels."""
    a, b = _pts(pred, "pred"), _pts(target, "target")
    if a.shape != b.shape:
        raise ValueError(f"pred {a.shape} and target {b.shape} must have the same shape")
    return float(np.mean(np.linalg.norm(a - b, axis=-1)))


def pck(
    pred: np.ndarray,
    target: np.ndarray,
    threshold: float,
    *,
    image_size: Sequence[int],
    reference: Literal["max_side", "diagonal"] = "max_side",
) -> float:
    """Percentage of correct keypoints: the fraction of points within ``threshold x reference`` pixels.

    Args:
        pred, target: ``(..., K, 2)`` corresponding points.
        threshold: E.g. 0.05 or 0.1.
        image_size: ``(H, W)`` of the image the points live in.
        reference: Normalising length, the longer image side (default) or the diagonal.
    """
    a, b = _pts(pred, "pred"), _pts(target, "target")
    if a.shape != b.shape:
        raise ValueError(f"pred {a.shape} and target {b.shape} must have the same shape")
    h, w = float(image_size[0]), float(image_size[1])
    ref = max(h, w) if reference == "max_side" else float(np.hypot(h, w))
    d = np.linalg.norm(a - b, axis=-1)
    return float(np.mean(d <= threshold * ref))


def hungarian_distance(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean distance after the optimal one-to-one matching of the two point sets (order ignored).

    Uses :func:`scipy.optimize.linear_sum_assignment` on the Euclidean cost matrix. The sets may
    differ in size; then only ``min(N, M)`` pairs are matched.
    """
    from scipy.optimize import linear_sum_assignment

    a, b = _pts(pred, "pred").reshape(-1, 2), _pts(target, "target").reshape(-1, 2)
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].mean())


def render_fixation_map(
    points: np.ndarray,
    shape: Sequence[int],
    *,
    sigma: float,
    weights: Optional[Sequence[float]] = None,
) -> np.ndarray:
    """Sum of isotropic Gaussians at the points, normalised to sum 1 (a fixation density).

    Args:
        points: ``(N, 2)`` ``(x, y)`` pixel positions.
        shape: ``(H, W)`` of the map.
        sigma: Gaussian standard deviation in pixels (e.g. one degree of visual angle).
        weights: Optional per-point weights (e.g. fixation durations).

    Returns:
        A float64 ``(H, W)`` map summing to 1 (all zeros when there are no points).
    """
    pts = _pts(points, "points").reshape(-1, 2)
    h, w = int(shape[0]), int(shape[1])
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    wts = np.ones(len(pts)) if weights is None else np.asarray(weights, dtype=np.float64)
    ys = np.arange(h, dtype=np.float64)
    xs = np.arange(w, dtype=np.float64)
    out = np.zeros((h, w))
    for (x, y), wt in zip(pts, wts):
        gy = np.exp(-0.5 * ((ys - y) / sigma) ** 2)
        gx = np.exp(-0.5 * ((xs - x) / sigma) ** 2)
        out += wt * np.outer(gy, gx)
    s = out.sum()
    return out / s if s > 0 else out


def fixation_mask(points: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Binary ``(H, W)`` map with 1 at the (rounded, clipped) pixel of each fixation."""
    pts = _pts(points, "points").reshape(-1, 2)
    h, w = int(shape[0]), int(shape[1])
    m = np.zeros((h, w), dtype=bool)
    if len(pts):
        cols = np.clip(np.rint(pts[:, 0]).astype(int), 0, w - 1)
        rows = np.clip(np.rint(pts[:, 1]).astype(int), 0, h - 1)
        m[rows, cols] = True
    return m


def _map(s: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(s, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2D map, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def cc(saliency: np.ndarray, density: np.ndarray) -> float:
    """Pearson correlation coefficient between two maps."""
    p, q = _map(saliency, "saliency"), _map(density, "density")
    p = p - p.mean()
    q = q - q.mean()
    den = np.sqrt((p * p).sum() * (q * q).sum())
    return float((p * q).sum() / den) if den > 0 else 0.0


def kld(saliency: np.ndarray, density: np.ndarray) -> float:
    """KL divergence of the ground-truth density from the prediction (both sum-normalised); lower is better."""
    p, q = _map(saliency, "saliency"), _map(density, "density")
    p = p / max(p.sum(), EPS)
    q = q / max(q.sum(), EPS)
    return float(np.sum(q * np.log(EPS + q / (p + EPS))))


def nss(saliency: np.ndarray, fixations: np.ndarray) -> float:
    """Normalised scanpath saliency: mean standardised saliency at the fixated pixels."""
    p = _map(saliency, "saliency")
    m = np.asarray(fixations, dtype=bool)
    if m.shape != p.shape:
        raise ValueError(f"fixation mask {m.shape} and saliency {p.shape} differ in shape")
    if not m.any():
        raise ValueError("no fixations in the fixation mask")
    sd = p.std()
    z = (p - p.mean()) / sd if sd > 0 else np.zeros_like(p)
    return float(z[m].mean())


def sim(saliency: np.ndarray, density: np.ndarray) -> float:
    """Similarity (histogram intersection) of the two sum-normalised maps."""
    p, q = _map(saliency, "saliency"), _map(density, "density")
    p = p / max(p.sum(), EPS)
    q = q / max(q.sum(), EPS)
    return float(np.minimum(p, q).sum())


def auc_judd(saliency: np.ndarray, fixations: np.ndarray) -> float:
    """AUC-Judd: ROC area using the saliency values at fixations as thresholds."""
    p = _map(saliency, "saliency")
    m = np.asarray(fixations, dtype=bool)
    if m.shape != p.shape:
        raise ValueError(f"fixation mask {m.shape} and saliency {p.shape} differ in shape")
    n_fix = int(m.sum())
    n_pix = p.size
    if n_fix == 0 or n_fix == n_pix:
        raise ValueError("AUC-Judd needs at least one fixated and one non-fixated pixel")
    # distinct thresholds (ties counted together, where the MIT code adds random jitter instead)
    thresholds = np.unique(p[m])[::-1]
    fix_vals = np.sort(p[m])
    other = np.sort(p[~m])
    tp = [0.0]
    fp = [0.0]
    for t in thresholds:
        tp.append((n_fix - np.searchsorted(fix_vals, t, side="left")) / n_fix)
        fp.append((other.size - np.searchsorted(other, t, side="left")) / (n_pix - n_fix))
    tp.append(1.0)
    fp.append(1.0)
    tp_a, fp_a = np.asarray(tp), np.asarray(fp)
    return float(np.sum((fp_a[1:] - fp_a[:-1]) * (tp_a[1:] + tp_a[:-1]) / 2.0))


def scanpath_dtw(a: np.ndarray, b: np.ndarray) -> float:
    """Dynamic time warping distance between two ordered scanpaths (sum of Euclidean costs on the best path)."""
    x, y = _pts(a, "a").reshape(-1, 2), _pts(b, "b").reshape(-1, 2)
    if len(x) == 0 or len(y) == 0:
        raise ValueError("DTW needs two non-empty scanpaths")
    cost = np.linalg.norm(x[:, None, :] - y[None, :, :], axis=-1)
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j], acc[i, j - 1], acc[i - 1, j - 1])
    return float(acc[n, m])


def saliency_metrics(pred_map: np.ndarray, target_points: np.ndarray, *, sigma: float) -> dict[str, float]:
    """CC, KLD, NSS, SIM and AUC-Judd of a predicted map against target fixations.

    The ground-truth density is the Gaussian rendering of ``target_points`` (``sigma`` pixels);
    NSS and AUC-Judd use the fixated pixels themselves.
    """
    p = _map(pred_map, "pred_map")
    dens = render_fixation_map(target_points, p.shape, sigma=sigma)
    mask = fixation_mask(target_points, p.shape)
    return {
        "cc": cc(p, dens),
        "kld": kld(p, dens),
        "nss": nss(p, mask),
        "sim": sim(p, dens),
        "auc_judd": auc_judd(p, mask),
    }


def peak_distance(density: np.ndarray, mask: np.ndarray) -> float:
    """Distance (pixels) from the density's peak to the nearest pixel of ``mask``; 0 when the peak is on it.

    Ties of the maximum are resolved by the first one in row-major order (``numpy.argmax``).

    Raises:
        ValueError: Shapes differ or the mask is empty.
    """
    from scipy import ndimage as ndi

    p = _map(density, "density")
    m = np.asarray(mask, dtype=bool)
    if m.shape != p.shape:
        raise ValueError(f"mask {m.shape} and density {p.shape} differ in shape")
    if not m.any():
        raise ValueError("the finding mask is empty")
    r, c = np.unravel_index(int(np.argmax(p)), p.shape)
    if m[r, c]:
        return 0.0
    dist = ndi.distance_transform_edt(~m)
    return float(dist[r, c])


def point_spread(points: np.ndarray) -> float:
    """Root-mean-square distance of the points to their centroid (pixels)."""
    a = _pts(points, "points").reshape(-1, 2)
    if len(a) == 0:
        raise ValueError("no points")
    return float(np.sqrt(np.mean(np.sum((a - a.mean(0)) ** 2, axis=1))))
