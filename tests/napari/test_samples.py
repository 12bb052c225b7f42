"""Sample data opens in a real viewer with the right geometry and metadata."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.napari


def test_mni_pair_sample(viewer):
    layers = viewer.open_sample("medwave", "mni_pair")
    names = [l.name for l in layers]
    assert names == ["MNI152 fixed", "MNI152 moving", "MNI152 fixed labels", "MNI152 moving labels"]
    fixed, moving, flab, mlab = layers
    # shown axial and radiological (issue 17): layer data (Z, Y, X), world (S, P, L) = (z, -y, -x) mm
    assert fixed.data.shape == moving.data.shape == flab.data.shape == (95, 117, 99)
    for layer in layers:
        np.testing.assert_allclose(layer.scale, [2.0, 2.0, 2.0])
        np.testing.assert_allclose(layer.data_to_world([0, 0, 0]), [-72.0, 134.0, 98.0])
        np.testing.assert_allclose(layer.metadata["medwave"]["affine"][:3, 3], [-98.0, -134.0, -72.0])
    assert flab._type_string == "labels" and len(np.unique(flab.data)) == 33
    ddf = fixed.metadata["true_ddf"]
    assert ddf.shape == (3, 99, 117, 95)
    assert 0.5 < float(np.abs(ddf).max()) < 20
    # the two images differ (a real deformation) but are the same anatomy
    diff = np.abs(fixed.data - moving.data).mean()
    corr = np.corrcoef(fixed.data.ravel(), moving.data.ravel())[0, 1]
    assert diff > 0.01 and corr > 0.7


def test_neuron_stack_sample(viewer):
    layers = viewer.open_sample("medwave", "neuron_stack")
    by_name = {l.name: l for l in layers}
    stack, mask = by_name["neuron stack"], by_name["neuron ground truth"]
    nodes, skel = by_name["ground truth nodes"], by_name["ground truth skeleton"]
    assert stack.data.shape == mask.data.shape == (48, 128, 128)
    assert mask.data.any()
    # fibres are brighter than the background
    assert stack.data[mask.data > 0].mean() > 1.5 * stack.data[mask.data == 0].mean()
    # every SWC node lies inside the mask (ground truth skeleton overlays the stack)
    idx = np.round(nodes.data).astype(int)
    assert mask.data[tuple(idx.T)].mean() > 0.95
    assert nodes.axis_labels == ("z", "y", "x")
    assert len(skel.data) >= 1 and all(p.shape[1] == 3 for p in skel.data)


def test_chest_xray_sample(viewer):
    [layer] = viewer.open_sample("medwave", "chest_xray")
    assert layer.data.shape == (1955, 1841)
    assert layer.data.dtype == np.float32
    assert 0.0 <= layer.data.min() and layer.data.max() <= 1.0
    assert "heart" in layer.metadata["report_sentence"]
    assert layer.metadata["dicom"]["photometric"] == "MONOCHROME1"
    # MONOCHROME1 was inverted: the air outside the body (image corners) is dark
    corners = np.concatenate([layer.data[:50, :50].ravel(), layer.data[:50, -50:].ravel()])
    assert corners.mean() < layer.data.mean()
