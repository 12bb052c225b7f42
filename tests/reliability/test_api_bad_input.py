"""The public Python API fed the same bad input as the CLI table (``test_cli_bad_input.py``).

Python users must get the same clear error as the command line: a ``ValueError`` or ``FileNotFoundError``
(not a deep ``TypeError``/``RuntimeError`` from torch, nibabel or tifffile) whose message names the file or
the argument, raised before any file is written. Each case lists the substrings the message must contain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

import medwave
from medwave.transforms import denoise_volume
from medwave.wavelets import dwt, idwt, wavedec, waverec
from tests.reliability.conftest import snapshot


@dataclass(frozen=True)
class ApiCase:
    """One bad call.

    Attributes:
        id: Test id.
        call: ``call(files, tmp_path)`` makes the call (``files`` maps input names to paths).
        must_say: Substrings the message must contain (case-insensitive).
        exc: Accepted exception type(s).
    """

    id: str
    call: Callable[[dict, Path], object]
    must_say: tuple[str, ...]
    exc: tuple[type[BaseException], ...] = (ValueError,)


FNF = (FileNotFoundError,)
REG = dict(iterations=2, progress=False)
SEG = dict(cube=(16, 32, 32), progress=False, trace=False)


def _run_batch(task: str, inputs: dict, out: Path):
    from medwave.batch import run_batch
    from medwave.batch.manifest import BatchItem

    return run_batch(task, [BatchItem("x", inputs, "test")], out, workers=0, progress=False)


def _load_manifest(path: Path):
    from medwave.batch import load_manifest

    return load_manifest(path, "denoise")


def _read_swc(path: Path):
    from medwave.neuron.swc import read_swc

    return read_swc(path)


def _read_gaze_csv(path: Path):
    from medwave.gaze.io import read_gaze_csv

    return read_gaze_csv(path)


def _vol(shape=(16, 16, 16), dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


def _nan_vol() -> np.ndarray:
    v = _vol()
    v[1, 2, 3] = np.nan
    return v


CASES: list[ApiCase] = [
    # ---------------------------------------------------------------- medwave.register
    ApiCase("register-missing", lambda f, t: medwave.register(f["good"], str(f["good"]) + ".missing", **REG),
            ("good.nii.gz.missing",), FNF),
    ApiCase("register-empty", lambda f, t: medwave.register(f["good"], f["empty"], **REG), ("empty.nii.gz", "empty")),
    ApiCase("register-truncated", lambda f, t: medwave.register(f["truncated"], f["good"], **REG),
            ("truncated.nii.gz", "truncated")),
    ApiCase("register-wrong-ext", lambda f, t: medwave.register(f["good"], f["wrong_ext"], **REG), ("notes.txt",)),
    ApiCase("register-2d", lambda f, t: medwave.register(f["img2d"], f["good"], **REG), ("slice2d.nii.gz", "2D", "3D")),
    ApiCase("register-4d", lambda f, t: medwave.register(f["good"], f["img4d"], **REG), ("series4d.nii.gz", "4D")),
    ApiCase("register-nan-file", lambda f, t: medwave.register(f["good"], f["nan"], **REG), ("nan.nii.gz", "NaN/Inf")),
    ApiCase("register-nan-array", lambda f, t: medwave.register(_vol(), _nan_vol(), **REG), ("moving", "NaN/Inf")),
    ApiCase("register-2d-array", lambda f, t: medwave.register(_vol((16, 16)), _vol(), **REG), ("fixed", "2D")),
    ApiCase("register-seg-grid", lambda f, t: medwave.register(f["good"], f["good2"], moving_seg=f["tiny"], **REG),
            ("moving_seg", "grid")),
    ApiCase("register-bad-weights", lambda f, t: medwave.register(f["good"], f["good2"], weights=f["bad_weights"], **REG),
            ("bad_weights.pt",)),
    ApiCase("register-missing-weights", lambda f, t: medwave.register(f["good"], f["good2"], weights=t / "no.pt", **REG),
            ("no.pt",), (FileNotFoundError, ValueError)),
    ApiCase("register-bad-device", lambda f, t: medwave.register(f["good"], f["good2"], device="tpu", **REG),
            ("tpu",)),
    ApiCase("register-tiny", lambda f, t: medwave.register(f["tiny"], f["tiny"], **REG), ("tiny.nii.gz", "2x2x2")),
    ApiCase("register-zeros", lambda f, t: medwave.register(f["zeros"], f["good"], **REG), ("zeros.nii.gz", "constant")),
    # ---------------------------------------------------------------- medwave.batch.run_batch
    ApiCase("batch-input-in-output", lambda f, t: _run_batch("denoise", {"image": str(t / "out" / "a.nii.gz")}, t / "out"),
            ("'x'", "inside the output folder")),
    ApiCase("batch-unknown-task", lambda f, t: _run_batch("sharpen", {"image": str(f["good"])}, t / "out"),
            ("sharpen", "denoise")),
    ApiCase("load-manifest-bad-json", lambda f, t: _load_manifest(f["json_bad"]), ("bad.json", "JSON")),
    ApiCase("load-manifest-bad-key", lambda f, t: _load_manifest(f["manifest_badkey"]), ("badkey_manifest.json", "'image'")),
    ApiCase("load-manifest-missing", lambda f, t: _load_manifest(t / "none.json"), ("none.json",), FNF),
    # ---------------------------------------------------------------- SWC and gaze CSV readers
    ApiCase("read-swc-non-numeric", lambda f, t: _read_swc(f["swc_bad"]), ("bad.swc", "line 3")),
    ApiCase("read-swc-orphan", lambda f, t: _read_swc(f["swc_missing_parent"]), ("orphan.swc", "parent 7")),
    ApiCase("read-swc-missing", lambda f, t: _read_swc(t / "none.swc"), ("none.swc",), FNF),
    ApiCase("read-gaze-csv-non-numeric", lambda f, t: _read_gaze_csv(f["csv_bad"]), ("bad.csv", "line 3")),
    ApiCase("read-gaze-csv-no-columns", lambda f, t: _read_gaze_csv(f["csv_nocols"]), ("nocols.csv", "x/y")),
    ApiCase("read-gaze-csv-empty", lambda f, t: _read_gaze_csv(f["csv_empty"]), ("empty.csv", "empty")),
    # ---------------------------------------------------------------- medwave.segment_neurons
    ApiCase("seg-missing", lambda f, t: medwave.segment_neurons(str(f["stack"]) + ".missing.tif", **SEG),
            ("stack.tif.missing.tif",), FNF),
    ApiCase("seg-empty", lambda f, t: medwave.segment_neurons(f["stack_empty"], **SEG), ("stack_empty.tif", "empty")),
    ApiCase("seg-truncated", lambda f, t: medwave.segment_neurons(f["stack_truncated"], **SEG),
            ("stack_truncated.tif", "truncated")),
    ApiCase("seg-wrong-ext", lambda f, t: medwave.segment_neurons(f["stack_wrong_ext"], **SEG), ("stack.png", "TIFF")),
    ApiCase("seg-2d-file", lambda f, t: medwave.segment_neurons(f["stack2d"], **SEG), ("stack2d.tif", "3D")),
    ApiCase("seg-2d-array", lambda f, t: medwave.segment_neurons(np.zeros((32, 32), np.float32), **SEG), ("3D",)),
    ApiCase("seg-nan-file", lambda f, t: medwave.segment_neurons(f["stack_nan"], **SEG), ("stack_nan.tif", "NaN")),
    ApiCase("seg-nan-array", lambda f, t: medwave.segment_neurons(_nan_vol(), **SEG), ("the stack", "NaN")),
    ApiCase("seg-complex-file", lambda f, t: medwave.segment_neurons(f["stack_complex"], **SEG),
            ("stack_complex.tif", "complex")),
    ApiCase("seg-complex-array", lambda f, t: medwave.segment_neurons(np.zeros((8, 8, 8), np.complex64), **SEG),
            ("the stack", "complex")),
    ApiCase("seg-zero-cube", lambda f, t: medwave.segment_neurons(f["stack"], **(SEG | {"cube": (0, 32, 32)})),
            ("cube",)),
    ApiCase("seg-cube-rank", lambda f, t: medwave.segment_neurons(f["stack"], **(SEG | {"cube": (16, 32)})), ("cube",)),
    ApiCase("seg-overlap", lambda f, t: medwave.segment_neurons(f["stack"], overlap=1.5, **SEG), ("overlap",)),
    ApiCase("seg-threshold", lambda f, t: medwave.segment_neurons(f["stack"], threshold=7.0, **SEG), ("threshold",)),
    ApiCase("seg-batch-size", lambda f, t: medwave.segment_neurons(f["stack"], batch_size=0, **SEG), ("batch_size",)),
    ApiCase("seg-bad-weights", lambda f, t: medwave.segment_neurons(f["stack"], weights=f["bad_weights"], **SEG),
            ("bad_weights.pt", "checkpoint")),
    ApiCase("seg-missing-weights", lambda f, t: medwave.segment_neurons(f["stack"], weights=t / "none.pt", **SEG),
            ("none.pt",), FNF),
    # ---------------------------------------------------------------- medwave.predict_gaze
    ApiCase("gaze-missing", lambda f, t: medwave.predict_gaze(str(f["png"]) + ".missing", "Opacity."),
            ("chest.png.missing",), FNF),
    ApiCase("gaze-empty", lambda f, t: medwave.predict_gaze(f["png_empty"], "Opacity."), ("empty.png",)),
    ApiCase("gaze-truncated", lambda f, t: medwave.predict_gaze(f["png_truncated"], "Opacity."), ("truncated.png",)),
    ApiCase("gaze-wrong-ext", lambda f, t: medwave.predict_gaze(f["xray_ext"], "Opacity."), ("chest.xyz",)),
    ApiCase("gaze-3d-file", lambda f, t: medwave.predict_gaze(f["good"], "Opacity."), ("good.nii.gz",)),
    ApiCase("gaze-3d-array", lambda f, t: medwave.predict_gaze(np.zeros((8, 8, 8), np.float32), "Opacity."), ("2D",)),
    ApiCase("gaze-folder", lambda f, t: medwave.predict_gaze(f["folder"], "Opacity."), ("a_folder",),
            (ValueError, IsADirectoryError)),
    ApiCase("gaze-empty-sentence", lambda f, t: medwave.predict_gaze(f["png"], "   "), ("sentence",)),
    ApiCase("gaze-bad-k", lambda f, t: medwave.predict_gaze(f["png"], "Opacity.", k=5), ("k=8",)),
    ApiCase("gaze-bad-weights", lambda f, t: medwave.predict_gaze(f["png"], "Opacity.", weights=f["bad_weights"]),
            ("bad_weights.pt", "checkpoint")),
    # ---------------------------------------------------------------- wavelet core
    ApiCase("dwt-2d-for-3d", lambda f, t: dwt(torch.zeros(4, 4), "db1", spatial_dims=3), ("spatial_dims=3", "(4, 4)")),
    ApiCase("dwt-nan", lambda f, t: dwt(torch.tensor([[[1.0, float("nan"), 2.0, 3.0]]]), "db1"), ("NaN/Inf",)),
    ApiCase("dwt-inf", lambda f, t: dwt(torch.tensor([[[1.0, float("inf"), 2.0, 3.0]]]), "db1"), ("NaN/Inf",)),
    ApiCase("dwt-unknown-wavelet", lambda f, t: dwt(torch.zeros(1, 1, 8), "db99"), ("db99",)),
    ApiCase("dwt-continuous-wavelet", lambda f, t: dwt(torch.zeros(1, 1, 8), "morl"), ("morl",)),
    ApiCase("dwt-bad-mode", lambda f, t: dwt(torch.zeros(1, 1, 8), "db1", mode="mirror"), ("mirror",)),
    ApiCase("dwt-complex", lambda f, t: dwt(torch.zeros(1, 1, 8, dtype=torch.complex64), "db1"), ("complex",)),
    ApiCase("dwt-strings", lambda f, t: dwt(np.array([["a", "b"]]), "db1", spatial_dims=1), ("dtype",)),
    ApiCase("dwt-empty-axis", lambda f, t: dwt(torch.zeros(1, 1, 0), "db1"), ("empty",)),
    ApiCase("dwt-spatial-dims-4", lambda f, t: dwt(torch.zeros(1, 1, 4, 4, 4, 4), "db1", spatial_dims=4),
            ("spatial_dims",)),
    ApiCase("dwt-5d-infer", lambda f, t: dwt(torch.zeros(1, 1, 2, 2, 2, 2), "db1"), ("spatial_dims",)),
    ApiCase("wavedec-huge-level", lambda f, t: wavedec(torch.zeros(1, 1, 16, 16, 16), "db1", level=40),
            ("level=40", "maximum is 4")),
    ApiCase("wavedec-negative-level", lambda f, t: wavedec(torch.zeros(1, 1, 16), "db1", level=-1), ("level",)),
    ApiCase("wavedec-one-voxel", lambda f, t: wavedec(torch.zeros(1, 1, 1, 1, 1), "db1", level=1), ("(1, 1, 1)",)),
    ApiCase("idwt-unknown-key", lambda f, t: idwt({"aa": torch.zeros(1, 1, 4, 4), "xx": torch.zeros(1, 1, 4, 4)}, "db1"),
            ("xx",)),
    ApiCase("waverec-empty", lambda f, t: waverec([], "db1"), ("coeff",)),
    # ---------------------------------------------------------------- denoise API
    ApiCase("denoise-complex", lambda f, t: denoise_volume(np.zeros((8, 8, 8), np.complex64)), ("complex",)),
    ApiCase("denoise-one-voxel", lambda f, t: denoise_volume(np.ones((1, 1, 1), np.float32)), ("1x1x1", "2 voxels")),
    ApiCase("denoise-huge-levels", lambda f, t: denoise_volume(_vol(), levels=40), ("levels=40", "at most 4")),
    ApiCase("denoise-zero-levels", lambda f, t: denoise_volume(_vol(), levels=0), ("levels=0",)),
    ApiCase("denoise-nan", lambda f, t: denoise_volume(_nan_vol()), ("NaN/Inf",)),
    ApiCase("denoise-bad-method", lambda f, t: denoise_volume(_vol(), method="Wiener"), ("Wiener",)),
    ApiCase("denoise-bad-mode", lambda f, t: denoise_volume(_vol(), mode="medium"), ("medium",)),
    ApiCase("denoise-bad-wavelet", lambda f, t: denoise_volume(_vol(), wavelet="db99"), ("db99",)),
    ApiCase("denoise-bad-sigma", lambda f, t: denoise_volume(_vol(), sigma=-1.0), ("sigma",)),
    ApiCase("denoise-4d-no-dims", lambda f, t: denoise_volume(np.zeros((2, 8, 8, 8), np.float32)), ("spatial_dims",)),
]

#: API cases the package still gets wrong; strict xfail, so a fix forces the entry to be removed.
KNOWN_API_DEFECTS: dict[str, str] = {
}


def _params() -> list:
    return [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_API_DEFECTS[c.id])]
                         if c.id in KNOWN_API_DEFECTS else []) for c in CASES]


@pytest.fixture
def api_files(files, tiny_gem) -> dict[str, Path]:
    """Inputs by name (see ``conftest.files``)."""
    return dict(files) | {"tiny_gem": tiny_gem}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", _params())
def test_api_bad_input_raises_clear_error(case: ApiCase, api_files, tmp_path) -> None:
    """The call raises the expected exception type, naming the file/argument, and writes nothing."""
    in_dir = api_files["good"].parent
    before_in, before_tmp = snapshot(in_dir), snapshot(tmp_path)
    with pytest.raises(case.exc) as info:
        case.call(api_files, tmp_path)
    assert type(info.value) not in (TypeError, RuntimeError)
    msg = str(info.value)
    for s in case.must_say:
        assert s.lower() in msg.lower(), f"{s!r} not in message: {msg}"
    assert snapshot(in_dir) == before_in, "an input file changed"
    assert snapshot(tmp_path) == before_tmp, "the failed call left files behind"
