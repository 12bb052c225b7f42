"""Saved transforms against the ecosystem: SimpleITK (and antspyx when installed) apply the ITK-convention files and
reproduce medwave's own results; inverse round trips; other grids, LPS/RAS storage, 4D, old folders, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

import medwave
from medwave.io import Image, load_image, resample_to_reference, save_image
from medwave.registration.apply import apply_transform, read_points_csv, write_points_csv
from medwave.registration.metrics import dice_per_label
from medwave.registration.transform import Transform, affine_to_itk, ddf_to_itk, itk_to_ddf

ITS = (10, 10, 0, 0)
CROP = (slice(24, 72), slice(30, 86), slice(24, 72))  # 48 x 56 x 48 voxels of the 2 mm MNI grid
ANTS_PYTHON = Path("/work/venvs/ants/bin/python")


def _rot(deg_z: float, deg_x: float = 0.0) -> np.ndarray:
    a, b = np.deg2rad(deg_z), np.deg2rad(deg_x)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx


def _grid_around(centre: np.ndarray, shape, spacing: float, rot: np.ndarray) -> np.ndarray:
    A = np.eye(4)
    A[:3, :3] = rot * spacing
    A[:3, 3] = centre - A[:3, :3] @ ((np.asarray(shape) - 1) / 2.0)
    return A


def _sitk(path) -> sitk.Image:
    return sitk.ReadImage(str(path), sitk.sitkFloat32)


def _arr(img: sitk.Image) -> np.ndarray:
    return np.transpose(sitk.GetArrayFromImage(img), (2, 1, 0))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def _sitk_forward(folder: Path) -> sitk.Transform:
    """What an ITK user writes: the field file read as it is, the affine file read as it is, ITK's order."""
    field = sitk.ReadImage(str(folder / "transform_itk_lps_mm.nii.gz"), sitk.sitkVectorFloat64)
    disp = sitk.DisplacementFieldTransform(field)
    if (folder / "affine_itk_lps.mat").exists():
        return sitk.CompositeTransform([sitk.ReadTransform(str(folder / "affine_itk_lps.mat")), disp])
    return disp


def _sitk_inverse(folder: Path) -> sitk.Transform:
    field = sitk.ReadImage(str(folder / "inverse_itk_lps_mm.nii.gz"), sitk.sitkVectorFloat64)
    disp = sitk.DisplacementFieldTransform(field)
    if (folder / "affine_itk_lps.mat").exists():
        return sitk.CompositeTransform([disp, sitk.ReadTransform(str(folder / "affine_itk_lps.mat")).GetInverse()])
    return disp


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """A real MNI152 pair: fixed 2 mm (a 48x56x48 crop), moving at 3 mm on an oblique grid (10 deg), labels."""
    from medwave.registration.synthetic import make_pair

    root = tmp_path_factory.mktemp("apply")
    pair = make_pair(2)
    aff2 = pair["affine"]
    faff = aff2.copy()
    faff[:3, 3] += aff2[:3, :3] @ np.array([24, 30, 24])
    fixed = Image(pair["fixed"][CROP], faff)
    fixed_seg = Image(pair["fixed_labels"][CROP], faff)
    centre = faff[:3, :3] @ (np.array([47, 55, 47]) / 2.0) + faff[:3, 3]
    maff = _grid_around(centre, (36, 42, 36), 3.0, _rot(10.0, 5.0))
    ref = Image(np.zeros((36, 42, 36), np.float32), maff)
    moving = resample_to_reference(Image(pair["moving"], aff2), ref, order=1)
    moving_seg = resample_to_reference(Image(pair["moving_labels"], aff2), ref, order=0)
    paths = {}
    for name, img in (("fixed", fixed), ("moving", moving), ("fixed_seg", fixed_seg), ("moving_seg", moving_seg)):
        paths[name] = save_image(img, root / f"{name}.nii.gz")
    res = medwave.register(paths["fixed"], paths["moving"], moving_seg=paths["moving_seg"],
                           fixed_seg=paths["fixed_seg"], iterations=ITS, progress=False)
    out = root / "out"
    res.save(out)
    return {"root": root, "out": out, "res": res, "paths": paths, "fixed": fixed, "moving": moving,
            "moving_seg": moving_seg, "fixed_seg": fixed_seg, "pair": pair}


