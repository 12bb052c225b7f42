"""Tests for medwave.neuron.synthetic."""

from __future__ import annotations

import numpy as np

from medwave.neuron.swc import render_swc
from medwave.neuron.synthetic import synthetic_neuron


def test_same_seed_same_output_and_different_seed_differs():
    a = synthetic_neuron((24, 64, 64), seed=3)
    b = synthetic_neuron((24, 64, 64), seed=3)
    c = synthetic_neuron((24, 64, 64), seed=4)
    np.testing.assert_array_equal(a.stack, b.stack)
    np.testing.assert_array_equal(a.swc.nodes, b.swc.nodes)
    assert not np.array_equal(a.stack, c.stack)


def test_ground_truth_is_consistent_and_realistic():
    s = synthetic_neuron((32, 96, 96), seed=1)
    assert s.stack.dtype == np.uint16 and s.stack.shape == s.mask.shape == (32, 96, 96)
    np.testing.assert_array_equal(s.mask, render_swc(s.swc, s.mask.shape))  # the mask is the rendered SWC
    assert s.swc.n_trees() == 1 and (s.swc.nodes[:, 1] == 1).sum() == 1  # one soma root
    assert (s.swc.radii > 0).all() and s.swc.radii.max() > 2 * s.swc.radii.min()  # tapering radii
    # branching tree: some nodes have two or more children
    _, counts = np.unique(s.swc.parents[s.swc.parents > 0], return_counts=True)
    assert (counts >= 2).sum() >= 3
    # tortuous: path length exceeds the end-to-end distance of the longest root-to-tip path
    assert s.swc.total_length() > 50
    # thin fibres: foreground is a small fraction of the stack
    assert 0.0005 < s.mask.mean() < 0.05
    # fibres brighter than background on average, but not separable by one global threshold
    fg, bg = s.stack[s.mask].astype(float), s.stack[~s.mask].astype(float)
    assert fg.mean() > bg.mean() + 3 * bg.std() * 0.3
    assert np.percentile(fg, 5) < np.percentile(bg, 99.9)  # dim fibre voxels overlap bright background/debris


def test_psf_is_anisotropic():
    s = synthetic_neuron((32, 96, 96), seed=2, image_kwargs={"n_debris": 0, "read_noise": 0.0, "haze": 0.0})
    img = s.stack.astype(float)
    # the blur is longer along z: neighbouring-voxel correlation is higher along z than along x
    d = img - img.mean()
    cz = (d[1:] * d[:-1]).mean()
    cx = (d[..., 1:] * d[..., :-1]).mean()
    assert cz > cx
