"""Tests for medwave.neuron.trace."""

from __future__ import annotations

import numpy as np
import pytest

from medwave.neuron.metrics import neuron_distance
from medwave.neuron.swc import SWC, render_swc
from medwave.neuron.trace import prune_spurs, trace_mask


def test_straight_rod_traces_to_its_axis():
    m = np.zeros((5, 5, 30), bool)
    m[1:4, 1:4, 2:28] = True
    swc = trace_mask(m, prune_length=0)
    assert swc.n_trees() == 1
    # the skeleton runs along the axis z=2, y=2, in x voxel coordinates
    off_axis = np.abs(swc.xyz[:, 1:] - 2.0).max(axis=1)
    assert off_axis.max() <= 1.0 and np.median(off_axis) == 0.0
    assert swc.xyz[:, 0].min() >= 2 and swc.xyz[:, 0].max() <= 27
    assert swc.total_length() >= 20
    np.testing.assert_array_less(swc.radii, 2.01)
    assert (swc.radii >= 1).all()


def test_one_tree_per_component_and_debris_dropped():
    m = np.zeros((8, 40, 40), bool)
    m[3:5, 5, 2:30] = True
    m[3:5, 30, 5:35] = True
    m[6, 20, 20] = True  # one-voxel debris
    swc = trace_mask(m, min_component=5)
    assert swc.n_trees() == 2
    assert np.all(swc.xyz[:, 1] != 20)


def test_soma_root_and_spacing_origin():
    # a ball (soma) with one long neurite
    swc_gt = SWC(np.array([[1, 1, 20, 20, 10, 4.0, -1], [2, 3, 45, 20, 10, 1.0, 1]], float))
    m = render_swc(swc_gt, (20, 40, 60))
    swc = trace_mask(m)
    root = swc.nodes[swc.parents == -1]
    assert len(root) == 1 and root[0, 1] == 1  # soma type
    np.testing.assert_allclose(root[0, 2:5], [20, 20, 10], atol=1.5)
    assert root[0, 5] >= 3.5
    # ids are 1..N, parents listed before children
    np.testing.assert_array_equal(swc.ids, np.arange(1, len(swc) + 1))
    assert all(p < i for i, p in zip(swc.ids, swc.parents))
    # spacing and origin map voxel indices to physical x, y, z (x is the last axis)
    sp, org = np.array([2.0, 1.0, 0.5]), np.array([100.0, 0.0, 1.0])
    s2 = trace_mask(m, spacing=sp, origin=org)
    idx = np.rint((s2.xyz[:, ::-1] - org) / sp).astype(int)  # back to (z, y, x) voxel indices
    assert m[tuple(idx.T)].all()  # every traced node lies in the mask
    # physical extent along x (last axis) is scaled by 0.5 and shifted by 1
    assert s2.xyz[:, 0].max() == pytest.approx(swc.xyz[:, 0].max() * 0.5 + 1.0, abs=1.0)


def test_prune_spurs_hand_made_tree():
    # 0-1-2-3-4 main path, spur 5 off node 2 (length 1), long branch 6-7-8-9 off node 1
    pos = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0], [4, 0, 0], [2, 1, 0],
                    [1, 1, 0], [1, 2, 0], [1, 3, 0], [1, 4, 0]], float)
    parent = np.array([-1, 0, 1, 2, 3, 2, 1, 6, 7, 8])
    keep = prune_spurs(parent, pos, length=1.5)
    assert not keep[5] and keep[[0, 1, 2, 3, 4, 6, 7, 8, 9]].all()
    # a whole tree is never removed
    assert prune_spurs(np.array([-1, 0]), pos[:2], length=10).all()


def test_traced_synthetic_neuron_matches_ground_truth():
    from medwave.neuron.synthetic import synthetic_neuron

    s = synthetic_neuron((48, 96, 96), seed=5)
    r = neuron_distance(s.swc, trace_mask(s.mask))
    assert r["esa"] < 1.5 and r["pds"] < 0.1


def test_empty_mask():
    assert len(trace_mask(np.zeros((4, 4, 4), bool))) == 0
    with pytest.raises(ValueError, match="3D"):
        trace_mask(np.zeros((4, 4), bool))


def test_short_trees_dropped():
    m = np.zeros((8, 40, 40), bool)
    m[3:5, 5:7, 2:30] = True  # a 28-voxel fibre
    m[3:6, 30:33, 10:14] = True  # a 4-voxel-long blob (debris)
    assert trace_mask(m, min_tree_length=8.0).n_trees() == 1
    assert trace_mask(m, min_tree_length=0.0, min_component=1).n_trees() == 2
