"""``medwave train-neurons``: train a 3D-WaveUNet on synthetic neurons or a datalist."""

from __future__ import annotations

import argparse
import json

from medwave.utils.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train-neurons",
        help="train a 3D-WaveUNet neuron segmenter (synthetic neurons or a datalist JSON)",
        description=(
            "Train a 3D-WaveUNet on 32x128x128 cubes (foreground-ratio sampling, Dice+CE or weighted CE), "
            "with checkpoints every --checkpoint-every steps and --resume.\n\n"
            "Example: medwave train-neurons -o runs/neurons --synthetic 24 --steps 3000 --cube 32 64 64\n"
            "         medwave segment-neurons stack.tif -o out --weights runs/neurons/model.pt"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", required=True, help="run folder (model.pt, last.pt, history.json)")
    p.add_argument("--synthetic", type=int, default=0, help="number of synthetic training stacks to generate")
    p.add_argument("--synthetic-shape", type=int, nargs=3, default=(64, 160, 160), metavar=("Z", "Y", "X"))
    p.add_argument("--datalist", help="MONAI-style datalist JSON ('training': [{'image', 'label' | 'swc'}])")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--cube", type=int, nargs=3, default=(32, 128, 128), metavar=("Z", "Y", "X"))
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--loss", choices=("dice_ce", "weighted_ce"), default="dice_ce")
    p.add_argument("--min-fg-ratio", type=float, default=0.002, help="foreground ratio a foreground cube must reach")
    p.add_argument("--bg-fraction", type=float, default=0.2, help="share of each batch drawn without the rule")
    p.add_argument("--variant", default="dwt_idwt_shrink",
                   choices=("dwt_idwt", "dwt_idwt_shrink", "dwt_trilinear", "dwt_transposed"))
    p.add_argument("--arch", choices=("waveunet", "monai_unet"), default="waveunet",
                   help="network: the 3D-WaveUNet, or MONAI's UNet with the same widths (a baseline)")
    p.add_argument("--wavelet", default="haar")
    p.add_argument("--channels", type=int, nargs=4, default=(4, 8, 16, 32))
    p.add_argument("--bottleneck", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/last.pt")
    p.add_argument("--stop-after", type=int, help="stop after N steps of this run (checkpointed; --resume continues)")
    p.add_argument("--no-calibrate", action="store_true",
                   help="skip the threshold calibration on held-out stacks (threshold 0.5)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from medwave.neuron.train import TrainConfig, train_neurons

    if not args.synthetic and not args.datalist:
        raise UserError("no training data: pass --synthetic N and/or --datalist FILE.json")
    cfg = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, cube=tuple(args.cube), lr=args.lr, loss=args.loss,
        min_fg_ratio=args.min_fg_ratio, bg_fraction=args.bg_fraction, seed=args.seed,
        checkpoint_every=args.checkpoint_every, synthetic=args.synthetic,
        synthetic_shape=tuple(args.synthetic_shape), datalist=args.datalist,
        calibrate=not args.no_calibrate,
    )
    if args.arch == "monai_unet":
        cfg.model = {"arch": "monai_unet", "spatial_dims": 3, "in_channels": 1, "out_channels": 2,
                     "channels": [*args.channels, args.bottleneck], "strides": [2] * len(args.channels),
                     "num_res_units": 2}
    else:
        cfg.model.update(variant=args.variant, wavelet=args.wavelet, channels=list(args.channels),
                         bottleneck=args.bottleneck)
    result = train_neurons(args.output, config=cfg, resume=args.resume, device=args.device, progress=args.progress,
                           stop_after=args.stop_after)
    print(json.dumps(result, indent=1))
    return 0
