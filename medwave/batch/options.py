"""Batch task options, checked once before any item runs, by the same checks the single-file path uses."""

from __future__ import annotations

from medwave.utils.validate import OPTION_CHECKS

__all__ = ["validate_options"]


def validate_options(task: str, options: dict) -> dict:
    """The options of ``task`` checked (finite numbers, ranges, closed sets) and normalised.

    Raises:
        ValueError: A bad value (named), before anything is written.
    """
    check = OPTION_CHECKS.get(task)
    return dict(check(**options)) if check is not None else dict(options)
