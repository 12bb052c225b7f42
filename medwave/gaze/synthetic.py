"""A seeded, report-conditioned synthetic gaze data set built on a real chest radiograph.

Material: the real PA chest radiograph ``RG1_UNCR.dcm`` shipped by ``pydicom-data`` (computed
radiography, MONOCHROME1, 1955 x 1841). Lung fields are segmented from the radiograph itself
(:func:`lung_regions`: Otsu threshold of the smoothed image, top/side margins cut, opened,
the two largest dark components kept as the lungs) and split into zones: each lung into upper /
middle / lower thirds of its height, plus the cardiac silhouette (an ellipse placed from the lung
geometry, outside the lungs) and both lungs together. Radiological convention: the
patient's right lung is on the image's left.

Sentences are drawn from a documented vocabulary (:data:`REGION_PHRASES` x :data:`LUNG_FINDINGS`
/ :data:`CARDIAC_SENTENCES`, filled into :data:`LUNG_TEMPLATES`), so every sentence names a finding
and a region. (torchxrayvision ships the Indiana University report texts, CC BY-NC-ND, and lung
masks of other images; medwave does not depend on or redistribute them, so the vocabulary is
written here instead.) The scanpath of a sentence stays in its region: focal findings (nodule,
mass, granuloma) give a tight cluster around a random spot of the region, diffuse ones a sweep over
the region from top to bottom (greedy nearest-neighbour order). Every sample also gets its own
random affine view of the radiograph (scale, rotation, shift, gamma, noise) with the points moved
accordingly, so the region must be found in the image and a model that ignores the text can only
predict an average over regions.

Example:
    >>> from medwave.gaze.synthetic import make_synthetic_gaze
    >>> ds = make_synthetic_gaze(4, seed=0, image_size=64)
    >>> img, sentence, pts = ds[0]["image"], ds[0]["sentence"], ds[0]["points"]
    >>> tuple(img.shape), tuple(pts.shape)
    ((1, 64, 64), (8, 2))
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

__all__ = [
    "REGION_PHRASES",
    "LUNG_FINDINGS",
    "FOCAL_FINDINGS",
    "LUNG_TEMPLATES",
    "CARDIAC_SENTENCES",
    "BILATERAL_SENTENCES",
    "sample_radiograph",
    "lung_regions",
    "SyntheticGaze",
    "make_synthetic_gaze",
    "write_synthetic_dataset",
    "vocabulary_words",
]

#: Region key -> phrases naming it (patient's right = image left on a PA radiograph).
REGION_PHRASES: dict[str, list[str]] = {
    "right_upper": ["right upper lobe", "right upper zone", "right apex", "right upper lung"],
    "right_middle": ["right middle lobe", "right mid lung", "right midlung zone", "right perihilar region"],
    "right_lower": ["right lower lobe", "right lung base", "right base", "right costophrenic angle"],
    "left_upper": ["left upper lobe", "left upper zone", "left apex", "left upper lung"],
    "left_middle": ["lingula", "left mid lung", "left midlung zone", "left perihilar region"],
    "left_lower": ["left lower lobe", "left lung base", "left base", "left costophrenic angle"],
}
#: Findings that are named together with a lung zone.
LUNG_FINDINGS: list[str] = [
    "opacity", "consolidation", "atelectasis", "infiltrate", "nodule", "mass", "granuloma",
    "scarring", "effusion", "airspace disease", "pneumonia", "fibrosis",
]
#: Findings looked at as a tight cluster (the rest are swept over the zone).
FOCAL_FINDINGS = frozenset({"nodule", "mass", "granuloma"})
#: Sentence templates for a lung zone; ``{a}`` is the article, ``{finding}``, ``{region}``.
LUNG_TEMPLATES: list[str] = [
    "There is {a} {finding} in the {region}.",
    "{Finding} in the {region}.",
    "{A} {finding} is seen in the {region}.",
    "No {finding} in the {region}.",
    "The {region} shows {a} {finding}.",
    "Mild {finding} at the {region}.",
    "{A} {finding} projects over the {region}.",
]
#: Sentences about the cardiac silhouette.
CARDIAC_SENTENCES: list[str] = [
    "The heart is enlarged.",
    "Heart size is normal.",
    "The cardiac silhouette is enlarged.",
    "Cardiomegaly is present.",
    "The cardiomediastinal silhouette is within normal limits.",
    "Mild cardiomegaly.",
    "The heart size is upper normal.",
]
#: Sentences about both lungs.
BILATERAL_SENTENCES: list[str] = [
    "The lungs are clear.",
    "No focal consolidation in either lung.",
    "Both lungs are well expanded.",
    "Diffuse bilateral interstitial opacities.",
    "No pneumothorax or pleural effusion.",
    "Lungs are hyperinflated.",
]

_REGION_KEYS = [*REGION_PHRASES, "cardiac", "lungs"]


def vocabulary_words() -> list[str]:
    """All words of the synthetic vocabulary (lower case), the core of the text encoder's vocabulary."""
    import re

    text = " ".join(
        [*LUNG_TEMPLATES, *CARDIAC_SENTENCES, *BILATERAL_SENTENCES, *LUNG_FINDINGS]
        + [p for ps in REGION_PHRASES.values() for p in ps]
    )
    words = re.findall(r"[a-z]+", text.lower().replace("{", " ").replace("}", " "))
    return sorted(set(words) - {"finding", "region"})


