"""``medwave.denoise``: the front door (every input form alike, the result's save, options named, start-up)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from skimage.restoration import denoise_wavelet

import medwave
from medwave.denoise import DenoiseResult, denoise
from medwave.io import Image, load_image
from medwave.utils.errors import OptionError

ROOT = Path(medwave.__file__).resolve().parents[1]


@pytest.fixture
def noisy(tmp_path, rng):
    g = np.meshgrid(*[np.linspace(-1, 1, s) for s in (30, 28, 26)], indexing="ij")
    arr = (np.exp(-3 * sum(x**2 for x in g)) + 0.1 * rng.standard_normal((30, 28, 26))).astype(np.float32)
    aff = np.diag([1.5, -1.2, 2.0, 1.0])
    aff[:3, 3] = [10.0, -4.0, 3.0]
    p = tmp_path / "noisy.nii.gz"
    nib.save(nib.Nifti1Image(arr, aff), p)
    return p, arr, aff


def test_every_input_form_gives_the_same_result(noisy):
    from monai.data import MetaTensor

    path, arr, aff = noisy
    ref = denoise_wavelet(arr, channel_axis=None)
    forms = {
        "path": path,
        "str": str(path),
        "array": arr,
        "tensor": torch.from_numpy(arr.copy()),
        "nibabel": nib.load(path),
        "Image": Image(arr, affine=aff),
        "MetaTensor": MetaTensor(torch.from_numpy(arr[None].copy()), affine=torch.from_numpy(aff)),
    }
    for name, x in forms.items():
        res = denoise(x, progress=False)
        assert isinstance(res, DenoiseResult), name
        np.testing.assert_allclose(res.array, ref, atol=2e-5, err_msg=name)
        if name not in ("array", "tensor"):
            np.testing.assert_allclose(res.image.affine, aff, err_msg=name)
    assert np.array_equal(forms["array"], arr)  # the caller's array is untouched


def test_medwave_denoise_is_the_front_door(noisy):
    path, arr, _ = noisy
    res = medwave.denoise(path, progress=False, wavelet="db2", method="VisuShrink")
    np.testing.assert_allclose(res.array, denoise_wavelet(arr, wavelet="db2", method="VisuShrink", channel_axis=None),
                               atol=2e-5)
    assert callable(medwave.denoise) and medwave.denoise.denoise is denoise


def test_save_to_a_folder_or_a_file_keeps_geometry_never_the_input(noisy, tmp_path):
    path, _, aff = noisy
    res = denoise(path, progress=False)
    out = res.save(tmp_path / "out")
    assert out == {"image": tmp_path / "out" / "denoised.nii.gz"}
    np.testing.assert_allclose(load_image(out["image"]).affine, aff, atol=1e-6)
    with pytest.raises(FileExistsError):
        res.save(tmp_path / "out")
    assert res.save(tmp_path / "out", overwrite=True)["image"] == out["image"]
    as_mha = res.save(tmp_path / "x.mha")["image"]
    np.testing.assert_allclose(load_image(as_mha).array, res.array, atol=1e-6)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="also an input"):
        res.save(path, overwrite=True)
    assert path.read_bytes() == before
    # an array has no format of its own: NIfTI
    assert denoise(np.asarray(res.array), progress=False).save(tmp_path / "arr")["image"].name == "denoised.nii.gz"


def test_4d_series_one_sigma_per_volume(rng):
    a4 = rng.standard_normal((20, 22, 18, 3)).astype(np.float32)
    a4[..., 1] *= 5
    res = denoise(a4, progress=False)
    assert res.array.shape == a4.shape and res.sigma.shape == (3,)
    assert res.sigma[1] > 4 * res.sigma[0]
    for v in range(3):
        np.testing.assert_allclose(res.array[..., v], denoise_wavelet(a4[..., v], channel_axis=None), atol=1e-4)
    m = res.metrics
    assert m["shape"] == "20x22x18x3" and m["levels"] == 1 and m["sigma"] == pytest.approx(float(res.sigma.mean()),
                                                                                             abs=1e-6)


def test_options_are_checked_and_named(noisy):
    path, arr, _ = noisy
    cases = [({"wavelet": "morl"}, "wavelet='morl' is not a discrete wavelet", "--wavelet morl"),
             ({"levels": 0}, "levels=0", "--levels 0"),
             ({"levels": 40}, "levels=40 is too deep for noisy.nii.gz", "--levels 40"),
             ({"wavelet_mode": "mirror"}, "wavelet_mode='mirror'", "--wavelet-mode mirror"),
             ({"sigma": -1.0}, "sigma=-1.0", "--sigma -1.0"),
             ({"spatial_dims": 4}, "spatial_dims=4", "--spatial-dims 4"),
             ({"weights": "w.pt"}, "no model weights", "--weights w.pt"),
             ({"device": "cuda:7" if not torch.cuda.is_available() else "nope"}, "device=", "--device")]
    for kw, py_msg, cli_msg in cases:
        with pytest.raises(OptionError) as exc:
            denoise(path, progress=False, **kw)
        assert py_msg in str(exc.value), (kw, str(exc.value))
        assert exc.value.render(cli=True).startswith(cli_msg), (kw, exc.value.render(cli=True))


def test_bad_images_name_the_file(tmp_path):
    p = tmp_path / "line.nii"
    nib.save(nib.Nifti1Image(np.ones((16,), np.float32), np.eye(4)), p)
    with pytest.raises(ValueError, match="line.nii is 1D .*2D image or a 3D volume"):
        denoise(p)
    with pytest.raises(ValueError, match="complex"):
        denoise(np.zeros((8, 8, 8), np.complex64))
    with pytest.raises(TypeError, match="path, an array"):
        denoise(object())


def test_denoise_command_does_not_import_monai_or_gui(noisy, tmp_path):
    """``medwave denoise`` (and ``medwave info``) start without MONAI, napari, dask or SimpleITK: what a command
    imports is what it uses (issue 17). A behaviour test on ``sys.modules`` in a fresh process, not a timing."""
    path, _, _ = noisy
    code = f"""
import json, sys
from medwave.cli import main
assert main(["denoise", {str(path)!r}, "-o", {str(tmp_path / 'o.nii.gz')!r}, "--quiet"]) == 0
assert main(["info", {str(path)!r}]) == 0
# numba too: a small image is denoised on the torch path (loading numba would cost more than it saves)
heavy = ("monai", "napari", "dask", "distributed", "SimpleITK", "skimage", "magicgui", "qtpy", "matplotlib", "pandas",
         "numba")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    assert (tmp_path / "o.nii.gz").exists()


def test_compiled_off_is_per_thread_and_gives_the_same_result(rng):
    import threading

    from medwave.utils.compiled import compiled_enabled, compiled_off

    before = compiled_enabled()
    seen = []
    with compiled_off():
        assert not compiled_enabled()
        t = threading.Thread(target=lambda: seen.append(compiled_enabled()))
        t.start()
        t.join()
    assert seen == [before] and compiled_enabled() == before
    x = rng.standard_normal((40, 36, 30)).astype(np.float32)
    with compiled_off():
        a = medwave.denoise(x, progress=False).array
    from medwave.denoise import denoise_volume

    np.testing.assert_allclose(a, denoise_volume(x), atol=1e-5)  # compiled (if numba is on) and torch paths agree
