"""Hostile input: one generator per class of attack or accident, every front door, one set of promises.

Classes (issue 20): code execution (pickle payloads in weights, resume checkpoints, datalists), file-system objects
(named pipes, devices, symlink loops, folders, dangling links), hostile headers (sizes, voxel types, spacing),
bombs within a memory cap (MEDWAVE_MAX_MEMORY), SWC graphs, option fuzzing (hypothesis), batch naming and
ownership, and hygiene (umask, leftovers of killed runs, undecodable text).

Every refused case must: exit 2 (CLI, in-process through :func:`medwave.cli.main`) or raise ValueError /
FileNotFoundError (API), print one message naming the file or option and no traceback, finish within a few
seconds (a blocked read is caught by an alarm), allocate little (tracemalloc peak), run nothing from the file,
delete nothing and leave every input byte-identical.
"""

from __future__ import annotations

import builtins
import contextlib
import gzip
import json
import os
import re
import signal
import stat
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import nibabel as nib
import numpy as np
import pytest
import tifffile
import torch

from medwave.cli import main
from medwave.networks.checkpoint import save_checkpoint
from tests.reliability.conftest import blob_volume, save_nii, snapshot

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 ** 2


# --------------------------------------------------------------------------- the promises


class Blocked(Exception):
    """Raised by the alarm when a call blocks (e.g. opening a named pipe)."""


@contextlib.contextmanager
def deadline(seconds: int = 120):
    """Fail instead of hanging: SIGALRM interrupts a blocked open()/read() in the main thread."""
    def on_alarm(signum, frame):
        raise Blocked(f"blocked for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module", autouse=True)
def _imported():
    """Import the heavy modules once, outside any deadline: an alarm must interrupt a blocked read, never an import
    (a half-imported torch.distributed cannot be imported again)."""
    import medwave.batch.tasks  # noqa: F401
    import medwave.bundles.adapters  # noqa: F401
    import medwave.gaze.api  # noqa: F401
    import medwave.gaze.training  # noqa: F401
    import medwave.neuron.api  # noqa: F401
    import medwave.neuron.train  # noqa: F401
    import medwave.registration.api  # noqa: F401
    import medwave.registration.training  # noqa: F401
    import monai.networks.nets  # noqa: F401
    import skimage.io  # noqa: F401


def run_cli(argv: list[str], capsys, *, peak_mib: float = 200.0, seconds: int = 120) -> tuple[int, str]:
    """Run ``medwave argv`` in-process under a deadline and a tracemalloc peak budget; return (code, stderr)."""
    capsys.readouterr()
    tracemalloc.start()
    try:
        with deadline(seconds):
            code = main([str(a) for a in argv])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert peak < peak_mib * MiB, f"{argv}: allocated {peak / MiB:.0f} MiB before refusing"
    return code, err


def assert_refused(code: int, err: str, *names: str) -> None:
    """Exit 2, one error line naming every ``names``, no traceback."""
    assert code == 2, f"exit {code}: {err}"
    assert "Traceback" not in err and "internal error" not in err, err
    for n in names:
        assert n.lower() in err.lower(), f"{n!r} not named in: {err}"


# --------------------------------------------------------------------------- code execution


