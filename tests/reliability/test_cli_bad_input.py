"""Every ``medwave`` subcommand fed bad input, in-process through :func:`medwave.cli.main`.

Each case must exit with the expected code (2 for user errors), print one clear message on stderr that
names the offending file or option, print no traceback, and leave every file as it was: inputs
unchanged (hashed before and after) and no output, temporary or partial file created.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from medwave.cli import main
from tests.reliability.conftest import snapshot


@dataclass(frozen=True)
class Case:
    """One bad invocation.

    Attributes:
        id: Test id.
        argv: Arguments; ``{name}`` is replaced by the path of input ``name``, ``{out}`` by a fresh output path.
        must_say: Substrings the error message must contain (file names, the problem, the fix).
        code: Expected exit code.
    """

    id: str
    argv: tuple[str, ...]
    must_say: tuple[str, ...]
    code: int = 2


U = Case  # short alias for the table
GEM = ("--weights", "{tiny_gem}")
UNET = ("--weights", "{tiny_unet}", "--cube", "16", "32", "32", "--quiet")
REG = ("--iterations", "2", "--no-progress")

CASES: list[Case] = [
    # ---------------------------------------------------------------- info
    U("info-missing", ("info", "{good}.missing"), ("good.nii.gz.missing", "no such file")),
    U("info-empty", ("info", "{empty}"), ("empty.nii.gz", "empty file")),
    U("info-truncated", ("info", "{truncated}"), ("truncated.nii.gz", "truncated")),
    U("info-garbage", ("info", "{garbage_nii}"), ("garbage.nii.gz",)),
    U("info-wrong-ext", ("info", "{wrong_ext}"), ("notes.txt", "NIfTI")),
    U("info-folder", ("info", "{folder}"), ("a_folder",)),
    # ---------------------------------------------------------------- denoise
    U("denoise-missing", ("denoise", "{good}.missing", "-o", "{out}/o.nii.gz"), ("good.nii.gz.missing", "no such file")),
    U("denoise-empty", ("denoise", "{empty}", "-o", "{out}/o.nii.gz"), ("empty.nii.gz", "empty")),
    U("denoise-truncated", ("denoise", "{truncated}", "-o", "{out}/o.nii.gz"), ("truncated.nii.gz", "truncated")),
    U("denoise-wrong-ext", ("denoise", "{wrong_ext}", "-o", "{out}/o.nii.gz"), ("notes.txt",)),
    U("denoise-nan", ("denoise", "{nan}", "-o", "{out}/o.nii.gz"), ("nan.nii.gz", "NaN/Inf", "nan_to_num")),
    U("denoise-one-voxel", ("denoise", "{one_voxel}", "-o", "{out}/o.nii.gz"), ("onevox.nii.gz", "1x1x1")),
    U("denoise-huge-levels", ("denoise", "{good}", "-o", "{out}/o.nii.gz", "--levels", "40"), ("--levels", "16x16x16")),
    U("denoise-zero-levels", ("denoise", "{good}", "-o", "{out}/o.nii.gz", "--levels", "0"), ("--levels",)),
    U("denoise-bad-wavelet", ("denoise", "{good}", "-o", "{out}/o.nii.gz", "--wavelet", "db99"), ("db99",)),
    U("denoise-bad-mode", ("denoise", "{good}", "-o", "{out}/o.nii.gz", "--wavelet-mode", "mirror"), ("mirror",)),
    U("denoise-complex", ("denoise", "{complex}", "-o", "{out}/o.nii.gz"), ("complex.nii.gz", "complex")),
    U("denoise-overwrites-input", ("denoise", "{good}", "-o", "{good}", "--overwrite"), ("good.nii.gz", "input")),
    U("denoise-parent-is-file", ("denoise", "{good}", "-o", "{regular_file}/sub/o.nii.gz"), ("regular_file", "not a folder")),
    U("denoise-proc", ("denoise", "{good}", "-o", "/proc/medwave_rel/o.nii.gz"), ("/proc", "not writable")),
    U("denoise-out-ext", ("denoise", "{good}", "-o", "{out}/o.xyz"), ("o.xyz", ".nii.gz")),
    U("denoise-out-is-folder", ("denoise", "{good}", "-o", "{folder}", "--overwrite"), ("a_folder", "folder")),
    # ---------------------------------------------------------------- register
    U("register-missing", ("register", "{good}", "{good}.missing", "-o", "{out}", *REG), ("good.nii.gz.missing", "no such file")),
    U("register-empty", ("register", "{good}", "{empty}", "-o", "{out}", *REG), ("empty.nii.gz", "empty")),
    U("register-truncated", ("register", "{truncated}", "{good}", "-o", "{out}", *REG), ("truncated.nii.gz", "truncated")),
    U("register-wrong-ext", ("register", "{good}", "{wrong_ext}", "-o", "{out}", *REG), ("notes.txt",)),
    U("register-2d", ("register", "{img2d}", "{good}", "-o", "{out}", *REG), ("slice2d.nii.gz", "2D", "3D")),
    U("register-4d", ("register", "{good}", "{img4d}", "-o", "{out}", *REG), ("series4d.nii.gz", "4D", "single volume")),
    U("register-nan", ("register", "{good}", "{nan}", "-o", "{out}", *REG), ("nan.nii.gz", "NaN/Inf")),
    U("register-tiny", ("register", "{tiny}", "{tiny}", "-o", "{out}", *REG), ("tiny.nii.gz", "2x2x2")),
    U("register-bad-iterations", ("register", "{good}", "{good2}", "-o", "{out}", "--iterations", "lots"), ("--iterations",)),
    U("register-bad-weights", ("register", "{good}", "{good2}", "-o", "{out}", "--weights", "{bad_weights}", *REG),
      ("bad_weights.pt", "checkpoint")),
    U("register-missing-weights", ("register", "{good}", "{good2}", "-o", "{out}", "--weights", "{good}.pt", *REG),
      ("good.nii.gz.pt",)),
    U("register-out-is-file", ("register", "{good}", "{good2}", "-o", "{regular_file}", *REG), ("regular_file", "folder")),
    U("register-parent-is-file", ("register", "{good}", "{good2}", "-o", "{regular_file}/out", *REG), ("regular_file", "not a folder")),
    U("register-proc", ("register", "{good}", "{good2}", "-o", "/proc/medwave_rel", *REG), ("/proc", "not writable")),
    U("register-complex", ("register", "{complex}", "{complex}", "-o", "{out}", *REG), ("complex.nii.gz", "complex")),
    U("register-zeros", ("register", "{zeros}", "{good}", "-o", "{out}", *REG), ("zeros.nii.gz", "constant")),
    U("register-int8-vs-zeros", ("register", "{int8}", "{zeros}", "-o", "{out}", *REG), ("zeros.nii.gz", "constant")),
    U("register-seg-mismatch", ("register", "{good}", "{good2}", "-o", "{out}", "--moving-seg", "{tiny}", *REG),
      ("moving_seg", "grid")),
    # ---------------------------------------------------------------- segment-neurons
    U("seg-missing", ("segment-neurons", "{stack}.missing.tif", "-o", "{out}", *UNET), ("stack.tif.missing.tif", "no such")),
    U("seg-empty", ("segment-neurons", "{stack_empty}", "-o", "{out}", *UNET), ("stack_empty.tif", "empty")),
    U("seg-truncated", ("segment-neurons", "{stack_truncated}", "-o", "{out}", *UNET), ("stack_truncated.tif",)),
    U("seg-wrong-ext", ("segment-neurons", "{stack_wrong_ext}", "-o", "{out}", *UNET), ("stack.png", "TIFF")),
    U("seg-2d", ("segment-neurons", "{stack2d}", "-o", "{out}", *UNET), ("stack2d.tif", "3D")),
    U("seg-4d", ("segment-neurons", "{stack4d}", "-o", "{out}", *UNET), ("stack4d.tif", "3D")),
    U("seg-nan", ("segment-neurons", "{stack_nan}", "-o", "{out}", *UNET), ("stack_nan.tif", "NaN")),
    U("seg-complex", ("segment-neurons", "{stack_complex}", "-o", "{out}", *UNET), ("stack_complex.tif", "complex")),
    U("seg-nifti-2d", ("segment-neurons", "{img2d}", "-o", "{out}", *UNET), ("slice2d.nii.gz", "3D")),
    U("seg-bad-overlap", ("segment-neurons", "{stack}", "-o", "{out}", "--overlap", "1.5", *UNET), ("--overlap",)),
    U("seg-zero-cube", ("segment-neurons", "{stack}", "-o", "{out}", "--weights", "{tiny_unet}", "--cube", "0", "32", "32",
                        "--quiet"), ("--cube",)),
    U("seg-bad-weights", ("segment-neurons", "{stack}", "-o", "{out}", "--weights", "{bad_weights}", "--quiet"),
      ("bad_weights.pt", "checkpoint")),
    U("seg-bad-gt-swc", ("segment-neurons", "{stack}", "-o", "{out}", "--gt-swc", "{swc_bad}", *UNET), ("bad.swc", "line 3")),
    U("seg-orphan-gt-swc", ("segment-neurons", "{stack}", "-o", "{out}", "--gt-swc", "{swc_missing_parent}", *UNET),
      ("orphan.swc", "parent")),
    U("seg-gt-mask-shape", ("segment-neurons", "{stack}", "-o", "{out}", "--gt-mask", "{gt_mask_wrong_shape}", *UNET),
      ("gt_mask_wrong.tif", "shape")),
    U("seg-overwrites-input", ("segment-neurons", "{stack}", "-o", "{out}", "--gt-swc", "{out}/neuron.swc", *UNET),
      ("neuron.swc",)),
    U("seg-parent-is-file", ("segment-neurons", "{stack}", "-o", "{regular_file}/out", *UNET), ("regular_file", "not a folder")),
    U("seg-proc", ("segment-neurons", "{stack}", "-o", "/proc/medwave_rel", *UNET), ("/proc", "not writable")),
    # ---------------------------------------------------------------- gaze
    U("gaze-missing", ("gaze", "{png}.missing", "-r", "Opacity.", "-o", "{out}", *GEM), ("chest.png.missing", "no such")),
    U("gaze-empty", ("gaze", "{png_empty}", "-r", "Opacity.", "-o", "{out}", *GEM), ("empty.png",)),
    U("gaze-truncated", ("gaze", "{png_truncated}", "-r", "Opacity.", "-o", "{out}", *GEM), ("truncated.png",)),
    U("gaze-wrong-ext", ("gaze", "{xray_ext}", "-r", "Opacity.", "-o", "{out}", *GEM), ("chest.xyz", ".dcm")),
    U("gaze-3d", ("gaze", "{good}", "-r", "Opacity.", "-o", "{out}", *GEM), ("good.nii.gz",)),
    U("gaze-empty-sentence", ("gaze", "{png}", "-r", "  ", "-o", "{out}", *GEM), ("sentence",)),
    U("gaze-bad-k", ("gaze", "{png}", "-r", "Opacity.", "-o", "{out}", "-k", "5", *GEM), ("k=8",)),
    U("gaze-bad-weights", ("gaze", "{png}", "-r", "Opacity.", "-o", "{out}", "--weights", "{bad_weights}"),
      ("bad_weights.pt", "checkpoint")),
    U("gaze-folder-image", ("gaze", "{folder}", "-r", "Opacity.", "-o", "{out}", *GEM), ("a_folder", "folder")),
    U("gaze-out-is-file", ("gaze", "{png}", "-r", "Opacity.", "-o", "{regular_file}", *GEM), ("regular_file", "folder")),
    U("gaze-parent-is-file", ("gaze", "{png}", "-r", "Opacity.", "-o", "{regular_file}/o", *GEM), ("regular_file", "not a folder")),
    U("gaze-proc", ("gaze", "{png}", "-r", "Opacity.", "-o", "/proc/medwave_rel", *GEM), ("/proc", "not writable")),
    # ---------------------------------------------------------------- batch: output folder inside the input folder
    U("batch-glob-only-outputs", ("batch", "denoise", "--input-glob", "{good}", "-o", "{indir}", "--sequential",
                                  "--quiet"), ("output folder", "inside")),
    U("batch-manifest-input-in-output", ("batch", "denoise", "--manifest", "{manifest_self}", "-o", "{indir}",
                                         "--sequential", "--quiet"), ("good.nii.gz", "inside the output folder")),
    U("batch-manifest-bad-json", ("batch", "denoise", "--manifest", "{json_bad}", "-o", "{out}", "--sequential"),
      ("bad.json", "JSON")),
    U("batch-manifest-no-items", ("batch", "denoise", "--manifest", "{json_nokey}", "-o", "{out}", "--sequential"),
      ("nokey.json", "no items")),
    U("batch-manifest-missing-files", ("batch", "denoise", "--manifest", "{json_missing_files}", "-o", "{out}",
                                       "--sequential"), ("nowhere.nii.gz", "not found")),
    U("batch-manifest-bad-key", ("batch", "denoise", "--manifest", "{manifest_badkey}", "-o", "{out}", "--sequential"),
      ("badkey_manifest.json", "'image'")),
    U("batch-manifest-missing", ("batch", "denoise", "--manifest", "{json_bad}.missing", "-o", "{out}", "--sequential"),
      ("bad.json.missing",)),
    # ---------------------------------------------------------------- training commands
    U("train-gaze-bad-json", ("train-gaze", "--datalist", "{json_bad}", "-o", "{out}", "--steps", "1", "--no-progress"),
      ("bad.json", "JSON")),
    U("train-gaze-no-key", ("train-gaze", "--datalist", "{json_nokey}", "-o", "{out}", "--steps", "1", "--no-progress"),
      ("nokey.json", "training")),
    U("train-gaze-bad-item", ("train-gaze", "--datalist", "{json_items}", "-o", "{out}", "--steps", "1", "--no-progress"),
      ("items.json", "sentence")),
    U("train-gaze-missing", ("train-gaze", "--datalist", "{json_bad}.missing", "-o", "{out}", "--steps", "1",
                             "--no-progress"), ("bad.json.missing",)),
    U("train-gaze-csv-non-numeric", ("train-gaze", "--datalist", "{dl_csv_bad}", "-o", "{out}", "--steps", "1",
                                     "--no-progress"), ("bad.csv", "line 3", "non-numeric")),
    U("train-gaze-csv-no-columns", ("train-gaze", "--datalist", "{dl_csv_nocols}", "-o", "{out}", "--steps", "1",
                                    "--no-progress"), ("nocols.csv", "x/y")),
    U("train-gaze-csv-empty", ("train-gaze", "--datalist", "{dl_csv_empty}", "-o", "{out}", "--steps", "1",
                               "--no-progress"), ("empty.csv", "empty")),
    U("train-gaze-parent-is-file", ("train-gaze", "--synthetic", "4", "-o", "{regular_file}/run", "--steps", "1",
                                    "--no-progress"), ("regular_file", "not a folder")),
    U("train-neurons-bad-json", ("train-neurons", "-o", "{out}", "--datalist", "{json_bad}", "--steps", "1", "--quiet"),
      ("bad.json", "JSON")),
    U("train-neurons-missing-files", ("train-neurons", "-o", "{out}", "--datalist", "{json_missing_files}", "--steps", "1",
                                      "--quiet"), ("nowhere.nii.gz",)),
    U("train-neurons-missing", ("train-neurons", "-o", "{out}", "--datalist", "{json_bad}.missing", "--steps", "1", "--quiet"),
      ("bad.json.missing",)),
    U("train-reg-bad-json", ("train-registration", "{json_bad}", "-o", "{out}", "--epochs", "1", "--no-progress"),
      ("bad.json", "JSON")),
    U("train-reg-missing-files", ("train-registration", "{json_missing_files}", "-o", "{out}", "--epochs", "1",
                                  "--no-progress"), ("nowhere.nii.gz",)),
    U("train-reg-missing", ("train-registration", "{json_bad}.missing", "-o", "{out}", "--epochs", "1", "--no-progress"),
      ("bad.json.missing",)),
    U("train-reg-mixed-grids", ("train-registration", "{mixed_grids}", "-o", "{out}", "--epochs", "1", "--no-progress"),
      ("b12.nii.gz", "different grids", "resampled")),
    U("train-reg-batch-size-0", ("train-registration", "--synthetic", "4", "-o", "{out}", "--batch-size", "0",
                                 "--no-progress"), ("--batch-size", ">= 1")),
    U("train-reg-empty-folder", ("train-registration", "{folder}", "-o", "{out}", "--epochs", "1", "--no-progress"),
      ("a_folder",)),
]


def _expand(argv: tuple[str, ...], files: dict[str, Path], out: Path) -> list[str]:
    subs = {k: str(v) for k, v in files.items()} | {"out": str(out), "indir": str(files["good"].parent)}
    return [a.format(**subs) for a in argv]


@pytest.fixture
def all_files(files, tiny_gem, tiny_unet) -> dict[str, Path]:
    """Inputs plus the tiny checkpoints, by name."""
    return dict(files) | {"tiny_gem": tiny_gem, "tiny_unet": tiny_unet}


#: Cases the package still gets wrong (found by this suite, not yet fixed). ``strict=True``: when a fix lands,
#: the case passes, the xfail turns into a failure, and the entry must be removed here. See docs/reliability.md.
KNOWN_DEFECTS: dict[str, str] = {}


def _params() -> list:
    return [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[c.id])]
                         if c.id in KNOWN_DEFECTS else []) for c in CASES]


@pytest.mark.parametrize("case", _params())
def test_bad_input_clear_error_nothing_written(case: Case, all_files, tmp_path, capsys, monkeypatch) -> None:
    """Exit code, message, no traceback, inputs unchanged and no stray output for one bad invocation."""
    monkeypatch.delenv("MEDWAVE_DEBUG", raising=False)
    out = tmp_path / "out"
    argv = _expand(case.argv, all_files, out)
    in_dir = all_files["good"].parent
    before_in, before_tmp = snapshot(in_dir), snapshot(tmp_path)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == case.code, f"exit {code}, stderr: {err}"
    assert "Traceback" not in err
    assert err.strip().startswith(f"medwave {argv[0]}: error:"), err
    for s in case.must_say:
        assert s.lower() in err.lower(), f"{s!r} not in message: {err}"
    assert snapshot(in_dir) == before_in, "an input file changed"
    assert snapshot(tmp_path) == before_tmp, "the failed run left files behind"
    assert not Path("/proc/medwave_rel").exists()


def test_real_exit_codes_in_a_subprocess(files, tmp_path) -> None:
    """The installed entry point returns 2 on a user error (no traceback) and 0 on success."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env.pop("MEDWAVE_DEBUG", None)
    bad = subprocess.run([sys.executable, "-m", "medwave.cli", "register", str(files["img2d"]), str(files["good"]),
                          "-o", str(tmp_path / "r")], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2, bad.stderr
    assert "slice2d.nii.gz is 2D" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "r").exists()
    good = subprocess.run([sys.executable, "-m", "medwave.cli", "info", str(files["good"]), "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert good.returncode == 0, good.stderr
    assert '"shape": [16, 16, 16]' in good.stdout
    usage = subprocess.run([sys.executable, "-m", "medwave.cli", "denoise"], capture_output=True, text=True, env=env,
                           timeout=120)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_cube_not_multiple_of_16_is_valid(all_files, tmp_path, capsys) -> None:
    """``--cube 5 7 9`` is accepted on purpose, not a defect.

    The 3D-WaveUNet halves with ``mode="periodization"`` (``ceil(n/2)``) and its IDWT crops back to the skip's
    shape, so any cube size works (no padding to multiples of 16 is needed; see :mod:`medwave.networks.waveunet`).
    The run must succeed and give outputs on the stack's grid.
    """
    import tifffile

    out = tmp_path / "out"
    code = main(["segment-neurons", str(all_files["stack"]), "-o", str(out), "--weights", str(all_files["tiny_unet"]),
                 "--cube", "5", "7", "9", "--quiet", "--no-trace"])
    assert code == 0, capsys.readouterr().err
    prob = tifffile.imread(out / "probability.tif")
    assert prob.shape == tifffile.imread(all_files["stack"]).shape
    assert np.isfinite(prob).all() and prob.min() >= 0 and prob.max() <= 1


def test_valid_edge_inputs_succeed(all_files, tmp_path, capsys) -> None:
    """Inputs that look odd but are valid run (exit 0) with sensible outputs, and change no input.

    All-zero volume to denoise (zeros back), an int8 volume to denoise (float32 out, values not rescaled), an
    all-zero stack to segment (an empty mask, a finite probability), a stack smaller than one cube (padded and
    cropped back), a flat radiograph for gaze (K points inside the image).
    """
    import nibabel as nib
    import tifffile

    in_dir = all_files["good"].parent
    before = snapshot(in_dir)
    out = tmp_path / "o"
    assert main(["denoise", str(all_files["zeros"]), "-o", str(out / "z.nii.gz")]) == 0
    assert np.array_equal(np.asarray(nib.load(str(out / "z.nii.gz")).dataobj), np.zeros((16, 16, 16), np.float32))
    assert main(["denoise", str(all_files["int8"]), "-o", str(out / "i.nii.gz")]) == 0
    den = np.asarray(nib.load(str(out / "i.nii.gz")).dataobj)
    src = np.asarray(nib.load(str(all_files["int8"])).dataobj).astype(np.float32)
    assert den.dtype == np.float32 and abs(float(den.mean()) - float(src.mean())) < 1.0
    assert main(["segment-neurons", str(all_files["stack_zeros"]), "-o", str(out / "seg"), "--weights",
                 str(all_files["tiny_unet"]), "--cube", "16", "32", "32", "--quiet", "--no-trace"]) == 0
    prob = tifffile.imread(out / "seg" / "probability.tif")
    mask = tifffile.imread(out / "seg" / "mask.tif")
    assert np.isfinite(prob).all() and prob.shape == (16, 32, 32) and len(np.unique(mask)) == 1
    # a stack smaller than one cube (3x5x4 vs 16x32x32): padded for the network, cropped back, and traced
    assert main(["segment-neurons", str(all_files["stack_tiny"]), "-o", str(out / "tiny"), "--weights",
                 str(all_files["tiny_unet"]), "--cube", "16", "32", "32", "--quiet"]) == 0
    assert tifffile.imread(out / "tiny" / "probability.tif").shape == (3, 5, 4)
    assert (out / "tiny" / "neuron.swc").exists()
    assert main(["gaze", str(all_files["png_flat"]), "-r", "Opacity.", "-o", str(out / "gaze"), "--weights",
                 str(all_files["tiny_gem"])]) == 0
    import csv

    with open(out / "gaze" / "gaze_points.csv", newline="") as fh:
        pts = np.array([[float(r["x"]), float(r["y"])] for r in csv.DictReader(line for line in fh
                                                                                if not line.startswith("#"))])
    assert len(pts) == 8 and (pts >= 0).all() and (pts <= 64).all()
    assert snapshot(in_dir) == before
    capsys.readouterr()


def test_batch_glob_skips_its_own_outputs_on_resume(files, tmp_path, capsys) -> None:
    """``--input-glob 'data/**/*.nii.gz' -o data/out``: the resumed run must not take its outputs for new items."""
    import shutil

    data = tmp_path / "data"
    data.mkdir()
    for k in ("good", "good2"):
        shutil.copy(files[k], data / files[k].name)
    argv = ["batch", "denoise", "--input-glob", str(data / "**" / "*.nii.gz"), "-o", str(data / "out"), "--sequential",
            "--quiet"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "2 done, 0 skipped" in first
    assert main(argv + ["--resume"]) == 0
    assert "0 done, 2 skipped" in capsys.readouterr().out
    assert sorted(p.name for p in (data / "out").iterdir() if p.is_dir()) == ["good", "good2"]


def test_internal_error_exits_3_with_traceback(monkeypatch, capsys, files) -> None:
    """A bug (an unexpected exception, not bad input) exits 3 and shows the traceback, asking for a report."""
    import medwave.commands.info as info

    def boom(args) -> int:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(info, "run", boom)
    monkeypatch.delenv("MEDWAVE_DEBUG", raising=False)
    assert main(["info", str(files["good"])]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "simulated bug" in err and "internal error" in err
    monkeypatch.setenv("MEDWAVE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="simulated bug"):  # MEDWAVE_DEBUG=1 lets it propagate
        main(["info", str(files["good"])])
