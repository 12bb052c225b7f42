"""MONAI bundles of the shipped models: metadata, network in/out, and `python -m monai.bundle run` of a copy of
each bundle outside the package (its own models/model.pt, a folder or a datalist of tiny inputs)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

monai_bundle = pytest.importorskip("monai.bundle")
import medwave.bundles as mb  # noqa: E402

NET_ID = {"winet_registration": "network_io", "waveunet_neurons": "network", "gem_gaze": "network_io"}
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", mb.BUNDLES)
def test_metadata_offline(name):
    # the local schema file exists, so MONAI does not download the schema URL
    monai_bundle.verify_metadata(meta_file=str(mb.meta_file(name)), filepath=str(mb.SCHEMA_FILE))
    meta = json.loads(mb.meta_file(name).read_text())
    for key in ("version", "changelog", "monai_version", "pytorch_version", "numpy_version",
                "required_packages_version", "task", "description", "authors", "copyright", "network_data_format"):
        assert key in meta


@pytest.mark.parametrize("name", mb.BUNDLES)
def test_bundle_holds_its_model_and_it_loads_without_pickle(name):
    model = mb.bundle_dir(name) / "models" / "model.pt"
    assert model.is_file()
    ckpt = torch.load(model, map_location="cpu", weights_only=True)  # no unpickling of arbitrary objects
    assert isinstance(ckpt, dict) and "config" in ckpt
    for cfg in ("inference.json", "train.json"):
        text = (mb.bundle_dir(name) / "configs" / cfg).read_text()
        json.loads(text)
        assert "weights_only=False" not in text


@pytest.mark.parametrize("name", mb.BUNDLES)
def test_net_in_out(name):
    monai_bundle.verify_net_in_out(net_id=NET_ID[name], meta_file=str(mb.meta_file(name)),
                                   config_file=str(mb.config_file(name)), device="cpu", n=2,
                                   bundle_root=str(mb.bundle_dir(name)))


@pytest.mark.parametrize("name", mb.BUNDLES)
def test_train_config_names_the_training_front_door(name):
    parser = monai_bundle.ConfigParser()
    parser.read_config(str(mb.bundle_dir(name) / "configs" / "train.json"))
    train = parser.get_parsed_content("train", instantiate=True)  # a partial of the training function
    assert callable(train) and train.func.__module__.startswith("medwave.")


def _copy(name, tmp_path) -> Path:
    """The bundle copied (links followed) into a folder outside the package, as a user would download it."""
    dst = tmp_path / "bundles" / name
    shutil.copytree(mb.bundle_dir(name), dst, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    assert not (dst / "models" / "model.pt").is_symlink()
    return dst


def _run(bundle: Path, **over) -> subprocess.CompletedProcess:
    pytest.importorskip("fire")  # `python -m monai.bundle` needs python-fire
    pytest.importorskip("ignite")  # MONAI's evaluator
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    args = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/inference.json",
            "--meta_file", "configs/metadata.json"]
    for k, v in over.items():
        args += [f"--{k}", v]
    p = subprocess.run(args, cwd=bundle, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return p


def test_run_registration_copy_over_a_folder(tmp_path):
    from medwave.registration.synthetic import make_pair

    bundle = _copy("winet_registration", tmp_path)
    pair = make_pair(3)
    sl = (slice(28, 60), slice(36, 68), slice(28, 60))  # 32^3 crop of the 2 mm MNI grid
    aff = pair["affine"].copy()
    aff[:3, 3] += aff[:3, :3] @ np.array([28, 36, 28])
    data = bundle / "data"  # the config's default dataset_dir: <bundle_root>/data
    data.mkdir()
    nib.save(nib.Nifti1Image(pair["fixed"][sl].astype(np.float32), aff), tmp_path / "fixed.nii.gz")
    nib.save(nib.Nifti1Image(pair["moving"][sl].astype(np.float32), aff), data / "sub1.nii.gz")
    _run(bundle, fixed_file=str(tmp_path / "fixed.nii.gz"), iterations="10")
    out = bundle / "eval" / "sub1"
    for f in ("warped.nii.gz", "ddf_monai_voxel.nii.gz", "jacdet.nii.gz", "metrics.json", "transform.json"):
        assert (out / f).exists(), f
    ddf = nib.load(out / "ddf_monai_voxel.nii.gz")
    assert ddf.shape[:3] == (32, 32, 32) and np.allclose(ddf.affine, aff)
    m = json.loads((out / "metrics.json").read_text())
    with open(bundle / "eval" / "metrics.csv") as fh:  # MetricsSaver of the evaluator
        rows = list(csv.reader(fh))
    assert rows[0][0] == "folding_percent" and float(rows[0][1]) == pytest.approx(m["folding_percent"], abs=1e-4)


def test_run_neurons_copy_over_a_datalist_with_dice(tmp_path):
    from medwave.neuron.synthetic import synthetic_neuron

    bundle = _copy("waveunet_neurons", tmp_path)
    s = synthetic_neuron((32, 64, 64), seed=5)
    nib.save(nib.Nifti1Image(s.stack.transpose(2, 1, 0).astype(np.float32), np.eye(4)), tmp_path / "n1.nii.gz")
    nib.save(nib.Nifti1Image(s.mask.transpose(2, 1, 0).astype(np.uint8), np.eye(4)), tmp_path / "n1_label.nii.gz")
    (tmp_path / "dl.json").write_text(json.dumps({"test": [{"image": "n1.nii.gz", "label": "n1_label.nii.gz"}]}))
    out = tmp_path / "out"
    _run(bundle, datalist_file=str(tmp_path / "dl.json"), dataset_dir=str(tmp_path), output_dir=str(out),
         cube="[32,64,64]")
    prob = np.asarray(nib.load(out / "n1" / "probability.nii.gz").dataobj)
    assert prob.shape == (64, 64, 32) and 0 <= prob.min() and prob.max() <= 1
    mask = np.asarray(nib.load(out / "n1" / "mask.nii.gz").dataobj).transpose(2, 1, 0) > 0
    dice = 2 * (mask & s.mask).sum() / (mask.sum() + s.mask.sum())
    with open(out / "metrics.csv") as fh:
        rows = {r[0]: float(r[1]) for r in csv.reader(fh)}
    assert rows["val_mean_dice"] == pytest.approx(dice, abs=1e-4)  # the evaluator's Dice is the mask's Dice
    assert dice > 0.3  # the shipped model finds the neuron


def test_run_gaze_copy_over_a_folder(tmp_path):
    from pydicom.data import get_testdata_file
    from skimage.transform import resize

    from medwave.gaze.io import load_radiograph

    bundle = _copy("gem_gaze", tmp_path)
    img = resize(load_radiograph(get_testdata_file("RG1_UNCR.dcm")), (256, 240), anti_aliasing=True)
    (tmp_path / "in").mkdir()
    nib.save(nib.Nifti1Image(img.T.astype(np.float32), np.eye(4)), tmp_path / "in" / "cxr.nii.gz")
    out = tmp_path / "out"
    _run(bundle, dataset_dir=str(tmp_path / "in"), output_dir=str(out), sentence="'The heart is enlarged.'")
    for f in ("gaze_points.csv", "gaze_heatmap.npy", "gaze_heatmap.png", "gaze_overlay.png", "summary.json"):
        assert (out / "cxr" / f).exists(), f
    heat = np.load(out / "cxr" / "gaze_heatmap.npy")
    assert heat.shape == (256, 240) and abs(float(heat.sum()) - 1.0) < 1e-3
    pts = np.array(json.loads((out / "cxr" / "summary.json").read_text())[0]["points"])
    assert pts.shape == (8, 2) and (pts[:, 0] >= 0).all() and (pts[:, 0] < 240).all() and (pts[:, 1] < 256).all()


def test_winet_train_config_is_the_shipped_recipe_and_unsupervised_on_real_data():
    """Synthetic (default): supervised on the known velocity, as the shipped weights were trained; a datalist (real
    data, no known deformation) must switch to the image loss, or the run would have nothing to learn from."""
    parser = monai_bundle.ConfigParser()
    parser.read_config(str(mb.bundle_dir("winet_registration") / "configs" / "train.json"))
    kw = parser.get_parsed_content("train", instantiate=True).keywords
    assert (kw["synthetic"], kw["field_weight"], kw["image_weight"], kw["smoothness"]) == (88, 1.0, 0.0, 0.0)
    assert (kw["crop"], kw["batch_size"], kw["base_width"], kw["lr"]) == (64, 2, 4, 5e-4)
    parser.update({"datalist_file": "pairs.json"})
    kw = parser.get_parsed_content("train", instantiate=True, lazy=False).keywords
    assert kw["datalist"] == "pairs.json" and kw["synthetic"] == 0
    assert (kw["field_weight"], kw["image_weight"], kw["smoothness"]) == (0.0, 1.0, 1.0)
