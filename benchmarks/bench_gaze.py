"""Benchmark: GEM vs its ablations and a centre-bias baseline on held-out synthetic pairs.

All GEM variants are the same model class with options (``use_text=False``: image-only;
``use_matching=False``: no behaviour graph/matching), trained in this process with the same
recipe (steps, batch, seed, data). The centre-bias baseline predicts, for every image, the mean
training scanpath (per point index) - the data set's centre bias. Evaluation on ``--n-test``
held-out synthetic pairs (a different seed than training): mean point distance, PCK@0.1,
Hungarian-matched distance, scanpath DTW (pixels of the 128 x 128 model grid), and NSS / CC of the
Gaussian-rendered predicted heatmap against the held-out fixations.

Targets: GEM beats each of the three others on mean distance (lower) and on NSS (higher).
Exit code 1 if a target is missed.

Run:  .venv/bin/python benchmarks/bench_gaze.py [--steps 400] [--n-test 256]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from medwave.gaze import metrics as M
from medwave.gaze.synthetic import make_synthetic_gaze
from medwave.gaze.training import collate, train_gaze
from medwave.networks.gem import GEM


def evaluate(pred_fn, test, size: int, sigma: float) -> dict[str, float]:
    rows = {"dist": [], "pck": [], "hung": [], "dtw": [], "nss": [], "cc": []}
    for a in range(0, len(test), 32):
        items = [test[i] for i in range(a, min(len(test), a + 32))]
        img, sent, tgt = collate(items, size)
        pred = pred_fn(img, sent)  # (B, K, 2) fractions
        for it, p in zip(items, pred):
            pp = p.numpy().astype(np.float64) * size - 0.5
            tt = it["points"].numpy().astype(np.float64)
            fix = it["fixations"].numpy().astype(np.float64)
            fix = fix[(fix[:, 0] >= 0) & (fix[:, 0] < size) & (fix[:, 1] >= 0) & (fix[:, 1] < size)]
            rows["dist"].append(M.mean_point_distance(pp, tt))
            rows["pck"].append(M.pck(pp, tt, 0.1, image_size=(size, size)))
            rows["hung"].append(M.hungarian_distance(pp, tt))
            rows["dtw"].append(M.scanpath_dtw(pp, tt) / len(tt))
            heat = M.render_fixation_map(pp, (size, size), sigma=sigma)
            if len(fix):
                rows["nss"].append(M.nss(heat, M.fixation_mask(fix, (size, size))))
                rows["cc"].append(M.cc(heat, M.render_fixation_map(fix, (size, size), sigma=sigma)))
    return {k: float(np.mean(v)) for k, v in rows.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--n-train", type=int, default=20000)
    ap.add_argument("--n-test", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    size, k = 128, 8
    sigma = 0.04 * size
    test = make_synthetic_gaze(args.n_test, seed=10_000 + args.seed, k=k, image_size=size)
    train = make_synthetic_gaze(args.n_train, seed=args.seed, k=k, image_size=size)
    rows: dict[str, dict[str, float]] = {}
    times: dict[str, float] = {}

    # centre bias: the mean training scanpath (per point index), in fractions of the image
    # (over 2000 rendered training views, so the augmentation is included)
    mean_path = np.mean([(train[i]["points"].numpy() + 0.5) / size for i in range(min(2000, len(train)))], axis=0)
    centre = torch.tensor(mean_path, dtype=torch.float32)
    rows["centre bias"] = evaluate(lambda img, s: centre.expand(img.shape[0], -1, -1), test, size, sigma)
    times["centre bias"] = 0.0

    variants = {
        "GEM": {},
        "GEM use_text=False": {"use_text": False},
        "GEM use_matching=False": {"use_matching": False},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, opts in variants.items():
            t0 = time.perf_counter()
            res = train_gaze(
                None, Path(tmp) / name.replace(" ", "_"), synthetic=args.n_train, steps=args.steps, batch_size=16,
                seed=args.seed, image_size=size, val_size=0, checkpoint_every=10**9, progress=False,
                model_options={"k": k, **opts},
            )
            times[name] = time.perf_counter() - t0
            net = GEM.from_checkpoint(res["checkpoint"]).eval()
            with torch.no_grad():
                rows[name] = evaluate(lambda img, s: net(img, s)["points"], test, size, sigma)
    shipped = Path(__file__).resolve().parents[1] / "medwave" / "gaze" / "weights" / "gem_synthetic.pt"
    if shipped.exists():
        net = GEM.from_checkpoint(shipped).eval()
        with torch.no_grad():
            rows["GEM shipped weights (info)"] = evaluate(lambda img, s: net(img, s)["points"], test, size, sigma)
        times["GEM shipped weights (info)"] = float("nan")

    g = rows["GEM"]
    print(f"GEM benchmark: {args.n_test} held-out synthetic pairs, 128x128 grid, {args.steps} training steps per variant "
          f"(batch 16, seed {args.seed}), torch threads {args.threads}")
    print()
    print("| method | mean dist (px) | ratio to GEM | PCK@0.1 | Hungarian (px) | DTW/pt (px) | NSS | CC | train s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows.items():
        print(f"| {name} | {r['dist']:.2f} | {r['dist'] / g['dist']:.2f} | {r['pck']:.3f} | {r['hung']:.2f} | "
              f"{r['dtw']:.2f} | {r['nss']:.3f} | {r['cc']:.3f} | {times[name]:.0f} |")
    print()
    ok = True
    for other in ("GEM use_text=False", "centre bias", "GEM use_matching=False"):
        o = rows[other]
        d_ok, n_ok = g["dist"] < o["dist"], g["nss"] > o["nss"]
        ok &= d_ok and n_ok
        print(f"target GEM vs {other}: distance {g['dist']:.2f} < {o['dist']:.2f} {'met' if d_ok else 'MISSED'}; "
              f"NSS {g['nss']:.3f} > {o['nss']:.3f} {'met' if n_ok else 'MISSED'}")
    print("all targets met" if ok else "SOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
