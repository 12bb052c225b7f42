"""SWC neuron morphologies: read, write (atomic, comments kept) and render into a voxel mask.

An SWC file has one node per line, seven whitespace-separated columns
``id type x y z radius parent`` (``parent = -1`` for a root) and ``#`` comment lines.

Axis convention for rendering: image arrays are ``(Z, Y, X)`` (the order of TIFF stacks and of the
NeuCuDa 32x128x128 cubes); ``shape``, ``spacing`` and ``origin`` are given in that same array order,
while SWC coordinates are ``x, y, z`` in physical units. The centre of voxel ``(k, j, i)`` lies at
``z = origin[0] + k * spacing[0]``, ``y = origin[1] + j * spacing[1]``, ``x = origin[2] + i * spacing[2]``.

Example:
    >>> import numpy as np
    >>> from medwave.neuron.swc import SWC, render_swc
    >>> swc = SWC(np.array([[1, 1, 2, 2, 2, 1.0, -1], [2, 3, 6, 2, 2, 1.0, 1]], float))
    >>> int(render_swc(swc, (5, 5, 9)).sum())   # tube of radius 1.25 along x: 5 voxels x 5 + 2 caps
    27
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from medwave.utils.atomic import atomic_path

__all__ = ["SWC", "read_swc", "write_swc", "render_swc", "swc_to_voxels", "swc_to_physical", "RADIUS_MARGIN"]

PathLike = Union[str, os.PathLike]

#: NeuCuDa renders a sphere of radius ``r + 0.25`` at each node (and tubes between nodes).
RADIUS_MARGIN = 0.25

COLUMNS = ("id", "type", "x", "y", "z", "radius", "parent")


@dataclass
class SWC:
    """A neuron morphology.

    Attributes:
        nodes: ``(N, 7)`` float array, columns ``id, type, x, y, z, radius, parent`` (``parent=-1``: root).
        comments: Comment lines without their leading ``#`` (written back verbatim after ``#``).
    """

    nodes: np.ndarray
    comments: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        nodes = np.asarray(self.nodes, dtype=np.float64)
        if nodes.size == 0:
            nodes = nodes.reshape(0, 7)
        if nodes.ndim != 2 or nodes.shape[1] != 7:
            raise ValueError(f"SWC nodes must be an (N, 7) array (id type x y z radius parent), got {nodes.shape}.")
        self.nodes = nodes

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def ids(self) -> np.ndarray:
        return self.nodes[:, 0].astype(np.int64)

    @property
    def parents(self) -> np.ndarray:
        return self.nodes[:, 6].astype(np.int64)

    @property
    def xyz(self) -> np.ndarray:
        """``(N, 3)`` coordinates in ``x, y, z`` order."""
        return self.nodes[:, 2:5]

    @property
    def radii(self) -> np.ndarray:
        return self.nodes[:, 5]

    def parent_index(self) -> np.ndarray:
        """Row index of each node's parent, -1 for roots and for parents missing from the file."""
        lookup = {int(i): k for k, i in enumerate(self.ids)}
        return np.array([lookup.get(int(p), -1) if p >= 0 else -1 for p in self.parents], dtype=np.int64)

    def edges(self) -> np.ndarray:
        """``(E, 2)`` row indices ``(child, parent)`` of every segment."""
        pidx = self.parent_index()
        child = np.nonzero(pidx >= 0)[0]
        return np.stack([child, pidx[child]], axis=1) if len(child) else np.zeros((0, 2), np.int64)

    def total_length(self) -> float:
        """Sum of segment lengths (physical units)."""
        e = self.edges()
        return float(np.linalg.norm(self.xyz[e[:, 0]] - self.xyz[e[:, 1]], axis=1).sum()) if len(e) else 0.0

    def n_trees(self) -> int:
        """Number of roots (connected trees)."""
        return int((self.parent_index() < 0).sum())


