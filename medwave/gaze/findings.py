"""Image-grounded synthetic gaze: findings rendered into re-shaped radiographs, scanpaths shaped like reading.

In :mod:`medwave.gaze.synthetic` the target depends on the sentence alone. Here it depends on the image:
a finding is rendered at a random place inside the zone the sentence names, sometimes beside a distractor
the sentence does not mention, and the reader looks at the finding.

**Anatomy.** The one real radiograph (``RG1_UNCR.dcm``, pydicom-data) is warped onto other patients'
lung masks: torchxrayvision's wheel ships 517 lung masks (``data/semantic_masks_v7labs_lungs.zip``, the
V7 Labs annotations of the COVID-19 image data collection); :func:`lung_mask_library` reads them straight
from the installed package's data folder (torchxrayvision itself is not imported, so its torchvision
dependency is not needed; ``pip install --no-deps torchxrayvision`` suffices), keeps those with two
lung fields, crops them to the lungs with a margin and resizes them to the model grid. Without
torchxrayvision the library falls back to smooth random deformations of the lung segmentation medwave
derives from the radiograph (:func:`~medwave.gaze.synthetic.lung_regions`) and says so in
``source``. The warp is a thin-plate spline through corresponding landmarks (each lung's centroid and
16 boundary points on rays from it, plus the frame's corners and edge midpoints). Masks are split into
a training and a test set (every :data:`TEST_EVERY`-th usable mask is test-only): the test split's
anatomy is never seen in training.

**Findings** (all sizes in pixels of a 128 grid, scaled with ``image_size``):

========================  ======================================================================
kind                      rendering (added as density: ``img <- 1 - (1 - img)(1 - c p)``)
========================  ======================================================================
``nodule``                soft-edged disc, radius 2-5.5 px, contrast ``c`` 0.12-0.35
``opacity``               patchy cluster of 3-6 Gaussian blobs (sigma 2.5-5 px) within ~8 px,
                          multiplied by smooth noise, clipped to the lungs, contrast 0.12-0.30
``cardiomegaly``          the cardiac ellipse widened 1.25-1.5x, contrast 0.15-0.30
``effusion``              a lung base filled up to 15-35 % of its height, meniscus rising
                          laterally, contrast 0.25-0.45
========================  ======================================================================

**Cases** (:func:`make_finding_gaze` options): ``p_normal`` (0.2) of the sentences are normal
("No pneumothorax.", "The lungs are clear.", ...; no finding rendered; the reader sweeps both lungs);
the others name one finding (nodule 0.35, opacity 0.25, effusion 0.25, cardiomegaly 0.15) in a zone
(six lung zones; a side for an effusion). With probability ``p_distractor`` (0.5) a second finding
the sentence does not mention is rendered in another zone; with probability ``p_same_kind`` (0.5)
it is of the same kind (two visible candidates, one named: the mean of the two lands on nothing),
placed in the mirrored zone on the other side half of the time.

**Scanpaths** (:func:`read_case`, one reader per draw, 8-16 fixations, with durations): a saccade in
from a random previous position (0-1 fixations on the way), a cluster of refixations on the finding
(an unordered set: a nodule's centre plus scatter of 0.6 x its radius, at least 1.2 px; points inside
the mask of a diffuse finding; dwell 0.2-0.6 s), and with probability 0.6 an excursion of 1-2
fixations to the mirrored place on the other side to compare, inserted at a random point of the
cluster, after which the reader returns to the finding. Normal sentences: 1-2 fixations per lung
zone, right or left side first and top-down or side-alternating, as the reader chooses.

**Splits.** ``split="train"`` and ``split="test"`` draw from different random streams
(``numpy.random.default_rng([seed, split_code])``) and from disjoint mask sets, so the test split
shares neither seeds nor anatomy with training. :meth:`FindingGaze.other_reader` reads a case again
with an independent reader: the oracle floor (inter-reader agreement).

Example:
    >>> from medwave.gaze.findings import make_finding_gaze
    >>> ds = make_finding_gaze(4, seed=0, image_size=64, split="test")
    >>> s = ds[0]
    >>> tuple(s["image"].shape), tuple(s["points"].shape), s["finding_mask"].dtype
    ((1, 64, 64), (8, 2), torch.bool)
"""

from __future__ import annotations

import functools
import importlib.util
import io
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
import torch

__all__ = [
    "FINDING_KINDS",
    "FINDING_SENTENCES",
    "NORMAL_SENTENCES",
    "TEST_EVERY",
    "MaskLibrary",
    "lung_mask_library",
    "zones_from_lungs",
    "Case",
    "read_case",
    "FindingGaze",
    "make_finding_gaze",
    "finding_vocabulary",
]

