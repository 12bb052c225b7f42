"""The GEM demo (``make demo``): gaze for report sentences on the real radiograph and on a rendered finding.

Two kinds of overlay are written, and their names say which is which:

* ``gaze_NN_overlay.png``: the shipped weights on the **real** radiograph ``RG1_UNCR.dcm``
  (pydicom-data), which has its own round nodules in both lungs (nothing is drawn into it), for
  :data:`DEMO_SENTENCES`;
* ``rendered_finding_overlay.png``: the weights on a **synthetic** case of the image-grounded set
  (:mod:`medwave.gaze.findings`, test split: held-out anatomy): a nodule rendered into the warped
  radiograph (outlined red) beside an unmentioned one of the same kind (outlined yellow), for the
  case's sentence.

It also scores the model on held-out synthetic cases against the data set's centre bias. Takes well
under a minute on a CPU.

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
    "There is a nodule in the left upper lobe.",
    "Opacity in the left lung base.",
    "The heart is enlarged.",
]


def _rendered_case(test) -> int:
    """Index of the first two-candidate nodule case whose finding stays in the frame."""
    for i, c in enumerate(test.cases):
        if c.target is not None and c.target.kind == "nodule" and any(d.kind == "nodule" for d in c.distractors):
            return i
    return 0


def run_demo(outdir: Union[str, os.PathLike], *, progress: bool = True, n_eval: int = 64, weights=None) -> dict[str, Any]:
    """Run the demo and return ``{"files", "points", "rendered", "eval", "image"}``.

    Args:
        outdir: Output folder (files are replaced).
        progress: Show progress.
        n_eval: Held-out synthetic cases for the small evaluation.
        weights: GEM weights (default the shipped ones).
    """
    from pydicom.data import get_testdata_file
    from skimage.segmentation import find_boundaries

    from medwave.gaze.api import load_gem_with_meta, predict_gaze, render_overlay
    from medwave.gaze.findings import make_finding_gaze
    from medwave.gaze.io import save_png
    from medwave.gaze.metrics import mean_point_distance, peak_distance, render_fixation_map
    from medwave.gaze.training import collate

    out = Path(outdir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    image = get_testdata_file("RG1_UNCR.dcm")
    results = predict_gaze(image, DEMO_SENTENCES, weights=weights)
    files = results.save(out, overwrite=True)["sentences"]

    # a rendered finding (test split: anatomy never seen in training) and a small evaluation
    net, meta = load_gem_with_meta(weights)
    size = int(meta.get("image_size", 128))
    test = make_finding_gaze(max(n_eval, 8), seed=424242, image_size=size, k=net.k, split="test")
    train = make_finding_gaze(256, seed=0, image_size=size, k=net.k, split="train")
    centre = np.mean([train[i]["points"].numpy() for i in range(len(train))], axis=0)
    sigma = 0.04 * size
    j = _rendered_case(test)
    it = test[j]
    with torch.no_grad():
        pr = net(it["image"][None], [it["sentence"]])["points"][0].numpy() * size - 0.5
    heat = render_fixation_map(pr, (size, size), sigma=sigma)
    rgb = render_overlay(it["image"][0].numpy(), heat, pr)
    rgb[find_boundaries(it["finding_mask"].numpy())] = (1.0, 0.1, 0.1)
    rgb[find_boundaries(it["distractor_mask"].numpy())] = (1.0, 0.9, 0.1)
    rendered_path = save_png(out / "rendered_finding_overlay.png", rgb, overwrite=True)
    rendered = {"sentence": it["sentence"], "overlay": rendered_path, "points": pr,
                "peak_distance_px": peak_distance(heat, it["finding_mask"].numpy())}

    d_gem, d_centre, p_gem, p_centre = [], [], [], []
    with torch.no_grad():
        for a in range(0, n_eval, 32):
            items = [test[i] for i in range(a, min(n_eval, a + 32))]
            img, sent, _ = collate(items, size)
            pred = net(img, sent)["points"].numpy() * size - 0.5
            for itm, p in zip(items, pred):
                d_gem.append(mean_point_distance(p, itm["points"].numpy()))
                d_centre.append(mean_point_distance(centre, itm["points"].numpy()))
                fm = itm["finding_mask"].numpy()
                if itm["kind"] != "normal" and fm.any():
                    p_gem.append(peak_distance(render_fixation_map(p, (size, size), sigma=sigma), fm))
                    p_centre.append(peak_distance(render_fixation_map(centre, (size, size), sigma=sigma), fm))
    ev = {
        "n_pairs": n_eval,
        "grid_px": size,
        "gem_mean_distance_px": float(np.mean(d_gem)),
        "centre_bias_mean_distance_px": float(np.mean(d_centre)),
        "gem_peak_distance_px": float(np.mean(p_gem)),
        "centre_bias_peak_distance_px": float(np.mean(p_centre)),
    }
    if progress:
        for r, f in zip(results, files):
            print(f"real radiograph: {r.sentence!r} -> {f['overlay']}")
        print(f"rendered finding (synthetic, held-out anatomy): {rendered['sentence']!r} -> {rendered_path} "
              f"(peak {rendered['peak_distance_px']:.1f} px from the named finding)")
        print(f"held-out synthetic cases: GEM {ev['gem_mean_distance_px']:.1f} px vs centre bias "
              f"{ev['centre_bias_mean_distance_px']:.1f} px mean point distance; density peak to the named finding "
              f"{ev['gem_peak_distance_px']:.1f} vs {ev['centre_bias_peak_distance_px']:.1f} px ({size}x{size} grid)")
    return {"files": files, "points": [r.points for r in results], "rendered": rendered, "eval": ev, "image": image}
