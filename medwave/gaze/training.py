"""Training GEM: from a gaze datalist or from the synthetic set, with checkpoints and resume.

A checkpoint is a dict ``{"config", "model", "optimizer", "step", "history", "image_size",
"train": {...options}}`` written atomically to ``OUTDIR/last.pt`` every ``checkpoint_every``
steps; the final model goes to ``OUTDIR/gem.pt``. ``resume=True`` continues from ``last.pt`` with
the same result as an uninterrupted run (the data order is a function of the seed and the step).

Example:
    >>> import tempfile
    >>> from medwave.gaze.training import train_gaze
    >>> res = train_gaze(None, tempfile.mkdtemp(), synthetic=32, steps=2, batch_size=4,
    ...                  image_size=64, progress=False)
    >>> sorted(res)
    ['checkpoint', 'history', 'val']
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from medwave.utils import atomic_path, progress_bar

__all__ = ["DatalistGaze", "train_gaze", "evaluate_gem", "collate"]

PathLike = Union[str, os.PathLike]


class DatalistGaze(torch.utils.data.Dataset):
    """Items of a gaze datalist: radiograph resized to ``image_size`` squared, sentence, K target points.

    Points are returned in pixels of the resized image (like :class:`~medwave.gaze.synthetic.SyntheticGaze`).
    """

    def __init__(self, items: list[dict[str, Any]], *, k: int = 8, image_size: int = 128) -> None:
        self.items, self.k, self.image_size = items, int(k), int(image_size)
        self._cache: dict[str, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.items)

    def _image(self, path: str) -> tuple[torch.Tensor, tuple[int, int]]:
        from skimage.transform import resize

        from medwave.gaze.io import load_radiograph

        if path not in self._cache:
            img = load_radiograph(path)
            small = resize(img, (self.image_size, self.image_size), order=1, anti_aliasing=True, preserve_range=True)
            self._cache[path] = (torch.from_numpy(small.astype(np.float32))[None], img.shape)
        return self._cache[path]

    def __getitem__(self, index: int) -> dict[str, Any]:
        from medwave.gaze.io import read_gaze_csv, resample_points

        it = self.items[index]
        img, (h, w) = self._image(it["image"])
        g = read_gaze_csv(it["gaze"])
        if len(g["points"]) == 0:
            raise ValueError(f"{it['gaze']}: no fixations for sentence {it['sentence']!r}; drop the item from the datalist.")
        pts = resample_points(g["points"], self.k)
        s = self.image_size
        pts = np.stack([(pts[:, 0] + 0.5) / w * s - 0.5, (pts[:, 1] + 0.5) / h * s - 0.5], 1)
        return {"image": img, "sentence": it["sentence"], "points": torch.from_numpy(pts.astype(np.float32))}


def collate(items: list[dict[str, Any]], image_size: int) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """Stack items into ``(images, sentences, targets in [0, 1] fractions)``."""
    img = torch.stack([it["image"] for it in items])
    tgt = (torch.stack([it["points"] for it in items]) + 0.5) / image_size
    return img, [it["sentence"] for it in items], tgt


@torch.no_grad()
def evaluate_gem(net: torch.nn.Module, dataset: torch.utils.data.Dataset, *, image_size: int, batch_size: int = 32) -> dict[str, float]:
    """Mean point distance (pixels of the ``image_size`` grid) and loss terms of ``net`` on ``dataset``."""
    was = net.training
    net.eval()
    dists, mses = [], []
    for a in range(0, len(dataset), batch_size):
        img, sent, tgt = collate([dataset[i] for i in range(a, min(len(dataset), a + batch_size))], image_size)
        out = net(img, sent)
        dists.append(torch.linalg.norm((out["points"] - tgt) * image_size, dim=-1).mean(-1))
        mses.append(((out["points"] - tgt) * 2).pow(2).mean((1, 2)))
    net.train(was)
    return {"mean_distance_px": float(torch.cat(dists).mean()), "mse": float(torch.cat(mses).mean())}


def train_gaze(
    datalist: Optional[PathLike],
    outdir: PathLike,
    *,
    synthetic: Optional[int] = None,
    steps: int = 1000,
    batch_size: int = 16,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    seed: int = 0,
    image_size: int = 128,
    val_size: int = 128,
    checkpoint_every: int = 100,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    model_options: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """Train GEM and write ``OUTDIR/gem.pt``.

    Args:
        datalist: A gaze datalist JSON (``training`` and optionally ``validation`` lists of
            ``{"image", "sentence", "gaze"}``), or ``None`` with ``synthetic``.
        outdir: Output folder (``gem.pt``, ``last.pt``).
        synthetic: Train on this many synthetic samples (seeded by ``seed``) instead of a datalist;
            ``val_size`` more (seed ``seed + 1``) are held out.
        steps: Optimisation steps.
        batch_size: Samples per step.
        lr: AdamW learning rate (cosine decay to 5%).
        weight_decay: AdamW weight decay.
        seed: Seed of the initialisation and data order.
        image_size: Images are resized to ``image_size`` squared.
        val_size: Held-out synthetic samples.
        checkpoint_every: Steps between ``last.pt`` checkpoints.
        resume: Continue from ``OUTDIR/last.pt``.
        overwrite: Replace an existing ``gem.pt``.
        progress: Show a progress bar.
        model_options: Keyword options of :class:`~medwave.networks.gem.GEM` (``use_text``, ...).

    Returns:
        ``{"checkpoint": path of gem.pt, "history": [...], "val": metrics}``.

    Raises:
        ValueError: Neither or both of ``datalist``/``synthetic``; bad options.
        FileExistsError: ``gem.pt`` exists and neither ``overwrite`` nor ``resume``.
    """
    from medwave.gaze.io import load_gaze_datalist
    from medwave.gaze.synthetic import make_synthetic_gaze
    from medwave.networks.gem import GEM

    if (datalist is None) == (synthetic is None):
        raise ValueError("give either a datalist or synthetic=N (number of synthetic samples), not both / neither")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1 (got {steps}, {batch_size})")
    out = Path(outdir).expanduser()
    final, last = out / "gem.pt", out / "last.pt"
    if final.exists() and not (overwrite or resume):
        raise FileExistsError(f"{final} exists; pass overwrite (CLI --overwrite) or resume (--resume), or choose another folder.")
    out.mkdir(parents=True, exist_ok=True)
    opts = dict(model_options or {})
    k = int(opts.get("k", 8))
    if synthetic is not None:
        train_ds = make_synthetic_gaze(int(synthetic), seed=seed, k=k, image_size=image_size)
        val_ds = make_synthetic_gaze(int(val_size), seed=seed + 1, k=k, image_size=image_size) if val_size else None
        source = {"synthetic": int(synthetic), "seed": seed}
    else:
        train_ds = DatalistGaze(load_gaze_datalist(datalist, key="training"), k=k, image_size=image_size)
        try:
            val_ds = DatalistGaze(load_gaze_datalist(datalist, key="validation"), k=k, image_size=image_size)
        except ValueError:
            val_ds = None
        source = {"datalist": str(Path(datalist).expanduser().resolve())}
        if len(train_ds) == 0:
            raise ValueError(f"{datalist}: the training list is empty.")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = GEM(**opts)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    start, history = 0, []
    if resume and last.exists():
        from medwave.networks.checkpoint import CheckpointError, read_checkpoint

        ck = read_checkpoint(last, map_location="cpu", what="train-gaze checkpoint to resume",
                             hint="Resume only from the last.pt this command wrote, or use a new folder.")
        if ck["config"] != json.loads(json.dumps(net.config)):
            raise ValueError(f"{last}: its model options differ from this run's; resume with the same options or a new folder.")
        if "resume" not in ck:
            raise CheckpointError(f"{last}: holds no training state to resume.")
        try:
            net.load_state_dict(ck["state_dict"])
            opt.load_state_dict(ck["resume"]["optimizer"])
            start, history = int(ck["resume"]["step"]), list(ck["resume"].get("history", []))
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{last}: damaged training state ({type(exc).__name__}: {exc}); use a new "
                                  "folder.") from None
    train_opts = {"steps": steps, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay, "seed": seed, **source}

    def lr_at(step: int) -> float:
        return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps)))

    def save(path: Path, step: int, val: Optional[dict] = None, final: bool = False) -> None:
        from medwave.networks.checkpoint import save_checkpoint

        meta = {"step": step, "image_size": image_size, "train": train_opts, "val": val or {}}
        if final:
            meta["history"] = history
        resume = None if final else {"optimizer": opt.state_dict(), "step": step, "history": history}
        save_checkpoint(path, config=net.config, state_dict=net.state_dict(), meta=meta, resume=resume)

    n = len(train_ds)
    net.train()
    bar = progress_bar(range(start, steps), total=steps, initial=start, desc="train-gaze", enabled=progress)
    for step in bar:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        idx = torch.randint(0, n, (batch_size,), generator=g).tolist()
        img, sent, tgt = collate([train_ds[i] for i in idx], image_size)
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        res = net(img, sent, tgt)
        losses = net.loss(res, tgt)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        rec = {"step": step + 1, **{kk: float(v.detach()) for kk, v in losses.items()}}
        history.append(rec)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{rec['loss']:.4f}")
        if (step + 1) % checkpoint_every == 0 and step + 1 < steps:
            save(last, step + 1)
    val = evaluate_gem(net, val_ds, image_size=image_size) if val_ds is not None and len(val_ds) else {}
    save(last, steps, val)
    save(final, steps, val, final=True)
    return {"checkpoint": final, "history": history, "val": val}