@pytest.fixture(scope="module")
def affine_data(tmp_path_factory) -> dict:
    """The same anatomy world-rotated (8 deg) and shifted in the moving header: --affine finds it first."""
    from medwave.registration.synthetic import make_pair

    root = tmp_path_factory.mktemp("apply_affine")
    pair = make_pair(4)
    faff = pair["affine"].copy()
    faff[:3, 3] += faff[:3, :3] @ np.array([24, 30, 24])
    fixed = Image(pair["fixed"][CROP], faff)
    shift = np.eye(4)
    shift[:3, :3] = _rot(8.0)
    shift[:3, 3] = [5.0, -4.0, 3.0]
    moving = Image(pair["moving"][CROP], shift @ faff)
    moving_seg = Image(pair["moving_labels"][CROP], shift @ faff)
    pf, pm = save_image(fixed, root / "fixed.nii.gz"), save_image(moving, root / "moving.nii.gz")
    ps = save_image(moving_seg, root / "moving_seg.nii.gz")
    res = medwave.register(pf, pm, affine=True, moving_seg=ps, iterations=ITS, progress=False)
    out = root / "out"
    res.save(out)
    return {"root": root, "out": out, "res": res, "fixed": pf, "moving": pm, "moving_seg": ps, "shift": shift}


# ----------------------------------------------------------------------------------------------------------------
# the folder
# ----------------------------------------------------------------------------------------------------------------
def test_folder_holds_named_files_and_a_manifest(data) -> None:
    out = data["out"]
    man = json.loads((out / "transform.json").read_text())
    assert man["medwave_version"] == medwave.__version__ and man["format"] == "medwave-transform"
    for key, name in man["files"].items():
        assert (out / name).exists(), key
    assert "affine_itk" not in man["files"] and man["affine_ras"] is None  # no --affine here
    assert man["fixed"]["shape"] == [48, 56, 48] and man["moving"]["shape"] == [36, 42, 36]
    assert np.allclose(man["moving"]["affine_ras"], data["moving"].affine)
    for name in ("transform_itk_lps_mm.nii.gz", "ddf_monai_voxel.nii.gz", "inverse_itk_lps_mm.nii.gz"):
        img = nib.load(out / name)
        assert img.shape == (48, 56, 48, 1, 3) and img.header.get_intent()[0] == "vector"
        assert np.allclose(img.affine, data["fixed"].affine)
    # the ITK file is the MONAI field in LPS mm: d = diag(-1, -1, 1) A u
    u = np.asarray(nib.load(out / "ddf_monai_voxel.nii.gz").dataobj)[:, :, :, 0]
    d = np.asarray(nib.load(out / "transform_itk_lps_mm.nii.gz").dataobj)[:, :, :, 0]
    assert np.abs(u).max() > 0.3
    assert np.allclose(d[..., 0], -2.0 * u[..., 0], atol=1e-5) and np.allclose(d[..., 2], 2.0 * u[..., 2], atol=1e-5)
    assert np.allclose(itk_to_ddf(ddf_to_itk(u, data["fixed"].affine), data["fixed"].affine), u, atol=1e-5)
    assert man["inverse"]["residual_mean_voxels"] < 1e-3 and man["inverse"]["residual_max_voxels"] < 0.1


def test_simpleitk_field_reproduces_warped_image_and_labels(data) -> None:
    """moving at 3 mm on an oblique grid, fixed at 2 mm: ITK resamples through physical space as medwave does."""
    out, paths = data["out"], data["paths"]
    tx = _sitk_forward(out)
    fixed = _sitk(paths["fixed"])
    itk = _arr(sitk.Resample(_sitk(paths["moving"]), fixed, tx, sitk.sitkLinear, 0.0))
    ours = load_image(out / "warped.nii.gz").array
    assert _corr(itk, ours) >= 0.999
    # identity (no field) is clearly worse: the test can tell a right field from a wrong one
    ident = _arr(sitk.Resample(_sitk(paths["moving"]), fixed, sitk.Transform(), sitk.sitkLinear, 0.0))
    assert _corr(ident, ours) < 0.99
    # labels: ITK nearest neighbour against medwave's nearest neighbour
    seg = sitk.ReadImage(str(paths["moving_seg"]))
    itk_lab = _arr(sitk.Resample(seg, fixed, tx, sitk.sitkNearestNeighbor, 0))
    ours_lab = apply_transform(out, paths["moving_seg"], interpolation="nearest").array
    d = dice_per_label(ours_lab, itk_lab)
    assert np.mean(list(d.values())) >= 0.99 and min(d.values()) >= 0.97
    # the label mode of register (one-hot linear, arg-max) agrees with ITK's nearest neighbour to interpolation
    d2 = dice_per_label(load_image(out / "warped_seg.nii.gz").array, itk_lab)
    assert np.mean(list(d2.values())) >= 0.9


