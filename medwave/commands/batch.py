"""``medwave batch TASK -i FOLDER | --manifest DATALIST.json | --input-glob PATTERN -o OUTDIR``: many items, resumable, Dask."""

from __future__ import annotations

import argparse

from medwave.utils.errors import UserError

HELP = """Run one pipeline (register, segment-neurons, denoise, gaze) over many inputs, one task per item,
in parallel on a local Dask cluster (one single-threaded worker process per core; each worker imports the
pipeline once at start and stays warm) or on an existing Dask scheduler (--scheduler tcp://HOST:PORT), or
in-process (--workers 0 / --sequential). Without --workers, a handful of small items run in-process (starting
workers would cost more than it saves); the choice and the Dask dashboard link are printed.

Inputs: -i FOLDER (nnU-Net style): every image file in FOLDER is a case, and its outputs go flat into the
output folder under the case's name: case.nii.gz -> OUTDIR/case.nii.gz (denoise: the denoised image;
segment-neurons: the mask, plus case_probability.nii.gz and case.swc; register: the warped image, plus
case_ddf.nii.gz, case_jacdet.nii.gz, case_metrics.json; gaze: case_gaze_points.csv, case_gaze_overlay.png, ...).
register needs --fixed, gaze --report. Bookkeeping for --resume is kept in OUTDIR/.medwave_batch/.
Or --manifest DATALIST.json, MONAI decathlon style: a list of entries or {"training": [...], ...}
(every list section is used unless --section picks some); relative paths are relative to the manifest's
folder (or its "root" key). register entries need "fixed" and "moving" (optional "fixed_seg",
"moving_seg"); denoise / segment-neurons need "image" (a bare path string is fine); gaze needs "image"
and "report" (a sentence or a list). An optional "name" sets the output folder, else the input file name
without extension is used (register: the moving image; <moving>_to_<fixed> when moving names repeat).
Or --input-glob 'data/*.nii.gz' (quoted): every match is an item; register then needs --fixed FIXED
(each match is registered to it, atlas-to-subject), gaze needs --report.

Outputs (--manifest, --input-glob): OUTDIR/<name>/ is created by the batch with its ownership marker
.medwave_item.json, holds the item's files (written atomically) and, written last, the marker
.medwave_done.json. A folder under OUTDIR that the batch did not create is never deleted: the run stops
before any work and names it. Item names summary.csv, failures.json and the markers are reserved.
--resume skips items whose marker matches their inputs (size and modification time) and options, redoes
items whose input changed, and redoes any folder of its own without a done marker from scratch.
OUTDIR/summary.csv has one row of metrics per completed item; OUTDIR/failures.json lists failed items
with error and traceback. Exit code 0 when all items succeeded, 1 when some failed, 2 for bad input.

Examples:
  medwave batch denoise -i scans/ -o denoised/
  medwave batch segment-neurons -i stacks/ -o seg/ --workers 2
  medwave batch denoise --manifest datalist.json -o out --workers 2
  medwave batch register --input-glob 'subjects/*.nii.gz' --fixed atlas.nii.gz -o reg --iterations 100
  medwave batch segment-neurons --manifest stacks.json -o seg --scheduler tcp://10.0.0.5:8786
  medwave batch denoise --manifest datalist.json -o out --resume --sequential --quiet
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("batch", help="run a pipeline over a folder, manifest or glob (Dask, resumable); "
                              "e.g. medwave batch denoise -i scans -o out",
                              description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=["register", "segment-neurons", "denoise", "gaze"], help="pipeline to run")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("-i", "--input", help="folder of input images (nnU-Net style; outputs flat, same case names)")
    src.add_argument("--manifest", help="datalist JSON (MONAI decathlon style)")
    src.add_argument("--input-glob", help="glob pattern of input files (quote it)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--section", action="append", help="manifest section(s) to use (repeatable; default all)")
    p.add_argument("--fixed", help="register + -i/--input-glob: fixed image for every case")
    p.add_argument("--report", action="append", help="gaze + -i/--input-glob: report sentence (repeatable)")
    p.add_argument("--resume", action="store_true", help="skip items already complete (marker present)")
    p.add_argument("--workers", type=int, default=None, help="local Dask workers (default: CPU count, or in-process for a handful of small items); 0 = in-process")
    p.add_argument("--sequential", action="store_true", help="run in-process without Dask (same as --workers 0)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://HOST:8786")
    p.add_argument("--threads-per-worker", type=int, default=None,
                   help="torch/OMP threads per Dask worker (default 1); with --sequential the default keeps torch's")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--weights", default=None, help="model weights (register/segment-neurons/gaze)")
    p.add_argument("--iterations", type=int, default=None, help="register: instance-optimisation iterations (default: register()'s, 0,30,30,15 with the greedy scheme)")
    p.add_argument("--wavelet", default=None, help="denoise: wavelet (default db1)")
    p.add_argument("--method", choices=["BayesShrink", "VisuShrink"], default=None, help="denoise: threshold rule")
    p.set_defaults(func=run)


def run(args) -> int:
    from medwave.batch import items_from_glob, load_manifest, run_batch, run_folder

    if args.workers is not None and args.workers < 0:
        raise UserError(f"--workers must be >= 0, got {args.workers}.")
    if args.scheduler and (args.sequential or args.workers == 0):
        raise UserError("--scheduler sends items to a Dask cluster; it cannot be combined with --sequential/--workers 0.")
    if args.fixed and args.task != "register":
        raise UserError("--fixed is only for `medwave batch register -i FOLDER` or `--input-glob`.")
    if args.manifest:
        if args.fixed:
            raise UserError("--fixed is for --input-glob; in a manifest give each entry a 'fixed' key.")
        items = load_manifest(args.manifest, args.task, sections=args.section)
    elif args.input_glob:
        items = items_from_glob(args.task, args.input_glob, fixed=args.fixed, report=args.report,
                                exclude=args.output)
    options = {"device": args.device}
    if args.weights:
        options["weights"] = args.weights
    if args.iterations is not None:
        options["iterations"] = args.iterations
    if args.wavelet:
        options["wavelet"] = args.wavelet
    if args.method:
        options["method"] = args.method
    workers = 0 if args.sequential else args.workers
    kw = dict(resume=args.resume, workers=workers, scheduler=args.scheduler, progress=args.progress,
              threads_per_worker=args.threads_per_worker, options=options)
    try:
        if args.input:
            rep = run_folder(args.task, args.input, args.output, fixed=args.fixed, report=args.report, **kw)
        else:
            rep = run_batch(args.task, items, args.output, **kw)
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    print(f"batch {args.task}: {len(rep.done)} done, {len(rep.skipped)} skipped, {rep.n_failed} failed "
          f"in {rep.seconds:.1f} s ({rep.mode or 'nothing to run'}) -> {rep.outdir}/summary.csv")
    if rep.failed:
        for name, f in rep.failed.items():
            print(f"  FAILED {name}: {f['error']}")
        print(f"details in {rep.outdir}/failures.json; fix and re-run with --resume")
        return 1
    return 0
