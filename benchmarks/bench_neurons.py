"""Benchmark: 3D-WaveUNet neuron segmentation against classical and MONAI anchors.

Run (2 CPU threads, as the reference machine):

    .venv/bin/python benchmarks/bench_neurons.py            # Dice + throughput
    .venv/bin/python benchmarks/bench_neurons.py --big       # + the 2 GB zarr peak-RSS check

Stacks: held-out synthetic stacks (96 x 320 x 320, seeds never used in training) and stacks
rendered from real neuron morphologies shipped with navis (DA1 lPN skeletons, scaled to fit a
96 x 320 x 320 grid with anisotropic voxels, imaged with the same microscope model).
Methods, all on the same stacks in the same process:

* ``waveunet``: the shipped default 3D-WaveUNet (``medwave/neuron/weights/waveunet_synthetic.pt``);
* ``monai_unet``: MONAI's UNet with the same widths (4, 8, 16, 32, 32), 2 residual units per level,
  trained by the same ``medwave train-neurons`` command with the same budget
  (``medwave/neuron/weights/monai_unet_baseline.pt``);
* ``otsu``: Otsu threshold of the stack;
* ``frangi``: Frangi vesselness (sigmas 1-3, bright ridges) thresholded at the best of 12 thresholds
  chosen on the ground truth (an oracle: the classical anchor at its best).

Throughput: both networks through the same sliding window (cubes 32 x 128 x 128, 25 % overlap,
batch 1) on one 96 x 320 x 320 stack, torch on 2 threads, best of 2 runs.

Targets (exit code 1 when one is missed): waveunet Dice > best classical anchor and > monai_unet on
every stack group; waveunet throughput >= 0.8 x monai_unet; with --big, peak RSS < 3 GB for a 2 GB
uint16 zarr stack.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "medwave" / "neuron" / "weights"


def navis_stacks(n: int, shape=(96, 320, 320), seed: int = 77):
    """Real neuron skeletons from navis rendered into microscopy-like stacks."""
    import navis

    from medwave.neuron.swc import SWC, render_swc
    from medwave.neuron.synthetic import image_mask

    out = []
    rng = np.random.default_rng(seed)
    for k, nrn in enumerate(navis.example_neurons(n, kind="skeleton")):
        nd = nrn.nodes
        ids = {int(i): j + 1 for j, i in enumerate(nd.node_id)}
        xyz = nd[["x", "y", "z"]].to_numpy(float)
        lo, hi = xyz.min(0), xyz.max(0)
        margin = 8.0
        sx = (hi[0] - lo[0]) / (shape[2] - 2 * margin)
        sy = (hi[1] - lo[1]) / (shape[1] - 2 * margin)
        sxy = max(sx, sy)
        sz = (hi[2] - lo[2]) / (shape[0] - 2 * margin / 4)
        vox = (xyz - lo) / np.array([sxy, sxy, sz]) + np.array([margin, margin, margin / 8])
        r = np.maximum(nd.radius.to_numpy(float) / sxy, 0.5)
        nodes = np.column_stack([np.arange(1, len(nd) + 1), nd.type.map({"root": 1}).fillna(3).to_numpy(float)
                                 if nd.type.dtype == object else np.full(len(nd), 3.0),
                                 vox, r, [ids.get(int(p), -1) if p >= 0 else -1 for p in nd.parent_id]])
        swc = SWC(nodes, comments=[f" navis example neuron {nrn.name} ({nrn.id}), scaled to voxels"])
        mask = render_swc(swc, shape)
        stack = image_mask(mask, rng)
        out.append((f"navis-{k}", stack, mask, swc))
    return out


def frangi_best(stack: np.ndarray, gt: np.ndarray) -> float:
    from skimage.filters import frangi

    from medwave.neuron.metrics import voxel_metrics

    x = stack.astype(np.float32)
    x = (x - np.percentile(x, 1)) / (np.percentile(x, 99.95) - np.percentile(x, 1) + 1e-6)
    v = frangi(x, sigmas=(1.0, 2.0, 3.0), black_ridges=False)
    qs = np.quantile(v, [0.9, 0.95, 0.97, 0.98, 0.985, 0.99, 0.992, 0.994, 0.996, 0.998, 0.999, 0.9995])
    return max(voxel_metrics(v > q, gt)["dice"] for q in qs)


def dice_table(stacks, models, progress=False):
    from skimage.filters import threshold_otsu

    from medwave.neuron.api import segment_neurons
    from medwave.neuron.metrics import voxel_metrics

    rows = []
    for name, stack, mask, _swc in stacks:
        row = {"stack": name}
        for mname, model in models.items():
            r = segment_neurons(stack, weights=model, trace=False, progress=progress)
            row[mname] = voxel_metrics(r.mask, mask)["dice"]
        row["otsu"] = voxel_metrics(stack > threshold_otsu(stack), mask)["dice"]
        row["frangi"] = frangi_best(stack, mask)
        rows.append(row)
        print("  ", json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    return rows


def throughput(models, stack, repeats=2):
    import torch

    from medwave.neuron.api import make_predictor
    from medwave.neuron.cubes import sliding_window_segment

    torch.set_num_threads(2)
    best = {k: float("inf") for k in models}
    for _ in range(repeats):
        for name, model in models.items():
            pred = make_predictor(model, 0.0, 1000.0)
            t = time.perf_counter()
            sliding_window_segment(stack, pred, cube=(32, 128, 128), overlap=0.25, progress=False)
            best[name] = min(best[name], time.perf_counter() - t)
    return {k: stack.size / v / 1e6 for k, v in best.items()}  # Mvoxel/s


BIG_CHILD = r"""
import sys, numpy as np, torch
torch.set_num_threads(2)
from medwave.neuron.api import segment_neurons
import zarr
src = zarr.open_array(sys.argv[1], mode="r")
p = zarr.open_array(sys.argv[2], mode="w", shape=src.shape, chunks=(32, 256, 256), dtype="float32")
m = zarr.open_array(sys.argv[3], mode="w", shape=src.shape, chunks=(32, 256, 256), dtype="uint8")
class Threshold(torch.nn.Module):
    def forward(self, x):
        return torch.cat([torch.zeros_like(x), 20 * (x - 0.5)], 1)
