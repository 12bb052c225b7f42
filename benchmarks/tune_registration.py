"""Tuning of medwave's registration defaults and of demons' smoothing, on the tuning pairs only.

The pairs are ``SEEDS["tuning_mni"]`` (make_pair) and ``SEEDS["tuning_hard"]`` (make_pair_hard) from
:mod:`medwave.registration.synthetic`; none is a benchmark pair (bench_registration.py uses the
``benchmark_*`` seeds). Each candidate is run in-process on one thread and judged by mean Dice, folding and
CPU seconds (``time.process_time``: stabler than the wall clock on a shared machine). Both methods get the same
budget: a handful of settings of their main knob(s). ``--greedy-anchor`` also runs picsl-greedy's documented
recipe (untuned, as in the benchmark; in a subprocess at 2 threads, CPU from the child's rusage) for reference.

Candidates named ``greedy*`` run :func:`medwave.registration.greedy.greedy_lncc` (the scheme ``register`` uses by
default for LNCC); the others the wavelet scheme (:func:`~medwave.registration.instance.optimize_pair`).

    python benchmarks/tune_registration.py                       # every medwave candidate and demons sigma
    python benchmarks/tune_registration.py --medwave greedy,greedy_r2 --demons '' --greedy-anchor --pairs 2
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
    "wavelet": dict(iterations=(60, 60, 0, 0)),  # the wavelet scheme's default (similarity mi/mind, masks)
    "its80_80": dict(iterations=(80, 80, 0, 0)),
    "l1_20": dict(iterations=(60, 60, 20, 0)),
    "w7": dict(iterations=(60, 60, 0, 0), windows=(7, 7, 7, 7)),
    "smooth0.25": dict(iterations=(60, 60, 0, 0), smoothness=0.25),
    "lr0.4": dict(iterations=(60, 60, 0, 0), lr=0.4),
}
#: greedy-scheme candidates: greedy_lncc keyword arguments ("greedy" is register()'s default).
GREEDY_CANDIDATES = {
    "greedy": dict(iterations=(0, 60, 48, 12), radius=1),
    "greedy_r2": dict(iterations=(0, 60, 48, 12), radius=2),
    "greedy_100_60_30_r2": dict(iterations=(0, 100, 60, 30), radius=2),  # Greedy's own schedule and window
    "greedy_50_40_10": dict(iterations=(0, 50, 40, 10), radius=1),
    "greedy_50_40_15": dict(iterations=(0, 50, 40, 15), radius=1),
    "greedy_elastic1": dict(iterations=(0, 60, 48, 12), radius=1, sigma_elastic=1.0),
    "greedy_fluid1.5": dict(iterations=(0, 60, 48, 12), radius=1, sigma_fluid=1.5),
    "greedy_step1.5": dict(iterations=(0, 60, 48, 12), radius=1, step=1.5),
}
CANDIDATES.update(GREEDY_CANDIDATES)
DEMONS_SIGMAS = (1.0, 1.5, 2.0, 3.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--medwave", default=",".join(CANDIDATES), help="comma-separated candidates (empty: none)")
    ap.add_argument("--demons", default=",".join(map(str, DEMONS_SIGMAS)), help="comma-separated sigmas (empty: none)")
    ap.add_argument("--pairs", type=int, default=None, help="pairs per tuning set (default: all)")
    ap.add_argument("--greedy-anchor", action="store_true", help="also run picsl-greedy's recipe (reference)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_registration import _write_pair, demons, evaluate, run_greedy
    from medwave.registration.api import DEFAULT_SMOOTHNESS, _normalise
    from medwave.registration.greedy import greedy_lncc
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
            if args.greedy_anchor:
                runs.append(("greedy-anchor", None))
            for key, c in runs:
                t = time.process_time()
                if key == "greedy-anchor":
                    import resource
                    import tempfile

                    with tempfile.TemporaryDirectory() as tmp:
                        fx, mv = _write_pair(p, Path(tmp))
                        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                        ddf = run_greedy(fx, mv, Path(tmp) / "greedy", 2)[0]
                        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    t -= (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
                elif key.startswith("medwave:greedy"):
                    ddf = greedy_lncc(f, m, progress=False, **CANDIDATES[c])[0].numpy()
                elif key.startswith("medwave"):
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