def test_register_uses_apply_transform(data) -> None:
    """`register`'s warped and warped_seg are `apply_transform` of the saved folder, value for value."""
    out, paths = data["out"], data["paths"]
    w = apply_transform(out, paths["moving"])
    assert np.allclose(w.array, data["res"].warped.array, atol=1e-5)
    assert np.allclose(w.affine, data["fixed"].affine)
    s = apply_transform(out, paths["moving_seg"], interpolation="label")
    assert np.array_equal(s.array, data["res"].warped_seg.array)
    assert data["res"].metrics["dice_mean"] > data["res"].metrics["dice_mean_before"]


def test_simpleitk_inverse_reproduces_medwave_inverse(data) -> None:
    out, paths = data["out"], data["paths"]
    itk = _arr(sitk.Resample(_sitk(paths["fixed"]), _sitk(paths["moving"]), _sitk_inverse(out), sitk.sitkLinear, 0.0))
    ours = apply_transform(out, paths["fixed"], inverse=True)
    assert ours.array.shape == (36, 42, 36) and np.allclose(ours.affine, data["moving"].affine)
    assert _corr(itk, ours.array) >= 0.999


def test_points_round_trip_inside_the_brain(data) -> None:
    """forward then inverse returns points where they started (voxels of the fixed grid, 2 mm)."""
    out = data["out"]
    fixed = data["fixed"]
    brain = np.argwhere(data["fixed_seg"].array > 0)[::7].astype(np.float64)
    pts = brain @ fixed.affine[:3, :3].T + fixed.affine[:3, 3]
    jitter = np.random.default_rng(0).uniform(-0.5, 0.5, pts.shape)  # between voxel centres too
    pts = pts + jitter
    to_moving = apply_transform(out, pts, inverse=True)  # fixed-space points -> moving space
    back = apply_transform(out, to_moving)  # moving-space points -> fixed space
    err = np.linalg.norm(back - pts, axis=1) / 2.0
    assert np.median(err) < 0.1 and np.percentile(err, 99) < 0.5
    assert np.median(np.linalg.norm(to_moving - pts, axis=1)) > 0.5  # the points did move
    # the other way round: moving-space points to the fixed space and back
    to_fixed = apply_transform(out, to_moving)
    again = apply_transform(out, to_fixed, inverse=True)
    err2 = np.linalg.norm(again - to_moving, axis=1) / 2.0
    assert np.median(err2) < 0.1 and np.percentile(err2, 99) < 0.5
    # ITK maps the same fixed point to the same moving point (TransformPoint works in LPS)
    tx = _sitk_forward(out)
    flip = np.array([-1.0, -1.0, 1.0])
    itk_pts = np.array([tx.TransformPoint(tuple(p * flip)) for p in pts[:200]]) * flip
    assert np.abs(itk_pts - to_moving[:200]).max() < 1e-3


def test_points_csv_round_trip(data, tmp_path) -> None:
    pts = np.array([[0.0, -20.0, 10.0], [10.0, -30.0, 20.0]])
    p = tmp_path / "pts.csv"
    write_points_csv(p, pts, ["name", "x", "y", "z"], [["a", "0", "0", "0"], ["b", "0", "0", "0"]])
    coords, header, rows = read_points_csv(p)
    assert np.allclose(coords, pts) and header == ["name", "x", "y", "z"] and rows[0][0] == "a"
    moved = apply_transform(data["out"], p)
    assert moved.shape == (2, 3) and np.allclose(apply_transform(data["out"], moved, inverse=True), pts, atol=0.2)
    lps = apply_transform(data["out"], pts * [-1, -1, 1], points_space="lps")
    assert np.allclose(lps * [-1, -1, 1], moved, atol=1e-9)


