"""Faults in training: a run that crashes mid-way and is resumed from its checkpoint ends with the same weights,
bit for bit, as an uninterrupted run with the same seed.

The crash is real as far as the trainer can tell: an exception raised inside the training loop (from the
batch sampler) after the periodic checkpoint of step ``k`` and before the run finishes, so the steps after the
checkpoint are lost and must be redone identically. Both trainers draw each step's batch from a generator
seeded by ``(seed, step)``, and the checkpoint carries the model, the optimiser (Adam moments) and the torch
RNG state, which is what makes the resumed run reproduce the uninterrupted one exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


class SimulatedCrash(RuntimeError):
    """Stands for a killed process: raised from inside the training loop."""


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ after resume, e.g. {different[:3]}"


def _crash_on_call(monkeypatch, module, name: str, n: int) -> None:
    """Make ``module.name`` raise :class:`SimulatedCrash` on its ``n``-th call (1-based)."""
    real = getattr(module, name)
    calls = {"n": 0}

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise SimulatedCrash(f"simulated crash in call {n} of {name}")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, crashing)


def test_train_neurons_crash_and_resume_bit_identical(tmp_path: Path, monkeypatch) -> None:
    """3D-WaveUNet, 6 steps with checkpoints every 2: crash during step 6, resume from step 4 -> same weights."""
    import medwave.neuron.train as tr

    def cfg() -> tr.TrainConfig:
        c = tr.TrainConfig()
        c.model = dict(c.model, channels=[2, 2, 2, 2], bottleneck=2)
        return c

    kw = dict(steps=6, synthetic=1, synthetic_shape=(16, 32, 32), cube=(16, 32, 32), checkpoint_every=2,
              calibrate=False, progress=False, seed=3)
    tr.train_neurons(tmp_path / "full", config=cfg(), **kw)
    with monkeypatch.context() as m:
        _crash_on_call(m, tr, "_batch", 6)
        with pytest.raises(SimulatedCrash):
            tr.train_neurons(tmp_path / "cut", config=cfg(), **kw)
    ck = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert ck["resume"]["step"] == 4 and not (tmp_path / "cut" / "model.pt").exists()
    leftovers = [p.name for p in (tmp_path / "cut").iterdir() if p.name not in ("last.pt",)]
    assert not leftovers, f"the crash left partial files: {leftovers}"
    tr.train_neurons(tmp_path / "cut", config=cfg(), resume=True, **kw)
    full = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    cut = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)
    _assert_same_weights(full["state_dict"], cut["state_dict"])
    hist_full = torch.load(tmp_path / "full" / "last.pt", weights_only=True)["resume"]["history"]
    hist_cut = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["resume"]["history"]
    assert hist_full == hist_cut and len(hist_cut) == 6  # no step lost, none counted twice
    # and the check can fail: a different seed gives different weights
    tr.train_neurons(tmp_path / "other", config=cfg(), **(kw | {"seed": 4}))
    other = torch.load(tmp_path / "other" / "model.pt", weights_only=True)["state_dict"]
    assert any(not torch.equal(full["state_dict"][k], other[k]) for k in other)


def test_train_gaze_crash_and_resume_bit_identical(tmp_path: Path, monkeypatch) -> None:
    """GEM, 4 steps with checkpoints every 2: crash during step 4, resume from step 2 -> same weights."""
    import medwave.gaze.training as gt

    kw = dict(synthetic=8, steps=4, batch_size=2, image_size=64, val_size=0, checkpoint_every=2, progress=False,
              seed=1, model_options={"k": 8, "dim": 32, "encoder_width": 8, "use_matching": False})
    gt.train_gaze(None, tmp_path / "full", **kw)
    with monkeypatch.context() as m:
        _crash_on_call(m, gt, "collate", 4)
        with pytest.raises(SimulatedCrash):
            gt.train_gaze(None, tmp_path / "cut", **kw)
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["resume"]["step"] == 2
    assert not (tmp_path / "cut" / "gem.pt").exists()
    gt.train_gaze(None, tmp_path / "cut", resume=True, **kw)
    full = torch.load(tmp_path / "full" / "gem.pt", weights_only=True)
    cut = torch.load(tmp_path / "cut" / "gem.pt", weights_only=True)
    _assert_same_weights(full["state_dict"], cut["state_dict"])
    assert [h["step"] for h in cut["meta"]["history"]] == [1, 2, 3, 4]
    assert [h["loss"] for h in cut["meta"]["history"]] == [h["loss"] for h in full["meta"]["history"]]


def test_train_registration_crash_and_resume_bit_identical(tmp_path: Path, monkeypatch) -> None:
    """WiNet, 2 epochs of 2 steps: crash when epoch 2 starts, resume from the epoch-1 ``last.pt`` -> same weights."""
    import numpy as np

    import medwave.registration.training as rt
    from tests.reliability.conftest import blob_volume, save_nii

    data = tmp_path / "data"
    data.mkdir()
    for i in range(4):
        save_nii(data / f"s{i}.nii.gz", np.roll(blob_volume((24, 24, 24), seed=i), i, axis=0))
    kw = dict(mode="pairwise", epochs=2, steps_per_epoch=2, val_pairs=1, base_width=4, seed=5, progress=False)
    rt.train_registration(data, tmp_path / "full", **kw)
    with monkeypatch.context() as m:
        _crash_on_call(m, rt, "_pairs", 3)  # calls: validation pairs, epoch 1, epoch 2
        with pytest.raises(SimulatedCrash):
            rt.train_registration(data, tmp_path / "cut", **kw)
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["resume"]["epoch"] == 0  # epoch 1 (0-based) saved
    rt.train_registration(data, tmp_path / "cut", resume=True, **kw)
    full = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    cut = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    _assert_same_weights(full["state_dict"], cut["state_dict"])
    assert [h["epoch"] for h in cut["resume"]["history"]] == [1, 2]  # no epoch lost, none counted twice
    assert [h["train_loss"] for h in cut["resume"]["history"]] == [h["train_loss"] for h in full["resume"]["history"]]
