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
    assert rows[1]["spacing"] == [0.5, 0.5, 2.0] and rows[1]["orientation"] == "RAS"
    assert rows[2]["orientation"] == "LPS" and rows[2]["dtype"] == "int16"


def test_info_missing_file_exit_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "none.nii.gz")]) == 2
    assert "none.nii.gz: no such file" in capsys.readouterr().err


def test_info_help_has_example(capsys):
    with pytest.raises(SystemExit):
        main(["info", "--help"])
    assert "medwave info t1.nii.gz" in capsys.readouterr().out