def test_lps_and_ras_stored_inputs_and_4d_give_the_same_result(data, tmp_path) -> None:
    """The same moving image stored as .mha (LPS), as NIfTI with axes flipped and permuted, and 4D (X, Y, Z, 1)."""
    out, moving = data["out"], data["moving"]
    ref = apply_transform(out, moving).array
    save_image(moving, tmp_path / "moving.mha")
    assert load_image(tmp_path / "moving.mha").meta.get("format") != "nifti"
    arr = np.transpose(moving.array[::-1, :, ::-1], (2, 0, 1))  # flip x and z, store as (Z, X, Y)
    P = np.zeros((4, 4))
    P[3, 3] = 1
    n = moving.array.shape
    # new voxel (k, i', j) holds old voxel (n0-1-i', j, n2-1-k)
    P[0, 1], P[0, 3] = -1, n[0] - 1
    P[1, 2] = 1
    P[2, 0], P[2, 3] = -1, n[2] - 1
    save_image(Image(np.ascontiguousarray(arr), moving.affine @ P), tmp_path / "moving_permuted.nii.gz")
    save_image(Image(moving.array[..., None], moving.affine), tmp_path / "moving_4d.nii.gz")
    for name in ("moving.mha", "moving_permuted.nii.gz", "moving_4d.nii.gz"):
        got = apply_transform(out, tmp_path / name).array
        assert got.shape == ref.shape and np.allclose(got, ref, atol=1e-4), name
    # and SimpleITK agrees on the LPS-stored file
    itk = _arr(sitk.Resample(_sitk(tmp_path / "moving.mha"), _sitk(data["paths"]["fixed"]), _sitk_forward(out),
                             sitk.sitkLinear, 0.0))
    assert _corr(itk, ref) >= 0.999


def test_reference_grid_matches_simpleitk(data) -> None:
    """--reference: the output on another grid (3 mm, oblique), as ITK resamples onto it."""
    out, paths = data["out"], data["paths"]
    fa = data["fixed"].affine
    centre = fa[:3, :3] @ (np.array([47, 55, 47]) / 2.0) + fa[:3, 3]
    ref = Image(np.zeros((30, 34, 30), np.float32), _grid_around(centre, (30, 34, 30), 3.0, _rot(-7.0)))
    ours = apply_transform(out, paths["moving"], reference=ref)
    assert ours.array.shape == (30, 34, 30) and np.allclose(ours.affine, ref.affine)
    from medwave.io.formats import image_to_sitk

    itk = _arr(sitk.Resample(_sitk(paths["moving"]), image_to_sitk(ref), _sitk_forward(out), sitk.sitkLinear, 0.0))
    assert _corr(itk, ours.array) >= 0.999


def test_affine_prealignment_as_itk_file_in_the_right_order(affine_data) -> None:
    out = affine_data["out"]
    man = json.loads((out / "transform.json").read_text())
    assert man["files"]["affine_itk"] == "affine_itk_lps.mat" and (out / "affine_itk_lps.mat").exists()
    T = np.asarray(man["affine_ras"])
    assert np.allclose(T, affine_data["res"].metrics["prealign_transform_ras"])
    assert np.allclose(T[:3, 3], affine_data["shift"][:3, 3], atol=2.0)  # it found the header shift
    read = sitk.ReadTransform(str(out / "affine_itk_lps.mat"))
    p = np.array([10.0, -20.0, 5.0])
    flip = np.array([-1.0, -1.0, 1.0])
    assert np.allclose(np.array(read.TransformPoint(tuple(p * flip))) * flip, T[:3, :3] @ p + T[:3, 3], atol=1e-6)
    fixed = _sitk(affine_data["fixed"])
    itk = _arr(sitk.Resample(_sitk(affine_data["moving"]), fixed, _sitk_forward(out), sitk.sitkLinear, 0.0))
    ours = load_image(out / "warped.nii.gz").array
    assert _corr(itk, ours) >= 0.999
    # the wrong order (the field after the affine) does not reproduce it: the order is tested, not assumed
    field = sitk.ReadImage(str(out / "transform_itk_lps_mm.nii.gz"), sitk.sitkVectorFloat64)
    wrong = sitk.CompositeTransform([sitk.DisplacementFieldTransform(field), read])
    bad = _arr(sitk.Resample(_sitk(affine_data["moving"]), fixed, wrong, sitk.sitkLinear, 0.0))
    assert _corr(bad, ours) < _corr(itk, ours) - 1e-4
    seg = sitk.ReadImage(str(affine_data["moving_seg"]))
    itk_lab = _arr(sitk.Resample(seg, fixed, _sitk_forward(out), sitk.sitkNearestNeighbor, 0))
    ours_lab = apply_transform(out, affine_data["moving_seg"], interpolation="nearest").array
    assert np.mean(list(dice_per_label(ours_lab, itk_lab).values())) >= 0.99
    # inverse with the inverse affine, and points round trip through the affine too
    inv = _arr(sitk.Resample(fixed, _sitk(affine_data["moving"]), _sitk_inverse(out), sitk.sitkLinear, 0.0))
    assert _corr(inv, apply_transform(out, affine_data["fixed"], inverse=True).array) >= 0.999
    tx = Transform.load(out)
    pts = np.array([[0.0, -20.0, 10.0], [15.0, -35.0, 25.0], [-20.0, -10.0, 0.0]])
    assert np.abs(tx.moving_to_fixed(tx.fixed_to_moving(pts)) - pts).max() < 0.5
    # the in-memory SimpleITK export is the same transform
    assert np.allclose(tx.to_sitk().TransformPoint(tuple(pts[0] * flip)), _sitk_forward(out).TransformPoint(
        tuple(pts[0] * flip)), atol=1e-4)


