"""denoise_volume reads every accepted form the same way and never modifies its input."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import torch

from medwave.io import Image, save_image
from medwave.transforms import denoise_volume


def test_every_form_gives_the_same_result(tmp_path):
    from monai.data import MetaTensor
    from monai.transforms import LoadImage

    rng = np.random.default_rng(1)
    x = (rng.random((12, 10, 14)) + np.linspace(0, 1, 14)).astype(np.float32)  # (X, Y, Z)
    aff = np.diag([2.0, 2.0, 3.0, 1.0])
    before = x.copy()
    ref = denoise_volume(x)
    p = save_image(Image(x, aff), tmp_path / "x.nii.gz")
    forms = {
        "path": str(p),
        "nibabel": nib.load(str(p)),
        "Image": Image(x, aff),
        "MetaTensor": MetaTensor(torch.from_numpy(x[None].copy()), affine=torch.from_numpy(aff)),
        "LoadImage": LoadImage(ensure_channel_first=True, image_only=True)(str(p)),
    }
    for name, obj in forms.items():
        out = denoise_volume(obj)
        arr = np.asarray(out.array if isinstance(out, Image) else out[0])
        np.testing.assert_allclose(arr, ref, atol=1e-6, err_msg=name)
        if isinstance(out, Image):
            np.testing.assert_allclose(out.affine, aff, err_msg=name)
        else:
            np.testing.assert_allclose(out.affine.numpy(), aff, err_msg=name)
    np.testing.assert_array_equal(x, before)
