"""Progress bars that every long job shows in the terminal and that can be silenced."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Iterable, Optional

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["progress_bar", "progress_disabled_by_env"]


def progress_disabled_by_env() -> bool:
    """Whether ``MEDWAVE_NO_PROGRESS`` is set to a true value (``1``, ``yes``, ``true``; ``0``/empty mean no)."""
    return os.environ.get("MEDWAVE_NO_PROGRESS", "").strip().lower() not in ("", "0", "false", "no", "off")


def progress_bar(
    iterable: Optional[Iterable] = None, *, total: Optional[int] = None, desc: str = "", enabled: bool = True, **kw: Any
) -> "tqdm":
    """A tqdm bar on stderr, off when ``enabled`` is False or ``MEDWAVE_NO_PROGRESS=1``."""
    from tqdm.auto import tqdm  # here, not at import: a command that shows no bar does not pay for tqdm

    disable = (not enabled) or progress_disabled_by_env()
    return tqdm(iterable, total=total, desc=desc, disable=disable, file=sys.stderr, dynamic_ncols=True, **kw)
