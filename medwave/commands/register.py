"""``medwave register FIXED MOVING -o OUTDIR``: deformable registration of one 3D pair."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from medwave.utils.errors import UserError

HELP = """Deformably register MOVING onto FIXED (3D NIfTI) and write warped.nii.gz, jacdet.nii.gz,
warped_seg.nii.gz (with --moving-seg), metrics.json (folding %, SDlogJ, Dice with both segmentations, run time)
and the transform: ddf_monai_voxel.nii.gz (MONAI DDF, voxel units), transform_itk_lps_mm.nii.gz (ITK/ANTs
displacement, LPS mm), affine_itk_lps.mat (with --affine), their inverses and transform.json (the manifest).
`medwave apply OUT IMAGE` applies it to another image, label map or point set.

With no --weights the field is found by instance optimisation (a compiled greedy LNCC scheme; no training
needed, CPU friendly). --weights PATH (or 'default' for the small shipped WiNet) predicts it with WiNet in one
forward pass; --optimize (the default) refines that prediction on this pair, starting at 1/2 resolution from the
network's field there (the forward stops at that level), --no-optimize keeps it. The shipped WiNet alone lifts mean
Dice over no registration by +0.10 on held-out synthetic MNI pairs (about 0.7 s at 2 mm), the optimisation by about
+0.15; started from the network, the optimisation reaches its Dice from zero a little sooner (see
medwave/registration/weights/README.md). The network has seen synthetic deformations of one template only, so
fine-tune it (train-registration --init-weights) before relying on it.

Images of different modalities (T1 to T2, CT to MR): --similarity mi or mind. Masks (--fixed-mask,
--moving-mask) restrict the similarity to the voxels they cover.

Example:
  medwave register fixed.nii.gz moving.nii.gz -o reg_out --moving-seg moving_seg.nii.gz --fixed-seg fixed_seg.nii.gz
  medwave register t1.nii.gz t2.nii.gz -o reg_out --similarity mi --fixed-mask brain_mask.nii.gz
  medwave register fixed.nii.gz moving.nii.gz -o reg_out --weights default --no-optimize
