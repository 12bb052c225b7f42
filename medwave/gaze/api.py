"""``predict_gaze``: where a radiologist looks on a chest radiograph while dictating a sentence.

Example:
    >>> import medwave
    >>> from pydicom.data import get_testdata_file
    >>> res = medwave.predict_gaze(get_testdata_file("RG1_UNCR.dcm"), "Opacity in the left lung base.")
    >>> res.points.shape, res.heatmap.shape           # one sentence: its result's attributes directly
    ((8, 2), (1955, 1841))
    >>> len(res), res[0].sentence
    (1, 'Opacity in the left lung base.')
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch

from medwave.utils import atomic_write_bytes, check_output_path

__all__ = ["GazeResult", "GazePrediction", "predict_gaze", "default_weights_path", "load_gem", "load_gem_with_meta",
           "render_overlay", "save_summary"]

PathLike = Union[str, os.PathLike]
ImageLike = Union[PathLike, np.ndarray, torch.Tensor]

#: Heatmap Gaussian width as a fraction of the image's longer side.
HEATMAP_SIGMA = 0.04


def default_weights_path() -> Path:
    """The shipped weights: ``medwave/gaze/weights/gem_synthetic.pt`` (see its README)."""
    return Path(__file__).resolve().parent / "weights" / "gem_synthetic.pt"


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime: float, device: str):
    from medwave.networks.checkpoint import load_network
    from medwave.networks.gem import GEM

    net, meta = load_network(GEM, path, map_location="cpu", what="GEM checkpoint",
                             hint="Train one with `medwave train-gaze`.")
    return net.to(device).eval(), meta


def load_gem_with_meta(weights: Optional[PathLike] = None, *, device: str = "cpu") -> tuple[Any, dict]:
    """:func:`load_gem` and the checkpoint's ``meta`` (``image_size``, validation scores...)."""
    p = Path(weights).expanduser() if weights is not None else default_weights_path()
    if not p.exists() and not p.is_symlink():
        hint = "" if weights is not None else " (the shipped weights are missing: reinstall medwave or train with `medwave train-gaze`)"
        raise FileNotFoundError(f"{p}: no such GEM weights file{hint}. Pass --weights / weights= a checkpoint from `medwave train-gaze`.")
    from medwave.io.guard import check_input_file

    check_input_file(p, what="GEM weights file")
    return _cached(str(p.resolve()), p.stat().st_mtime, str(device))


def load_gem(weights: Optional[PathLike] = None, *, device: str = "cpu"):
    """Load (and cache) a GEM checkpoint; ``None`` = the shipped weights.

    Raises:
        FileNotFoundError: The weights file does not exist.
        ValueError: It is not a GEM checkpoint.
    """
    return load_gem_with_meta(weights, device=device)[0]


