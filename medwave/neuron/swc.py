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
from typing import Any, Optional, Sequence, Union

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
    from medwave.io.guard import check_input_file, check_memory

    p = check_input_file(path, what="SWC file", dir_hint="give the .swc file itself")
    # about 60 bytes of text per node; parsed, a node costs ~200 bytes of Python floats
    check_memory(p.stat().st_size * 4, p, "parsing it")
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
    swc = SWC(nodes, comments)
    validate_swc(swc, p, lines_of)
    return swc


#: Largest accepted |coordinate| of an SWC node (any unit): beyond it a file is taken as corrupt.
MAX_COORDINATE = 1e7


def validate_swc(swc: SWC, name: Any = "the SWC", lines: Optional[Sequence[int]] = None) -> None:
    """Refuse a morphology that would give wrong scores: cycles (a tree without a root), negative radii,
    non-finite coordinates, or coordinates beyond :data:`MAX_COORDINATE` (a corrupt file or a wrong unit).

    Every node has at most one parent, so "one root per tree" is the same as "no cycle": following parents from
    any node must end at a root (parent -1).

    Raises:
        ValueError: Naming the file, the line (when known) and the fix.
    """
    def where(k: int) -> str:
        return f", line {lines[k]}" if lines is not None and k < len(lines) else f", node {int(swc.ids[k])}"

    n = swc.nodes
    if len(n) == 0:
        return
    bad = np.nonzero(~np.isfinite(n[:, 2:6]).all(axis=1))[0]
    if len(bad):
        raise ValueError(f"{name}{where(int(bad[0]))}: a non-finite coordinate or radius; fix the file.")
    neg = np.nonzero(swc.radii < 0)[0]
    if len(neg):
        raise ValueError(f"{name}{where(int(neg[0]))}: negative radius {swc.radii[neg[0]]:g} ({len(neg)} node(s)); "
                         "radii must be >= 0. Fix the file (0 for an unknown radius).")
    far = np.nonzero(np.abs(swc.xyz).max(axis=1) > MAX_COORDINATE)[0]
    if len(far):
        raise ValueError(f"{name}{where(int(far[0]))}: coordinate {np.abs(swc.xyz[far[0]]).max():g} is beyond "
                         f"{MAX_COORDINATE:g}; a corrupt file or a wrong unit. Fix the file.")
    pidx = swc.parent_index()
    state = np.zeros(len(n), np.int8)  # 0 unseen, 1 on the current path, 2 reaches a root
    for start in range(len(n)):
        path = []
        k = start
        while k >= 0 and state[k] == 0:
            state[k] = 1
            path.append(k)
            k = int(pidx[k])
        if k >= 0 and state[k] == 1:  # came back onto the current path: a cycle
            raise ValueError(f"{name}{where(k)}: node {int(swc.ids[k])} is its own ancestor (a cycle: this tree has no "
                             "root). Every tree needs one root (parent -1) and no loops; fix the parent column.")
        state[path] = 2


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

    box_lo, box_hi = org - 0.5 * sp, org + sp * (shp - 0.5)

    def draw(a: np.ndarray, b: np.ndarray, ra: float, rb: float) -> None:
        """A tube a-b, clipped to the volume and drawn in pieces a few radii long, so that a segment much longer
        than the volume (or a corrupt one) costs memory and time in proportion to the volume, not to its length."""
        rmax = max(ra, rb)
        ab = b - a
        t0, t1 = 0.0, 1.0
        for d in range(3):  # the part of the segment within rmax of the volume's box (Liang-Barsky)
            lo_d, hi_d = box_lo[d] - rmax, box_hi[d] + rmax
            if ab[d] == 0:
                if not lo_d <= a[d] <= hi_d:
                    return
                continue
            u, v = (lo_d - a[d]) / ab[d], (hi_d - a[d]) / ab[d]
            t0, t1 = max(t0, min(u, v)), min(t1, max(u, v))
        if t0 > t1:
            return
        length = float(np.sqrt(ab @ ab)) * (t1 - t0)
        step = max(4.0 * rmax, 16.0 * float(sp.max()))
        n = max(1, int(np.ceil(length / step)))
        ts = np.linspace(t0, t1, n + 1)
        for i in range(n):
            # each piece keeps the nearest-point test of the whole segment (same mask as one piece would give)
            _draw_piece(a, b, ra, rb, ts[i], ts[i + 1], ends=(ts[i] == 0.0, ts[i + 1] == 1.0))

    def _draw_piece(a: np.ndarray, b: np.ndarray, ra: float, rb: float, ta: float, tb: float, ends) -> None:
        rmax = max(ra, rb)
        pa, pb = a + ta * (b - a), a + tb * (b - a)
        lo = np.floor((np.minimum(pa, pb) - rmax - org) / sp).astype(int)
        hi = np.ceil((np.maximum(pa, pb) + rmax - org) / sp).astype(int) + 1
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
        if ends[0]:
            inside |= np.sum((pts - a) ** 2, axis=-1) <= ra * ra + 1e-9
        if ends[1]:
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
