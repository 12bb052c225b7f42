"""Training WiNet: datalists, atlas-to-subject / pairwise sampling, validation Dice, checkpoints, resume, DDP.

Data come from a MONAI-style datalist JSON (``{"training": [{"image": ..., "label": ...}], "validation":
[...], "atlas": {"image": ..., "label": ...}}``, paths relative to the JSON's folder or its ``"root"``
key), from a folder of NIfTI images (sorted; the last 10 % validate), or from synthetic MNI152
subjects built offline (``synthetic=N``, see :mod:`medwave.registration.synthetic`).

Run on several GPUs/machines with the same command under ``torchrun`` (DDP: each rank samples its own
pairs, gradients are averaged, rank 0 validates and writes).

Example:
    >>> from medwave.registration.training import train_registration
    >>> out = train_registration(None, "runs/winet", synthetic=8, epochs=1, steps_per_epoch=2,
    ...                          base_width=2, progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional, Sequence, Union

import numpy as np
import torch

from medwave.networks.blocks.fields import warp
from medwave.registration.losses import RegistrationLoss, diffusion_loss
from medwave.registration.metrics import dice_per_label, folding_percent, warp_labels
from medwave.networks.blocks.fields import jacobian_determinant
from medwave.networks.checkpoint import save_checkpoint
from medwave.utils import atomic_path, progress_bar

__all__ = ["train_registration", "load_datalist", "Subject", "soft_dice_loss", "pair_ddf", "pair_velocity",
           "synthetic_subject_fields"]


@dataclass
class Subject:
    """One volume of a training set: a file path (loaded on demand) or arrays already in memory."""

    image: Union[str, np.ndarray]
    label: Union[None, str, np.ndarray] = None
    #: Synthetic subjects only: ``(3, *spatial)`` float16, the stationary velocity ``v`` whose integral warps the
    #: template into the subject (``image = template(x + exp(v)(x))``).
    fields: Optional[np.ndarray] = None

    def load(self) -> tuple[np.ndarray, Optional[np.ndarray]]:
        from medwave.registration.api import _normalise
        from medwave.io import load_image

        for item in (self.image, self.label):
            if isinstance(item, (str, Path)):
                refuse_pickle_entry(item)
        img = load_image(self.image).array if isinstance(self.image, (str, Path)) else self.image
        img = np.asarray(img, dtype=np.float32)
        lab = self.label
        if isinstance(lab, (str, Path)):
            lab = load_image(lab).array
        return self._finish(img, lab)

    def _finish(self, img: np.ndarray, lab) -> tuple[np.ndarray, Optional[np.ndarray]]:
        from medwave.registration.api import _normalise

        if img.ndim == 4 and img.shape[-1] == 1:
            img = img[..., 0]
        if img.ndim != 3:
            raise ValueError(f"{self.image}: training needs 3D volumes, got shape {img.shape}.")
        if lab is not None:
            lab = np.rint(np.asarray(lab)).astype(np.int32)
            if lab.ndim == 4 and lab.shape[-1] == 1:
                lab = lab[..., 0]
        return _normalise(img), lab


_PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".joblib")


def refuse_pickle_entry(path: Union[str, Path], datalist: Union[None, str, Path] = None) -> None:
    """Refuse a datalist entry that is a pickle (``.pkl``, ``.pt``...): unpickling a file runs whatever code it
    holds, so medwave never reads one (TransMorph's preprocessed IXI ``.pkl`` files must be converted to NIfTI
    first, in a session that trusts them).

    Raises:
        ValueError: Naming the entry, the reason and the fix.
    """
    name = str(path).lower()
    if name.endswith(_PICKLE_SUFFIXES):
        where = f" (in {datalist})" if datalist else ""
        raise ValueError(f"{path}{where}: a pickled file; medwave never unpickles data (loading a pickle can run "
                         "code). Convert it once to NIfTI (e.g. nibabel.save(nibabel.Nifti1Image(img, affine), "
                         "'x.nii.gz')) in a session that trusts it, and list the NIfTI files instead.")


def load_datalist(source: Union[str, Path]) -> dict:
    """Read a datalist JSON or a folder into ``{"training": [Subject], "validation": [Subject], "atlas": Subject|None}``."""
    src = Path(source)
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such datalist file or folder.")
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.name.endswith((".nii", ".nii.gz")))
        if len(files) < 3:
            raise ValueError(f"{src} holds {len(files)} NIfTI image(s); training from a folder needs at least 3.")
        n_val = max(1, len(files) // 10)
        return {"training": [Subject(str(p)) for p in files[:-n_val]],
                "validation": [Subject(str(p)) for p in files[-n_val:]], "atlas": None}
    try:
        from medwave.io.guard import read_text

        spec = json.loads(read_text(src, what="datalist"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{src}: not valid JSON ({exc}). A datalist looks like "
                         '{"training": [{"image": "a.nii.gz", "label": "a_seg.nii.gz"}], "validation": [...]}.') from exc
    root = Path(spec.get("root", "")) if spec.get("root") else src.parent
    if not root.is_absolute():
        root = src.parent / root

    def subj(entry) -> Subject:
        if isinstance(entry, str):
            entry = {"image": entry}
        if "image" not in entry:
            raise ValueError(f"{src}: every entry needs an 'image' key, got {entry}.")
        lab = entry.get("label")
        return Subject(str(root / entry["image"]), str(root / lab) if lab else None)

    def entries(block) -> list[Subject]:
        """A list of entries, or {"glob": "imagesTr/*.nii.gz", "label_replace": ["imagesTr", "labelsTr"],
        "slice": [start, stop]} expanded over the files present (sorted)."""
        if not block:
            return []
        if isinstance(block, dict) and "glob" in block:
            files = sorted(root.glob(block["glob"]))
            if "slice" in block:
                a, b = block["slice"]
                files = files[a:b]
            rep = block.get("label_replace")
            return [Subject(str(f), str(f).replace(rep[0], rep[1]) if rep else None) for f in files]
        return [subj(e) for e in block]

    train = entries(spec.get("training"))
    for sub in train + entries(spec.get("validation")):
        for item in (sub.image, sub.label):
            if item is not None:
                refuse_pickle_entry(item, src)
    if not train:
        raise ValueError(f"{src}: the datalist has no 'training' entries (or its glob matched no file under {root}; "
                         "set 'root' to the data set's folder).")
    out = {"training": train, "validation": entries(spec.get("validation")),
           "atlas": subj(spec["atlas"]) if spec.get("atlas") else None}
    missing = [s.image for s in out["training"] + out["validation"] if not Path(s.image).exists()]
    if missing:
        raise FileNotFoundError(f"{src}: {len(missing)} image(s) listed are missing, e.g. {missing[0]}. Download the data "
                                f"set and set 'root' in the JSON (or place it beside the JSON).")
    return out


def synthetic_subject_fields(seed: int, *, amplitude: float = 3.0, resolution: int = 2) -> np.ndarray:
    """The velocity of :func:`~medwave.registration.synthetic.make_subject` ``(seed)``: ``(3, *spatial)`` float16.

    ``make_subject`` warps the template by ``exp(v)`` with ``v`` the first draw of its seeded generator; the same
    draw is repeated here (no integration, no warping: cheap), so ``image = template(x + exp(v)(x))`` holds.
    """
    from medwave.registration.synthetic import _atlas_cached, random_velocity

    shape = _atlas_cached(resolution)["image"].shape
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        v = random_velocity(shape, g, amplitude=amplitude)
    return v[0].numpy().astype(np.float16)


def pair_velocity(moving: Subject, fixed: Subject) -> Optional[torch.Tensor]:
    """``v_f - v_m`` ``(1, 3, *spatial)``: the first term of the series of the log of the pair's exact map
    ``exp(-v_m) o exp(v_f)`` (the next, ``-[v_m, v_f] / 2``, is of the order of ``|v| |grad v|``); ``None``
    when either subject has no velocity."""
    if moving.fields is None or fixed.fields is None:
        return None
    return torch.as_tensor(fixed.fields.astype(np.float32) - moving.fields.astype(np.float32))[None]


def pair_ddf(moving: Subject, fixed: Subject) -> Optional[torch.Tensor]:
    """The exact DDF ``(1, 3, *spatial)`` that warps a synthetic ``moving`` subject onto ``fixed`` (``None`` when
    either has no velocity): ``x + u_f(x) + ubar_m(x + u_f(x))`` with ``u_f = exp(v_f)``, ``ubar_m = exp(-v_m)``
    (the moving subject's inverse map after the fixed one's: both are the template warped by their own map)."""
    from medwave.networks.blocks.fields import integrate_velocity

    if moving.fields is None or fixed.fields is None:
        return None
    with torch.no_grad():
        u_f = integrate_velocity(torch.as_tensor(fixed.fields.astype(np.float32))[None])
        ubar_m = integrate_velocity(-torch.as_tensor(moving.fields.astype(np.float32))[None])
        return u_f + warp(ubar_m, u_f)


def _synthetic_datalist(n: int, seed: int, progress: bool = False) -> dict:
    from medwave.registration.synthetic import make_subject, mni_atlas

    n_val = max(2, n // 8)
    subjects = []
    for i in progress_bar(range(n + n_val), desc="synthetic subjects", enabled=progress):
        s = make_subject(seed + i)
        subjects.append(Subject(s["image"], s["labels"].astype(np.int32), synthetic_subject_fields(seed + i)))
    atlas = mni_atlas()
    return {"training": subjects[:n], "validation": subjects[n:],
            "atlas": Subject(atlas["image"], atlas["labels"].astype(np.int32),
                             np.zeros((3,) + atlas["image"].shape, np.float16))}


def _dist() -> tuple[int, int, bool]:
    """``(rank, world_size, created)``: joins the torchrun process group (``created``: this call made it)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist

        created = not dist.is_initialized()
        if created:
            # MEDWAVE_DIST_TIMEOUT (seconds): a collective waiting longer raises instead of hanging (torch's default
            # is 30 min for gloo, 10 min for nccl)
            kw = {}
            if os.environ.get("MEDWAVE_DIST_TIMEOUT"):
                import datetime

                kw["timeout"] = datetime.timedelta(seconds=float(os.environ["MEDWAVE_DIST_TIMEOUT"]))
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", **kw)
        return dist.get_rank(), dist.get_world_size(), created
    return 0, 1, False


