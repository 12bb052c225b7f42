"""Tuning of medwave's multimodal defaults (``SIMILARITY_DEFAULTS`` in medwave.registration.api), tuning pairs only.

The pairs are ``SEEDS["tuning_multimodal"]`` (make_pair_multimodal: T1 fixed, T2-like moving); none is a benchmark
pair (bench_registration.py --sets multimodal uses ``SEEDS["benchmark_multimodal"]``). Each candidate is
``optimize_pair`` keyword arguments, run in-process on one thread on the images as ``register`` normalises them,
judged by mean Dice, folding, SDlogJ and CPU seconds (``time.process_time``: stabler than the wall clock on a
shared machine).

    python benchmarks/tune_multimodal.py                          # every candidate
    python benchmarks/tune_multimodal.py --candidates default,mi_l1_20_s1 --pairs 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_BS32 = {"mi_kernel": "bspline", "num_bins": 32}
#: Candidates tried (see the commit history for their tuning-pair figures); "default" is register()'s.
CANDIDATES = {
    "default": None,  # SIMILARITY_DEFAULTS["mi"]
    "mi_gauss23_s0.5": dict(similarity="mi", smoothness=0.5, iterations=(60, 60, 0, 0)),
    "mi_s0.5": dict(similarity="mi", smoothness=0.5, iterations=(60, 60, 0, 0), similarity_options=_BS32),
    "mi_s0.1": dict(similarity="mi", smoothness=0.1, iterations=(60, 60, 0, 0), similarity_options=_BS32),
    "mi_s1": dict(similarity="mi", smoothness=1.0, iterations=(60, 60, 0, 0), similarity_options=_BS32),
    "mi_s2": dict(similarity="mi", smoothness=2.0, iterations=(60, 60, 0, 0), similarity_options=_BS32),
    "mi_l1_40_s0.5": dict(similarity="mi", smoothness=0.5, iterations=(60, 60, 40, 0), similarity_options=_BS32),
    "mi_l1_20_s1": dict(similarity="mi", smoothness=1.0, iterations=(60, 60, 20, 0), similarity_options=_BS32),
    "mi_l1_20_s2": dict(similarity="mi", smoothness=2.0, iterations=(60, 60, 20, 0), similarity_options=_BS32),
    "mi_l1_20_s4": dict(similarity="mi", smoothness=4.0, iterations=(60, 60, 20, 0), similarity_options=_BS32),
    "mi_l1_10_s1": dict(similarity="mi", smoothness=1.0, iterations=(60, 60, 10, 0), similarity_options=_BS32),
    "mi_404020_s1": dict(similarity="mi", smoothness=1.0, iterations=(40, 40, 20, 0), similarity_options=_BS32),
    "mi_404020_s2": dict(similarity="mi", smoothness=2.0, iterations=(40, 40, 20, 0), similarity_options=_BS32),
    "mi_404020_s4": dict(similarity="mi", smoothness=4.0, iterations=(40, 40, 20, 0), similarity_options=_BS32),
    "mi_l1_40_s1_coarse": dict(similarity="mi", smoothness=1.0, iterations=(60, 60, 40, 0), similarity_options=_BS32,
                               fine_similarity="coarse"),
    "mind_s0.5": dict(similarity="mind", smoothness=0.5, iterations=(60, 60, 0, 0)),
    "mind_s0.1": dict(similarity="mind", smoothness=0.1, iterations=(60, 60, 0, 0)),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated candidates")
    ap.add_argument("--pairs", type=int, default=None, help="tuning pairs (default: all)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_registration import evaluate
    from medwave.registration.api import _normalise, similarity_settings
    from medwave.registration.instance import optimize_pair
    from medwave.registration.synthetic import SEEDS, make_pair_multimodal

    names = [c for c in args.candidates.split(",") if c]
    unknown = set(names) - set(CANDIDATES)
    if unknown:
        ap.error(f"unknown candidate(s) {sorted(unknown)}; choose from {', '.join(CANDIDATES)}")
    seeds = SEEDS["tuning_multimodal"][: args.pairs] if args.pairs else SEEDS["tuning_multimodal"]
    results: dict = {}
    for seed in seeds:
        p = make_pair_multimodal(seed)
        f = torch.as_tensor(_normalise(p["fixed"]))[None, None]
        m = torch.as_tensor(_normalise(p["moving"]))[None, None]
        for c in names:
            kw = CANDIDATES[c]
            if kw is None:
                s = similarity_settings("mi")
                kw = dict(similarity="mi", smoothness=s["smoothness"], iterations=s["iterations"],
                          similarity_options=s["options"])
            t = time.process_time()
            ddf = optimize_pair(f, m, progress=False, **kw)[0].numpy()
            cpu = time.process_time() - t
            ev = evaluate(ddf, p)
            results.setdefault(c, []).append({**ev, "cpu": cpu})
            print(json.dumps({"seed": seed, "candidate": c, **{k: round(v, 4) for k, v in ev.items()},
                              "cpu_s": round(cpu, 2)}), flush=True)
    print("\n| candidate | mean Dice | % abs(J)<=0 | SDlogJ | CPU s / pair |")
    print("| --- | --- | --- | --- | --- |")
    for c, rs in results.items():
        mean = {k: float(np.mean([r[k] for r in rs])) for k in rs[0]}
        print(f"| {c} | {mean['dice']:.4f} | {mean['fold']:.4f} | {mean['sdlogj']:.3f} | {mean['cpu']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
