"""``medwave train-gaze``: train GEM from a gaze datalist or on the synthetic set."""

from __future__ import annotations

import argparse

from medwave.utils.errors import UserError

__all__ = ["register", "run"]

EXAMPLE = """example:
  medwave train-gaze --synthetic 20000 --steps 1500 -o runs/gem          # medwave's image-grounded synthetic set
  medwave train-gaze --datalist gaze_reflacx/datalist.json -o runs/gem --steps 5000   # see medwave.gaze.datasets
  medwave train-gaze --synthetic 20000 --steps 1500 -o runs/gem --resume  # continue after an interruption
  medwave train-gaze --synthetic 20000 -o runs/gem_notext --no-text       # image-only ablation

a datalist is JSON {"training": [{"image", "sentence", "gaze"}, ...], "validation": [...]} where "gaze" is a
CSV of that sentence's fixations (medwave.gaze.io.write_gaze_csv; REFLACX/EGD-CXR columns also read).
writes OUTDIR/gem.pt (use with `medwave gaze --weights`) and OUTDIR/last.pt (for --resume).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train-gaze",
        help="train the GEM gaze model from a datalist or the synthetic set",
        description="Train GEM (context-aware gaze estimation) with checkpoints and resume.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--datalist", help="gaze datalist JSON")
    src.add_argument("--synthetic", type=int, metavar="N", help="train on N synthetic samples")
    p.add_argument("-o", "--outdir", required=True, help="output folder")
    p.add_argument("--steps", type=int, default=1000, help="optimisation steps (default 1000)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=int, default=128, help="model input side (default 128)")
    p.add_argument("-k", type=int, default=8, help="gaze points per sentence (default 8)")
    p.add_argument("--encoder-width", type=int, default=16, help="GEM image encoder width (default 16)")
    p.add_argument("--dim", type=int, default=64, help="GEM feature width (default 64)")
    p.add_argument("--val-size", type=int, default=128, help="held-out synthetic samples (with --synthetic; default 128)")
    p.add_argument("--synthetic-set", choices=("findings", "regions"), default="findings",
                   help="with --synthetic: 'findings' (findings rendered into the image, default; docs/gaze_synthetic.md) "
                        "or 'regions' (the sentence names a zone, the image does not matter)")
    p.add_argument("--no-text", action="store_true", help="image-only ablation (use_text=False)")
    p.add_argument("--no-image", action="store_true", help="text-only ablation (use_image=False)")
    p.add_argument("--no-matching", action="store_true", help="no behaviour matching (use_matching=False)")
    p.add_argument("--no-graph", action="store_true", help="matching without the behaviour graph (use_graph=False)")
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--resume", action="store_true", help="continue from OUTDIR/last.pt")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTDIR/gem.pt")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from medwave.gaze.training import train_gaze

    if args.steps < 1 or args.batch_size < 1 or args.image_size < 32:
        raise UserError("--steps and --batch-size must be >= 1 and --image-size >= 32")
    res = train_gaze(
        args.datalist,
        args.outdir,
        synthetic=args.synthetic,
        synthetic_set=args.synthetic_set,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        image_size=args.image_size,
        val_size=args.val_size,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=args.progress,
        model_options={"k": args.k, "encoder_width": args.encoder_width, "dim": args.dim, "use_text": not args.no_text,
                       "use_image": not args.no_image, "use_matching": not args.no_matching,
                       "use_graph": not args.no_graph},
    )
    val = res["val"]
    extra = f"; validation mean distance {val['mean_distance_px']:.2f} px" if val else ""
    print(f"wrote {res['checkpoint']}{extra}")
    return 0
