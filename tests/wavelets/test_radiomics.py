"""PyRadiomics' wavelet image type: names, order and values against PyRadiomics' own output (stored by
tests/wavelets/make_reference_data.py from pyradiomics in its own venv) and against its documented procedure."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import pywt
import torch

from medwave.wavelets import radiomics_wavelet, radiomics_wavelet_names

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "data", "radiomics_wavelet.npz")
RADIOMICS_PYTHON = "/work/venvs/radiomics/bin/python"


def _documented(x: np.ndarray, wavelet: str, level: int, start_level: int, axes: tuple) -> dict:
    """PyRadiomics' documented procedure, written out: wrap-pad odd axes by one, one-level swtn per level."""
    data = np.pad(x, [(0, n % 2) for n in x.shape], mode="wrap")
    a_key = "a" * len(axes)
    for _ in range(start_level):
        data = pywt.swtn(data, wavelet, level=1, start_level=0, axes=axes)[0][a_key]
    crop = tuple(slice(0, n) for n in x.shape)
    out = {}
    for idx in range(1, level + 1):
        dec = pywt.swtn(data, wavelet, level=1, start_level=0, axes=axes)[0]
        for k, v in dec.items():
            if k != a_key:
                out[("wavelet-" if idx == 1 else f"wavelet{idx}-") + k.replace("a", "L").replace("d", "H")] = v[crop]
        data = dec[a_key]
    out[("wavelet-" if level == 1 else f"wavelet{level}-") + "L" * len(axes)] = data[crop]
    return out


def test_equals_pyradiomics_output() -> None:
    ref = np.load(REFERENCE)
    cases = json.loads(str(ref["__cases__"]))
    assert len(cases) == 3
    for case, _, settings in cases:
        x = torch.from_numpy(ref[f"{case}__input"])[None, None]
        got = radiomics_wavelet(x, layout="zyx", **settings)
        names = [str(n) for n in ref[f"{case}__names"]]
        assert list(got) == names, case
        for name in names:
            np.testing.assert_allclose(got[name][0, 0].numpy(), ref[f"{case}__{name}"], rtol=0, atol=1e-10,
                                       err_msg=f"{case} {name}")


def test_layout_only_renames(rng: np.random.Generator) -> None:
    """An (x, y, z) tensor gives the same images under the same names as its (z, y, x) transpose."""
    x = rng.standard_normal((6, 9, 10))
    zyx = radiomics_wavelet(torch.from_numpy(x)[None, None], wavelet="db2", layout="zyx")
    xyz = radiomics_wavelet(torch.from_numpy(x.transpose(2, 1, 0).copy())[None, None], wavelet="db2")
    assert sorted(zyx) == sorted(xyz)
    for name in zyx:
        np.testing.assert_allclose(xyz[name][0, 0].numpy().transpose(2, 1, 0), zyx[name][0, 0].numpy(), atol=1e-12)


@pytest.mark.parametrize("wavelet", ["coif1", "sym3", "bior1.3"])
def test_equals_documented_swtn_procedure(wavelet: str, rng: np.random.Generator) -> None:
    x = rng.standard_normal((2, 7, 12, 9))
    ref = _documented(x[1], wavelet, level=2, start_level=1, axes=(2, 1, 0))
    got = radiomics_wavelet(torch.from_numpy(x)[:, None], wavelet=wavelet, level=2, start_level=1, layout="zyx")
    assert list(got) == radiomics_wavelet_names(3, 2, layout="zyx")
    assert sorted(got) == sorted(ref)
    for name, v in ref.items():
        assert got[name].shape == (2, 1, 7, 12, 9)
        np.testing.assert_allclose(got[name][1, 0].numpy(), v, rtol=0, atol=1e-10, err_msg=name)


def test_force2d_is_two_spatial_axes(rng: np.random.Generator) -> None:
    x = rng.standard_normal((5, 11))
    ref = _documented(x, "coif1", level=1, start_level=0, axes=(1, 0))
    got = radiomics_wavelet(torch.from_numpy(x)[None, None], spatial_dims=2, layout="zyx")
    assert list(got) == ["wavelet-LH", "wavelet-HL", "wavelet-HH", "wavelet-LL"]
    for name, v in ref.items():
        np.testing.assert_allclose(got[name][0, 0].numpy(), v, rtol=0, atol=1e-10)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="level >= 1"):
        radiomics_wavelet(torch.zeros(1, 1, 4, 4, 4), level=0)
    with pytest.raises(ValueError, match="layout"):
        radiomics_wavelet(torch.zeros(1, 1, 4, 4, 4), layout="yxz")  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(RADIOMICS_PYTHON), reason="no pyradiomics venv at /work/venvs/radiomics")
def test_reference_file_is_reproducible(tmp_path) -> None:
    """The stored file is what the script writes with the installed pyradiomics."""
    subprocess.run([RADIOMICS_PYTHON, os.path.join(HERE, "make_reference_data.py"), "radiomics", str(tmp_path)],
                   check=True, capture_output=True)
    new, old = np.load(tmp_path / "radiomics_wavelet.npz"), np.load(REFERENCE)
    assert sorted(new.files) == sorted(old.files)
    for k in old.files:
        if old[k].dtype.kind == "f":
            np.testing.assert_array_equal(new[k], old[k])
