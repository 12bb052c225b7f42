"""The neuron widget end to end on the synthetic neuron sample in a real viewer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.napari


class IntensityModel(torch.nn.Module):
    """A fixed 2-class 'network' (3x3x3 mean of the normalised intensity above 0.65 is fibre).

    It makes the test independent of whether trained weights are installed; the segmentation quality of
    the real 3D-WaveUNet is tested in tests/neuron.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fg = 40.0 * (torch.nn.functional.avg_pool3d(x, 3, 1, 1) - 0.65)
        return torch.cat([torch.zeros_like(fg), fg], dim=1)


def test_segment_neurons_shows_probability_labels_skeleton_and_cube_grid(viewer, wait_worker, screenshot, tmp_path):
    layers = viewer.open_sample("medwave", "neuron_stack")
    stack = layers[0]
    truth = viewer.layers["neuron ground truth"]
    _, w = viewer.window.add_plugin_dock_widget("medwave", "Neuron segmentation")
    w.image.value = stack
    w.model = IntensityModel()
    w.cube_z.value, w.cube_y.value, w.cube_x.value = 32, 64, 64
    w.run()
    wait_worker(w, timeout=600_000)

    prob = viewer.layers["neuron stack probability"]
    fibres = viewer.layers["neuron stack fibres"]
    nodes = viewer.layers["neuron stack traced nodes"]
    skel = viewer.layers["neuron stack traced skeleton"]
    grid = viewer.layers["cube grid"]
    for layer in (prob, fibres, grid):
        assert layer.data.shape == stack.data.shape
        np.testing.assert_allclose(layer.scale, stack.scale)
    assert 0.0 <= float(prob.data.min()) and float(prob.data.max()) <= 1.0
    # the fibres found overlap the ground truth
    found, gt = fibres.data > 0, truth.data > 0
    dice = 2 * np.logical_and(found, gt).sum() / (found.sum() + gt.sum())
    assert dice > 0.4, dice
    # traced nodes lie on the segmented fibres, in (z, y, x) voxel order
    idx = np.clip(np.round(nodes.data).astype(int), 0, np.array(stack.data.shape) - 1)
    assert found[tuple(idx.T)].mean() > 0.9
    assert len(skel.data) >= 1
    # cube grid: one label per cube start, drawn as contours, toggled by the checkbox
    assert grid.contour == 1 and len(np.unique(grid.data)) == w.result.n_cubes
    w.show_cubes.value = False
    assert not grid.visible
    w.show_cubes.value = True
    assert grid.visible
    assert "cubes" in w.summary.value and "traced nodes" in w.summary.value

    # the traced skeleton saves as SWC, same nodes as the API's
    from medwave.neuron.swc import read_swc

    out = tmp_path / "traced.swc"
    nodes.save(str(out), plugin="medwave")
    back = read_swc(out)
    np.testing.assert_allclose(back.nodes[:, 2:5], w.result.swc.nodes[:, 2:5], atol=1e-3)
    np.testing.assert_array_equal(back.nodes[:, 6], w.result.swc.nodes[:, 6])

    stack.visible = True
    prob.visible = False
    viewer.dims.ndisplay = 2
    viewer.dims.set_point(0, 24.0)
    viewer.reset_view()
    screenshot(viewer, "neurons")


def test_segment_without_a_stack_says_what_to_do(viewer):
    _, w = viewer.window.add_plugin_dock_widget("medwave", "Neuron segmentation")
    assert w.run() is None
    assert "Open a 3D stack" in w.status
