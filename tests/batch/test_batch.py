"""Batch: manifests, resume after a killed worker, failures, CLI exit codes, Dask LocalCluster."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medwave.batch import MARKER, items_from_glob, load_manifest, run_batch
from medwave.cli import main

HERE = Path(__file__).resolve().parent


def _vols(d: Path, n: int, size: int = 24) -> list[str]:
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        base = np.zeros((size,) * 3, np.float32)
        base[6:18, 6:18, 6:18] = 1.0
        arr = base + 0.2 * rng.standard_normal(base.shape).astype(np.float32)
        aff = np.diag([2.0, 2.0, 2.0, 1.0])
        nib.save(nib.Nifti1Image(arr, aff), d / f"vol{i}.nii.gz")
        names.append(f"vol{i}.nii.gz")
    return names


def _rows(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_manifest_rules_and_errors(tmp_path):
    _vols(tmp_path, 2)
    (tmp_path / "sub").mkdir()
    dl = tmp_path / "sub" / "dl.json"
    dl.write_text(json.dumps({"training": [{"fixed": "../vol0.nii.gz", "moving": "../vol1.nii.gz"}],
                              "test": [{"fixed": "../vol1.nii.gz", "moving": "../vol0.nii.gz", "name": "b"}]}))
    items = load_manifest(dl, "register")
    assert [it.name for it in items] == ["vol1", "b"]
    assert items[0].inputs["fixed"] == str((tmp_path / "vol0.nii.gz").resolve())
    assert [it.name for it in load_manifest(dl, "register", sections=["test"])] == ["b"]
    with pytest.raises(ValueError, match=r"dl.json: training\[0\] has no 'image'"):
        load_manifest(dl, "denoise")
    (tmp_path / "l.json").write_text(json.dumps(["vol0.nii.gz", "missing.nii.gz"]))
    with pytest.raises(FileNotFoundError, match="missing.nii.gz"):
        load_manifest(tmp_path / "l.json", "denoise")
    (tmp_path / "dup.json").write_text(json.dumps(["vol0.nii.gz", "vol0.nii.gz"]))
    with pytest.raises(ValueError, match="both named 'vol0'"):
        load_manifest(tmp_path / "dup.json", "denoise")
    with pytest.raises(ValueError, match="--fixed"):
        items_from_glob("register", str(tmp_path / "*.nii.gz"))
    g = items_from_glob("register", str(tmp_path / "*.nii.gz"), fixed=tmp_path / "vol0.nii.gz")
    assert [it.name for it in g] == ["vol1"]  # the fixed image itself is not registered to itself
    assert main(["batch", "denoise", "--manifest", str(tmp_path / "l.json"), "-o", str(tmp_path / "o")]) == 2


def test_denoise_sequential_corrupt_file_and_cli(tmp_path, capsys):
    names = _vols(tmp_path, 3)
    (tmp_path / "broken.nii.gz").write_bytes(b"this is not a nifti file")
    dl = tmp_path / "dl.json"
    dl.write_text(json.dumps({"training": [{"image": n} for n in names] + [{"image": "broken.nii.gz"}]}))
    out = tmp_path / "out"
    code = main(["batch", "denoise", "--manifest", str(dl), "-o", str(out), "--sequential", "--quiet"])
    assert code == 1
    fails = json.loads((out / "failures.json").read_text())
    assert list(fails) == ["broken"]
    assert "broken.nii.gz" in fails["broken"]["inputs"]["image"] and "Traceback" in fails["broken"]["traceback"]
    assert not (out / "broken" / MARKER).exists()
    rows = _rows(out / "summary.csv")
    assert [r["name"] for r in rows] == ["vol0", "vol1", "vol2"]
    for n in ("vol0", "vol1", "vol2"):
        img = nib.load(out / n / "denoised.nii.gz")
        np.testing.assert_allclose(img.affine, np.diag([2.0, 2.0, 2.0, 1.0]))
        src = np.asarray(nib.load(tmp_path / f"{n}.nii.gz").dataobj)
        assert np.std(np.asarray(img.dataobj) - src) > 0.05  # noise was removed
    # without --resume, completed items are not silently overwritten
    assert main(["batch", "denoise", "--manifest", str(dl), "-o", str(out), "--sequential", "--quiet"]) == 2
    # fix the broken file and resume: only it runs, nothing duplicated
    nib.save(nib.Nifti1Image(np.ones((24, 24, 24), np.float32), np.eye(4)), tmp_path / "broken.nii.gz")
    capsys.readouterr()
    assert main(["batch", "denoise", "--manifest", str(dl), "-o", str(out), "--resume", "--sequential", "--quiet"]) == 0
    assert "1 done, 3 skipped, 0 failed" in capsys.readouterr().out
    assert sorted(r["name"] for r in _rows(out / "summary.csv")) == ["broken", "vol0", "vol1", "vol2"]
    assert json.loads((out / "failures.json").read_text()) == {}


def test_local_cluster_killed_worker_then_resume(tmp_path, monkeypatch):
    import dask
    import distributed  # noqa: F401 - load its config before dask.config.set

    monkeypatch.setenv("PYTHONPATH", str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.syspath_prepend(str(HERE))
    import _crashy

    names = _vols(tmp_path, 6, size=8)
    dl = tmp_path / "dl.json"
    dl.write_text(json.dumps(names))
    items = load_manifest(dl, "denoise")
    out = tmp_path / "out"
    flag, log = tmp_path / "flag.txt", tmp_path / "log.txt"
    flag.write_text("vol2.nii.gz")
    opts = {"flag": str(flag), "log": str(log)}
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        rep = run_batch(_crashy.crash_or_write, items, out, workers=2, progress=False, options=opts)
    # the flagged item fails as KilledWorker; an innocent item running on the dying worker may too
    assert "vol2" in rep.failed and all("KilledWorker" in f["error"] for f in rep.failed.values())
    assert sorted(rep.done + list(rep.failed)) == [f"vol{i}" for i in range(6)] and len(rep.done) >= 3
    assert (out / "vol2" / "part1.txt").exists() and not (out / "vol2" / MARKER).exists()  # half item
    assert [r["name"] for r in _rows(out / "summary.csv")] == sorted(rep.done)
    flag.unlink()
    rep2 = run_batch(_crashy.crash_or_write, items, out, resume=True, workers=2, progress=False, options=opts)
    assert sorted(rep2.done) == sorted(rep.failed) and sorted(rep2.skipped) == sorted(rep.done)
    assert rep2.ok
    assert sorted(log.read_text().split()) == sorted(names)  # each item completed exactly once
    rows = _rows(out / "summary.csv")
    assert [r["name"] for r in rows] == [f"vol{i}" for i in range(6)]
    for i in range(6):
        assert (out / f"vol{i}" / MARKER).exists() and (out / f"vol{i}" / "part2.txt").exists()


def test_denoise_local_cluster_matches_sequential(tmp_path):
    names = _vols(tmp_path, 4)
    dl = tmp_path / "dl.json"
    dl.write_text(json.dumps({"training": [{"image": n} for n in names]}))
    items = load_manifest(dl, "denoise")
    r0 = run_batch("denoise", items, tmp_path / "seq", workers=0, progress=False)
    r2 = run_batch("denoise", items, tmp_path / "par", workers=2, progress=False)
    assert r0.ok and r2.ok and sorted(r2.done) == sorted(r0.done)
    for n in r0.done:
        a = np.asarray(nib.load(tmp_path / "seq" / n / "denoised.nii.gz").dataobj)
        b = np.asarray(nib.load(tmp_path / "par" / n / "denoised.nii.gz").dataobj)
        np.testing.assert_allclose(a, b, atol=1e-6)
    pids = {json.loads((tmp_path / "par" / n / MARKER).read_text())["pid"] for n in r2.done}
    assert os.getpid() not in pids  # ran in worker processes


def test_register_batch_small(tmp_path):
    rng = np.random.default_rng(1)
    z = np.zeros((20, 20, 20), np.float32)
    z[5:15, 5:15, 5:15] = 1
    nib.save(nib.Nifti1Image(z, np.eye(4)), tmp_path / "fixed.nii.gz")
    for i in range(2):
        m = np.roll(z, i + 1, axis=0) + 0.01 * rng.standard_normal(z.shape).astype(np.float32)
        nib.save(nib.Nifti1Image(m, np.eye(4)), tmp_path / f"mov{i}.nii.gz")
    code = main(["batch", "register", "--input-glob", str(tmp_path / "mov*.nii.gz"), "--fixed",
                 str(tmp_path / "fixed.nii.gz"), "-o", str(tmp_path / "reg"), "--iterations", "10",
                 "--sequential", "--quiet"])
    assert code == 0
    rows = _rows(tmp_path / "reg" / "summary.csv")
    assert [r["name"] for r in rows] == ["mov0", "mov1"] and all(r["folding_percent"] != "" for r in rows)
    assert (tmp_path / "reg" / "mov0" / "transform.json").exists()


def test_sequential_run_leaves_the_callers_torch_threads_alone(tmp_path):
    """In-process batches must not change torch's thread count of the caller (a Jupyter kernel, say)."""
    import torch

    from medwave.batch import tasks

    _vols(tmp_path, 1, size=16)
    before = torch.get_num_threads()
    want = 3  # not 1, the Dask workers' default
    torch.set_num_threads(want)
    try:
        rep = run_batch("denoise", items_from_glob("denoise", str(tmp_path / "*.nii.gz")), tmp_path / "o",
                        workers=0, progress=False)
        assert rep.ok and torch.get_num_threads() == want
        assert not tasks._THREADS_SET
    finally:
        torch.set_num_threads(before)


