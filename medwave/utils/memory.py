"""Large output buffers: transparent huge pages where the kernel offers them, and reuse of freed ones.

A 3D stationary transform writes several hundred MB of fresh memory per call. With 4 KiB pages every page
is a fault on first touch (about 2.5-5 us each on the VMs measured, ~0.3 s per 220 MB); with 2 MiB pages
there are 512x fewer. Linux hands out huge pages for a mapping only when asked (``madvise(MADV_HUGEPAGE)``)
unless the system-wide setting is ``always``. :func:`empty_large` allocates with torch and asks, before the
first touch; everywhere else (other systems, small buffers, failures) it is plain :func:`torch.empty`.

Fresh memory is still dear after that: the kernel zeroes every page, and on a VM whose balloon reports free
pages to the host (virtio-balloon free page reporting, as on the reference machine) memory that a process
gave back a few seconds ago is no longer backed by the host, so touching it again faults in the hypervisor as
well (measured: 0.05-0.35 s per 440 MB). glibc keeps freed blocks below its mmap threshold (32 MB at most)
in the process for reuse, which is why ``pywt.swtn``'s 27 MB bands rarely fault; torch hands larger blocks
straight back to the kernel. :func:`pooled_empty` closes that gap for the transforms' large outputs: a buffer
it hands out goes back to a small free list when the last tensor using it dies, and the next request of a
similar size reuses it (already touched, no faults). The free list holds at most :data:`POOL_MAX_BYTES`
(``MEDWAVE_BUFFER_POOL_MB``, default 1024 or 1/8 of the RAM, whichever is less; 0 turns the pool off), is
emptied in a forked child, and :func:`release_pool` empties it on demand. Buffers that are in use are never
reused: nothing is shared with a live tensor.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import threading
import weakref
from functools import lru_cache
from typing import Optional, Sequence

import numpy as np
import torch

__all__ = ["empty_large", "pooled_empty", "release_pool", "pool_bytes", "HUGE_MIN_BYTES", "POOL_MAX_BYTES"]

#: Buffers from this size up are advised to use huge pages (and go through the pool).
HUGE_MIN_BYTES = 16 << 20
_MADV_HUGEPAGE = 14
_PAGE = 4096


def _default_pool_bytes() -> int:
    env = os.environ.get("MEDWAVE_BUFFER_POOL_MB")
    if env is not None and env.strip():
        try:
            return max(0, int(float(env))) << 20
        except ValueError:
            return 0
    cap = 1 << 30
    try:
        cap = min(cap, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 8)
    except (ValueError, OSError, AttributeError):
        pass
    return int(cap)


#: Most bytes of freed buffers kept for reuse by :func:`pooled_empty` (0: no pool).
POOL_MAX_BYTES = _default_pool_bytes()

_FREE: list = []  # free raw buffers (uint8 numpy arrays owning torch memory), oldest first
_LOCK = threading.RLock()
_NP_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


@lru_cache(maxsize=1)
def _madvise() -> Optional[object]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            if "[never]" in f.read():
                return None
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.madvise
        fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        fn.restype = ctypes.c_int
        return fn
    except (OSError, AttributeError):
        return None


def empty_large(shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
    """``torch.empty(shape, dtype=dtype)`` on the CPU, advised to use huge pages when it is large."""
    t = torch.empty(tuple(shape), dtype=dtype)
    nbytes = t.numel() * t.element_size()
    fn = _madvise() if nbytes >= HUGE_MIN_BYTES else None
    if fn is not None:
        start = (t.data_ptr() + _PAGE - 1) & ~(_PAGE - 1)
        end = (t.data_ptr() + nbytes) & ~(_PAGE - 1)
        if end > start:
            fn(start, end - start, _MADV_HUGEPAGE)  # advice only: a failure leaves ordinary pages
    return t


def _give_back(raw: np.ndarray, pid: int) -> None:
    """Finaliser of a handed-out buffer: keep its memory for reuse (within :data:`POOL_MAX_BYTES`)."""
    if pid != os.getpid() or raw.nbytes > POOL_MAX_BYTES:
        return
    with _LOCK:
        _FREE.append(raw)
        total = sum(r.nbytes for r in _FREE)
        while total > POOL_MAX_BYTES and _FREE:
            total -= _FREE.pop(0).nbytes  # the oldest goes back to the system


def _take(nbytes: int) -> Optional[np.ndarray]:
    """The smallest free buffer of ``nbytes`` to ``nbytes * 1.25`` bytes, removed from the free list."""
    with _LOCK:
        fits = [r for r in list(_FREE) if nbytes <= r.nbytes <= nbytes + nbytes // 4]
        best = min(fits, key=lambda r: r.nbytes) if fits else None
        if best is not None:  # by identity: a finaliser may have changed the list meanwhile (same thread, RLock)
            for i, r in enumerate(_FREE):
                if r is best:
                    del _FREE[i]
                    return best
        return None


def pooled_empty(shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised CPU tensor like :func:`empty_large`, whose memory is reused once it is freed.

    Small buffers, dtypes other than float32/float64 and a disabled pool give :func:`empty_large`'s tensor.
    The tensor is an ordinary one except that its storage cannot be resized (it wraps pooled memory).
    """
    shape = tuple(int(s) for s in shape)
    np_dtype = _NP_DTYPES.get(dtype)
    nbytes = math.prod(shape) * (np.dtype(np_dtype).itemsize if np_dtype is not None else 0)
    if np_dtype is None or nbytes < HUGE_MIN_BYTES or nbytes > POOL_MAX_BYTES:
        return empty_large(shape, dtype)
    raw = _take(nbytes)
    if raw is None:
        raw = empty_large((nbytes,), torch.uint8).numpy()
    view = raw[:nbytes].view(np_dtype).reshape(shape)  # its base is ``raw``; only this array is handed out
    weakref.finalize(view, _give_back, raw, os.getpid()).atexit = False
    return torch.from_numpy(view)


def pool_bytes() -> int:
    """Bytes held by free buffers in the pool."""
    with _LOCK:
        return sum(r.nbytes for r in _FREE)


def release_pool() -> None:
    """Give every free pooled buffer back to the system."""
    with _LOCK:
        _FREE.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _FREE.clear())  # a child would copy the parent's pages on write
