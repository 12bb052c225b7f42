"""``medwave segment-neurons``: 3D-WaveUNet segmentation of a neuron stack, probability + mask + SWC."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from medwave.utils.errors import UserError

FORMATS = ("auto", "tiff", "nifti", "zarr")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "segment-neurons",
        help="segment neurons in a light-microscopy stack (3D-WaveUNet), write probability, mask and SWC",
        description=(
            "Cut the stack into overlapping cubes, segment each with the 3D-WaveUNet, blend them into a "
            "probability map and a mask, and trace the mask into an SWC.\n"
            "Inputs: TIFF (read lazily), zarr, NIfTI. Outputs in OUTDIR: probability, mask (same format as "
            "the input; zarr, written chunk by chunk, for zarr inputs or stacks over 512 MB), neuron.swc, and "
            "summary.json, and metrics.json when --gt-swc/--gt-mask is given.\n\n"
            "Example: medwave segment-neurons stack.tif -o results/stack1 --gt-swc stack1.swc\n"
            "         medwave segment-neurons big.zarr -o results/big --no-trace --cube 32 128 128 --overlap 0.25"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("stack", help="input stack: .tif/.tiff, .nii/.nii.gz or .zarr")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--weights", help="model.pt from `medwave train-neurons` (default: shipped synthetic-trained model)")
    p.add_argument("--cube", type=int, nargs=3, default=(32, 128, 128), metavar=("Z", "Y", "X"))
    p.add_argument("--overlap", type=float, default=0.25, help="cube overlap fraction (default 0.25)")
    p.add_argument("--threshold", type=float, default=None,
                   help="probability threshold of the mask (default: the one calibrated in the checkpoint, else 0.5)")
    p.add_argument("--batch-size", type=int, default=1, help="cubes per forward pass")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-trace", action="store_true", help="skip tracing the mask to SWC")
    p.add_argument("--format", choices=FORMATS, default="auto", help="output format of probability and mask")
    p.add_argument("--swc-units", choices=("physical", "voxel"), default="physical",
                   help="coordinates of neuron.swc: 'physical' (default: the stack's unit, um for TIFF with a voxel "
                        "size, mm RAS world for NIfTI) or 'voxel' (voxel indices); --gt-swc is read in the same units")
    p.add_argument("--voxel-swc", dest="swc_units", action="store_const", const="voxel",
                   help="same as --swc-units voxel")
    p.add_argument("--gt-swc", help="ground-truth SWC (in --swc-units coordinates): ESA/DSA/PDS and voxel metrics")
    p.add_argument("--gt-mask", help="ground-truth mask stack: voxel Dice/IoU/precision/recall")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from medwave.neuron.api import NeuronSegmentation, segment_neurons
    from medwave.neuron.stacks import create_zarr, open_stack
    from medwave.utils.atomic import atomic_path, check_output_path

    # segment_neurons() checks the stack, cube, overlap, threshold and batch size; here only what it does not see
    stack = open_stack(args.stack)
    for name in ("gt_swc", "gt_mask"):
        v = getattr(args, name)
        if v:
            from medwave.io.guard import check_input_file

            try:
                check_input_file(v, what="ground-truth file", dir_hint="give the file itself")
            except FileNotFoundError:
                raise UserError(f"{v}: no such file (--{name.replace('_', '-')}).") from None
    # ground truth is read and checked before any work, so a bad file costs nothing and writes nothing
    gt_mask = gt_swc = None
    if args.gt_mask:
        gt_mask = np.asarray(open_stack(args.gt_mask).data[...]) > 0
        if gt_mask.shape != stack.shape:
            raise UserError(f"{args.gt_mask}: shape {gt_mask.shape} differs from the stack's {stack.shape} "
                            f"(--gt-mask must be on the stack's grid).")
    if args.gt_swc:
        from medwave.neuron.swc import read_swc

        gt_swc = read_swc(args.gt_swc)
    out = Path(args.output)
    # every output is checked before any work (the result's own names, before it exists)
    plan = NeuronSegmentation(np.empty(0), np.empty(0), None, stack, (0.0, 1.0), 0, 0.0)
    fmt = plan.output_format(args.format)
    targets = plan.output_paths(out, fmt)
    if not args.no_trace:
        targets["swc"] = out / "neuron.swc"
    if args.gt_swc or args.gt_mask:
        targets["metrics"] = out / "metrics.json"
    for t in targets.values():
        check_output_path(t, overwrite=args.overwrite, inputs=[args.stack, args.gt_swc, args.gt_mask])
    created = not out.exists()

    prob_out = mask_out = None
    tmp = []
    if fmt == "zarr":  # big stacks: written chunk by chunk into temporaries that save() moves into place
        prob_out, t = create_zarr(targets["probability"], stack.shape, "float32", overwrite=args.overwrite)
        tmp.append(t)
        mask_out, t = create_zarr(targets["mask"], stack.shape, "uint8", overwrite=args.overwrite)
        tmp.append(t)
    try:
        res = segment_neurons(
            stack, weights=args.weights, cube=tuple(args.cube), overlap=args.overlap, device=args.device,
            trace=not args.no_trace, progress=args.progress, threshold=args.threshold, batch_size=args.batch_size,
            prob_out=prob_out, mask_out=mask_out, swc_units=args.swc_units,
        )
        written = res.save(out, overwrite=args.overwrite, format=fmt)
    finally:
        import shutil

        for t in tmp:  # left only when the run stopped before save() moved them into place
            shutil.rmtree(t, ignore_errors=True)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a run stopped by bad input leaves nothing behind
    summary = dict(res.summary, outputs={k: str(v) for k, v in written.items()})
    if "metrics" in targets:
        from medwave.neuron.metrics import neuron_distance, voxel_metrics

        metrics: dict = {}
        pred = np.asarray(res.mask[...]).astype(bool)
        if gt_mask is not None:
            metrics["voxel"] = voxel_metrics(pred, gt_mask)
        if gt_swc is not None:
            from medwave.neuron.swc import render_swc, swc_to_voxels

            # metrics in voxels, whatever the SWC units (their thresholds are voxel distances)
            gt_vox = gt_swc if args.swc_units == "voxel" else swc_to_voxels(gt_swc, stack.grid_affine())
            metrics["voxel_vs_rendered_swc"] = voxel_metrics(pred, render_swc(gt_vox, pred.shape))
            if res.swc is not None and len(res.swc.edges()) and len(gt_swc.edges()):
                pred_vox = res.swc if args.swc_units == "voxel" else swc_to_voxels(res.swc, stack.grid_affine())
                metrics["tracing"] = neuron_distance(gt_vox, pred_vox)
            elif res.swc is not None:
                metrics["tracing"] = None
                metrics["tracing_note"] = "the traced or ground-truth SWC has no segment"
        with atomic_path(targets["metrics"]) as t:
            t.write_text(json.dumps(metrics, indent=1))
        summary["outputs"]["metrics"] = str(targets["metrics"])
        summary["metrics"] = metrics
    print(json.dumps(summary, indent=1))
    return 0
