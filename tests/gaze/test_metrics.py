"""Gaze metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medwave.gaze import metrics as M


def test_mean_point_distance_and_pck():
    a = np.array([[0.0, 0.0], [10.0, 0.0]])
    b = np.array([[3.0, 4.0], [10.0, 0.0]])
    assert M.mean_point_distance(a, b) == pytest.approx(2.5)
    # threshold x longer side = 0.05 x 100 = 5 px: both in (5 <= 5); 0.01 -> 1 px: only the second
    assert M.pck(a, b, 0.05, image_size=(80, 100)) == pytest.approx(1.0)
    assert M.pck(a, b, 0.01, image_size=(80, 100)) == pytest.approx(0.5)
    # diagonal of 60x80 is 100
    assert M.pck(a, b, 0.049, image_size=(60, 80), reference="diagonal") == pytest.approx(0.5)
    with pytest.raises(ValueError):
        M.mean_point_distance(a, b[:1])


def test_hungarian_ignores_order():
    pred = np.array([[0.0, 0.0], [10.0, 0.0]])
    tgt = np.array([[10.0, 1.0], [0.0, 1.0]])
    assert M.hungarian_distance(pred, tgt) == pytest.approx(1.0)
    assert M.mean_point_distance(pred, tgt) == pytest.approx(math.sqrt(101))


def test_cc_hand_value():
    p = np.array([[1.0, 2.0], [3.0, 4.0]])
    q = np.array([[1.0, 2.0], [3.0, 5.0]])
    assert M.cc(p, q) == pytest.approx(6.5 / math.sqrt(5.0 * 8.75))
    assert M.cc(p, p) == pytest.approx(1.0)
    assert M.cc(p, -p) == pytest.approx(-1.0)


def test_kld_and_sim_hand_values():
    p = np.ones((2, 2))
    q = np.array([[1.0, 3.0], [0.0, 0.0]])
    assert M.kld(p, q) == pytest.approx(0.75 * math.log(3.0), rel=1e-9)
    assert M.kld(q, q) == pytest.approx(0.0, abs=1e-12)
    assert M.sim(p, q) == pytest.approx(0.5)
    assert M.sim(q, q) == pytest.approx(1.0)


def test_nss_hand_value():
    p = np.array([[0.0, 0.0], [0.0, 4.0]])
    mask = np.array([[False, False], [False, True]])
    assert M.nss(p, mask) == pytest.approx(math.sqrt(3.0))
    with pytest.raises(ValueError):
        M.nss(p, np.zeros((2, 2), bool))


def test_auc_judd_hand_value():
    p = np.array([[0.9, 0.1], [0.5, 0.3]])
    mask = np.array([[True, False], [False, True]])
    # ROC points (0,0) (0,.5) (.5,1) (1,1): area 0.875
    assert M.auc_judd(p, mask) == pytest.approx(0.875)
    # a perfect map
    assert M.auc_judd(np.array([[1.0, 0.0], [0.0, 1.0]]), mask) == pytest.approx(1.0)


def test_scanpath_dtw_hand_value():
    a = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    b = np.array([[0.0, 0.0], [2.0, 0.0]])
    assert M.scanpath_dtw(a, b) == pytest.approx(1.0)
    assert M.scanpath_dtw(a, a) == pytest.approx(0.0)


def test_render_fixation_map():
    m = M.render_fixation_map(np.array([[2.0, 1.0]]), (3, 5), sigma=1.0)
    assert m.shape == (3, 5)
    assert m.sum() == pytest.approx(1.0)
    assert np.unravel_index(np.argmax(m), m.shape) == (1, 2)
    assert m[1, 3] / m[1, 2] == pytest.approx(math.exp(-0.5))
    assert m[0, 3] / m[1, 2] == pytest.approx(math.exp(-1.0))
    mask = M.fixation_mask(np.array([[2.4, 0.6], [99.0, -3.0]]), (3, 5))
    assert mask.sum() == 2 and mask[1, 2] and mask[0, 4]


def test_saliency_metrics_rank_a_good_map_above_a_bad_one():
    tgt = np.array([[10.0, 10.0], [12.0, 11.0]])
    good = M.render_fixation_map(tgt, (32, 32), sigma=2.0)
    bad = M.render_fixation_map(np.array([[25.0, 25.0]]), (32, 32), sigma=2.0)
    g, b = M.saliency_metrics(good, tgt, sigma=2.0), M.saliency_metrics(bad, tgt, sigma=2.0)
    assert g["cc"] == pytest.approx(1.0) and g["sim"] == pytest.approx(1.0)
    assert g["nss"] > b["nss"] and g["auc_judd"] > b["auc_judd"] and g["kld"] < b["kld"]


def test_peak_distance_hand_values():
    d = np.zeros((10, 10))
    d[2, 3] = 1.0  # peak at row 2, column 3 = (x 3, y 2)
    m = np.zeros((10, 10), dtype=bool)
    m[6, 3] = True  # 4 rows below the peak
    assert M.peak_distance(d, m) == pytest.approx(4.0)
    m[5, 7] = True  # nearest is still (6, 3): sqrt(3^2 + 4^2) = 5 > 4
    assert M.peak_distance(d, m) == pytest.approx(4.0)
    m[2, 3] = True  # peak on the finding
    assert M.peak_distance(d, m) == 0.0
    m2 = np.zeros((10, 10), dtype=bool)
    m2[5, 7] = True
    assert M.peak_distance(d, m2) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="empty"):
        M.peak_distance(d, np.zeros((10, 10), dtype=bool))


def test_point_spread_hand_value():
    pts = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])  # centroid (1, 1), all at sqrt(2)
    assert M.point_spread(pts) == pytest.approx(math.sqrt(2.0))
    assert M.point_spread(np.array([[5.0, 5.0]] * 3)) == 0.0


def test_nss_and_auc_against_a_finding_mask_hand_values():
    # 2x2 heatmap [[4, 0], [0, 0]]: mean 1, std sqrt(3); the finding covers the top row
    heat = np.array([[4.0, 0.0], [0.0, 0.0]])
    mask = np.array([[True, True], [False, False]])
    # standardised values at the finding: (4-1)/sqrt3 = sqrt3, (0-1)/sqrt3; mean = (3 - 1) / (2 sqrt3)
    assert M.nss(heat, mask) == pytest.approx(1.0 / math.sqrt(3.0))
    # thresholds 4 and 0: tp 1/2 at fp 0, then tp 1 at fp 1 -> area 1/2 * 1 * (1/2 + 1) = 0.75
    assert M.auc_judd(heat, mask) == pytest.approx(0.75)
