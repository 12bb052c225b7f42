"""``medwave info IN``: shape, voxel size, orientation, data type and value range of images."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = """Print what medwave reads from images: format, shape, voxel size, orientation code (e.g. RAS, LPS),
data type, value range (min, max, mean; NaN/Inf counted), the voxel-to-world affine and, for NIfTI, the
units, intent and qform/sform codes. Works on NIfTI, mha/nrrd, DICOM (files and series folders), TIFF
stacks and PNG/JPEG.

One axis convention for every format: shape and spacing are listed x first (x, y, z: the array index
order of nibabel and MONAI; a TIFF stack stored as Z, Y, X pages is listed X, Y, Z). Formats without an
orientation (TIFF, PNG/JPEG: a voxel size only) print no orientation.

Examples:
  medwave info t1.nii.gz
  medwave info scan_dicom_folder/ stack.tif --json
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "info",
        help="shape, spacing, orientation, dtype and value range of images; e.g. medwave info t1.nii.gz",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", help="image files or DICOM series folders")
    p.add_argument("--json", action="store_true", help="print one JSON object per image (machine readable)")
    p.set_defaults(func=run)


def image_info(path) -> dict:
    """The facts ``medwave info`` prints, as a dict (also used by tests and notebooks)."""
    from medwave.utils.nibabel_import import import_nibabel

    nib = import_nibabel()
    import numpy as np

    from medwave.io import load_image
    from medwave.io.checks import spatial_shape
    from medwave.io.formats import spatial_unit

    img = load_image(path, check_affine=False)
    arr = np.asarray(img.array)
    nd = min(len(spatial_shape(img)), 3)
    info = {
        "path": str(path),
        "format": img.meta.get("format", "?"),
        "axes": AXES[:nd] + (["c"] if arr.ndim > nd else []),
        "shape": [int(s) for s in arr.shape],
        "dtype": str(arr.dtype),
        "spacing": [round(float(s), 6) for s in img.spacing[:nd]],
        "unit": spatial_unit(img) or "pixel",
        "affine": np.round(img.affine, 6).tolist(),
    }
    det = float(np.linalg.det(img.affine[:3, :3])) if nd == 3 else float(np.linalg.det(img.affine[:2, :2]))
    if "orientation" in img.meta and img.meta["orientation"] is None:
        info["orientation"] = None  # TIFF, PNG/JPEG: no orientation stored
    elif abs(det) < 1e-12:
        info["orientation"] = "singular affine"
    else:
        info["orientation"] = "".join(nib.aff2axcodes(img.affine))[:nd] if nd == 3 else "".join(nib.aff2axcodes(img.affine))[:2]
    if arr.size:
        if np.issubdtype(arr.dtype, np.floating):
            finite = np.isfinite(arr)
            n_bad = int(arr.size - np.count_nonzero(finite))
            vals = arr[finite] if n_bad else arr
        else:
            n_bad, vals = 0, arr
        if vals.size:
            info["min"], info["max"], info["mean"] = float(vals.min()), float(vals.max()), float(vals.mean(dtype=np.float64))
        info["nonfinite"] = n_bad
    for key in ("units", "intent", "qform_code", "sform_code", "spatial_unit", "spacing_source", "dicom_files"):
        if key in img.meta:
            v = img.meta[key]
            info[key] = list(v) if isinstance(v, tuple) else v
    return info


#: The axis convention of everything `medwave info` prints: x first (array index order of nibabel and MONAI).
AXES = ["x", "y", "z"]


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def run(args) -> int:
    from medwave.io.guard import check_input_file

    for path in args.inputs:
        check_input_file(path, what="image", allow_dir=True)
    for path in args.inputs:
        info = image_info(path)
        if args.json:
            print(json.dumps(info))
            continue
        lines = [
            f"{info['path']}",
            f"  format       {info['format']}",
            f"  axes         {', '.join(info['axes'])} (x first)",
            f"  shape        {' x '.join(str(s) for s in info['shape'])}",
            f"  spacing      {' x '.join(_fmt(s) for s in info['spacing'])} {info['unit']}",
        ]
        if info["orientation"] is not None:
            lines.append(f"  orientation  {info['orientation']}")
        lines.append(f"  dtype        {info['dtype']}")
        if "min" in info:
            lines.append(f"  range        [{_fmt(info['min'])}, {_fmt(info['max'])}]  mean {_fmt(info['mean'])}")
        if info.get("nonfinite"):
            lines.append(f"  NaN/Inf      {info['nonfinite']} voxel(s)")
        if "intent" in info and info["intent"] not in (None, "none"):
            lines.append(f"  intent       {info['intent']}")
        if "qform_code" in info:
            lines.append(f"  qform/sform  {info['qform_code']}/{info['sform_code']}")
        lines.append("  affine       " + "\n               ".join(" ".join(f"{v:10.4f}" for v in row) for row in info["affine"]))
        print("\n".join(lines))
    return 0
