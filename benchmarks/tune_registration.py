"""Tuning of medwave's registration defaults and of demons' smoothing, on the tuning pairs only.

The pairs are ``SEEDS["tuning_mni"]`` (make_pair) and ``SEEDS["tuning_hard"]`` (make_pair_hard) from
:mod:`medwave.registration.synthetic`; none is a benchmark pair (bench_registration.py uses the
``benchmark_*`` seeds). Each candidate is run in-process on one thread and judged by mean Dice, folding and
CPU seconds (``time.process_time``: stabler than the wall clock on a shared machine). Both methods get the same
budget: a handful of settings of their main knob(s).

    python benchmarks/tune_registration.py                       # every medwave candidate and demons sigma
    python benchmarks/tune_registration.py --medwave default,l1_20 --demons 1.0,1.5 --pairs 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: medwave candidates: optimize_pair keyword arguments on top of register()'s defaults.
CANDIDATES = {
    "default": dict(iterations=(60, 60, 0, 0)),
    "its80_80": dict(iterations=(80, 80, 0, 0)),
    "l1_20": dict(iterations=(60, 60, 20, 0)),
    "w7": dict(iterations=(60, 60, 0, 0), windows=(7, 7, 7, 7)),
    "smooth0.25": dict(iterations=(60, 60, 0, 0), smoothness=0.25),
    "lr0.4": dict(iterations=(60, 60, 0, 0), lr=0.4),
}
DEMONS_SIGMAS = (1.0, 1.5, 2.0, 3.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--medwave", default=",".join(CANDIDATES), help="comma-separated candidates (empty: none)")
    ap.add_argument("--demons", default=",".join(map(str, DEMONS_SIGMAS)), help="comma-separated sigmas (empty: none)")
    ap.add_argument("--pairs", type=int, default=None, help="pairs per tuning set (default: all)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_registration import demons, evaluate
    from medwave.registration.api import DEFAULT_SMOOTHNESS, _normalise
    from medwave.registration.instance import optimize_pair
    from medwave.registration.synthetic import SEEDS, make_pair, make_pair_hard

    gens = {"mni": make_pair, "hard": make_pair_hard}
    med = [c for c in args.medwave.split(",") if c]
    sig = [float(s) for s in args.demons.split(",") if s]
    results: dict = {}
    for name, gen in gens.items():
        seeds = SEEDS[f"tuning_{name}"][: args.pairs] if args.pairs else SEEDS[f"tuning_{name}"]
        for seed in seeds:
            p = gen(seed)
            f = torch.as_tensor(_normalise(p["fixed"]))[None, None]
            m = torch.as_tensor(_normalise(p["moving"]))[None, None]
            runs = [("medwave:" + c, c) for c in med] + [(f"demons:{s}", s) for s in sig]
            for key, c in runs:
                t = time.process_time()
                if key.startswith("medwave"):
                    kw = {"smoothness": DEFAULT_SMOOTHNESS, **CANDIDATES[c]}
                    ddf = optimize_pair(f, m, progress=False, **kw)[0].numpy()
                else:
                    ddf = demons(p["fixed"], p["moving"], std=c)
                cpu = time.process_time() - t
                ev = evaluate(ddf, p)
                results.setdefault((name, key), []).append({**ev, "cpu": cpu})
                print(json.dumps({"set": name, "seed": seed, "method": key, **{k: round(v, 4) for k, v in ev.items()},
                                  "cpu_s": round(cpu, 2)}), flush=True)
    print("\n| set | method | mean Dice | % abs(J)<=0 | SDlogJ | CPU s / pair |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (name, key), rs in results.items():
        mean = {k: float(np.mean([r[k] for r in rs])) for k in rs[0]}
        print(f"| {name} | {key} | {mean['dice']:.4f} | {mean['fold']:.4f} | {mean['sdlogj']:.3f} | {mean['cpu']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
