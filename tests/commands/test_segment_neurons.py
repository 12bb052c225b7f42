"""Tests for `medwave segment-neurons` and `medwave train-neurons`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch

from medwave.cli import main
from medwave.networks.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from medwave.neuron.swc import write_swc
    from medwave.neuron.synthetic import synthetic_neuron
    from medwave.neuron.train import TrainConfig, build_model

    d = tmp_path_factory.mktemp("seg")
    s = synthetic_neuron((24, 72, 64), seed=11)
    tifffile.imwrite(d / "stack.tif", s.stack)
    tifffile.imwrite(d / "gt_mask.tif", s.mask.astype(np.uint8))
    write_swc(s.swc, d / "gt.swc")
    cfg = TrainConfig().model
    cfg.update(channels=[2, 2, 2, 2], bottleneck=2)
    torch.manual_seed(0)
    m = build_model(cfg).eval()
    save_checkpoint(d / "tiny.pt", config=cfg, state_dict=m.state_dict(), meta={"arch": "WaveUNet"})
    return d, s


def test_tiff_in_tiff_out_with_metrics(data, tmp_path, capsys):
    d, s = data
    out = tmp_path / "out"
    rc = main(["segment-neurons", str(d / "stack.tif"), "-o", str(out), "--weights", str(d / "tiny.pt"),
               "--cube", "16", "32", "32", "--gt-swc", str(d / "gt.swc"), "--gt-mask", str(d / "gt_mask.tif"),
               "--quiet"])
    assert rc == 0
    prob = tifffile.imread(out / "probability.tif")
    mask = tifffile.imread(out / "mask.tif")
    assert prob.shape == s.stack.shape and prob.dtype == np.float32
    np.testing.assert_array_equal(mask.astype(bool), prob > 0.5)
    metrics = json.loads((out / "metrics.json").read_text())
    from medwave.neuron.metrics import voxel_metrics

    assert metrics["voxel"] == pytest.approx(voxel_metrics(mask, s.mask))
    assert (out / "neuron.swc").exists() or metrics.get("tracing_note")
    summary = json.loads(capsys.readouterr().out)
    assert summary["cubes"] > 1
    # outputs exist: refused without --overwrite (exit 2, message names the file)
    rc = main(["segment-neurons", str(d / "stack.tif"), "-o", str(out), "--weights", str(d / "tiny.pt"), "--quiet"])
    assert rc == 2 and "probability.tif already exists" in capsys.readouterr().err


def test_nifti_in_nifti_out_keeps_affine_and_orientation(data, tmp_path):
    import nibabel as nib

    d, s = data
    aff = np.diag([0.5, 0.5, 2.0, 1.0])
    aff[:3, 3] = [10, -5, 3]
    nib.save(nib.Nifti1Image(s.stack.transpose(2, 1, 0), aff), str(tmp_path / "stack.nii.gz"))
    out = tmp_path / "nout"
    assert main(["segment-neurons", str(tmp_path / "stack.nii.gz"), "-o", str(out), "--weights", str(d / "tiny.pt"),
                 "--cube", "16", "32", "32", "--no-trace", "--quiet"]) == 0
    p_nii = nib.load(str(out / "probability.nii.gz"))
    np.testing.assert_allclose(p_nii.affine, aff)
    # same values as the TIFF route on the (Z, Y, X) array
    from medwave.neuron.api import segment_neurons

    r = segment_neurons(s.stack, weights=str(d / "tiny.pt"), cube=(16, 32, 32), trace=False, progress=False)
    np.testing.assert_allclose(np.asarray(p_nii.dataobj).transpose(2, 1, 0), r.probability, atol=1e-6)
    assert not (out / "neuron.swc").exists()


def test_zarr_in_zarr_out(data, tmp_path):
    zarr = pytest.importorskip("zarr")
    d, s = data
    z = zarr.open_array(str(tmp_path / "stack.zarr"), mode="w", shape=s.stack.shape, chunks=(8, 32, 32), dtype="uint16")
    z[:] = s.stack
    out = tmp_path / "zout"
    assert main(["segment-neurons", str(tmp_path / "stack.zarr"), "-o", str(out), "--weights", str(d / "tiny.pt"),
                 "--cube", "16", "32", "32", "--no-trace", "--quiet"]) == 0
    p = zarr.open_array(str(out / "probability.zarr"), mode="r")
    assert p.shape == s.stack.shape and list(p.attrs["spacing"]) == [1.0, 1.0, 1.0]
    assert not [q for q in out.iterdir() if q.name.startswith(".")]  # no temporary folders left


def test_user_errors(tmp_path, capsys):
    assert main(["segment-neurons", str(tmp_path / "missing.tif"), "-o", str(tmp_path / "o")]) == 2
    assert "missing.tif" in capsys.readouterr().err
    (tmp_path / "x.png").write_bytes(b"")
    assert main(["segment-neurons", str(tmp_path / "x.png"), "-o", str(tmp_path / "o")]) == 2
    assert "unknown stack format" in capsys.readouterr().err


def test_train_neurons_checkpoint_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train-neurons", "-o", str(out), "--synthetic", "1", "--synthetic-shape", "16", "32", "32",
            "--cube", "16", "32", "32", "--channels", "2", "2", "2", "2", "--bottleneck", "2",
            "--checkpoint-every", "2", "--quiet", "--no-calibrate"]
    assert main(args + ["--steps", "6", "--stop-after", "4"]) == 0
    first = torch.load(out / "last.pt", weights_only=True)
    assert first["resume"]["step"] == 4 and len(first["resume"]["history"]) == 4 and not (out / "model.pt").exists()
    assert main(args + ["--steps", "6", "--resume"]) == 0
    assert (out / "model.pt").exists()
    assert torch.load(out / "model.pt", weights_only=True)["meta"]["threshold"] == 0.5
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["resume"]["step"] == 6 and ck["resume"]["history"][:4] == first["resume"]["history"]
    # a fresh 6-step run draws the same cubes and reaches the same weights as 4 + resume 2
    assert main(args + ["--steps", "6", "-o", str(tmp_path / "fresh")]) == 0
    fresh = torch.load(tmp_path / "fresh" / "last.pt", weights_only=True)
    np.testing.assert_allclose(fresh["resume"]["history"], ck["resume"]["history"], rtol=1e-4)
    assert main(["train-neurons", "-o", str(tmp_path / "none")]) == 2
    capsys.readouterr()
