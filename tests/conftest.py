"""Shared test configuration: deterministic seeds and 1 torch thread per xdist worker."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

torch.set_num_threads(int(os.environ.get("MEDWAVE_TEST_THREADS", "1")))


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded NumPy generator (the same numbers in every run)."""
    return np.random.default_rng(20261122)
