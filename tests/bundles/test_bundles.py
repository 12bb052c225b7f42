"""MONAI bundles of the shipped models: metadata, network in/out, and a real `python -m monai.bundle run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

monai_bundle = pytest.importorskip("monai.bundle")
import medwave.bundles as mb  # noqa: E402

NET_ID = {"winet_registration": "network_io", "waveunet_neurons": "network", "gem_gaze": "network_io"}


@pytest.mark.parametrize("name", mb.BUNDLES)
def test_metadata_offline(name):
    # the local schema file exists, so MONAI does not download the schema URL
    monai_bundle.verify_metadata(meta_file=str(mb.meta_file(name)), filepath=str(mb.SCHEMA_FILE))
    meta = json.loads(mb.meta_file(name).read_text())
    for key in ("version", "changelog", "monai_version", "pytorch_version", "numpy_version",
                "required_packages_version", "task", "description", "authors", "copyright", "network_data_format"):
        assert key in meta


@pytest.mark.parametrize("name", mb.BUNDLES)
def test_net_in_out(name):
    monai_bundle.verify_net_in_out(net_id=NET_ID[name], meta_file=str(mb.meta_file(name)),
                                   config_file=str(mb.config_file(name)), device="cpu", n=2)


def _run(name, tmp_path, **over):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(mb.config_file(name)),
            "--meta_file", str(mb.meta_file(name))]
    for k, v in over.items():
        args += [f"--{k}", v]
    pytest.importorskip("fire")  # `python -m monai.bundle` needs python-fire
    p = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return p


def test_run_registration(tmp_path):
    from medwave.registration.synthetic import make_pair

    pair = make_pair(3)
    sl = (slice(20, 68), slice(24, 88), slice(20, 68))  # 48 x 64 x 48 crop of the 2 mm MNI grid
    aff = pair["affine"].copy()
    aff[:3, 3] += aff[:3, :3] @ np.array([20, 24, 20])
    for key in ("fixed", "moving"):
        nib.save(nib.Nifti1Image(pair[key][sl].astype(np.float32), aff), tmp_path / f"{key}.nii.gz")
    out = tmp_path / "out"
    _run("winet_registration", tmp_path, input_file=str(tmp_path / "moving.nii.gz"),
         fixed_file=str(tmp_path / "fixed.nii.gz"), output_dir=str(out))
    for f in ("warped.nii.gz", "ddf_monai_voxel.nii.gz", "jacdet.nii.gz", "metrics.json", "transform.json"):
        assert (out / f).exists(), f
    ddf = nib.load(out / "ddf_monai_voxel.nii.gz")
    assert ddf.shape[:3] == (48, 64, 48) and np.allclose(ddf.affine, aff)
    assert np.isfinite(np.asarray(ddf.dataobj)).all()
    m = json.loads((out / "metrics.json").read_text())
    assert m["method"] == "winet" and m["folding_percent"] < 5.0


def test_run_neurons(tmp_path):
    from medwave.neuron.synthetic import synthetic_neuron

    s = synthetic_neuron((32, 64, 64), seed=5)
    nib.save(nib.Nifti1Image(s.stack.transpose(2, 1, 0).astype(np.float32), np.eye(4)), tmp_path / "stack.nii.gz")
    out = tmp_path / "out"
    _run("waveunet_neurons", tmp_path, input_file=str(tmp_path / "stack.nii.gz"), output_dir=str(out),
         cube="[32,64,64]")
    prob = np.asarray(nib.load(out / "probability.nii.gz").dataobj)
    assert prob.shape == (64, 64, 32) and 0 <= prob.min() and prob.max() <= 1
    mask = np.asarray(nib.load(out / "mask.nii.gz").dataobj).transpose(2, 1, 0) > 0
    assert mask.any()
    # the mask lies on the neuron more than chance would
    assert (mask & s.mask).sum() / mask.sum() > 5 * s.mask.mean()
    assert json.loads((out / "summary.json").read_text())["cubes"] >= 1


def test_run_gaze(tmp_path):
    from pydicom.data import get_testdata_file
    from skimage.transform import resize

    from medwave.gaze.io import load_radiograph

    img = resize(load_radiograph(get_testdata_file("RG1_UNCR.dcm")), (256, 240), anti_aliasing=True)
    nib.save(nib.Nifti1Image(img.T.astype(np.float32), np.eye(4)), tmp_path / "cxr.nii.gz")
    out = tmp_path / "out"
    _run("gem_gaze", tmp_path, input_file=str(tmp_path / "cxr.nii.gz"), output_dir=str(out),
         sentence="'The heart is enlarged.'")
    for f in ("gaze_points.csv", "gaze_heatmap.npy", "gaze_heatmap.png", "gaze_overlay.png", "summary.json"):
        assert (out / f).exists(), f
    heat = np.load(out / "gaze_heatmap.npy")
    assert heat.shape == (256, 240) and abs(float(heat.sum()) - 1.0) < 1e-3
    pts = np.array(json.loads((out / "summary.json").read_text())[0]["points"])
    assert pts.shape == (8, 2) and (pts[:, 0] >= 0).all() and (pts[:, 0] < 240).all() and (pts[:, 1] < 256).all()
