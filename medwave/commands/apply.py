"""``medwave apply TRANSFORM_DIR IMAGE -o OUT``: apply a saved registration transform to an image, labels or points."""

from __future__ import annotations

import argparse
from pathlib import Path

from medwave.utils.errors import UserError

HELP = """Apply the transform that `medwave register -o TRANSFORM_DIR` wrote to another image, label map or
point set. IMAGE is an image of the moving space (any grid: it is resampled through physical space) and
goes onto the fixed grid; with --inverse an image of the fixed space goes onto the moving grid. --reference
writes onto another image's grid instead.

Point sets (a .csv of world coordinates in mm, columns x,y,z or the first three; RAS as in NIfTI, or LPS with
--points-space lps) move the other way round from images: points of the moving image go to the fixed space;
with --inverse, fixed-space points go to the moving space. The other columns are kept.

Examples:
  medwave apply reg_out moving_t2.nii.gz -o t2_on_fixed.nii.gz
  medwave apply reg_out moving_labels.nii.gz -o labels_on_fixed.nii.gz --interpolation label
  medwave apply reg_out fixed_mask.nii.gz -o mask_on_moving.nii.gz --inverse --interpolation nearest
  medwave apply reg_out landmarks_moving.csv -o landmarks_fixed.csv
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("apply", help="apply a saved registration transform to an image, label map or points; "
                              "e.g. medwave apply reg_out t2.nii.gz -o t2_on_fixed.nii.gz",
                              description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("transform", help="transform folder written by `medwave register -o` (holds transform.json)")
    p.add_argument("image", help="image (NIfTI, mha, nrrd, ...) or point set (.csv)")
    p.add_argument("-o", "--output", required=True, help="output image (.nii.gz, .mha, ...) or .csv for points")
    p.add_argument("--inverse", action="store_true", help="the way back: fixed-space image onto the moving grid "
                   "(points: fixed -> moving)")
    p.add_argument("--interpolation", choices=["linear", "nearest", "label"], default="linear",
                   help="linear (default); nearest (nearest neighbour, dtype kept); label (label maps: one-hot, "
                        "linear, arg-max)")
    p.add_argument("--reference", default=None, help="image whose grid the output takes (default: the fixed grid; "
                   "with --inverse the moving grid)")
    p.add_argument("--points-space", choices=["ras", "lps"], default="ras",
                   help="world convention of a .csv point set (default ras)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)


def run(args) -> int:
    from medwave.io import save_image
    from medwave.registration.apply import apply_to_points, apply_transform, read_points_csv, write_points_csv
    from medwave.registration.transform import Transform
    from medwave.utils import check_output_path

    for nm, path in (("TRANSFORM_DIR", args.transform), ("IMAGE", args.image), ("--reference", args.reference)):
        if path is not None and not Path(path).exists():
            raise UserError(f"{nm} {path}: no such file or folder. Check the path.")
    is_points = str(args.image).lower().endswith(".csv")
    if is_points != str(args.output).lower().endswith(".csv"):
        raise UserError(f"IMAGE {args.image} and -o {args.output}: a point set (.csv) is written as .csv, an image as "
                        "an image (.nii.gz, .mha, ...).")
    out = check_output_path(args.output, overwrite=args.overwrite, inputs=[args.image, args.reference])
    tx = Transform.load(args.transform)
    if is_points:
        coords, header, rows = read_points_csv(args.image)
        moved = apply_to_points(tx, coords, inverse=args.inverse, space=args.points_space)
        write_points_csv(out, moved, header, rows)
        if args.progress:
            print(f"moved {len(coords)} points ({'fixed -> moving' if args.inverse else 'moving -> fixed'}) to {out}")
        return 0
    result = apply_transform(tx, args.image, inverse=args.inverse, interpolation=args.interpolation,
                             reference=args.reference)
    save_image(result, out, overwrite=True, inputs=[args.image, args.reference])
    grid = "x".join(str(s) for s in result.array.shape[:3])
    if args.progress:
        print(f"wrote {out} ({grid}, {'moving' if args.inverse else 'fixed'} space, {args.interpolation})")
    return 0
