"""segment_neurons reads a stack the same way in every accepted form, never modifies it, keeps its geometry."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import tifffile
import torch

from medwave import segment_neurons
from medwave.io import Image, save_image
from medwave.neuron.swc import read_swc, swc_to_voxels


@pytest.fixture(scope="module")
def neuron():
    from medwave.neuron.synthetic import synthetic_neuron

    return synthetic_neuron((16, 40, 48), seed=3).stack  # (Z, Y, X)


def _run(x, **kw):
    return segment_neurons(x, cube=(16, 40, 48), progress=False, **kw)


def test_every_form_gives_the_same_result(tmp_path, neuron):
    from monai.data import MetaTensor
    from monai.transforms import LoadImage

    xyz = np.ascontiguousarray(neuron.transpose(2, 1, 0))
    tif = tmp_path / "s.tif"
    tifffile.imwrite(tif, neuron)
    nii = save_image(Image(xyz, np.eye(4)), tmp_path / "s.nii.gz")
    forms = {
        "zyx array": neuron,
        "zyx tensor": torch.from_numpy(neuron.astype(np.int32)),
        "tiff path": str(tif),
        "nifti path": nii,
        "nibabel": nib.load(str(nii)),
        "Image": Image(xyz, np.eye(4)),
        "MetaTensor": MetaTensor(torch.from_numpy(xyz[None].astype(np.float32)), affine=torch.eye(4, dtype=torch.float64)),
        "LoadImage": LoadImage(ensure_channel_first=True, image_only=True)(str(nii)),
    }
    before = neuron.copy()
    ref = _run(neuron)
    assert ref.swc is not None and len(ref.swc) > 0
    for name, x in forms.items():
        r = _run(x)
        np.testing.assert_allclose(np.asarray(r.probability), np.asarray(ref.probability), atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(np.asarray(r.mask), np.asarray(ref.mask), err_msg=name)
        np.testing.assert_allclose(r.swc.nodes, ref.swc.nodes, atol=1e-6, err_msg=name)
    np.testing.assert_array_equal(neuron, before)


def test_channel_first_metatensor_is_accepted_and_multichannel_refused(neuron):
    from monai.data import MetaTensor

    xyz = neuron.transpose(2, 1, 0).astype(np.float32)
    two = MetaTensor(torch.from_numpy(np.stack([xyz, xyz])), affine=torch.eye(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="one 3D"):
        _run(two)


def test_swc_physical_by_default_voxel_on_request(tmp_path, neuron):
    p = tmp_path / "ij.tif"  # 0.5 x 0.5 x 2 um
    tifffile.imwrite(p, neuron, imagej=True, resolution=(2.0, 2.0), metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"})
    phys = _run(str(p))
    vox = _run(str(p), swc_units="voxel")
    assert phys.info["swc_units"] == "physical" and vox.info["swc_units"] == "voxel"
    assert any("physical, um" in c for c in phys.swc.comments) and any("voxel" in c for c in vox.swc.comments)
    np.testing.assert_allclose(phys.swc.xyz, vox.swc.xyz * [0.5, 0.5, 2.0], atol=1e-6)
    np.testing.assert_allclose(swc_to_voxels(phys.swc, phys.stack.grid_affine()).xyz, vox.swc.xyz, atol=1e-6)
    zmax = neuron.shape[0] - 1
    assert vox.swc.xyz[:, 2].max() <= zmax + 1e-6 and phys.swc.xyz[:, 2].max() > zmax  # z in um, not voxels
    with pytest.raises(ValueError, match="swc_units"):
        _run(neuron, swc_units="mm")


def test_cli_writes_geometry_and_reports_x_first(tmp_path, neuron, capsys):
    import json

    from medwave.cli import main
    from medwave.io import load_image

    p = tmp_path / "ij.tif"
    tifffile.imwrite(p, neuron, imagej=True, resolution=(2.0, 2.0), metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"})
    out = tmp_path / "out"
    assert main(["segment-neurons", str(p), "-o", str(out), "--cube", "16", "40", "48", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["axes"] == "x, y, z" and summary["shape"] == [48, 40, 16]
    assert summary["spacing"] == [0.5, 0.5, 2.0] and summary["unit"] == "um" and summary["swc_units"] == "physical"
    for name in ("mask.tif", "probability.tif"):
        np.testing.assert_allclose(load_image(out / name).spacing, (0.5, 0.5, 2.0))
    assert any("physical, um" in c for c in read_swc(out / "neuron.swc").comments)
    out2 = tmp_path / "out2"
    assert main(["segment-neurons", str(p), "-o", str(out2), "--cube", "16", "40", "48", "--quiet", "--voxel-swc"]) == 0
    assert any("voxel indices" in c for c in read_swc(out2 / "neuron.swc").comments)
