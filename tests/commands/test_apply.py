"""`medwave apply` from the command line: images, label maps, points, --inverse, --reference, bad input (exit 2)."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from medwave.cli import main


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    """A box moved along x, registered by the CLI (fixed 2 mm; the moving stored at 3 mm with a flipped affine)."""
    root = tmp_path_factory.mktemp("cli_apply")
    x = np.zeros((24, 24, 24), np.float32)
    x[6:18, 7:17, 8:16] = 1.0
    x[9:12, 9:12, 9:12] = 0.5
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = [-20.0, -24.0, -10.0]
    nib.save(nib.Nifti1Image(np.roll(x, 2, 0), aff), root / "fixed.nii.gz")
    nib.save(nib.Nifti1Image((np.roll(x, 2, 0) > 0).astype(np.int16), aff), root / "fixed_seg.nii.gz")
    nib.save(nib.Nifti1Image(x, aff), root / "moving.nii.gz")
    nib.save(nib.Nifti1Image((x > 0).astype(np.int16) + (x == 0.5), aff), root / "moving_seg.nii.gz")
    out = root / "out"
    assert main(["register", str(root / "fixed.nii.gz"), str(root / "moving.nii.gz"), "-o", str(out),
                 "--iterations", "20,20,20,0", "--moving-seg", str(root / "moving_seg.nii.gz"), "--no-progress"]) == 0
    return root, out


def test_apply_image_reproduces_register_and_simpleitk(reg, tmp_path, capsys) -> None:
    root, out = reg
    dst = tmp_path / "w.nii.gz"
    assert main(["apply", str(out), str(root / "moving.nii.gz"), "-o", str(dst)]) == 0
    assert "wrote" in capsys.readouterr().out
    ours = np.asarray(nib.load(dst).dataobj)
    assert np.allclose(ours, np.asarray(nib.load(out / "warped.nii.gz").dataobj), atol=1e-5)
    assert np.allclose(nib.load(dst).affine, nib.load(root / "fixed.nii.gz").affine)
    fixed = sitk.ReadImage(str(root / "fixed.nii.gz"), sitk.sitkFloat32)
    field = sitk.ReadImage(str(out / "transform_itk_lps_mm.nii.gz"), sitk.sitkVectorFloat64)
    itk = sitk.Resample(sitk.ReadImage(str(root / "moving.nii.gz"), sitk.sitkFloat32), fixed,
                        sitk.DisplacementFieldTransform(field), sitk.sitkLinear, 0.0)
    itk = np.transpose(sitk.GetArrayFromImage(itk), (2, 1, 0))
    assert np.corrcoef(itk.ravel(), ours.ravel())[0, 1] >= 0.999
    # the registration did something: the warped box overlaps the fixed box better than the moving one
    f = np.asarray(nib.load(root / "fixed.nii.gz").dataobj)
    m = np.asarray(nib.load(root / "moving.nii.gz").dataobj)
    assert np.abs(ours - f).mean() < 0.7 * np.abs(m - f).mean()
    # an existing output is kept without --overwrite
    assert main(["apply", str(out), str(root / "moving.nii.gz"), "-o", str(dst)]) == 2
    assert main(["apply", str(out), str(root / "moving.nii.gz"), "-o", str(dst), "--overwrite"]) == 0


def test_apply_labels_inverse_reference_and_mha(reg, tmp_path) -> None:
    root, out = reg
    lab = tmp_path / "lab.nii.gz"
    assert main(["apply", str(out), str(root / "moving_seg.nii.gz"), "-o", str(lab), "--interpolation", "label"]) == 0
    got = np.asarray(nib.load(lab).dataobj)
    assert got.dtype == np.int16 and set(np.unique(got)) <= {0, 1, 2}
    assert np.array_equal(got, np.asarray(nib.load(out / "warped_seg.nii.gz").dataobj))
    near = tmp_path / "near.mha"  # LPS-stored output
    assert main(["apply", str(out), str(root / "moving_seg.nii.gz"), "-o", str(near),
                 "--interpolation", "nearest"]) == 0
    assert sitk.ReadImage(str(near)).GetSize() == (24, 24, 24)
    inv = tmp_path / "inv.nii.gz"
    assert main(["apply", str(out), str(root / "fixed.nii.gz"), "-o", str(inv), "--inverse"]) == 0
    m = np.asarray(nib.load(root / "moving.nii.gz").dataobj)
    f = np.asarray(nib.load(root / "fixed.nii.gz").dataobj)
    back = np.asarray(nib.load(inv).dataobj)
    assert np.abs(back - m).mean() < 0.7 * np.abs(f - m).mean()
    ref = tmp_path / "ref.nii.gz"
    raff = np.diag([3.0, 3.0, 3.0, 1.0])
    raff[:3, 3] = [-20.0, -24.0, -10.0]
    nib.save(nib.Nifti1Image(np.zeros((16, 16, 16), np.float32), raff), ref)
    on_ref = tmp_path / "on_ref.nii.gz"
    assert main(["apply", str(out), str(root / "moving.nii.gz"), "-o", str(on_ref), "--reference", str(ref)]) == 0
    assert nib.load(on_ref).shape == (16, 16, 16) and np.allclose(nib.load(on_ref).affine, raff)


def test_apply_points_round_trip(reg, tmp_path, capsys) -> None:
    root, out = reg
    pts = tmp_path / "pts.csv"
    pts.write_text("label,x,y,z\na,-6.0,-8.0,6.0\nb,0.0,-4.0,10.0\n")
    fwd, back = tmp_path / "fwd.csv", tmp_path / "back.csv"
    assert main(["apply", str(out), str(pts), "-o", str(fwd), "--inverse"]) == 0
    assert main(["apply", str(out), str(fwd), "-o", str(back)]) == 0
    assert "moved 2 points" in capsys.readouterr().out
    rows = [r.split(",") for r in back.read_text().splitlines()]
    assert rows[0] == ["label", "x", "y", "z"] and rows[1][0] == "a"
    got = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    assert np.abs(got - [[-6.0, -8.0, 6.0], [0.0, -4.0, 10.0]]).max() < 0.5  # mm; 2 mm voxels
    moved = np.array([[float(v) for v in r.split(",")[1:]] for r in fwd.read_text().splitlines()[1:]])
    assert np.abs(moved[:, 0] - [-6.0, 0.0]).max() > 0.5  # fixed -> moving: the box sits 2 voxels (4 mm) lower in x


def test_apply_bad_input_exit_2(reg, tmp_path, capsys) -> None:
    root, out = reg
    img = str(root / "moving.nii.gz")
    assert main(["apply", str(tmp_path), img, "-o", str(tmp_path / "o.nii.gz")]) == 2
    assert "not a transform folder" in capsys.readouterr().err
    assert main(["apply", str(tmp_path / "nope"), img, "-o", str(tmp_path / "o.nii.gz")]) == 2
    assert main(["apply", str(out), str(tmp_path / "nope.nii.gz"), "-o", str(tmp_path / "o.nii.gz")]) == 2
    assert main(["apply", str(out), img, "-o", str(tmp_path / "o.csv")]) == 2
    # an image in another world (no overlap with the moving space) -> a clear error, not an empty output
    far = tmp_path / "far.nii.gz"
    aff = nib.load(img).affine.copy()
    aff[:3, 3] += 3000.0
    nib.save(nib.Nifti1Image(np.asarray(nib.load(img).dataobj), aff), far)
    assert main(["apply", str(out), str(far), "-o", str(tmp_path / "o.nii.gz")]) == 2
    err = capsys.readouterr().err
    assert "does not overlap" in err and "--reference" in err and "Traceback" not in err
    # an old folder (ddf.nii.gz only) has no moving grid: --inverse needs --reference
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(out / "ddf_monai_voxel.nii.gz", old / "ddf.nii.gz")
    assert main(["apply", str(old), str(root / "fixed.nii.gz"), "-o", str(tmp_path / "o.nii.gz"), "--inverse"]) == 2
    assert "--reference" in capsys.readouterr().err
    assert main(["apply", str(old), str(root / "fixed.nii.gz"), "-o", str(tmp_path / "o.nii.gz"), "--inverse",
                 "--reference", img]) == 0
    # a points CSV whose rows are not numbers
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,z\none,two,three\n")
    assert main(["apply", str(out), str(bad), "-o", str(tmp_path / "o.csv")]) == 2
    assert "numeric" in capsys.readouterr().err
    # a 2D image
    flat = tmp_path / "flat.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8), np.float32), np.eye(4)), flat)
    assert main(["apply", str(out), str(flat), "-o", str(tmp_path / "o2.nii.gz")]) == 2
    assert "2D" in capsys.readouterr().err
