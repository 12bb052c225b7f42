"""Write the reference outputs of packages medwave's tests cannot import (their pins conflict with the venv).

* ``pyradiomics``: ``tests/wavelets/data/radiomics_wavelet.npz`` from ``radiomics.imageoperations.getWaveletImage``
  (run with ``/work/venvs/radiomics/bin/python``: ``python3 -m venv /work/venvs/radiomics`` then
  ``pip install 'numpy<2' setuptools wheel versioneer && pip install --no-build-isolation pyradiomics``);
* ``dtcwt``: ``tests/wavelets/data/dtcwt_reference.npz`` from ``dtcwt.Transform1d/2d/3d`` (run with
  ``/work/venvs/dtcwt/bin/python``: ``pip install dtcwt 'numpy<2'``);
* ``pytorch_wavelets``: ``tests/wavelets/data/pytorch_wavelets_dtcwt.npz`` from ``DTCWTForward``/``DTCWTInverse``
  (2D; run with ``/work/venvs/ptwavelets/bin/python``: ``pip install torch==2.13.0 'setuptools<81' pytorch_wavelets``;
  it imports ``pkg_resources``, which current setuptools no longer ships).

Usage: ``<venv>/bin/python tests/wavelets/make_reference_data.py radiomics|dtcwt|pytorch_wavelets [outdir]``.

Reproducible: the inputs come from ``numpy.random.default_rng`` with fixed seeds and are stored in the same
file; the package versions are stored too (``__versions__``). Re-running with the same package versions writes
the same numbers. The tests also regenerate the outputs at test time through these venvs when they exist.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

#: (case name, input shape, getWaveletImage settings)
RADIOMICS_CASES = [
    ("default", (9, 10, 11), {}),
    ("db2_l2_s1", (8, 7, 10), {"wavelet": "db2", "level": 2, "start_level": 1}),
    ("haar_l3", (6, 8, 5), {"wavelet": "haar", "level": 3}),
]

#: (case name, dims, input shape, transform options, nlevels)
DTCWT_CASES = [
    ("1d_near_sym_a_qshift_a", 1, (64,), {"biort": "near_sym_a", "qshift": "qshift_a"}, 3),
    ("1d_legall_qshift_06", 1, (40,), {"biort": "legall", "qshift": "qshift_06"}, 2),
    ("2d_near_sym_a_qshift_a", 2, (32, 48), {"biort": "near_sym_a", "qshift": "qshift_a"}, 3),
    ("2d_near_sym_b_qshift_b", 2, (24, 32), {"biort": "near_sym_b", "qshift": "qshift_b"}, 2),
    ("2d_antonini_qshift_d", 2, (34, 30), {"biort": "antonini", "qshift": "qshift_d"}, 2),
    ("2d_near_sym_b_bp_qshift_b_bp", 2, (32, 32), {"biort": "near_sym_b_bp", "qshift": "qshift_b_bp"}, 2),
    ("3d_near_sym_a_qshift_a", 3, (8, 12, 16), {"biort": "near_sym_a", "qshift": "qshift_a"}, 2),
    ("3d_legall_qshift_c", 3, (12, 16, 10), {"biort": "legall", "qshift": "qshift_c"}, 2),
    ("3d_near_sym_b_qshift_b", 3, (16, 8, 12), {"biort": "near_sym_b", "qshift": "qshift_b"}, 3),
]


def radiomics(outdir: str) -> str:
    import pywt
    import radiomics as rad
    import SimpleITK as sitk
    from radiomics import imageoperations

    arrays: dict[str, np.ndarray] = {}
    for i, (case, shape, settings) in enumerate(RADIOMICS_CASES):
        x = np.random.default_rng(100 + i).standard_normal(shape)
        arrays[f"{case}__input"] = x
        img = sitk.GetImageFromArray(x)
        names = []
        for im, name, _ in imageoperations.getWaveletImage(img, None, **settings):
            arrays[f"{case}__{name}"] = sitk.GetArrayFromImage(im)
            names.append(name)
        arrays[f"{case}__names"] = np.array(names)
    versions = {"pyradiomics": rad.__version__, "pywt": pywt.__version__, "numpy": np.__version__}
    arrays["__versions__"] = np.array(json.dumps(versions))
    arrays["__cases__"] = np.array(json.dumps(RADIOMICS_CASES))
    path = os.path.join(outdir, "radiomics_wavelet.npz")
    np.savez_compressed(path, **arrays)
    return path


def dtcwt_reference(outdir: str) -> str:
    import dtcwt

    arrays: dict[str, np.ndarray] = {}
    for i, (case, dims, shape, opts, nlevels) in enumerate(DTCWT_CASES):
        x = np.random.default_rng(200 + i).standard_normal(shape)
        arrays[f"{case}__input"] = x
        t = {1: dtcwt.Transform1d, 2: dtcwt.Transform2d, 3: dtcwt.Transform3d}[dims](**opts)
        kw = {"include_scale": True} if dims < 3 else {"include_scale": True, "discard_level_1": False}
        p = t.forward(x, nlevels=nlevels, **kw)
        arrays[f"{case}__lowpass"] = np.asarray(p.lowpass)
        for j, h in enumerate(p.highpasses):
            arrays[f"{case}__highpass{j}"] = np.asarray(h)
        for j, s in enumerate(p.scales or ()):
            arrays[f"{case}__scale{j}"] = np.asarray(s)
        # the inverse of perturbed coefficients (not only of consistent ones)
        rng = np.random.default_rng(300 + i)
        hp = tuple(np.asarray(h) + 0.1 * (rng.standard_normal(h.shape) + 1j * rng.standard_normal(h.shape))
                   for h in p.highpasses)
        lp = np.asarray(p.lowpass) + 0.1 * rng.standard_normal(p.lowpass.shape)
        for j, h in enumerate(hp):
            arrays[f"{case}__noisy_highpass{j}"] = h
        arrays[f"{case}__noisy_lowpass"] = lp
        arrays[f"{case}__noisy_inverse"] = np.asarray(t.inverse(dtcwt.Pyramid(lp, hp)))
    versions = {"dtcwt": dtcwt.__version__, "numpy": np.__version__}
    arrays["__versions__"] = np.array(json.dumps(versions))
    arrays["__cases__"] = np.array(json.dumps(DTCWT_CASES))
    path = os.path.join(outdir, "dtcwt_reference.npz")
    np.savez_compressed(path, **arrays)
    return path

#: (case name, input shape (B, C, H, W), DTCWTForward options, J)
PYTORCH_WAVELETS_CASES = [
    ("near_sym_a_qshift_a_j3", (1, 1, 32, 48), {"biort": "near_sym_a", "qshift": "qshift_a"}, 3),
    ("near_sym_b_qshift_b_j2", (2, 3, 24, 32), {"biort": "near_sym_b", "qshift": "qshift_b"}, 2),
    ("legall_qshift_c_j2", (1, 2, 34, 30), {"biort": "legall", "qshift": "qshift_c"}, 2),
    ("antonini_qshift_d_j1", (1, 1, 16, 20), {"biort": "antonini", "qshift": "qshift_d"}, 1),
]


def pytorch_wavelets_reference(outdir: str) -> str:
    """pytorch_wavelets' 2D DTCWT in float64 (``mode="symmetric"``, its default): forward of a random image and the
    inverse of perturbed coefficients. Highpasses are stored as pytorch_wavelets gives them, ``(B, C, 6, H, W, 2)``
    (orientation dimension 2, real/imaginary last)."""
    import pytorch_wavelets as pw
    import torch

    arrays: dict[str, np.ndarray] = {}
    for i, (case, shape, opts, J) in enumerate(PYTORCH_WAVELETS_CASES):
        x = torch.as_tensor(np.random.default_rng(400 + i).standard_normal(shape))
        arrays[f"{case}__input"] = x.numpy()
        fwd = pw.DTCWTForward(J=J, **opts).double()
        yl, yh = fwd(x)
        arrays[f"{case}__lowpass"] = yl.numpy()
        for j, h in enumerate(yh):
            arrays[f"{case}__highpass{j}"] = h.numpy()
        rng = np.random.default_rng(500 + i)
        yl_n = yl + 0.1 * torch.as_tensor(rng.standard_normal(tuple(yl.shape)))
        yh_n = [h + 0.1 * torch.as_tensor(rng.standard_normal(tuple(h.shape))) for h in yh]
        arrays[f"{case}__noisy_lowpass"] = yl_n.numpy()
        for j, h in enumerate(yh_n):
            arrays[f"{case}__noisy_highpass{j}"] = h.numpy()
        inv = pw.DTCWTInverse(**opts).double()
        arrays[f"{case}__noisy_inverse"] = inv((yl_n, yh_n)).numpy()
    import importlib.metadata as md

    versions = {"pytorch_wavelets": md.version("pytorch_wavelets"), "torch": torch.__version__,
                "numpy": np.__version__}
    arrays["__versions__"] = np.array(json.dumps(versions))
    arrays["__cases__"] = np.array(json.dumps(PYTORCH_WAVELETS_CASES))
    path = os.path.join(outdir, "pytorch_wavelets_dtcwt.npz")
    np.savez_compressed(path, **arrays)
    return path


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "data")
    os.makedirs(out, exist_ok=True)
    if which == "radiomics":
        print(radiomics(out))
    elif which == "dtcwt":
        print(dtcwt_reference(out))
    elif which == "pytorch_wavelets":
        print(pytorch_wavelets_reference(out))
    else:
        sys.exit("usage: make_reference_data.py radiomics|dtcwt|pytorch_wavelets [outdir]")
