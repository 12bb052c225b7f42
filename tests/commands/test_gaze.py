"""`medwave gaze` and `medwave train-gaze` through the real CLI entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pydicom.data import get_testdata_file

from medwave.cli import main
from medwave.networks import GEM
from medwave.networks.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    net = GEM(k=8, dim=32, encoder_width=8)
    p = tmp_path_factory.mktemp("w") / "tiny.pt"
    save_checkpoint(p, config=net.config, state_dict=net.state_dict(), meta={"image_size": 64})
    return p


def test_gaze_writes_outputs(tmp_path, tiny_weights, capsys):
    out = tmp_path / "o"
    rc = main(["gaze", get_testdata_file("RG1_UNCR.dcm"), "--report", "Opacity in the left lung base.",
               "--report", "The heart is enlarged.", "-o", str(out), "--weights", str(tiny_weights)])
    assert rc == 0
    for i in (1, 2):
        for suffix in ("points.csv", "heatmap.npy", "heatmap.png", "overlay.png"):
            assert (out / f"gaze_{i:02d}_{suffix}").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert [s["sentence"] for s in summary] == ["Opacity in the left lung base.", "The heart is enlarged."]
    assert np.load(out / "gaze_01_heatmap.npy").shape == (1955, 1841)
    # again without --overwrite: exit 2 with a message, nothing replaced
    rc = main(["gaze", get_testdata_file("RG1_UNCR.dcm"), "-r", "x", "-o", str(out), "--weights", str(tiny_weights)])
    assert rc == 2 and "already exists" in capsys.readouterr().err


def test_gaze_user_errors(tmp_path, tiny_weights, capsys):
    assert main(["gaze", str(tmp_path / "none.dcm"), "-r", "x", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err  # the API's own message (the command no longer checks the path itself)
    assert "none.dcm: no such file" in err and "radiograph" in err
    assert not (tmp_path / "o").exists()
    (tmp_path / "bad.dcm").write_bytes(b"garbage")
    assert main(["gaze", str(tmp_path / "bad.dcm"), "-r", "x", "-o", str(tmp_path / "o"), "--weights", str(tiny_weights)]) == 2
    assert "bad.dcm" in capsys.readouterr().err
    assert main(["gaze", get_testdata_file("RG1_UNCR.dcm"), "-r", "x", "-o", str(tmp_path / "o2"),
                 "--weights", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt" in capsys.readouterr().err


def test_train_gaze_cli_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train-gaze", "--synthetic", "16", "--steps", "2", "--batch-size", "2", "--image-size", "64",
            "-o", str(out), "--no-progress", "--no-matching"]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    ck = torch.load(out / "gem.pt", weights_only=True)
    assert ck["config"]["use_matching"] is False and ck["meta"]["step"] == 2
    assert main(args) == 2  # exists
    assert "--overwrite" in capsys.readouterr().err
    assert main(args[:4] + ["4"] + args[5:] + ["--resume"]) == 0
    assert torch.load(out / "gem.pt", weights_only=True)["meta"]["step"] == 4


def test_help_has_examples(capsys):
    for cmd in ("gaze", "train-gaze"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "example" in capsys.readouterr().out


def test_gaze_checks_every_output_before_writing(tmp_path, tiny_weights, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "gaze_02_overlay.png").write_bytes(b"keep me")
    rc = main(["gaze", get_testdata_file("RG1_UNCR.dcm"), "-r", "a", "-r", "b", "-o", str(out), "--weights", str(tiny_weights)])
    assert rc == 2 and "gaze_02_overlay.png" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["gaze_02_overlay.png"]
    assert (out / "gaze_02_overlay.png").read_bytes() == b"keep me"
