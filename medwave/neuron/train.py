"""Train a 3D-WaveUNet on neuron stacks: synthetic neurons or a datalist, cube sampling, checkpoints.

Cube sampling follows the NeuCuDa recipe: cubes (default ``32 x 128 x 128``) are cut at random
positions, and a foreground-ratio rule keeps thin fibres from being drowned by background: a cube
is kept when at least ``min_fg_ratio`` of its voxels are neurite, while only a fraction
``bg_fraction`` of the batch may be background cubes below that ratio. Random flips in ``Y``/``X``
and a random intensity gain augment the data. The loss is Dice + cross-entropy (default) or a
cross-entropy weighted by the inverse class frequency. Optimiser: Adam (lr 1e-3) with polynomial
decay (power 0.9) over the run. At the end the mask threshold is calibrated on held-out stacks (the
datalist's ``validation`` section, else synthetic stacks from unused seeds) and stored in ``model.pt``.

Intensities are normalised per stack with :func:`normalize_params` (robust percentiles), the
same function inference uses, so a model sees the same value range in training and use.

Checkpoints (``last.pt``) hold the model, optimiser, step, configuration and loss history; a run
resumes from it with ``resume=True`` and draws the same cubes as an uninterrupted run (the sampler
is seeded per step). The final model is saved as ``model.pt`` (loadable with ``--weights``).

Example:
    >>> from medwave.neuron.train import train_neurons  # doctest: +SKIP
    >>> train_neurons("runs/neurons", synthetic=8, steps=200, cube=(32, 64, 64))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Sequence, Union

import numpy as np
import torch

from medwave.networks.checkpoint import save_checkpoint
from medwave.neuron.model import build_model, make_predictor, model_checkpoint_parts, normalize_params
from medwave.utils.atomic import atomic_path
from medwave.utils.progress import progress_bar

__all__ = ["TrainConfig", "train_neurons", "normalize_params", "sample_cube", "load_datalist", "build_model",
           "calibrate_threshold", "validation_stacks"]

THRESHOLDS = tuple(np.round(np.arange(0.05, 0.96, 0.05), 2))


def validation_stacks(cfg: "TrainConfig", progress: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Held-out stacks for threshold calibration: the datalist's 'validation' section, else two
    synthetic stacks from seeds never used for training (90000+)."""
    if cfg.datalist:
        from medwave.neuron.stacks import open_stack
        from medwave.neuron.swc import read_swc, render_swc

        try:
            items = load_datalist(cfg.datalist, "validation")
        except ValueError:
            items = []
        out = []
        for it in items:
            arr = np.asarray(open_stack(it["image"]).data[...])
            lab = (np.asarray(open_stack(it["label"]).data[...]) > 0) if "label" in it else render_swc(read_swc(it["swc"]), arr.shape)
            out.append((arr, lab))
        if out:
            return out
    from medwave.neuron.synthetic import synthetic_neuron

    return [(s.stack, s.mask) for s in (synthetic_neuron((48, 160, 160), seed=90_000 + k, n_neurons=1 + k % 2)
                                        for k in range(2))]


def calibrate_threshold(model: torch.nn.Module, stacks, *, cube=(32, 128, 128), progress: bool = False) -> tuple[float, float]:
    """The probability threshold with the best mean Dice on held-out stacks (0.05 .. 0.95 in steps of 0.05).

    Returns ``(threshold, dice)``. Softmax outputs of a network trained on rare foreground are often
    not calibrated at 0.5; the chosen threshold is stored in the checkpoint and used by inference.
    """
    from medwave.neuron.cubes import sliding_window_segment
    from medwave.neuron.metrics import voxel_metrics

    model.eval()
    scores = np.zeros(len(THRESHOLDS))
    for stack, lab in stacks:
        lo, hi = normalize_params(stack)
        prob, _ = sliding_window_segment(stack, make_predictor(model, lo, hi), cube=cube, progress=progress)
        scores += [voxel_metrics(prob > t, lab)["dice"] for t in THRESHOLDS]
    k = int(np.argmax(scores))
    return float(THRESHOLDS[k]), float(scores[k] / max(len(stacks), 1))


