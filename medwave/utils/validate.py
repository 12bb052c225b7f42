"""Option checks shared by every entry point: finite numbers, ranges and closed sets, one message each.

The pipelines' option sets (:func:`register_options`, :func:`segment_options`, :func:`denoise_options`,
:func:`gaze_options`) are checked once, by the functional core *and* by ``medwave batch`` before any item runs,
so the single-file and batch paths accept and refuse exactly the same values. Errors are
:class:`~medwave.utils.errors.OptionError` (a ``ValueError``) naming the option, the value and what is accepted;
the CLI prints them with the option as its flag (``--overlap 1.5: ...``), exit code 2.

Example:
    >>> from medwave.utils.validate import number
    >>> number("smoothness", float("nan"), lo=0)
    Traceback (most recent call last):
    ...
    medwave.utils.errors.OptionError: smoothness=nan: must be a finite number >= 0.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Optional, Sequence, Union

from medwave.utils.errors import OptionError

__all__ = ["number", "integer", "choice", "int_tuple", "register_options", "segment_options", "denoise_options",
           "gaze_options", "OPTION_CHECKS"]


def _range_text(lo, hi, lo_open, hi_open) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi:g}")
    return " and ".join(parts)


def number(name: str, value: Any, *, lo: Optional[float] = None, hi: Optional[float] = None,
           lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number within ``[lo, hi]`` (bounds optional; ``*_open`` excludes them).

    Raises:
        ValueError: Not a number, NaN/Inf, complex, or out of range.
    """
    rng = _range_text(lo, hi, lo_open, hi_open)
    want = f"a finite number{' ' + rng if rng else ''}"
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise OptionError(name, value, f": must be {want}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OptionError(name, value, f": must be {want}.") from None
    if not math.isfinite(v):
        raise OptionError(name, value, f": must be {want}.")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise OptionError(name, value, f": must be {want}.")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise OptionError(name, value, f": must be {want}.")
    return v


def integer(name: str, value: Any, *, lo: Optional[int] = None, hi: Optional[int] = None) -> int:
    """A whole number within ``[lo, hi]`` (``3.0`` is accepted, ``3.5`` and ``True`` are not)."""
    rng = _range_text(lo, hi, False, False)
    want = f"a whole number{' ' + rng if rng else ''}"
    if isinstance(value, bool):
        raise OptionError(name, value, f": must be {want}.")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise OptionError(name, value, f": must be {want}.") from None
    if not math.isfinite(f) or f != int(f):
        raise OptionError(name, value, f": must be {want}.")
    v = int(f)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise OptionError(name, value, f": must be {want}.")
    return v


def choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices`` (a closed set), else a ValueError listing them."""
    options = list(choices)
    if value not in options:
        shown = ", ".join(map(str, options[:12])) + (" ..." if len(options) > 12 else "")
        raise OptionError(name, value, f": choose one of {shown}.")
    return value


def int_tuple(name: str, value: Any, n: int, *, lo: int = 1) -> tuple[int, ...]:
    """``n`` whole numbers >= ``lo`` (e.g. a cube size)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise OptionError(name, value, f": give {n} whole numbers >= {lo}.")
    vals = list(value)
    if len(vals) != n:
        raise OptionError(name, tuple(vals), f": give {n} whole numbers >= {lo}, got {len(vals)}.")
    try:
        return tuple(integer(name, v, lo=lo) for v in vals)
    except OptionError:
        raise OptionError(name, tuple(vals), f": give {n} whole numbers >= {lo}.") from None


# --------------------------------------------------------------------------- the pipelines' option sets


def register_options(*, iterations: Union[int, Sequence[int], None] = None, smoothness: Any = None,
                     seed: Any = None, **rest: Any) -> dict:
    """Registration: ``iterations`` a whole number >= 0 or 4 of them (one per pyramid level), ``smoothness`` a
    finite number >= 0, ``seed`` a whole number >= 0. Returns the normalised values given."""
    out: dict[str, Any] = dict(rest)
    if iterations is not None:
        if isinstance(iterations, (list, tuple)):
            if len(iterations) != 4:
                raise OptionError("iterations", tuple(iterations), ": give one total or 4 numbers (one per pyramid "
                                  "level, coarsest first), each a whole number >= 0.", cli_value=",".join(map(str, iterations)))
            out["iterations"] = tuple(integer("iterations", v, lo=0) for v in iterations)
        else:
            out["iterations"] = integer("iterations", iterations, lo=0)
    if smoothness is not None:
        out["smoothness"] = number("smoothness", smoothness, lo=0)
    if seed is not None:
        out["seed"] = integer("seed", seed, lo=0)
    return out


def segment_options(*, cube: Any = None, overlap: Any = None, threshold: Any = None, batch_size: Any = None,
                    **rest: Any) -> dict:
    """Neuron segmentation: ``cube`` 3 whole numbers >= 1, ``overlap`` in [0, 1), ``threshold`` in [0, 1],
    ``batch_size`` >= 1."""
    out: dict[str, Any] = dict(rest)
    if cube is not None:
        out["cube"] = int_tuple("cube", cube, 3)
    if overlap is not None:
        out["overlap"] = number("overlap", overlap, lo=0, hi=1, hi_open=True)
    if threshold is not None:
        out["threshold"] = number("threshold", threshold, lo=0, hi=1)
    if batch_size is not None:
        out["batch_size"] = integer("batch_size", batch_size, lo=1)
    return out


def denoise_options(*, wavelet: Any = None, levels: Any = None, method: Any = None, mode: Any = None,
                    sigma: Any = None, **rest: Any) -> dict:
    """Wavelet denoising: a discrete ``wavelet``, ``levels`` >= 1, ``method`` BayesShrink/VisuShrink, ``mode``
    soft/hard, ``sigma`` a finite number >= 0."""
    out: dict[str, Any] = dict(rest)
    if wavelet is not None:
        import pywt

        out["wavelet"] = choice("wavelet", wavelet, pywt.wavelist(kind="discrete"))
    if levels is not None:
        out["levels"] = integer("levels", levels, lo=1)
    if method is not None:
        out["method"] = choice("method", method, ("BayesShrink", "VisuShrink"))
    if mode is not None:
        out["mode"] = choice("mode", mode, ("soft", "hard"))
    if sigma is not None:
        out["sigma"] = number("sigma", sigma, lo=0)
    return out


def gaze_options(*, k: Any = None, **rest: Any) -> dict:
    """Gaze: ``k`` (points per sentence) >= 1."""
    out: dict[str, Any] = dict(rest)
    if k is not None:
        out["k"] = integer("k", k, lo=1)
    return out


#: Task name -> its option check (used by ``medwave batch``).
OPTION_CHECKS = {"register": register_options, "segment-neurons": segment_options, "denoise": denoise_options,
                 "gaze": gaze_options}
