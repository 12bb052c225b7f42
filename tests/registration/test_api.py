"""medwave.register: input kinds, grids, segmentations, metrics, outputs, errors."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

import medwave
from medwave.io import Image
from medwave.registration.api import RegistrationResult, as_image
from medwave.networks.checkpoint import save_checkpoint

ITS = (10, 10, 0, 0)


def _box_pair(shift: int = 2, shape=(24, 24, 24)):
    x = np.zeros(shape, np.float32)
    x[6:18, 7:17, 8:16] = 1.0
    x[9:12, 9:12, 9:12] = 0.5
    y = np.roll(x, shift, 0)
    return y, x  # fixed, moving


def test_register_arrays_improves_dice_and_keeps_fixed_grid() -> None:
    fixed, moving = _box_pair()
    fixed_seg, moving_seg = (fixed > 0).astype(np.int16), (moving > 0).astype(np.int16)
    res = medwave.register(fixed, moving, iterations=(20, 20, 20, 0), moving_seg=moving_seg, fixed_seg=fixed_seg,
                           progress=False)
    assert isinstance(res, RegistrationResult)
    m = res.metrics
    assert m["dice_mean"] > m["dice_mean_before"] + 0.03
    assert m["folding_percent"] == 0.0 and m["method"] == "instance_optimisation"
    assert res.ddf.array.shape == (24, 24, 24, 3) and res.jacdet.array.shape == (24, 24, 24)
    assert np.allclose(res.warped.affine, np.eye(4))
    assert set(np.unique(res.warped_seg.array)) <= {0, 1}
    # the field moves the box the right way: fixed(x) = moving(x - 2) -> u_x ~ -2 at the box's x faces
    assert res.ddf.array[6:8, 10:14, 10:14, 0].mean() < -0.5


def test_inputs_are_not_modified_and_accept_nibabel_and_metatensor(tmp_path) -> None:
    from monai.data import MetaTensor

    fixed, moving = _box_pair(1, (16, 16, 16))
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    f_nib = nib.Nifti1Image(fixed, aff)
    m_mt = MetaTensor(torch.as_tensor(moving)[None], affine=torch.as_tensor(aff))
    copy = moving.copy()
    res = medwave.register(f_nib, m_mt, iterations=(3, 3, 0, 0), progress=False)
    assert np.array_equal(moving, copy)
    assert np.allclose(res.warped.affine, aff) and np.allclose(res.ddf.affine, aff)
    assert res.metrics["prealign"] == "none"
    assert as_image(m_mt, name="m").array.shape == (16, 16, 16)


def test_moving_on_another_grid_is_resampled(tmp_path) -> None:
    fixed, _ = _box_pair(0, (16, 16, 16))
    aff_f = np.eye(4)
    big = np.kron(fixed, np.ones((2, 2, 2))).astype(np.float32)  # the same object on a 0.5 mm grid
    aff_m = np.diag([0.5, 0.5, 0.5, 1.0])
    aff_m[:3, 3] = -0.25
    res = medwave.register(Image(fixed, aff_f), Image(big, aff_m), iterations=(2, 0, 0, 0), progress=False)
    assert res.metrics["prealign"] == "resampled"
    assert res.warped.array.shape == (16, 16, 16)
    assert np.abs(res.warped.array - fixed)[2:-2, 2:-2, 2:-2].mean() < 0.1


def test_save_writes_files_with_fixed_affine(tmp_path) -> None:
    fixed, moving = _box_pair(1, (16, 16, 16))
    aff = np.diag([1.5, 1.5, 1.5, 1.0])
    res = medwave.register(Image(fixed, aff), Image(moving, aff), iterations=(2, 2, 0, 0), progress=False,
                           moving_seg=(moving > 0).astype(np.int16))
    paths = res.save(tmp_path / "out")
    for name in ("warped", "jacdet", "warped_seg"):
        assert np.allclose(nib.load(paths[name]).affine, aff)
    ddf = nib.load(paths["ddf"])
    assert ddf.shape == (16, 16, 16, 1, 3) and ddf.header.get_intent()[0] == "vector"
    metrics = json.loads(paths["metrics"].read_text())
    assert "folding_percent" in metrics and "sdlogj" in metrics and "total_seconds" in metrics
    with pytest.raises(FileExistsError):
        res.save(tmp_path / "out")


def test_errors() -> None:
    with pytest.raises(ValueError, match="2D"):
        medwave.register(np.zeros((32, 32), np.float32), np.zeros((32, 32), np.float32), progress=False)
    bad = np.zeros((16, 16, 16), np.float32)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        medwave.register(bad, np.zeros((16, 16, 16), np.float32), progress=False)
    rng = np.random.default_rng(0)
    a, b = (rng.random((16, 16, 16), dtype=np.float32) for _ in range(2))
    with pytest.raises(ValueError, match="constant"):
        medwave.register(np.zeros((16, 16, 16), np.float32), b, progress=False)
    with pytest.raises(ValueError, match="too small"):
        medwave.register(a[:4], b[:4], progress=False)
    with pytest.raises(ValueError, match="fixed_seg"):
        medwave.register(a, b, fixed_seg=np.zeros((8, 8, 8)), progress=False)
    with pytest.raises(FileNotFoundError):
        medwave.register(a, b, weights="/nonexistent/w.pt", progress=False)
    with pytest.raises(ValueError, match="device"):
        medwave.register(a, b, device="cuda:7" if not torch.cuda.is_available() else "tpu", progress=False)
    with pytest.raises(TypeError):
        as_image(object(), name="fixed")


def test_network_weights_path_and_refinement(tmp_path) -> None:
    from medwave.networks import WiNet

    torch.manual_seed(0)
    net = WiNet(3, base_width=2)
    path = tmp_path / "w.pt"
    save_checkpoint(path, config=net.config, state_dict=net.state_dict())
    fixed, moving = _box_pair(1, (16, 16, 16))
    r1 = medwave.register(fixed, moving, weights=path, optimize=False, progress=False)
    assert r1.metrics["method"] == "winet" and "network_seconds" in r1.metrics
    r2 = medwave.register(fixed, moving, weights=path, optimize=True, iterations=(2, 2, 0, 0), progress=False)
    assert r2.metrics["method"] == "winet+instance_optimisation"


def test_affine_prealignment_recovers_a_shifted_object() -> None:
    from medwave.registration.synthetic import mni_atlas

    import torch.nn.functional as F

    atlas = mni_atlas()
    img = F.avg_pool3d(torch.as_tensor(atlas["image"])[None, None], 2)[0, 0].numpy()
    aff = np.diag([4.0, 4.0, 4.0, 1.0])
    moved = Image(img, aff.copy())
    moved.affine[:3, 3] = [6.0, -4.0, 3.0]  # the same anatomy, world-shifted
    res = medwave.register(Image(img, aff), moved, affine=True, iterations=(0, 5, 5, 0), progress=False)
    assert res.metrics["prealign"] == "affine"
    T = np.asarray(res.metrics["prealign_transform_ras"])
    assert np.allclose(T[:3, 3], [6.0, -4.0, 3.0], atol=1.5)
    assert np.abs(res.warped.array - img).mean() < 0.3 * np.abs(img).mean()


@pytest.mark.parametrize("similarity", ["lncc", "mi"])
def test_masks_restrict_the_similarity(similarity) -> None:
    fixed, moving = _box_pair()
    kw0 = {"iterations": ITS, "progress": False, "similarity": similarity, "smoothness": 0.5}
    free = medwave.register(fixed, moving, **kw0)
    assert np.abs(free.ddf.array).max() > 0.5
    corner = np.zeros(fixed.shape, np.float32)
    corner[:4, :4, :4] = 1  # nothing to match in there: the field has no reason to move
    for kw in ({"fixed_mask": corner}, {"moving_mask": corner}):
        res = medwave.register(fixed, moving, **kw0, **kw)
        if similarity == "lncc":
            assert np.abs(res.ddf.array).max() < 0.2 * np.abs(free.ddf.array).max(), kw
        else:  # MI's gradient is ~1e-7 there (its stabilisers), which Adam's normalised steps still follow a little
            assert np.abs(res.ddf.array).max() < 0.5 * np.abs(free.ddf.array).max(), kw
        assert res.metrics["fixed_mask"] == ("fixed_mask" in kw)
    inside = (fixed + moving > 0).astype(np.uint8)  # a mask covering the objects changes little
    res = medwave.register(fixed, moving, **kw0, fixed_mask=inside)
    assert res.ddf.array[6:8, 10:14, 10:14, 0].mean() < -0.5


@pytest.mark.parametrize("similarity", ["mi", "mind"])
def test_multimodal_similarities_register_an_inverted_contrast(similarity) -> None:
    fixed, moving = _box_pair()
    fixed_seg, moving_seg = (fixed > 0).astype(np.int16), (moving > 0).astype(np.int16)
    inverted = np.where(moving > 0, 1.2 - moving, 0.1).astype(np.float32)  # another "modality" of the same box
    res = medwave.register(fixed, inverted, iterations=(20, 20, 20, 0), similarity=similarity, moving_seg=moving_seg,
                           fixed_seg=fixed_seg, progress=False)
    m = res.metrics
    assert m["similarity"] == similarity
    assert m["dice_mean"] > m["dice_mean_before"] + 0.02 and m["folding_percent"] == 0.0


def test_similarity_defaults_apply_unless_given() -> None:
    from medwave.registration.api import DEFAULT_ITERATIONS, DEFAULT_SMOOTHNESS, SIMILARITY_DEFAULTS, similarity_settings

    mi = SIMILARITY_DEFAULTS["mi"]
    assert similarity_settings("mi") == {"iterations": mi["iterations"], "smoothness": mi["smoothness"],
                                         "options": mi["options"]}
    assert similarity_settings("lncc") == {"iterations": DEFAULT_ITERATIONS, "smoothness": DEFAULT_SMOOTHNESS,
                                           "options": {}}
    assert similarity_settings("mi", ITS, 0.2)["iterations"] == ITS
    assert similarity_settings("mi", ITS, 0.2)["smoothness"] == 0.2
    assert similarity_settings("mi", None, 0.0)["smoothness"] == 0.0  # 0 is a value, not "unset"
    fixed, moving = _box_pair()
    res = medwave.register(fixed, moving, iterations=ITS, similarity="mi", progress=False)
    assert res.metrics["smoothness"] == mi["smoothness"] and res.metrics["similarity_options"] == mi["options"]
    assert res.metrics["iterations"] == list(ITS)


def test_similarity_and_mask_errors() -> None:
    fixed, moving = _box_pair()
    with pytest.raises(ValueError, match="similarity 'ncc' is not known"):
        medwave.register(fixed, moving, similarity="ncc", progress=False)
    with pytest.raises(ValueError, match="empty"):
        medwave.register(fixed, moving, fixed_mask=np.zeros_like(fixed), progress=False)
    with pytest.raises(ValueError, match="grid"):
        medwave.register(fixed, moving, moving_mask=np.ones((8, 8, 8)), progress=False)
