"""A RAS NIfTI opens in a real viewer on an axial slice, in radiological orientation, at first sight."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

pytestmark = pytest.mark.napari


def _volume(tmp_path, affine):
    """(X=40, Y=48, Z=16): background 0.2, a bright column at the patient's anterior left (low x, high y)."""
    arr = np.full((40, 48, 16), 0.2, np.float32)
    ras = np.stack(np.meshgrid(*[np.arange(n) for n in arr.shape], indexing="ij"), -1) @ affine[:3, :3].T + affine[:3, 3]
    x0, y0 = ras[..., 0].min(), ras[..., 1].max()
    left_anterior = (ras[..., 0] < x0 + 10) & (ras[..., 1] > y0 - 10)  # left: small x (RAS); anterior: large y
    arr[left_anterior] = 1.0
    arr[..., 12:] *= 0.5  # superior slices dimmer: the slice axis is z
    p = tmp_path / "ras.nii.gz"
    nib.save(nib.Nifti1Image(arr, affine), str(p))
    return p, arr


@pytest.mark.parametrize("affine", [np.diag([1.0, 1.0, 2.0, 1.0]), np.diag([-1.0, -1.0, 2.0, 1.0])],
                         ids=["RAS", "LPS-stored"])
def test_first_view_is_axial_anterior_up_patient_left_on_screen_right(viewer, tmp_path, affine):
    p, arr = _volume(tmp_path, affine)
    [layer] = viewer.open(str(p), plugin="medwave")
    layer.contrast_limits = (0.0, 1.0)
    assert viewer.dims.ndisplay == 2
    sliced, rows, cols = viewer.dims.order[0], *viewer.dims.displayed
    world0 = np.asarray(viewer.dims.point, dtype=float)

    def ras_at(world):
        data = np.asarray(layer.world_to_data(world))[::-1]  # layer data (Z, Y, X) -> voxel (i, j, k)
        return (affine @ [*data, 1.0])[:3]

    step = np.eye(3)
    d_slice = ras_at(world0 + step[sliced]) - ras_at(world0)
    d_down = ras_at(world0 + step[rows]) - ras_at(world0)
    d_right = ras_at(world0 + step[cols]) - ras_at(world0)
    # axial: the slider moves along z only; the screen plane is x-y
    assert abs(d_slice[2]) > 0 and np.allclose(d_slice[:2], 0)
    assert np.allclose(d_down[[0, 2]], 0) and np.allclose(d_right[1:], 0)
    assert d_down[1] < 0  # down the screen = posterior: anterior is up
    assert d_right[0] < 0  # right on the screen = towards the patient's left (radiological)
    # what is actually drawn: the anterior-left column sits in the upper right of the canvas
    shot = np.asarray(viewer.screenshot(canvas_only=True, flash=False), dtype=np.float64)[..., :3].mean(-1)
    bright = shot > 0.8 * shot.max()
    rr, cc = np.nonzero(bright)
    assert bright.sum() > 20
    image_px = shot > 0.1 * shot.max()  # the whole slice (background 0.2 is drawn grey)
    ir, ic = np.nonzero(image_px)
    assert rr.mean() < ir.mean() and cc.mean() > ic.mean()


def test_layers_of_one_grid_overlay_and_write_back_ras(viewer, tmp_path):
    import napari

    affine = np.array([[0, 0, 2.0, -5], [-1.5, 0, 0, 10], [0, 1.0, 0, 3], [0, 0, 0, 1]])  # oblique axes order
    p, arr = _volume(tmp_path, np.diag([1.0, 1.0, 2.0, 1.0]))
    nib.save(nib.Nifti1Image(arr, affine), str(p))
    seg = tmp_path / "seg.nii.gz"
    nib.save(nib.Nifti1Image((arr > 0.5).astype(np.uint8), affine), str(seg))
    [img] = viewer.open(str(p), plugin="medwave")
    [lab] = viewer.open(str(seg), plugin="medwave")
    for idx in ([0, 0, 0], [3, 7, 11], [39, 47, 15]):
        np.testing.assert_allclose(img.data_to_world(idx), lab.data_to_world(idx))
    out = tmp_path / "back.nii.gz"
    napari.save_layers(str(out), [img], plugin="medwave")
    back = nib.load(str(out))
    np.testing.assert_allclose(back.affine, affine)
    np.testing.assert_array_equal(np.asarray(back.dataobj), arr)
