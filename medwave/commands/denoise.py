"""``medwave denoise IN -o OUT``: wavelet shrinkage denoising of a 2D/3D image (NIfTI, TIFF, mha, nrrd)."""

from __future__ import annotations

import argparse
import time
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
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np
    import torch

    from medwave.io import Image, check_finite_image, load_image, save_image
    from medwave.io.checks import describe_shape
    from medwave.transforms import denoise_volume
    from medwave.transforms.denoise import check_denoise_levels
    from medwave.utils import check_output_path, progress_bar
    from medwave.wavelets import DISCRETE_WAVELETS

    src, dst = Path(args.input), Path(args.output)
    check_output_path(dst, overwrite=args.overwrite, inputs=[src])
    if args.wavelet not in DISCRETE_WAVELETS:
        raise UserError(f"--wavelet {args.wavelet!r} is not a discrete wavelet; try db1, db2, sym4, coif1, bior2.2.")
    if args.levels is not None and args.levels < 1:
        raise UserError(f"--levels must be >= 1, got {args.levels}.")
    if args.sigma is not None and not (args.sigma >= 0 and np.isfinite(args.sigma)):
        raise UserError(f"--sigma must be a finite number >= 0, got {args.sigma}.")
    if args.device != "cpu" and not (args.device.startswith("cuda") and torch.cuda.is_available()):
        raise UserError(f"--device {args.device}: not available on this machine; use --device cpu.")
    img = load_image(src)
    check_finite_image(img, src.name)
    arr = np.asarray(img.array)
    shape = arr.shape
    # spatial axes: a NIfTI vector/time axis (4th/5th) is a stack of volumes
    if arr.ndim == 5 and shape[3] == 1:
        arr = arr[:, :, :, 0]
    nd = min(arr.ndim, 3)
    while nd > 2 and arr.shape[nd - 1] == 1:  # (X, Y, 1) is a 2D image
        nd -= 1
    if nd < 2:
        raise UserError(f"{src.name} is {arr.ndim}D ({describe_shape(shape)}); denoise needs a 2D image or a 3D volume.")
    if args.spatial_dims is not None:
        if args.spatial_dims > nd:
            raise UserError(f"--spatial-dims {args.spatial_dims}: {src.name} has only {nd} spatial axes ({describe_shape(shape)}).")
        nd_used = args.spatial_dims
    else:
        nd_used = nd
    # torch layout: (volumes, [slices,] *spatial) with the spatial axes last
    x = arr.reshape(arr.shape[:nd] + (-1,)) if arr.ndim > nd else arr[..., None]
    x = np.moveaxis(x, -1, 0)  # (V, X, Y[, Z]) with singleton Z kept as is
    if nd_used < x.ndim - 1:  # slice-wise: (V, X, Y, Z) -> (V, Z, X, Y)
        x = np.moveaxis(x, -1, 1)
    if np.iscomplexobj(arr):
        raise UserError(
            f"{src.name} has complex voxels ({arr.dtype}); denoise needs real values. Save the magnitude "
            f"(numpy.abs) or the real and imaginary parts as separate images and denoise those."
        )
    spatial = tuple(int(n) for n in x.shape[x.ndim - nd_used:])
    if min(spatial) < 2:
        raise UserError(
            f"{src.name} is {describe_shape(shape)}: smaller than one wavelet level (a level halves every axis, so "
            f"each spatial axis needs at least 2 voxels); denoise needs a larger image."
        )
    try:
        check_denoise_levels(spatial, args.wavelet, args.levels, name=src.name, arg="--levels ")
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    t = torch.as_tensor(np.ascontiguousarray(x)).to(args.device)
    t0 = time.perf_counter()
    outs, sigmas = [], []
    for v in progress_bar(range(t.shape[0]), total=t.shape[0], desc="denoise", enabled=args.progress and t.shape[0] > 1):
        vol = t[v]
        if vol.ndim > nd_used:
            vol_s = vol.reshape((-1,) + tuple(vol.shape[vol.ndim - nd_used:]))
        else:
            vol_s = vol
        out, sig = denoise_volume(
            vol_s, wavelet=args.wavelet, levels=args.levels, method=args.method, mode=args.mode, sigma=args.sigma,
            wavelet_mode=args.wavelet_mode, spatial_dims=nd_used, return_sigma=True,
        )
        outs.append(out.reshape(vol.shape))
        sigmas.append(sig.cpu().numpy())
    y = torch.stack(outs).cpu().numpy()
    if nd_used < x.ndim - 1:
        y = np.moveaxis(y, 1, -1)
    y = np.moveaxis(y, 0, -1).reshape(arr.shape)
    y = y.reshape(shape)
    elapsed = time.perf_counter() - t0
    meta = dict(img.meta)
    out_img = Image(y, affine=img.affine, meta=meta)
    save_image(out_img, dst, overwrite=args.overwrite, inputs=[src], vector=False)
    sig_all = np.concatenate(sigmas)
    sig_txt = f"{float(sig_all[0]):.4g}" if sig_all.size == 1 else f"{float(sig_all.min()):.4g}..{float(sig_all.max()):.4g}"
    print(
        f"{src.name} ({describe_shape(shape)}) -> {dst}  [{args.method}, {args.mode}, {args.wavelet}, "
        f"sigma {'given' if args.sigma is not None else 'estimated'} {sig_txt}, {elapsed:.2f} s]"
    )
    return 0