FINDING_KINDS = ("nodule", "opacity", "effusion", "cardiomegaly")
#: Sentence templates per finding kind: ``{region}`` a zone phrase, ``{side}`` right/left.
FINDING_SENTENCES: dict[str, list[str]] = {
    "nodule": [
        "There is a nodule in the {region}.",
        "A small nodule projects over the {region}.",
        "Nodular opacity in the {region}.",
        "A rounded nodule is seen in the {region}.",
    ],
    "opacity": [
        "Patchy opacity in the {region}.",
        "There is airspace opacity in the {region}.",
        "Consolidation in the {region}.",
        "Patchy airspace disease in the {region}.",
    ],
    "effusion": [
        "Small {side} pleural effusion.",
        "There is a {side} pleural effusion.",
        "Blunting of the {side} costophrenic angle.",
        "{Side} basilar effusion.",
    ],
    "cardiomegaly": [
        "The heart is enlarged.",
        "Cardiomegaly is present.",
        "The cardiac silhouette is enlarged.",
        "Moderate cardiomegaly.",
    ],
}
#: Normal sentences: the reader sweeps both lungs.
NORMAL_SENTENCES: list[str] = [
    "No pneumothorax.",
    "The lungs are clear.",
    "No pleural effusion.",
    "No focal consolidation.",
    "No pneumothorax or pleural effusion.",
]
#: Every TEST_EVERY-th usable mask (in archive order) is held out for the test split.
TEST_EVERY = 5
_LUNG_ZONES = ("right_upper", "right_middle", "right_lower", "left_upper", "left_middle", "left_lower")
_KIND_P = {"nodule": 0.35, "opacity": 0.25, "effusion": 0.25, "cardiomegaly": 0.15}


def finding_vocabulary() -> list[str]:
    """All words of this generator's sentences (lower case)."""
    import re

    from medwave.gaze.synthetic import REGION_PHRASES

    text = " ".join([t for ts in FINDING_SENTENCES.values() for t in ts] + NORMAL_SENTENCES
                    + [p for ps in REGION_PHRASES.values() for p in ps] + ["right left"])
    words = re.findall(r"[a-z]+", re.sub(r"\{[a-zA-Z]+\}", " ", text).lower())
    return sorted(set(words))


# ----------------------------------------------------------------------------------- anatomy
@dataclass
class MaskLibrary:
    """Lung masks on a square grid: ``masks`` ``(N, S, S)`` bool (patient right = image left), their
    ``names``, the ``source`` (``"torchxrayvision"`` or ``"deformed"``) and the test flags."""

    masks: np.ndarray
    names: list[str]
    source: str
    test: np.ndarray

    def indices(self, split: Literal["train", "test"]) -> np.ndarray:
        """Mask indices of a split."""
        return np.nonzero(self.test if split == "test" else ~self.test)[0]


def _txv_zip() -> Optional[Path]:
    spec = importlib.util.find_spec("torchxrayvision")  # does not import the package
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "data" / "semantic_masks_v7labs_lungs.zip"
        if p.exists():
            return p
    return None


def _two_lungs(mask: np.ndarray) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """The two largest components as (right lung = image left, left lung), or None if not lung-like."""
    from scipy import ndimage as ndi

    lab, n = ndi.label(mask)
    if n < 2:
        return None
    sizes = ndi.sum(mask, lab, index=np.arange(1, n + 1))
    order = np.argsort(sizes)[::-1]
    a, b = sizes[order[0]], sizes[order[1]]
    if b < 0.35 * a or (a + b) < 0.9 * sizes.sum():
        return None
    m1, m2 = lab == order[0] + 1, lab == order[1] + 1
    x1, x2 = np.nonzero(m1)[1].mean(), np.nonzero(m2)[1].mean()
    if abs(x1 - x2) < 0.25 * mask.shape[1]:
        return None
    r, l_ = (m1, m2) if x1 < x2 else (m2, m1)
    # both lungs should overlap vertically (a PA view, not two panels of a figure)
    ry, ly = np.nonzero(r.any(1))[0], np.nonzero(l_.any(1))[0]
    overlap = min(ry.max(), ly.max()) - max(ry.min(), ly.min())
    if overlap < 0.6 * min(np.ptp(ry), np.ptp(ly)):
        return None
    return r, l_


def _read_small_mask(data: bytes, side: int = 384) -> Optional[np.ndarray]:
    """Decode a mask image at about ``side`` pixels (JPEG draft mode, then a bilinear reduction), as bool."""
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(data))
        im.draft("L", (side, side))
        im = im.convert("L")
        if max(im.size) > side:
            f = side / max(im.size)
            im = im.resize((max(1, round(im.size[0] * f)), max(1, round(im.size[1] * f))), Image.BILINEAR)
        return np.asarray(im) >= 128
    except Exception:
        return None


