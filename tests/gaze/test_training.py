"""train_gaze: synthetic and datalist training, checkpoints, bit-identical resume, errors."""

from __future__ import annotations

import pytest
import torch

from medwave.gaze import training as T
from medwave.gaze.io import load_gaze_datalist
from medwave.gaze.synthetic import write_synthetic_dataset
from medwave.networks import GEM

SMALL = {"dim": 32, "encoder_width": 8}


def _train(out, **kw):
    args = dict(synthetic=24, steps=4, batch_size=2, image_size=64, val_size=4, checkpoint_every=2, progress=False,
                model_options=SMALL)
    args.update(kw)
    return T.train_gaze(None, out, **args)


def test_resume_is_bit_identical(tmp_path, monkeypatch):
    full = _train(tmp_path / "a")
    ref = torch.load(full["checkpoint"], weights_only=True)
    assert ref["meta"]["step"] == 4 and len(ref["meta"]["history"]) == 4 and "mean_distance_px" in ref["meta"]["val"]

    calls = {"n": 0}
    real = T.collate

    def interrupting(items, size):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(items, size)

    monkeypatch.setattr(T, "collate", interrupting)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "b")
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=True)["resume"]["step"] == 2
    assert not (tmp_path / "b" / "gem.pt").exists()
    monkeypatch.setattr(T, "collate", real)
    res = _train(tmp_path / "b", resume=True)
    got = torch.load(res["checkpoint"], weights_only=True)
    for k, v in ref["state_dict"].items():
        assert torch.equal(v, got["state_dict"][k]), k
    assert [h["loss"] for h in got["meta"]["history"]] == [h["loss"] for h in ref["meta"]["history"]]


def test_existing_output_and_bad_arguments(tmp_path):
    _train(tmp_path / "a", steps=1)
    with pytest.raises(FileExistsError, match="overwrite"):
        _train(tmp_path / "a", steps=1)
    _train(tmp_path / "a", steps=1, overwrite=True)
    with pytest.raises(ValueError, match="either a datalist or synthetic"):
        T.train_gaze(None, tmp_path / "c", progress=False)
    with pytest.raises(ValueError, match="model options differ"):
        _train(tmp_path / "a", steps=2, resume=True, model_options={**SMALL, "use_text": False})


def test_train_from_datalist_and_predict(tmp_path):
    dl = write_synthetic_dataset(tmp_path / "data", 12, seed=0, image_size=64, progress=False)
    res = T.train_gaze(dl, tmp_path / "run", steps=3, batch_size=2, image_size=64, progress=False, model_options=SMALL)
    assert res["val"]["mean_distance_px"] > 0
    from medwave.networks.checkpoint import load_network

    net, meta = load_network(GEM, res["checkpoint"])
    assert meta["image_size"] == 64 and meta["train"]["datalist"].endswith("datalist.json")
    assert not hasattr(net, "checkpoint_meta")  # metadata lives in the meta dict, not on the module
    ds = T.DatalistGaze(load_gaze_datalist(dl), k=8, image_size=32)
    it = ds[0]
    assert it["image"].shape == (1, 32, 32) and it["points"].shape == (8, 2)
    # points scale with the image: 64 px source -> 32 px grid
    assert float(it["points"].max()) < 32
