"""A transform folder in napari: the reader's Vectors + Jacobian layers, and the Apply-transform widget."""

from __future__ import annotations

import numpy as np
import pytest

import medwave
from medwave.io import Image


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    x = np.zeros((24, 24, 24), np.float32)
    x[6:18, 7:17, 8:16] = 1.0
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = [-20.0, -24.0, -10.0]
    res = medwave.register(Image(np.roll(x, 2, 0), aff), Image(x, aff), iterations=(20, 20, 20, 0), progress=False)
    out = tmp_path_factory.mktemp("napari_tx") / "reg"
    res.save(out)
    return out, x, aff, res


def test_reader_gives_vectors_and_jacobian_on_the_fixed_grid(folder) -> None:
    from medwave.napari._transform import get_transform_reader, read_transform_folder

    out, x, aff, res = folder
    assert get_transform_reader(str(out)) is read_transform_folder
    assert get_transform_reader(str(out / "warped.nii.gz")) is None
    assert get_transform_reader(str(out.parent)) is None  # a folder that is not a transform
    layers = read_transform_folder(str(out))
    kinds = [k for _, _, k in layers]
    assert kinds == ["image", "vectors"]
    jac, jkw, _ = layers[0]
    assert jac.shape == (24, 24, 24) and np.allclose(jac, res.jacdet.array)
    assert np.allclose(jkw["scale"], (2.0, 2.0, 2.0)) and np.allclose(jkw["translate"], aff[:3, 3])
    vec, vkw, _ = layers[1]
    assert vec.ndim == 3 and vec.shape[1:] == (2, 3) and 0 < len(vec) <= (24 // 4) ** 3
    # each arrow is the displacement at its voxel, in voxels (the layer's scale makes them mm)
    i, j, k = vec[0, 0].astype(int)
    assert np.allclose(vec[0, 1], res.ddf.array[i, j, k])
    assert np.allclose(vkw["scale"], (2.0, 2.0, 2.0))


@pytest.mark.napari
def test_open_folder_and_apply_widget(viewer, wait_worker, folder) -> None:
    out, x, aff, res = folder
    layers = viewer.open(str(out), plugin="medwave")
    names = [l.name for l in layers]
    assert any(n.endswith("displacement") for n in names) and any(n.endswith("Jacobian determinant") for n in names)
    moving = viewer.add_image(x, name="moving", scale=(2.0, 2.0, 2.0), translate=tuple(aff[:3, 3]))
    labels = viewer.add_labels((x > 0).astype(np.int32), name="moving labels", scale=(2.0, 2.0, 2.0),
                               translate=tuple(aff[:3, 3]))
    _, w = viewer.window.add_plugin_dock_widget("medwave", "Apply transform")
    assert str(w.folder.value) == str(out)  # filled in from the opened folder
    w.layer.value = moving
    w.run()
    wait_worker(w)
    got = viewer.layers["moving transformed"]
    assert np.allclose(np.asarray(got.data), res.warped.array, atol=1e-5)
    np.testing.assert_allclose(got.scale, (2.0, 2.0, 2.0))
    w.layer.value = labels
    w.inverse.value = True
    w.run()
    wait_worker(w)
    lab = viewer.layers["moving labels inverse transformed"]
    assert type(lab).__name__ == "Labels"
    expect = medwave.apply_transform(out, Image((x > 0).astype(np.int32), aff), inverse=True, interpolation="label")
    assert np.array_equal(np.asarray(lab.data), expect.array)
