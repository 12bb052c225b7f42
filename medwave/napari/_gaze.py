"""Gaze scanpaths as napari layers (numbered points + path) and back to medwave's gaze CSV.

Gaze CSVs give ``(x, y)`` image pixels (x = column, y = row); napari 2D layers are ``(row, col)``,
so a fixation becomes the point ``(y, x)`` and overlays the radiograph shown with the same ``scale``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

__all__ = ["gaze_to_layer_data", "get_gaze_reader", "read_gaze_layers", "write_gaze_points", "points_to_gaze"]

LayerData = tuple[Any, dict, str]

_X_NAMES = {"x", "x_position", "x_original"}
_Y_NAMES = {"y", "y_position", "y_original"}


def gaze_to_layer_data(
    points_xy: np.ndarray,
    *,
    name: str = "gaze",
    durations: Optional[np.ndarray] = None,
    times: Optional[np.ndarray] = None,
    sentence: Optional[str] = None,
    scale: Sequence[float] = (1.0, 1.0),
    translate: Sequence[float] = (0.0, 0.0),
    color: str = "#ffd400",
    base_size: float = 24.0,
) -> list[LayerData]:
    """A numbered scanpath: points labelled 1..N (size grows with fixation duration) and the path joining them.

    Args:
        points_xy: ``(N, 2)`` ``(x, y)`` pixel positions in temporal order.
        name: Layer name prefix.
        durations: Optional fixation durations (s), shown as point size.
        times: Optional start times (s), kept as a feature.
        sentence: The report sentence, kept in the metadata and shown in the layer name tooltip.
        scale: The ``(row, col)`` scale of the radiograph layer.
        translate: Its translate.
        color: Point and path colour.
        base_size: Point size (pixels of the image) for an average fixation.

    Returns:
        ``[(points, kwargs, "points"), (path, kwargs, "shapes")]`` (the path only for 2+ points).
    """
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    rc = pts[:, ::-1].copy()
    n = len(rc)
    if durations is not None and np.all(np.isfinite(durations)) and np.mean(durations) > 0:
        size = base_size * np.sqrt(np.asarray(durations, np.float64) / np.mean(durations))
    else:
        size = np.full(n, base_size)
    features = {"order": np.arange(1, n + 1)}
    if durations is not None:
        features["duration"] = np.asarray(durations, np.float64)
    if times is not None:
        features["time"] = np.asarray(times, np.float64)
    meta = {"sentence": sentence}
    pts_kw = {
        "name": f"{name} points",
        "features": features,
        "size": np.maximum(size, 2.0),
        "face_color": color,
        "border_color": "black",
        "border_width": 0.1,
        "opacity": 0.85,
        "text": {"string": "{order}", "color": "white", "size": 10, "anchor": "upper_left"},
        "scale": tuple(map(float, scale)),
        "translate": tuple(map(float, translate)),
        "metadata": meta,
    }
    out: list[LayerData] = [(rc, pts_kw, "points")]
    if n >= 2:
        out.append(
            (
                [rc],
                {
                    "name": f"{name} scanpath",
                    "shape_type": "path",
                    "edge_color": color,
                    "edge_width": max(base_size / 8.0, 1.0),
                    "opacity": 0.7,
                    "scale": tuple(map(float, scale)),
                    "translate": tuple(map(float, translate)),
                    "metadata": dict(meta),
                },
                "shapes",
            )
        )
    return out


def _looks_like_gaze_csv(path: str) -> bool:
    import os
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a pipe or device would block the viewer's reader probe
            return False
        with open(path, newline="", encoding="utf-8-sig") as fh:
            for line in fh:
                if line.startswith("#") or not line.strip():
                    continue
                header = {h.strip().lower() for h in next(csv.reader([line]))}
                return bool(header & _X_NAMES) and bool(header & _Y_NAMES)
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return False


def get_gaze_reader(path: Union[str, Sequence[str]]) -> Optional[Callable]:
    """napari reader hook: gaze CSVs (medwave, REFLACX ``x_position``, EGD-CXR ``X_ORIGINAL`` columns)."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if paths and all(str(p).lower().endswith(".csv") and _looks_like_gaze_csv(str(p)) for p in paths):
        return read_gaze_layers
    return None


def read_gaze_layers(path: Union[str, Sequence[str]]) -> list[LayerData]:
    """Read gaze CSVs (:func:`medwave.gaze.io.read_gaze_csv`) into numbered scanpath layers."""
    from medwave.gaze.io import read_gaze_csv

    paths = [path] if isinstance(path, (str, Path)) else list(path)
    out: list[LayerData] = []
    for p in paths:
        g = read_gaze_csv(p)
        layers = gaze_to_layer_data(
            g["points"], name=Path(p).stem, durations=g["durations"], times=g["times"], sentence=g["sentence"]
        )
        layers[0][1]["metadata"]["path"] = str(p)
        out.extend(layers)
    return out


def points_to_gaze(data: Any, meta: dict) -> dict[str, Any]:
    """``{"points" (x, y), "durations", "times", "sentence"}`` of a gaze points layer, in scanpath order."""
    rc = np.asarray(data, dtype=np.float64).reshape(-1, 2)
    feats = meta.get("features")
    cols = feats.columns if hasattr(feats, "columns") else (feats if feats is not None else {})

    def col(name: str) -> Optional[np.ndarray]:
        if feats is not None and name in cols:
            v = np.asarray(feats[name], dtype=np.float64)
            return v if len(v) == len(rc) else None
        return None

    order = col("order")
    idx = np.argsort(np.where(np.isfinite(order), order, np.inf), kind="stable") if order is not None else None
    if idx is not None:
        rc = rc[idx]
    durations, times = col("duration"), col("time")
    if idx is not None:
        durations = durations[idx] if durations is not None else None
        times = times[idx] if times is not None else None
    if durations is not None and not np.all(np.isfinite(durations)):
        durations = None
    if times is not None and not np.all(np.isfinite(times)):
        times = None
    return {
        "points": rc[:, ::-1],
        "durations": durations,
        "times": times,
        "sentence": (meta.get("metadata") or {}).get("sentence"),
    }


def write_gaze_points(path: str, data: Any, meta: dict) -> list[str]:
    """napari writer: a points layer to medwave's gaze CSV (``index,x,y,duration,time`` + sentence)."""
    from medwave.gaze.io import write_gaze_csv

    p = Path(path)
    if p.suffix.lower() != ".csv":
        p = p.with_name(p.name + ".csv")
    g = points_to_gaze(data, meta)
    return [str(write_gaze_csv(p, g["points"], durations=g["durations"], times=g["times"], sentence=g["sentence"]))]
