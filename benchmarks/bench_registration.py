"""Registration benchmark: ``medwave register`` against the tools registration users reach for.

Part 1, accuracy and a user's wait on held-out synthetic pairs (seeds in
:data:`medwave.registration.synthetic.SEEDS`; medwave's and demons' defaults were chosen on the
``tuning_*`` seeds, WiNet trained on ``make_subject`` seeds 10000+, none of which is a benchmark seed).
Three pair sets built differently:

* ``mni``: :func:`~medwave.registration.synthetic.make_pair` (MNI152 2009 T1, 2 mm, two random smooth
  diffeomorphisms of up to 3 voxels, gamma / bias / noise), seeds 2000-2007;
* ``hard``: :func:`~medwave.registration.synthetic.make_pair_hard` (finer and larger deformations, up to 5
  voxels, monotone contrast maps, strong bias fields, more noise), seeds 3000-3007;
* ``multimodal``: :func:`~medwave.registration.synthetic.make_pair_multimodal` (T1 fixed against a T2-like
  moving image made from the GM/WM maps and brain mask), seeds 4000-4003; only the multimodal methods.

Every pair is written as NIfTI (with the MNI affine) and each method runs as its user runs it, timed on the
wall clock, at ``--threads`` threads:

* ``medwave``: the ``medwave register FIXED MOVING -o OUT`` command in a subprocess (start-up, reading,
  optimisation and writing included); ``--similarity mi`` on the multimodal set (its defaults from
  ``SIMILARITY_DEFAULTS``, chosen on the ``tuning_multimodal`` seeds by benchmarks/tune_multimodal.py);
* ``winet``: ``medwave register --weights default --no-optimize`` (the shipped network alone; its forward
  time, ``network_seconds``: padding, forward pass, integration of the field, is also read from metrics.json, and
  beside it ``network_load_seconds``, the process's one-time loading of the weights and of numba's kernels);
* ``seeded``: ``medwave register --weights default`` (the optimisation started from the shipped network's field,
  its seeded schedule ``GREEDY_SEEDED_ITERATIONS``);
* ``greedy``: ``picsl-greedy`` (Greedy3D.execute, in a subprocess) with its documented recipe: affine
  ``-a -m NCC 2x2x2 -ia-image-centers -n 100x50x10``, then deformable ``-m NCC 2x2x2 -it affine.mat
  -n 100x60x30 -s 2.0vox 0.5vox``, then reslicing the moving image (``-m MI`` on the multimodal set);
* ``elastix``: ``itk-elastix`` python call, the default ``bspline`` parameter map with 3 resolutions
  (Mattes mutual information), reading and the deformation field included (itk imported beforehand);
* ``demons``: SimpleITK diffeomorphic demons, 3 levels (shrink 4/2/1, 100/60/30 iterations), after
  histogram matching, field smoothing sigma chosen on the tuning pairs (``DEMONS_SIGMA``);
* ``convexadam``: ``convexadam`` (MIND + coupled convex + Adam, its defaults, CPU) python call;
* ``syn``: ANTs SyN (antspyx ``SyNOnly``) as a whole command (benchmarks/_syn_ants.py) in its own virtual
  environment (antspyx pins its own numpy/scipy): ``make .venv-ants`` or ``MEDWAVE_BENCH_ANTS_PYTHON``.

Metrics, from each method's displacement converted to a voxel DDF on the fixed grid: mean Dice over 32
pseudo-anatomical labels (one-hot linear warping, then argmax), % voxels with |J| <= 0, SDlogJ, s/pair (wall
clock) and, for medwave, Greedy and elastix, CPU s/pair (user + system of the process: less sensitive to a
loaded machine than the wall clock).

Targets (issue 15), on every pair set: medwave's mean Dice >= Greedy's, folding < 0.01 %, wall time per pair
<= 0.5 x Greedy's (its whole recipe; its deformable step alone is printed beside); on the multimodal set
medwave's Dice >= Greedy's (MI) and elastix's; WiNet alone lifts mean Dice over identity by >= 0.08 in
<= 1 s of forward per pair (mni set). Exit code 1 if any is missed.

Part 2, network forward at 160 x 192 x 224 (one pair, no grad): WiNet (base width 8) + warp vs MONAI
VoxelMorph, each in a fresh process (peak memory); targets: >= 3x faster, lower peak memory.

Part 3, WiNet as the optimiser's start (mni and hard sets): ``medwave.register(weights="default")`` (its seeded
schedule ``GREEDY_SEEDED_ITERATIONS``) against ``medwave.register()`` from zero, as whole in-process calls, each
3 times in rotating order (median), on the held-out pairs; target: at least the mean Dice from zero in less mean
wall time per pair. (The ``seeded`` command row of part 1 shows the same as a user's command, one run each.)

The anchors are not medwave dependencies; ``make bench`` installs them (``picsl-greedy itk-elastix`` and ``pip install
--no-deps convexadam``, whose own requirements, torch included, are already there: a plain install could pull another
torch; antspyx in ``.venv-ants``). A method whose package is missing is skipped with a message.

    python benchmarks/bench_registration.py                   # everything, 2 threads
    python benchmarks/bench_registration.py --quick           # 2 pairs per set, no ConvexAdam, no forward part
    python benchmarks/bench_registration.py --sets mni --methods medwave,greedy --pairs 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's medwave, not an installed one

#: Demons' field smoothing sigma, chosen on the tuning pairs (benchmarks/tune_registration.py) from 1.0-3.0.
DEMONS_SIGMA = 1.5
ALL_METHODS = ("medwave", "winet", "seeded", "greedy", "elastix", "demons", "convexadam", "syn")
MULTIMODAL_METHODS = ("medwave", "greedy", "elastix")


# -- helpers ------------------------------------------------------------------------------------------
def _env(threads: int) -> dict:
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"):
        env[k] = str(threads)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _child_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(cmd: list, threads: int) -> float:
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=_env(threads))
    sec = time.perf_counter() - t
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))} ... failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return sec


def physical_to_voxel_ddf(disp_lps: np.ndarray, direction: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """ITK physical displacements ``(X, Y, Z, 3)`` (LPS mm) -> voxel DDF ``(1, 3, X, Y, Z)`` on the same grid."""
    m = np.asarray(direction, np.float64).reshape(3, 3) @ np.diag(np.asarray(spacing, np.float64))
    vox = disp_lps.reshape(-1, 3) @ np.linalg.inv(m).T
    return np.moveaxis(vox.reshape(disp_lps.shape).astype(np.float32), -1, 0)[None]


def _read_itk_vector(path: str) -> np.ndarray:
    """A displacement image -> voxel DDF (1, 3, X, Y, Z) through its own direction and spacing (SimpleITK)."""
    import SimpleITK as sitk

    img = sitk.ReadImage(str(path), sitk.sitkVectorFloat64)
    arr = sitk.GetArrayFromImage(img).transpose(2, 1, 0, 3)  # (X, Y, Z, 3)
    return physical_to_voxel_ddf(arr, np.array(img.GetDirection()), np.array(img.GetSpacing()))


def _write_pair(pair: dict, folder: Path) -> tuple[str, str]:
    import nibabel as nib

    paths = []
    for key in ("fixed", "moving"):
        p = folder / f"{key}.nii.gz"
        nib.save(nib.Nifti1Image(pair[key].astype(np.float32), pair["affine"]), str(p))
        paths.append(str(p))
    return paths[0], paths[1]


# -- methods ----------------------------------------------------------------------------------------------
def run_medwave(fx: str, mv: str, out: Path, threads: int, extra=()) -> tuple[np.ndarray, float, dict]:
    exe = Path(sys.executable).with_name("medwave")
    cmd = ([str(exe)] if exe.exists() else [sys.executable, "-m", "medwave.cli"])
    cmd += ["register", fx, mv, "-o", str(out), "--no-progress", "--overwrite", *extra]
    cpu = _child_cpu()
    sec = _run(cmd, threads)
    cpu = _child_cpu() - cpu
    import nibabel as nib

    ddf_path = out / "ddf_monai_voxel.nii.gz"
    if not ddf_path.exists():  # medwave before the transform files (issue 16)
        ddf_path = out / "ddf.nii.gz"
    arr = np.asarray(nib.load(str(ddf_path)).dataobj, dtype=np.float32)
    arr = arr.reshape(arr.shape[:3] + (3,))
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["cpu_s"] = cpu
    return np.moveaxis(arr, -1, 0)[None], sec, metrics


GREEDY_CODE = r"""
import sys, time
from picsl_greedy import Greedy3D
fx, mv, out, threads, metric = sys.argv[1:6]
g = Greedy3D()
quiet = open("/dev/null", "w")
m = "NCC 2x2x2" if metric == "NCC" else metric
t = time.perf_counter()
g.execute(f"-d 3 -threads {threads} -a -m {m} -i {fx} {mv} -ia-image-centers -n 100x50x10 -o {out}/affine.mat",
          out=quiet, err=quiet)