class _Payload:
    """Unpickling this creates the file ``marker`` (standing for any code an attacker would run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def _payload_files(d: Path, marker: Path) -> dict[str, Path]:
    """Pickle payloads in every container a user might hand medwave."""
    import pickle

    d.mkdir(parents=True, exist_ok=True)
    out = {"zip_pt": d / "evil.pt", "legacy_pt": d / "evil_legacy.pt", "raw_pkl": d / "evil.pkl",
           "in_meta": d / "evil_meta.pt"}
    torch.save({"config": {}, "state_dict": {}, "meta": _Payload(marker)}, out["in_meta"])
    torch.save(_Payload(marker), out["zip_pt"])
    torch.save({"state_dict": _Payload(marker)}, out["legacy_pt"], _use_new_zipfile_serialization=False)
    with open(out["raw_pkl"], "wb") as fh:
        pickle.dump((_Payload(marker), np.zeros(3)), fh)
    return out


@pytest.fixture()
def payloads(tmp_path):
    marker = tmp_path / "PWNED"
    return _payload_files(tmp_path / "evil", marker), marker


def test_payload_fixture_really_runs_code_when_unpickled(payloads) -> None:
    """The check can fail: plain pickle would create the marker file."""
    import pickle

    files, marker = payloads
    with open(files["raw_pkl"], "rb") as fh:
        pickle.load(fh)  # noqa: S301 - the point of this test
    assert marker.exists()


@pytest.mark.parametrize("kind", ["zip_pt", "legacy_pt", "raw_pkl", "in_meta"])
def test_pickle_payloads_refused_everywhere_nothing_runs(kind, payloads, files, tmp_path, capsys) -> None:
    """--weights of every command and of batch, resume checkpoints of every trainer, datalist entries."""
    evil_files, marker = payloads
    evil = evil_files[kind]
    before = snapshot(evil.parent)
    runs = tmp_path / "runs"
    runs.mkdir()
    cases = [
        ["segment-neurons", files["stack_tiny"], "-o", runs / "s", "--weights", evil, "--quiet"],
        ["register", files["good"], files["good2"], "-o", runs / "r", "--weights", evil, "--no-progress"],
        ["gaze", files["png"], "-r", "Opacity.", "-o", runs / "g",
         "--weights", evil],
    ]
    manifest = runs / "m.json"
    manifest.write_text(json.dumps([{"image": str(files["stack_tiny"])}]))
    cases.append(["batch", "segment-neurons", "--manifest", manifest, "-o", runs / "b", "--weights", evil, "--sequential",
                  "--quiet"])
    for argv in cases:
        code, err = run_cli(argv, capsys)
        assert_refused(code, err, evil.name)  # batch too: the weights are read once, before any item
        assert "pickled" in err or "not a readable" in err, (argv, err)
    # resume checkpoints: a planted last.pt in each trainer's output folder
    vols = runs / "vols"
    vols.mkdir()
    for i in range(3):
        (vols / f"v{i}.nii.gz").write_bytes(files["good"].read_bytes())
    for cmd, extra in (("train-neurons", ["--synthetic", "1", "--steps", "2"]),
                       ("train-gaze", ["--synthetic", "4", "--steps", "2"]),
                       ("train-registration", [vols, "--epochs", "1"])):
        out = runs / cmd
        out.mkdir()
        (out / "last.pt").write_bytes(evil.read_bytes())
        code, err = run_cli([cmd, "-o", out, "--resume", *extra], capsys)
        assert_refused(code, err, "last.pt")
    # a datalist entry that is a pickle
    dl = runs / "dl.json"
    dl.write_text(json.dumps({"training": [{"image": str(evil)}, {"image": str(files["good"])},
                                           {"image": str(files["good2"])}]}))
    code, err = run_cli(["train-registration", dl, "-o", runs / "tr", "--epochs", "1"], capsys)
    assert_refused(code, err, evil.name, "pickle")
    # the bundle adapter
    from medwave.bundles.adapters import load_network

    with pytest.raises(ValueError, match=re.escape(evil.name)):
        load_network("winet", evil)
    assert not marker.exists(), "a payload ran"
    assert snapshot(evil.parent) == before


def test_package_never_unpickles() -> None:
    """Fails the build if any source or config of the package can unpickle: pickle.load(s), weights_only=False,
    numpy allow_pickle=True, or a torch.load call without weights_only=True."""
    bad = re.compile(r"pickle\.loads?\s*\(|weights_only\s*=\s*False|allow_pickle\s*=\s*True|joblib\.load|dill\.load")
    hits = []
    for p in (ROOT / "medwave").rglob("*"):
        if p.suffix not in (".py", ".json", ".md", ".cfg", ".yaml", ".yml", ".txt", ".ipynb") or not p.is_file():
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        hits += [f"{p.relative_to(ROOT)}: {m.group(0)}" for m in bad.finditer(text)]
        if p.suffix == ".py":
            for m in re.finditer(r"torch\.load\(([^()]|\([^()]*\))*\)", text):
                if "weights_only=True" not in m.group(0):
                    hits.append(f"{p.relative_to(ROOT)}: {m.group(0)[:80]}")
    assert not hits, "unpickling in the package:\n" + "\n".join(hits)


def test_shipped_weights_are_in_the_one_format() -> None:
    from medwave.networks.checkpoint import read_checkpoint

    for p in sorted((ROOT / "medwave").glob("*/weights/*.pt")):
        ck = read_checkpoint(p)
        assert set(ck) == {"config", "state_dict", "meta"}, p
        assert ck["meta"]["format"] == "medwave.checkpoint/1"


# --------------------------------------------------------------------------- file-system objects


@pytest.fixture()
def fs_objects(tmp_path) -> dict[str, Path]:
    d = tmp_path / "fs"
    d.mkdir()
    fifo = d / "pipe.nii.gz"
    os.mkfifo(fifo)
    loop = d / "loop.nii.gz"
    loop.symlink_to(loop.name)
    dangling = d / "dangling.nii.gz"
    dangling.symlink_to(d / "nothing_here.nii.gz")
    folder = d / "folder.nii.gz"
    folder.mkdir()
    return {"fifo": fifo, "loop": loop, "dangling": dangling, "folder": folder, "device": Path("/dev/zero")}


# a device without an image extension may be refused for its name first: named, refused, not read
FS_EXPECT = {"fifo": "named pipe", "loop": "symbolic link loop", "dangling": "", "folder": "folder", "device": ""}


def test_file_system_objects_refused_without_blocking(fs_objects, files, tmp_path, capsys) -> None:
    out = tmp_path / "o"
    for kind, obj in fs_objects.items():
        before = snapshot(fs_objects["fifo"].parent)
        argvs = [
            ["info", obj],
            ["denoise", obj, "-o", out / "d.nii.gz"],
            ["register", obj, files["good"], "-o", out / "r", "--no-progress"],
            ["segment-neurons", obj, "-o", out / "s", "--quiet"],
            ["segment-neurons", files["stack_tiny"], "-o", out / "s2", "--gt-swc", obj, "--quiet"],
            ["gaze", obj, "-r", "Opacity.", "-o", out / "g"],
            ["register", files["good"], files["good2"], "-o", out / "w", "--weights", obj, "--no-progress"],
        ]
        for argv in argvs:
            if kind == "folder" and argv[0] in ("info", "register") and argv[1] == obj:
                continue  # a folder is a DICOM series there: refused for holding none (tested in test_cli_bad_input)
            code, err = run_cli(argv, capsys)
            assert_refused(code, err, obj.name, FS_EXPECT[kind])
        assert snapshot(fs_objects["fifo"].parent) == before
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


# --------------------------------------------------------------------------- hostile headers and bombs


def _nifti_claiming(path: Path, shape: tuple[int, ...], dtype=np.float32, gz: bool = True) -> Path:
    """A tiny NIfTI file whose header claims ``shape`` (the data is missing)."""
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(dtype)
    hdr.set_data_shape(shape)
    hdr.set_sform(np.eye(4), code=1)
    raw = hdr.binaryblock + b"\x00" * 4 + b"\x00" * 64
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def _hostile_headers(d: Path) -> dict[str, tuple[Path, str]]:
    """(file, what the message must say) per hostile header."""
    d.mkdir(parents=True, exist_ok=True)
    cases = {
        "nifti_3gb": (_nifti_claiming(d / "claims3g.nii.gz", (1024, 1024, 768)), "memory limit"),
        "nifti_20gb": (_nifti_claiming(d / "claims20g.nii", (2048, 2048, 1280), gz=False), "memory limit"),
        "nifti_int64_dims": (_nifti_claiming(d / "claimsint64.nii.gz", (30000, 30000, 30000, 2), np.int64), "memory limit"),
    }
    rgb = np.zeros((8, 8, 8), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), str(d / "rgb24.nii.gz"))
    cases["rgb24"] = (d / "rgb24.nii.gz", "RGB24")
    (d / "huge.nrrd").write_bytes(b"NRRD0004\ntype: float\ndimension: 3\nsizes: 4000 4000 4000\nencoding: raw\nendian: little\n\n" + b"\x00" * 64)
    cases["nrrd"] = (d / "huge.nrrd", "memory limit")
    (d / "huge.mha").write_bytes(b"ObjectType = Image\nNDims = 3\nDimSize = 3000 3000 3000\nElementType = MET_DOUBLE\n"
                                 b"ElementDataFile = LOCAL\n" + b"\x00" * 64)
    cases["mha"] = (d / "huge.mha", "memory limit")
    save_nii(d / "zp.nii", blob_volume((12, 12, 12)))
    raw = bytearray((d / "zp.nii").read_bytes())
    raw[84:88] = np.float32(0.0).tobytes()  # pixdim[2] = 0 (the y voxel size)
    raw[252:256] = b"\x00\x00\x00\x00"  # qform_code = sform_code = 0: the affine comes from pixdim
    (d / "zp.nii").unlink()
    (d / "zero_pixdim.nii.gz").write_bytes(gzip.compress(bytes(raw)))
    cases["zero_pixdim"] = (d / "zero_pixdim.nii.gz", "pixdim[2] = 0")
    return cases


def test_hostile_headers_refused_before_allocating(tmp_path, capsys, monkeypatch) -> None:
    cases = _hostile_headers(tmp_path / "h")
    before = snapshot(tmp_path / "h")
    monkeypatch.setenv("MEDWAVE_MAX_MEMORY", "2G")  # a bound in the message; the bombs need far more
    for key, (path, says) in cases.items():
        for argv in (["info", path], ["denoise", path, "-o", tmp_path / "o" / f"{key}.nii.gz"],
                     ["register", path, path, "-o", tmp_path / "o" / key, "--no-progress"]):
            code, err = run_cli(argv, capsys, peak_mib=64)
            assert_refused(code, err + f" [{key} {argv[0]}]", path.name, says)
            if says == "memory limit":
                assert "GiB" in err and "--max-memory" in err
    assert snapshot(tmp_path / "h") == before


def test_bombs_within_a_memory_cap(tmp_path, capsys, monkeypatch, files) -> None:
    """Real (small) files that would need more than a deliberately small cap: refused, then accepted above it."""
    from PIL import Image as PILImage

    d = tmp_path / "b"
    d.mkdir()
    png = d / "big.png"
    PILImage.new("L", (3000, 3000)).save(png)  # 9 Mpx in a few KB: ~580 MiB for gaze
    tif = d / "stack.tif"
    tifffile.imwrite(tif, np.zeros((64, 256, 256), np.uint16), compression="zlib")
    nii = save_nii(d / "vol.nii.gz", np.zeros((160, 160, 160), np.float32))  # 16 MiB + a float32 copy
    swc = d / "long.swc"
    swc.write_text("1 3 0 0 0 1 -1\n2 3 9000000 0 0 1 1\n")  # one enormous segment
    before = snapshot(d)
    monkeypatch.setenv("MEDWAVE_MAX_MEMORY", "16M")
    checks = [
        (["gaze", png, "-r", "Opacity.", "-o", tmp_path / "g"], png.name),
        (["segment-neurons", tif, "-o", tmp_path / "s", "--quiet"], tif.name),
        (["info", nii], nii.name),
        (["denoise", nii, "-o", tmp_path / "d.nii.gz"], nii.name),
        (["segment-neurons", files["stack_tiny"], "-o", tmp_path / "c", "--cube", "512", "512", "512", "--quiet"],
         "cube (512, 512, 512)"),
    ]
    for argv, name in checks:
        code, err = run_cli(argv, capsys, peak_mib=32)
        assert_refused(code, err + f" [{argv[0]}]", name, "memory limit", "16M")
    # the enormous segment: scoring it would resample ~9e6 points
    from medwave.neuron.metrics import resample_segments
    from medwave.neuron.swc import read_swc

    with pytest.raises(ValueError, match="memory limit"):
        resample_segments(read_swc(swc))
    # --max-memory raises the cap for one command
    code, err = run_cli(["info", nii, "--max-memory", "1G"], capsys)
    assert code == 0, err
    assert snapshot(d) == before


def test_memory_limit_parsing(monkeypatch) -> None:
    from medwave.io.guard import memory_limit, parse_size

    assert parse_size("16G") == 16 * 1024 ** 3 and parse_size("512m") == 512 * MiB and parse_size(1000) == 1000
    for bad in ("lots", "-1G", "0", "nan", "1X"):
        with pytest.raises(ValueError):
            parse_size(bad)
    monkeypatch.delenv("MEDWAVE_MAX_MEMORY", raising=False)
    limit, source = memory_limit()
    assert 0 < limit and "available" in source
    monkeypatch.setenv("MEDWAVE_MAX_MEMORY", "banana")
    with pytest.raises(ValueError, match="MEDWAVE_MAX_MEMORY"):
        memory_limit()


def test_rgb_tiff_is_not_a_stack(tmp_path, capsys) -> None:
    rgb = tmp_path / "photo.tif"
    tifffile.imwrite(rgb, np.zeros((64, 64, 3), np.uint8), photometric="rgb")
    code, err = run_cli(["segment-neurons", rgb, "-o", tmp_path / "o", "--quiet"], capsys)
    assert_refused(code, err, "photo.tif", "RGB")


# --------------------------------------------------------------------------- SWC graphs


SWCS = {
    "cycle": ("1 3 0 0 0 1 2\n2 3 1 0 0 1 1\n", "cycle"),
    "self_parent": ("1 3 0 0 0 1 1\n", "cycle"),
    "negative_radius": ("1 3 0 0 0 1 -1\n2 3 1 0 0 -2 1\n", "negative radius"),
    "nan_coordinate": ("1 3 0 0 0 1 -1\n2 3 nan 0 0 1 1\n", "finite"),
    "far_coordinate": ("1 3 0 0 0 1 -1\n2 3 1e12 0 0 1 1\n", "beyond"),
}


@pytest.mark.parametrize("key", list(SWCS))
def test_bad_swc_graphs_refused(key, tmp_path, files, capsys) -> None:
    text, says = SWCS[key]
    p = tmp_path / f"{key}.swc"
    p.write_text(text)
    from medwave.neuron.swc import read_swc

    with pytest.raises(ValueError, match=says):
        read_swc(p)
    code, err = run_cli(["segment-neurons", files["stack_tiny"], "-o", tmp_path / "o", "--gt-swc", p,
                         "--weights", "none.pt", "--quiet"], capsys)
    assert code == 2 and p.name in err or "none.pt" in err


def test_valid_forest_swc_still_reads(tmp_path) -> None:
    from medwave.neuron.swc import read_swc

    p = tmp_path / "forest.swc"
    p.write_text("1 3 0 0 0 1 -1\n2 3 1 0 0 0 1\n3 3 5 5 5 1 -1\n4 3 6 5 5 1 3\n")
    s = read_swc(p)
    assert s.n_trees() == 2 and len(s) == 4


# --------------------------------------------------------------------------- option fuzzing

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NUMS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.integers(-10, 10 ** 6),
                 st.sampled_from([0, 0.0, -0.0, 1, -1, "3", "x", None, True]))


def _expect_ok_number(v, lo, hi=None, hi_open=False, whole=False) -> bool:
    if v is None or isinstance(v, bool):
        return False
    try:
        f = float(v)
    except (TypeError, ValueError):
        return False
    if not np.isfinite(f) or f < lo or (hi is not None and (f > hi or (hi_open and f == hi))):
        return False
    return not whole or f == int(f)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(iterations=NUMS, smoothness=NUMS)
def test_register_options_one_rule_for_api_batch_and_cli(iterations, smoothness) -> None:
    """The API (register), the batch path (validate_options) accept and refuse the same values."""
    import medwave
    from medwave.batch.options import validate_options

    ok = (_expect_ok_number(iterations, 0, whole=True) and not isinstance(iterations, str)
          and _expect_ok_number(smoothness, 0) and not isinstance(smoothness, str))
    if iterations is None or smoothness is None:
        return  # None means "default" in both paths
    try:
        validate_options("register", {"iterations": iterations, "smoothness": smoothness})
        batch_ok = True
    except ValueError:
        batch_ok = False
    try:
        medwave.register("/nonexistent/fixed.nii.gz", "/nonexistent/moving.nii.gz", iterations=iterations,
                         smoothness=smoothness, progress=False)
    except FileNotFoundError:
        api_ok = True  # the options passed; the (missing) inputs were next
    except ValueError:
        api_ok = False
    assert batch_ok == api_ok
    if not isinstance(iterations, str) and not isinstance(smoothness, str):
        assert batch_ok == ok, (iterations, smoothness)


@settings(max_examples=150, deadline=None)
@given(threshold=NUMS, overlap=NUMS, bs=NUMS)
def test_segment_options_one_rule(threshold, overlap, bs) -> None:
    import medwave
    from medwave.batch.options import validate_options

    if None in (threshold, overlap, bs):
        return
    try:
        validate_options("segment-neurons", {"threshold": threshold, "overlap": overlap, "batch_size": bs})
        batch_ok = True
    except ValueError:
        batch_ok = False
    try:
        medwave.segment_neurons("/nonexistent/stack.tif", threshold=threshold, overlap=overlap, batch_size=bs,
                                progress=False)
    except FileNotFoundError:
        api_ok = True
    except ValueError:
        api_ok = False
    assert batch_ok == api_ok


@settings(max_examples=100, deadline=None)
@given(sigma=NUMS, levels=NUMS)
def test_denoise_options_refuse_non_finite(sigma, levels) -> None:
    from medwave.batch.options import validate_options

    try:
        validate_options("denoise", {"sigma": sigma, "levels": levels})
        ok = True
    except ValueError:
        ok = False
    if sigma is not None and levels is not None and not isinstance(sigma, str) and not isinstance(levels, str):
        assert ok == (_expect_ok_number(sigma, 0) and _expect_ok_number(levels, 1, whole=True))


def test_cli_option_cases(files, tmp_path, capsys) -> None:
    """The named examples of issue 20, through both CLI paths."""
    out = tmp_path / "o"
    m = tmp_path / "m.json"
    m.write_text(json.dumps([{"fixed": str(files["good"]), "moving": str(files["good2"])}]))
    for argv, says in (
        (["register", files["good"], files["good2"], "-o", out / "a", "--iterations", "-5"], "--iterations"),
        (["register", files["good"], files["good2"], "-o", out / "b", "--smoothness", "nan"], "smoothness"),
        (["batch", "register", "--manifest", m, "-o", out / "c", "--iterations", "-5", "--sequential"], "iterations"),
        (["segment-neurons", files["stack_tiny"], "-o", out / "d", "--threshold", "nan"], "threshold"),
    ):
        code, err = run_cli(argv, capsys)
        assert_refused(code, err, says)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


# --------------------------------------------------------------------------- batch naming and ownership


def _denoise_manifest(tmp_path: Path, entries: list[dict]) -> Path:
    m = tmp_path / "manifest.json"
    m.write_text(json.dumps(entries))
    return m


@pytest.mark.parametrize("name", ["failures.json", "summary.csv", ".medwave_done.json", "SUMMARY.CSV", ".."])
def test_batch_reserved_names_refused(name, files, tmp_path, capsys) -> None:
    from medwave.batch import run_batch
    from medwave.batch.manifest import BatchItem

    with pytest.raises(ValueError, match="reserved"):
        run_batch("denoise", [BatchItem(name, {"image": str(files["good"])})], tmp_path / "out", workers=0,
                  progress=False)
    assert not (tmp_path / "out").exists()
    if not name.startswith("."):
        m = _denoise_manifest(tmp_path, [{"image": str(files["good"]), "name": name}])
        code, err = run_cli(["batch", "denoise", "--manifest", m, "-o", tmp_path / "out2", "--sequential", "--quiet"],
                            capsys)
        assert_refused(code, err, name)


def test_batch_never_deletes_what_it_did_not_make(files, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    mine = out / "good"  # the item's name: the input's stem
    mine.mkdir(parents=True)
    (mine / "thesis.tex").write_text("years of work")
    before = snapshot(out)
    m = _denoise_manifest(tmp_path, [str(files["good"])])
    for extra in ([], ["--resume"]):
        code, err = run_cli(["batch", "denoise", "--manifest", m, "-o", out, "--sequential", "--quiet", *extra], capsys)
        assert_refused(code, err, str(mine), "not created by medwave")
        assert snapshot(out) == before


def test_batch_resume_redoes_changed_inputs(files, tmp_path, capsys) -> None:
    src = tmp_path / "in.nii.gz"
    src.write_bytes(files["good"].read_bytes())
    out = tmp_path / "out"
    m = _denoise_manifest(tmp_path, [str(src)])
    argv = ["batch", "denoise", "--manifest", m, "-o", out, "--sequential", "--quiet"]
    assert run_cli(argv, capsys)[0] == 0
    first = (out / "in" / "denoised.nii.gz").read_bytes()
    assert (out / "in" / ".medwave_item.json").is_file()
    code, _ = run_cli(argv + ["--resume"], capsys)
    assert code == 0 and (out / "in" / "denoised.nii.gz").read_bytes() == first  # unchanged: skipped
    save_nii(src, blob_volume((16, 16, 16), seed=99) * 3)  # the input changes
    os.utime(src, ns=(time.time_ns(), time.time_ns() + 10 ** 9))
    code, _ = run_cli(argv + ["--resume"], capsys)
    assert code == 0 and (out / "in" / "denoised.nii.gz").read_bytes() != first  # redone


def test_batch_denoise_refuses_complex_like_denoise(files, tmp_path, capsys) -> None:
    m = _denoise_manifest(tmp_path, [str(files["complex"])])
    code, err = run_cli(["batch", "denoise", "--manifest", m, "-o", tmp_path / "o", "--sequential", "--quiet"], capsys)
    assert code == 1
    fails = json.loads((tmp_path / "o" / "failures.json").read_text())
    assert "complex" in json.dumps(fails) and not list((tmp_path / "o").glob("*/denoised*"))
    code, err = run_cli(["denoise", files["complex"], "-o", tmp_path / "d.nii.gz"], capsys)
    assert_refused(code, err, "complex")


# --------------------------------------------------------------------------- hygiene


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_follow_the_umask(umask, mode, files, tmp_path, capsys) -> None:
    old = os.umask(umask)
    try:
        assert run_cli(["denoise", files["good"], "-o", tmp_path / "d.nii.gz"], capsys)[0] == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "d.nii.gz").stat().st_mode) == mode


def test_killed_runs_temporaries_are_cleaned_live_ones_kept(files, tmp_path, capsys) -> None:
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    dead_tmp = tmp_path / f".d.nii.gz.{dead.pid}-abc123.tmp.nii.gz"
    live_tmp = tmp_path / f".d.nii.gz.{os.getpid()}-live99.tmp.nii.gz"
    other = tmp_path / ".d.nii.gz.notes.txt"
    for p in (dead_tmp, live_tmp, other):
        p.write_bytes(b"partial")
    assert run_cli(["denoise", files["good"], "-o", tmp_path / "d.nii.gz"], capsys)[0] == 0
    assert not dead_tmp.exists() and live_tmp.exists() and other.exists()


def test_undecodable_text_names_the_bytes(tmp_path, capsys) -> None:
    m = tmp_path / "manifest.json"
    m.write_bytes(b'[{"image": "caf\xe9.nii.gz"}]')
    code, err = run_cli(["batch", "denoise", "--manifest", m, "-o", tmp_path / "o", "--sequential"], capsys)
    assert_refused(code, err, "manifest.json", "line 1", "xe9", "UTF-8")