def _plain_config(config: dict) -> dict:
    """A config as it reads back from a checkpoint (tuples become lists)."""
    return json.loads(json.dumps(config))


def _check_ranks_in_sync(net: torch.nn.Module) -> None:
    """Raise when the ranks' weights differ (gradient averaging broken); costs two scalar all-reduces."""
    import torch.distributed as dist

    total = sum(p.detach().double().sum() for p in net.parameters()).reshape(1)
    lo, hi = total.clone(), total.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    if not torch.allclose(lo, hi, rtol=1e-9, atol=0.0):
        raise RuntimeError(f"DDP ranks diverged: weight checksums range from {lo.item()} to {hi.item()}.")


def _name(subject: Subject) -> str:
    """A subject's file for messages (an in-memory subject is named as such, never printed)."""
    return str(subject.image) if isinstance(subject.image, (str, os.PathLike)) else "an in-memory subject"


def _pairs(data: dict, mode: str, rng: np.random.Generator, n: int, split: str) -> list[tuple[Subject, Subject]]:
    """(moving, fixed) pairs: atlas -> subject, or random distinct subjects."""
    subs = data[split]
    if split == "validation" and len(subs) < 2:  # too few to pair: borrow training subjects as moving images
        subs = subs + data["training"][: 2 - len(subs)]
    if mode == "atlas":
        if data["atlas"] is None:
            raise ValueError("mode='atlas' needs an atlas: add {'atlas': {'image': ..., 'label': ...}} to the datalist.")
        return [(data["atlas"], subs[i]) for i in rng.integers(0, len(subs), n)]
    if len(subs) < 2:
        raise ValueError(f"pairwise training needs at least 2 {split} subjects, got {len(subs)}.")
    out = []
    for _ in range(n):
        i, j = rng.choice(len(subs), 2, replace=False)
        out.append((subs[i], subs[j]))
    return out