def _frame(mask: np.ndarray, size: int) -> np.ndarray:
    """Crop to the lungs with the source radiograph's margins and resize to ``size`` squared."""
    from skimage.transform import resize

    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    h, w = y1 - y0, x1 - x0
    # margins like RG1_UNCR's lungs in its frame: ~12 % above, ~22 % below, ~13 % each side
    top, bot, side = int(0.14 * h), int(0.28 * h), int(0.16 * w)
    pad = np.pad(mask, ((top, bot), (side, side)))[y0 : y1 + top + bot, x0 : x1 + 2 * side]
    return resize(pad.astype(np.float32), (size, size), order=1, anti_aliasing=True) > 0.5


@functools.lru_cache(maxsize=4)
def lung_mask_library(size: int = 128) -> MaskLibrary:
    """The lung masks the anatomy is warped onto (see the module docstring), cached per ``size``.

    Reads torchxrayvision's ``semantic_masks_v7labs_lungs.zip`` when the package is installed (about
    10 s the first time in a process, then kept in a ``.npz`` cache under ``$MEDWAVE_CACHE`` or
    ``~/.cache/medwave``); otherwise 64 deformations of the radiograph's own lung segmentation.
    """
    src = _txv_zip()
    if src is None:
        return _deformed_library(size)
    cache_dir = Path(os.environ.get("MEDWAVE_CACHE", Path.home() / ".cache" / "medwave")).expanduser()
    cache = cache_dir / f"txv_lung_masks_{size}_{src.stat().st_size}.npz"
    if cache.exists():
        try:
            z = np.load(cache, allow_pickle=False)
            masks, names = z["masks"], [str(n) for n in z["names"]]
            return MaskLibrary(masks, names, "torchxrayvision", np.arange(len(names)) % TEST_EVERY == TEST_EVERY - 1)
        except Exception:  # a broken cache is rebuilt
            pass
    masks, names = [], []
    with zipfile.ZipFile(src) as zf:
        for name in sorted(n for n in zf.namelist() if not n.endswith("/")):
            m = _read_small_mask(zf.read(name))
            if m is None or m.mean() < 0.05:
                continue
            lungs = _two_lungs(m)
            if lungs is None:
                continue
            fr = _frame(lungs[0] | lungs[1], size)
            if _two_lungs(fr) is None:
                continue
            masks.append(fr)
            names.append(name.rsplit("/", 1)[-1])
    arr = np.stack(masks)
    try:
        from medwave.utils import atomic_path

        cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, masks=arr, names=np.asarray(names))
    except OSError:
        pass
    return MaskLibrary(arr, names, "torchxrayvision", np.arange(len(names)) % TEST_EVERY == TEST_EVERY - 1)


def _deformed_library(size: int, n: int = 64) -> MaskLibrary:
    """Fallback: smooth random deformations of the radiograph's own lung segmentation."""
    from scipy import ndimage as ndi

    from medwave.gaze.synthetic import lung_regions, sample_radiograph

    base = lung_regions(sample_radiograph(size))["lungs"].astype(np.float32)
    rng = np.random.default_rng(12345)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    out = []
    for _ in range(n):
        d = [ndi.gaussian_filter(rng.normal(0, 1, (size, size)), size / 8) for _ in range(2)]
        d = [v / (np.abs(v).max() + 1e-9) * 0.06 * size for v in d]
        sx, sy = rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.15)
        cx = cy = (size - 1) / 2
        src_x = (xx - cx) / sx + cx + d[0]
        src_y = (yy - cy) / sy + cy + d[1]
        out.append(ndi.map_coordinates(base, [src_y, src_x], order=1) > 0.5)
    masks = np.stack(out)
    return MaskLibrary(masks, [f"deformed_{i:02d}" for i in range(n)], "deformed",
                       np.arange(n) % TEST_EVERY == TEST_EVERY - 1)


def zones_from_lungs(right: np.ndarray, left: np.ndarray) -> dict[str, np.ndarray]:
    """Zones of two lung masks: upper/middle/lower thirds of each lung's height, the cardiac
    silhouette (an ellipse placed from the lung geometry, outside the lungs) and ``lungs``."""
    h, w = right.shape
    out: dict[str, np.ndarray] = {}
    for side, m in (("right", right), ("left", left)):
        rows = np.nonzero(m.any(axis=1))[0]
        cuts = np.linspace(rows.min(), rows.max() + 1, 4).round().astype(int)
        for name, (a, b) in zip(("upper", "middle", "lower"), zip(cuts[:-1], cuts[1:])):
            z = np.zeros_like(m)
            z[a:b] = m[a:b]
            out[f"{side}_{name}"] = z
    both = right | left
    out["lungs"] = both
    out["cardiac"] = _heart_ellipse(right, left, 1.0) & ~both
    return out


def _heart_geometry(right: np.ndarray, left: np.ndarray) -> tuple[float, float, float, float]:
    both = right | left
    rows = np.nonzero(both.any(axis=1))[0]
    top, bot = rows.min(), rows.max()
    xr, xl = np.nonzero(right)[1].mean(), np.nonzero(left)[1].mean()
    sep = xl - xr
    return (xr + xl) / 2 + 0.25 * sep, top + 0.8 * (bot - top), 0.36 * sep, 0.17 * (bot - top)


