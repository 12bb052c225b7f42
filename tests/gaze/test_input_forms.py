"""predict_gaze reads a radiograph the same way in every accepted form (MONAI's x-first output included)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medwave import predict_gaze
from medwave.gaze.io import load_radiograph
from medwave.io import Image, load_image

SENTENCE = "Opacity in the left lung base."


@pytest.fixture(scope="module")
def dcm():
    from pydicom.data import get_testdata_file

    return get_testdata_file("RG1_UNCR.dcm")  # MONOCHROME1


def test_monai_loadimage_dicom_is_not_transposed(dcm):
    from monai.transforms import LoadImage

    ref = predict_gaze(dcm, SENTENCE)
    mt = LoadImage(ensure_channel_first=True, image_only=True)(dcm)  # (1, W, H), raw MONOCHROME1 values
    assert tuple(mt.shape[1:3]) == ref.heatmap.shape[::-1]  # (1, W, H[, 1])
    before = mt.clone()
    r = predict_gaze(mt, SENTENCE)
    np.testing.assert_allclose(r.points, ref.points, atol=1e-9)
    np.testing.assert_array_equal(r.heatmap, ref.heatmap)
    np.testing.assert_array_equal(r.image, ref.image)
    assert torch.equal(mt, before)


def test_every_form_gives_the_same_points(dcm, tmp_path):
    ref = predict_gaze(dcm, SENTENCE)
    rows = load_radiograph(dcm)  # (rows, columns), display values
    img = load_image(dcm)  # x first: (columns, rows)
    assert img.shape == rows.shape[::-1]
    forms = {
        "rows-first array": rows,
        "rows-first tensor": torch.from_numpy(rows.copy()),
        "Image": img,
        "Image.to_metatensor": img.to_metatensor(),
        "x-first Image of display values": Image(np.ascontiguousarray(rows.T), np.eye(4)),
    }
    for name, x in forms.items():
        r = predict_gaze(x, SENTENCE)
        np.testing.assert_allclose(r.points, ref.points, atol=1e-6, err_msg=name)
    np.testing.assert_array_equal(rows, load_radiograph(dcm))  # inputs untouched


def test_asymmetric_image_keeps_rows_and_columns():
    a = np.zeros((30, 50), np.float32)  # rows, columns
    a[5:10, 30:45] = 1.0
    from medwave.gaze.api import _as_image

    out, _ = _as_image(Image(np.ascontiguousarray(a.T), np.eye(4)))
    np.testing.assert_array_equal(out, a)
    out, _ = _as_image(a)
    np.testing.assert_array_equal(out, a)
