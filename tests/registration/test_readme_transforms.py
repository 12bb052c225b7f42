"""README's "Use the result in ANTs, SimpleITK, MONAI": every code block of that section is run as written, on a real
MNI152 pair, and each ecosystem's result is compared with medwave's own warped image."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest

from medwave.cli import main
from medwave.io import Image, load_image, save_image

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Use the result in ANTs, SimpleITK, MONAI"
ANTS_PYTHON = Path("/work/venvs/ants/bin/python")


def _blocks() -> list[tuple[str, str]]:
    text = README.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end if end > 0 else None]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)


def _corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """fixed/moving (the moving header rotated and shifted: --affine has work), a second moving contrast, labels and
    landmarks, as the README's lines name them."""
    from medwave.registration.synthetic import make_pair

    root = tmp_path_factory.mktemp("readme")
    pair = make_pair(5)
    crop = (slice(24, 72), slice(30, 86), slice(24, 72))
    faff = pair["affine"].copy()
    faff[:3, 3] += faff[:3, :3] @ np.array([24, 30, 24])
    a = np.deg2rad(6.0)
    move = np.eye(4)
    move[:3, :3] = [[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]
    move[:3, 3] = [4.0, -3.0, 2.0]
    maff = move @ faff
    save_image(Image(pair["fixed"][crop], faff), root / "fixed.nii.gz")
    save_image(Image(pair["moving"][crop], maff), root / "moving.nii.gz")
    save_image(Image(1.0 - pair["moving"][crop], maff), root / "moving_t2.nii.gz")
    save_image(Image(pair["moving_labels"][crop], maff), root / "moving_seg.nii.gz")
    (root / "landmarks_moving.csv").write_text("name,x,y,z\nA,0.0,-20.0,10.0\nB,12.0,-30.0,20.0\n")
    return root


def test_readme_section_has_the_four_kinds_of_block() -> None:
    kinds = [k for k, _ in _blocks()]
    assert kinds == ["bash", "python", "python", "python"]


def test_readme_lines_run_and_agree(workdir, monkeypatch) -> None:
    blocks = _blocks()
    monkeypatch.chdir(workdir)
    bash = blocks[0][1]
    for line in bash.strip().splitlines():
        argv = shlex.split(line.split("#")[0])
        assert argv[0] == "medwave"
        assert main(argv[1:]) == 0, line
    ours = load_image(workdir / "out" / "warped.nii.gz").array
    t2 = load_image(workdir / "t2_on_fixed.nii.gz").array
    # the other contrast went to the same place; voxels sampled outside the moving image are 0 in both (the
    # inverted contrast too), so they are left out (0.4 % of the crop with the greedy scheme's field)
    inside = (ours != 0) | (t2 != 0)
    assert inside.mean() > 0.95 and _corr(t2[inside], ours[inside]) < -0.99
    assert (workdir / "landmarks_on_fixed.csv").read_text().startswith("name,x,y,z\nA,")
    assert load_image(workdir / "fixed_on_moving.nii.gz").array.shape == load_image(workdir / "moving.nii.gz").shape
    # SimpleITK
    ns: dict = {}
    exec(compile(blocks[1][1], "README-simpleitk", "exec"), ns)
    import SimpleITK as sitk

    itk = np.transpose(sitk.GetArrayFromImage(ns["warped"]), (2, 1, 0))
    assert _corr(itk, ours) >= 0.999
    # MONAI: an image on the fixed grid warped by the voxel DDF (two interpolations, so a little softer; the image
    # resampled onto the fixed grid ends at its edge, where medwave samples the moving image itself: inside only)
    ns = {}
    exec(compile(blocks[3][1], "README-monai", "exec"), ns)
    inner = (slice(2, -2),) * 3
    assert _corr(ns["warped"][0, 0].numpy()[inner], ours[inner]) >= 0.99


@pytest.mark.skipif(not ANTS_PYTHON.exists(), reason="antspyx is not installed in /work/venvs/ants")
def test_readme_ants_block(workdir) -> None:
    """Run after test_readme_lines_run_and_agree (which wrote out/) in ANTs' own venv."""
    if not (workdir / "out" / "transform.json").exists():
        assert main(["register", str(workdir / "fixed.nii.gz"), str(workdir / "moving.nii.gz"), "-o",
                     str(workdir / "out"), "--affine", "--no-progress"]) == 0
    code = _blocks()[2][1] + "\nants.image_write(warped, 'warped_ants.nii.gz')\n"
    env = {"OMP_NUM_THREADS": "1", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1", "PATH": os.environ.get("PATH", "")}
    subprocess.run([str(ANTS_PYTHON), "-c", code], cwd=workdir, check=True, timeout=300, env=env)
    ants_arr = load_image(workdir / "warped_ants.nii.gz").array
    assert _corr(ants_arr, load_image(workdir / "out" / "warped.nii.gz").array) >= 0.999
