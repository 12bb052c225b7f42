"""``medwave gaze``: predict a radiologist's gaze on a chest radiograph for report sentences."""

from __future__ import annotations

import argparse
from pathlib import Path

from medwave.utils.errors import UserError

__all__ = ["register", "run"]

EXAMPLE = """example:
  medwave gaze chest.dcm --report "Opacity in the left lung base." -o gaze_out
  medwave gaze chest.png --report "The heart is enlarged." --report "No pneumothorax." -o gaze_out

writes per sentence: gaze[_NN]_points.csv (x,y pixels), gaze[_NN]_heatmap.npy/.png, gaze[_NN]_overlay.png,
and summary.json. Default weights: trained by medwave on its synthetic set (see medwave/gaze/weights/README.md).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gaze",
        help="predict where a radiologist looks while dictating a report sentence (GEM)",
        description="Predict K gaze points and a fixation heatmap on a chest radiograph for report sentences (GEM).",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("image", help="radiograph: DICOM (.dcm), PNG or JPEG")
    p.add_argument("--report", "-r", action="append", required=True, metavar="SENTENCE",
                   help="a report sentence (repeat for several)")
    p.add_argument("-o", "--outdir", required=True, help="output folder")
    p.add_argument("--weights", default=None, help="GEM checkpoint from `medwave train-gaze` (default: shipped weights)")
    p.add_argument("-k", type=int, default=8, help="number of gaze points (must match the weights; default 8)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from medwave.gaze.api import GazePrediction, predict_gaze
    from medwave.utils import check_output_path

    # predict_gaze() checks the radiograph, the sentences, the weights and -k; here only the outputs, before any work
    image = Path(args.image).expanduser()
    out = Path(args.outdir).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder; choose another -o.")
    for path in GazePrediction.output_paths_for(out, len(args.report)):
        check_output_path(path, overwrite=args.overwrite, inputs=[image])
    results = predict_gaze(image, list(args.report), weights=args.weights, k=args.k, device=args.device)
    files = results.save(out, overwrite=args.overwrite)["sentences"]
    for res, f in zip(results, files):
        print(f"{res.sentence!r}: {len(res.points)} points -> {f['points']}, {f['overlay']}")
    return 0
