"""``medwave demo`` (what ``make demo`` runs): the orchestrator, the wavelet part and the CLI."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from medwave.cli import main
from medwave.demo import DEMO_PARTS, run_demos


def test_wavelet_demo_matches_pywavelets_and_writes_grids(tmp_path) -> None:
    report = run_demos(tmp_path, parts=["wavelets"], progress=False)
    r = report["wavelets"]
    assert r["status"] == "ok", r.get("traceback")
    res = r["result"]
    assert res["max_abs_error_vs_pywt"] < 1e-10  # float64 path
    assert res["max_reconstruction_error"] < 1e-10
    # denoising equals scikit-image's and actually removes noise
    assert abs(res["psnr_db"]["medwave"] - res["psnr_db"]["skimage"]) < 0.01
    assert res["psnr_db"]["medwave"] > res["psnr_db"]["noisy"] + 3
    t1 = nib.load(tmp_path / "wavelets" / "t1.nii.gz")
    aaa = nib.load(tmp_path / "wavelets" / "subbands" / "aaa.nii.gz")
    # the coarse band lives on a grid of twice the voxel size, centred on 2x2x2 blocks
    np.testing.assert_allclose(np.abs(np.diag(aaa.affine)[:3]), 2 * np.abs(np.diag(t1.affine)[:3]))
    np.testing.assert_allclose(aaa.affine[:3, 3], t1.affine[:3, :3] @ [0.5, 0.5, 0.5] + t1.affine[:3, 3])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary) == ["wavelets"] and summary["wavelets"]["status"] == "ok"
    assert (tmp_path / "wavelets" / "wavelets.png").stat().st_size > 10_000


def test_a_failing_part_is_reported_and_the_others_run(tmp_path, monkeypatch) -> None:
    import medwave.demo as demo

    real = demo._runner

    def broken(part):
        if part == "gaze":
            def fail(outdir, progress=True):
                raise RuntimeError("no radiograph")
            return fail
        return real(part)

    monkeypatch.setattr(demo, "_runner", broken)
    report = run_demos(tmp_path, parts=["gaze", "wavelets"], progress=False)
    assert report["gaze"]["status"] == "failed" and "no radiograph" in report["gaze"]["error"]
    assert report["wavelets"]["status"] == "ok"
    assert main(["demo", "-o", str(tmp_path / "cli"), "--parts", "gaze", "--quiet"]) == 1


def test_unknown_part_is_rejected(tmp_path) -> None:
    with pytest.raises(ValueError, match="choose from"):
        run_demos(tmp_path, parts=["nope"], progress=False)
    with pytest.raises(SystemExit) as e:
        main(["demo", "--parts", "nope"])
    assert e.value.code == 2
    assert set(DEMO_PARTS) == {"wavelets", "registration", "neurons", "gaze"}


def test_cli_demo_runs_a_part(tmp_path, capsys) -> None:
    assert main(["demo", "-o", str(tmp_path), "--parts", "wavelets"]) == 0
    out = capsys.readouterr().out
    assert "wavelets" in out and "ok" in out
    assert (tmp_path / "wavelets" / "denoised.nii.gz").exists()
