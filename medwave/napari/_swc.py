"""SWC morphologies as napari layers (points with radii + branch paths) and back to SWC.

Axis order follows :mod:`medwave.neuron.swc`: stacks are ``(Z, Y, X)`` and SWC coordinates ``x, y, z``,
so a node becomes the point ``(z, y, x)`` and sits on the matching voxel of a stack shown with the same
``scale`` (SWC coordinates are in the stack's physical units; voxel units give scale 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

__all__ = ["swc_branches", "swc_to_layer_data", "points_to_swc", "get_swc_reader", "read_swc_layers", "write_swc_points"]

LayerData = tuple[Any, dict, str]

#: Colours of the standard SWC node types (0 undefined, 1 soma, 2 axon, 3 basal, 4 apical dendrite).
TYPE_COLORS = {0: "#bbbbbb", 1: "#ff3b3b", 2: "#3b8bff", 3: "#39d353", 4: "#ff9f1c"}


def swc_branches(swc: Any) -> list[np.ndarray]:
    """Unbranched pieces of the tree as row-index chains (each starts at a root or branch point)."""
    pidx = swc.parent_index()
    n = len(pidx)
    children: list[list[int]] = [[] for _ in range(n)]
    for c, p in enumerate(pidx):
        if p >= 0:
            children[p].append(c)
    out: list[np.ndarray] = []
    stack = [(r, [r]) for r in np.nonzero(pidx < 0)[0]]
    while stack:
        node, chain = stack.pop()
        kids = children[node]
        while len(kids) == 1:
            node = kids[0]
            chain.append(node)
            kids = children[node]
        if len(chain) > 1:
            out.append(np.asarray(chain))
        for k in kids:
            stack.append((k, [node, k]))
    return out


def swc_to_layer_data(
    swc: Any,
    *,
    name: str = "neuron",
    scale: Sequence[float] = (1.0, 1.0, 1.0),
    translate: Sequence[float] = (0.0, 0.0, 0.0),
    coords_in_voxels: bool = False,
    paths: bool = True,
    color: Optional[str] = None,
) -> list[LayerData]:
    """Layers for an SWC: a points layer (one point per node, size = 2 * radius) and branch paths.

    Args:
        swc: A :class:`medwave.neuron.swc.SWC`.
        name: Layer name prefix.
        scale: The ``(z, y, x)`` scale of the stack the neuron goes with.
        translate: Its ``(z, y, x)`` translate.
        coords_in_voxels: SWC coordinates are voxel indices (as medwave's tracer and synthetic neurons
            write them): the layers then take the stack's ``scale``/``translate`` so they overlay it.
            Otherwise they are physical, and the layers get unit scale and zero translate.
        paths: Also return the shapes layer of branch paths.
        color: One colour for everything (default: colour points by SWC type).

    Returns:
        ``[(points, kwargs, "points"), (paths, kwargs, "shapes")]``; the points layer's metadata keeps
        the SWC comments and its features the ids/types/parents so :func:`points_to_swc` can write it back.
    """
    zyx = swc.xyz[:, ::-1].astype(np.float64)
    radii = swc.radii.astype(np.float64)
    sc = tuple(map(float, scale)) if coords_in_voxels else (1.0, 1.0, 1.0)
    tr = tuple(map(float, translate)) if coords_in_voxels else (0.0, 0.0, 0.0)
    types = swc.nodes[:, 1].astype(int)
    features = {
        "id": swc.ids,
        "type": types,
        "radius": radii,
        "parent": swc.parents,
    }
    face = color or [TYPE_COLORS.get(int(t), "#ff00ff") for t in types]
    size = np.maximum(2.0 * radii, 0.5)
    pts_kw = {
        "name": f"{name} nodes",
        "features": features,
        "size": size,
        "face_color": face,
        "border_width": 0.0,
        "scale": sc,
        "translate": tr,
        "opacity": 0.8,
        "metadata": {"swc_comments": list(swc.comments), "coords_in_voxels": bool(coords_in_voxels)},
        "axis_labels": ("z", "y", "x"),
    }
    out: list[LayerData] = [(zyx, pts_kw, "points")]
    if paths:
        chains = swc_branches(swc)
        if chains:
            shp_kw = {
                "name": f"{name} skeleton",
                "shape_type": "path",
                "edge_color": color or "#ffd400",
                "edge_width": float(max(np.median(radii) * 0.6, 0.3)),
                "scale": sc,
                "translate": tr,
                "axis_labels": ("z", "y", "x"),
            }
            out.append(([zyx[c] for c in chains], shp_kw, "shapes"))
    return out


def points_to_swc(data: Any, meta: dict) -> Any:
    """The SWC a points layer stands for (inverse of :func:`swc_to_layer_data`).

    Node ids, types and parents come from the layer's features (napari keeps them in step when points
    are deleted or added); a node whose parent was deleted becomes a root; added points become roots
    of type 0 with fresh ids. Positions and radii (size / 2) are the layer's current ones, in the same
    units the SWC was read in.
    """
    from medwave.neuron.swc import SWC

    zyx = np.asarray(data, dtype=np.float64).reshape(-1, 3)
    n = len(zyx)
    feats = meta.get("features")
    get = (lambda k: np.asarray(feats[k]) if feats is not None and k in getattr(feats, "columns", feats) else None)
    ids = get("id")
    if ids is None or len(ids) != n:
        ids = np.full(n, np.nan)
    ids = np.asarray(ids, dtype=np.float64)
    types = get("type")
    types = np.zeros(n) if types is None or len(types) != n else np.nan_to_num(np.asarray(types, np.float64))
    parents = get("parent")
    parents = np.full(n, -1.0) if parents is None or len(parents) != n else np.asarray(parents, np.float64)
    missing = ~np.isfinite(ids)
    if missing.any():
        start = (np.nanmax(ids) if (~missing).any() else 0) + 1
        ids[missing] = start + np.arange(int(missing.sum()))
        parents[missing] = -1
        types[missing] = 0
    parents = np.where(np.isfinite(parents), parents, -1)
    parents = np.where(np.isin(parents, ids), parents, -1)
    size = np.asarray(meta.get("size", np.ones(n)), dtype=np.float64).reshape(-1)
    if size.size == 1:
        size = np.full(n, float(size[0]))
    if size.ndim == 1 and size.size == n:
        radii = size / 2.0
    else:  # per-dimension sizes (older napari): take the mean
        radii = np.asarray(size, np.float64).reshape(n, -1).mean(axis=1) / 2.0
    nodes = np.column_stack([ids, types, zyx[:, 2], zyx[:, 1], zyx[:, 0], radii, parents])
    comments = list((meta.get("metadata") or {}).get("swc_comments", []))
    return SWC(nodes, comments)


def get_swc_reader(path: Union[str, Sequence[str]]) -> Optional[Callable]:
    """napari reader hook for ``.swc`` files."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if paths and all(str(p).lower().endswith(".swc") for p in paths):
        return read_swc_layers
    return None


def read_swc_layers(path: Union[str, Sequence[str]]) -> list[LayerData]:
    """Read SWC files into points (radii, SWC type colours) and branch-path layers, ``(z, y, x)`` order."""
    from medwave.neuron.swc import read_swc

    paths = [path] if isinstance(path, (str, Path)) else list(path)
    out: list[LayerData] = []
    for p in paths:
        swc = read_swc(p)
        layers = swc_to_layer_data(swc, name=Path(p).name[: -len(".swc")])
        layers[0][1]["metadata"]["path"] = str(p)
        out.extend(layers)
    return out


def write_swc_points(path: str, data: Any, meta: dict) -> list[str]:
    """napari writer: a points layer (e.g. a traced skeleton or an opened SWC) to an SWC file."""
    from medwave.neuron.swc import write_swc

    p = Path(path)
    if p.suffix.lower() != ".swc":
        p = p.with_name(p.name + ".swc")
    from medwave.utils import check_output_path

    check_output_path(p, overwrite=True)
    return [str(write_swc(points_to_swc(data, meta), p))]