def test_resume_removes_temporaries_of_a_run_killed_while_writing_the_summary(tmp_path):
    """A run SIGKILLed inside the atomic write of summary.csv / failures.json leaves its temporary file; the resumed
    batch removes those (and only those) and writes the summary whole."""
    src = tmp_path / "in"
    src.mkdir()
    _vols(src, 2, size=16)
    items = items_from_glob("denoise", str(src / "*.nii.gz"))
    out = tmp_path / "o"
    run_batch("denoise", items, out, workers=0, progress=False)
    stale = [out / ".summary.csv.k1ll3d.tmp.csv", out / ".failures.json.x9.tmp.json"]
    keep = [out / "notes.tmp.csv", out / ".summary.csv.bak"]  # not names atomic_path makes for those targets
    for p in stale + keep:
        p.write_text("half")
    rep = run_batch("denoise", items, out, resume=True, workers=0, progress=False)
    assert rep.ok and sorted(rep.skipped) == sorted(it.name for it in items)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in keep)
    assert len(_rows(out / "summary.csv")) == 2


def test_folder_mode_flat_outputs_same_names_and_resume(tmp_path, capsys):
    """nnU-Net style: -i FOLDER -o FOLDER, case.nii.gz -> OUT/case.nii.gz, equal to the per-folder form's output."""
    src = tmp_path / "in"
    src.mkdir()
    _vols(src, 3, size=16)
    (src / "notes.txt").write_text("not an image")  # ignored
    out = tmp_path / "out"
    code = main(["batch", "denoise", "-i", str(src), "-o", str(out), "--quiet"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "failures.json", "summary.csv", "vol0.nii.gz", "vol1.nii.gz", "vol2.nii.gz"]
    assert [r["name"] for r in _rows(out / "summary.csv")] == ["vol0", "vol1", "vol2"]
    ref = run_batch("denoise", items_from_glob("denoise", str(src / "*.nii.gz")), tmp_path / "ref", workers=0,
                    progress=False)
    assert ref.ok
    for n in ("vol0", "vol1", "vol2"):
        a, b = nib.load(out / f"{n}.nii.gz"), nib.load(tmp_path / "ref" / n / "denoised.nii.gz")
        np.testing.assert_array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj))
        np.testing.assert_allclose(a.affine, np.diag([2.0, 2.0, 2.0, 1.0]))
    # a handful of small items runs in-process, and the CLI says so
    assert "running them in this process" in capsys.readouterr().out
    # a second run into the same folder refuses, --resume skips every case
    assert main(["batch", "denoise", "-i", str(src), "-o", str(out), "--quiet"]) == 2
    assert "already done" in capsys.readouterr().err
    assert main(["batch", "denoise", "-i", str(src), "-o", str(out), "--quiet", "--resume"]) == 0
    assert "0 done, 3 skipped" in capsys.readouterr().out
    # the output folder may not be the input folder (outputs would replace the inputs)
    assert main(["batch", "denoise", "-i", str(src), "-o", str(src), "--quiet"]) == 2
    assert "is the input folder" in capsys.readouterr().err


