"""``medwave denoise IN -o OUT``: wavelet shrinkage denoising of a 2D/3D image (NIfTI, TIFF, mha, nrrd)."""

from __future__ import annotations

import argparse
from pathlib import Path

from medwave.utils.errors import UserError

HELP = """Denoise a 2D image or 3D volume by wavelet shrinkage (BayesShrink or VisuShrink, soft or hard
thresholding, noise sigma estimated from the finest diagonal subband), the same algorithm and defaults
as skimage.restoration.denoise_wavelet, computed with medwave's fast wavelet core.

The output is written atomically with the input's affine/voxel size (and NIfTI header); its format follows
the output extension (.nii/.nii.gz, .tif/.tiff, .mha, .nrrd). Integer inputs are written as float32
(values are not rescaled). 4D inputs (time series) are denoised volume by volume. The input is never
overwritten.

Examples:
  medwave denoise t1.nii.gz -o t1_denoised.nii.gz
  medwave denoise stack.tif -o stack_dn.tif --wavelet db2 --method VisuShrink --mode hard
  medwave denoise dwi.nii.gz -o dwi_dn.nii.gz --sigma 12.5 --levels 3 --overwrite
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "denoise",
        help="wavelet shrinkage denoising (BayesShrink/VisuShrink); e.g. medwave denoise in.nii.gz -o out.nii.gz",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="input image: NIfTI, TIFF stack, mha/nrrd, or a DICOM series folder")
    p.add_argument("-o", "--output", required=True, help="output file (.nii.gz, .tif, .mha, .nrrd)")
    p.add_argument("--wavelet", default="db1", help="discrete wavelet name, e.g. db1 (default), db2, sym4, coif1")
    p.add_argument("--levels", type=int, default=None, help="decomposition levels (default: max level - 3, at least 1)")
    p.add_argument("--method", choices=["BayesShrink", "VisuShrink"], default="BayesShrink",
                   help="threshold rule (default BayesShrink: adaptive per subband)")
    p.add_argument("--mode", choices=["soft", "hard"], default="soft", help="thresholding (default soft)")
    p.add_argument("--sigma", type=float, default=None,
                   help="noise standard deviation in image units (default: estimated per volume)")
    p.add_argument("--wavelet-mode", default="symmetric", help="boundary extension (default symmetric)")
    p.add_argument("--spatial-dims", type=int, choices=[2, 3], default=None,
                   help="2 = denoise each slice of a 3D stack separately (default: all spatial axes together)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda / cuda:N")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run)


def run(args) -> int:
    from medwave.denoise import denoise
    from medwave.io.checks import describe_shape
    from medwave.utils import check_output_path

    src, dst = Path(args.input), Path(args.output)
    if dst.is_dir():  # -o names a file here (DenoiseResult.save would write denoised.nii.gz into a folder)
        raise UserError(f"{dst} is a folder; -o names the output file, e.g. -o {dst / 'denoised.nii.gz'}.")
    check_output_path(dst, overwrite=args.overwrite, inputs=[src])  # before any work
    # denoise() checks the input and every option (errors name the option as --flag, exit code 2)
    res = denoise(src, device=args.device, progress=args.progress, wavelet=args.wavelet, levels=args.levels,
                  method=args.method, mode=args.mode, sigma=args.sigma, wavelet_mode=args.wavelet_mode,
                  spatial_dims=args.spatial_dims)
    dst = res.save(dst, overwrite=args.overwrite)["image"]
    sig = res.sigma
    sig_txt = f"{float(sig[0]):.4g}" if sig.size == 1 else f"{float(sig.min()):.4g}..{float(sig.max()):.4g}"
    print(
        f"{src.name} ({describe_shape(res.image.shape)}) -> {dst}  [{args.method}, {args.mode}, {args.wavelet}, "
        f"sigma {'given' if args.sigma is not None else 'estimated'} {sig_txt}, {res.seconds:.2f} s]"
    )
    return 0