def test_affine_to_itk_matches_the_ras_matrix() -> None:
    T = np.eye(4)
    T[:3, :3] = _rot(12.0, -5.0) * 1.1
    T[:3, 3] = [3.0, -2.0, 7.0]
    tx = affine_to_itk(T)
    p = np.array([4.0, 5.0, -6.0])
    flip = np.array([-1.0, -1.0, 1.0])
    assert np.allclose(np.array(tx.TransformPoint(tuple(p * flip))) * flip, T[:3, :3] @ p + T[:3, 3])


def test_old_ddf_folder_is_still_read(data, tmp_path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(data["out"] / "ddf_monai_voxel.nii.gz", old / "ddf.nii.gz")
    shutil.copy(data["out"] / "metrics.json", old / "metrics.json")
    got = apply_transform(old, data["paths"]["moving"]).array
    assert np.allclose(got, data["res"].warped.array, atol=1e-5)
    with pytest.raises(ValueError, match="reference"):  # no moving grid recorded: the inverse needs one
        apply_transform(old, data["paths"]["fixed"], inverse=True)
    inv = apply_transform(old, data["paths"]["fixed"], inverse=True, reference=data["paths"]["moving"])
    new = apply_transform(data["out"], data["paths"]["fixed"], inverse=True)
    assert _corr(inv.array, new.array) > 0.9999


def test_non_diffeomorphic_inverse_by_fixed_point_iteration() -> None:
    import torch

    from medwave.registration.synthetic import random_velocity
    from medwave.registration.transform import invert_ddf

    v = random_velocity((24, 24, 24), torch.Generator().manual_seed(0), amplitude=2.0)
    inv, info = invert_ddf(v)  # the velocity itself used as a (small) displacement
    assert info["method"].startswith("fixed-point") and info["residual_max_voxels"] < 1e-3
    from medwave.networks.blocks.fields import warp

    assert float((inv + warp(v, inv)).abs().max()) < 1e-3


def test_inverse_stops_when_the_residual_left_is_off_the_grid() -> None:
    """A field that pushes points out of the grid leaves a residual near the border that no iteration can reduce:
    the refinement stops once the mean residual is within tolerance and the largest one has stalled, instead of
    spending its whole budget; inside, the inverse is still exact."""
    import torch

    from medwave.networks.blocks.fields import warp
    from medwave.registration.transform import invert_ddf

    n = 32
    x = torch.arange(n, dtype=torch.float32)
    u = torch.zeros(1, 3, n, n, n)
    u[0, 0] = (-0.15 * (x - (n - 1) / 2))[:, None, None].expand(n, n, n)  # a contraction: the inverse leaves the grid
    inv, info = invert_ddf(u, iterations=50, tolerance=1e-4)
    assert info["iterations"] < 50
    exact = 0.15 * (x - (n - 1) / 2) / 0.85  # y = x - a (x - c)  =>  u_inv(y) = a (y - c) / (1 - a)
    inner = (inv[0, 0] - exact[:, None, None])[8:-8]
    assert float(inner.abs().max()) < 1e-3
    # a field with a fold (a 3-voxel jump) has no inverse: the residual stalls far above tolerance and the
    # refinement gives up early instead of running its 50 iterations
    step = torch.zeros(1, 3, n, n, n)
    step[0, 0, n // 2:] = 3.0
    _, info = invert_ddf(step, iterations=50, tolerance=1e-3)
    assert info["residual_max_voxels"] > 1.0 and info["iterations"] < 15


def test_errors(data, tmp_path) -> None:
    with pytest.raises(ValueError, match="not a transform folder"):
        apply_transform(tmp_path, data["paths"]["moving"])
    with pytest.raises(FileNotFoundError):
        apply_transform(tmp_path / "nope", data["paths"]["moving"])
    with pytest.raises(ValueError, match="without an affine"):
        apply_transform(data["out"], np.zeros((10, 10, 10), np.float32))
    far = Image(data["moving"].array, data["moving"].affine.copy())
    far.affine[:3, 3] += 5000.0
    with pytest.raises(ValueError, match="does not overlap"):
        apply_transform(data["out"], far)
    with pytest.raises(ValueError, match="interpolation"):
        apply_transform(data["out"], data["paths"]["moving"], interpolation="cubic")
    with pytest.raises(ValueError, match="3D"):
        apply_transform(data["out"], Image(np.zeros((10, 10), np.float32)))
    # a bare array on the moving grid is fine (it takes the moving grid's affine)
    assert apply_transform(data["out"], data["moving"].array).array.shape == (48, 56, 48)


@pytest.mark.skipif(not ANTS_PYTHON.exists(), reason="antspyx is not installed in /work/venvs/ants")
def test_antspyx_apply_transforms_reproduces_medwave(affine_data, tmp_path) -> None:
    """ants.apply_transforms (ANTs' own C++ resampler) with the ITK field + .mat, in ANTs' order (a point goes
    through the first transform listed first, as antsRegistration's -t 1Warp -t 0GenericAffine)."""
    out = affine_data["out"]
    script = (
        "import ants, sys\n"
        "f = ants.image_read(sys.argv[1]); m = ants.image_read(sys.argv[2])\n"
        "w = ants.apply_transforms(fixed=f, moving=m, interpolator='linear',\n"
        "    transformlist=[sys.argv[3] + '/transform_itk_lps_mm.nii.gz', sys.argv[3] + '/affine_itk_lps.mat'])\n"
        "ants.image_write(w, sys.argv[4])\n"
        "v = ants.apply_transforms(fixed=m, moving=f, interpolator='linear', whichtoinvert=[True, False],\n"
        "    transformlist=[sys.argv[3] + '/affine_itk_lps.mat', sys.argv[3] + '/inverse_itk_lps_mm.nii.gz'])\n"
        "ants.image_write(v, sys.argv[5])\n"
    )
    target = tmp_path / "ants_warped.nii.gz"
    env = {"OMP_NUM_THREADS": "1", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1"}
    subprocess.run([str(ANTS_PYTHON), "-c", script, str(affine_data["fixed"]), str(affine_data["moving"]), str(out),
                    str(target), str(tmp_path / "ants_inverse.nii.gz")], check=True, timeout=300, env=env)
    ants_arr = load_image(target).array
    assert _corr(ants_arr, load_image(out / "warped.nii.gz").array) >= 0.999
    ants_inv = load_image(tmp_path / "ants_inverse.nii.gz").array
    assert _corr(ants_inv, apply_transform(out, affine_data["fixed"], inverse=True).array) >= 0.999


def test_oblique_anisotropic_fixed_grid_matches_simpleitk(tmp_path) -> None:
    """The ITK field's vectors use the fixed grid's whole direction matrix (rotated, anisotropic voxels)."""
    x = np.zeros((24, 24, 24), np.float32)
    x[6:18, 7:17, 8:16] = 1.0
    x[9:12, 9:12, 9:12] = 0.5
    A = np.eye(4)
    A[:3, :3] = _rot(20.0, -15.0) @ np.diag([2.0, 2.5, 3.0])
    A[:3, 3] = [-30.0, 10.0, 5.0]
    pf = save_image(Image(np.roll(x, 2, 0), A), tmp_path / "fixed.nii.gz")
    B = A.copy()
    B[:3, 3] += [1.0, -2.0, 1.5]  # the moving on a shifted grid
    pm = save_image(Image(x, B), tmp_path / "moving.mha")
    res = medwave.register(pf, pm, iterations=(20, 20, 20, 0), progress=False)
    res.save(tmp_path / "out")
    itk = _arr(sitk.Resample(_sitk(pm), _sitk(pf), _sitk_forward(tmp_path / "out"), sitk.sitkLinear, 0.0))
    assert np.abs(res.ddf.array).max() > 0.5
    assert _corr(itk, res.warped.array) >= 0.999
    inv = _arr(sitk.Resample(_sitk(pf), _sitk(pm), _sitk_inverse(tmp_path / "out"), sitk.sitkLinear, 0.0))
    assert _corr(inv, apply_transform(tmp_path / "out", pf, inverse=True).array) >= 0.999