ta = time.perf_counter()
g.execute(f"-d 3 -threads {threads} -m {m} -i {fx} {mv} -it {out}/affine.mat -n 100x60x30 -s 2.0vox 0.5vox "
          f"-o {out}/warp.nii.gz", out=quiet, err=quiet)
td = time.perf_counter()
g.execute(f"-d 3 -threads {threads} -rf {fx} -rm {mv} {out}/warped.nii.gz -r {out}/warp.nii.gz {out}/affine.mat "
          f"-rc {out}/composed.nii.gz", out=quiet, err=quiet)
print(ta - t, td - ta, time.perf_counter() - td)
"""


def run_greedy(fx: str, mv: str, out: Path, threads: int, metric: str = "NCC") -> tuple[np.ndarray, float, dict]:
    out.mkdir(parents=True, exist_ok=True)
    cpu = _child_cpu()
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", GREEDY_CODE, fx, mv, str(out), str(threads), metric],
                         capture_output=True, text=True, env=_env(threads))
    sec = time.perf_counter() - t
    if res.returncode != 0:
        raise RuntimeError(f"greedy failed:\n{res.stderr[-3000:]}")
    ta, td, tr = (float(v) for v in res.stdout.strip().split()[-3:])
    return _read_itk_vector(str(out / "composed.nii.gz")), sec, {"affine_s": ta, "deformable_s": td, "reslice_s": tr,
                                                                 "cpu_s": _child_cpu() - cpu}


def run_elastix(fx: str, mv: str, threads: int) -> tuple[np.ndarray, float, dict]:
    """elastix in the pair's folder: transformix writes deformationField.nii into the working directory."""
    cwd = os.getcwd()
    os.chdir(Path(fx).parent)
    try:
        return _run_elastix(fx, mv, threads)
    finally:
        os.chdir(cwd)


