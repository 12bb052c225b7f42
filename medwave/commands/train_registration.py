"""``medwave train-registration``: train WiNet from a datalist, a folder or synthetic MNI152 pairs."""

from __future__ import annotations

import argparse

from medwave.utils.errors import UserError

HELP = """Train a WiNet registration network. Writes best.pt (highest validation Dice), last.pt (resumable)
and log.csv (loss, validation Dice and folding per epoch) into OUTDIR.

Data: a MONAI datalist JSON (see data_manifests/ixi_atlas_to_subject.json, oasis_l2r_pairwise.json), a
folder of NIfTI volumes on one grid, or --synthetic N (the MNI152 template warped by random smooth
diffeomorphisms, built offline). Several GPUs / machines: the same command under torchrun (DDP).

Examples:
  medwave train-registration --synthetic 24 -o runs/winet_mni --epochs 10 --base-width 4
  medwave train-registration data_manifests/oasis_l2r_pairwise.json -o runs/oasis --mode pairwise --device cuda
  torchrun --nproc_per_node 4 -m medwave.cli train-registration data_manifests/ixi_atlas_to_subject.json \\
      -o runs/ixi --mode atlas --device cuda --resume
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("train-registration", help="train WiNet (datalist JSON, folder or --synthetic N); "
                              "e.g. medwave train-registration --synthetic 24 -o runs/winet",
                              description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("datalist", nargs="?", default=None, help="datalist JSON or folder of NIfTI volumes")
    p.add_argument("-o", "--output", required=True, help="output folder for checkpoints and logs")
    p.add_argument("--synthetic", type=int, default=0, help="train on N synthetic MNI152 subjects instead")
    p.add_argument("--mode", choices=["atlas", "pairwise"], default="pairwise", help="atlas-to-subject or pairwise")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--steps-per-epoch", type=int, default=50)
    p.add_argument("--val-pairs", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--base-width", type=int, default=8, help="WiNet width (8 = the paper's 1.42 M parameters)")
    p.add_argument("--wavelet", default="haar")
    p.add_argument("--diffeomorphic", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--similarity", choices=["lncc", "mse"], default="lncc")
    p.add_argument("--smoothness", type=float, default=1.0, help="lambda of the diffusion regulariser")
    p.add_argument("--label-weight", type=float, default=0.0,
                   help="weight of an auxiliary soft-Dice loss on the training labels (0 = images only)")
    p.add_argument("--field-weight", type=float, default=0.0,
                   help="synthetic data only: weight of the squared error against the pair's known velocity "
                        "(displacement without --diffeomorphic); supervised, 0 = unsupervised")
    p.add_argument("--image-weight", type=float, default=1.0,
                   help="weight of the image similarity (0: supervised steps without warping, cheaper)")
    p.add_argument("--crop", type=int, default=None,
                   help="train on random CROP^3 windows of each pair (cheaper steps; a multiple of 16)")
    p.add_argument("--batch-size", type=int, default=1,
                   help="pairs per step (default 1; on CPU 2 cost about as much as 1: use with --crop)")
    p.add_argument("--resume", action="store_true", help="continue from OUTDIR/last.pt")
    p.add_argument("--init-weights", default=None, help="start from these weights (fine-tuning)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from medwave.registration.training import train_registration

    if args.datalist is None and not args.synthetic:
        raise UserError("give a datalist JSON / folder, or --synthetic N (e.g. --synthetic 24).")
    if args.epochs < 1 or args.steps_per_epoch < 1:
        raise UserError("--epochs and --steps-per-epoch must be >= 1.")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    res = train_registration(args.datalist, args.output, mode=args.mode, synthetic=args.synthetic, epochs=args.epochs,
                             steps_per_epoch=args.steps_per_epoch, val_pairs=args.val_pairs, lr=args.lr,
                             base_width=args.base_width, wavelet=args.wavelet, diffeomorphic=args.diffeomorphic,
                             similarity=args.similarity, smoothness=args.smoothness, label_weight=args.label_weight,
                             field_weight=args.field_weight, image_weight=args.image_weight, crop=args.crop,
                             batch_size=args.batch_size, resume=args.resume,
                             init_weights=args.init_weights, seed=args.seed, device=args.device,
                             progress=args.progress)
    if res.get("rank", 0) == 0:
        dice = (f"best validation Dice {res['best_dice']:.4f}" if res["best_dice"] >= 0
                else "no validation labels, so no Dice (best.pt is the last epoch's)")
        ranks = f" ({res['world_size']} DDP ranks, weights in sync)" if res.get("world_size", 1) > 1 else ""
        print(f"{dice}; wrote {res['best']}, {res['last']}, {res['log']}{ranks}")
    return 0