@functools.lru_cache(maxsize=4)
def sample_radiograph(size: int = 256) -> np.ndarray:
    """The real chest radiograph RG1_UNCR.dcm (pydicom-data), as displayed, resized to ``size`` x ``size``.

    Raises:
        FileNotFoundError: pydicom-data is not installed (``pip install pydicom-data``).
    """
    from skimage.transform import resize

    from medwave.gaze.io import load_radiograph

    try:
        from pydicom.data import get_testdata_file

        path = get_testdata_file("RG1_UNCR.dcm")
    except Exception as exc:  # pragma: no cover - depends on the environment
        raise FileNotFoundError(f"the sample radiograph RG1_UNCR.dcm is unavailable ({exc}); pip install pydicom-data") from exc
    if path is None:  # pragma: no cover
        raise FileNotFoundError("RG1_UNCR.dcm not found; install pydicom-data (pip install pydicom-data).")
    img = load_radiograph(path)
    out = resize(img, (size, size), order=1, anti_aliasing=True, preserve_range=True).astype(np.float32)
    out.setflags(write=False)
    return out


def lung_regions(image: np.ndarray) -> dict[str, np.ndarray]:
    """Segment the lung fields of a PA radiograph and split them into named zones.

    Args:
        image: 2D radiograph in ``[0, 1]``, bright = dense (as :func:`~medwave.gaze.io.load_radiograph`).

    Returns:
        Boolean masks keyed ``right_upper, right_middle, right_lower, left_upper, left_middle,
        left_lower, cardiac, lungs`` (patient sides: the right lung is on the image's left).

    Raises:
        ValueError: Fewer than two lung-like dark regions were found.
    """
    from scipy import ndimage as ndi
    from skimage.filters import gaussian, threshold_otsu
    from skimage.morphology import disk, opening

    img = np.asarray(image, dtype=np.float64)
    h, w = img.shape
    sm = gaussian(img, sigma=max(h, w) / 128.0)
    body = sm > 0.05
    thr = threshold_otsu(sm[body]) if body.any() else threshold_otsu(sm)
    dark = (sm < thr) & body
    # the lungs reach the neck and the air above the shoulders: cut a top/side margin, then open
    dark[: int(0.06 * h)] = False
    dark[:, : int(0.04 * w)] = False
    dark[:, w - int(0.04 * w) :] = False
    dark = opening(dark, disk(max(1, int(round(max(h, w) / 85))))).astype(bool)
    lab, n = ndi.label(dark)
    if n < 2:
        raise ValueError("could not find two lung fields in the radiograph (is it a PA chest X-ray?)")
    sizes = ndi.sum(dark, lab, index=np.arange(1, n + 1))
    keep = np.argsort(sizes)[::-1][:2] + 1
    lungs = [ndi.binary_fill_holes(lab == k) for k in keep]
    cx = [np.nonzero(m)[1].mean() for m in lungs]
    right, left = (lungs[0], lungs[1]) if cx[0] < cx[1] else (lungs[1], lungs[0])
    out: dict[str, np.ndarray] = {}
    for side, m in (("right", right), ("left", left)):
        rows = np.nonzero(m.any(axis=1))[0]
        top, bot = rows.min(), rows.max() + 1
        cuts = np.linspace(top, bot, 4).round().astype(int)
        for name, (a, b) in zip(("upper", "middle", "lower"), zip(cuts[:-1], cuts[1:])):
            z = np.zeros_like(m)
            z[a:b] = m[a:b]
            out[f"{side}_{name}"] = z
    both = right | left
    # cardiac silhouette: an ellipse placed from the lung geometry (centre left of the patient's
    # midline, lower fifth of the lung height), outside the lung fields
    rows = np.nonzero(both.any(axis=1))[0]
    top, bot = rows.min(), rows.max()
    xr, xl = np.nonzero(right)[1].mean(), np.nonzero(left)[1].mean()
    sep = xl - xr
    cx_h, cy_h = (xr + xl) / 2 + 0.25 * sep, top + 0.8 * (bot - top)
    ax, ay = 0.36 * sep, 0.17 * (bot - top)
    yy, xx = np.mgrid[0:h, 0:w]
    cardiac = (((xx - cx_h) / ax) ** 2 + ((yy - cy_h) / ay) ** 2 <= 1.0) & ~both
    out["cardiac"] = cardiac
    out["lungs"] = both
    return out


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _sentence(rng: np.random.Generator) -> tuple[str, str, str]:
    """Return (sentence, region key, finding or '')."""
    u = rng.random()
    if u < 0.72:
        region = list(REGION_PHRASES)[rng.integers(len(REGION_PHRASES))]
        phrase = REGION_PHRASES[region][rng.integers(len(REGION_PHRASES[region]))]
        finding = LUNG_FINDINGS[rng.integers(len(LUNG_FINDINGS))]
        tpl = LUNG_TEMPLATES[rng.integers(len(LUNG_TEMPLATES))]
        a = _article(finding)
        s = tpl.format(a=a, A=a.capitalize(), finding=finding, Finding=finding.capitalize(), region=phrase)
        return s, region, finding
    if u < 0.86:
        return CARDIAC_SENTENCES[rng.integers(len(CARDIAC_SENTENCES))], "cardiac", ""
    return BILATERAL_SENTENCES[rng.integers(len(BILATERAL_SENTENCES))], "lungs", ""


