"""Boundary modes with PyWavelets' names, meaning and output sizes."""

from __future__ import annotations

from typing import Literal, get_args

import pywt

__all__ = ["Mode", "MODES", "check_mode", "coeff_len", "rec_len"]

Mode = Literal[
    "zero",
    "constant",
    "symmetric",
    "periodic",
    "smooth",
    "periodization",
    "reflect",
    "antisymmetric",
    "antireflect",
]
#: All supported modes (PyWavelets' ``pywt.Modes.modes``).
MODES: tuple[str, ...] = get_args(Mode)


def check_mode(mode: str) -> str:
    """Validate a boundary mode name.

    Raises:
        ValueError: The mode is not one of :data:`MODES`.
    """
    if mode not in MODES:
        raise ValueError(f"Unknown boundary mode {mode!r}; use one of {', '.join(MODES)} (PyWavelets' modes).")
    return mode


def coeff_len(n: int, filter_len: int, mode: str) -> int:
    """Length of one-level coefficients of a length-``n`` signal (``pywt.dwt_coeff_len``)."""
    return int(pywt.dwt_coeff_len(n, filter_len, mode))


def rec_len(n_coeffs: int, filter_len: int, mode: str) -> int:
    """Length PyWavelets' ``idwt`` returns for ``n_coeffs`` coefficients."""
    if mode == "periodization":
        return 2 * n_coeffs
    return 2 * n_coeffs - filter_len + 2
