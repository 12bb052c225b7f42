"""The wavelet widget end to end in a real viewer: decompose, edit, reconstruct, tiled, cancel, errors."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import pywt

pytestmark = pytest.mark.napari


@pytest.fixture
def mni_layer(viewer, tmp_path):
    from nilearn.datasets import load_mni152_template

    path = tmp_path / "mni.nii.gz"
    nib.save(load_mni152_template(resolution=2), str(path))
    [layer] = viewer.open(str(path), plugin="medwave")
    return layer


@pytest.fixture
def widget(viewer):
    _, w = viewer.window.add_plugin_dock_widget("medwave", "Wavelet decomposition")
    return w


def test_decompose_into_band_layers_and_reconstruct(viewer, wait_worker, screenshot, mni_layer, widget, tmp_path):
    widget.image.value = mni_layer
    widget.wavelet.value = "db2"
    widget.level.value = 2
    widget.decompose()
    wait_worker(widget)
    bands = [l for l in viewer.layers if "medwave_wavelet" in l.metadata]
    assert len(bands) == 1 + 7 * 2
    ref = pywt.wavedecn(np.asarray(mni_layer.data), "db2", mode="symmetric", level=2)
    by_name = {l.name: l for l in bands}
    np.testing.assert_allclose(by_name["mni L2 aaa"].data, ref[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(by_name["mni L1 dad"].data, ref[2]["dad"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(by_name["mni L2 add"].data, ref[1]["add"], rtol=1e-5, atol=1e-5)
    # bands sit over the image at their own resolution
    np.testing.assert_allclose(by_name["mni L1 aad"].scale, [4.0, 4.0, 4.0])
    np.testing.assert_allclose(by_name["mni L2 aaa"].scale, [8.0, 8.0, 8.0])
    np.testing.assert_allclose(by_name["mni L1 aad"].translate, np.asarray(mni_layer.translate) + 2.0 * 0.5 * -1)
    assert viewer.grid.enabled

    viewer.dims.ndisplay = 2
    viewer.dims.set_point(0, 0.0)
    screenshot(viewer, "wavelet")

    widget.reconstruct()
    wait_worker(widget)
    rec = viewer.layers["mni reconstructed"]
    np.testing.assert_allclose(rec.data, mni_layer.data, atol=1e-5)
    np.testing.assert_allclose(rec.scale, mni_layer.scale)
    np.testing.assert_allclose(rec.translate, mni_layer.translate)
    assert not viewer.grid.enabled
    out = tmp_path / "rec.nii.gz"
    rec.save(str(out), plugin="medwave")
    np.testing.assert_array_equal(nib.load(str(out)).affine, mni_layer.metadata["medwave"]["affine"])


def test_edited_bands_reconstruct_like_pywt(viewer, wait_worker, mni_layer, widget):
    widget.image.value = mni_layer
    widget.wavelet.value = "haar"
    widget.level.value = 2
    widget.grid.value = False
    widget.decompose()
    wait_worker(widget)
    # zero the finest details (a crude denoiser) and delete one coarse band (counts as zero)
    for layer in list(viewer.layers):
        rec = layer.metadata.get("medwave_wavelet")
        if rec and rec["level"] == 1 and rec["key"] != "aaa":
            layer.data = np.zeros_like(layer.data)
    viewer.layers.remove("mni L2 ddd")
    widget.reconstruct()
    wait_worker(widget)
    ref = pywt.wavedecn(np.asarray(mni_layer.data), "haar", level=2)
    ref[2] = {k: np.zeros_like(v) for k, v in ref[2].items()}
    ref[1]["ddd"] = np.zeros_like(ref[1]["ddd"])
    expect = pywt.waverecn(ref, "haar")[tuple(slice(0, n) for n in mni_layer.data.shape)]
    out = viewer.layers["mni reconstructed"].data
    np.testing.assert_allclose(out, expect, atol=1e-5)
    assert np.abs(out - mni_layer.data).max() > 1e-3  # the edit did something


def test_tiled_layout_round_trips(viewer, wait_worker, mni_layer, widget):
    widget.image.value = mni_layer
    widget.wavelet.value = "bior2.2"
    widget.level.value = 1
    widget.layout_choice.value = "tiled"
    widget.decompose()
    wait_worker(widget)
    tiled = [l for l in viewer.layers if "medwave_wavelet" in l.metadata]
    assert len(tiled) == 1
    arr, _ = pywt.coeffs_to_array(pywt.wavedecn(np.asarray(mni_layer.data), "bior2.2", level=1))
    np.testing.assert_allclose(tiled[0].data, arr, atol=1e-5)
    widget.reconstruct()
    wait_worker(widget)
    np.testing.assert_allclose(viewer.layers["mni reconstructed"].data, mni_layer.data, atol=1e-5)


def test_bad_level_reports_the_error_and_adds_nothing(viewer, wait_worker, mni_layer, widget):
    widget.image.value = mni_layer
    widget.wavelet.value = "db8"
    widget.level.value = 8
    n = len(viewer.layers)
    widget.decompose()
    with pytest.raises(ValueError, match="out of range"):
        wait_worker(widget)
    assert len(viewer.layers) == n
    assert "out of range" in widget.status


def test_cancel_stops_a_running_job_and_discards_it(viewer, qtbot, widget):
    import time

    done = []

    def slow_job():
        for i in range(200):
            time.sleep(0.02)
            yield i
        return "finished"

    worker = widget.start(slow_job, done.append, total=200, desc="slow test job")
    qtbot.wait(100)
    assert widget._cancel_btn.enabled
    widget.cancel()
    qtbot.waitUntil(lambda: not widget.busy, timeout=10_000)
    assert done == []
    assert "cancelled" in widget.status
    assert not widget._cancel_btn.enabled and widget.decompose_btn.enabled is True