def _run_elastix(fx: str, mv: str, threads: int) -> tuple[np.ndarray, float, dict]:
    import itk

    t, cpu = time.perf_counter(), time.process_time()
    fixed, moving = itk.imread(fx, itk.F), itk.imread(mv, itk.F)
    po = itk.ParameterObject.New()
    pm = po.GetDefaultParameterMap("bspline", 3)
    pm["MaximumNumberOfThreads"] = [str(threads)]
    po.AddParameterMap(pm)
    _, tp = itk.elastix_registration_method(fixed, moving, parameter_object=po, log_to_console=False)
    field = itk.transformix_deformation_field(moving, tp)
    sec, cpu = time.perf_counter() - t, time.process_time() - cpu
    arr = itk.array_from_image(field).transpose(2, 1, 0, 3)
    direction = np.array(fixed.GetDirection())
    spacing = np.array(fixed.GetSpacing())
    return physical_to_voxel_ddf(arr, direction, spacing), sec, {"metric": pm["Metric"][0], "cpu_s": cpu}


def demons(fixed: np.ndarray, moving: np.ndarray, *, shrink=(4, 2, 1), iters=(100, 60, 30), std=DEMONS_SIGMA):
    """Multi-resolution diffeomorphic demons (SimpleITK) -> DDF (1, 3, X, Y, Z) in voxels, MONAI convention."""
    import SimpleITK as sitk

    def to_sitk(a):
        return sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(a, np.float32).transpose(2, 1, 0)))

    f, m = to_sitk(fixed), to_sitk(moving)
    m = sitk.HistogramMatching(m, f, 256, 7, True)
    field = None
    for s, it in zip(shrink, iters):
        fs = sitk.Shrink(sitk.SmoothingRecursiveGaussian(f, 0.5 * s), [s] * 3) if s > 1 else f
        ms = sitk.Shrink(sitk.SmoothingRecursiveGaussian(m, 0.5 * s), [s] * 3) if s > 1 else m
        if field is None:
            init = sitk.Image(fs.GetSize(), sitk.sitkVectorFloat64)
            init.CopyInformation(fs)
        else:
            init = sitk.Resample(field, fs, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkVectorFloat64)
        flt = sitk.DiffeomorphicDemonsRegistrationFilter()
        flt.SetNumberOfIterations(it)
        flt.SetSmoothDisplacementField(True)
        flt.SetStandardDeviations(std)
        field = flt.Execute(fs, ms, init)
    arr = sitk.GetArrayFromImage(field).transpose(2, 1, 0, 3)  # (X, Y, Z, 3), components x, y, z
    return np.moveaxis(arr, -1, 0).astype(np.float32)[None]


