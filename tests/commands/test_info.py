"""`medwave info`: shape, spacing, orientation code, dtype and value range."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from medwave.cli import main
from medwave.io import Image, save_image


def test_info_nifti_text(tmp_path, capsys):
    aff = np.diag([-1.5, 2.0, 3.0, 1.0])  # LAS
    arr = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 10
    p = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(arr, aff), p)
    assert main(["info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "shape        4 x 5 x 6" in out
    assert "spacing      1.5 x 2 x 3" in out
    assert "orientation  LAS" in out
    assert "dtype        int16" in out
    assert "range        [-10, 109]" in out


def test_info_json_several_formats(tmp_path, capsys):
    a = np.zeros((6, 7, 8), np.float32)
    a[0, 0, 0] = np.nan
    a[1, 1, 1] = 4.0
    lps_like = np.diag([-1.0, -1.0, 1.0, 1.0])
    p1 = save_image(Image(a, lps_like), tmp_path / "a.nii.gz")
    p2 = save_image(Image(np.ones((6, 7, 8), np.uint16), np.diag([0.5, 0.5, 2.0, 1.0])), tmp_path / "b.tif")
    p3 = save_image(Image(np.ones((6, 7, 8), np.int16), lps_like), tmp_path / "c.nrrd")
    assert main(["info", str(p1), str(p2), str(p3), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["format"] for r in rows] == ["nifti", "tiff", "nrrd"]
    assert rows[0]["orientation"] == "LPS" and rows[0]["nonfinite"] == 1 and rows[0]["max"] == 4.0
    # a TIFF stores a voxel size, not an orientation: none is claimed (was "RAS" before issue 17)
    assert rows[1]["spacing"] == [0.5, 0.5, 2.0] and rows[1]["orientation"] is None and rows[1]["unit"] == "um"
    assert all(r["axes"] == ["x", "y", "z"] for r in rows)
    assert rows[2]["orientation"] == "LPS" and rows[2]["dtype"] == "int16"


def test_info_missing_file_exit_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "none.nii.gz")]) == 2
    assert "none.nii.gz: no such file" in capsys.readouterr().err


def test_info_help_has_example(capsys):
    with pytest.raises(SystemExit):
        main(["info", "--help"])
    assert "medwave info t1.nii.gz" in capsys.readouterr().out


def test_info_one_axis_convention_and_no_orientation_for_tiff(tmp_path, capsys):
    import tifffile

    p = tmp_path / "stack.tif"  # pages (Z=4, Y=6, X=8), 0.5 x 0.5 x 2 um
    tifffile.imwrite(p, np.zeros((4, 6, 8), np.uint16), imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"})
    n = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 6, 4), np.int16), np.diag([0.5, 0.5, 2.0, 1.0])), n)
    assert main(["info", str(p), str(n)]) == 0
    tif_out, nii_out = capsys.readouterr().out.split(str(n))
    for out in (tif_out, nii_out):  # the same image, the same listing in both formats
        assert "axes         x, y, z (x first)" in out
        assert "shape        8 x 6 x 4" in out
    assert "spacing      0.5 x 0.5 x 2 um" in tif_out and "spacing      0.5 x 0.5 x 2 mm" in nii_out
    assert "orientation" not in tif_out and "orientation  RAS" in nii_out
