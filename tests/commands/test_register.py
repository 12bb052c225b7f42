"""`medwave register` and `medwave train-registration` from the command line."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from medwave.cli import main
from medwave.registration.api import SIMILARITY_DEFAULTS


@pytest.fixture
def pair(tmp_path):
    x = np.zeros((16, 16, 16), np.float32)
    x[4:12, 5:11, 5:12] = 1.0
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = [-10, -20, 5]
    paths = {}
    for name, arr in (("fixed", np.roll(x, 1, 0)), ("moving", x)):
        paths[name] = tmp_path / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(arr, aff), paths[name])
        paths[name + "_seg"] = tmp_path / f"{name}_seg.nii.gz"
        nib.save(nib.Nifti1Image((arr > 0).astype(np.int16), aff), paths[name + "_seg"])
    return paths, aff


def test_register_cli_writes_everything(pair, tmp_path, capsys) -> None:
    p, aff = pair
    out = tmp_path / "out"
    code = main(["register", str(p["fixed"]), str(p["moving"]), "-o", str(out), "--iterations", "5,5,0,0",
                 "--moving-seg", str(p["moving_seg"]), "--fixed-seg", str(p["fixed_seg"]), "--no-progress"])
    assert code == 0
    for name in ("warped.nii.gz", "ddf_monai_voxel.nii.gz", "transform_itk_lps_mm.nii.gz", "jacdet.nii.gz", "warped_seg.nii.gz",
                 "metrics.json", "transform.json"):
        assert (out / name).exists(), name
    assert np.allclose(nib.load(out / "warped.nii.gz").affine, aff)
    assert nib.load(out / "ddf_monai_voxel.nii.gz").header.get_intent()[0] == "vector"
    m = json.loads((out / "metrics.json").read_text())
    assert {"folding_percent", "sdlogj", "dice_mean", "total_seconds"} <= set(m)
    assert "Dice" in capsys.readouterr().out
    # outputs are not overwritten without --overwrite
    assert main(["register", str(p["fixed"]), str(p["moving"]), "-o", str(out), "--no-progress"]) == 2


def test_register_cli_user_errors(pair, tmp_path, capsys) -> None:
    p, _ = pair
    flat = tmp_path / "flat.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((32, 32), np.float32), np.eye(4)), flat)
    assert main(["register", str(flat), str(p["moving"]), "-o", str(tmp_path / "o1"), "--no-progress"]) == 2
    assert "2D" in capsys.readouterr().err
    assert main(["register", str(tmp_path / "nope.nii.gz"), str(p["moving"]), "-o", str(tmp_path / "o2")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["register", str(p["fixed"]), str(p["moving"]), "-o", str(tmp_path / "o3"), "--iterations", "x"]) == 2
    assert main(["register", str(p["fixed"]), str(p["moving"]), "-o", str(tmp_path / "o4"), "--fixed-seg",
                 str(p["fixed_seg"])]) == 2


def test_train_registration_cli_folder_and_resume(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        nib.save(nib.Nifti1Image(rng.random((16, 16, 16)).astype(np.float32), np.eye(4)), data / f"s{i}.nii.gz")
    out = tmp_path / "run"
    args = ["train-registration", str(data), "-o", str(out), "--epochs", "1", "--steps-per-epoch", "2",
            "--val-pairs", "1", "--base-width", "1", "--no-progress"]
    assert main(args) == 0
    assert (out / "best.pt").exists() and (out / "last.pt").exists()
    args[args.index("--epochs") + 1] = "2"
    assert main(args + ["--resume"]) == 0
    rows = (out / "log.csv").read_text().strip().splitlines()
    assert len(rows) == 3 and rows[0].startswith("epoch,train_loss,val_dice")
    assert main(["train-registration", "-o", str(out)]) == 2


def test_register_cli_similarity_and_masks(pair, tmp_path, capsys) -> None:
    p, aff = pair
    mask = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((16, 16, 16), np.uint8), aff), mask)
    out = tmp_path / "mi"
    assert main(["register", str(p["fixed"]), str(p["moving"]), "-o", str(out), "--iterations", "5,5,0,0",
                 "--similarity", "mi", "--fixed-mask", str(mask), "--moving-mask", str(mask), "--no-progress"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["similarity"] == "mi" and m["fixed_mask"] and m["moving_mask"]
    # without --smoothness the similarity's own default applies (register()'s table), with it the given value
    assert m["smoothness"] == SIMILARITY_DEFAULTS["mi"]["smoothness"]
    assert m["similarity_options"] == SIMILARITY_DEFAULTS["mi"]["options"] and m["iterations"] == [5, 5, 0, 0]
    assert main(["register", str(p["fixed"]), str(p["moving"]), "-o", str(tmp_path / "mi2"), "--iterations", "5,5,0,0",
                 "--similarity", "mi", "--smoothness", "0.3", "--no-progress"]) == 0
    assert json.loads((tmp_path / "mi2" / "metrics.json").read_text())["smoothness"] == 0.3
    capsys.readouterr()
    assert main(["register", str(p["fixed"]), str(p["moving"]), "-o", str(tmp_path / "o0"), "--similarity", "mi",
                 "--smoothness", "-1", "--no-progress"]) == 2
    assert "smoothness" in capsys.readouterr().err
    base = ["register", str(p["fixed"]), str(p["moving"]), "--no-progress", "-o"]
    with pytest.raises(SystemExit) as exc:  # argparse's own choice check: exit 2 with the choices named
        main(base + [str(tmp_path / "o1"), "--similarity", "ncc"])
    assert exc.value.code == 2 and "lncc" in capsys.readouterr().err
    assert main(base + [str(tmp_path / "o2"), "--fixed-mask", str(tmp_path / "nope.nii.gz")]) == 2
    assert "--fixed-mask" in capsys.readouterr().err
    small = tmp_path / "small.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.uint8), aff), small)
    assert main(base + [str(tmp_path / "o3"), "--moving-mask", str(small)]) == 2
    assert "grid" in capsys.readouterr().err
    empty = tmp_path / "empty.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((16, 16, 16), np.uint8), aff), empty)
    assert main(base + [str(tmp_path / "o4"), "--fixed-mask", str(empty)]) == 2
    assert "empty" in capsys.readouterr().err


def test_register_cli_optimizer(pair, tmp_path, capsys) -> None:
    p, _ = pair
    base = ["register", str(p["fixed"]), str(p["moving"]), "--no-progress", "-o"]
    assert main(base + [str(tmp_path / "w"), "--optimizer", "wavelet", "--iterations", "5,5,0,0"]) == 0
    assert json.loads((tmp_path / "w" / "metrics.json").read_text())["optimizer"] == "wavelet"
    assert main(base + [str(tmp_path / "g"), "--iterations", "0,5,5,2"]) == 0
    assert json.loads((tmp_path / "g" / "metrics.json").read_text())["optimizer"] == "greedy"
    capsys.readouterr()
    assert main(base + [str(tmp_path / "o1"), "--optimizer", "greedy", "--similarity", "mi"]) == 2
    assert "optimizer 'greedy'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(base + [str(tmp_path / "o2"), "--optimizer", "adam"])
    assert exc.value.code == 2 and "wavelet" in capsys.readouterr().err
