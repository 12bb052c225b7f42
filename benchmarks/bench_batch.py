"""Batch throughput: 16 small volumes, denoise task, sequential loop vs 1 vs 2 local Dask workers.

Run: OMP_NUM_THREADS=1 python benchmarks/bench_batch.py [--n 16] [--size 64]
Items per minute include cluster start-up (what a user waits for).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np


def main() -> None:
    from medwave.batch import items_from_glob, run_batch

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--size", type=int, default=64)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        rng = np.random.default_rng(0)
        for i in range(a.n):
            arr = rng.standard_normal((a.size,) * 3).astype(np.float32)
            nib.save(nib.Nifti1Image(arr, np.eye(4)), d / f"v{i:02d}.nii.gz")
        items = items_from_glob("denoise", str(d / "v*.nii.gz"))
        rows = []
        for label, workers in (("sequential", 0), ("1 worker", 1), ("2 workers", 2)):
            t0 = time.perf_counter()
            rep = run_batch("denoise", items, d / f"out_{workers}", workers=workers, progress=False,
                            options={"wavelet": "db2"})
            dt = time.perf_counter() - t0
            assert rep.ok and len(rep.done) == a.n
            rows.append((label, dt, a.n / dt * 60))
        base = rows[0][2]
        print(f"{a.n} volumes {a.size}^3, denoise db2 BayesShrink")
        print(f"{'mode':<12} {'seconds':>8} {'items/min':>10} {'vs seq':>7}")
        for label, dt, ipm in rows:
            print(f"{label:<12} {dt:8.2f} {ipm:10.1f} {ipm / base:6.2f}x")


if __name__ == "__main__":
    main()
