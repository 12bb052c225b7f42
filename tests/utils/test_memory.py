"""The large-buffer helpers: huge-page advice and the pool of freed outputs (reused only once nothing uses them)."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest
import torch

from medwave.utils import memory


@pytest.fixture
def small_pool(monkeypatch: pytest.MonkeyPatch):
    """A pool that takes buffers from 1 KiB, holds at most 64 KiB, and starts empty."""
    monkeypatch.setattr(memory, "HUGE_MIN_BYTES", 1024)
    monkeypatch.setattr(memory, "POOL_MAX_BYTES", 64 << 10)
    memory.release_pool()
    yield memory
    memory.release_pool()


def test_empty_large_is_an_ordinary_tensor() -> None:
    t = memory.empty_large((5, 7), torch.float64)
    assert t.shape == (5, 7) and t.dtype == torch.float64 and t.is_contiguous()


def test_a_freed_buffer_is_reused_only_when_nothing_uses_it(small_pool) -> None:
    t = small_pool.pooled_empty((4, 64, 16), torch.float32)  # 16 KiB
    assert t.shape == (4, 64, 16) and t.dtype == torch.float32 and t.is_contiguous()
    ptr = t.data_ptr()
    view = t[1:]  # a torch view keeps the memory in use
    arr = view.numpy()  # and so does a numpy array made from it
    del t, view
    gc.collect()
    assert small_pool.pool_bytes() == 0
    other = small_pool.pooled_empty((4, 64, 16), torch.float32)
    assert other.data_ptr() != ptr  # not the buffer still in use
    arr[...] = 7.0
    del arr
    assert small_pool.pool_bytes() == 16 << 10
    again = small_pool.pooled_empty((4, 64, 16), torch.float32)
    assert again.data_ptr() == ptr and small_pool.pool_bytes() == 0
    del other, again


def test_sizes_dtypes_and_limits(small_pool) -> None:
    assert small_pool.pooled_empty((8, 8), torch.float32).shape == (8, 8)  # below the threshold: no pool
    assert small_pool.pool_bytes() == 0
    small_pool.pooled_empty((4096,), torch.int32)  # not a float dtype: no pool
    assert small_pool.pool_bytes() == 0
    small_pool.pooled_empty((1024,), torch.float64)  # 8 KiB, freed at once
    assert small_pool.pool_bytes() == 8 << 10
    # a much larger request does not take a small buffer, nor a small request a much larger one
    big = small_pool.pooled_empty((4096,), torch.float64)  # 32 KiB
    assert small_pool.pool_bytes() == 8 << 10
    del big
    tiny = small_pool.pooled_empty((1024,), torch.float32)  # 4 KiB: neither 8 nor 32 KiB fits within 25 %
    assert small_pool.pool_bytes() == 40 << 10
    del tiny
    for _ in range(3):  # never more than POOL_MAX_BYTES: the oldest buffers go back to the system
        held = [small_pool.pooled_empty((4096,), torch.float64) for _ in range(3)]
        del held
        assert small_pool.pool_bytes() <= 64 << 10
    small_pool.release_pool()
    assert small_pool.pool_bytes() == 0


def test_pool_off_and_other_process(small_pool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "POOL_MAX_BYTES", 0)
    small_pool.pooled_empty((4096,), torch.float64)
    assert small_pool.pool_bytes() == 0
    monkeypatch.setattr(memory, "POOL_MAX_BYTES", 64 << 10)
    memory._give_back(np.zeros(2048, np.uint8), os.getpid() + 1)  # a buffer of the parent, freed in a child
    assert small_pool.pool_bytes() == 0