"""



def register(subparsers) -> None:
    p = subparsers.add_parser("register", help="deformable 3D registration (WiNet / wavelet instance optimisation); "
                              "e.g. medwave register fixed.nii.gz moving.nii.gz -o out",
                              description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fixed", help="fixed (target) 3D image, NIfTI")
    p.add_argument("moving", help="moving (source) 3D image, NIfTI")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--weights", default=None, help="WiNet checkpoint (from `medwave train-registration`) or 'default' (the small shipped "
                        "WiNet, trained on synthetic MNI152 pairs; see the weights README)")
    p.add_argument("--optimize", dest="optimize", action=argparse.BooleanOptionalAction, default=True,
                   help="instance optimisation of the field on this pair, from zero or from --weights' prediction "
                        "(default: on)")
    p.add_argument("--iterations", default=None,
                   help="instance-optimisation iterations: a total, or 4 comma-separated numbers coarse to fine "
                        "(images averaged by 8,4,2,1; default: 0,30,30,15 with the greedy scheme, 0,0,20,15 when it starts "
                        "from --weights; with the wavelet "
                        "scheme the similarity's, 120 = 60,60,0,0 for lncc, 40,40,20,0 for mi)")
    p.add_argument("--smoothness", type=float, default=None,
                   help="regularisation: greedy: Gaussian sigma (voxels) smoothing the displacement after each "
                        "update (default 0.5); wavelet: lambda of the diffusion term (default: the similarity's, "
                        "0.5 for lncc, 4 for mi)")
    p.add_argument("--optimizer", choices=["auto", "greedy", "wavelet"], default="auto",
                   help="instance optimisation: greedy (compiled LNCC gradient, Gaussian smoothing, composition), "
                        "wavelet (Adam on the wavelet coefficients of a velocity; MI/MIND, masks) or auto (default: "
                        "greedy for lncc without masks, else wavelet)")
    p.add_argument("--similarity", choices=["lncc", "mi", "mind", "mse"], default="lncc",
                   help="similarity of the instance optimisation: lncc (default, same modality), mi (mutual "
                        "information) or mind (MIND-SSC descriptors) for different modalities (T1/T2, CT/MR)")
    p.add_argument("--fixed-mask", default=None,
                   help="mask on the fixed grid (nonzero = inside): only voxels inside count in the similarity")
    p.add_argument("--moving-mask", default=None,
                   help="mask on the moving grid: voxels mapped outside it do not count in the similarity")
    p.add_argument("--affine", action="store_true", help="affine pre-alignment (SimpleITK, mutual information) first")
    p.add_argument("--moving-seg", default=None, help="label map on the moving grid (warped to warped_seg.nii.gz)")
    p.add_argument("--fixed-seg", default=None, help="label map on the fixed grid (Dice against the warped moving seg)")
    p.add_argument("--hd95", action="store_true", help="also compute HD95 per label (slower)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda / cuda:N")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run)


def _parse_iterations(text: str):
    try:
        parts = [int(v) for v in str(text).split(",")]
    except ValueError:
        raise UserError(f"--iterations {text!r}: give a number (200) or 4 comma-separated numbers (60,60,80,0).")
    if any(v < 0 for v in parts) or len(parts) not in (1, 4):
        raise UserError(f"--iterations {text!r}: give a number (200) or 4 comma-separated non-negative numbers.")
    return parts[0] if len(parts) == 1 else tuple(parts)


def run(args) -> int:
    from medwave.io.guard import check_input_file

    from medwave.registration.api import register as api_register
    from medwave.utils import check_output_path

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder; -o needs an output folder.")
    inputs = [args.fixed, args.moving, args.moving_seg, args.fixed_seg, args.fixed_mask, args.moving_mask]
    for name in ("warped.nii.gz", "ddf_monai_voxel.nii.gz", "jacdet.nii.gz", "metrics.json", "transform.json"):
        check_output_path(out / name, overwrite=args.overwrite, inputs=inputs)
    for nm, path in (("FIXED", args.fixed), ("MOVING", args.moving), ("--moving-seg", args.moving_seg),
                     ("--fixed-seg", args.fixed_seg), ("--fixed-mask", args.fixed_mask),
                     ("--moving-mask", args.moving_mask)):
        if path is not None:
            try:
                check_input_file(path, what="image", allow_dir=True)
            except FileNotFoundError:
                raise UserError(f"{nm} {path}: no such file. Check the path.") from None
    if args.fixed_seg and not args.moving_seg:
        raise UserError("--fixed-seg needs --moving-seg as well (Dice compares the warped moving segmentation with it).")
    iterations = _parse_iterations(args.iterations) if args.iterations is not None else None  # None: the similarity's
    # register() reads and checks both volumes (3D, real, finite, >= 8 voxels per axis, not constant) before any work
    result = api_register(args.fixed, args.moving, weights=args.weights, optimize=args.optimize,
                          iterations=iterations, affine=args.affine, moving_seg=args.moving_seg,
                          fixed_seg=args.fixed_seg, similarity=args.similarity, fixed_mask=args.fixed_mask,
                          moving_mask=args.moving_mask, hd95=args.hd95, device=args.device, seed=args.seed,
                          smoothness=args.smoothness,
                          progress=args.progress, optimizer=args.optimizer)
    result.metrics["inputs"] = {"fixed": str(args.fixed), "moving": str(args.moving),
                                "moving_seg": args.moving_seg, "fixed_seg": args.fixed_seg,
                                "fixed_mask": args.fixed_mask, "moving_mask": args.moving_mask}
    paths = result.save(out, overwrite=args.overwrite)
    m = result.metrics
    summary = f"folding {m['folding_percent']:.4f}%  SDlogJ {m['sdlogj']:.3f}"
    if m.get("dice_mean") is not None:
        summary += f"  Dice {m['dice_mean_before']:.3f} -> {m['dice_mean']:.3f}"
    print(f"registered {args.moving} -> {args.fixed} in {m['total_seconds']:.1f} s: {summary}")
    print("wrote " + ", ".join(str(p) for p in dict.fromkeys(paths.values())))
    return 0
