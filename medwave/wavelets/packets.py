"""Wavelet packets over the last 1-3 axes, node for node as PyWavelets' ``WaveletPacket``/``WaveletPacket2D``/
``WaveletPacketND``, built on the DWT core (every level is one :func:`~medwave.wavelets.dwt_packed` of all the
previous level's nodes at once, so 3D CPU volumes run on the fused kernels).

Node names are PyWavelets' paths: ``'a'``/``'d'`` per level in 1D, ``'a'``/``'h'``/``'v'``/``'d'`` in 2D
(``WaveletPacket2D``: ``'h'`` is high-pass along the first axis, PyWavelets' ``dwtn`` key ``'da'``), and the
``dwtn`` keys concatenated in 3D (``WaveletPacketND``: ``'aad' + 'daa'`` = ``'aaddaa'``); ``naming='nd'`` gives
``WaveletPacketND``'s names in 1D and 2D too. ``order='natural'`` is PyWavelets' natural order and
``order='freq'`` its frequency (sequency) order; for 2D the frequency-ordered grid of ``WaveletPacket2D``
read row by row, and in 3D the same per-axis sequency order (axis 0 slowest; PyWavelets has none in ND).

Example:
    >>> import torch
    >>> from medwave.wavelets import wavelet_packet, iwavelet_packet
    >>> x = torch.randn(1, 1, 16, 16, dtype=torch.float64)
    >>> nodes = wavelet_packet(x, "db2", level=2)
    >>> list(nodes)[:5], nodes["hv"].shape
    (['aa', 'ah', 'av', 'ad', 'ha'], torch.Size([1, 1, 6, 6]))
    >>> torch.allclose(iwavelet_packet(nodes, "db2", shape=(16, 16)), x)
    True
"""

from __future__ import annotations

import itertools
from typing import Literal, Mapping, Optional, Sequence

import torch

from medwave.wavelets.engine import Split
from medwave.wavelets.filters import WaveletLike, get_filter_bank
from medwave.wavelets.functional import (
    _analysis_ops,
    _as_float_tensor,
    _check_finite,
    _compute_dtype,
    _resolve_dims,
    coeff_shape,
    dwt_max_level,
    dwt_packed,
    idwt_packed,
    subband_keys,
)
from medwave.wavelets.modes import Mode, check_mode
from medwave.wavelets.operators import AxisOp

__all__ = ["wavelet_packet", "wavelet_packet_packed", "iwavelet_packet", "packet_names"]

Naming = Literal["auto", "nd"]
Order = Literal["natural", "freq"]

#: WaveletPacket2D's node letters for the dwtn keys (in PyWavelets' natural order a, h, v, d)
_PARTS_2D = {"aa": "a", "da": "h", "ad": "v", "dd": "d"}


def _parts(d: int, naming: str) -> list[tuple[int, str]]:
    """``(band index, name part)`` of one level, in PyWavelets' natural order."""
    keys = subband_keys(d)
    if naming == "auto" and d == 2:
        return [(keys.index(k), p) for k, p in _PARTS_2D.items()]
    return list(enumerate(keys))


def _graycode(level: int, x: str = "a", y: str = "d") -> list[str]:
    order = [x, y]
    for _ in range(level - 1):
        order = [x + p for p in order] + [y + p for p in order[::-1]]
    return order


def packet_names(
    spatial_dims: int, level: int, *, order: Order = "natural", naming: Naming = "auto"
) -> list[tuple[str, int]]:
    """Node names of one level with their index in :func:`wavelet_packet_packed`'s band axis, in ``order``."""
    if naming not in ("auto", "nd"):
        raise ValueError(f"naming must be 'auto' or 'nd', got {naming!r}.")
    d = spatial_dims
    parts = _parts(d, naming)
    k = 2**d
    if order == "natural":
        out = []
        for combo in itertools.product(parts, repeat=level):
            idx = 0
            for b, _ in combo:
                idx = idx * k + b
            out.append(("".join(p for _, p in combo), idx))
        return out
    if order != "freq":
        raise ValueError(f"order must be 'natural' or 'freq', got {order!r}.")
    name_of = {b: p for b, p in parts}
    gray = _graycode(level) if level > 0 else [""]
    out = []
    for per_axis in itertools.product(gray, repeat=d):  # axis 0 slowest
        idx = 0
        name = ""
        for lv in range(level):
            key = "".join(per_axis[a][lv] for a in range(d))
            b = subband_keys(d).index(key)
            idx = idx * k + b
            name += name_of[b]
        out.append((name, idx))
    return out


