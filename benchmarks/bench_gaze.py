"""Benchmark: does GEM look at the finding? GEM and its ablations on the image-grounded synthetic set.

Data: :mod:`medwave.gaze.findings` - findings (nodules, patchy opacities, effusions, cardiomegaly)
rendered into the real radiograph warped onto other patients' lung masks, sometimes beside an
unmentioned distractor (half of them of the same kind: two visible candidates, one named), and
scanpaths shaped like reading. Training: ``split="train"``; evaluation: ``split="test"`` (held-out
lung masks, a separate random stream).

Methods, all trained with the same recipe and budget (steps, batch, data, model width), each for
every seed in ``--seeds``:

* ``GEM``: the full model;
* ``text-only``: ``use_image=False`` (the image is not looked at);
* ``image-only``: ``use_text=False``;
* ``no matching``: ``use_matching=False`` (no behaviour graph/matching branch, no CE term);
* ``no graph``: ``use_graph=False`` (matching on node features, without the graph's edges);
* ``centre bias``: the mean training target (per point index), no training;
* ``oracle: another reader`` - the same case read by an independent reader of the generator: the
  floor of the point metrics (the reader's randomness is not in the inputs);
* ``oracle: finding mask`` - the heatmap is the finding's mask: the best finding metrics possible.

Metrics on the held-out cases (pixels of the ``--image-size`` grid): on sentences that name a finding,
the distance of the predicted fixation density's peak to the finding (``peak``), the same on the
nodule sentences (``peak nodule``: small findings, where the zone alone does not find them) and on the
two-candidate cases (``peak 2c``), NSS and AUC-Judd of the predicted heatmap (Gaussians of 0.04 x
side at the points) against the finding mask (NSS also on the nodule sentences); on all sentences, Hungarian (set) distance and
DTW per point against the held-out reader's K points, and the spread (RMS distance to the centroid) of
the predicted points beside the targets'. Mean +- sample standard deviation over the seeds.

Targets: GEM beats text-only and image-only on ``peak`` (lower) and NSS (higher), seed means.
The matching and graph ablations are reported as measured. Exit code 1 if a target is missed.

Run:  .venv/bin/python benchmarks/bench_gaze.py [--steps 300] [--seeds 0 1 2] [--jobs 2] [--workdir DIR]
      .venv/bin/python benchmarks/bench_gaze.py --quick      # smoke run (tiny budget, one seed)
``--workdir`` keeps the trained checkpoints; a later run with the same options reuses them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

VARIANTS: dict[str, dict[str, Any]] = {
    "GEM": {},
    "text-only": {"use_image": False},
    "image-only": {"use_text": False},
    "no matching": {"use_matching": False},
    "no graph": {"use_graph": False},
}


def _train(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (variant, seed) in a worker process (1 torch thread); reuse a finished checkpoint."""
    torch.set_num_threads(1)
    from medwave.gaze.training import train_gaze

    out = Path(job["outdir"])
    done = out / "done.json"
    if done.exists():
        info = json.loads(done.read_text())
        if info.get("job") == {k: v for k, v in job.items() if k != "outdir"}:
            return info
    t0 = time.perf_counter()
    res = train_gaze(
        None, out, synthetic=job["n_train"], steps=job["steps"], batch_size=job["batch"], seed=job["seed"],
        image_size=job["size"], val_size=0, checkpoint_every=50, resume=True, overwrite=True, progress=False,
        model_options=job["model"],
    )
    info = {"job": {k: v for k, v in job.items() if k != "outdir"}, "seconds": time.perf_counter() - t0,
            "checkpoint": str(res["checkpoint"])}
    done.write_text(json.dumps(info))
    return info


