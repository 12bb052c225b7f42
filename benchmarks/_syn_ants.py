"""ANTs SyN for bench_registration.py, run by the interpreter of a separate virtual environment with antspyx.

antspyx pins its own numpy and scipy, so it lives in a venv of its own (``make .venv-ants``); the benchmark calls
this file there as a whole command and times it, start-up included, as a user of ANTs would run it.

    .venv-ants/bin/python benchmarks/_syn_ants.py FIXED.npy MOVING.npy OUT.npy

Both inputs are ``(X, Y, Z)`` float32 volumes on one grid (spacing 1, identity direction, so physical units are
voxels); ``OUT.npy`` receives the forward displacement ``(1, 3, X, Y, Z)`` that warps MOVING onto FIXED (the
first of ``fwdtransforms`` of ``ants.registration(type_of_transform="SyNOnly")``, the recipe of issue 15).
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    """Run SyNOnly and save the displacement; exit 2 on a usage error."""
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    import ants
    import numpy as np

    fixed, moving = (np.load(p).astype(np.float32) for p in argv[:2])
    f, m = ants.from_numpy(fixed), ants.from_numpy(moving)
    reg = ants.registration(f, m, type_of_transform="SyNOnly")
    field = ants.image_read(reg["fwdtransforms"][0]).numpy()  # (X, Y, Z, 3), physical = voxel (spacing 1)
    np.save(argv[2], np.moveaxis(field, -1, 0).astype(np.float32)[None])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
