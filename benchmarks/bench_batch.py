"""Batch wall time as whole commands: ``medwave batch register -i IN -o OUT`` sequential vs 2 Dask workers.

20 small synthetic registration cases (crops of warped MNI152 2 mm templates, ``--size`` voxels a side) all
registered to one fixed image, nnU-Net style folder in / folder out. Each mode is one ``medwave batch``
process, timed from launch to exit (subprocess wall time: imports, cluster start-up, every item, the summary),
which is what a user waits for. Target: 2 local workers at least 1.5x faster than ``--sequential``
(exit 1 on a miss).

Run: OMP_NUM_THREADS=1 python benchmarks/bench_batch.py [--n 20] [--size 64] [--iterations 120] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.5


def make_cases(folder: Path, n: int, size: int) -> Path:
    """Write ``n`` moving images and one fixed image (``size``^3 crops) into ``folder``; returns the fixed path."""
    import nibabel as nib
    import numpy as np

    from medwave.registration.synthetic import make_pair

    def crop(arr, aff):
        lo = [max(0, (s - size) // 2) for s in arr.shape]
        sl = tuple(slice(a, a + size) for a in lo)
        a2 = aff.copy()
        a2[:3, 3] += aff[:3, :3] @ np.array(lo, float)
        return np.ascontiguousarray(arr[sl], np.float32), a2

    (folder / "in").mkdir(parents=True)
    p0 = make_pair(1000)
    fixed, aff = crop(p0["fixed"], p0["affine"])
    nib.save(nib.Nifti1Image(fixed, aff), folder / "fixed.nii.gz")
    for i in range(n):
        mov, aff_m = crop(make_pair(i)["moving"], p0["affine"])
        nib.save(nib.Nifti1Image(mov, aff_m), folder / "in" / f"case_{i:03d}.nii.gz")
    return folder / "fixed.nii.gz"


def time_command(args: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(args, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"command failed ({p.returncode}): {' '.join(args)}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20, help="number of cases (default 20)")
    ap.add_argument("--size", type=int, default=64, help="voxels a side (default 64)")
    ap.add_argument("--iterations", type=int, default=120, help="instance-optimisation steps per case (default 120)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 cases of 32^3, 20 steps (no target)")
    a = ap.parse_args()
    if a.quick:
        a.n, a.size, a.iterations = 4, 32, 20
    medwave = [sys.executable, "-m", "medwave.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MEDWAVE_NO_PROGRESS": "1"}
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(prefix="medwave-bench-batch-") as d:
        d = Path(d)
        fixed = make_cases(d, a.n, a.size)
        common = ["batch", "register", "-i", str(d / "in"), "--fixed", str(fixed), "--iterations", str(a.iterations),
                  "--quiet"]
        rows = []
        for label, extra in (("sequential", ["--sequential"]), (f"{a.workers} workers", ["--workers", str(a.workers)])):
            out = d / f"out_{len(rows)}"
            dt = time_command(medwave + common + ["-o", str(out)] + extra, env)
            n_out = len(list(out.glob("case_*_transform/transform.json")))
            if n_out != a.n:
                sys.exit(f"{label}: {n_out} of {a.n} cases written to {out}")
            rows.append((label, dt))
            shutil.rmtree(out)
    load = os.getloadavg()
    seq = rows[0][1]
    print(f"{a.n} cases {a.size}^3, medwave batch register -i FOLDER --iterations {a.iterations}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} CPUs, OMP_NUM_THREADS=1")
    print(f"{'mode':<12} {'seconds':>8} {'cases/min':>10} {'speed-up':>9}")
    for label, dt in rows:
        print(f"{label:<12} {dt:8.2f} {a.n / dt * 60:10.1f} {seq / dt:8.2f}x")
    ratio = seq / rows[1][1]
    if a.quick:
        print(f"quick run: {ratio:.2f}x (no target checked)")
        return 0
    ok = ratio >= TARGET
    print(f"target: {a.workers} workers >= {TARGET}x sequential: {'met' if ok else 'MISSED'} ({ratio:.2f}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