@dataclass
class TrainConfig:
    """Training settings (saved in every checkpoint)."""

    steps: int = 2000
    batch_size: int = 2
    cube: tuple[int, int, int] = (32, 128, 128)
    lr: float = 1e-3
    loss: Literal["dice_ce", "weighted_ce"] = "dice_ce"
    min_fg_ratio: float = 0.002
    bg_fraction: float = 0.2
    seed: int = 0
    checkpoint_every: int = 100
    synthetic: int = 0
    synthetic_shape: tuple[int, int, int] = (64, 160, 160)
    datalist: Optional[str] = None
    calibrate: bool = True
    model: dict = field(default_factory=lambda: {
        "spatial_dims": 3, "in_channels": 1, "out_channels": 2, "channels": [4, 8, 16, 32], "bottleneck": 32,
        "wavelet": "haar", "variant": "dwt_idwt_shrink", "shrink_lambda": 0.25,
    })


def sample_cube(
    image: np.ndarray,
    label: np.ndarray,
    cube: Sequence[int],
    rng: np.random.Generator,
    *,
    min_fg_ratio: float,
    want_foreground: bool,
    tries: int = 30,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut one cube (padded when the stack is smaller); with ``want_foreground`` keep re-drawing until
    its foreground ratio reaches ``min_fg_ratio`` (centring on a random neurite voxel after a few misses)."""
    shape = image.shape
    cube = tuple(int(c) for c in cube)
    fg = None
    best = None
    for t in range(tries):
        if want_foreground and t >= 3:
            if fg is None:
                fg = np.argwhere(label)
            if len(fg):
                c = fg[rng.integers(len(fg))]
                start = [int(np.clip(ci - cc // 2 + rng.integers(-cc // 4, cc // 4 + 1), 0, max(0, s - cc)))
                         for ci, cc, s in zip(c, cube, shape)]
            else:
                start = [int(rng.integers(0, max(0, s - cc) + 1)) for s, cc in zip(shape, cube)]
        else:
            start = [int(rng.integers(0, max(0, s - cc) + 1)) for s, cc in zip(shape, cube)]
        sl = tuple(slice(st, st + cc) for st, cc in zip(start, cube))
        img, lab = image[sl], label[sl]
        ratio = float(lab.mean()) if lab.size else 0.0
        if best is None or ratio > best[2]:
            best = (img, lab, ratio)
        if not want_foreground or ratio >= min_fg_ratio:
            best = (img, lab, ratio)
            break
    img, lab, _ = best
    pad = [(0, cc - s) for cc, s in zip(cube, img.shape)]
    if any(p[1] for p in pad):
        img = np.pad(img, pad, mode="edge")
        lab = np.pad(lab, pad)
    return img, lab


def load_datalist(path: Union[str, Path], section: str = "training") -> list[dict]:
    """Read a MONAI decathlon-style datalist: ``{"training": [{"image": ..., "label": ... | "swc": ...}]}``.

    Paths are relative to the JSON file's folder. A ``label`` is a mask stack; an ``swc`` is rendered
    with :func:`medwave.neuron.swc.render_swc` on the image grid (voxel coordinates).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such datalist.")
    try:
        from medwave.io.guard import read_text

        doc = json.loads(read_text(p, what="datalist"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc}).") from exc
    items = doc.get(section)
    if not isinstance(items, list) or not items:
        raise ValueError(f"{p}: no '{section}' list of {{'image': ..., 'label'|'swc': ...}} entries.")
    out = []
    for k, it in enumerate(items):
        if "image" not in it or not ({"label", "swc"} & set(it)):
            raise ValueError(f"{p}: entry {k} of '{section}' needs 'image' and 'label' or 'swc'.")
        out.append({key: str((p.parent / v).resolve()) if key in ("image", "label", "swc") else v for key, v in it.items()})
    return out


def _load_pairs(cfg: TrainConfig, progress: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    if cfg.synthetic:
        from medwave.neuron.synthetic import synthetic_neuron

        for i in progress_bar(range(cfg.synthetic), desc="synthetic stacks", enabled=progress):
            s = synthetic_neuron(cfg.synthetic_shape, seed=10_000 + cfg.seed * 1000 + i, n_neurons=1 + i % 2)
            pairs.append((s.stack, s.mask))
    if cfg.datalist:
        from medwave.neuron.stacks import open_stack
        from medwave.neuron.swc import read_swc, render_swc

        for it in progress_bar(load_datalist(cfg.datalist), desc="datalist stacks", enabled=progress):
            img = open_stack(it["image"])
            arr = np.asarray(img.data[...])
            if "label" in it:
                lab = np.asarray(open_stack(it["label"]).data[...]) > 0
            else:
                lab = render_swc(read_swc(it["swc"]), arr.shape)
            if lab.shape != arr.shape:
                raise ValueError(f"{it['image']}: label shape {lab.shape} differs from image shape {arr.shape}.")
            pairs.append((arr, lab))
    if not pairs:
        raise ValueError("No training data: pass synthetic=N (CLI --synthetic N) and/or a datalist JSON (--datalist).")
    out = []
    for arr, lab in pairs:
        lo, hi = normalize_params(arr)
        out.append((((arr.astype(np.float32) - lo) / (hi - lo)).astype(np.float32), lab.astype(bool)))
    return out


def _loss_fn(kind: str, fg_freq: float):
    if kind == "dice_ce":
        from monai.losses import DiceCELoss

        return DiceCELoss(to_onehot_y=True, softmax=True, include_background=False)
    if kind == "weighted_ce":
        w = torch.tensor([1.0, float(np.clip((1 - fg_freq) / max(fg_freq, 1e-6), 1.0, 50.0))])
        ce = torch.nn.CrossEntropyLoss(weight=w)
        return lambda logits, y: ce(logits, y[:, 0].long())
    raise ValueError(f"loss must be 'dice_ce' or 'weighted_ce', got {kind!r}.")


def _batch(pairs, cfg: TrainConfig, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng([cfg.seed, step])
    xs, ys = [], []
    n_bg = int(round(cfg.bg_fraction * cfg.batch_size))
    for b in range(cfg.batch_size):
        img, lab = pairs[int(rng.integers(len(pairs)))]
        x, y = sample_cube(img, lab, cfg.cube, rng, min_fg_ratio=cfg.min_fg_ratio, want_foreground=b >= n_bg)
        for ax in (1, 2):
            if rng.random() < 0.5:
                x, y = np.flip(x, ax), np.flip(y, ax)
        x = x * rng.uniform(0.7, 1.3) + rng.uniform(-0.05, 0.05)
        xs.append(np.ascontiguousarray(x))
        ys.append(np.ascontiguousarray(y))
    return torch.from_numpy(np.stack(xs)[:, None].astype(np.float32)), torch.from_numpy(np.stack(ys)[:, None].astype(np.int64))


def train_neurons(
    out_dir: Union[str, Path],
    *,
    config: Optional[TrainConfig] = None,
    resume: bool = False,
    device: str = "cpu",
    progress: bool = True,
    stop_after: Optional[int] = None,
    **overrides: Any,
) -> dict:
    """Train a 3D-WaveUNet and write ``model.pt``, ``last.pt`` and ``history.json`` to ``out_dir``.

    Args:
        out_dir: Run folder.
        config: Settings; keyword ``overrides`` replace single fields (``steps=500``, ``synthetic=8``...).
        resume: Continue from ``out_dir/last.pt`` (same configuration).
        device: Torch device.
        progress: Show progress bars.
        stop_after: Stop (with a checkpoint) after this many steps of this run, e.g. to fit a time
            slot; ``resume=True`` continues exactly where it stopped.

    Returns:
        ``{"model": path, "steps": int, "final_loss": float, "seconds": float}``.
    """
    cfg = config or TrainConfig()
    for k, v in overrides.items():
        if not hasattr(cfg, k):
            raise ValueError(f"unknown training option {k!r}.")
        setattr(cfg, k, tuple(v) if k in ("cube", "synthetic_shape") else v)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start, history = 0, []
    last = out / "last.pt"
    if resume:
        if not last.exists():
            raise FileNotFoundError(f"{last}: nothing to resume; run without --resume first.")
        from medwave.networks.checkpoint import CheckpointError, read_checkpoint

        ck = read_checkpoint(last, map_location=device, what="train-neurons checkpoint to resume",
                             hint="Resume only from the last.pt this command wrote, or start a new run folder.")
        if "resume" not in ck:
            raise CheckpointError(f"{last}: holds no training state to resume (a final model, not a last.pt).")
        config, arch = model_checkpoint_parts(cfg.model)
        if ck["config"] != model_checkpoint_parts(config)[0] or ck["meta"].get("arch") != arch:
            raise CheckpointError(f"{last} was trained with model {ck['config']} ({ck['meta'].get('arch')}), not "
                                  f"{config} ({arch}); use the same options or another output folder.")
        try:
            model.load_state_dict(ck["state_dict"])
            opt.load_state_dict(ck["resume"]["optimizer"])
            start, history = int(ck["resume"]["step"]), [float(v) for v in ck["resume"].get("history", [])]
            torch.set_rng_state(ck["resume"]["torch_rng"].cpu())
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{last}: damaged training state ({type(exc).__name__}: {exc}); start a new run "
                                  "folder.") from None
    pairs = _load_pairs(cfg, progress)
    fg_freq = float(np.mean([lab.mean() for _, lab in pairs]))
    loss_fn = _loss_fn(cfg.loss, fg_freq)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (1 - min(s, cfg.steps - 1) / cfg.steps) ** 0.9)
    for _ in range(start):
        sched.step()
    t0 = time.time()
    model.train()

    model_config, arch = model_checkpoint_parts(cfg.model)

    def save(path: Path, step: int) -> None:
        save_checkpoint(path, config=model_config, state_dict=model.state_dict(),
                        meta={"arch": arch, "train": asdict(cfg), "step": step},
                        resume={"optimizer": opt.state_dict(), "step": step, "history": list(history),
                                "torch_rng": torch.get_rng_state()})

    end = cfg.steps if stop_after is None else min(cfg.steps, start + int(stop_after))
    bar = progress_bar(range(start, end), total=cfg.steps, initial=start, desc="train-neurons", enabled=progress)
    loss_v = math.nan
    for step in bar:
        x, y = _batch(pairs, cfg, step)
        x, y = x.to(device), y.to(device)
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_v = float(loss.detach())
        history.append(loss_v)
        bar.set_postfix(loss=f"{np.mean(history[-20:]):.4f}")
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == end:
            save(last, step + 1)
    bar.close()
    if end < cfg.steps:
        return {"model": None, "checkpoint": str(last), "steps": end, "final_loss": loss_v, "seconds": time.time() - t0}
    model.eval()
    threshold, val_dice = (calibrate_threshold(model, validation_stacks(cfg), progress=progress)
                           if cfg.calibrate else (0.5, float("nan")))
    save_checkpoint(out / "model.pt", config=model_config, state_dict=model.state_dict(),
                    meta={"arch": arch, "train": asdict(cfg), "threshold": threshold, "validation_dice": val_dice,
                          "step": cfg.steps,
                          "normalization": "percentile 1 / 99.95 per stack (medwave.neuron.model.normalize_params)"})
    with atomic_path(out / "history.json") as tmp:
        tmp.write_text(json.dumps({"loss": history, "config": asdict(cfg)}, indent=1))
    return {"model": str(out / "model.pt"), "steps": cfg.steps, "final_loss": loss_v, "threshold": threshold,
            "validation_dice": val_dice, "seconds": time.time() - t0}
