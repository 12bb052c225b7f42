"""The exact matrices of the DTCWT's per-axis steps (numpy, float64), shared by the torch path
(:mod:`medwave.wavelets.dtcwt`) and the compiled kernels' tables (:mod:`medwave.wavelets.dtcwt_fused`).

Each step of Kingsbury's transform along one axis (the level-1 filter, the decimating and the interpolating Q-shift
filter pairs, with ``dtcwt``'s half-sample symmetric extension and its two-sample extension of decimating steps
whose length is not a multiple of 4) is linear; :func:`_matrix` is its ``(n_out, n)`` matrix, built by applying
the step to the identity.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from medwave.wavelets.dtcwt_filters import BIORT, QSHIFT

__all__ = ["_sym_index", "_filters", "_matrix"]


def _sym_index(i: np.ndarray, n: int) -> np.ndarray:
    """Half-sample symmetric extension: index ``-1`` reads 0, ``n`` reads ``n - 1``."""
    i = np.mod(i, 2 * n)
    return np.where(i >= n, 2 * n - 1 - i, i)


def _conv_valid(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """'valid' convolution along axis 0: ``y[k] = sum_j h[j] x[k + m - 1 - j]``."""
    m = h.shape[0]
    n_out = x.shape[0] - m + 1
    y = np.zeros((n_out,) + x.shape[1:])
    for j in range(m):
        y += h[j] * x[m - 1 - j : m - 1 - j + n_out]
    return y


def _filter(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Non-decimating filter (odd-length biorthogonal filters), symmetric extension, same length."""
    n, m = x.shape[0], h.shape[0]
    m2 = m // 2
    return _conv_valid(x[_sym_index(np.arange(-m2, n + m2), n)], h)


def _dfilter(x: np.ndarray, ha: np.ndarray, hb: np.ndarray) -> np.ndarray:
    """Decimate-by-2 Q-shift filter pair (trees a and b interleaved), symmetric extension; ``n % 4 == 0``."""
    n, m = x.shape[0], ha.shape[0]
    xe = _sym_index(np.arange(-m, n + m), n)
    t = np.arange(5, n + 2 * m - 2, 4)
    y = np.zeros((n // 2,) + x.shape[1:])
    first, second = (slice(0, n // 2, 2), slice(1, n // 2, 2))
    if np.sum(ha * hb) <= 0:
        first, second = second, first
    y[first] = _conv_valid(x[xe[t - 1]], ha[0::2]) + _conv_valid(x[xe[t - 3]], ha[1::2])
    y[second] = _conv_valid(x[xe[t]], hb[0::2]) + _conv_valid(x[xe[t - 2]], hb[1::2])
    return y


def _ifilter(x: np.ndarray, ha: np.ndarray, hb: np.ndarray) -> np.ndarray:
    """Interpolate-by-2 Q-shift filter pair (the synthesis of :func:`_dfilter`); ``n`` even."""
    n, m = x.shape[0], ha.shape[0]
    m2 = m // 2
    y = np.zeros((2 * n,) + x.shape[1:])
    xe = _sym_index(np.arange(-m2, n + m2), n)
    same_sign = np.sum(ha * hb) > 0
    s = np.arange(0, 2 * n, 4)
    hao, hae, hbo, hbe = ha[0::2], ha[1::2], hb[0::2], hb[1::2]
    if m2 % 2 == 0:
        t = np.arange(3, n + m, 2)
        ta, tb = (t, t - 1) if same_sign else (t - 1, t)
        y[s] = _conv_valid(x[xe[tb - 2]], hae)
        y[s + 1] = _conv_valid(x[xe[ta - 2]], hbe)
        y[s + 2] = _conv_valid(x[xe[tb]], hao)
        y[s + 3] = _conv_valid(x[xe[ta]], hbo)
    else:
        t = np.arange(2, n + m - 1, 2)
        ta, tb = (t, t - 1) if same_sign else (t - 1, t)
        y[s] = _conv_valid(x[xe[tb]], hao)
        y[s + 1] = _conv_valid(x[xe[ta]], hbo)
        y[s + 2] = _conv_valid(x[xe[tb]], hae)
        y[s + 3] = _conv_valid(x[xe[ta]], hbe)
    return y


def _filters(biort: str, qshift: str) -> tuple[dict, dict]:
    if biort not in BIORT:
        raise ValueError(f"Unknown biorthogonal filter set {biort!r}; use one of {', '.join(BIORT)}.")
    if qshift not in QSHIFT:
        raise ValueError(f"Unknown Q-shift filter set {qshift!r}; use one of {', '.join(QSHIFT)}.")
    return ({k: np.asarray(v) for k, v in BIORT[biort].items()}, {k: np.asarray(v) for k, v in QSHIFT[qshift].items()})


@lru_cache(maxsize=512)
def _matrix(kind: str, n: int, biort: str, qshift: str, names: tuple) -> np.ndarray:
    """The exact matrix of one per-axis step on a length-``n`` axis (float64, ``(n_out, n)``)."""
    b, q = _filters(biort, qshift)
    eye = np.eye(n)
    if kind == "filter":
        return _filter(eye, b[names[0]])
    if kind == "dfilter":  # with the two-sample edge extension of lengths that are not a multiple of 4
        pad = eye if n % 4 == 0 else eye[np.r_[0, np.arange(n), n - 1]]
        return _dfilter(pad, q[names[0]], q[names[1]])
    if kind == "ifilter":
        return _ifilter(eye, q[names[0]], q[names[1]])
    raise ValueError(kind)
