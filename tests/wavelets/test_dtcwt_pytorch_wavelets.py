"""medwave's 2D DTCWT against pytorch_wavelets' ``DTCWTForward``/``DTCWTInverse``.

pytorch_wavelets imports ``pkg_resources``, which current setuptools no longer ships, so it cannot be installed beside
medwave's own dependencies; its outputs (float64, several filter pairs, batches and channels, odd-by-2 sizes) were
written by ``tests/wavelets/make_reference_data.py pytorch_wavelets`` in its own venv and stored with the package
versions. The regeneration test re-runs that script when the venv exists.
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
import torch

from medwave.wavelets import DtcwtPyramid, dtcwt_forward, dtcwt_inverse

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "data", "pytorch_wavelets_dtcwt.npz")
PTW_PYTHON = "/work/venvs/ptwavelets/bin/python"
CASES = json.loads(str(np.load(REFERENCE)["__cases__"]))
#: pytorch_wavelets keeps its filter taps as float32 buffers (``.double()`` casts the rounded values), so even its
#: float64 outputs differ from the exact filters by ~1e-7 of the data's scale (LeGall's taps are exact in float32:
#: its level-1 highpasses agree to 1e-15). The dtcwt package, which keeps float64 taps, is matched to 1e-8 in
#: test_dtcwt.py.
ATOL = 1e-6


def _ours_as_theirs(h: torch.Tensor) -> np.ndarray:
    """medwave's highpass ``(B, C, H, W, 6)`` complex -> pytorch_wavelets' ``(B, C, 6, H, W, 2)``."""
    h = h.permute(0, 1, 4, 2, 3)
    return torch.stack([h.real, h.imag], dim=-1).numpy()


def _theirs_as_ours(a: np.ndarray) -> torch.Tensor:
    t = torch.as_tensor(a)
    return torch.complex(t[..., 0], t[..., 1]).permute(0, 1, 3, 4, 2)


def test_float32_taps_are_the_only_difference() -> None:
    """With exactly representable taps (LeGall 5/3 at level 1) the two agree to rounding."""
    ref = np.load(REFERENCE)
    case = "legall_qshift_c_j2"
    p = dtcwt_forward(torch.as_tensor(ref[f"{case}__input"]), nlevels=2, spatial_dims=2, biort="legall",
                      qshift="qshift_c")
    np.testing.assert_allclose(_ours_as_theirs(p.highpasses[0]), ref[f"{case}__highpass0"], rtol=0, atol=1e-13)


def test_reference_versions_recorded() -> None:
    versions = json.loads(str(np.load(REFERENCE)["__versions__"]))
    assert versions["pytorch_wavelets"] and versions["torch"]


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_forward_equals_pytorch_wavelets(case: str) -> None:
    ref = np.load(REFERENCE)
    _, _, opts, J = next(c for c in CASES if c[0] == case)
    p = dtcwt_forward(torch.as_tensor(ref[f"{case}__input"]), nlevels=J, spatial_dims=2, **opts)
    np.testing.assert_allclose(p.lowpass.numpy(), ref[f"{case}__lowpass"], rtol=0, atol=ATOL)
    assert len(p.highpasses) == J
    for j, h in enumerate(p.highpasses):
        np.testing.assert_allclose(_ours_as_theirs(h), ref[f"{case}__highpass{j}"], rtol=0, atol=ATOL)


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_inverse_of_perturbed_coefficients_equals_pytorch_wavelets(case: str) -> None:
    ref = np.load(REFERENCE)
    _, _, opts, J = next(c for c in CASES if c[0] == case)
    hp = tuple(_theirs_as_ours(ref[f"{case}__noisy_highpass{j}"]) for j in range(J))
    y = dtcwt_inverse(DtcwtPyramid(torch.as_tensor(ref[f"{case}__noisy_lowpass"]), hp), **opts)
    np.testing.assert_allclose(y.numpy(), ref[f"{case}__noisy_inverse"], rtol=0, atol=ATOL)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(PTW_PYTHON), reason="no pytorch_wavelets venv at /work/venvs/ptwavelets")
def test_reference_file_is_reproducible(tmp_path) -> None:
    subprocess.run([PTW_PYTHON, "-W", "ignore", os.path.join(HERE, "make_reference_data.py"), "pytorch_wavelets",
                    str(tmp_path)], check=True, capture_output=True, cwd=str(tmp_path))
    new, old = np.load(tmp_path / "pytorch_wavelets_dtcwt.npz"), np.load(REFERENCE)
    assert sorted(new.files) == sorted(old.files)
    for k in old.files:
        if old[k].dtype.kind in "fc":
            np.testing.assert_array_equal(new[k], old[k])
