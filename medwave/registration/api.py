"""``medwave.register``: deformable registration of one 3D pair, from files or arrays, with metrics.

Example:
    >>> import medwave
    >>> from medwave.registration.synthetic import make_pair
    >>> pair = make_pair(1)
    >>> res = medwave.register(pair["fixed"], pair["moving"], iterations=60, progress=False)  # doctest: +SKIP
    >>> res.metrics["folding_percent"] < 0.1  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Sequence, Union

import numpy as np
import torch

from medwave.io import (
    Image,
    as_image,
    check_finite_image,
    load_image,
    require_3d,
    require_min_size,
    require_not_constant,
    require_real,
    resample_to_reference,
    save_images,
)
from medwave.networks.blocks.fields import jacobian_determinant, load_field_kernels
from medwave.registration.metrics import dice_per_label, folding_percent, hd95_per_label, sdlogj
from medwave.utils import check_output_path

__all__ = ["register", "RegistrationResult", "load_default_weights", "DEFAULT_WEIGHTS", "as_image",
           "similarity_settings", "SIMILARITY_DEFAULTS"]

DEFAULT_WEIGHTS = Path(__file__).with_name("weights") / "winet_mni_small.pt"
DEFAULT_ITERATIONS = 120
#: Default lambda of the diffusion regulariser of the instance optimisation.
DEFAULT_SMOOTHNESS = 0.5
#: Instance-optimisation schemes: ``"auto"`` (greedy for LNCC without masks, else wavelet), ``"greedy"``
#: (:func:`medwave.registration.greedy.greedy_lncc`) or ``"wavelet"`` (:func:`~medwave.registration.instance.optimize_pair`).
OPTIMIZERS = ("auto", "greedy", "wavelet")
#: Per-similarity settings of the instance optimisation, where they differ from the LNCC defaults above
#: (``iterations``, ``smoothness``; ``options`` go to :class:`~medwave.registration.losses.RegistrationLoss`).
#: Chosen on the multimodal tuning pairs (``SEEDS["tuning_multimodal"]``, benchmarks/tune_multimodal.py); an
#: ``iterations`` or ``smoothness`` given to :func:`register` wins.
SIMILARITY_DEFAULTS: dict[str, dict[str, Any]] = {
    "lncc": {},
    "mse": {},
    # Mattes B-spline MI (32 bins), a smoother field (lambda 4) and 20 steps of the level-1 field against the
    # full-resolution images: mean Dice on the tuning pairs 0.822 (Gaussian 23-bin MI, lambda 0.5, 60,60,0,0)
    # -> 0.860, SDlogJ 0.165 -> 0.117 (Greedy -m MI 0.828, elastix Mattes MI 0.839 there)
    "mi": {"iterations": (40, 40, 20, 0), "smoothness": 4.0, "options": {"mi_kernel": "bspline", "num_bins": 32}},
    "mind": {"smoothness": 0.1},  # 0.790 on tuning pair 4500 (0.756 at lambda 0.5): MI is the multimodal choice
}
#: Levels of the instance-optimisation pyramid and the smallest axis (voxels) it needs.
PYRAMID_LEVELS = 3
MIN_SIZE = 2**PYRAMID_LEVELS

ImageLike = Union[str, Path, np.ndarray, torch.Tensor, Image, Any]


def _has_affine(obj: Any) -> bool:
    return not isinstance(obj, np.ndarray) and (not isinstance(obj, torch.Tensor) or hasattr(obj, "affine"))


def _same_grid(a: Image, b: Image) -> bool:
    return a.array.shape[:3] == b.array.shape[:3] and np.allclose(a.affine, b.affine, atol=1e-4)


def _normalise(arr: np.ndarray) -> np.ndarray:
    a = arr.astype(np.float32)
    lo, hi = np.percentile(a, [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    return np.clip((a - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def _read_mask(obj: ImageLike, name: str, image: Image) -> Image:
    """A mask on ``image``'s grid as a float 0/1 :class:`Image` (arrays without an affine take the image's)."""
    m = as_image(obj, name=name)
    arr = np.asarray(m.array)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    label = m.path.name if m.path is not None else name
    if arr.shape[:3] != np.asarray(image.array).shape[:3]:
        raise ValueError(f"{label}: the mask has shape {arr.shape} but its image {np.asarray(image.array).shape[:3]}; "
                         f"{name} must be on its image's grid (resample it first).")
    mask = (np.nan_to_num(np.asarray(arr, np.float32)) != 0).astype(np.float32)
    if not mask.any():
        raise ValueError(f"{label}: the mask is empty (no nonzero voxel); give a mask that covers the region to "
                         "register, or leave it out.")
    return Image(mask, affine=m.affine if _has_affine(obj) else image.affine.copy())


def similarity_settings(similarity: str, iterations=None, smoothness=None) -> dict[str, Any]:
    """The instance optimisation's ``iterations``, ``smoothness`` and similarity ``options`` for ``similarity``.

    ``iterations`` / ``smoothness`` given (not ``None``) are kept; the rest come from
    :data:`SIMILARITY_DEFAULTS`, then :data:`DEFAULT_ITERATIONS` / :data:`DEFAULT_SMOOTHNESS`.
    """
    table = SIMILARITY_DEFAULTS.get(similarity, {})
    return {"iterations": iterations if iterations is not None else table.get("iterations", DEFAULT_ITERATIONS),
            "smoothness": smoothness if smoothness is not None else table.get("smoothness", DEFAULT_SMOOTHNESS),
            "options": dict(table.get("options", {}))}


def load_default_weights(device: str = "cpu"):
    """The small WiNet shipped with medwave (trained on synthetic MNI152 pairs; see weights/README.md)."""
    from medwave.networks.winet import WiNet

    if not DEFAULT_WEIGHTS.exists():
        raise FileNotFoundError(f"The shipped default weights {DEFAULT_WEIGHTS} are missing; reinstall medwave or "
                                "pass --weights with your own checkpoint.")
    return WiNet.from_checkpoint(DEFAULT_WEIGHTS, map_location=device).to(device).eval()


def _load_net(weights, device: str):
    from medwave.networks.winet import WiNet

    if weights in ("default", "shipped"):
        return load_default_weights(device)
    if isinstance(weights, WiNet):
        return weights.to(device).eval()
    p = Path(weights)
    if not p.exists() and not p.is_symlink():  # a symlink loop / pipe is named by the checkpoint reader
        raise FileNotFoundError(f"Weights file {p} does not exist. Pass a checkpoint written by "
                                "`medwave train-registration` (best.pt / last.pt) or 'default'.")
    return WiNet.from_checkpoint(p, map_location=device).to(device).eval()


@dataclass
class RegistrationResult:
    """The outcome of :func:`register`, all on the fixed image's grid.

    Attributes:
        warped: The moving image warped onto the fixed image (original intensities).
        ddf: DDF as a vector image ``(X, Y, Z, 3)`` in voxel units (MONAI convention,
            ``warped(x) = moving(x + ddf(x))``), with the fixed affine.
        jacdet: Jacobian determinant of ``x -> x + ddf(x)``.
        warped_seg: The moving segmentation warped as a label map (one-hot, linear, arg-max), or ``None``.
        metrics: Folding %, SDlogJ, Dice (when both segmentations are given), timings, settings.
        transform: The whole transform (affine pre-alignment, displacement, inverse) as
            :class:`~medwave.registration.transform.Transform`; :func:`medwave.apply_transform` applies it.
    """

    warped: Image
    ddf: Image
    jacdet: Image
    warped_seg: Optional[Image] = None
    metrics: dict = field(default_factory=dict)
    transform: Optional[Any] = None

    def save(self, outdir: Union[str, Path], *, overwrite: bool = False) -> dict[str, Path]:
        """Write warped.nii.gz, jacdet.nii.gz, warped_seg.nii.gz, metrics.json and the transform folder's files
        (:meth:`~medwave.registration.transform.Transform.save`: ddf_monai_voxel.nii.gz, transform_itk_lps_mm.nii.gz,
        the inverses, affine_itk_lps.mat with an affine pre-alignment, transform.json); ``paths["ddf"]`` is the
        MONAI DDF."""
        from medwave.registration.transform import MANIFEST, Transform
        from medwave.utils import atomic_path

        tx = self.transform
        if tx is None:
            tx = Transform(self.ddf.array, fixed_affine=self.ddf.affine)
        out = Path(outdir)
        names = {"warped": "warped.nii.gz", "jacdet": "jacdet.nii.gz", "metrics": "metrics.json"}
        if self.warped_seg is not None:
            names["warped_seg"] = "warped_seg.nii.gz"
        names.update(tx.manifest()["files"], manifest=MANIFEST)
        paths = {k: check_output_path(out / v, overwrite=overwrite) for k, v in names.items()}
        out.mkdir(parents=True, exist_ok=True)
        images = [(self.warped, paths["warped"], {"overwrite": True}), (self.jacdet, paths["jacdet"], {"overwrite": True})]
        if self.warped_seg is not None:
            images.append((self.warped_seg, paths["warped_seg"], {"overwrite": True}))
        # The images are compressed in a background thread while the transform computes its inverse and writes
        # its fields (themselves in parallel): zlib releases the GIL.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="medwave-save") as pool:
            written = pool.submit(save_images, images, max_workers=1)
            paths.update(tx.save(out, overwrite=True))  # computes the inverse if nothing asked for it yet
            written.result()
        paths["ddf"] = paths["ddf_monai"]
        metrics = dict(self.metrics, inverse=dict(tx.inverse_info))
        with atomic_path(paths["metrics"]) as tmp:
            tmp.write_text(json.dumps(metrics, indent=2, sort_keys=True))
        return paths


def register(
    fixed: ImageLike,
    moving: ImageLike,
    *,
    weights: Union[None, str, Path, Any] = None,
    optimize: bool = True,
    iterations: Union[int, Sequence[int], None] = None,
    affine: bool = False,
    moving_seg: Optional[ImageLike] = None,
    fixed_seg: Optional[ImageLike] = None,
    diffeomorphic: bool = True,
    smoothness: Optional[float] = None,
    similarity: str = "lncc",
    fixed_mask: Optional[ImageLike] = None,
    moving_mask: Optional[ImageLike] = None,
    hd95: bool = False,
    device: str = "cpu",
    seed: int = 0,
    progress: bool = True,
    optimizer: str = "auto",
) -> RegistrationResult:
    """Deformably register ``moving`` onto ``fixed`` (3D).

    With no ``weights`` the field is found by instance optimisation, coarse to fine, no training needed: for
    LNCC without masks (the default) by the compiled greedy scheme (:func:`medwave.registration.greedy.greedy_lncc`:
    analytic LNCC gradient, Gaussian smoothing of each update and of the field, composition; levels 1/4, 1/2
    and full resolution), otherwise by Adam on the wavelet coefficients of a stationary velocity (LNCC, MI or
    MIND + diffusion). With ``weights`` a WiNet predicts the field, and ``optimize=True`` refines that
    prediction on this pair; when that optimisation is the greedy scheme starting at 1/2 resolution (its seeded
    default), the network's forward stops at its 1/2-resolution field, integrated there, which is all the optimisation
    reads (``metrics["network_grid_scale"]``). ``optimize=False`` without weights uses the small WiNet shipped
    with medwave.

    Args:
        fixed: Fixed image: a file path, array ``(X, Y, Z)``, nibabel image, MetaTensor ``(1, X, Y, Z)``
            or :class:`medwave.io.Image`. Arrays without an affine get the identity.
        moving: Moving image, same kinds. Resampled onto the fixed grid from the affines when the grids
            differ (or through an affine pre-alignment when ``affine=True``).
        weights: ``None``, ``"default"`` (the shipped WiNet), a checkpoint path, or a ``WiNet``.
        optimize: Run instance optimisation (from zero, or from the network's prediction).
        iterations: Iterations of the instance optimisation: a total, or one number per pyramid level
            (coarsest first, 4 numbers: images averaged by 8, 4, 2, 1). ``None`` (default): the scheme's
            default, 0, 30, 30, 15 for the greedy scheme (a total is split 0.4, 0.4, 0.2 over levels 2-0:
            :func:`~medwave.registration.greedy.greedy_iterations`), or 0, 0, 20, 15 when it starts from a
            network's field (``weights``; a total split 4:3 over levels 1-0); for the wavelet scheme the similarity's
            (:data:`SIMILARITY_DEFAULTS`, else :data:`DEFAULT_ITERATIONS`, 120 = 60, 60, 0, 0).
        affine: Affine pre-alignment (:func:`medwave.io.prealign.affine_prealign`: SimpleITK, Mattes mutual
            information, rigid then affine) before the deformable step; the 4x4 RAS transform goes to
            ``metrics["prealign_transform_ras"]``.
        moving_seg: Label map on the moving grid; warped as a label map (each label one-hot, linear, arg-max).
        fixed_seg: Label map on the fixed grid; with ``moving_seg`` gives Dice per label.
        diffeomorphic: Stationary velocity + scaling and squaring (instance optimisation only; a network
            uses the variant it was trained as).
        smoothness: Regularisation of the instance optimisation: with the greedy scheme the sigma (voxels of
            each level) of the Gaussian that smooths the whole displacement after each update (the update
            itself is smoothed with sigma 2; default :data:`DEFAULT_SMOOTHNESS`); with the wavelet scheme lambda
            of the diffusion regulariser (``None``: the similarity's default, :data:`SIMILARITY_DEFAULTS`, else
            :data:`DEFAULT_SMOOTHNESS`).
        similarity: Similarity of the instance optimisation: ``"lncc"`` (default; one modality, local
            contrast changes), ``"mi"`` (mutual information: different modalities, e.g. T1 to T2, CT to MR)
            or ``"mind"`` (MIND-SSC descriptors: different modalities, local structure). ``"mse"`` also works
            for images with equal intensities.
        fixed_mask: Optional mask on the fixed grid (nonzero = inside; same kinds as ``fixed``): only voxels
            inside count in the similarity (e.g. a brain mask, or to leave out a lesion or a resection).
        moving_mask: Optional mask on the moving grid (resampled with the moving image): voxels the field
            maps outside it do not count in the similarity.
        hd95: Also compute HD95 per label (mm), slower.
        device: ``"cpu"`` or ``"cuda"`` / ``"cuda:N"``.
        seed: Seed for every random choice (pre-alignment sampling, optimisation).
        progress: Show progress bars.
        optimizer: ``"auto"`` (default: ``"greedy"`` for ``similarity="lncc"`` without masks, else
            ``"wavelet"``), ``"greedy"`` (LNCC only, no masks) or ``"wavelet"``.

    Returns:
        A :class:`RegistrationResult`; ``result.save(outdir)`` writes the files.

    Raises:
        ValueError: 2D/4D, complex or constant inputs, NaN voxels, an unknown ``similarity``, a mask whose
            grid is not its image's or that is empty, an axis shorter than ``MIN_SIZE`` (8)
            voxels, nothing to do (no weights and ``optimize=False`` with no shipped weights), bad device.
    """
    t0 = time.perf_counter()
    from medwave.utils.validate import register_options

    opts = register_options(iterations=iterations, smoothness=smoothness, seed=seed)
    seed = opts["seed"]
    if device != "cpu" and not (device.startswith("cuda") and torch.cuda.is_available()):
        raise ValueError(f"device {device!r} is not available on this machine; use device='cpu'.")
    fimg, mimg = as_image(fixed, name="fixed"), as_image(moving, name="moving")
    for img, nm in ((fimg, "fixed"), (mimg, "moving")):
        label = img.path.name if img.path is not None else f"the {nm} image"
        if img.array.ndim == 4 and img.array.shape[3] == 1:
            img.array = img.array[..., 0]  # img is as_image's own record: the caller's Image is untouched
        require_3d(img, label, "register")
        require_real(img, label, "register")
        check_finite_image(img, label)
        require_min_size(img, MIN_SIZE, label, "register",
                         why=f"its wavelet pyramid halves every axis {PYRAMID_LEVELS} times")
        require_not_constant(img, label, "register")
    from medwave.registration.losses import SIMILARITIES

    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity {similarity!r} is not known; use one of {', '.join(SIMILARITIES)} "
                         "('mi' or 'mind' for images of different modalities).")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer {optimizer!r} is not known; use one of {', '.join(OPTIMIZERS)}.")
    greedy = optimizer == "greedy" or (optimizer == "auto" and similarity == "lncc" and fixed_mask is None
                                       and moving_mask is None)
    if greedy and (similarity != "lncc" or fixed_mask is not None or moving_mask is not None):
        raise ValueError("optimizer 'greedy' registers with similarity 'lncc' and no masks; use optimizer 'wavelet' "
                         "(or 'auto') for other similarities or masks.")
    settings = similarity_settings(similarity, opts.get("iterations"), opts.get("smoothness"))
    if greedy:  # the greedy scheme has its own defaults (None) and no similarity options
        iterations, smoothness = opts.get("iterations"), opts.get("smoothness")
    else:
        iterations, smoothness = settings["iterations"], settings["smoothness"]
    fmask = _read_mask(fixed_mask, "fixed_mask", fimg) if fixed_mask is not None else None
    mmask = _read_mask(moving_mask, "moving_mask", mimg) if moving_mask is not None else None
    fseg = as_image(fixed_seg, name="fixed_seg") if fixed_seg is not None else None
    mseg = as_image(moving_seg, name="moving_seg") if moving_seg is not None else None
    if fseg is not None and fseg.array.shape[:3] != fimg.array.shape[:3]:
        raise ValueError(f"fixed_seg has shape {fseg.array.shape[:3]} but the fixed image {fimg.array.shape[:3]}; "
                         "the fixed segmentation must be on the fixed image's grid.")
    if mseg is not None and mseg.array.shape[:3] != mimg.array.shape[:3]:
        raise ValueError(f"moving_seg has shape {mseg.array.shape[:3]} but the moving image {mimg.array.shape[:3]}; "
                         "the moving segmentation must be on the moving image's grid.")
    # label arrays without an affine of their own live on their image's grid
    if fseg is not None and not _has_affine(fixed_seg):
        fseg = Image(np.asarray(fseg.array), affine=fimg.affine.copy())
    if mseg is not None:
        mseg = Image(np.rint(np.asarray(mseg.array)).astype(np.int32),
                     affine=mseg.affine if _has_affine(moving_seg) else mimg.affine.copy())
    timings: dict[str, float] = {}
    # -- bring the moving image onto the fixed grid --------------------------------------------------
    t = time.perf_counter()
    prealign = "none"
    prealign_T = None
    if affine:
        from medwave.io.prealign import affine_prealign, apply_world_transform

        m_on_f, prealign_T = affine_prealign(fimg, Image(np.asarray(mimg.array, np.float32), mimg.affine),
                                             kind="affine", seed=seed)
        mseg_on_f = apply_world_transform(mseg, fimg, prealign_T, order=0) if mseg is not None else None
        mmask_on_f = apply_world_transform(mmask, fimg, prealign_T, order=1) if mmask is not None else None
        prealign = "affine"
    elif not _same_grid(fimg, mimg):
        m_on_f = resample_to_reference(Image(np.asarray(mimg.array, np.float32), mimg.affine), fimg, order=1)
        mseg_on_f = resample_to_reference(mseg, fimg, order=0) if mseg is not None else None
        mmask_on_f = resample_to_reference(mmask, fimg, order=1) if mmask is not None else None
        prealign = "resampled"
    else:
        m_on_f = Image(np.asarray(mimg.array, np.float32), fimg.affine)
        mseg_on_f = Image(np.asarray(mseg.array), fimg.affine) if mseg is not None else None
        mmask_on_f = Image(np.asarray(mmask.array), fimg.affine) if mmask is not None else None
    timings["prealign_seconds"] = time.perf_counter() - t
    f_t = torch.as_tensor(_normalise(np.asarray(fimg.array)))[None, None].to(device)
    m_t = torch.as_tensor(_normalise(np.asarray(m_on_f.array)))[None, None].to(device)
    # -- network prediction ---------------------------------------------------------------------------
    net = None
    if weights is not None or not optimize:
        t = time.perf_counter()
        net = _load_net(weights, device) if weights is not None else load_default_weights(device)
        # numba's import and the integration kernel's cache are a cost of the process's first compiled call (about
        # half a second), not of the forward pass: paid here and timed apart
        load_field_kernels()
        timings["network_load_seconds"] = time.perf_counter() - t
    init_field = None
    ddf = None
    scale = None
    torch.manual_seed(seed)
    if optimize and greedy:
        from medwave.registration.greedy import greedy_iterations, seed_scale

        iterations = greedy_iterations(iterations, seeded=net is not None)
    if net is not None:
        # a greedy optimisation that starts at 1/2 resolution needs the network's field there only: the forward stops
        # at that level (the finer decoder stages are most of its time) and the field is integrated on that grid
        scale = seed_scale(iterations) if optimize and greedy else 1
        t = time.perf_counter()
        with torch.no_grad():
            m_p, spatial = net._pad(m_t)
            f_p, _ = net._pad(f_t)
            fieldp = net.predict_field(m_p, f_p, scale=scale)
            if scale > 1:
                fieldp = fieldp / scale  # full-resolution voxels -> voxels of its own grid
            crop = (slice(None), slice(None)) + tuple(slice(0, -(-n // scale)) for n in spatial)
            init_field = fieldp[crop].contiguous()
            ddf = net.integrate(fieldp)[crop].contiguous()  # what net(m_t, f_t) returns, without a second forward
        diffeomorphic = net.diffeomorphic
        timings["network_seconds"] = time.perf_counter() - t
    if optimize and greedy:
        from medwave.registration.greedy import greedy_lncc

        t = time.perf_counter()
        sigma = smoothness = DEFAULT_SMOOTHNESS if smoothness is None else smoothness
        ddf, info = greedy_lncc(f_t.cpu(), m_t.cpu(), iterations=iterations, sigma_elastic=sigma,
                                init_ddf=None if ddf is None else ddf.detach().cpu(), progress=progress)
        ddf = ddf.to(device)
        timings["optimisation_seconds"] = time.perf_counter() - t
        init_field = None  # no velocity: the inverse starts from -ddf
    elif optimize:
        from medwave.registration.instance import optimize_pair

        if iterations is None:
            iterations = DEFAULT_ITERATIONS
        t = time.perf_counter()
        mask_t = [None if mk is None else torch.as_tensor(np.asarray(mk.array, np.float32))[None, None].to(device)
                  for mk in (fmask, mmask_on_f)]
        ddf, info = optimize_pair(f_t, m_t, iterations=iterations, diffeomorphic=diffeomorphic, smoothness=smoothness,
                                  similarity=similarity, similarity_options=settings["options"],
                                  fixed_mask=mask_t[0], moving_mask=mask_t[1],
                                  init_field=init_field, seed=seed, progress=progress)
        timings["optimisation_seconds"] = time.perf_counter() - t
        init_field = info["field"]  # the velocity (diffeomorphic), whose negation starts the inverse
    ddf = ddf.detach().float().cpu()
    # -- outputs: one transform, resampled by the same function as `medwave apply` ---------------------
    from medwave.registration.transform import Transform

    transform = Transform.from_field(ddf, fixed_affine=fimg.affine, moving_affine=mimg.affine,
                                     moving_shape=mimg.array.shape[:3], prealign=prealign_T,
                                     velocity=None if init_field is None else init_field.detach().float().cpu(),
                                     diffeomorphic=diffeomorphic)
    warped = transform.resample(Image(np.asarray(mimg.array, np.float32), mimg.affine)).array
    with torch.no_grad():
        jac = jacobian_determinant(ddf)[0].numpy().astype(np.float32)
    ddf_np = np.moveaxis(ddf[0].numpy(), 0, -1).astype(np.float32)
    metrics: dict[str, Any] = {
        "folding_percent": folding_percent(jac),
        "sdlogj": sdlogj(jac),
        "jacdet_min": float(jac.min()),
        "displacement_max_voxels": float(np.linalg.norm(ddf_np, axis=-1).max()),
        "ddf_units": "voxels of the fixed grid (MONAI DDF: warped(x) = moving(x + ddf(x)))",
        "method": ("winet+instance_optimisation" if net is not None and optimize else
                   "winet" if net is not None else "instance_optimisation"),
        "diffeomorphic": bool(diffeomorphic),
        "network_grid_scale": scale,
        "prealign": prealign,
        "prealign_transform_ras": None if prealign_T is None else np.asarray(prealign_T).tolist(),
        "iterations": iterations if iterations is None or isinstance(iterations, int) else list(iterations),
        "optimizer": ("greedy" if greedy else "wavelet") if optimize else None,
        "similarity": similarity,
        "similarity_options": settings["options"],
        "smoothness": smoothness,
        "fixed_mask": fixed_mask is not None,
        "moving_mask": moving_mask is not None,
        "seed": seed,
        "device": device,
    }
    warped_seg = None
    if mseg_on_f is not None:
        labels = np.asarray(mseg_on_f.array)
        lin = transform.resample(mseg, interpolation="label").array.astype(np.int32)
        warped_seg = Image(lin, affine=fimg.affine.copy())
        if fseg is not None:
            fl = np.rint(np.asarray(fseg.array)).astype(np.int32)
            d = dice_per_label(lin, fl)
            d0 = dice_per_label(labels, fl)
            metrics["dice_per_label"] = {str(k): v for k, v in d.items()}
            metrics["dice_mean"] = float(np.mean(list(d.values()))) if d else None
            metrics["dice_mean_before"] = float(np.mean(list(d0.values()))) if d0 else None
            metrics["dice_protocol"] = "labels warped one-hot with linear interpolation, then argmax; background excluded"
            if hd95:
                h = hd95_per_label(lin, fl, spacing=fimg.spacing)
                metrics["hd95_per_label_mm"] = {str(k): v for k, v in h.items()}
                metrics["hd95_mean_mm"] = float(np.mean(list(h.values()))) if h else None
    timings["total_seconds"] = time.perf_counter() - t0
    metrics.update(timings)
    return RegistrationResult(
        warped=Image(warped.astype(np.float32), affine=fimg.affine.copy()),
        ddf=Image(ddf_np, affine=fimg.affine.copy(), meta={"vector": True, "intent": "vector"}),
        jacdet=Image(jac, affine=fimg.affine.copy()),
        warped_seg=warped_seg,
        metrics=metrics,
        transform=transform,
    )
