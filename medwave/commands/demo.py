"""``medwave demo -o OUTDIR``: every pipeline on the shipped sample data (what ``make demo`` runs)."""

from __future__ import annotations

import argparse

HELP = """Run medwave's pipelines on data that ships with the installed packages (no download):
the wavelet core on the MNI152 template (checked against PyWavelets), registration of a synthetic MNI152
pair, neuron segmentation and tracing of a synthetic stack, and gaze prediction on a real chest
radiograph. Each part writes into OUTDIR/<part>/; OUTDIR/summary.json lists results and failures.
A few minutes on 2 CPU cores.

Examples:
  medwave demo -o demo_output
  medwave demo -o demo_output --parts wavelets gaze --quiet

Exit codes: 0 all parts ran, 1 some part failed (see summary.json), 2 bad usage.
"""


def register(subparsers) -> None:
    from medwave.demo import DEMO_PARTS

    p = subparsers.add_parser(
        "demo",
        help="run every pipeline on the shipped sample data; e.g. medwave demo -o demo_output",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", default="demo_output", help="output folder (default: demo_output)")
    p.add_argument("--parts", nargs="+", choices=DEMO_PARTS, default=list(DEMO_PARTS), metavar="PART",
                   help=f"which parts to run, in order (default: all of {' '.join(DEMO_PARTS)})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from medwave.demo import run_demos

    report = run_demos(args.output, parts=args.parts, progress=args.progress)
    failed = [p for p, r in report.items() if r["status"] != "ok"]
    if args.progress:
        for part, r in report.items():
            print(f"{part:13s} {r['status']:6s} {r['seconds']:7.1f} s" + (f"  {r['error']}" if r["status"] != "ok" else ""))
        print(f"results in {args.output}/ (summary.json)")
    return 1 if failed else 0
