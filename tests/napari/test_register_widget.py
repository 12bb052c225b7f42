"""The registration widget end to end on the MNI152 sample pair in a real viewer."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

pytestmark = pytest.mark.napari


def test_register_mni_pair_shows_warped_jacobian_grid_checkerboards_and_metrics(
    viewer, wait_worker, screenshot, tmp_path
):
    fixed, moving, flab, mlab = viewer.open_sample("medwave", "mni_pair")
    _, w = viewer.window.add_plugin_dock_widget("medwave", "Registration")
    w.fixed.value, w.moving.value = fixed, moving
    w.fixed_labels.value, w.moving_labels.value = flab, mlab
    w.iterations.value = 20
    w.run()
    wait_worker(w, timeout=900_000)

    warped = viewer.layers["MNI152 moving warped"]
    jac = viewer.layers["Jacobian determinant"]
    grid = viewer.layers["deformed grid"]
    for layer in (warped, jac, grid, viewer.layers["checkerboard before"], viewer.layers["checkerboard after"]):
        assert layer.data.shape == fixed.data.shape
        np.testing.assert_allclose(layer.scale, fixed.scale)
        np.testing.assert_allclose(layer.translate, fixed.translate)
    assert viewer.layers["MNI152 moving labels warped"].data.shape == fixed.data.shape
    vec = viewer.layers["displacement"]
    assert vec.data.ndim == 3 and vec.data.shape[1:] == (2, 3)

    m = w.result.metrics
    assert jac.metadata["registration_metrics"] is m or jac.metadata["registration_metrics"] == m
    # the registration moved the moving image towards the fixed one, without folding
    f = np.asarray(fixed.data)
    before = np.mean((f - np.asarray(moving.data)) ** 2)
    after = np.mean((f - np.asarray(warped.data)) ** 2)
    assert after < 0.9 * before
    assert m["dice_mean"] > m["dice_mean_before"]
    assert m["folding_percent"] < 0.5
    assert np.median(jac.data) == pytest.approx(1.0, abs=0.1)
    assert jac.colormap.name == "bwr" and tuple(jac.contrast_limits) == (0.0, 2.0)
    text = w.metrics_label.value
    assert "folding" in text and "Dice" in text and f"{m['dice_mean']:.3f}" in text
    # the deformed grid is a bent lattice: bright planes, dark cells
    assert 0.05 < float((grid.data > 0.5).mean()) < 0.6

    # results save with the fixed image's affine
    out = tmp_path / "warped.nii.gz"
    warped.save(str(out), plugin="medwave")
    np.testing.assert_array_equal(nib.load(str(out)).affine, fixed.metadata["medwave"]["affine"])

    for name in ("MNI152 fixed labels", "MNI152 moving labels", "MNI152 moving"):
        viewer.layers[name].visible = False
    viewer.layers["MNI152 fixed"].colormap = "gray"
    warped.visible = False
    viewer.layers["checkerboard after"].visible = True
    viewer.layers["checkerboard after"].blending = "translucent"
    grid.visible = True
    viewer.layers.selection.active = viewer.layers["checkerboard after"]
    viewer.dims.ndisplay = 2
    viewer.dims.order = (2, 1, 0)  # axial view of the (X, Y, Z) volume: rows = Y (anterior up), cols = X
    viewer.camera.orientation2d = ("up", "right")
    grid.opacity = 0.35
    viewer.dims.set_point(2, float(fixed.translate[2] + fixed.scale[2] * 50))
    viewer.reset_view()
    screenshot(viewer, "register")


def test_register_needs_two_different_images(viewer):
    _, w = viewer.window.add_plugin_dock_widget("medwave", "Registration")
    assert w.run() is None
    assert "fixed and a moving" in w.status
    img = viewer.add_image(np.zeros((8, 8, 8), np.float32), name="only")
    w.fixed.value = w.moving.value = img
    assert w.run() is None
    assert "two different layers" in w.status