w = None if sys.argv[4] == "waveunet" else Threshold()
segment_neurons(src, weights=w, trace=False, progress=False, prob_out=p, mask_out=m)
"""


def big_stack_rss(tmp: Path, model: str) -> dict:
    import psutil
    import zarr

    shape = (512, 1448, 1448)  # 1.07e9 voxels, 2.15 GB as uint16
    src = tmp / "big.zarr"
    if not src.exists():
        z = zarr.open_array(str(src), mode="w", shape=shape, chunks=(32, 256, 256), dtype="uint16")
        rng = np.random.default_rng(0)
        for z0 in range(0, shape[0], 32):
            z[z0:z0 + 32] = rng.integers(90, 200, size=(32,) + shape[1:], dtype=np.uint16)
    t = time.time()
    proc = subprocess.Popen([sys.executable, "-c", BIG_CHILD, str(src), str(tmp / "p.zarr"), str(tmp / "m.zarr"), model])
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    return {"shape": shape, "stack_gb": np.prod(shape) * 2 / 1e9, "peak_rss_gb": peak / 1e9,
            "seconds": time.time() - t, "returncode": proc.returncode, "model": model}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-synthetic", type=int, default=2)
    ap.add_argument("--n-navis", type=int, default=2)
    ap.add_argument("--big", action="store_true", help="also run the 2 GB zarr peak-RSS check")
    ap.add_argument("--big-model", choices=("waveunet", "threshold"), default="waveunet",
                    help="model for --big (threshold: a voxel-wise stand-in that isolates pipeline memory)")
    ap.add_argument("--big-dir", default="/tmp/medwave_bench_neurons")
    ap.add_argument("--skip-dice", action="store_true")
    args = ap.parse_args(argv)
    import torch

    from medwave.neuron.api import load_default_model
    from medwave.neuron.synthetic import synthetic_neuron

    torch.set_num_threads(2)
    models = {"waveunet": load_default_model(WEIGHTS / "waveunet_synthetic.pt"),
              "monai_unet": load_default_model(WEIGHTS / "monai_unet_baseline.pt")}
    failures = []
    print(f"bench_neurons: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs visible (shared machine: timings under contention)")
    syn = []
    for i in range(args.n_synthetic):
        s = synthetic_neuron((96, 320, 320), seed=5000 + i, n_neurons=2)
        syn.append((f"synthetic-{i}", s.stack, s.mask, s.swc))
    if not args.skip_dice:
        print("Dice per stack:")
        groups = {"synthetic": dice_table(syn, models)}
        if args.n_navis:
            groups["navis"] = dice_table(navis_stacks(args.n_navis), models)
        print("\n| stacks | waveunet | monai_unet | otsu | frangi (oracle thr) | waveunet / best classical | waveunet / monai |")
        print("|---|---|---|---|---|---|---|")
        for g, rows in groups.items():
            mean = {k: float(np.mean([r[k] for r in rows])) for k in ("waveunet", "monai_unet", "otsu", "frangi")}
            best_cl = max(mean["otsu"], mean["frangi"])
            print(f"| {g} (n={len(rows)}) | {mean['waveunet']:.3f} | {mean['monai_unet']:.3f} | {mean['otsu']:.3f} | "
                  f"{mean['frangi']:.3f} | {mean['waveunet'] / max(best_cl, 1e-9):.2f} | "
                  f"{mean['waveunet'] / max(mean['monai_unet'], 1e-9):.2f} |")
            if mean["waveunet"] <= best_cl:
                failures.append(f"{g}: waveunet Dice {mean['waveunet']:.3f} <= best classical {best_cl:.3f}")
            if mean["waveunet"] <= mean["monai_unet"]:
                failures.append(f"{g}: waveunet Dice {mean['waveunet']:.3f} <= monai_unet {mean['monai_unet']:.3f}")
    tp = throughput(models, syn[0][1])
    ratio = tp["waveunet"] / tp["monai_unet"]
    print("\n| throughput (96x320x320, cubes 32x128x128, 25% overlap, 2 threads) | Mvoxel/s |")
    print("|---|---|")
    for k, v in tp.items():
        print(f"| {k} | {v:.3f} |")
    print(f"| ratio waveunet / monai_unet (target >= 0.8) | {ratio:.2f} |")
    if ratio < 0.8:
        failures.append(f"throughput ratio {ratio:.2f} < 0.8")
    if args.big:
        tmp = Path(args.big_dir)
        tmp.mkdir(parents=True, exist_ok=True)
        r = big_stack_rss(tmp, args.big_model)
        print(f"\nbig stack: {json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()})}")
        if r["returncode"] != 0 or r["peak_rss_gb"] >= 3.0:
            failures.append(f"big stack: peak RSS {r['peak_rss_gb']:.2f} GB (rc {r['returncode']})")
    print("\nMISSED TARGETS:\n  " + "\n  ".join(failures) if failures else "\nall targets met")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
