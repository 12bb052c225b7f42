"""Progress bars that every long job shows in the terminal and that can be silenced."""

from __future__ import annotations

import os
import sys
from typing import Any, Iterable, Optional

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(
    iterable: Optional[Iterable] = None, *, total: Optional[int] = None, desc: str = "", enabled: bool = True, **kw: Any
) -> tqdm:
    """A tqdm bar on stderr, off when ``enabled`` is False or ``MEDWAVE_NO_PROGRESS=1``."""
    disable = (not enabled) or bool(os.environ.get("MEDWAVE_NO_PROGRESS"))
    return tqdm(iterable, total=total, desc=desc, disable=disable, file=sys.stderr, dynamic_ncols=True, **kw)
