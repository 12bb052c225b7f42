"""``medwave.denoise``: the front door of wavelet shrinkage denoising for whole images.

One function reads the input (a path, an array, a nibabel image, a :class:`medwave.io.Image` or a MONAI
``MetaTensor``), decides which axes are spatial, denoises every volume (or slice) on its own, and returns a
:class:`DenoiseResult` whose :meth:`~DenoiseResult.save` writes the denoised image with the input's affine
and header. ``medwave denoise``, ``medwave batch denoise`` and notebooks call it and nothing else.

Axes: the first two or three axes of the image record are spatial (``(X, Y[, Z])``, as nibabel reads
NIfTI); a trailing singleton spatial axis makes a 2D image; a 4th axis (a NIfTI time series or
vector) is a stack of volumes, each with its own noise estimate; ``spatial_dims=2`` denoises a 3D stack
slice by slice (along its 3rd axis).

Example:
    >>> import numpy as np, medwave
    >>> rng = np.random.default_rng(0)
    >>> clean = np.outer(np.hanning(64), np.hanning(64)).astype(np.float32)
    >>> res = medwave.denoise(clean + 0.05 * rng.standard_normal(clean.shape).astype(np.float32), progress=False)
    >>> res.array.shape, res.array.dtype
    ((64, 64), dtype('float32'))
    >>> bool(abs(float(res.sigma[0]) - 0.05) < 0.01)
    True
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from medwave.denoise.shrinkage import DenoiseMethod, ThresholdMode, check_options
from medwave.io.checks import check_finite_image, describe_shape
from medwave.io.record import Image
from medwave.utils.errors import OptionError

__all__ = ["denoise", "DenoiseResult", "OUTPUT_NAME"]

PathLike = Union[str, os.PathLike]
#: File name (without extension) of the denoised image when :meth:`DenoiseResult.save` is given a folder.
OUTPUT_NAME = "denoised"


@dataclass
class DenoiseResult:
    """The result of :func:`denoise`.

    Attributes:
        image: The denoised image: the input's shape, affine and metadata (NIfTI header kept); float32
            for non-float inputs (values not rescaled), the input's float type otherwise.
        sigma: Noise standard deviation used for every volume or slice denoised (float64).
        source: The input's path, if it was read from one (never overwritten by :meth:`save`).
        name: How the input is called in messages.
        options: The shrinkage options used (wavelet, levels, method, mode, ...).
        seconds: Wall time of the shrinkage itself (reading and writing excluded).
    """

    image: Image
    sigma: np.ndarray
    source: Optional[Path] = None
    name: str = "the image"
    options: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def array(self) -> np.ndarray:
        """The denoised voxels (the input's axis order)."""
        return self.image.array

    @property
    def metrics(self) -> dict[str, Any]:
        """A flat summary (one row of a batch ``summary.csv``): shape, sigma (mean), levels, seconds."""
        return {"shape": describe_shape(self.image.shape), "sigma": round(float(np.mean(self.sigma)), 6),
                "levels": self.options.get("levels"), "seconds": round(self.seconds, 4)}

    def output_path(self, out: PathLike) -> Path:
        """Where :meth:`save` writes for ``out``: ``out`` itself if it is a file name (it has an extension and
        is not a folder), else ``out/denoised<ext>`` with the input's format (``.nii.gz`` for arrays and DICOM
        series)."""
        p = Path(out).expanduser()
        if p.suffix and not p.is_dir():
            return p
        ext = ".nii.gz"
        if self.source is not None and not self.source.is_dir():
            low = self.source.name.lower()
            ext = next((e for e in (".nii.gz", ".nii", ".ome.tif", ".tif", ".tiff", ".mha", ".nrrd") if low.endswith(e)),
                       ".nii.gz")
            ext = ".nii.gz" if ext == ".nii" else ext
        return p / f"{OUTPUT_NAME}{ext}"

    def save(self, outdir: PathLike, *, overwrite: bool = False) -> dict[str, Path]:
        """Write the denoised image atomically, with the input's affine, voxel size and header.

        Args:
            outdir: A folder (``denoised.nii.gz``, or the input's format, is written in it) or an image file
                name with its extension (``.nii.gz``, ``.tif``, ``.mha``, ``.nrrd``: that format).
            overwrite: Replace an existing output (the input itself is never overwritten).

        Returns:
            ``{"image": path}``.

        Raises:
            FileExistsError: The output exists and ``overwrite`` is False.
            ValueError: The output is the input, or has an extension no writer knows.
        """
        from medwave.io.image import save_image

        target = self.output_path(outdir)
        inputs = [self.source] if self.source is not None else None
        return {"image": save_image(self.image, target, overwrite=overwrite, inputs=inputs, vector=False)}


def _read(image: Any) -> tuple[Image, Optional[Path]]:
    """The input as an image record (spatial axes first; :func:`medwave.io.as_image`, the one input reader)
    and its path, if any."""
    from medwave.io.convert import as_image, is_path

    if not (is_path(image) or isinstance(image, Image) or hasattr(image, "shape")
            or hasattr(image, "dataobj")):
        raise TypeError(f"denoise takes a path, an array, a nibabel image, a medwave.io.Image or a MONAI "
                        f"MetaTensor, got {type(image).__name__}.")
    img = as_image(image, name="image")
    source = Path(image).expanduser() if is_path(image) else img.path
    return img, source


#: Below this many voxels, a process that has not loaded numba yet denoises on the torch path: importing numba
#: and loading the cached kernels (~0.5 s) costs more than the kernels save (~0.1 s per million voxels).
COMPILED_MIN_VOXELS = 8_000_000


def _engine_for(n_voxels: int):
    """The compiled kernels for big inputs or when numba is loaded already; else the torch path (same result)."""
    import contextlib
    import sys

    from medwave.utils.compiled import compiled_off

    if "numba" in sys.modules or n_voxels >= COMPILED_MIN_VOXELS:
        return contextlib.nullcontext()
    return compiled_off()


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise OptionError("device", device, f": not a torch device ({exc}); use 'cpu' or 'cuda:0'.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise OptionError("device", device, ": not available on this machine; use cpu.")
    if dev.type not in ("cpu", "cuda"):
        raise OptionError("device", device, ": denoise runs on cpu or cuda.")


def denoise(
    image: Any,
    *,
    weights: None = None,
    device: str = "cpu",
    seed: Optional[int] = None,
    progress: bool = True,
    wavelet: str = "db1",
    levels: Optional[int] = None,
    method: DenoiseMethod = "BayesShrink",
    mode: ThresholdMode = "soft",
    sigma: Optional[float] = None,
    wavelet_mode: str = "symmetric",
    spatial_dims: Optional[int] = None,
) -> DenoiseResult:
    """Denoise a 2D image, a 3D volume or a 4D series by wavelet shrinkage (as scikit-image's denoise_wavelet).

    Args:
        image: A path (NIfTI, TIFF, mha/nrrd, a DICOM series folder), a NumPy array or torch tensor (spatial
            axes first), a nibabel image, a :class:`medwave.io.Image` or a channel-first MONAI ``MetaTensor``.
            Never modified.
        weights: Must be None (shrinkage has no model); present so every front door has the same signature.
        device: ``"cpu"`` or ``"cuda[:N]"``.
        seed: Unused (shrinkage is deterministic); present for the common signature.
        progress: Progress bar over the volumes of a 4D series or the slices of a slice-wise run.
        wavelet: Discrete wavelet (``db1`` default, as scikit-image; ``db2``, ``sym4``, ``coif1``, ...).
        levels: Decomposition levels (default ``max(max_level - 3, 1)``).
        method: ``"BayesShrink"`` (adaptive per subband) or ``"VisuShrink"`` (universal threshold).
        mode: ``"soft"`` or ``"hard"`` thresholding.
        sigma: Noise standard deviation in image units (default: estimated per volume or slice).
        wavelet_mode: Boundary extension (PyWavelets' modes).
        spatial_dims: 2 denoises each slice of a 3D stack on its own; default all spatial axes together.

    Returns:
        A :class:`DenoiseResult`; ``.save(out)`` writes it.

    Raises:
        FileNotFoundError: No such input file.
        ValueError: Unreadable input, NaN/Inf or complex voxels, fewer than 2 spatial axes, an image smaller
            than one wavelet level (each message names the input and the fix).
        OptionError: A bad option (a ``ValueError`` naming the option).
    """
    import torch

    from medwave.denoise.shrinkage import check_denoise_levels, wavelet_shrinkage
    from medwave.utils.progress import progress_bar
    from medwave.utils.tensors import tensor_from

    if weights is not None:
        raise OptionError("weights", weights, ": wavelet shrinkage has no model weights; leave weights unset.")
    check_options(wavelet=wavelet, method=method, mode=mode, wavelet_mode=wavelet_mode, levels=levels)
    if spatial_dims is not None and spatial_dims not in (2, 3):
        raise OptionError("spatial_dims", spatial_dims, ": use 2 (slice by slice) or 3, or leave it unset.")
    if sigma is not None and not (np.isfinite(sigma) and sigma >= 0):
        raise OptionError("sigma", sigma, ": the noise standard deviation must be a finite number >= 0.")
    _check_device(device)
    img, source = _read(image)
    name = source.name if source is not None else "the image"
    arr = np.asarray(img.array)
    shape = arr.shape
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} has complex voxels ({arr.dtype}); denoise needs real values. Save the magnitude "
                         f"(numpy.abs) or the real and imaginary parts as separate images and denoise those.")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} has voxels of type {arr.dtype}, not numbers; denoise needs a numeric image.")
    check_finite_image(img, name)
    # spatial axes: a NIfTI vector/time axis (4th/5th) is a stack of volumes
    if arr.ndim == 5 and shape[3] == 1:
        arr = arr[:, :, :, 0]
    nd = min(arr.ndim, 3)
    while nd > 2 and arr.shape[nd - 1] == 1:  # (X, Y, 1) is a 2D image
        nd -= 1
    if nd < 2:
        raise ValueError(f"{name} is {arr.ndim}D ({describe_shape(shape)}); denoise needs a 2D image or a 3D volume.")
    if spatial_dims is not None and spatial_dims > nd:
        raise OptionError("spatial_dims", spatial_dims, f": {name} has only {nd} spatial axes ({describe_shape(shape)}).")
    nd_used = spatial_dims or nd
    # torch layout: (volumes, [slices,] *spatial), the spatial axes last
    x = arr.reshape(arr.shape[:nd] + (-1,)) if arr.ndim > nd else arr[..., None]
    x = np.moveaxis(x, -1, 0)  # (V, X, Y[, Z])
    if nd_used < x.ndim - 1:  # slice-wise: (V, X, Y, Z) -> (V, Z, X, Y)
        x = np.moveaxis(x, -1, 1)
    spatial = tuple(int(n) for n in x.shape[x.ndim - nd_used:])
    if min(spatial) < 2:
        raise ValueError(f"{name} is {describe_shape(shape)}: smaller than one wavelet level (a level halves every "
                         f"axis, so each spatial axis needs at least 2 voxels); denoise needs a larger image.")
    used_levels = check_denoise_levels(spatial, wavelet, levels, name=name)
    t = tensor_from(x).to(device)
    t0 = time.perf_counter()
    outs, sigmas = [], []
    n_vol = int(t.shape[0])
    with _engine_for(t.numel()):
        for v in progress_bar(range(n_vol), total=n_vol, desc="denoise", enabled=progress and n_vol > 1):
            vol = t[v]
            vol_s = vol.reshape((-1,) + tuple(vol.shape[vol.ndim - nd_used:])) if vol.ndim > nd_used else vol
            res = wavelet_shrinkage(vol_s, wavelet=wavelet, levels=used_levels, method=method, mode=mode,
                                    sigma=sigma, wavelet_mode=wavelet_mode, spatial_dims=nd_used)
            outs.append(res.denoised.reshape(vol.shape))
            sigmas.append(res.sigma.cpu().numpy())
    y = torch.stack(outs).cpu().numpy()
    if nd_used < x.ndim - 1:
        y = np.moveaxis(y, 1, -1)
    y = np.moveaxis(y, 0, -1).reshape(shape)
    seconds = time.perf_counter() - t0
    meta = {k: v for k, v in img.meta.items()}
    options = {"wavelet": wavelet, "levels": used_levels, "method": method, "mode": mode, "sigma": sigma,
               "wavelet_mode": wavelet_mode, "spatial_dims": nd_used}
    return DenoiseResult(Image(y, affine=img.affine, meta=meta), np.concatenate(sigmas), source, name, options,
                         seconds)
