"""How ``register(weights=...)`` splits the greedy optimisation when it starts from a network's field.

On the tuning pairs only (``SEEDS["tuning_mni"]`` with make_pair, ``SEEDS["tuning_hard"]`` with make_pair_hard; none
is a benchmark pair), each candidate schedule is one whole in-process ``medwave.register`` call (network forward,
optimisation, inverse, metrics), timed on the wall clock at ``--threads``, ``--repeats`` times in rotating order (the
median is kept; the Dice is deterministic). The rows from zero are the reference: the
seeded schedule should reach their default's mean Dice in no more time. Chosen: ``GREEDY_SEEDED_ITERATIONS``.

    python benchmarks/tune_seeded.py                      # the shipped WiNet, 2 threads
    python benchmarks/tune_seeded.py --weights runs/winet/best.pt --pairs 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_registration's race_register

#: (start, iterations per level): the default from zero, then the seeded candidates (the network's field at the first
#: running level's grid, see ``greedy.seed_scale``).
CANDIDATES = [
    ("zero", (0, 30, 30, 15)),
    ("seeded", (0, 0, 20, 15)), ("seeded", (0, 0, 20, 14)), ("seeded", (0, 0, 20, 12)), ("seeded", (0, 0, 15, 15)),
    ("seeded", (0, 0, 10, 15)), ("seeded", (0, 10, 20, 15)), ("seeded", (0, 0, 0, 0)),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default="default", help="WiNet checkpoint (default: the shipped one)")
    ap.add_argument("--pairs", type=int, default=None, help="pairs per tuning set (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed calls per candidate and pair, in rotating order; the median is kept (default 3)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from bench_registration import race_register
    from medwave.registration.api import _load_net
    from medwave.registration.synthetic import SEEDS, make_pair, make_pair_hard

    net = _load_net(args.weights, "cpu")
    rows: dict[int, list[tuple[str, float, float]]] = {i: [] for i in range(len(CANDIDATES))}
    for name, gen, seeds in (("mni", make_pair, SEEDS["tuning_mni"]), ("hard", make_pair_hard, SEEDS["tuning_hard"])):
        for s in seeds[:args.pairs]:
            p = gen(s)
            for i, (sec, dice) in enumerate(race_register(p, CANDIDATES, args.repeats, net)):
                rows[i].append((name, sec, dice))
            print(name, s, " ".join(f"{rows[i][-1][2]:.4f}/{rows[i][-1][1]:.2f}s" for i in rows), flush=True)
    print("| start | iterations | mean Dice | mni | hard | s / pair | mni s | hard s |\n" + "| --- " * 8 + "|")
    for i, (start, its) in enumerate(CANDIDATES):
        d = np.array([r[2] for r in rows[i]])
        sec = np.array([r[1] for r in rows[i]])
        sets = np.array([r[0] for r in rows[i]])
        print(f"| {start} | {','.join(map(str, its))} | {d.mean():.4f} | {d[sets == 'mni'].mean():.4f} | "
              f"{d[sets == 'hard'].mean():.4f} | {sec.mean():.2f} | {sec[sets == 'mni'].mean():.2f} | "
              f"{sec[sets == 'hard'].mean():.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
