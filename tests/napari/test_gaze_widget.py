"""The gaze widget end to end on the chest radiograph sample in a real viewer."""

from __future__ import annotations

import numpy as np
import pytest
from medwave.networks.checkpoint import save_checkpoint

pytestmark = pytest.mark.napari


@pytest.fixture(scope="module")
def gem_weights(tmp_path_factory):
    """The shipped GEM weights when installed, else a fixed untrained GEM checkpoint (tests the plumbing)."""
    from medwave.gaze.api import default_weights_path

    if default_weights_path().exists():
        return None
    import torch

    from medwave.networks.gem import GEM

    torch.manual_seed(0)
    net = GEM(k=8)
    p = tmp_path_factory.mktemp("gem") / "gem.pt"
    save_checkpoint(str(p), config=net.config, state_dict=net.state_dict(), meta={"image_size": 128})
    return str(p)


def test_predict_gaze_with_ground_truth_shows_scanpath_heatmap_and_matching(
    viewer, wait_worker, screenshot, gem_weights, tmp_path
):
    from medwave.gaze.io import write_gaze_csv

    [xray] = viewer.open_sample("medwave", "chest_xray")
    h, w_ = xray.data.shape
    truth_xy = np.array([[0.3 * w_, 0.4 * h], [0.7 * w_, 0.45 * h], [0.5 * w_, 0.6 * h], [0.35 * w_, 0.7 * h]])
    gt_path = write_gaze_csv(tmp_path / "truth.csv", truth_xy, sentence="truth")
    gt_points, _ = viewer.open(str(gt_path), plugin="medwave")

    _, w = viewer.window.add_plugin_dock_widget("medwave", "Gaze estimation")
    w.image.value = xray
    assert w.sentence.value == xray.metadata["report_sentence"]
    if gem_weights:
        w.weights.value = gem_weights
    w.ground_truth.value = gt_points
    w.run()
    wait_worker(w, timeout=600_000)

    res = w.result
    pts = viewer.layers["gaze points"]
    heat = viewer.layers["gaze heatmap"]
    path = viewer.layers["gaze scanpath"]
    lines = viewer.layers["gaze matching"]
    assert heat.data.shape == xray.data.shape
    np.testing.assert_allclose(heat.data.sum(), 1.0, rtol=1e-3)
    np.testing.assert_allclose(pts.data, res.points[:, ::-1])  # (row, col)
    assert list(pts.text.values) == [str(i) for i in range(1, len(res.points) + 1)]
    assert pts.metadata["sentence"] == xray.metadata["report_sentence"]
    np.testing.assert_allclose(path.data[0], res.points[:, ::-1])
    # one line per matched pair (min of 8 predicted, 4 true), each from a predicted to a true point
    assert len(lines.data) == 4
    from medwave.gaze.metrics import hungarian_distance

    d = np.array(lines.metadata["distances_px"])
    np.testing.assert_allclose(d.mean(), hungarian_distance(res.points, truth_xy), rtol=1e-9)
    for seg in lines.data:
        assert any(np.allclose(seg[1], t[::-1]) for t in truth_xy)
    assert "matched mean distance" in w.summary.value
    # predicted points are written back as a gaze CSV with the sentence
    from medwave.gaze.io import read_gaze_csv

    out = tmp_path / "pred.csv"
    pts.save(str(out), plugin="medwave")
    back = read_gaze_csv(out)
    np.testing.assert_allclose(back["points"], res.points)
    assert back["sentence"] == res.sentence
    viewer.reset_view()
    screenshot(viewer, "gaze")


def test_gaze_needs_a_sentence(viewer):
    _, w = viewer.window.add_plugin_dock_widget("medwave", "Gaze estimation")
    viewer.add_image(np.zeros((64, 64), np.float32), name="blank")
    w.image.value = viewer.layers["blank"]
    w.sentence.value = "  "
    assert w.run() is None
    assert "sentence" in w.status
