"""A batch task for tests: kills its worker process on a flagged item (importable on Dask workers)."""

from __future__ import annotations

import os
from pathlib import Path


def crash_or_write(inputs: dict, item_dir: Path, options: dict) -> dict:
    """Write a half output; if the flag file exists and names this image, die like a killed worker."""
    src = Path(inputs["image"])
    (item_dir / "part1.txt").write_text(src.name)
    flag = Path(options["flag"])
    if flag.exists() and flag.read_text().strip() == src.name:
        os._exit(13)
    (item_dir / "part2.txt").write_text("done")
    log = Path(options["log"])
    with open(log, "a") as fh:
        fh.write(src.name + "\n")
    return {"size": src.stat().st_size}
