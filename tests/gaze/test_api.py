"""predict_gaze, GazeResult.save, the shipped weights and the demo."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydicom.data import get_testdata_file

import medwave
from medwave.gaze.api import default_weights_path, predict_gaze, render_overlay
from medwave.gaze.api import GazePrediction
from medwave.gaze.io import read_gaze_csv
from medwave.networks import GEM
from medwave.networks.checkpoint import save_checkpoint

RG1 = get_testdata_file("RG1_UNCR.dcm")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    net = GEM(k=4, dim=32, encoder_width=8)
    p = tmp_path_factory.mktemp("w") / "tiny.pt"
    save_checkpoint(p, config=net.config, state_dict=net.state_dict(), meta={"image_size": 64})
    return p


def test_predict_on_array_and_path(tiny_weights, tmp_path):
    img = np.random.default_rng(0).random((50, 70)) * 1000  # any range: min-max scaled
    before = img.copy()
    res = predict_gaze(img, "Opacity in the left lung base.", weights=tiny_weights, k=4)
    np.testing.assert_array_equal(img, before)  # input untouched
    assert res.points.shape == (4, 2) and res.heatmap.shape == (50, 70)
    assert res.heatmap.sum() == pytest.approx(1.0, rel=1e-4)
    assert (res.points[:, 0] >= -0.5).all() and (res.points[:, 0] <= 69.5).all()
    many = predict_gaze(img, ["a", "b c"], weights=tiny_weights, k=4)
    # one result type, always (issue 17): a GazePrediction, a sequence of per-sentence results
    assert type(many) is type(res) is GazePrediction and len(many) == 2 and len(res) == 1
    assert [r.sentence for r in many] == ["a", "b c"] and res[0].points is res.points
    with pytest.raises(AttributeError, match="holds 2 sentences"):
        many.points
    with pytest.raises(ValueError, match="k=4"):
        predict_gaze(img, "x", weights=tiny_weights, k=8)
    with pytest.raises(ValueError, match="non-empty"):
        predict_gaze(img, "  ", weights=tiny_weights, k=4)
    with pytest.raises(ValueError, match="2D"):
        predict_gaze(np.zeros((2, 3, 4, 5)), "x", weights=tiny_weights, k=4)
    with pytest.raises(FileNotFoundError):
        predict_gaze(img, "x", weights=tmp_path / "missing.pt", k=4)


def test_save_outputs(tiny_weights, tmp_path):
    res = predict_gaze(np.random.default_rng(1).random((40, 30)), "The heart is enlarged.", weights=tiny_weights, k=4)
    saved = res.save(tmp_path / "o")
    files = saved["sentences"][0]
    assert files["points"].name == "gaze_points.csv" and saved["summary"].name == "summary.json"
    back = read_gaze_csv(files["points"])
    np.testing.assert_allclose(back["points"], res.points)
    assert back["sentence"] == "The heart is enlarged."
    np.testing.assert_allclose(np.load(files["heatmap_npy"]), res.heatmap)
    from skimage import io as skio

    assert skio.imread(str(files["overlay"])).shape == (40, 30, 3)
    assert skio.imread(str(files["heatmap_png"])).shape == (40, 30)
    with pytest.raises(FileExistsError):
        res.save(tmp_path / "o")


def test_overlay_marks_points():
    img = np.zeros((100, 100))
    heat = np.zeros((100, 100))
    heat[90, 10] = 1.0
    rgb = render_overlay(img, heat, np.array([[20.0, 30.0], [80.0, 70.0]]))
    assert rgb.shape == (100, 100, 3)
    assert tuple(rgb[30, 20]) == pytest.approx((0.1, 1.0, 0.2))  # first point
    assert tuple(rgb[70, 80]) == pytest.approx((0.2, 0.9, 1.0))
    assert tuple(rgb[90, 10]) == pytest.approx((0.55, 0.55, 0.55))  # heatmap peak: white ramp end, alpha 0.55
    assert tuple(rgb[10, 90]) == (0.0, 0.0, 0.0)


def test_shipped_weights_follow_the_text():
    """The shipped weights put 'left base' gaze on the image right-bottom, 'right apex' on the image left-top."""
    assert default_weights_path().exists()
    lb, ra, heart = medwave.predict_gaze(
        RG1, ["Opacity in the left lung base.", "There is a nodule in the right apex.", "The heart is enlarged."]
    )
    h, w = lb.heatmap.shape
    assert (h, w) == (1955, 1841)
    mlb, mra = lb.points.mean(0), ra.points.mean(0)
    assert mlb[0] > w / 2 > mra[0]  # patient left = image right
    assert mlb[1] > mra[1] + 0.2 * h  # base below apex
    assert abs(heart.points.mean(0)[0] - w / 2) < 0.25 * w


def test_demo(tmp_path):
    from medwave.gaze.demo import run_demo

    out = run_demo(tmp_path / "demo", progress=False, n_eval=32)
    assert len(out["files"]) == 3 and all(f["overlay"].exists() for f in out["files"])
    assert out["eval"]["gem_mean_distance_px"] < 0.75 * out["eval"]["centre_bias_mean_distance_px"]
    assert (tmp_path / "demo" / "summary.json").exists()
