"""Batch task options, checked once before any item runs, by the same checks the single-file path uses."""

from __future__ import annotations

import os

from medwave.utils.validate import OPTION_CHECKS

__all__ = ["validate_options"]


def validate_options(task: str, options: dict) -> dict:
    """The options of ``task`` checked (finite numbers, ranges, closed sets) and normalised.

    Raises:
        ValueError: A bad value (named), before anything is written.
    """
    check = OPTION_CHECKS.get(task)
    out = dict(check(**options)) if check is not None else dict(options)
    weights = out.get("weights")
    if isinstance(weights, (str, os.PathLike)) and str(weights) not in ("default", "shipped"):
        # read once here, safely: a foreign or pickled file is one clear error before any item, not one per worker
        from medwave.networks.checkpoint import read_checkpoint

        read_checkpoint(weights, what=f"{task} weights file")
    return out
