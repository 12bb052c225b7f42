"""Benchmark: what a user waits for, as whole processes: ``medwave denoise`` / ``medwave info`` vs a plain script.

Issue 17 ("start-up a user does not pay for nothing"): a command imports only what it uses. Each row is one
whole process, started by ``subprocess`` and timed from the outside (wall time: interpreter start, imports,
reading, work, writing, exit), on the real MNI152 2009 T1 template at 2 mm (nilearn ships it, 99x117x95):

* ``medwave denoise T1 -o OUT --quiet`` (BayesShrink, soft, db1: the defaults);
* ``medwave info T1``;
* the anchor, a plain script: load with nibabel, ``skimage.restoration.denoise_wavelet(channel_axis=None)``
  (the same defaults), save with nibabel.

The three processes run interleaved, round by round (so load on the machine hits them alike), after one
untimed warm-up round (the OS file cache, numba's on-disk kernel cache); best and median of ``--repeats``
rounds are reported. Targets (judged on the best round, the least disturbed one): ``medwave denoise`` at
most 2.5x the script, ``medwave info`` no slower than it. Exit code 1 when a target is missed.

Threads: ``OMP_NUM_THREADS`` as in the environment (the Makefile sets 2).

Run: ``.venv/bin/python benchmarks/bench_startup.py [--repeats 7] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DENOISE_TARGET = 2.5  # medwave denoise <= 2.5x the script
INFO_TARGET = 1.0  # medwave info no slower than the script

SCRIPT = """\
import sys
import nibabel as nib
import numpy as np
from skimage.restoration import denoise_wavelet

img = nib.load(sys.argv[1])
arr = np.asarray(img.dataobj, dtype=np.float32)
out = denoise_wavelet(arr, channel_axis=None, method="BayesShrink", mode="soft", wavelet="db1")
nib.save(nib.Nifti1Image(out.astype(np.float32), img.affine, img.header), sys.argv[2])
"""

MEDWAVE = "import sys; from medwave.cli import main; sys.exit(main())"  # what the `medwave` entry point runs


def _run(argv: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return dt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7, help="timed rounds (default 7)")
    ap.add_argument("--quick", action="store_true", help="2 rounds: a smoke run")
    args = ap.parse_args(argv)
    repeats = 2 if args.quick else max(1, args.repeats)

    import nibabel as nib
    from nilearn.datasets import load_mni152_template

    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["MEDWAVE_NO_PROGRESS"] = "1"
    with tempfile.TemporaryDirectory(prefix="medwave_bench_startup_") as tmp:
        tmp = Path(tmp)
        t1 = tmp / "mni152_2mm.nii.gz"
        nib.save(load_mni152_template(resolution=2), t1)
        script = tmp / "skimage_denoise.py"
        script.write_text(SCRIPT)
        py = sys.executable
        jobs = {
            "script (nibabel + skimage denoise_wavelet)": [py, str(script), str(t1), str(tmp / "script_out.nii.gz")],
            "medwave denoise": [py, "-c", MEDWAVE, "denoise", str(t1), "-o", str(tmp / "mw_out.nii.gz"), "--overwrite",
                                "--quiet"],
            "medwave info": [py, "-c", MEDWAVE, "info", str(t1)],
        }
        for argv_ in jobs.values():  # warm-up: file cache, numba's kernel cache, .pyc files
            _run(argv_, env)
        times: dict[str, list[float]] = {k: [] for k in jobs}
        for r in range(repeats):
            names = list(jobs)
            names = names[r % len(names):] + names[: r % len(names)]  # rotate the order every round
            for name in names:
                times[name].append(_run(jobs[name], env))

    base = min(times["script (nibabel + skimage denoise_wavelet)"])
    base_med = statistics.median(times["script (nibabel + skimage denoise_wavelet)"])
    targets = {"medwave denoise": DENOISE_TARGET, "medwave info": INFO_TARGET}
    load = os.getloadavg()
    print(f"whole processes, {repeats} rounds, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"| process | best (s) | median (s) | best / script | median / script | target | met |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    ok = True
    for name, ts in times.items():
        best, med = min(ts), statistics.median(ts)
        tgt = targets.get(name)
        met = "" if tgt is None else ("yes" if best / base <= tgt else "NO")
        ok &= met != "NO"
        print(f"| {name} | {best:.2f} | {med:.2f} | {best / base:.2f}x | {med / base_med:.2f}x | "
              f"{'-' if tgt is None else f'<= {tgt:g}x'} | {met or '-'} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
