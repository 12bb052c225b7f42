"""Shared helpers of the reliability suite: small input files and a snapshot of a folder tree.

The snapshot (relative path -> SHA-256) lets a test check that a failed command changed no file and
left no temporary or partial output behind.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
import pytest
import tifffile
import torch
from medwave.networks.checkpoint import save_checkpoint


def snapshot(root: Path) -> dict[str, str]:
    """Hash every file under ``root`` (an empty output folder a command created is not counted: no file was written).

    Args:
        root: Folder to scan.

    Returns:
        Mapping of each file's path relative to ``root`` to its SHA-256.
    """
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def save_nii(path: Path, arr: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """Write ``arr`` as NIfTI with nibabel (not with medwave, so the writer under test is not involved).

    Args:
        path: Destination (``.nii`` or ``.nii.gz``).
        arr: Voxel data.
        affine: 4x4 affine (identity by default).

    Returns:
        ``path``.
    """
    nib.save(nib.Nifti1Image(np.asarray(arr), np.eye(4) if affine is None else affine), str(path))
    return path


def blob_volume(shape: tuple[int, ...] = (16, 16, 16), seed: int = 0) -> np.ndarray:
    """A smooth float32 volume with one bright blob plus a little noise.

    Args:
        shape: Volume shape.
        seed: Noise seed.

    Returns:
        The volume.
    """
    g = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    r2 = sum(x**2 for x in g)
    rng = np.random.default_rng(seed)
    return (np.exp(-3 * r2) + 0.05 * rng.standard_normal(shape)).astype(np.float32)


@pytest.fixture(scope="session")
def files(tmp_path_factory) -> dict[str, Path]:
    """A folder of good and bad inputs shared by the bad-input tables (never written to by tests)."""
    d = tmp_path_factory.mktemp("inputs")
    f: dict[str, Path] = {}
    f["good"] = save_nii(d / "good.nii.gz", blob_volume((16, 16, 16)))
    f["good2"] = save_nii(d / "good2.nii.gz", blob_volume((16, 16, 16), seed=1))
    f["empty"] = d / "empty.nii.gz"
    f["empty"].write_bytes(b"")
    raw = f["good"].read_bytes()
    f["truncated"] = d / "truncated.nii.gz"
    f["truncated"].write_bytes(raw[: len(raw) // 2])
    f["garbage_nii"] = d / "garbage.nii.gz"
    f["garbage_nii"].write_bytes(b"this is not a nifti file at all\n" * 20)
    f["wrong_ext"] = d / "notes.txt"
    f["wrong_ext"].write_text("just some text, not an image\n")
    f["img2d"] = save_nii(d / "slice2d.nii.gz", blob_volume((16, 16)))
    f["img4d"] = save_nii(d / "series4d.nii.gz", np.stack([blob_volume((12, 12, 12), s) for s in range(3)], -1))
    nan = blob_volume((16, 16, 16))
    nan[3, 4, 5] = np.nan
    nan[6, 6, 6] = np.inf
    f["nan"] = save_nii(d / "nan.nii.gz", nan)
    f["zeros"] = save_nii(d / "zeros.nii.gz", np.zeros((16, 16, 16), np.float32))
    f["tiny"] = save_nii(d / "tiny.nii.gz", blob_volume((2, 2, 2)))
    f["one_voxel"] = save_nii(d / "onevox.nii.gz", np.ones((1, 1, 1), np.float32))
    f["int8"] = save_nii(d / "int8.nii.gz", (blob_volume((16, 16, 16)) * 100).astype(np.int8))
    f["complex"] = save_nii(d / "complex.nii.gz", blob_volume((8, 8, 8)).astype(np.complex64))
    f["folder"] = d / "a_folder"
    f["folder"].mkdir()
    f["regular_file"] = d / "regular_file"
    f["regular_file"].write_text("a file, used as a would-be parent folder\n")
    # neuron stacks (Z, Y, X)
    stack = np.zeros((16, 32, 32), np.uint16)
    stack[8, 16, 4:28] = 1000
    stack[4:12, 16, 16] = 1000
    f["stack"] = d / "stack.tif"
    tifffile.imwrite(f["stack"], stack)
    f["stack_empty"] = d / "stack_empty.tif"
    f["stack_empty"].write_bytes(b"")
    sraw = f["stack"].read_bytes()
    f["stack_truncated"] = d / "stack_truncated.tif"
    f["stack_truncated"].write_bytes(sraw[:200])
    f["stack2d"] = d / "stack2d.tif"
    tifffile.imwrite(f["stack2d"], stack[0])
    f["stack4d"] = d / "stack4d.tif"
    tifffile.imwrite(f["stack4d"], np.stack([stack, stack]), metadata={"axes": "CZYX"})
    snan = stack.astype(np.float32)
    snan[2, 2, 2] = np.nan
    f["stack_nan"] = d / "stack_nan.tif"
    tifffile.imwrite(f["stack_nan"], snan)
    f["stack_complex"] = d / "stack_complex.tif"
    tifffile.imwrite(f["stack_complex"], stack.astype(np.complex64))
    f["stack_zeros"] = d / "stack_zeros.tif"
    tifffile.imwrite(f["stack_zeros"], np.zeros((16, 32, 32), np.uint16))
    f["stack_tiny"] = d / "stack_tiny.tif"
    tifffile.imwrite(f["stack_tiny"], np.ones((3, 5, 4), np.uint16), photometric="minisblack")  # grey, not RGBA
    f["stack_wrong_ext"] = d / "stack.png"
    f["stack_wrong_ext"].write_bytes(b"\x89PNG not really")
    f["swc_bad"] = d / "bad.swc"
    f["swc_bad"].write_text("# a malformed swc\n1 1 0 0 0 1 -1\n2 1 1 1 abc 1 1\n")
    f["swc_missing_parent"] = d / "orphan.swc"
    f["swc_missing_parent"].write_text("1 1 0 0 0 1 -1\n2 1 1 1 1 1 7\n")
    f["gt_mask_wrong_shape"] = d / "gt_mask_wrong.tif"
    tifffile.imwrite(f["gt_mask_wrong_shape"], np.zeros((8, 8, 8), np.uint8))
    # radiographs
    from PIL import Image as PILImage

    f["png"] = d / "chest.png"
    yy, xx = np.mgrid[0:96, 0:80]
    PILImage.fromarray(((np.sin(xx / 9.0) + np.cos(yy / 7.0) + 2) * 60).astype(np.uint8)).save(f["png"])
    f["png_empty"] = d / "empty.png"
    f["png_empty"].write_bytes(b"")
    f["png_truncated"] = d / "truncated.png"
    f["png_truncated"].write_bytes(f["png"].read_bytes()[:60])
    f["png_flat"] = d / "flat.png"
    PILImage.fromarray(np.zeros((64, 64), np.uint8)).save(f["png_flat"])
    f["png_tiny"] = d / "tiny.png"
    PILImage.fromarray(np.full((1, 1), 9, np.uint8)).save(f["png_tiny"])
    f["xray_ext"] = d / "chest.xyz"
    f["xray_ext"].write_bytes(f["png"].read_bytes())
    f["bad_weights"] = d / "bad_weights.pt"
    f["bad_weights"].write_bytes(b"not a torch checkpoint")
    # JSON / datalists
    f["json_bad"] = d / "bad.json"
    f["json_bad"].write_text('{"training": [ {"image": "a.png", ')
    f["json_nokey"] = d / "nokey.json"
    f["json_nokey"].write_text(json.dumps({"something": []}))
    f["json_items"] = d / "items.json"
    f["json_items"].write_text(json.dumps({"training": [{"image": "nowhere.png"}]}))
    f["json_missing_files"] = d / "missing_files.json"
    f["json_missing_files"].write_text(json.dumps({"training": [{"image": "nowhere.nii.gz", "label": "no.nii.gz"}],
                                                   "validation": []}))
    f["manifest_self"] = d / "self_manifest.json"
    f["manifest_self"].write_text(json.dumps([{"image": "good.nii.gz"}]))  # relative to the manifest's folder
    f["csv_bad"] = d / "bad.csv"
    f["csv_bad"].write_text("x,y\n1,2\n3,oops\n")
    f["csv_nocols"] = d / "nocols.csv"
    f["csv_nocols"].write_text("a,b\n1,2\n")
    f["csv_empty"] = d / "empty.csv"
    f["csv_empty"].write_text("")
    for key in ("csv_bad", "csv_nocols", "csv_empty"):  # gaze datalists whose gaze CSV is malformed
        f[f"dl_{key}"] = d / f"dl_{key}.json"
        f[f"dl_{key}"].write_text(json.dumps({"training": [{"image": "chest.png", "sentence": "Opacity.",
                                                             "gaze": f[key].name}]}))
    f["mixed_grids"] = d / "mixed_grids"  # a training folder whose volumes are on different grids
    f["mixed_grids"].mkdir()
    save_nii(f["mixed_grids"] / "a16.nii.gz", blob_volume((16, 16, 16), seed=5))
    save_nii(f["mixed_grids"] / "b12.nii.gz", blob_volume((12, 12, 12), seed=6))
    save_nii(f["mixed_grids"] / "c16.nii.gz", blob_volume((16, 16, 16), seed=7))
    f["manifest_badkey"] = d / "badkey_manifest.json"
    f["manifest_badkey"].write_text(json.dumps([{"imag": "good.nii.gz"}]))
    return f


@pytest.fixture(scope="session")
def tiny_gem(tmp_path_factory) -> Path:
    """A tiny untrained GEM checkpoint (k=8, 64 px input) for fast gaze runs."""
    from medwave.networks import GEM

    torch.manual_seed(0)
    net = GEM(k=8, dim=32, encoder_width=8)
    p = tmp_path_factory.mktemp("gem") / "tiny_gem.pt"
    save_checkpoint(p, config=net.config, state_dict=net.state_dict(), meta={"image_size": 64})
    return p


@pytest.fixture(scope="session")
def tiny_unet(tmp_path_factory) -> Path:
    """A tiny untrained 3D-WaveUNet checkpoint (channels 2) for fast segment-neurons runs."""
    from medwave.neuron.train import TrainConfig, build_model

    cfg = TrainConfig().model
    cfg.update(channels=[2, 2, 2, 2], bottleneck=2)
    torch.manual_seed(0)
    m = build_model(cfg).eval()
    p = tmp_path_factory.mktemp("unet") / "tiny_unet.pt"
    save_checkpoint(p, config=cfg, state_dict=m.state_dict(), meta={"arch": "WaveUNet"})
    return p
