"""The DTCWT against the dtcwt package (Transform1d/2d/3d; reference arrays stored by make_reference_data.py from
dtcwt in its own venv, numpy<2) and pytorch_wavelets' DTCWTForward where it installs: coefficients, inverse of
perturbed coefficients, perfect reconstruction, gradients."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
import torch

from medwave.wavelets import BIORT_NAMES, QSHIFT_NAMES, DtcwtPyramid, dtcwt_forward, dtcwt_inverse

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "data", "dtcwt_reference.npz")
DTCWT_PYTHON = "/work/venvs/dtcwt/bin/python"


def _cases() -> list:
    return json.loads(str(np.load(REFERENCE)["__cases__"]))


@pytest.mark.parametrize("case", [c[0] for c in _cases()])
def test_equals_dtcwt_package(case: str) -> None:
    ref = np.load(REFERENCE)
    _, dims, shape, opts, nlevels = next(c for c in _cases() if c[0] == case)
    x = torch.from_numpy(ref[f"{case}__input"])[None, None]
    p = dtcwt_forward(x, nlevels=nlevels, include_scale=True, **opts)
    np.testing.assert_allclose(p.lowpass[0, 0].numpy(), ref[f"{case}__lowpass"].reshape(p.lowpass.shape[2:]),
                               rtol=0, atol=1e-8)
    assert len(p.highpasses) == nlevels
    for j, h in enumerate(p.highpasses):
        assert h.is_complex()
        np.testing.assert_allclose(h[0, 0].numpy(), ref[f"{case}__highpass{j}"].reshape(h.shape[2:]), rtol=0, atol=1e-8)
        np.testing.assert_allclose(p.scales[j][0, 0].numpy(), ref[f"{case}__scale{j}"].reshape(p.scales[j].shape[2:]),
                                   rtol=0, atol=1e-8)
    # the inverse of perturbed coefficients
    hp = tuple(torch.from_numpy(ref[f"{case}__noisy_highpass{j}"].reshape(h.shape[2:]))[None, None]
               for j, h in enumerate(p.highpasses))
    lp = torch.from_numpy(ref[f"{case}__noisy_lowpass"].reshape(p.lowpass.shape[2:]))[None, None]
    z = dtcwt_inverse(DtcwtPyramid(lp, hp, biort=opts["biort"], qshift=opts["qshift"], spatial_dims=dims))
    np.testing.assert_allclose(z[0, 0].numpy(), ref[f"{case}__noisy_inverse"].reshape(z.shape[2:]), rtol=0, atol=1e-8)


@pytest.mark.parametrize("biort", [b for b in BIORT_NAMES if not b.endswith("_bp")])
@pytest.mark.parametrize("qshift", ["qshift_a", "qshift_b", "qshift_c", "qshift_d", "qshift_06"])
def test_perfect_reconstruction(biort: str, qshift: str, rng: np.random.Generator) -> None:
    for shape in ((1, 2, 36), (2, 1, 20, 26), (1, 1, 17, 23), (1, 1, 10, 12, 14)):
        x = torch.as_tensor(rng.standard_normal(shape))
        z = dtcwt_inverse(dtcwt_forward(x, nlevels=3, biort=biort, qshift=qshift))
        crop = (...,) + tuple(slice(0, n) for n in shape[2:])  # 2D odd sizes come back extended, as in dtcwt
        torch.testing.assert_close(z[crop], x, rtol=0, atol=1e-8)


def test_gradients_and_float32(rng: np.random.Generator) -> None:
    x = torch.as_tensor(rng.standard_normal((1, 1, 8, 12))).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: dtcwt_forward(t, nlevels=2).highpasses[1].abs(), (x,), fast_mode=True)
    p = dtcwt_forward(x.detach(), nlevels=2)
    hp = [h.clone().requires_grad_() for h in p.highpasses]
    assert torch.autograd.gradcheck(lambda a, b: dtcwt_inverse(DtcwtPyramid(p.lowpass, (a, b))), tuple(hp),
                                    fast_mode=True)
    p32 = dtcwt_forward(x.detach().float(), nlevels=2)
    assert p32.highpasses[0].dtype == torch.complex64
    torch.testing.assert_close(p32.highpasses[1].to(torch.complex128), p.highpasses[1], rtol=0, atol=1e-5)


def test_pytorch_wavelets_2d_forward(rng: np.random.Generator) -> None:
    pw = pytest.importorskip("pytorch_wavelets")
    x = torch.as_tensor(rng.standard_normal((1, 1, 32, 32)), dtype=torch.float32)
    yl, yh = pw.DTCWTForward(J=2, biort="near_sym_a", qshift="qshift_a")(x)
    p = dtcwt_forward(x.double(), nlevels=2)
    np.testing.assert_allclose(yl.numpy(), p.lowpass.numpy(), atol=1e-4)
    for ours, theirs in zip(p.highpasses, yh):  # theirs: (B, C, 6, H, W, 2)
        np.testing.assert_allclose(theirs[..., 0].numpy(), ours.real.permute(0, 1, 4, 2, 3).numpy(), atol=1e-4)
        np.testing.assert_allclose(theirs[..., 1].numpy(), ours.imag.permute(0, 1, 4, 2, 3).numpy(), atol=1e-4)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="even length"):
        dtcwt_forward(torch.zeros(1, 1, 9))
    with pytest.raises(ValueError, match="Unknown Q-shift"):
        dtcwt_forward(torch.zeros(1, 1, 8, 8), qshift="qshift_z")
    with pytest.raises(ValueError, match="spatial_dims=1, 2 or 3"):
        dtcwt_forward(torch.zeros(1, 8, 8, 8, 8), spatial_dims=4)
    with pytest.raises(ValueError, match="even sizes"):
        dtcwt_forward(torch.zeros(1, 1, 8, 9, 8))
    assert "near_sym_b_bp" in BIORT_NAMES and "qshift_b_bp" in QSHIFT_NAMES


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(DTCWT_PYTHON), reason="no dtcwt venv at /work/venvs/dtcwt")
def test_reference_file_is_reproducible(tmp_path) -> None:
    subprocess.run([DTCWT_PYTHON, os.path.join(HERE, "make_reference_data.py"), "dtcwt", str(tmp_path)], check=True,
                   capture_output=True, cwd=str(tmp_path))
    new, old = np.load(tmp_path / "dtcwt_reference.npz"), np.load(REFERENCE)
    assert sorted(new.files) == sorted(old.files)
    for k in old.files:
        if old[k].dtype.kind in "fc":
            np.testing.assert_array_equal(new[k], old[k])