def test_flat_names_per_task():
    from medwave.batch.folder import flat_name

    assert flat_name("denoise", "c1", "denoised.nii.gz") == "c1.nii.gz"
    assert flat_name("denoise", "c1", "denoised.tif") == "c1.tif"
    assert flat_name("segment-neurons", "c1", "mask.ome.tif") == "c1.ome.tif"
    assert flat_name("segment-neurons", "c1", "probability.nii.gz") == "c1_probability.nii.gz"
    assert flat_name("segment-neurons", "c1", "neuron.swc") == "c1.swc"
    assert flat_name("register", "c1", "warped.nii.gz") == "c1.nii.gz"
    assert flat_name("register", "c1", "ddf.nii.gz") == "c1_ddf.nii.gz"
    assert flat_name("gaze", "c1", "gaze_points.csv") == "c1_gaze_points.csv"


def test_folder_mode_register_on_a_cluster_prints_the_dashboard(tmp_path, capsys):
    z = np.zeros((16, 16, 16), np.float32)
    z[4:12, 4:12, 4:12] = 1
    nib.save(nib.Nifti1Image(z, np.eye(4)), tmp_path / "fixed.nii.gz")
    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        nib.save(nib.Nifti1Image(np.roll(z, i + 1, axis=0), np.eye(4)), src / f"m{i}.nii.gz")
    out = tmp_path / "out"
    code = main(["batch", "register", "-i", str(src), "--fixed", str(tmp_path / "fixed.nii.gz"), "-o", str(out),
                 "--iterations", "5", "--workers", "2"])
    assert code == 0
    for i in range(2):
        for suffix in (".nii.gz", "_jacdet.nii.gz", "_metrics.json", "_transform/transform.json",
                       "_transform/ddf_monai_voxel.nii.gz", "_transform/transform_itk_lps_mm.nii.gz"):
            assert (out / f"m{i}{suffix}").exists(), suffix
        assert nib.load(out / f"m{i}.nii.gz").shape == (16, 16, 16)
        # the case's transform folder is one `medwave apply` reads as it is
        assert main(["apply", str(out / f"m{i}_transform"), str(src / f"m{i}.nii.gz"), "-o",
                     str(tmp_path / f"applied{i}.nii.gz"), "--no-progress"]) == 0
        assert np.allclose(nib.load(tmp_path / f"applied{i}.nii.gz").get_fdata(),
                           nib.load(out / f"m{i}.nii.gz").get_fdata(), atol=1e-4)
    pids = {json.loads((out / ".medwave_batch" / f"m{i}" / MARKER).read_text())["pid"] for i in range(2)}
    assert os.getpid() not in pids  # ran on the Dask workers
    captured = capsys.readouterr()
    assert "local Dask cluster, 2 worker(s)" in captured.out
    pytest.importorskip("bokeh")
    assert "dashboard http://" in captured.err


def test_auto_mode_picks_sequential_for_small_items_and_a_cluster_for_long_ones(tmp_path, monkeypatch):
    from medwave.batch import runner

    _vols(tmp_path, 4, size=8)
    items = items_from_glob("denoise", str(tmp_path / "*.nii.gz"))
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 2)
    n, why = runner._choose_workers("denoise", items)
    assert n == 0 and "running them in this process" in why
    reg = [type(it)(it.name, {"fixed": it.inputs["image"], "moving": it.inputs["image"]}) for it in items]
    from medwave.batch import tasks

    monkeypatch.setattr(tasks, "_voxels", lambda path: 100 ** 3)  # 4 pairs of 100^3: about 50 s of work
    assert runner._choose_workers("register", reg) == (2, "")
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 1)
    assert runner._choose_workers("register", reg)[0] == 0