@dataclass
class GazeResult:
    """Estimated gaze for one (radiograph, sentence) pair.

    Attributes:
        points: ``(K, 2)`` float64 ``(x, y)`` positions in pixels of the input image, in scanpath order.
        heatmap: ``(H, W)`` float32 fixation density (sums to 1): Gaussians of ``HEATMAP_SIGMA`` x
            the longer side at the points.
        correlation: The model's low-resolution correlation map (logits) ``(h, w)``.
        sentence: The sentence.
        image: The input radiograph as used (2D, ``[0, 1]``).
        meta: Weights path, model input size, sigma.
    """

    points: np.ndarray
    heatmap: np.ndarray
    correlation: np.ndarray
    sentence: str
    image: np.ndarray = field(repr=False)
    meta: dict[str, Any] = field(default_factory=dict)

    def save(self, outdir: PathLike, *, prefix: str = "gaze", overwrite: bool = False) -> dict[str, Path]:
        """Write ``{prefix}_points.csv``, ``{prefix}_heatmap.npy``, ``{prefix}_heatmap.png`` and ``{prefix}_overlay.png``.

        Returns:
            The written paths keyed ``points, heatmap_npy, heatmap_png, overlay``.

        Raises:
            FileExistsError: An output exists and ``overwrite`` is False (checked before writing).
        """
        from medwave.gaze.io import save_png, write_gaze_csv

        out = Path(outdir).expanduser()
        names = {
            "points": out / f"{prefix}_points.csv",
            "heatmap_npy": out / f"{prefix}_heatmap.npy",
            "heatmap_png": out / f"{prefix}_heatmap.png",
            "overlay": out / f"{prefix}_overlay.png",
        }
        src = self.meta.get("source")
        for p in names.values():
            check_output_path(p, overwrite=overwrite, inputs=[src] if src else None)
        out.mkdir(parents=True, exist_ok=True)
        write_gaze_csv(names["points"], self.points, sentence=self.sentence, overwrite=True)
        import io as _io

        buf = _io.BytesIO()
        np.save(buf, self.heatmap.astype(np.float32))
        atomic_write_bytes(names["heatmap_npy"], buf.getvalue())
        hm = self.heatmap / max(float(self.heatmap.max()), 1e-30)
        save_png(names["heatmap_png"], hm, overwrite=True)
        save_png(names["overlay"], render_overlay(self.image, self.heatmap, self.points), overwrite=True)
        return names


def _colormap(v: np.ndarray) -> np.ndarray:
    """A black-red-yellow-white ramp for ``v`` in ``[0, 1]`` -> RGB."""
    r = np.clip(3 * v, 0, 1)
    g = np.clip(3 * v - 1, 0, 1)
    b = np.clip(3 * v - 2, 0, 1)
    return np.stack([r, g, b], -1)


def render_overlay(image: np.ndarray, heatmap: np.ndarray, points: np.ndarray, *, alpha: float = 0.55) -> np.ndarray:
    """RGB ``(H, W, 3)`` float image: the radiograph, the heatmap blended on top, the scanpath drawn.

    Points are filled discs (first point green, others cyan) joined by lines in scanpath order.
    """
    from skimage.draw import disk, line

    img = np.clip(np.asarray(image, dtype=np.float64), 0, 1)
    h, w = img.shape
    hm = np.asarray(heatmap, dtype=np.float64)
    hm = hm / hm.max() if hm.max() > 0 else hm
    rgb = np.repeat(img[..., None], 3, -1)
    a = (alpha * hm)[..., None]
    rgb = rgb * (1 - a) + _colormap(hm) * a
    pts = np.asarray(points, dtype=np.float64)
    rad = max(2, int(round(0.008 * max(h, w))))
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
        rr, cc = line(int(round(y0)), int(round(x0)), int(round(y1)), int(round(x1)))
        ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        rgb[rr[ok], cc[ok]] = (0.2, 0.9, 1.0)
    for i, (x, y) in enumerate(pts):
        rr, cc = disk((y, x), rad, shape=(h, w))
        rgb[rr, cc] = (0.1, 1.0, 0.2) if i == 0 else (0.2, 0.9, 1.0)
    return np.clip(rgb, 0, 1)


def _as_image(image: ImageLike) -> tuple[np.ndarray, Optional[str]]:
    """The radiograph as a display image ``(rows, columns)`` in ``[0, 1]``, and its source path.

    Paths are read by :func:`medwave.gaze.io.load_radiograph`; every other form goes through
    :func:`medwave.io.as_image` (the conversion every front door uses): a MONAI MetaTensor ``(1, W, H)`` (x
    first, as ``LoadImage(ensure_channel_first=True)`` gives a DICOM or PNG), an :class:`medwave.io.Image`
    ``(W, H)`` or a nibabel image are transposed to ``(rows, columns)``; plain arrays and tensors are
    ``(rows, columns)`` already (as PIL, scikit-image and pydicom give them).
    """
    from medwave.gaze.io import load_radiograph, radiograph_from_image
    from medwave.io import Image, as_image
    from medwave.io.convert import is_path

    if is_path(image):
        return load_radiograph(image), str(Path(image).expanduser().resolve())
    geometric = isinstance(image, Image) or hasattr(image, "affine")
    if geometric:
        img = as_image(image, name="image")
    else:
        arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        arr = np.squeeze(arr)
        if arr.ndim != 2:
            raise ValueError(f"image must be a 2D radiograph (or a path), got shape {arr.shape}")
        img = as_image(arr, name="image", array_order="zyx")
    out, _ = radiograph_from_image(img, name="image")
    src = img.meta.get("filename_or_obj") or (str(img.path) if img.path is not None else None)
    return out, (str(src) if src else None)