def _scanpath(rng: np.random.Generator, mask: np.ndarray, n: int, focal: bool) -> np.ndarray:
    """``n`` ordered fixations ``(x, y)`` (pixels of ``mask``'s grid) inside ``mask``."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    if focal:
        i = rng.integers(len(xs))
        c = np.array([xs[i], ys[i]], dtype=np.float64)
        pts = c + rng.normal(0.0, 0.025 * max(h, w), size=(n, 2))
    else:
        idx = rng.choice(len(xs), size=n, replace=len(xs) < n)
        cand = np.stack([xs[idx], ys[idx]], axis=1).astype(np.float64)
        # a sweep: start at the top-most candidate, then greedy nearest neighbour
        order = [int(np.argmin(cand[:, 1]))]
        left = set(range(n)) - set(order)
        while left:
            last = cand[order[-1]]
            nxt = min(left, key=lambda j: float(np.sum((cand[j] - last) ** 2)))
            order.append(nxt)
            left.remove(nxt)
        pts = cand[order] + rng.normal(0.0, 0.004 * max(h, w), size=(n, 2))
    pts[:, 0] = np.clip(pts[:, 0], 0, w - 1)
    pts[:, 1] = np.clip(pts[:, 1], 0, h - 1)
    return pts


@dataclass
class _View:
    scale: float
    angle: float
    shift: tuple[float, float]
    gamma: float
    noise_seed: int


class SyntheticGaze(torch.utils.data.Dataset):
    """Report-conditioned synthetic gaze samples (see the module docstring).

    Items are dicts: ``image`` ``(1, S, S)`` float32 tensor in ``[0, 1]``, ``sentence`` str,
    ``points`` ``(K, 2)`` float32 tensor of ``(x, y)`` pixels of the ``S x S`` image (the scanpath
    resampled to K points), ``fixations`` ``(N, 2)`` float32 (the full scanpath), ``region`` str.
    Rendering is deterministic per index.
    """

    def __init__(self, records: list[dict[str, Any]], views: list[_View], *, image_size: int, base_size: int) -> None:
        self.records = records
        self.views = views
        self.image_size = int(image_size)
        self.base_size = int(base_size)

    def __len__(self) -> int:
        return len(self.records)

    def _matrix(self, v: _View) -> np.ndarray:
        """Forward map (2x3) from base-image normalised coords [-1, 1] to output normalised coords."""
        c, s = math.cos(v.angle), math.sin(v.angle)
        a = v.scale * np.array([[c, -s], [s, c]])
        return np.concatenate([a, np.asarray(v.shift)[:, None]], axis=1)

    def render(self, index: int) -> tuple[torch.Tensor, np.ndarray]:
        """Render view ``index``: the image tensor and the forward 2x3 matrix."""
        v = self.views[index]
        base = torch.from_numpy(np.array(sample_radiograph(self.base_size)))[None, None]
        fwd = self._matrix(v)
        a, t = fwd[:, :2], fwd[:, 2]
        inv_a = np.linalg.inv(a)
        theta = torch.tensor(np.concatenate([inv_a, (-inv_a @ t)[:, None]], axis=1), dtype=torch.float32)[None]
        grid = torch.nn.functional.affine_grid(theta, [1, 1, self.image_size, self.image_size], align_corners=False)
        img = torch.nn.functional.grid_sample(base, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
        img = img.clamp(0, 1) ** v.gamma
        g = torch.Generator().manual_seed(v.noise_seed)
        img = (img + 0.02 * torch.randn(img.shape, generator=g)).clamp(0, 1)
        return img, fwd

    def _map_points(self, pts: np.ndarray, fwd: np.ndarray) -> np.ndarray:
        b, s = self.base_size, self.image_size
        n = (pts + 0.5) / b * 2.0 - 1.0  # base pixel -> normalised (align_corners=False)
        m = n @ fwd[:, :2].T + fwd[:, 2]
        return ((m + 1.0) / 2.0 * s - 0.5).astype(np.float32)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        img, fwd = self.render(index)
        fix = self._map_points(rec["fixations"], fwd)
        pts = self._map_points(rec["points"], fwd)
        return {
            "image": img,
            "sentence": rec["sentence"],
            "points": torch.from_numpy(pts),
            "fixations": torch.from_numpy(fix),
            "region": rec["region"],
        }


def make_synthetic_gaze(
    n: int,
    *,
    seed: int = 0,
    k: int = 8,
    image_size: int = 128,
    base_size: int = 256,
    augment: bool = True,
    fixations: tuple[int, int] = (6, 14),
) -> SyntheticGaze:
    """Generate ``n`` synthetic (radiograph view, sentence, scanpath) samples.

    Args:
        n: Number of samples.
        seed: Seed; the same seed gives the same samples (bit-identical).
        k: Points per sample target (the scanpath resampled to ``k``).
        image_size: Side of the rendered square image.
        base_size: Side of the resized radiograph the views are taken from.
        augment: Random affine view/gamma/noise per sample (otherwise the plain radiograph).
        fixations: Range ``[lo, hi]`` of the number of fixations per sentence.

    Returns:
        A :class:`SyntheticGaze` data set.
    """
    from medwave.gaze.io import resample_points

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    regions = lung_regions(sample_radiograph(base_size))
    records, views = [], []
    for _ in range(n):
        sentence, region, finding = _sentence(rng)
        nf = int(rng.integers(fixations[0], fixations[1] + 1))
        fx = _scanpath(rng, regions[region], nf, finding in FOCAL_FINDINGS)
        records.append(
            {"sentence": sentence, "region": region, "finding": finding, "fixations": fx, "points": resample_points(fx, k)}
        )
        if augment:
            views.append(
                _View(
                    scale=float(rng.uniform(0.85, 1.15)),
                    angle=float(np.deg2rad(rng.uniform(-8, 8))),
                    shift=(float(rng.uniform(-0.12, 0.12)), float(rng.uniform(-0.12, 0.12))),
                    gamma=float(np.exp(rng.uniform(np.log(0.7), np.log(1.4)))),
                    noise_seed=int(rng.integers(2**31 - 1)),
                )
            )
        else:
            views.append(_View(1.0, 0.0, (0.0, 0.0), 1.0, int(rng.integers(2**31 - 1))))
    return SyntheticGaze(records, views, image_size=image_size, base_size=base_size)


def write_synthetic_dataset(
    outdir: Union[str, os.PathLike],
    n: int,
    *,
    seed: int = 0,
    k: int = 8,
    image_size: int = 128,
    val_fraction: float = 0.2,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write a synthetic set to disk in medwave's datalist layout and return the datalist path.

    Layout: ``images/NNNNN.png``, ``gaze/NNNNN.csv`` (the full scanpath, with the sentence) and
    ``datalist.json`` = ``{"name", "description", "training": [...], "validation": [...]}`` whose
    items are ``{"image", "sentence", "gaze"}`` with paths relative to the JSON.
    """
    from medwave.gaze.io import save_png, write_gaze_csv
    from medwave.utils import atomic_write_bytes, check_output_path, progress_bar

    out = Path(outdir).expanduser()
    dl = out / "datalist.json"
    check_output_path(dl, overwrite=overwrite)
    ds = make_synthetic_gaze(n, seed=seed, k=k, image_size=image_size)
    items = []
    for i in progress_bar(range(n), total=n, desc="synthetic gaze", enabled=progress):
        s = ds[i]
        ip, gp = f"images/{i:05d}.png", f"gaze/{i:05d}.csv"
        save_png(out / ip, s["image"][0].numpy(), overwrite=True)
        write_gaze_csv(out / gp, s["fixations"].numpy(), sentence=s["sentence"], overwrite=True)
        items.append({"image": ip, "sentence": s["sentence"], "gaze": gp, "region": s["region"]})
    n_val = int(round(val_fraction * n))
    payload = {
        "name": "medwave synthetic report-conditioned gaze",
        "description": f"make_synthetic_gaze(n={n}, seed={seed}, k={k}, image_size={image_size}) on RG1_UNCR.dcm",
        "training": items[: n - n_val],
        "validation": items[n - n_val :],
    }
    atomic_write_bytes(dl, json.dumps(payload, indent=1).encode("utf-8"))
    return dl
