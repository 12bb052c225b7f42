"""Filter banks: every PyWavelets discrete wavelet, custom banks, and learnable banks.

A :class:`FilterBank` holds the four filters of a two-channel filter bank exactly as
PyWavelets defines them (``dec_lo``, ``dec_hi``, ``rec_lo``, ``rec_hi``), so that every
transform in :mod:`medwave.wavelets` can be compared with :mod:`pywt` coefficient for
coefficient.

Example:
    >>> from medwave.wavelets import get_filter_bank
    >>> fb = get_filter_bank("db2")
    >>> fb.length
    4
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence, Union

import numpy as np
import pywt

__all__ = [
    "DISCRETE_WAVELETS",
    "FilterBank",
    "WaveletLike",
    "get_filter_bank",
]

#: Every discrete wavelet PyWavelets knows (haar, dbN, symN, coifN, biorX.Y, rbioX.Y, dmey).
DISCRETE_WAVELETS: tuple[str, ...] = tuple(pywt.wavelist(kind="discrete"))


@dataclass(frozen=True)
class FilterBank:
    """The four filters of a two-channel wavelet filter bank (PyWavelets' convention).

    Attributes:
        name: A name for messages and cache keys.
        dec_lo: Analysis low-pass filter.
        dec_hi: Analysis high-pass filter.
        rec_lo: Synthesis low-pass filter.
        rec_hi: Synthesis high-pass filter.
    """

    name: str
    dec_lo: tuple[float, ...]
    dec_hi: tuple[float, ...]
    rec_lo: tuple[float, ...]
    rec_hi: tuple[float, ...]

    @property
    def length(self) -> int:
        """Filter length used by PyWavelets for output sizes and level limits."""
        return len(self.dec_lo)

    @property
    def orthogonal(self) -> bool:
        """True when synthesis filters are the time-reversed analysis filters."""
        return bool(
            np.allclose(self.rec_lo, self.dec_lo[::-1]) and np.allclose(self.rec_hi, self.dec_hi[::-1])
        )

    def to_pywt(self) -> pywt.Wavelet:
        """Return the equivalent :class:`pywt.Wavelet` (a named wavelet where possible)."""
        if self.name in DISCRETE_WAVELETS:
            return pywt.Wavelet(self.name)
        return pywt.Wavelet(self.name, filter_bank=(self.dec_lo, self.dec_hi, self.rec_lo, self.rec_hi))


WaveletLike = Union[str, FilterBank, "pywt.Wavelet", Sequence[Sequence[float]]]


def _unknown_wavelet_error(name: str) -> ValueError:
    close = difflib.get_close_matches(name.lower(), DISCRETE_WAVELETS, n=5, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    families = ", ".join(pywt.families(short=True))
    return ValueError(
        f"Unknown wavelet {name!r}.{hint} Use one of pywt.wavelist(kind='discrete') "
        f"(families: {families}) or pass a custom filter bank (dec_lo, dec_hi, rec_lo, rec_hi)."
    )


@lru_cache(maxsize=None)
def _named_bank(name: str) -> FilterBank:
    if name not in DISCRETE_WAVELETS:
        raise _unknown_wavelet_error(name)
    w = pywt.Wavelet(name)
    return FilterBank(name, tuple(w.dec_lo), tuple(w.dec_hi), tuple(w.rec_lo), tuple(w.rec_hi))


def get_filter_bank(wavelet: WaveletLike) -> FilterBank:
    """Resolve a wavelet given by name, :class:`pywt.Wavelet`, tuple of filters or FilterBank.

    Args:
        wavelet: ``"db2"``, a :class:`pywt.Wavelet`, a :class:`FilterBank`, or a sequence of four
            equal-length filters ``(dec_lo, dec_hi, rec_lo, rec_hi)``.

    Returns:
        The resolved :class:`FilterBank`.

    Raises:
        ValueError: Unknown name (close names are listed) or malformed custom filters.
    """
    if isinstance(wavelet, FilterBank):
        return wavelet
    if isinstance(wavelet, str):
        return _named_bank(wavelet)
    if isinstance(wavelet, pywt.Wavelet):
        if wavelet.name in DISCRETE_WAVELETS:
            return _named_bank(wavelet.name)
        bank = wavelet.filter_bank
        name = wavelet.name or "custom"
    else:
        try:
            bank = tuple(wavelet)  # type: ignore[arg-type]
        except TypeError as exc:
            raise TypeError(
                f"wavelet must be a name, pywt.Wavelet, FilterBank or 4 filters, got {type(wavelet).__name__}"
            ) from exc
        name = "custom"
    if len(bank) != 4:
        raise ValueError(
            f"A custom filter bank needs 4 filters (dec_lo, dec_hi, rec_lo, rec_hi), got {len(bank)}."
        )
    filters = [tuple(float(v) for v in np.asarray(f, dtype=np.float64).ravel()) for f in bank]
    lengths = {len(f) for f in filters}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(
            f"The 4 filters of a custom filter bank must be non-empty and equally long, got lengths "
            f"{[len(f) for f in filters]}; zero-pad the shorter ones as PyWavelets does for bior wavelets."
        )
    if not all(np.isfinite(f).all() for f in filters):
        raise ValueError("Custom filter bank contains NaN or Inf coefficients.")
    digest = abs(hash(tuple(filters))) % 10**8
    return FilterBank(f"{name}#{digest}", *filters)  # type: ignore[arg-type]