class GazePrediction(Sequence[GazeResult]):
    """What :func:`predict_gaze` returns, always: one :class:`GazeResult` per sentence, in order.

    A sequence (``len``, indexing, iteration, unpacking: ``a, b = predict_gaze(img, [s1, s2])``) with one
    :meth:`save` for all sentences. With a single sentence the result's own attributes are reachable directly
    (``predict_gaze(img, "Opacity.").points`` is ``[0].points``); with several, name the sentence by index.
    """

    def __init__(self, results: Sequence[GazeResult]) -> None:
        self._results = list(results)

    def __len__(self) -> int:
        return len(self._results)

    def __getitem__(self, i):  # type: ignore[override]
        return self._results[i]

    def __repr__(self) -> str:
        return f"GazePrediction({[r.sentence for r in self._results]!r})"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if len(self._results) == 1 and hasattr(self._results[0], name):
            return getattr(self._results[0], name)
        if hasattr(GazeResult, name) or name in GazeResult.__dataclass_fields__:
            raise AttributeError(f"this prediction holds {len(self._results)} sentences; take one first "
                                 f"(result[i].{name}).")
        raise AttributeError(f"'GazePrediction' object has no attribute {name!r}")

    @staticmethod
    def prefixes_for(n: int) -> list[str]:
        """File prefixes of ``n`` sentences: ``gaze`` for one, ``gaze_01``, ``gaze_02``, ... for several."""
        return ["gaze"] if n == 1 else [f"gaze_{i + 1:02d}" for i in range(n)]

    @staticmethod
    def output_paths_for(outdir: PathLike, n: int) -> list[Path]:
        """Every file :meth:`save` writes for ``n`` sentences (a command checks them before any work)."""
        out = Path(outdir).expanduser()
        names = [out / f"{p}_{suffix}" for p in GazePrediction.prefixes_for(n) for suffix in _SUFFIXES]
        return names + [out / "summary.json"]

    def prefixes(self) -> list[str]:
        """File prefixes :meth:`save` uses (see :meth:`prefixes_for`)."""
        return self.prefixes_for(len(self._results))

    def output_paths(self, outdir: PathLike) -> list[Path]:
        """Every file :meth:`save` writes (checked before any is written)."""
        return self.output_paths_for(outdir, len(self._results))

    def save(self, outdir: PathLike, *, overwrite: bool = False) -> dict[str, Any]:
        """Write each sentence's points CSV, heatmap (``.npy``, ``.png``) and overlay, and ``summary.json``.

        Returns:
            ``{"sentences": [files of each sentence (see GazeResult.save)], "summary": path}``.

        Raises:
            FileExistsError: An output exists and ``overwrite`` is False (every output checked before writing).
        """
        out = Path(outdir).expanduser()
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"{out} exists and is not a folder; choose another output folder.")
        srcs = [r.meta.get("source") for r in self._results if r.meta.get("source")]
        for p in self.output_paths(out):
            check_output_path(p, overwrite=overwrite, inputs=srcs or None)
        files = [r.save(out, prefix=p, overwrite=True) for r, p in zip(self._results, self.prefixes())]
        return {"sentences": files, "summary": save_summary(out / "summary.json", self._results, files)}


