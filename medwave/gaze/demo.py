"""The GEM demo (``make demo``): gaze for report sentences on the real sample radiograph.

Runs the shipped weights on ``RG1_UNCR.dcm`` (pydicom-data) for one sentence per anatomical
region type, writes the points CSV, heatmap (PNG + .npy) and overlay of each, and scores the model
on held-out synthetic pairs against the data set's centre bias. Takes well under a minute on a CPU.

Example:
    >>> import tempfile
    >>> from medwave.gaze.demo import run_demo
    >>> out = run_demo(tempfile.mkdtemp(), progress=False)
    >>> out["eval"]["gem_mean_distance_px"] < out["eval"]["centre_bias_mean_distance_px"]
    True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

__all__ = ["DEMO_SENTENCES", "run_demo"]

DEMO_SENTENCES = [
    "There is a nodule in the right upper lobe.",
    "Opacity in the left lung base.",
    "The heart is enlarged.",
]


def run_demo(outdir: Union[str, os.PathLike], *, progress: bool = True, n_eval: int = 64, weights=None) -> dict[str, Any]:
    """Run the demo and return ``{"files", "points", "eval", "image"}``.

    Args:
        outdir: Output folder (files are replaced).
        progress: Show progress.
        n_eval: Held-out synthetic pairs for the small evaluation.
        weights: GEM weights (default the shipped ones).
    """
    from pydicom.data import get_testdata_file

    from medwave.gaze.api import load_gem_with_meta, predict_gaze
    from medwave.gaze.metrics import mean_point_distance
    from medwave.gaze.synthetic import make_synthetic_gaze
    from medwave.gaze.training import collate

    out = Path(outdir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    image = get_testdata_file("RG1_UNCR.dcm")
    results = predict_gaze(image, DEMO_SENTENCES, weights=weights)
    files = results.save(out, overwrite=True)["sentences"]

    # small evaluation on held-out synthetic pairs (seed not used for training the shipped weights)
    net, meta = load_gem_with_meta(weights)
    size = int(meta.get("image_size", 128))
    test = make_synthetic_gaze(n_eval, seed=424242, image_size=size)
    train = make_synthetic_gaze(256, seed=0, image_size=size)  # the shipped weights' training seed
    centre = np.mean([train[i]["points"].numpy() for i in range(len(train))], axis=0)
    d_gem, d_centre = [], []
    with torch.no_grad():
        for a in range(0, n_eval, 32):
            items = [test[i] for i in range(a, min(n_eval, a + 32))]
            img, sent, _ = collate(items, size)
            pred = net(img, sent)["points"].numpy() * size - 0.5
            for it, p in zip(items, pred):
                d_gem.append(mean_point_distance(p, it["points"].numpy()))
                d_centre.append(mean_point_distance(centre, it["points"].numpy()))
    ev = {
        "n_pairs": n_eval,
        "grid_px": size,
        "gem_mean_distance_px": float(np.mean(d_gem)),
        "centre_bias_mean_distance_px": float(np.mean(d_centre)),
    }
    if progress:
        for r, f in zip(results, files):
            print(f"{r.sentence!r} -> {f['overlay']}")
        print(f"held-out synthetic pairs: GEM {ev['gem_mean_distance_px']:.1f} px vs centre bias "
              f"{ev['centre_bias_mean_distance_px']:.1f} px mean point distance ({size}x{size} grid)")
    return {"files": files, "points": [r.points for r in results], "eval": ev, "image": image}