def read_swc(path: PathLike) -> SWC:
    """Read an SWC file.

    Args:
        path: The ``.swc`` file.

    Returns:
        The :class:`SWC` with its comment lines.

    Raises:
        FileNotFoundError: No such file.
        ValueError: A malformed line (the message names the file, the line number and the fix), a
            duplicated node id, or a parent id that is not in the file.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such SWC file. Check the path.")
    if p.is_dir():
        raise IsADirectoryError(f"{p} is a folder, not an SWC file.")
    comments: list[str] = []
    rows: list[list[float]] = []
    lines_of: list[int] = []
    with open(p, "r", encoding="utf-8", errors="replace") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            s = line.strip()
            if not s:
                continue
            if s.startswith("#"):
                comments.append(s[1:])
                continue
            parts = s.split()
            if len(parts) < 7:
                raise ValueError(
                    f"{p}, line {lineno}: {len(parts)} columns ({s!r}); an SWC node line needs 7: "
                    "id type x y z radius parent. Fix or remove the line."
                )
            try:
                vals = [float(v) for v in parts[:7]]
            except ValueError:
                raise ValueError(
                    f"{p}, line {lineno}: non-numeric value in {s!r}; SWC columns are numbers "
                    "(id type x y z radius parent). Fix the line or comment it out with '#'."
                ) from None
            if not all(np.isfinite(vals)) or vals[0] != int(vals[0]) or vals[6] != int(vals[6]):
                raise ValueError(f"{p}, line {lineno}: id and parent must be integers and values finite ({s!r}).")
            rows.append(vals)
            lines_of.append(lineno)
    nodes = np.array(rows, dtype=np.float64).reshape(-1, 7)
    ids = nodes[:, 0].astype(np.int64)
    seen: dict[int, int] = {}
    for k, i in enumerate(ids):
        if int(i) in seen:
            raise ValueError(
                f"{p}, line {lines_of[k]}: node id {int(i)} already used on line {seen[int(i)]}; ids must be unique."
            )
        seen[int(i)] = lines_of[k]
    for k, par in enumerate(nodes[:, 6].astype(np.int64)):
        if par >= 0 and int(par) not in seen:
            raise ValueError(
                f"{p}, line {lines_of[k]}: parent {int(par)} of node {int(ids[k])} is not in the file; "
                "use -1 for a root."
            )
    return SWC(nodes, comments)


def _fmt(v: float) -> str:
    s = f"{v:.4f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def write_swc(swc: SWC, path: PathLike, *, overwrite: bool = True) -> Path:
    """Write an SWC file atomically, comments first (each line ``#`` + the comment).

    Args:
        swc: The morphology.
        path: Output ``.swc`` path.
        overwrite: Replace an existing file.

    Returns:
        The written path.
    """
    p = Path(path)
    lines = [f"#{c}" for c in swc.comments]
    for row in swc.nodes:
        lines.append(
            f"{int(row[0])} {int(row[1])} {_fmt(row[2])} {_fmt(row[3])} {_fmt(row[4])} {_fmt(row[5])} {int(row[6])}"
        )
    with atomic_path(p, overwrite=overwrite) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def render_swc(
    swc: SWC,
    shape: Sequence[int],
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    *,
    margin: float = RADIUS_MARGIN,
    min_radius: float = 0.0,
) -> np.ndarray:
    """Render a morphology into a boolean ``(Z, Y, X)`` mask the NeuCuDa way.

    A voxel is foreground when its centre lies within ``r + margin`` of a node (a sphere per node) or
    within the interpolated radius ``r(t) + margin`` of the nearest point of a segment (a tube,
    the radius varying linearly between the two nodes).

    Args:
        swc: The morphology (physical ``x, y, z``).
        shape: Output shape ``(Z, Y, X)``.
        spacing: Voxel size ``(sz, sy, sx)`` in the SWC's units.
        origin: Physical position ``(z0, y0, x0)`` of voxel ``(0, 0, 0)``'s centre (render a sub-block
            of a large stack by shifting it).
        margin: Added to every radius (NeuCuDa: 0.25).
        min_radius: Radii below this are raised to it (some SWCs carry 0 radii).

    Returns:
        A ``bool`` array of ``shape``.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        raise ValueError(f"render_swc draws (Z, Y, X) volumes; got shape {shape}.")
    sp = np.asarray(spacing, dtype=np.float64)
    org = np.asarray(origin, dtype=np.float64)
    out = np.zeros(shape, dtype=bool)
    if len(swc) == 0:
        return out
    zyx = swc.xyz[:, ::-1]
    rad = np.maximum(swc.radii, min_radius) + margin
    pidx = swc.parent_index()
    shp = np.asarray(shape)

    def draw(a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> None:
        rmax = max(ra, rb)
        lo = np.floor((np.minimum(a, b) - rmax - org) / sp).astype(int)
        hi = np.ceil((np.maximum(a, b) + rmax - org) / sp).astype(int) + 1
        lo, hi = np.clip(lo, 0, shp), np.clip(hi, 0, shp)
        if np.any(hi <= lo):
            return
        grids = np.meshgrid(*[org[d] + sp[d] * np.arange(lo[d], hi[d]) for d in range(3)], indexing="ij")
        pts = np.stack(grids, axis=-1)
        ab = b - a
        L2 = float(ab @ ab)
        if L2 > 0:
            t = np.clip(((pts - a) @ ab) / L2, 0.0, 1.0)
        else:
            t = np.zeros(pts.shape[:-1])
        nearest = a + t[..., None] * ab
        d2 = np.sum((pts - nearest) ** 2, axis=-1)
        r = ra + t * (rb - ra)
        inside = d2 <= r * r + 1e-9
        # spheres at both ends (a node radius can exceed the interpolated tube radius there)
        inside |= np.sum((pts - a) ** 2, axis=-1) <= ra * ra + 1e-9
        inside |= np.sum((pts - b) ** 2, axis=-1) <= rb * rb + 1e-9
        out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] |= inside

    for k in range(len(swc)):
        j = pidx[k]
        if j >= 0:
            draw(zyx[k], zyx[j], rad[k], rad[j])
        else:
            draw(zyx[k], zyx[k], rad[k], rad[k])
    return out


def swc_to_physical(swc: SWC, affine: np.ndarray) -> SWC:
    """Voxel-index SWC (``x`` = index along the x-first grid's first axis) -> physical via a 4x4 ``affine``.

    Radii are scaled by the smallest voxel size. Comments are kept.
    """
    a = np.asarray(affine, dtype=np.float64)
    nodes = swc.nodes.copy()
    nodes[:, 2:5] = nodes[:, 2:5] @ a[:3, :3].T + a[:3, 3]
    nodes[:, 5] = nodes[:, 5] * float(np.linalg.norm(a[:3, :3], axis=0).min())
    return SWC(nodes, list(swc.comments))


def swc_to_voxels(swc: SWC, affine: np.ndarray) -> SWC:
    """Physical SWC -> voxel indices of the grid of the 4x4 ``affine`` (the inverse of :func:`swc_to_physical`)."""
    a = np.asarray(affine, dtype=np.float64)
    inv = np.linalg.inv(a)
    nodes = swc.nodes.copy()
    nodes[:, 2:5] = nodes[:, 2:5] @ inv[:3, :3].T + inv[:3, 3]
    nodes[:, 5] = nodes[:, 5] / float(np.linalg.norm(a[:3, :3], axis=0).min())
    return SWC(nodes, list(swc.comments))