def _heart_ellipse(right: np.ndarray, left: np.ndarray, widen: float) -> np.ndarray:
    cx, cy, ax, ay = _heart_geometry(right, left)
    h, w = right.shape
    yy, xx = np.mgrid[0:h, 0:w]
    return ((xx - cx) / (ax * widen)) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0


def _landmarks(m: np.ndarray, n_rays: int = 16) -> np.ndarray:
    """Centroid and the farthest mask pixel along ``n_rays`` rays from it, as ``(x, y)``."""
    ys, xs = np.nonzero(m)
    c = np.array([xs.mean(), ys.mean()])
    pts = [c]
    h, w = m.shape
    r = np.arange(0, max(h, w), 0.5)
    for a in np.linspace(0, 2 * np.pi, n_rays, endpoint=False):
        px, py = c[0] + r * np.cos(a), c[1] + r * np.sin(a)
        ok = (px >= 0) & (px < w) & (py >= 0) & (py < h)
        px, py = px[ok], py[ok]
        inside = m[py.astype(int), px.astype(int)]
        j = np.nonzero(inside)[0]
        pts.append(np.array([px[j.max()], py[j.max()]]) if len(j) else c)
    return np.stack(pts)


def _tps_field(src_r: np.ndarray, src_l: np.ndarray, dst_r: np.ndarray, dst_l: np.ndarray) -> np.ndarray:
    """Backward map ``(S, S, 2)`` (x, y source pixel of every target pixel) of a thin-plate spline
    taking the target lungs' landmarks onto the source lungs'."""
    from scipy.interpolate import RBFInterpolator

    s = src_r.shape[0]
    frame = np.array([[0, 0], [s - 1, 0], [0, s - 1], [s - 1, s - 1], [(s - 1) / 2, 0], [(s - 1) / 2, s - 1],
                      [0, (s - 1) / 2], [s - 1, (s - 1) / 2]], dtype=np.float64)
    dst = np.concatenate([_landmarks(dst_r), _landmarks(dst_l), frame])
    src = np.concatenate([_landmarks(src_r), _landmarks(src_l), frame])
    rbf = RBFInterpolator(dst, src, kernel="thin_plate_spline", smoothing=1.0)
    g = 32
    c = np.linspace(0, s - 1, g)
    gy, gx = np.meshgrid(c, c, indexing="ij")
    coarse = rbf(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(g, g, 2)
    t = torch.from_numpy(coarse.transpose(2, 0, 1)[None]).float()
    fine = torch.nn.functional.interpolate(t, size=(s, s), mode="bilinear", align_corners=True)[0]
    return fine.numpy().transpose(1, 2, 0)


# ------------------------------------------------------------------------------------- cases
@dataclass
class Finding:
    """One rendered finding: its ``kind``, ``zone``, centre ``(x, y)`` and parameters."""

    kind: str
    zone: str
    center: tuple[float, float]
    params: dict[str, float] = field(default_factory=dict)


@dataclass
class Case:
    """One image + sentence: the anatomy (mask index), the named finding (or None for a normal
    sentence), the unmentioned findings, the view and the readers' seed."""

    mask_index: int
    sentence: str
    target: Optional[Finding]
    distractors: list[Finding]
    view: dict[str, float]
    noise_seed: int
    reader_seed: int
    normal: bool = False


def _zone_phrase(rng: np.random.Generator, zone: str) -> str:
    from medwave.gaze.synthetic import REGION_PHRASES

    ps = [p for p in REGION_PHRASES[zone] if "costophrenic" not in p]
    return ps[int(rng.integers(len(ps)))]


def _mirror_zone(zone: str) -> str:
    side, level = zone.split("_")
    return f"{'left' if side == 'right' else 'right'}_{level}"


def _pick_point(rng: np.random.Generator, mask: np.ndarray, erode: int = 0) -> tuple[float, float]:
    from scipy import ndimage as ndi

    m = ndi.binary_erosion(mask, iterations=erode) if erode else mask
    if not m.any():
        m = mask
    ys, xs = np.nonzero(m)
    i = int(rng.integers(len(xs)))
    return float(xs[i] + rng.uniform(-0.5, 0.5)), float(ys[i] + rng.uniform(-0.5, 0.5))


def _make_finding(rng: np.random.Generator, kind: str, zone: str, zones: dict[str, np.ndarray], u: float) -> Finding:
    if kind == "nodule":
        r = float(rng.uniform(2.0, 5.5) * u)
        c = _pick_point(rng, zones[zone], erode=max(1, int(round(r))))
        return Finding(kind, zone, c, {"radius": r, "contrast": float(rng.uniform(0.12, 0.35))})
    if kind == "opacity":
        c = _pick_point(rng, zones[zone], erode=max(1, int(round(3 * u))))
        nb = int(rng.integers(3, 7))
        blobs = [(float(c[0] + rng.normal(0, 4 * u)), float(c[1] + rng.normal(0, 4 * u)), float(rng.uniform(2.5, 5) * u))
                 for _ in range(nb)]
        p = {"contrast": float(rng.uniform(0.12, 0.30)), "noise_seed": float(rng.integers(2**31 - 1))}
        for i, (bx, by, bs) in enumerate(blobs):
            p[f"b{i}"] = bx
            p[f"b{i}y"] = by
            p[f"b{i}s"] = bs
        p["n"] = float(nb)
        return Finding(kind, zone, c, p)
    if kind == "effusion":
        m = zones[zone.split("_")[0] + "_lower"] | zones[zone.split("_")[0] + "_middle"]
        return Finding(kind, zone, _centroid(m), {"level": float(rng.uniform(0.15, 0.35)),
                                                  "meniscus": float(rng.uniform(0.04, 0.12)),
                                                  "contrast": float(rng.uniform(0.25, 0.45))})
    if kind == "cardiomegaly":
        return Finding(kind, "cardiac", _centroid(zones["cardiac"]), {"widen": float(rng.uniform(1.25, 1.5)),
                                                                      "contrast": float(rng.uniform(0.15, 0.30))})
    raise ValueError(f"unknown finding kind {kind!r}")


def _centroid(m: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(m)
    return float(xs.mean()), float(ys.mean())


def _render_finding(f: Finding, anat: dict[str, np.ndarray], right: np.ndarray, left: np.ndarray,
                    u: float) -> tuple[np.ndarray, np.ndarray]:
    """Profile in ``[0, 1]`` ``(S, S)`` and the finding's mask."""
    from scipy import ndimage as ndi

    s = right.shape[0]
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float64)
    p = f.params
    if f.kind == "nodule":
        d = np.hypot(xx - f.center[0], yy - f.center[1])
        prof = 1.0 / (1.0 + np.exp(-(p["radius"] - d) / (0.35 * u)))
        return prof, d <= max(p["radius"], 1.5 * u)
    if f.kind == "opacity":
        prof = np.zeros((s, s))
        for i in range(int(p["n"])):
            prof = np.maximum(prof, np.exp(-0.5 * ((xx - p[f"b{i}"]) ** 2 + (yy - p[f"b{i}y"]) ** 2) / p[f"b{i}s"] ** 2))
        noise = ndi.gaussian_filter(np.random.default_rng(int(p["noise_seed"])).random((s, s)), 1.5 * u)
        noise = (noise - noise.min()) / (np.ptp(noise) + 1e-9)
        lungs = ndi.gaussian_filter(anat["lungs"].astype(np.float64), 1.0 * u)
        prof = prof * (0.55 + 0.45 * noise) * lungs
        prof = prof / max(prof.max(), 1e-9)
        return prof, prof > 0.35
    if f.kind == "effusion":
        side = f.zone.split("_")[0]
        lung = right if side == "right" else left
        rows = np.nonzero(lung.any(1))[0]
        top, bot = rows.min(), rows.max()
        level = bot - p["level"] * (bot - top)
        cols = np.nonzero(lung.any(0))[0]
        medial = cols.max() if side == "right" else cols.min()
        width = max(np.ptp(cols), 1)
        surface = level - p["meniscus"] * (bot - top) * np.abs(xx - medial) / width
        inside = ndi.binary_dilation(lung, iterations=max(1, int(round(2 * u))))
        prof = (1.0 / (1.0 + np.exp(-(yy - surface) / (1.2 * u)))) * inside
        prof = ndi.gaussian_filter(prof, 0.7 * u)
        return prof, (prof > 0.5) & lung
    if f.kind == "cardiomegaly":
        cx, cy, ax, ay = _heart_geometry(right, left)
        r = np.sqrt(((xx - cx) / (ax * p["widen"])) ** 2 + ((yy - cy) / ay) ** 2)
        prof = 1.0 / (1.0 + np.exp(-(1.0 - r) / 0.06))
        return prof, r <= 1.0
    raise ValueError(f"unknown finding kind {f.kind!r}")


def read_case(
    rng: np.random.Generator,
    target_mask: np.ndarray,
    anat: dict[str, np.ndarray],
    target: Optional[Finding],
    *,
    n_range: tuple[int, int] = (8, 16),
    p_compare: float = 0.6,
) -> tuple[np.ndarray, np.ndarray]:
    """One reader's scanpath ``(N, 2)`` ``(x, y)`` and fixation durations ``(N,)`` (seconds).

    Args:
        rng: The reader's random generator.
        target_mask: Mask of what the sentence is about (the finding, or both lungs when normal).
        anat: Zones (:func:`zones_from_lungs`).
        target: The named finding, or None for a normal sentence.
        n_range: Range of the number of fixations.
        p_compare: Probability of an excursion to the other side.
    """
    h, w = target_mask.shape
    n = int(rng.integers(n_range[0], n_range[1] + 1))
    if target is None:  # normal sentence: sweep both lungs, zone by zone
        right_first = rng.random() < 0.5
        alternate = rng.random() < 0.5
        sides = ["right", "left"] if right_first else ["left", "right"]
        levels = ["upper", "middle", "lower"]
        order = [f"{sd}_{lv}" for lv in levels for sd in sides] if alternate else [f"{sd}_{lv}" for sd in sides for lv in levels]
        per = np.ones(6, dtype=int)
        for j in rng.choice(6, size=max(0, n - 6), replace=True):
            per[j] += 1
        pts = [_pick_point(rng, anat[z]) for z, m in zip(order, per) for _ in range(m)]
        dur = rng.uniform(0.15, 0.35, size=len(pts))
        return np.asarray(pts, dtype=np.float64), dur
    ys, xs = np.nonzero(target_mask)
    c = np.array([xs.mean(), ys.mean()]) if target.kind != "nodule" else np.asarray(target.center)

    def on_finding(m: int) -> list[np.ndarray]:
        if target.kind == "nodule":
            sd = max(0.6 * target.params["radius"], 1.2 * h / 128)
            return [c + rng.normal(0, sd, 2) for _ in range(m)]
        idx = rng.integers(len(xs), size=m)
        return [np.array([xs[i], ys[i]], dtype=np.float64) + rng.uniform(-0.5, 0.5, 2) for i in idx]

    start = np.array(_pick_point(rng, anat["lungs"]))
    lead_in = [start + rng.uniform(0.4, 0.7) * (c - start)] if rng.random() < 0.6 else []
    n_compare = int(rng.integers(1, 3)) if rng.random() < p_compare else 0
    n_cluster = max(3, n - len(lead_in) - n_compare)
    cluster = on_finding(n_cluster)
    excursion = []
    if n_compare:
        mid = 0.5 * (_centroid(anat["right_middle"])[0] + _centroid(anat["left_middle"])[0])
        mirror = np.array([2 * mid - c[0], c[1]])
        other = anat["lungs"] if target.kind != "cardiomegaly" else anat["right_lower"]
        oy, ox = np.nonzero(other)
        j = int(np.argmin((ox - mirror[0]) ** 2 + (oy - mirror[1]) ** 2))
        near = np.array([ox[j], oy[j]], dtype=np.float64)
        excursion = [near + rng.normal(0, 2.0 * h / 128, 2) for _ in range(n_compare)]
    cut = int(rng.integers(1, len(cluster))) if excursion else len(cluster)
    seq = lead_in + cluster[:cut] + excursion + cluster[cut:]
    dur = np.concatenate([rng.uniform(0.1, 0.2, len(lead_in)), rng.uniform(0.2, 0.6, cut),
                          rng.uniform(0.15, 0.3, len(excursion)), rng.uniform(0.2, 0.6, len(cluster) - cut)])
    pts = np.asarray(seq, dtype=np.float64)
    pts[:, 0] = np.clip(pts[:, 0], 0, w - 1)
    pts[:, 1] = np.clip(pts[:, 1], 0, h - 1)
    return pts, dur


# ----------------------------------------------------------------------------------- dataset
class FindingGaze(torch.utils.data.Dataset):
    """The image-grounded synthetic set (see the module docstring). Items are dicts:

    ``image`` ``(1, S, S)`` float32 in ``[0, 1]``; ``sentence``; ``points`` ``(K, 2)`` float32 (the
    scanpath resampled to K, pixels of the S grid); ``fixations`` ``(N, 2)`` and ``durations`` ``(N,)``
    (the full scanpath); ``finding_mask`` ``(S, S)`` bool (the named finding, both lungs for a normal
    sentence); ``distractor_mask`` (the unmentioned findings); ``kind`` (finding kind or ``"normal"``);
    ``ambiguous`` (a distractor of the named kind is visible);
    ``zone``; ``mask_index``. Rendering is deterministic per index.
    """

    def __init__(self, cases: list[Case], library: MaskLibrary, *, image_size: int, k: int, split: str) -> None:
        self.cases, self.library = cases, library
        self.image_size, self.k, self.split = int(image_size), int(k), split
        self._fields: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.cases)

    def _source(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _source(self.image_size)

    def anatomy(self, mask_index: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """``(right, left, zones)`` of a library mask."""
        return _anatomy(self.library, mask_index)

    def _warped(self, mask_index: int) -> np.ndarray:
        if mask_index not in self._fields:
            img, sr, sl = self._source()
            right, left, _ = self.anatomy(mask_index)
            fld = _tps_field(sr, sl, right, left)
            s = self.image_size
            grid = torch.from_numpy((fld + 0.5) / s * 2 - 1).float()[None]
            out = torch.nn.functional.grid_sample(torch.from_numpy(np.array(img))[None, None], grid, mode="bilinear",
                                                  padding_mode="border", align_corners=False)[0, 0].numpy()
            if len(self._fields) > 1024:
                self._fields.clear()
            self._fields[mask_index] = out
        return self._fields[mask_index]

    def render_case(self, index: int) -> dict[str, Any]:
        """Image, finding/distractor masks and zones of case ``index`` before the view transform."""
        case = self.cases[index]
        right, left, anat = self.anatomy(case.mask_index)
        img = self._warped(case.mask_index).astype(np.float64)
        u = self.image_size / 128.0
        tmask = anat["lungs"].copy() if case.target is None else np.zeros_like(right)
        dmask = np.zeros_like(right)
        for f, is_target in [(case.target, True)] * (case.target is not None) + [(d, False) for d in case.distractors]:
            prof, m = _render_finding(f, anat, right, left, u)
            img = 1.0 - (1.0 - img) * (1.0 - f.params["contrast"] * prof)
            if is_target:
                tmask |= m
            else:
                dmask |= m
        return {"image": img, "finding_mask": tmask, "distractor_mask": dmask, "zones": anat}

    def _view(self, case: Case) -> np.ndarray:
        c, s = math.cos(case.view["angle"]), math.sin(case.view["angle"])
        a = case.view["scale"] * np.array([[c, -s], [s, c]])
        return np.concatenate([a, np.array([[case.view["dx"]], [case.view["dy"]]])], axis=1)

    def _apply_view(self, arrays: list[np.ndarray], fwd: np.ndarray, modes: list[str]) -> list[torch.Tensor]:
        a, t = fwd[:, :2], fwd[:, 2]
        inv = np.linalg.inv(a)
        theta = torch.tensor(np.concatenate([inv, (-inv @ t)[:, None]], 1), dtype=torch.float32)[None]
        s = self.image_size
        grid = torch.nn.functional.affine_grid(theta, [1, 1, s, s], align_corners=False)
        out = []
        for arr, mode in zip(arrays, modes):
            x = torch.from_numpy(np.asarray(arr, dtype=np.float32))[None, None]
            out.append(torch.nn.functional.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)[0, 0])
        return out

    def _map_points(self, pts: np.ndarray, fwd: np.ndarray) -> np.ndarray:
        s = self.image_size
        n = (pts + 0.5) / s * 2.0 - 1.0
        m = n @ fwd[:, :2].T + fwd[:, 2]
        return ((m + 1.0) / 2.0 * s - 0.5).astype(np.float32)

    def scanpath(self, index: int, reader: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The scanpath (canonical frame) of reader ``reader`` of case ``index`` (0 = the data set's own)."""
        case = self.cases[index]
        rc = self.render_case(index)
        rng = np.random.default_rng([case.reader_seed, reader])
        return read_case(rng, rc["finding_mask"], rc["zones"], case.target)

    def other_reader(self, index: int, reader: int = 1) -> dict[str, torch.Tensor]:
        """Another reader's reading of case ``index`` (``points`` and ``fixations`` in the item's frame)."""
        from medwave.gaze.io import resample_points

        fwd = self._view(self.cases[index])
        fix, dur = self.scanpath(index, reader)
        return {"points": torch.from_numpy(self._map_points(resample_points(fix, self.k), fwd)),
                "fixations": torch.from_numpy(self._map_points(fix, fwd)), "durations": torch.from_numpy(dur)}

    def __getitem__(self, index: int) -> dict[str, Any]:
        from medwave.gaze.io import resample_points

        case = self.cases[index]
        rc = self.render_case(index)
        fix, dur = read_case(np.random.default_rng([case.reader_seed, 0]), rc["finding_mask"], rc["zones"], case.target)
        fwd = self._view(case)
        img, fm, dm = self._apply_view([rc["image"], rc["finding_mask"], rc["distractor_mask"]], fwd,
                                       ["bilinear", "nearest", "nearest"])
        img = img.clamp(0, 1) ** case.view["gamma"]
        g = torch.Generator().manual_seed(case.noise_seed)
        img = (img + 0.02 * torch.randn(img.shape, generator=g)).clamp(0, 1)
        return {
            "image": img[None].float(),
            "sentence": case.sentence,
            "points": torch.from_numpy(self._map_points(resample_points(fix, self.k), fwd)),
            "fixations": torch.from_numpy(self._map_points(fix, fwd)),
            "durations": torch.from_numpy(dur),
            "finding_mask": fm > 0.5,
            "distractor_mask": dm > 0.5,
            "kind": "normal" if case.target is None else case.target.kind,
            "ambiguous": case.target is not None and any(d.kind == case.target.kind for d in case.distractors),
            "zone": "lungs" if case.target is None else case.target.zone,
            "mask_index": case.mask_index,
        }


@functools.lru_cache(maxsize=4)
def _source(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from medwave.gaze.synthetic import lung_regions, sample_radiograph

    img = np.asarray(sample_radiograph(size), dtype=np.float32)
    z = lung_regions(img)
    right = z["right_upper"] | z["right_middle"] | z["right_lower"]
    left = z["left_upper"] | z["left_middle"] | z["left_lower"]
    return img, right, left


@functools.lru_cache(maxsize=1024)
def _anatomy_cached(key: tuple[int, int, str], mask_index: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    lib = lung_mask_library(key[0])
    lungs = _two_lungs(lib.masks[mask_index])
    if lungs is None:  # pragma: no cover - the library keeps two-lung masks only
        raise ValueError(f"lung mask {lib.names[mask_index]} does not have two lung fields")
    right, left = lungs
    return right, left, zones_from_lungs(right, left)


def _anatomy(lib: MaskLibrary, mask_index: int):
    return _anatomy_cached((lib.masks.shape[1], len(lib.names), lib.source), int(mask_index))


def make_finding_gaze(
    n: int,
    *,
    seed: int = 0,
    split: Literal["train", "test"] = "train",
    k: int = 8,
    image_size: int = 128,
    p_normal: float = 0.2,
    p_distractor: float = 0.5,
    p_same_kind: float = 0.5,
    augment: bool = True,
) -> FindingGaze:
    """Generate ``n`` image-grounded (radiograph, sentence, scanpath) cases (see the module docstring).

    Args:
        n: Number of cases.
        seed: Seed; the same (seed, split) gives the same cases.
        split: ``"train"`` or ``"test"``: disjoint anatomy (lung masks) and random streams.
        k: Points per target (the scanpath resampled to ``k``).
        image_size: Side of the square images (findings scale with it; 128 is the reference).
        p_normal: Fraction of normal sentences.
        p_distractor: Probability of an unmentioned finding beside the named one.
        p_same_kind: Probability that the distractor is of the named finding's kind.
        augment: A random view per case (scale 0.9-1.1, rotation +-6 deg, shift +-6 %, gamma 0.75-1.35, noise).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    lib = lung_mask_library(image_size)
    pool = lib.indices(split)
    rng = np.random.default_rng([int(seed), 0 if split == "train" else 1])
    u = image_size / 128.0
    kinds, kp = list(_KIND_P), np.array(list(_KIND_P.values()))
    cases = []
    for _ in range(n):
        mi = int(pool[rng.integers(len(pool))])
        _, _, anat = _anatomy(lib, mi)
        view = {"scale": 1.0, "angle": 0.0, "dx": 0.0, "dy": 0.0, "gamma": 1.0}
        if augment:
            view = {"scale": float(rng.uniform(0.9, 1.1)), "angle": float(np.deg2rad(rng.uniform(-6, 6))),
                    "dx": float(rng.uniform(-0.06, 0.06)), "dy": float(rng.uniform(-0.06, 0.06)),
                    "gamma": float(np.exp(rng.uniform(np.log(0.75), np.log(1.35))))}
        noise_seed, reader_seed = int(rng.integers(2**31 - 1)), int(rng.integers(2**31 - 1))
        if rng.random() < p_normal:
            sentence = NORMAL_SENTENCES[int(rng.integers(len(NORMAL_SENTENCES)))]
            cases.append(Case(mi, sentence, None, [], view, noise_seed, reader_seed, normal=True))
            continue
        kind = kinds[int(rng.choice(len(kinds), p=kp / kp.sum()))]
        zone = "cardiac" if kind == "cardiomegaly" else _LUNG_ZONES[int(rng.integers(6))]
        if kind == "effusion":
            zone = zone.split("_")[0] + "_lower"
        target = _make_finding(rng, kind, zone, anat, u)
        tpl = FINDING_SENTENCES[kind][int(rng.integers(len(FINDING_SENTENCES[kind])))]
        side = zone.split("_")[0]
        sentence = tpl.format(region=_zone_phrase(rng, zone) if kind in ("nodule", "opacity") else "",
                              side=side, Side=side.capitalize())
        distractors = []
        if rng.random() < p_distractor:
            same = rng.random() < p_same_kind and kind != "cardiomegaly"
            dkind = kind if same else [kd for kd in ("nodule", "opacity", "effusion") if kd != kind][int(rng.integers(2))]
            if dkind == "effusion":
                dzone = _mirror_zone(zone.split("_")[0] + "_lower") if kind != "cardiomegaly" else \
                    ["right_lower", "left_lower"][int(rng.integers(2))]
                if kind == "effusion":
                    dzone = _mirror_zone(zone)
            elif same and rng.random() < 0.5 and zone != "cardiac":
                dzone = _mirror_zone(zone)
            else:
                dzone = [z for z in _LUNG_ZONES if z != zone][int(rng.integers(5))]
            distractors.append(_make_finding(rng, dkind, dzone, anat, u))
        cases.append(Case(mi, sentence, target, distractors, view, noise_seed, reader_seed))
    return FindingGaze(cases, lib, image_size=image_size, k=k, split=split)