def soft_dice_loss(moving_labels: np.ndarray, fixed_labels: np.ndarray, ddf: torch.Tensor,
                   spatial: Sequence[int]) -> torch.Tensor:
    """1 - mean soft Dice over the foreground labels of the fixed map, moving labels warped one-hot (linear).

    ``ddf`` may live on a padded grid; it is cropped to ``spatial`` (the labels' grid).
    """
    import torch.nn.functional as F

    crop = (slice(None), slice(None)) + tuple(slice(0, n) for n in spatial)
    ddf = ddf[crop]
    labels = np.union1d(np.unique(fixed_labels), np.unique(moving_labels))
    labels = labels[labels != 0]
    if labels.size == 0:
        return ddf.new_zeros(())
    lut = np.zeros(int(max(labels.max(), moving_labels.max(), fixed_labels.max())) + 1, dtype=np.int64)
    lut[labels] = np.arange(1, labels.size + 1)
    n = labels.size + 1
    m1 = F.one_hot(torch.as_tensor(lut[moving_labels]), n).movedim(-1, 0)[None].to(ddf)
    f1 = F.one_hot(torch.as_tensor(lut[fixed_labels]), n).movedim(-1, 0)[None].to(ddf)
    w = warp(m1[:, 1:], ddf)
    f1 = f1[:, 1:]
    dims = tuple(range(2, w.ndim))
    dice = (2 * (w * f1).sum(dims) + 1e-5) / (w.sum(dims) + f1.sum(dims) + 1e-5)
    return 1.0 - dice.mean()