def wavelet_packet_packed(
    x: torch.Tensor,
    wavelet: WaveletLike = "haar",
    *,
    level: Optional[int] = None,
    mode: Mode = "symmetric",
    spatial_dims: Optional[int] = None,
    all_levels: bool = True,
    check_finite: bool = True,
) -> list[torch.Tensor]:
    """All packet levels ``1..level``, each ``(*lead, (2**d)**l, *coarse_l)``, nodes in ``dwtn`` key order.

    Node ``i`` of level ``l`` has base-``2**d`` digits ``i = b_1 b_2 ... b_l`` (level 1 most significant), ``b``
    indexing :func:`~medwave.wavelets.subband_keys`. With ``all_levels=False`` only the last level is returned
    (a one-element list), computed subtree by subtree (the level-1 bands two at a time), so that beyond the output
    only about ``4 / 2**d`` of the input's size is held at once in 3D.
    """
    x = _as_float_tensor(x)
    d = _resolve_dims(x, spatial_dims)
    check_mode(mode)
    fb = get_filter_bank(wavelet)
    spatial = tuple(int(s) for s in x.shape[-d:])
    max_level = dwt_max_level(spatial, fb)
    if level is None:
        level = max_level
    if level < 0:
        raise ValueError(f"level must be >= 0, got {level}.")
    # like PyWavelets' maxlevel, a level beyond dwt_max_level is allowed (the nodes get shorter than the filter)
    if check_finite:
        _check_finite(x)
    lead = tuple(x.shape[: x.ndim - d])
    if not all_levels and level >= 2:
        return [_last_level_by_subtree(x, fb, level, mode, d)]
    cur = x.reshape(lead + (1,) + spatial)
    out = []
    for _ in range(level):
        p = dwt_packed(cur, fb, mode=mode, spatial_dims=d, check_finite=False)  # (*lead, G, K, *coarse)
        cur = p.flatten(len(lead), len(lead) + 1)
        out.append(cur)
    return out


def _last_level_by_subtree(x: torch.Tensor, fb, level: int, mode: str, d: int) -> torch.Tensor:
    """The last packet level, a group of level-1 bands (and their subtrees) at a time, written into one output.

    A group fixes the low/high choice of the first ``d - 1`` axes (all bands along the last axis): ``2**(d-1)``
    groups of 2 bands, each one pass of the DWT core over the input, each holding 2/2**d of the level below.
    """
    lead = tuple(x.shape[: x.ndim - d])
    flat = x.to(_compute_dtype(x)).reshape((-1, 1) + tuple(x.shape[x.ndim - d:]))
    ops = _analysis_ops(fb, flat.shape[2:], mode)
    fixed = max(0, d - 1)
    graph = torch.is_grad_enabled() and flat.requires_grad
    parts: list = []
    out = None
    for g, bits in enumerate(itertools.product((0, 1), repeat=fixed)):
        group_ops = tuple(
            AxisOp((op.blocks[bits[i]],), n_in=op.n_in, n_out=op.n_out) if i < fixed else op for i, op in enumerate(ops)
        )
        bands = Split.apply(flat, group_ops)  # (N, 2**(d - fixed), *coarse_1)
        sub = wavelet_packet_packed(bands, fb, level=level - 1, mode=mode, spatial_dims=d, all_levels=False,
                                    check_finite=False)[-1].flatten(1, 2)  # (N, 2**(d-fixed) * K^(L-1), *coarse_L)
        if graph:
            parts.append(sub)
            continue
        if out is None:
            out = sub.new_empty((sub.shape[0], 2**fixed * sub.shape[1]) + tuple(sub.shape[2:]))
        out[:, g * sub.shape[1]:(g + 1) * sub.shape[1]] = sub
        del bands, sub
    if graph:
        out = torch.cat(parts, dim=1)
    return out.reshape(lead + tuple(out.shape[1:])).to(x.dtype)


def wavelet_packet(
    x: torch.Tensor,
    wavelet: WaveletLike = "haar",
    *,
    level: Optional[int] = None,
    mode: Mode = "symmetric",
    spatial_dims: Optional[int] = None,
    order: Order = "natural",
    naming: Naming = "auto",
    all_levels: bool = False,
    check_finite: bool = True,
) -> dict[str, torch.Tensor]:
    """The nodes of a wavelet packet decomposition, as PyWavelets' ``get_level(level, order)``.

    Args:
        x: ``(B, C, *spatial)`` tensor.
        wavelet: Wavelet name, :class:`pywt.Wavelet`, :class:`FilterBank` or four filters.
        level: Level whose nodes are returned (default: PyWavelets' ``maxlevel``).
        mode: Boundary mode (PyWavelets' meaning).
        spatial_dims: Number of trailing axes to transform.
        order: ``'natural'`` or ``'freq'`` (see the module docstring).
        naming: ``'auto'`` (``WaveletPacket``/``WaveletPacket2D``/``WaveletPacketND`` names by dimension) or
            ``'nd'`` (``WaveletPacketND``'s names).
        all_levels: Return the nodes of every level ``1..level`` (level by level).
        check_finite: Raise on NaN/Inf input.

    Returns:
        ``{path: (*lead, *coarse)}`` (views of one packed tensor per level).
    """
    x = _as_float_tensor(x)
    d = _resolve_dims(x, spatial_dims)
    if level is None:
        level = dwt_max_level(tuple(x.shape[-d:]), get_filter_bank(wavelet))
    levels = wavelet_packet_packed(x, wavelet, level=level, mode=mode, spatial_dims=d, all_levels=all_levels,
                                   check_finite=check_finite)
    lead_n = x.ndim - d
    out: dict[str, torch.Tensor] = {}
    chosen = range(1, len(levels) + 1) if all_levels else [level]
    if not all_levels:
        levels = [None] * (chosen[0] - 1) + levels
    for lv in chosen:
        if lv == 0:
            continue
        p = levels[lv - 1]
        for name, idx in packet_names(d, lv, order=order, naming=naming):
            out[name] = p.select(lead_n, idx)
    if not levels:
        out[""] = x
    return out