def run_convexadam(fixed: np.ndarray, moving: np.ndarray) -> np.ndarray:
    import torch
    from convexAdam.convex_adam_MIND import convex_adam_pt

    disp = convex_adam_pt(fixed.astype(np.float32), moving.astype(np.float32), device=torch.device("cpu"))
    return np.moveaxis(np.asarray(disp, np.float32), -1, 0)[None]


def ants_python() -> Optional[str]:
    """The interpreter that runs ANTs SyN: ``MEDWAVE_BENCH_ANTS_PYTHON``, else ``.venv-ants`` beside the repository
    (``make .venv-ants``), else this interpreter if antspyx imports here; ``None`` when there is none."""
    env = os.environ.get("MEDWAVE_BENCH_ANTS_PYTHON")
    if env:
        return env
    local = Path(__file__).resolve().parents[1] / ".venv-ants" / "bin" / "python"
    if local.exists():
        return str(local)
    try:
        import ants  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def run_syn(fixed: np.ndarray, moving: np.ndarray, folder: Path, threads: int, python: str) -> tuple[np.ndarray, float]:
    """ANTs SyN (``SyNOnly``) as a whole command in its own interpreter (benchmarks/_syn_ants.py); wall seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    fx, mv, out = folder / "fixed.npy", folder / "moving.npy", folder / "ddf.npy"
    np.save(fx, fixed.astype(np.float32))
    np.save(mv, moving.astype(np.float32))
    sec = _run([python, str(Path(__file__).with_name("_syn_ants.py")), str(fx), str(mv), str(out)], threads)
    return np.load(out), sec


def evaluate(ddf: np.ndarray, pair: dict) -> dict:
    import torch
    from medwave.networks.blocks.fields import jacobian_determinant
    from medwave.registration.metrics import dice_per_label, folding_percent, sdlogj, warp_labels

    t = torch.as_tensor(np.ascontiguousarray(ddf, dtype=np.float32))
    j = jacobian_determinant(t)[0].numpy()
    ml, fl = pair["moving_labels"].astype(np.int32), pair["fixed_labels"].astype(np.int32)
    d = dice_per_label(warp_labels(ml, t), fl)
    return {"dice": float(np.mean(list(d.values()))), "fold": folding_percent(j), "sdlogj": sdlogj(j)}


def make_set(name: str, seed: int) -> dict:
    from medwave.registration import synthetic

    return {"mni": synthetic.make_pair, "hard": synthetic.make_pair_hard,
            "multimodal": synthetic.make_pair_multimodal}[name](seed)


def _cpu() -> float:
    """CPU seconds (user + sys) of this process plus its waited-for children: a method's cost on a shared machine,
    where wall times are contended."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_set(name: str, seeds, methods, threads: int, workdir: Path, log=print) -> dict:
    """Run every method on every pair of one set; returns {method: {metric: [per pair]}} plus identity."""
    from medwave.registration.metrics import dice_per_label

    rows: dict = {m: {"dice": [], "fold": [], "sdlogj": [], "sec": [], "extra": []} for m in methods}
    rows["identity"] = {"dice": [], "fold": [], "sdlogj": [], "sec": [], "extra": []}
    multimodal = name == "multimodal"
    for i, seed in enumerate(seeds):
        pair = make_set(name, seed)
        folder = workdir / f"{name}_{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        fx, mv = _write_pair(pair, folder)
        fl, ml = pair["fixed_labels"].astype(np.int32), pair["moving_labels"].astype(np.int32)
        r = rows["identity"]
        r["dice"].append(float(np.mean(list(dice_per_label(ml, fl).values()))))
        r["fold"].append(0.0), r["sdlogj"].append(0.0), r["sec"].append(0.0), r["extra"].append({})
        for m in methods:
            extra: dict = {}
            cpu0 = _cpu()
            if m == "medwave":
                opts = ["--similarity", "mi"] if multimodal else []
                ddf, sec, met = run_medwave(fx, mv, folder / "medwave", threads, opts)
                extra = {k: met.get(k) for k in ("optimisation_seconds", "total_seconds", "cpu_s") if k in met}
            elif m == "winet":
                ddf, sec, met = run_medwave(fx, mv, folder / "winet", threads,
                                            ["--weights", "default", "--no-optimize"])
                extra = {k: met.get(k) for k in ("network_seconds", "network_load_seconds")}
            elif m == "seeded":
                ddf, sec, met = run_medwave(fx, mv, folder / "seeded", threads, ["--weights", "default"])
                extra = {k: met.get(k) for k in ("network_seconds", "optimisation_seconds", "total_seconds")}
            elif m == "greedy":
                ddf, sec, extra = run_greedy(fx, mv, folder / "greedy", threads, "MI" if multimodal else "NCC")
            elif m == "elastix":
                ddf, sec, extra = run_elastix(fx, mv, threads)
            elif m == "demons":
                t = time.perf_counter()
                ddf = demons(pair["fixed"], pair["moving"])
                sec = time.perf_counter() - t
            elif m == "convexadam":
                t = time.perf_counter()
                ddf = run_convexadam(pair["fixed"], pair["moving"])
                sec = time.perf_counter() - t
            elif m == "syn":
                ddf, sec = run_syn(pair["fixed"], pair["moving"], folder / "syn", threads, ants_python())
            else:
                raise ValueError(m)
            extra["cpu_s"] = round(_cpu() - cpu0, 2)  # user + sys of this process and its finished children
            ev = evaluate(ddf, pair)
            r = rows[m]
            for k, v in ev.items():
                r[k].append(v)
            r["sec"].append(sec)
            r["extra"].append(extra)
            log(f"[{name}] pair {i + 1}/{len(seeds)} (seed {seed}) {m:11s} Dice {ev['dice']:.4f}  |J|<=0 "
                f"{ev['fold']:.4f}%  SDlogJ {ev['sdlogj']:.3f}  {sec:6.1f} s  {extra if extra else ''}")
        shutil.rmtree(folder, ignore_errors=True)
    return rows


