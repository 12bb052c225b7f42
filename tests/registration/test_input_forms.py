"""register reads fixed/moving the same way in every accepted form and never modifies them."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import torch

from medwave import register
from medwave.io import Image, save_image


def _pair():
    g = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in (16, 18, 20)], indexing="ij"))
    fixed = np.exp(-((g[0] - 0.1) ** 2 + g[1] ** 2 / 0.5 + g[2] ** 2) * 3).astype(np.float32)
    moving = np.exp(-((g[0] + 0.1) ** 2 + g[1] ** 2 / 0.5 + g[2] ** 2) * 3).astype(np.float32)
    return fixed, moving


def _run(f, m):
    return register(f, m, iterations=3, progress=False)


def test_every_form_gives_the_same_field(tmp_path):
    from monai.data import MetaTensor
    from monai.transforms import LoadImage

    fixed, moving = _pair()
    aff = np.diag([1.5, 1.5, 1.5, 1.0])
    fp = save_image(Image(fixed, aff), tmp_path / "f.nii.gz")
    mp = save_image(Image(moving, aff), tmp_path / "m.nii.gz")
    ref = _run(fp, mp)
    load = LoadImage(ensure_channel_first=True, image_only=True)
    forms = {
        "str": (str(fp), str(mp)),
        "nibabel": (nib.load(str(fp)), nib.load(str(mp))),
        "Image": (Image(fixed, aff), Image(moving, aff)),
        "Image with a trailing channel": (Image(fixed[..., None], aff), Image(moving[..., None], aff)),
        "MetaTensor": tuple(MetaTensor(torch.from_numpy(a[None]), affine=torch.from_numpy(aff)) for a in (fixed, moving)),
        "LoadImage": (load(str(fp)), load(str(mp))),
    }
    for name, (f, m) in forms.items():
        r = _run(f, m)
        np.testing.assert_allclose(r.ddf.array, ref.ddf.array, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(r.warped.affine, aff, err_msg=name)
    r = _run(fixed, moving)  # plain arrays: (X, Y, Z), identity affine
    np.testing.assert_allclose(r.ddf.array, ref.ddf.array, atol=1e-5)


def test_inputs_are_not_modified():
    fixed, moving = _pair()
    f = Image(fixed[..., None].copy(), np.eye(4), meta={"a": 1})
    m = Image(moving[..., None].copy(), np.eye(4))
    f0, m0 = f.array.copy(), m.array.copy()
    _run(f, m)
    assert f.array.shape == f0.shape and m.array.shape == m0.shape  # no in-place squeeze of the caller's Image
    np.testing.assert_array_equal(f.array, f0)
    np.testing.assert_array_equal(m.array, m0)
    assert f.meta == {"a": 1}
