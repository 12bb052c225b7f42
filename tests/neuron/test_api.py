"""Tests for medwave.neuron.api (segment_neurons) and the demo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import medwave
from medwave.neuron.api import DEFAULT_WEIGHTS, load_default_model, segment_neurons
from medwave.neuron.cubes import partition
from medwave.networks.checkpoint import save_checkpoint


class Threshold(torch.nn.Module):
    """A voxel-wise 2-class 'model': logit = 20 * (x - 0.5)."""

    def forward(self, x):
        return torch.cat([torch.zeros_like(x), 20 * (x - 0.5)], dim=1)


def _tiny_checkpoint(path):
    from medwave.neuron.train import TrainConfig, build_model

    cfg = TrainConfig().model
    cfg.update(channels=[2, 2, 2, 2], bottleneck=2)
    torch.manual_seed(0)
    m = build_model(cfg)
    save_checkpoint(path, config=cfg, state_dict=m.state_dict(), meta={"arch": "WaveUNet"})
    return m.eval()


def test_segment_neurons_with_a_module_matches_voxelwise_model(rng):
    x = rng.integers(0, 1000, size=(40, 70, 50)).astype(np.uint16)
    r = medwave.segment_neurons(x, weights=Threshold(), cube=(16, 32, 32), progress=False, trace=False)
    lo, hi = r.normalization
    expect = 1 / (1 + np.exp(-20 * ((x - lo) / (hi - lo) - 0.5)))
    np.testing.assert_allclose(r.probability, expect, atol=1e-5)
    np.testing.assert_array_equal(r.mask, r.probability > 0.5)
    assert r.swc is None and r.n_cubes == len(partition(x.shape, (16, 32, 32), 0.25))
    assert lo == pytest.approx(np.percentile(x, 1), rel=0.05)


def test_trace_and_zarr_outputs(tmp_path):
    zarr = pytest.importorskip("zarr")
    from medwave.neuron.synthetic import synthetic_neuron

    s = synthetic_neuron((32, 80, 80), seed=4)
    z = zarr.open_array(str(tmp_path / "s.zarr"), mode="w", shape=s.stack.shape, chunks=(16, 64, 64), dtype="uint16")
    z[:] = s.stack
    po = zarr.open_array(str(tmp_path / "p.zarr"), mode="w", shape=s.stack.shape, chunks=(16, 64, 64), dtype="float32")
    mo = zarr.open_array(str(tmp_path / "m.zarr"), mode="w", shape=s.stack.shape, chunks=(16, 64, 64), dtype="uint8")
    r_mem = segment_neurons(s.stack, weights=Threshold(), cube=(16, 64, 64), progress=False)
    r_z = segment_neurons(str(tmp_path / "s.zarr"), weights=Threshold(), cube=(16, 64, 64), progress=False,
                          prob_out=po, mask_out=mo)
    np.testing.assert_allclose(po[:], r_mem.probability, atol=1e-6)
    np.testing.assert_array_equal(mo[:].astype(bool), r_mem.mask)
    assert len(r_mem.swc) > 0 and "3D-WaveUNet" in r_mem.swc.comments[0]
    np.testing.assert_allclose(r_z.swc.nodes, r_mem.swc.nodes)


def test_checkpoint_round_trip_and_errors(tmp_path):
    m = _tiny_checkpoint(tmp_path / "tiny.pt")
    loaded = load_default_model(tmp_path / "tiny.pt")
    x = torch.randn(1, 1, 16, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), m(x))
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_default_model(tmp_path / "nope.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt.*not a readable neuron checkpoint"):
        load_default_model(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="3D"):
        segment_neurons(np.zeros((8, 8)), weights=Threshold(), progress=False)


@pytest.mark.skipif(not DEFAULT_WEIGHTS.exists(), reason="default weights not shipped")
def test_shipped_weights_segment_a_held_out_synthetic_stack():
    from skimage.filters import threshold_otsu

    from medwave.neuron.metrics import neuron_distance, voxel_metrics
    from medwave.neuron.synthetic import synthetic_neuron

    torch.set_num_threads(1)
    s = synthetic_neuron((32, 128, 128), seed=987654)  # seeds used in training are 10000+
    r = segment_neurons(s.stack, progress=False)
    dice = voxel_metrics(r.mask, s.mask)["dice"]
    otsu = voxel_metrics(s.stack > threshold_otsu(s.stack), s.mask)["dice"]
    assert dice > 0.6 and dice > otsu + 0.1, (dice, otsu)
    assert neuron_distance(s.swc, r.swc)["esa"] < 3.0


def test_calibrate_threshold_picks_the_best_dice(rng):
    from medwave.neuron.train import calibrate_threshold

    # a voxel-wise model whose probability is 0.3 on foreground and 0.1 on background:
    # any threshold in (0.1, 0.3) is perfect, 0.5 finds nothing
    x = np.zeros((16, 32, 32), np.float32)
    lab = rng.random(x.shape) < 0.05
    x[lab] = 1.0

    class M(torch.nn.Module):
        def forward(self, t):
            p = 0.1 + 0.2 * (t > 0.5).float()
            return torch.cat([torch.log(1 - p), torch.log(p)], dim=1)

    thr, dice = calibrate_threshold(M(), [(x, lab)], cube=(16, 32, 32))
    assert 0.1 <= thr < 0.3 and dice == pytest.approx(1.0)


def test_result_save_writes_every_output_on_the_input_grid(tmp_path):
    """NeuronSegmentation.save: the one writer behind the CLI, batch and bundle (issue 17)."""
    import json

    import nibabel as nib
    import tifffile

    from medwave.neuron.synthetic import synthetic_neuron

    s = synthetic_neuron((24, 48, 40), seed=2)
    aff = np.diag([0.5, 0.6, 2.0, 1.0])
    src = tmp_path / "stack.nii.gz"
    nib.save(nib.Nifti1Image(s.stack.transpose(2, 1, 0).astype(np.float32), aff), src)
    r = segment_neurons(src, weights=Threshold(), cube=(16, 32, 32), progress=False)
    paths = r.save(tmp_path / "out")
    assert set(paths) == {"probability", "mask", "swc", "summary"}
    assert paths["probability"].name == "probability.nii.gz"  # NIfTI in, NIfTI out
    prob = nib.load(paths["probability"])
    np.testing.assert_allclose(prob.affine, aff)
    np.testing.assert_allclose(np.asarray(prob.dataobj).transpose(2, 1, 0), r.probability, atol=1e-6)
    assert np.array_equal(np.asarray(nib.load(paths["mask"]).dataobj).transpose(2, 1, 0) > 0, r.mask)
    summary = json.loads(paths["summary"].read_text())
    assert summary["cubes"] == r.n_cubes and summary["foreground_voxels"] == int(r.mask.sum())
    assert paths["swc"].read_text().count("\n") > len(r.swc)  # comments + one line per node
    with pytest.raises(FileExistsError):
        r.save(tmp_path / "out")
    # TIFF for arrays, zarr on request (copied chunk by chunk)
    a = segment_neurons(s.stack, weights=Threshold(), cube=(16, 32, 32), progress=False, trace=False)
    tp = a.save(tmp_path / "tif")
    assert set(tp) == {"probability", "mask", "summary"} and tp["mask"].name == "mask.tif"
    np.testing.assert_array_equal(tifffile.imread(tp["mask"]) > 0, a.mask)
    zarr = pytest.importorskip("zarr")
    zp = a.save(tmp_path / "z", format="zarr")
    np.testing.assert_allclose(zarr.open_array(str(zp["probability"]), mode="r")[:], a.probability)
    assert not [q for q in (tmp_path / "z").iterdir() if q.name.startswith(".")]