def _mean(rows: dict) -> dict:
    return {m: {k: float(np.mean(v)) for k, v in r.items() if k != "extra" and v} for m, r in rows.items()}


def report_set(name: str, rows: dict, seeds, threads: int) -> list:
    mean = _mean(rows)
    ref = "greedy" if "greedy" in rows else None
    print(f"\n### {name}: {len(seeds)} held-out pairs (seeds {seeds[0]}-{seeds[-1]}), {threads} thread(s)")
    print("| method | mean Dice | % abs(J)<=0 | SDlogJ | s / pair | CPU s / pair | time vs Greedy |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for m, r in mean.items():
        ratio = f"{r['sec'] / mean[ref]['sec']:.2f}x" if ref and m != "identity" else ""
        sec = f"{r['sec']:.1f}" if m != "identity" else ""
        cpus = [e["cpu_s"] for e in rows[m]["extra"] if e.get("cpu_s") is not None]
        cpu = f"{np.mean(cpus):.1f}" if cpus and len(cpus) == len(rows[m]["extra"]) else ""
        print(f"| {m} | {r['dice']:.4f} | {r['fold']:.4f} | {r['sdlogj']:.3f} | {sec} | {cpu} | {ratio} |")
    if ref:
        dsec = float(np.mean([e["deformable_s"] for e in rows[ref]["extra"]]))
        print(f"Greedy's deformable step alone: {dsec:.1f} s / pair (medwave {mean['medwave']['sec'] / dsec:.2f}x of it)"
              if "medwave" in mean else f"Greedy's deformable step alone: {dsec:.1f} s / pair")
    print("\nper pair (Dice / s):")
    methods = [m for m in rows if m != "identity"]
    print("| seed | identity | " + " | ".join(methods) + " |")
    print("| --- " * (len(methods) + 2) + "|")
    for i, s in enumerate(seeds):
        cells = [f"{rows[m]['dice'][i]:.4f} / {rows[m]['sec'][i]:.1f}" for m in methods]
        print(f"| {s} | {rows['identity']['dice'][i]:.4f} | " + " | ".join(cells) + " |")
    checks = []
    if "medwave" in mean:
        mw = mean["medwave"]
        if ref:
            checks.append((f"[{name}] medwave Dice {mw['dice']:.4f} >= Greedy {mean[ref]['dice']:.4f}",
                           mw["dice"] >= mean[ref]["dice"]))
        checks.append((f"[{name}] medwave folding {mw['fold']:.4f} % < 0.01 %", mw["fold"] < 0.01))
        if ref and name != "multimodal":
            checks.append((f"[{name}] medwave {mw['sec']:.1f} s <= 0.5 x Greedy {mean[ref]['sec']:.1f} s",
                           mw["sec"] <= 0.5 * mean[ref]["sec"]))
        if name == "multimodal" and "elastix" in mean:
            checks.append((f"[{name}] medwave Dice {mw['dice']:.4f} >= elastix {mean['elastix']['dice']:.4f}",
                           mw["dice"] >= mean["elastix"]["dice"]))
    if "seeded" in mean and "medwave" in mean and name != "multimodal":
        sd, mw = mean["seeded"], mean["medwave"]
        print(f"WiNet-seeded command: Dice {sd['dice']:.4f} vs {mw['dice']:.4f} from zero, {sd['sec']:.1f} s vs "
              f"{mw['sec']:.1f} s per pair")
        both = sum(rows["seeded"]["dice"][i] >= rows["medwave"]["dice"][i] and
                   rows["seeded"]["sec"][i] < rows["medwave"]["sec"][i] for i in range(len(seeds)))
        print(f"WiNet-seeded optimisation: Dice at least the optimiser's from zero in less time on {both} of "
              f"{len(seeds)} pairs")
        print("(as commands, one run each; the target is measured in part 3: in-process and repeated, without the "
              "start-up and writing that both commands share and whose spread is larger than the difference)")
    if "winet" in mean and name == "mni":
        lift = mean["winet"]["dice"] - mean["identity"]["dice"]
        net_s = float(np.mean([e.get("network_seconds") or np.nan for e in rows["winet"]["extra"]]))
        checks.append((f"[{name}] WiNet alone lifts Dice over identity by {lift:+.4f} >= 0.08", lift >= 0.08))
        load_s = float(np.mean([e.get("network_load_seconds") or np.nan for e in rows["winet"]["extra"]]))
        checks.append((f"[{name}] WiNet forward {net_s:.2f} s <= 1 s per pair (+ {load_s:.2f} s loading the weights "
                       "and numba, once per process; in the command's time)", net_s <= 1.0))
    return checks


def race_register(pair: dict, candidates, repeats: int, net=None) -> list:
    """Whole in-process ``medwave.register`` calls for each ``(start, iterations)`` candidate on one pair.

    ``start`` is ``"zero"`` or ``"seeded"`` (from ``net``'s field); each candidate runs ``repeats`` times in rotating
    order (none always first) and its median wall time is kept with its Dice (deterministic). Before the clock, one
    call of each start loads the process's kernels, so that no candidate pays them. Returns ``[(seconds, Dice)]``.
    """
    import medwave

    f, m, fl, ml = pair["fixed"], pair["moving"], pair["fixed_labels"], pair["moving_labels"]
    for start in {c[0] for c in candidates}:
        medwave.register(f, m, weights=net if start == "seeded" else None, iterations=(0, 0, 1, 1), progress=False)
    times: list = [[] for _ in candidates]
    dice: list = [None] * len(candidates)
    for rep in range(repeats):
        order = list(range(len(candidates)))
        order = order[rep % len(order):] + order[:rep % len(order)]
        for i in order:
            start, its = candidates[i]
            t = time.perf_counter()
            r = medwave.register(f, m, moving_seg=ml, fixed_seg=fl, weights=net if start == "seeded" else None,
                                 iterations=its, optimize=any(its), progress=False)
            times[i].append(time.perf_counter() - t)
            dice[i] = r.metrics["dice_mean"]
    return [(float(np.median(t)), d) for t, d in zip(times, dice)]


def seeded_bench(sets, n_pairs: Optional[int], threads: int, repeats: int = 3) -> tuple[dict, list]:
    """Part 3: the optimisation from the shipped WiNet's field against the one from zero, each with its default
    schedule, as whole in-process ``register`` calls (``race_register``) on the held-out pairs."""
    from medwave.registration.api import _load_net
    from medwave.registration.greedy import GREEDY_ITERATIONS, GREEDY_SEEDED_ITERATIONS
    from medwave.registration.synthetic import SEEDS

    net = _load_net("default", "cpu")
    cands = [("zero", GREEDY_ITERATIONS), ("seeded", GREEDY_SEEDED_ITERATIONS)]
    out, checks = {}, []
    for name in sets:
        seeds = SEEDS[f"benchmark_{name}"][:n_pairs]
        rows = []
        for seed in seeds:
            (tz, dz), (ts, ds) = race_register(make_set(name, seed), cands, repeats, net)
            rows.append({"seed": seed, "zero_s": tz, "zero_dice": dz, "seeded_s": ts, "seeded_dice": ds})
            print(f"[seeded {name}] seed {seed}: from zero {dz:.4f} in {tz:.2f} s, from WiNet {ds:.4f} in {ts:.2f} s",
                  flush=True)
        out[name] = rows
        mz, ms = (float(np.mean([r[k] for r in rows])) for k in ("zero_dice", "seeded_dice"))
        sz, ss = (float(np.mean([r[k] for r in rows])) for k in ("zero_s", "seeded_s"))
        both = sum(r["seeded_dice"] >= r["zero_dice"] and r["seeded_s"] < r["zero_s"] for r in rows)
        print(f"\n### {name}: optimisation from zero vs from the shipped WiNet, in-process, {threads} thread(s), median "
              f"of {repeats} calls\n| start | iterations | mean Dice | s / pair |\n| --- | --- | --- | --- |\n"
              f"| zero | {','.join(map(str, GREEDY_ITERATIONS))} | {mz:.4f} | {sz:.2f} |\n"
              f"| WiNet | {','.join(map(str, GREEDY_SEEDED_ITERATIONS))} | {ms:.4f} | {ss:.2f} ({ss / sz:.2f}x) |\n"
              f"pairs where the start from WiNet reaches at least the Dice from zero in less time: {both} of {len(rows)}")
        checks.append((f"[{name}] from WiNet: Dice {ms:.4f} >= from zero {mz:.4f}, in-process", ms >= mz))
        checks.append((f"[{name}] from WiNet: {ss:.2f} s < from zero {sz:.2f} s per pair, in-process", ss < sz))
    return out, checks


FORWARD_CODE = r"""
import resource, sys, time, torch, warnings
warnings.filterwarnings("ignore")
torch.set_num_threads(int(sys.argv[2]))
shape = (1, 1, 160, 192, 224)
torch.manual_seed(0)
m, f = torch.rand(shape), torch.rand(shape)
if sys.argv[1] == "winet":
    from medwave.networks import WiNet
    from medwave.networks.blocks.fields import warp
    net = WiNet(3, base_width=8).eval()
    run = lambda: warp(m, net(m, f))
else:
    from monai.networks.nets import VoxelMorph
    net = VoxelMorph().eval()
    run = lambda: net(m, f)[0]
params = sum(p.numel() for p in net.parameters())
flops = [0]
def count(mod, inp, out):  # multiply-adds x 2 of every convolution, from its weight and output/input size
    n = inp[0][0, 0].numel() if isinstance(mod, torch.nn.ConvTranspose3d) else out[0, 0].numel()
    flops[0] += 2 * n * mod.weight.numel()
for mod in net.modules():
    if isinstance(mod, (torch.nn.Conv3d, torch.nn.ConvTranspose3d)):
        mod.register_forward_hook(count)
times = []
with torch.no_grad():
    for i in range(1 + int(sys.argv[3])):  # the first call is cold (oneDNN primitives, first touch of memory)
        t = time.perf_counter(); run(); times.append(time.perf_counter() - t)
warm = sorted(times[1:])[len(times[1:]) // 2] if len(times) > 1 else times[0]
print(times[0], warm, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, params, flops[0] / (1e9 * len(times)))
"""


def forward_bench(threads: int, repeats: int = 3) -> dict:
    """Each network in a fresh process: one cold call, then ``repeats`` timed calls (their median is "seconds")."""
    out = {}
    for name in ("winet", "voxelmorph"):
        res = subprocess.run([sys.executable, "-c", FORWARD_CODE, name, str(threads), str(repeats)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"{name} forward failed:\n{res.stderr[-2000:]}")
        cold, sec, mb, params, gflop = res.stdout.strip().split()[-5:]
        out[name] = {"seconds": float(sec), "cold_seconds": float(cold), "peak_rss_mb": float(mb), "params": int(params),
                     "conv_gflop": float(gflop), "repeats": repeats}
    return out


def forward_report(fwd: dict, threads) -> list:
    w, v = fwd["winet"], fwd["voxelmorph"]
    reps = w.get("repeats", 0)
    print(f"\nForward at 160x192x224 (1 pair, no grad, {threads} thread(s), fresh process each: one cold call, "
          f"then the median of {reps} calls)")
    print("| network | params | conv GFLOP | seconds (median) | cold call (s) | peak RSS (MB) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in fwd.items():
        gf = r.get("conv_gflop", float("nan"))
        print(f"| {name} | {r['params']:,} | {gf:.0f} | {r['seconds']:.2f} | {r.get('cold_seconds', float('nan')):.2f} | "
              f"{r['peak_rss_mb']:.0f} |")
    nan = float("nan")
    print(f"WiNet speed-up {v['seconds'] / w['seconds']:.2f}x (cold calls {v.get('cold_seconds', nan) / w.get('cold_seconds', nan):.2f}x), "
          f"memory ratio {w['peak_rss_mb'] / v['peak_rss_mb']:.2f}, "
          f"conv FLOP ratio {v.get('conv_gflop', nan) / w.get('conv_gflop', nan):.2f}")
    return [("WiNet forward >= 3x faster than VoxelMorph", v["seconds"] >= 3 * w["seconds"]),
            ("WiNet peak memory lower", w["peak_rss_mb"] < v["peak_rss_mb"])]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="mni,hard,multimodal", help="comma-separated pair sets (mni, hard, multimodal)")
    ap.add_argument("--methods", default=None,
                    help=f"comma-separated methods (default: all available of {', '.join(ALL_METHODS)})")
    ap.add_argument("--pairs", type=int, default=None, help="pairs per set (default: all held-out seeds)")
    ap.add_argument("--quick", action="store_true", help="2 pairs per set, no ConvexAdam, no forward part")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-forward", action="store_true", help="skip part 2 (network forward)")
    ap.add_argument("--skip-seeded", action="store_true", help="skip part 3 (optimisation from WiNet vs from zero)")
    ap.add_argument("--json", default=None, help="write the raw numbers here")
    args = ap.parse_args(argv)

    import SimpleITK as sitk
    import torch

    from medwave.registration.synthetic import SEEDS

    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(args.threads)
    torch.set_num_threads(args.threads)
    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(args.threads)
    available = {"medwave", "winet", "seeded", "demons"}
    for mod, name in (("picsl_greedy", "greedy"), ("itk", "elastix"), ("convexAdam", "convexadam")):
        try:
            __import__(mod)
            available.add(name)
        except ImportError:
            print(f"{name}: not installed ({mod} not importable); its row is skipped.")
    if ants_python():
        available.add("syn")
        print(f"syn: ANTs SyN runs in {ants_python()}")
    else:
        print("syn: no interpreter with antspyx (make .venv-ants, or set MEDWAVE_BENCH_ANTS_PYTHON); its row is "
              "skipped.")
    methods = [m.strip() for m in args.methods.split(",")] if args.methods else list(ALL_METHODS)
    unknown = set(methods) - set(ALL_METHODS)
    if unknown:
        ap.error(f"unknown method(s) {sorted(unknown)}; choose from {', '.join(ALL_METHODS)}")
    methods = [m for m in methods if m in available and not (args.quick and m == "convexadam")]
    n = args.pairs if args.pairs is not None else (2 if args.quick else None)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} ({os.cpu_count()} CPUs)")
    results, checks = {}, []
    with tempfile.TemporaryDirectory(prefix="bench_registration_") as tmp:
        for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
            seeds = SEEDS[f"benchmark_{name}"]
            seeds = tuple(seeds[:n]) if n else tuple(seeds)
            ms = [m for m in methods if name != "multimodal" or m in MULTIMODAL_METHODS]
            rows = run_set(name, seeds, ms, args.threads, Path(tmp), log=lambda s: print(s, flush=True))
            results[name] = {"seeds": list(seeds), "rows": rows}
            checks += report_set(name, rows, seeds, args.threads)
    seeded = None
    single = [s for s in (x.strip() for x in args.sets.split(",")) if s in ("mni", "hard")]
    if single and not args.skip_seeded:
        seeded, more = seeded_bench(single, n, args.threads, repeats=1 if args.quick else 3)
        checks += more
    fwd = None
    if not (args.skip_forward or args.quick):
        fwd = forward_bench(args.threads)
        checks += forward_report(fwd, args.threads)
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")
    ok = True
    for name, passed in checks:
        print(f"[{'PASS' if passed else 'MISS'}] {name}")
        ok &= passed
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"sets": results, "forward": fwd, "seeded": seeded, "threads": args.threads}, fh, indent=2, default=float)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