def _validate(net, pairs, device) -> tuple[float, float]:
    dices, folds = [], []
    net.eval()
    with torch.no_grad():
        for mov, fix in pairs:
            m, ml = mov.load()
            f, fl = fix.load()
            ddf = net(torch.as_tensor(m)[None, None].to(device), torch.as_tensor(f)[None, None].to(device)).cpu()
            folds.append(folding_percent(jacobian_determinant(ddf)[0]))
            if ml is not None and fl is not None:
                d = dice_per_label(warp_labels(ml, ddf), fl)
                dices.append(float(np.mean(list(d.values()))) if d else 0.0)
    net.train()
    return (float(np.mean(dices)) if dices else float("nan")), float(np.mean(folds))


def train_registration(
    datalist: Union[None, str, Path],
    outdir: Union[str, Path],
    *,
    mode: Literal["atlas", "pairwise"] = "pairwise",
    synthetic: int = 0,
    epochs: int = 10,
    steps_per_epoch: int = 50,
    val_pairs: int = 4,
    lr: float = 1e-4,
    base_width: int = 8,
    wavelet: str = "haar",
    diffeomorphic: bool = True,
    similarity: Literal["lncc", "mse"] = "lncc",
    smoothness: float = 1.0,
    label_weight: float = 0.0,
    field_weight: float = 0.0,
    image_weight: float = 1.0,
    crop: Optional[int] = None,
    batch_size: int = 1,
    resume: bool = False,
    init_weights: Union[None, str, Path] = None,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> dict:
    """Train a WiNet and write ``best.pt``, ``last.pt`` and ``log.csv`` into ``outdir``.

    Args:
        datalist: Datalist JSON or folder of NIfTI images (``None`` with ``synthetic``).
        outdir: Output folder (created). With ``resume`` an existing ``last.pt`` there is continued.
        mode: ``"atlas"`` (atlas -> subject) or ``"pairwise"`` (random subject pairs).
        synthetic: Build this many synthetic MNI152 training subjects (plus ``max(2, N/8)`` for validation).
        epochs: Number of epochs (total, counting resumed ones).
        steps_per_epoch: Optimiser steps per epoch (``batch_size`` pairs each).
        val_pairs: Fixed validation pairs (seeded) evaluated each epoch (Dice needs labels).
        lr: Adam learning rate.
        base_width, wavelet, diffeomorphic: WiNet architecture.
        similarity, smoothness: Loss (LNCC window 9 or MSE) + lambda x diffusion.
        label_weight: Weight of an auxiliary soft-Dice loss on the training pairs' label maps (the moving
            labels warped one-hot with linear interpolation against the fixed ones, as in VoxelMorph's
            semi-supervised variant); 0 (default) trains on the images alone. Labels are only used in
            training: the network never sees them at inference.
        field_weight: Weight of a supervised term on synthetic pairs, whose deformation is known because both
            subjects are the template warped by known diffeomorphisms: the mean squared error (voxels^2) of the
            predicted velocity against :func:`pair_velocity` (diffeomorphic network), or of the predicted
            displacement against the exact :func:`pair_ddf` (``diffeomorphic=False``). 0 (default) trains
            unsupervised. Ignored for pairs without known fields (datalists).
        image_weight: Weight of the image similarity; 0 skips the warping of the image (and, without
            ``label_weight``, the velocity's integration): a step then costs the network's forward and
            backward alone.
        crop: Train on random ``crop``-voxel cubes of each pair (a multiple of 16; cheaper steps).
        batch_size: Pairs per optimiser step. On CPU two pairs cost little more than one (PyTorch runs small
            batch-1 convolutions outside oneDNN; WiNet forces oneDNN, but the batch still shares the weights'
            passes): 0.72 s for two 64^3 pairs against 0.66 s for one, on 2 cores. The volumes of a batch must
            share one shape: use ``crop`` or a datalist on one grid.
        resume: Continue from ``outdir/last.pt`` (model, optimiser, epoch, best Dice, log).
        init_weights: Start from these weights (fine-tuning).
        seed: Seed of the weights' initialisation and of the pair sampling.
        device: ``"cpu"`` or ``"cuda"``.
        progress: Progress bar.

    Returns:
        ``{"best": path, "last": path, "log": path, "best_dice": float, "epochs": int, "rank": int,
        "world_size": int}`` (``best_dice`` is -1 when no validation pair has labels). Under torchrun every
        rank returns; only rank 0 writes, and the ranks' weights are checked to be identical at the end.
    """
    from medwave.networks.winet import WiNet

    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    batch_size = int(batch_size)
    rank, world, created_group = _dist()
    out = Path(outdir)
    if resume and (out / "last.pt").exists():  # a foreign or damaged last.pt is refused before any data is built
        from medwave.networks.checkpoint import read_checkpoint

        read_checkpoint(out / "last.pt", what="train-registration checkpoint to resume")
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    if synthetic:
        data = _synthetic_datalist(int(synthetic), seed=10_000 + 1000 * seed, progress=progress and rank == 0)
    elif datalist is not None:
        data = load_datalist(datalist)
    else:
        raise ValueError("Give a datalist JSON / folder, or synthetic=N to build synthetic MNI152 subjects.")
    if not data["validation"]:
        data["validation"] = data["training"][-1:]
    torch.manual_seed(seed)
    net = WiNet(3, wavelet, diffeomorphic=diffeomorphic, base_width=base_width).to(device)
    if init_weights is not None:
        net.load_state_dict(WiNet.from_checkpoint(init_weights).state_dict())
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    start_epoch, best, history = 0, -1.0, []
    last_path, best_path, log_path = out / "last.pt", out / "best.pt", out / "log.csv"
    if resume and last_path.exists():
        from medwave.networks.checkpoint import CheckpointError, read_checkpoint

        ckpt = read_checkpoint(last_path, map_location=device, what="train-registration checkpoint to resume",
                               hint="Resume only from the last.pt this command wrote, or use another output folder.")
        if ckpt["config"] != _plain_config(net.config):
            raise ValueError(f"{last_path} was trained with {ckpt['config']}, not {net.config}; use the same options or "
                             "another output folder.")
        if "resume" not in ckpt:
            raise CheckpointError(f"{last_path}: holds no training state to resume (a final model, not a last.pt).")
        try:
            net.load_state_dict(ckpt["state_dict"])
            opt.load_state_dict(ckpt["resume"]["optimizer"])
            r = ckpt["resume"]
            start_epoch, best, history = int(r["epoch"]) + 1, float(r["best_dice"]), list(r.get("history", []))
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{last_path}: damaged training state ({type(exc).__name__}: {exc}); use another "
                                  "output folder.") from None
    model = net
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(net, device_ids=[torch.device(device).index] if
                                                          device.startswith("cuda") else None)
    loss_fn = RegistrationLoss(similarity, smoothness=smoothness)
    val_rng = np.random.default_rng(seed + 12345)
    val = _pairs(data, mode, val_rng, val_pairs, "validation") if mode == "pairwise" or data["atlas"] else []
    for epoch in range(start_epoch, epochs):
        rng = np.random.default_rng([seed, epoch, rank])
        pairs = _pairs(data, mode, rng, steps_per_epoch * batch_size, "training")
        t0, losses = time.perf_counter(), []
        steps = [pairs[i:i + batch_size] for i in range(0, len(pairs), batch_size)]
        bar = progress_bar(steps, desc=f"epoch {epoch + 1}/{epochs}", enabled=progress and rank == 0)
        for group in bar:
            ms, fs, mls, fls, trues = [], [], [], [], []
            for mov, fix in group:
                m, ml = mov.load()
                f, fl = fix.load()
                if m.shape != f.shape:
                    raise ValueError(f"{_name(mov)} {m.shape} and {_name(fix)} {f.shape} are on different grids; "
                                     "training needs all volumes resampled to one grid (e.g. the atlas).")
                true = None
                if field_weight > 0:
                    true = pair_velocity(mov, fix) if diffeomorphic else pair_ddf(mov, fix)
                if crop:
                    win = tuple(slice(o, o + min(crop, n)) for o, n in
                                zip([int(rng.integers(0, max(1, n - crop + 1))) for n in m.shape], m.shape))
                    m, f = m[win], f[win]
                    true = true[(slice(None), slice(None)) + win] if true is not None else None
                    ml = ml[win] if ml is not None else None
                    fl = fl[win] if fl is not None else None
                ms.append(m), fs.append(f), mls.append(ml), fls.append(fl), trues.append(true)
            if len({a.shape for a in ms}) > 1:
                raise ValueError(f"batch_size={batch_size} needs volumes of one shape (or --crop); got "
                                 f"{sorted({a.shape for a in ms})}.")
            mt = torch.as_tensor(np.stack(ms))[:, None].to(device)
            ft = torch.as_tensor(np.stack(fs))[:, None].to(device)
            mp, spatial = net._pad(mt)
            fp, _ = net._pad(ft)
            field = model.module.predict_field(mp, fp) if world > 1 else net.predict_field(mp, fp)
            use_labels = label_weight > 0 and all(a is not None for a in mls + fls)
            ddf = net.integrate(field) if image_weight > 0 or use_labels or not diffeomorphic else None
            loss = smoothness * diffusion_loss(field) if smoothness > 0 else field.new_zeros(())
            if image_weight > 0:
                loss = loss + image_weight * loss_fn.similarity(warp(mp, ddf), fp)
            if use_labels:
                loss = loss + label_weight * sum(soft_dice_loss(ml, fl, ddf[i:i + 1], spatial)
                                                 for i, (ml, fl) in enumerate(zip(mls, fls))) / len(group)
            if all(t is not None for t in trues):
                crop_sp = (slice(None), slice(None)) + tuple(slice(0, n) for n in spatial)
                pred = field if diffeomorphic else ddf
                true = torch.cat(trues).to(pred)
                loss = loss + field_weight * (pred[crop_sp] - true).square().sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if world > 1:
                import torch.distributed as dist

                for p in net.parameters():
                    if p.grad is not None:
                        dist.all_reduce(p.grad)
                        p.grad /= world
            opt.step()
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        bar.close()
        if rank != 0:
            continue
        dice, fold = _validate(net, val, device) if val else (float("nan"), float("nan"))
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_dice": dice, "val_folding_percent": fold,
               "seconds": time.perf_counter() - t0, "lr": lr}
        history.append(row)
        improved = not np.isnan(dice) and dice > best
        best = dice if improved else best
        save_checkpoint(last_path, config=net.config, state_dict=net.state_dict(),
                        meta={"epoch": epoch, "val_dice": dice, "mode": mode, "seed": seed},
                        resume={"optimizer": opt.state_dict(), "epoch": epoch, "best_dice": best, "history": history})
        if improved or not best_path.exists():
            save_checkpoint(best_path, config=net.config, state_dict=net.state_dict(),
                            meta={"epoch": epoch, "val_dice": dice, "mode": mode, "seed": seed})
        with atomic_path(log_path) as tmp:
            with open(tmp, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(row))
                w.writeheader()
                w.writerows(history)
        if progress:
            print(f"epoch {epoch + 1}: loss {row['train_loss']:.4f}  val Dice {dice:.4f}  folding {fold:.4f}%  "
                  f"({row['seconds']:.0f} s){'  *best*' if improved else ''}", flush=True)
    if world > 1:
        import torch.distributed as dist

        _check_ranks_in_sync(net)
        dist.barrier()
        if created_group:
            dist.destroy_process_group()
    return {"best": best_path, "last": last_path, "log": log_path, "best_dice": best, "epochs": epochs,
            "rank": rank, "world_size": world}
