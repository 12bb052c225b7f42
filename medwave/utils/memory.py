"""Large output buffers backed by transparent huge pages where the kernel offers them.

A 3D stationary transform writes several hundred MB of fresh memory per call. With 4 KiB pages every page
is a fault on first touch (about 2.5-5 us each on the VMs measured, ~0.3 s per 220 MB); with 2 MiB pages
there are 512x fewer. Linux hands out huge pages for a mapping only when asked (``madvise(MADV_HUGEPAGE)``)
unless the system-wide setting is ``always``. :func:`empty_large` allocates with torch and asks, before the
first touch; everywhere else (other systems, small buffers, failures) it is plain :func:`torch.empty`.
"""

from __future__ import annotations

import ctypes
import sys
from functools import lru_cache
from typing import Optional, Sequence

import torch

__all__ = ["empty_large", "HUGE_MIN_BYTES"]

#: Buffers from this size up are advised to use huge pages.
HUGE_MIN_BYTES = 16 << 20
_MADV_HUGEPAGE = 14
_PAGE = 4096


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
