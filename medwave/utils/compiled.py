"""The compiled (numba) kernels of medwave: one switch, lazy loading, and how they are run.

medwave's hot loops (the fused 3D wavelet transforms, scaling and squaring of 3D displacement fields) have
numba kernels next to their pure-torch reference paths. This module holds what they share:

* the switch: on when numba is importable, off with ``MEDWAVE_FUSED=0`` or :func:`set_compiled` (every
  computation then takes its torch path, which the kernels are tested against);
* :func:`load_kernels`: imports a kernel module on first use, so ``import medwave`` does not import numba,
  after setting numba's threading layer to ``"forksafe"`` unless ``NUMBA_THREADING_LAYER`` is set (numba's
  default prefers a GNU OpenMP layer where one is found, and a process that has used that layer is killed
  when it forks: a torch DataLoader worker, a multiprocessing pool);
* :func:`parallel_call`: runs a parallel kernel on as many threads as torch uses, one at a time per process
  (numba's workqueue layer must not be entered by two threads at once).

Kernels are compiled once and cached on disk by numba (``make install`` compiles them with
:func:`medwave.warmup.warm`).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import threading
from types import ModuleType
from typing import Any, Callable, Iterator

import torch

__all__ = ["NUMBA_AVAILABLE", "compiled_enabled", "compiled_accepts", "set_compiled", "compiled_off", "load_kernels",
           "parallel_call"]

#: Whether numba can be imported (it is a dependency; without it every computation takes its torch path).
NUMBA_AVAILABLE = importlib.util.find_spec("numba") is not None

_ENABLED = os.environ.get("MEDWAVE_FUSED", "1").strip().lower() not in ("0", "false", "no", "off")
_LOCK = threading.Lock()
_MODULES: dict[str, ModuleType] = {}
_LOCAL = threading.local()


def compiled_enabled() -> bool:
    """Whether the compiled kernels are available (numba importable) and switched on (in this thread)."""
    return _ENABLED and NUMBA_AVAILABLE and not getattr(_LOCAL, "off", False)


@contextlib.contextmanager
def compiled_off() -> Iterator[None]:
    """Take the torch paths in this thread for the ``with`` block (other threads are not affected).

    For callers that know a computation is too small to repay numba's start-up (importing numba and loading
    the cached kernels costs a fresh process about half a second).
    """
    prev = getattr(_LOCAL, "off", False)
    _LOCAL.off = True
    try:
        yield
    finally:
        _LOCAL.off = prev


def compiled_accepts(t: torch.Tensor) -> bool:
    """Whether a compiled kernel may take ``t``: kernels on, and ``t`` a CPU float32/float64 tensor."""
    return compiled_enabled() and t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64)


def set_compiled(enabled: bool) -> bool:
    """Switch the compiled kernels on or off for this process; returns the previous setting."""
    global _ENABLED
    prev = _ENABLED
    _ENABLED = bool(enabled)
    return prev


def load_kernels(module: str) -> ModuleType:
    """Import the kernel module ``module`` (numba compiles or loads its functions on first call)."""
    mod = _MODULES.get(module)
    if mod is None:
        with _LOCK:
            mod = _MODULES.get(module)
            if mod is None:
                import numba

                if "NUMBA_THREADING_LAYER" not in os.environ:
                    numba.config.THREADING_LAYER = "forksafe"
                mod = _MODULES[module] = importlib.import_module(module)
    return mod


def parallel_call(kernel: Callable[..., Any], *args: Any) -> Any:
    """Run a parallel numba ``kernel`` on ``torch.get_num_threads()`` threads, one kernel at a time."""
    import numba

    with _LOCK:
        prev = numba.get_num_threads()
        numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
        try:
            return kernel(*args)
        finally:
            numba.set_num_threads(prev)

