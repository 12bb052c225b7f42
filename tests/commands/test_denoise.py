"""`medwave denoise`: exit codes, outputs with the input's affine, refusal to overwrite."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from skimage.restoration import denoise_wavelet

from medwave.cli import main
from medwave.io import Image, load_image, save_image


def _affine():
    a = np.diag([0.9, -1.1, 2.0, 1.0])
    a[:3, 3] = [-40.0, 50.0, -10.0]
    return a


@pytest.fixture
def noisy(tmp_path, rng):
    g = np.meshgrid(*[np.linspace(-1, 1, s) for s in (40, 36, 30)], indexing="ij")
    clean = np.exp(-3 * sum(x**2 for x in g)).astype(np.float32)
    arr = (clean + 0.1 * rng.standard_normal(clean.shape)).astype(np.float32)
    nimg = nib.Nifti1Image(arr, _affine())
    nimg.header["descrip"] = b"noisy phantom"
    p = tmp_path / "noisy.nii.gz"
    nib.save(nimg, p)
    return p, arr, clean


def test_denoise_nifti_matches_skimage_and_keeps_affine(noisy, tmp_path, capsys):
    src, arr, clean = noisy
    before = src.read_bytes()
    out = tmp_path / "den.nii.gz"
    assert main(["denoise", str(src), "-o", str(out), "--wavelet", "db2", "--method", "VisuShrink", "--mode", "hard"]) == 0
    img = load_image(out)
    np.testing.assert_allclose(img.affine, _affine(), atol=1e-6)
    assert img.array.dtype == np.float32
    ref = denoise_wavelet(arr, wavelet="db2", method="VisuShrink", mode="hard", channel_axis=None)
    np.testing.assert_allclose(img.array, ref, atol=2e-5)
    assert nib.load(out).header["descrip"].tobytes().rstrip(b"\0") == b"noisy phantom"
    assert src.read_bytes() == before
    msg = capsys.readouterr().out
    assert "noisy.nii.gz (40x36x30)" in msg and "VisuShrink" in msg


def test_refuses_to_overwrite_input_and_existing_output(noisy, tmp_path, capsys):
    src, _, _ = noisy
    before = src.read_bytes()
    assert main(["denoise", str(src), "-o", str(src), "--overwrite"]) == 2
    assert "also an input" in capsys.readouterr().err
    assert src.read_bytes() == before
    out = tmp_path / "exists.nii.gz"
    out.write_bytes(b"keep me")
    assert main(["denoise", str(src), "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert main(["denoise", str(src), "-o", str(out), "--overwrite", "--sigma", "0.1", "--levels", "2"]) == 0
    assert load_image(out).shape == (40, 36, 30)


def test_tiff_stack_keeps_voxel_size(tmp_path, rng):
    arr = (1000 + 100 * rng.standard_normal((32, 30, 12))).astype(np.uint16)
    aff = np.diag([0.3, 0.3, 1.0, 1.0])
    src = save_image(Image(arr, aff), tmp_path / "stack.tif")
    out = tmp_path / "stack_dn.tif"
    assert main(["denoise", str(src), "-o", str(out), "--no-progress"]) == 0
    img = load_image(out)
    np.testing.assert_allclose(img.spacing, (0.3, 0.3, 1.0), rtol=1e-6)
    assert img.array.dtype == np.float32 and img.shape == arr.shape
    assert img.array.std() < arr.std() / 2


def test_2d_and_4d_inputs(tmp_path, rng):
    a2 = rng.standard_normal((50, 40)).astype(np.float32)
    p2 = tmp_path / "slice.nii"
    nib.save(nib.Nifti1Image(a2, np.eye(4)), p2)
    assert main(["denoise", str(p2), "-o", str(tmp_path / "s.nii.gz")]) == 0
    np.testing.assert_allclose(load_image(tmp_path / "s.nii.gz").array, denoise_wavelet(a2, channel_axis=None), atol=2e-5)
    a4 = rng.standard_normal((20, 22, 18, 3)).astype(np.float32)
    a4[..., 1] *= 5
    p4 = tmp_path / "bold.nii.gz"
    nib.save(nib.Nifti1Image(a4, np.eye(4)), p4)
    assert main(["denoise", str(p4), "-o", str(tmp_path / "b.nii.gz"), "--no-progress"]) == 0
    out = load_image(tmp_path / "b.nii.gz").array
    assert out.shape == a4.shape
    for v in range(3):
        np.testing.assert_allclose(out[..., v], denoise_wavelet(a4[..., v], channel_axis=None), atol=1e-4)
    # slice-wise 2D on a 3D stack
    a3 = rng.standard_normal((24, 26, 4)).astype(np.float32)
    p3 = tmp_path / "stack.nii.gz"
    nib.save(nib.Nifti1Image(a3, np.eye(4)), p3)
    assert main(["denoise", str(p3), "-o", str(tmp_path / "sw.nii.gz"), "--spatial-dims", "2"]) == 0
    sw = load_image(tmp_path / "sw.nii.gz").array
    np.testing.assert_allclose(sw[:, :, 2], denoise_wavelet(a3[:, :, 2], channel_axis=None), atol=2e-5)


def test_bad_inputs_exit_2(tmp_path, capsys, noisy):
    src, _, _ = noisy
    assert main(["denoise", str(tmp_path / "nope.nii.gz"), "-o", str(tmp_path / "o.nii.gz")]) == 2
    assert "nope.nii.gz: no such file" in capsys.readouterr().err
    assert main(["denoise", str(src), "-o", str(tmp_path / "o.nii.gz"), "--wavelet", "morl"]) == 2
    assert "not a discrete wavelet" in capsys.readouterr().err
    bad = np.ones((8, 8, 8), np.float32)
    bad[1, 1, 1] = np.nan
    pb = tmp_path / "nan.nii.gz"
    nib.save(nib.Nifti1Image(bad, np.eye(4)), pb)
    assert main(["denoise", str(pb), "-o", str(tmp_path / "o.nii.gz")]) == 2
    assert "nan.nii.gz has 1 NaN/Inf voxel" in capsys.readouterr().err
    p1 = tmp_path / "line.nii"
    nib.save(nib.Nifti1Image(np.ones((16,), np.float32), np.eye(4)), p1)
    assert main(["denoise", str(p1), "-o", str(tmp_path / "o.nii.gz")]) == 2
    assert "denoise needs a 2D image or a 3D volume" in capsys.readouterr().err
    assert not (tmp_path / "o.nii.gz").exists()


def test_help_has_example(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["denoise", "--help"])
    assert exc.value.code == 0
    assert "medwave denoise t1.nii.gz -o t1_denoised.nii.gz" in capsys.readouterr().out
