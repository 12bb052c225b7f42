"""Wavelet packets against PyWavelets' WaveletPacket, WaveletPacket2D and WaveletPacketND: every node of every
level, natural and frequency order, every mode, reconstruction (also of modified nodes and partial trees)."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch

from medwave.wavelets import MODES, iwavelet_packet, packet_names, wavelet_packet

SHAPES = {1: (37,), 2: (17, 22), 3: (9, 12, 10)}


def _pywt_packet(x: np.ndarray, wavelet: str, mode: str, level: int, naming: str = "auto"):
    d = x.ndim
    if naming == "nd" or d == 3:
        return pywt.WaveletPacketND(x, wavelet, mode=mode, maxlevel=level)
    return (pywt.WaveletPacket if d == 1 else pywt.WaveletPacket2D)(x, wavelet, mode=mode, maxlevel=level)


def _levels(wp, level: int, order: str = "natural") -> list:
    if order == "natural":
        return wp.get_level(level) if isinstance(wp, pywt.WaveletPacketND) else wp.get_level(level, "natural")
    nodes = wp.get_level(level, order)
    return [n for row in nodes for n in row] if nodes and isinstance(nodes[0], list) else nodes


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("wavelet", ["haar", "db2", "bior2.4", "sym3"])
def test_every_node_equals_pywt(wavelet: str, dims: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal(SHAPES[dims])
    level = 2
    for naming in (["auto", "nd"] if dims < 3 else ["auto"]):
        wp = _pywt_packet(x, wavelet, "symmetric", level, naming)
        got = wavelet_packet(torch.from_numpy(x)[None, None], wavelet, level=level, naming=naming, all_levels=True)
        ref = {n.path: n.data for lv in (1, 2) for n in _levels(wp, lv)}
        assert list(got) == list(ref)  # natural order, level by level
        for path, v in ref.items():
            np.testing.assert_allclose(got[path][0, 0].numpy(), v, rtol=0, atol=1e-10, err_msg=path)


@pytest.mark.parametrize("dims", [1, 2])
def test_frequency_order_equals_pywt(dims: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal(SHAPES[dims])
    wp = _pywt_packet(x, "db1", "symmetric", 3)
    for level in (1, 2, 3):
        ref = [n.path for n in _levels(wp, level, "freq")]
        assert [n for n, _ in packet_names(dims, level, order="freq")] == ref
    got = wavelet_packet(torch.from_numpy(x)[None, None], "db1", level=3, order="freq")
    assert list(got) == [n.path for n in _levels(wp, 3, "freq")]


def test_frequency_order_3d_is_per_axis_sequency() -> None:
    names = [n for n, _ in packet_names(3, 2, order="freq", naming="nd")]
    assert len(set(names)) == 64
    # the lowest band first; along the last axis the sequency order a a -> a d -> d d -> d a
    assert names[:4] == ["aaaaaa", "aaaaad", "aadaad", "aadaaa"]


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_and_reconstruction(mode: str, rng: np.random.Generator) -> None:
    for dims in (1, 2, 3):
        x = rng.standard_normal(SHAPES[dims])
        wp = _pywt_packet(x, "db2", mode, 2)
        nodes = wavelet_packet(torch.from_numpy(x)[None, None], "db2", level=2, mode=mode)
        for n in _levels(wp, 2):
            np.testing.assert_allclose(nodes[n.path][0, 0].numpy(), n.data, rtol=0, atol=1e-10)
        # modified nodes (as after thresholding) reconstruct as PyWavelets' tree does
        noise = {n.path: rng.standard_normal(n.data.shape) for n in _levels(wp, 2)}
        for n in _levels(wp, 2):
            n.data = n.data + noise[n.path]
        try:
            if isinstance(wp, pywt.WaveletPacketND):
                # WaveletPacketND.reconstruct's final crop indexes with a list (an IndexError in numpy >= 1.23):
                # the tree's reconstruction, cropped to the data's shape as that line means to
                ref = pywt.NodeND.reconstruct(wp, update=False)[tuple(slice(n) for n in x.shape)]
            else:
                ref = wp.reconstruct(update=False)
        except ValueError:  # WaveletPacketND cannot rebuild inner nodes of unequal sizes (no reference)
            ref = None
        mod = {k: v + torch.from_numpy(noise[k])[None, None] for k, v in nodes.items()}
        got = iwavelet_packet(mod, "db2", mode=mode, spatial_dims=dims, shape=x.shape)
        if ref is not None:
            np.testing.assert_allclose(got[0, 0].numpy(), ref, rtol=0, atol=1e-10)
        if dims < 3 and (mode != "periodization" or all(n % 4 == 0 for n in x.shape)):
            pr = iwavelet_packet(nodes, "db2", mode=mode, spatial_dims=dims, shape=x.shape)
            np.testing.assert_allclose(pr[0, 0].numpy(), x, rtol=0, atol=1e-10)


def test_partial_tree_and_missing_nodes(rng: np.random.Generator) -> None:
    x = rng.standard_normal((16, 20))
    wp = pywt.WaveletPacket2D(x, "sym2", mode="periodization", maxlevel=2)
    leaves = {"a": wp["a"].data, "hh": wp["hh"].data, "hv": wp["hv"].data, "v": wp["v"].data}
    ref_tree = pywt.WaveletPacket2D(None, "sym2", mode="periodization")
    for k, v in leaves.items():
        ref_tree[k] = v
    ref = ref_tree.reconstruct(update=False)
    got = iwavelet_packet({k: torch.from_numpy(v)[None, None] for k, v in leaves.items()}, "sym2", mode="periodization",
                          spatial_dims=2)
    np.testing.assert_allclose(got[0, 0].numpy(), ref, rtol=0, atol=1e-10)


def test_gradients_and_batches(rng: np.random.Generator) -> None:
    x = torch.as_tensor(rng.standard_normal((2, 1, 6, 7, 8))).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: tuple(wavelet_packet(t, "db2", level=2).values())[:3], (x,), fast_mode=True)
    nodes = wavelet_packet(x.detach(), "db2", level=2)
    one = wavelet_packet(x.detach()[1:], "db2", level=2)
    torch.testing.assert_close(nodes["daaadd"][1:], one["daaadd"], rtol=0, atol=1e-12)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="level"):
        wavelet_packet(torch.zeros(1, 1, 8), "db2", level=-1)
    with pytest.raises(ValueError, match="not a path"):
        iwavelet_packet({"ax": torch.zeros(1, 1, 4, 4)}, "haar")
    with pytest.raises(ValueError, match="order"):
        wavelet_packet(torch.zeros(1, 1, 8), "haar", level=1, order="sequency")  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("wavelet", pywt.wavelist(kind="discrete"))
def test_every_wavelet_every_node(wavelet: str, rng: np.random.Generator) -> None:
    for dims, shape in ((1, (70,)), (2, (33, 40)), (3, (20, 18, 22))):
        x = rng.standard_normal(shape)
        level = min(2, pywt.dwt_max_level(min(shape), wavelet))
        if level < 1:
            continue
        wp = _pywt_packet(x, wavelet, "symmetric", level)
        got = wavelet_packet(torch.from_numpy(x)[None, None], wavelet, level=level, all_levels=True)
        for lv in range(1, level + 1):
            for n in _levels(wp, lv):
                np.testing.assert_allclose(got[n.path][0, 0].numpy(), n.data, rtol=0, atol=1e-10)


def test_last_level_by_subtree_equals_breadth_first(rng: np.random.Generator) -> None:
    x = torch.as_tensor(rng.standard_normal((2, 1, 9, 12, 10)))
    for level, mode in ((2, "symmetric"), (3, "periodization")):
        full = wavelet_packet(x, "db2", level=level, mode=mode)
        lean = wavelet_packet(x, "db2", level=level, mode=mode, all_levels=False)
        assert list(full) == list(lean)
        for k in full:
            torch.testing.assert_close(lean[k], full[k], rtol=0, atol=0)
    xg = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda t: wavelet_packet(t, "haar", level=2, all_levels=False)["aaaddd"], (xg,),
                                    fast_mode=True)