def iwavelet_packet(
    nodes: Mapping[str, Optional[torch.Tensor]],
    wavelet: WaveletLike = "haar",
    *,
    mode: Mode = "symmetric",
    spatial_dims: Optional[int] = None,
    naming: Naming = "auto",
    shape: Optional[Sequence[int]] = None,
) -> torch.Tensor:
    """Reconstruct from packet nodes, as PyWavelets' ``reconstruct()`` of a tree holding these nodes.

    Nodes may sit at different levels (any set of leaves of the tree); a missing subtree counts as zeros.

    Args:
        nodes: ``{path: tensor}`` named as by :func:`wavelet_packet` (``None`` values are zeros).
        wavelet: The decomposition's wavelet.
        mode: The decomposition's mode.
        spatial_dims: Number of transformed axes (default: inferred from the names for ``naming='nd'``, else
            ``tensor.ndim - 2``).
        naming: The names' convention.
        shape: The decomposed input's spatial shape: the reconstruction is cropped to it, and (1D/2D names) every
            inner node's reconstruction to the shape it had, as PyWavelets does in a tree built by decomposition
            (``WaveletPacketND`` crops only the root). Without it nothing is cropped (a tree built from scratch).

    Returns:
        ``(*lead, *spatial)``.
    """
    present = {k: _as_float_tensor(v) for k, v in nodes.items() if v is not None}
    if not present:
        raise ValueError("iwavelet_packet needs at least one node that is not None.")
    ref = next(iter(present.values()))
    d = spatial_dims if spatial_dims is not None else ref.ndim - 2
    if d not in (1, 2, 3):
        raise ValueError(f"spatial_dims must be 1, 2 or 3, got {d}.")
    check_mode(mode)
    fb = get_filter_bank(wavelet)
    part_len = d if (naming == "nd" or d == 3) else 1
    parts = dict((p, b) for b, p in _parts(d, naming))
    digits: dict[tuple, torch.Tensor] = {}
    for name, v in present.items():
        if len(name) % part_len or not all(name[i:i + part_len] in parts for i in range(0, len(name), part_len)):
            raise ValueError(f"Node name {name!r} is not a path of {sorted(parts)} parts ({naming!r} naming, {d}D).")
        digits[tuple(parts[name[i:i + part_len]] for i in range(0, len(name), part_len))] = v
    prefixes = {key[:i] for key in digits for i in range(len(key) + 1)}
    for key in digits:
        if any(key[:i] in digits for i in range(len(key))):
            raise ValueError(f"Node {key} and one of its ancestors are both given; pass leaves of the tree only.")
    shapes = [tuple(int(s) for s in shape)] if shape is not None else None
    depth = max(len(k) for k in digits)
    if shapes is not None:
        for _ in range(depth):
            shapes.append(coeff_shape(shapes[-1], fb, mode))

    def rec(prefix: tuple) -> Optional[torch.Tensor]:
        if prefix in digits:
            return digits[prefix]
        if prefix not in prefixes:
            return None
        kids = [rec(prefix + (b,)) for b in range(2**d)]
        got = [k for k in kids if k is not None]
        if len({tuple(k.shape) for k in got}) > 1:
            # (WaveletPacketND raises here) children of unequal sizes: cropped to the smallest, as waverec does
            small = [min(int(k.shape[k.ndim - d + i]) for k in got) for i in range(d)]
            kids = [k[(...,) + tuple(slice(0, n) for n in small)] if k is not None else None for k in kids]
        first = next(k for k in kids if k is not None)
        dtype = first.dtype
        for k in kids:
            if k is not None:
                dtype = torch.promote_types(dtype, k.dtype)
        packed = torch.stack([k.to(dtype) if k is not None else first.new_zeros(first.shape, dtype=dtype) for k in kids],
                             dim=first.ndim - d)
        # WaveletPacket/WaveletPacket2D crop every node to the shape it had; WaveletPacketND only the root
        crop = shapes[len(prefix)] if shapes is not None and (part_len == 1 or not prefix) else None
        return idwt_packed(packed, fb, mode=mode, spatial_dims=d, shape=crop)

    out = rec(())
    assert out is not None
    return out
