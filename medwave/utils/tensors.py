"""NumPy -> torch at a pipeline's door, for arrays medwave does not own."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["tensor_from"]


def tensor_from(arr: np.ndarray, dtype: "np.dtype | type | None" = None) -> torch.Tensor:
    """A CPU tensor on ``arr``'s data: shared when NumPy lets us write it, a private copy when it is read-only.

    The front doors hand pipelines read-only views of the caller's data (:func:`medwave.io.as_image`).
    ``torch.as_tensor`` on such a view warns that writing to it is undefined, and an in-place op would write
    into the caller's array; a copy avoids both. Writable arrays are shared, as ``torch.from_numpy`` does.

    Args:
        arr: Any NumPy array.
        dtype: Optional NumPy dtype to convert to first.

    Returns:
        A contiguous CPU tensor.
    """
    a = np.ascontiguousarray(arr, dtype=dtype)
    if not a.flags.writeable:
        a = a.copy()
    return torch.from_numpy(a)
