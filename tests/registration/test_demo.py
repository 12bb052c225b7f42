"""The registration demo used by `make demo` (slow: a full 2 mm MNI152 pair)."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_run_demo(tmp_path) -> None:
    from medwave.registration.demo import run_demo

    s = run_demo(tmp_path / "reg", progress=False)
    assert s["dice_mean"] > s["dice_mean_before"] + 0.05
    assert s["folding_percent"] < 0.01
    for name in ("fixed.nii.gz", "moving.nii.gz", "warped.nii.gz", "ddf_monai_voxel.nii.gz", "jacdet.nii.gz",
                 "warped_seg.nii.gz", "transform.json"):
        assert (tmp_path / "reg" / name).exists()
    assert json.loads((tmp_path / "reg" / "metrics.json").read_text())["dice_mean"] == pytest.approx(s["dice_mean"])
