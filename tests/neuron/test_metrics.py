"""Tests for medwave.neuron.metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from medwave.neuron.metrics import neuron_distance, point_to_swc_distance, resample_segments, voxel_metrics
from medwave.neuron.swc import SWC


def _line(p, q):
    return SWC(np.array([[1, 3, *p, 1, -1], [2, 3, *q, 1, 1]], float))


def test_voxel_metrics_hand_computed():
    gt = np.zeros((4, 4), bool)
    gt[0, :] = True  # 4 voxels
    pred = np.zeros((4, 4), bool)
    pred[0, :2] = True
    pred[1, :1] = True  # tp 2, fp 1, fn 2
    m = voxel_metrics(pred, gt)
    assert m == pytest.approx({"dice": 4 / 7, "iou": 2 / 5, "precision": 2 / 3, "recall": 2 / 4})
    assert voxel_metrics(np.zeros(3), np.zeros(3))["dice"] == 1.0
    assert voxel_metrics(np.ones(3), np.zeros(3)) == {"dice": 0.0, "iou": 0.0, "precision": 0.0, "recall": 0.0}
    with pytest.raises(ValueError, match="shape"):
        voxel_metrics(np.zeros(3), np.zeros(4))


def test_resampling_follows_vaa3d():
    # length 4 -> N = int(1 + 4 + 0.5) = 5 points, ends included; length 0.3 -> 1 point (the child)
    pts = resample_segments(_line((4, 0, 0), (0, 0, 0)))
    np.testing.assert_allclose(pts[:, 0], [0, 1, 2, 3, 4])  # child (node 2 at x=0) to parent
    assert len(resample_segments(_line((0, 0, 0), (0.3, 0, 0)))) == 1


def test_point_to_segment_distance():
    swc = _line((0, 1, 0), (2, 1, 0))
    d = point_to_swc_distance(np.array([[1, 0, 0], [3, 1, 0], [-1, 1, 1], [1, 1, 0]]), swc)
    np.testing.assert_allclose(d, [1, 1, np.sqrt(2), 0])


def test_esa_dsa_pds_hand_computed():
    a = _line((0, 0, 0), (4, 0, 0))  # 5 points x = 0..4 at y = 0
    b = _line((0, 1, 0), (2, 1, 0))  # 3 points x = 0..2 at y = 1
    r = neuron_distance(a, b)
    d12 = [1, 1, 1, np.sqrt(2), np.sqrt(5)]  # only sqrt(5) >= 2
    assert r["esa12"] == pytest.approx(np.mean(d12))
    assert r["esa21"] == pytest.approx(1.0)
    assert r["esa"] == pytest.approx((np.mean(d12) + 1.0) / 2)
    assert r["dsa"] == pytest.approx(np.sqrt(5))  # only direction 1->2 has far points
    assert r["pds"] == pytest.approx((1 / 5 + 0 / 3) / 2)
    assert (r["n12"], r["n21"]) == (5, 3)
    # symmetric roles swap the directional values
    s = neuron_distance(b, a)
    assert (s["esa12"], s["esa21"]) == pytest.approx((r["esa21"], r["esa12"]))


def test_identical_and_parallel():
    a = _line((0, 0, 0), (10, 0, 0))
    assert neuron_distance(a, a)["esa"] == 0.0
    r = neuron_distance(a, _line((0, 3, 0), (10, 3, 0)))
    assert (r["esa"], r["dsa"], r["pds"]) == pytest.approx((3.0, 3.0, 1.0))


def test_single_node_rejected():
    with pytest.raises(ValueError, match="no segment"):
        neuron_distance(SWC(np.array([[1, 1, 0, 0, 0, 1, -1]], float)), _line((0, 0, 0), (1, 0, 0)))