def evaluate(pred_fn: Callable, test, size: int, sigma: float, *, heat_fn: Callable | None = None) -> dict[str, float]:
    """Per-case metrics averaged over the test set (see the module docstring)."""
    from medwave.gaze import metrics as M
    from medwave.gaze.training import collate

    rows: dict[str, list[float]] = {k: [] for k in ("peak", "peakn", "peak2", "nss", "nssn", "auc", "hung", "dtw", "spread", "tspread")}
    for a in range(0, len(test), 32):
        idx = list(range(a, min(len(test), a + 32)))
        items = [test[i] for i in idx]
        img, sent, _ = collate(items, size)
        pred = pred_fn(img, sent, idx) if pred_fn is not None else None  # (B, K, 2) fractions
        for j, it in enumerate(items):
            tt = it["points"].numpy().astype(np.float64)
            if pred is not None:
                pp = np.asarray(pred[j], dtype=np.float64) * size - 0.5
                heat = M.render_fixation_map(pp, (size, size), sigma=sigma)
                rows["hung"].append(M.hungarian_distance(pp, tt))
                rows["dtw"].append(M.scanpath_dtw(pp, tt) / len(tt))
                rows["spread"].append(M.point_spread(pp))
                rows["tspread"].append(M.point_spread(tt))
            else:
                heat = heat_fn(it)
            fm = it["finding_mask"].numpy()
            if it["kind"] != "normal" and fm.any() and not fm.all():
                rows["peak"].append(M.peak_distance(heat, fm))
                if it["ambiguous"]:
                    rows["peak2"].append(rows["peak"][-1])
                rows["nss"].append(M.nss(heat, fm))
                if it["kind"] == "nodule":
                    rows["peakn"].append(rows["peak"][-1])
                    rows["nssn"].append(rows["nss"][-1])
                rows["auc"].append(M.auc_judd(heat, fm))
    return {k: float(np.mean(v)) if v else float("nan") for k, v in rows.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--n-test", type=int, default=192)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--width", type=int, default=8, help="GEM encoder width (default 8)")
    ap.add_argument("--dim", type=int, default=32, help="GEM feature width (default 32)")
    ap.add_argument("--jobs", type=int, default=1, help="trainings in parallel (1 torch thread each)")
    ap.add_argument("--workdir", default=None, help="keep (and reuse) the trained checkpoints here")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), help="subset of the trained variants")
    ap.add_argument("--quick", action="store_true", help="smoke run: 20 steps, 1 seed, 200 train, 48 test cases")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.seeds, args.n_train, args.n_test = 20, args.seeds[:1], 200, 48
    torch.set_num_threads(1)
    from medwave.gaze.findings import lung_mask_library, make_finding_gaze
    from medwave.networks.gem import GEM

    size, k = args.image_size, 8
    sigma = 0.04 * size
    lib = lung_mask_library(size)
    test = make_finding_gaze(args.n_test, seed=10_000, k=k, image_size=size, split="test")
    work = Path(args.workdir).expanduser() if args.workdir else Path(tempfile.mkdtemp(prefix="bench_gaze_"))
    jobs = []
    for name in args.variants:
        for s in args.seeds:
            jobs.append({"outdir": str(work / f"{name.replace(' ', '_')}_s{s}"), "variant": name, "seed": s,
                         "steps": args.steps, "batch": args.batch_size, "n_train": args.n_train, "size": size,
                         "model": {"k": k, "encoder_width": args.width, "dim": args.dim, **VARIANTS[name]}})
    t0 = time.perf_counter()
    if args.jobs > 1:
        import multiprocessing as mp

        with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as ex:
            infos = list(ex.map(_train, jobs))
    else:
        infos = [_train(j) for j in jobs]
    train_wall = time.perf_counter() - t0

    per_seed: dict[str, list[dict[str, float]]] = {}
    secs: dict[str, list[float]] = {}
    for job, info in zip(jobs, infos):
        net = GEM.from_checkpoint(info["checkpoint"]).eval()
        with torch.no_grad():
            r = evaluate(lambda img, s, idx: net(img, s)["points"].numpy(), test, size, sigma)
        per_seed.setdefault(job["variant"], []).append(r)
        secs.setdefault(job["variant"], []).append(info["seconds"])
    for s in args.seeds:  # centre bias: the mean training target of each seed's training set
        train = make_finding_gaze(min(args.n_train, 1000), seed=s, k=k, image_size=size, split="train")
        centre = np.mean([(train[i]["points"].numpy() + 0.5) / size for i in range(len(train))], axis=0)
        per_seed.setdefault("centre bias", []).append(
            evaluate(lambda img, sn, idx: np.repeat(centre[None], len(idx), 0), test, size, sigma))
    per_seed["oracle: another reader"] = [evaluate(
        lambda img, sn, idx: np.stack([(test.other_reader(i)["points"].numpy() + 0.5) / size for i in idx]),
        test, size, sigma)]
    per_seed["oracle: finding mask"] = [evaluate(
        None, test, size, sigma, heat_fn=lambda it: it["finding_mask"].numpy().astype(np.float64))]

    def ms(name: str, key: str, fmt: str = "{:.2f}") -> str:
        v = np.array([r[key] for r in per_seed[name]])
        if np.all(np.isnan(v)):
            return "n/a"
        if len(v) == 1:
            return fmt.format(v[0])
        return f"{fmt.format(v.mean())} ± {fmt.format(v.std(ddof=1))}"

    n_find = sum(1 for c in test.cases if c.target is not None)
    n_amb = sum(1 for c in test.cases if c.target is not None and any(d.kind == c.target.kind for d in c.distractors))
    print(f"GEM gaze benchmark (image-grounded synthetic set): {args.n_test} held-out cases ({n_find} name a finding, "
          f"{n_amb} with two candidates of the named kind) on {int(lib.test.sum())} held-out lung masks "
          f"(anatomy: {lib.source}, {len(lib.names)} masks), {size}x{size} grid; training: {args.n_train} cases, "
          f"{args.steps} steps x batch {args.batch_size}, GEM width {args.width} / dim {args.dim}, seeds {args.seeds}, "
          f"1 torch thread per run, {args.jobs} run(s) in parallel, training wall time {train_wall:.0f} s")
    print()
    print("| method | peak (px) | peak nodule | peak 2c | NSS | NSS nodule | AUC | Hungarian (px) | DTW/pt (px) | "
          "spread (px) | train s/run |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    tsp = np.mean([r["tspread"] for rs in per_seed.values() for r in rs if not np.isnan(r["tspread"])])
    for name in [*[v for v in VARIANTS if v in per_seed], "centre bias", "oracle: another reader", "oracle: finding mask"]:
        t = f"{np.mean(secs[name]):.0f}" if name in secs else "-"
        print(f"| {name} | {ms(name, 'peak')} | {ms(name, 'peakn')} | {ms(name, 'peak2')} | {ms(name, 'nss', '{:.3f}')} | "
              f"{ms(name, 'nssn', '{:.3f}')} | "
              f"{ms(name, 'auc', '{:.3f}')} | {ms(name, 'hung')} | {ms(name, 'dtw')} | {ms(name, 'spread')} | {t} |")
    print(f"\ntargets' spread: {tsp:.2f} px. Mean ± sample std over seeds; oracle rows are one evaluation.")
    ok = True
    if "GEM" in per_seed:
        g = {key: np.mean([r[key] for r in per_seed["GEM"]]) for key in ("peak", "nss")}
        for other in ("text-only", "image-only"):
            if other not in per_seed:
                continue
            o = {key: np.mean([r[key] for r in per_seed[other]]) for key in ("peak", "nss")}
            p_ok, n_ok = g["peak"] < o["peak"], g["nss"] > o["nss"]
            ok &= p_ok and n_ok
            print(f"target GEM vs {other}: peak {g['peak']:.2f} < {o['peak']:.2f} {'met' if p_ok else 'MISSED'}; "
                  f"NSS {g['nss']:.3f} > {o['nss']:.3f} {'met' if n_ok else 'MISSED'}")
    print("all targets met" if ok else "SOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
