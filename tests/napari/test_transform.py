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
    from medwave.napari._layers import layer_to_image
    from medwave.napari._transform import get_transform_reader, read_transform_folder

    out, x, aff, res = folder
    assert get_transform_reader(str(out)) is read_transform_folder
    assert get_transform_reader(str(out / "warped.nii.gz")) is None
    assert get_transform_reader(str(out.parent)) is None  # a folder that is not a transform
    layers = read_transform_folder(str(out))
    kinds = [k for _, _, k in layers]
    assert kinds == ["image", "vectors"]
    jac, jkw, _ = layers[0]
    # the layer is in the display frame of every oriented medwave layer; undone, it is the saved Jacobian
    assert np.allclose(layer_to_image(jac, jkw).array, res.jacdet.array)
    assert np.allclose(layer_to_image(jac, jkw).affine, aff)
    vec, vkw, _ = layers[1]
    assert vec.ndim == 3 and vec.shape[1:] == (2, 3) and 0 < len(vec) <= (24 // 4) ** 3
    for k in ("scale", "translate", "affine"):  # on the Jacobian layer's grid and frame
        assert np.allclose(np.asarray(vkw.get(k, np.eye(4))), np.asarray(jkw.get(k, np.eye(4))))
    # each arrow is the displacement at its voxel, in voxels (the layer's transform makes them mm)
    perm = jkw["metadata"]["medwave"]["display_perm"] or [0, 1, 2]
    inv = np.argsort(perm)
    pos, disp = vec[0, 0][inv].astype(int), vec[0, 1][inv]
    assert np.allclose(disp, res.ddf.array[pos[0], pos[1], pos[2]])


@pytest.mark.napari
def test_open_folder_and_apply_widget(viewer, wait_worker, folder) -> None:
    from medwave.napari._layers import layer_to_image

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
    back = layer_to_image(*got.as_layer_data_tuple()[:2])
    assert np.allclose(back.array, res.warped.array, atol=1e-5) and np.allclose(back.affine, aff)
    w.layer.value = labels
    w.inverse.value = True
    w.run()
    wait_worker(w)
    lab = viewer.layers["moving labels inverse transformed"]
    assert type(lab).__name__ == "Labels"
    expect = medwave.apply_transform(out, Image((x > 0).astype(np.int32), aff), inverse=True, interpolation="label")
    assert np.array_equal(layer_to_image(*lab.as_layer_data_tuple()[:2]).array, expect.array)