_SUFFIXES = ("points.csv", "heatmap.npy", "heatmap.png", "overlay.png")


def predict_gaze(
    image: ImageLike,
    sentence: Union[str, Sequence[str]],
    *,
    weights: Optional[PathLike] = None,
    k: int = 8,
    device: str = "cpu",
    seed: Optional[int] = None,
    progress: bool = False,
) -> GazePrediction:
    """Predict the ``k`` gaze points (and a fixation heatmap) for a radiograph and report sentence(s).

    Args:
        image: A radiograph path (DICOM, PNG, JPEG, TIFF; MONOCHROME1 inverted), a 2D array/tensor
            ``(rows, columns)`` (min-max scaled), or a MONAI MetaTensor ``(1, W, H)`` / :class:`medwave.io.Image`
            / nibabel image (x first, read by :func:`medwave.io.as_image`). The same radiograph in any of
            these forms gives the same points. Never modified.
        sentence: One sentence or a list of sentences.
        weights: A checkpoint from ``medwave train-gaze``; default the shipped weights (trained on
            medwave's synthetic set, see ``medwave/gaze/weights/README.md``).
        k: Number of points; must match the weights.
        device: Torch device.
        seed: Unused (inference is deterministic); present so every front door has the same signature.
        progress: Unused (one forward pass); as ``seed``.

    Returns:
        A :class:`GazePrediction`, always (one :class:`GazeResult` per sentence, points in input-image
        pixels); ``.save(outdir)`` writes them all.

    Raises:
        FileNotFoundError: The image or weights do not exist.
        ValueError: Bad image, empty sentence, or ``k`` different from the weights'.
    """
    from skimage.transform import resize

    from medwave.gaze.metrics import render_fixation_map

    from medwave.utils.validate import gaze_options

    k = gaze_options(k=k)["k"]
    sentences = [sentence] if isinstance(sentence, str) else list(sentence)
    if not sentences or any(not str(s).strip() for s in sentences):
        raise ValueError("give a non-empty report sentence (e.g. 'Opacity in the left lung base.')")
    img, src = _as_image(image)
    net, meta = load_gem_with_meta(weights, device=device)
    if net.k != k:
        raise ValueError(f"the weights predict k={net.k} points, not k={k}; pass k={net.k} or other weights.")
    size = int(meta.get("image_size", 128))
    small = resize(img, (size, size), order=1, anti_aliasing=True, preserve_range=True).astype(np.float32)
    x = torch.from_numpy(small)[None, None].to(device).expand(len(sentences), -1, -1, -1)
    with torch.no_grad():
        out = net(x, sentences)
    h, w = img.shape
    sigma = HEATMAP_SIGMA * max(h, w)
    results = []
    for i, s in enumerate(sentences):
        frac = out["points"][i].cpu().double().numpy()
        pts = np.stack([frac[:, 0] * w - 0.5, frac[:, 1] * h - 0.5], 1)
        heat = render_fixation_map(pts, (h, w), sigma=sigma).astype(np.float32)
        results.append(
            GazeResult(
                points=pts,
                heatmap=heat,
                correlation=out["corr"][i, 0].cpu().numpy(),
                sentence=str(s),
                image=img,
                meta={
                    "weights": str(Path(weights).expanduser()) if weights is not None else str(default_weights_path()),
                    "model_input": size,
                    "sigma_px": sigma,
                    "source": src,
                },
            )
        )
    return GazePrediction(results)


def save_summary(path: PathLike, results: Sequence[GazeResult], files: Sequence[dict[str, Path]]) -> Path:
    """Write a JSON summary (sentences, points, written files) atomically."""
    payload = [
        {"sentence": r.sentence, "points": r.points.round(3).tolist(), "files": {k: str(v) for k, v in f.items()}, **r.meta}
        for r, f in zip(results, files)
    ]
    return atomic_write_bytes(path, json.dumps(payload, indent=1).encode("utf-8"))
