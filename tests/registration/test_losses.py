"""Similarity terms against MONAI and hand-computed values: MI, MIND-SSC, masks."""

from __future__ import annotations

import math

import pytest
import torch
from monai.losses import GlobalMutualInformationLoss, LocalNormalizedCrossCorrelationLoss

from medwave.registration.losses import GlobalMutualInformation, LocalNCC, RegistrationLoss, mind_ssc


def _images(seed: int = 0, shape=(1, 1, 12, 10, 8)):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(shape, generator=g)
    b = (0.6 * a + 0.4 * torch.rand(shape, generator=g)).clamp(0, 1)
    return a, b


def test_mutual_information_equals_monai_and_its_gradient() -> None:
    a, b = _images()
    a.requires_grad_(True)
    ours = GlobalMutualInformation()(a, b)
    (ga,) = torch.autograd.grad(ours, a)
    a2 = a.detach().clone().requires_grad_(True)
    ref = GlobalMutualInformationLoss(kernel_type="gaussian")(a2, b)
    (gr,) = torch.autograd.grad(ref, a2)
    assert torch.allclose(ours, ref, atol=1e-6)
    assert torch.allclose(ga, gr, atol=1e-7, rtol=1e-4)


@pytest.mark.parametrize("num_bins", [23, 32])
def test_mutual_information_bspline_equals_monai_and_its_gradient(num_bins) -> None:
    # MONAI's "b-spline" kernel (Mattes: cubic window for pred, box window for target), computed densely there and
    # by a scatter-add of 4 x 2 bins per voxel here; a batch of two checks the per-sample histograms
    a, b = _images(4, shape=(2, 1, 12, 10, 8))
    a.requires_grad_(True)
    ours = GlobalMutualInformation(num_bins, kernel="bspline")(a, b)
    (ga,) = torch.autograd.grad(ours, a)
    a2 = a.detach().clone().requires_grad_(True)
    ref = GlobalMutualInformationLoss(kernel_type="b-spline", num_bins=num_bins)(a2, b)
    (gr,) = torch.autograd.grad(ref, a2)
    assert torch.allclose(ours, ref, atol=1e-6)
    assert torch.allclose(ga, gr, atol=1e-7, rtol=1e-4)
    assert float(gr.abs().max()) > 1e-3  # a gradient to compare


def test_mutual_information_bspline_weight_and_bad_options() -> None:
    a, b = _images(5)
    w = torch.rand(a.shape, generator=torch.Generator().manual_seed(6))
    w[..., :6, :, :] = 0.0
    mi = GlobalMutualInformation(32, kernel="bspline")
    # reference: MONAI's dense Parzen weights, each voxel counted by its weight in the joint histogram
    monai_mi = GlobalMutualInformationLoss(kernel_type="b-spline", num_bins=32)
    wa, _ = monai_mi.parzen_windowing_b_spline(a, order=3)
    wb, _ = monai_mi.parzen_windowing_b_spline(b, order=0)
    v = w.reshape(1, -1, 1)
    pab = torch.bmm((wa * v).transpose(1, 2), wb) / v.sum()
    pa, pb = pab.sum(2, keepdim=True), pab.sum(1, keepdim=True)
    ref = -(pab * torch.log((pab + 1e-7) / (pa * pb + 1e-7) + 1e-7)).sum()
    masked = mi(a, b, w)
    assert torch.allclose(masked, ref, atol=1e-6)
    assert not torch.allclose(masked, mi(a, b), atol=1e-4)
    with pytest.raises(ValueError, match="kernel"):
        GlobalMutualInformation(kernel="parzen")
    with pytest.raises(ValueError, match="num_bins"):
        GlobalMutualInformation(4, kernel="bspline")


def test_mutual_information_hand_computed_two_level_images() -> None:
    # two intensities on bin centres, exactly half the voxels each: with very narrow windows the joint histogram
    # of an image with itself is diag(1/2, 1/2) -> MI = log 2; with an independent image MI = 0
    a = torch.zeros(1, 1, 4, 4, 4)
    a[..., :2, :, :] = 1.0
    b = torch.zeros(1, 1, 4, 4, 4)
    b[..., :, :2, :] = 1.0
    mi = GlobalMutualInformation(num_bins=2, sigma_ratio=0.05)
    assert float(-mi(a, a)) == pytest.approx(math.log(2), abs=1e-5)
    assert float(-mi(a, b)) == pytest.approx(0.0, abs=1e-5)
    # an inverted copy carries the same information (what makes MI multimodal)
    assert float(-mi(1 - a, a)) == pytest.approx(math.log(2), abs=1e-5)


def test_mutual_information_weight_counts_only_masked_voxels() -> None:
    a, b = _images(1)
    w = torch.zeros_like(a)
    w[..., :6, :, :] = 1.0
    mi = GlobalMutualInformation()
    masked = mi(a, b, w)
    cropped = mi(a[..., :6, :, :].contiguous(), b[..., :6, :, :].contiguous())
    assert torch.allclose(masked, cropped, atol=1e-6)
    assert not torch.allclose(masked, mi(a, b), atol=1e-4)


def test_lncc_weight_is_the_weighted_mean_of_monai_free_map() -> None:
    a, b = _images(2)
    ncc = LocalNCC(3, 5)
    ref = LocalNormalizedCrossCorrelationLoss(spatial_dims=3, kernel_size=5, kernel_type="rectangular")(a, b)
    assert torch.allclose(ncc(a, b), ref, atol=1e-5)
    assert torch.allclose(ncc(a, b, torch.ones_like(a)), ref, atol=1e-5)
    w = torch.zeros_like(a)
    w[..., 3:8, 2:7, 2:6] = 1.0
    assert not torch.allclose(ncc(a, b, w), ref, atol=1e-3)


def test_mind_ssc_hand_computed_and_modality_invariant() -> None:
    x = torch.zeros(1, 1, 16, 16, 16)
    x[..., 8:, :, :] = 1.0  # a step along the first axis
    d = mind_ssc(x, radius=1, dilation=1)
    assert d.shape == (1, 12, 16, 16, 16)
    assert float(d.max()) == pytest.approx(1.0) and float(d.min()) >= 0.0
    # far from the edge every patch distance is 0 -> all descriptors equal 1
    assert torch.allclose(d[..., 2, 8, 8], torch.ones(12))
    # an affine change of intensities (a "different modality" here) leaves MIND unchanged
    assert torch.allclose(mind_ssc(0.3 - 2.0 * x, radius=1, dilation=1), d, atol=1e-5)
    # a constant image has equal (all-one) descriptors
    assert torch.allclose(mind_ssc(torch.full((1, 1, 8, 8, 8), 0.5)), torch.ones(1, 12, 8, 8, 8))


@pytest.mark.parametrize("name", ["lncc", "mse", "mi", "mind"])
def test_registration_loss_similarities_prefer_the_aligned_image(name) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.nn.functional.avg_pool3d(torch.rand(1, 1, 20, 20, 20, generator=g), 3, 1, 1)
    x = (x - x.min()) / (x.max() - x.min())
    other = 1.0 - x if name in ("mi", "mind") else x  # the multimodal ones see through an inverted contrast
    loss = RegistrationLoss(name, window=5, smoothness=0.0)
    aligned = float(loss(other, x, torch.zeros(1, 3, 20, 20, 20))[0])
    shifted = float(loss(torch.roll(other, 2, 2), x, torch.zeros(1, 3, 20, 20, 20))[0])
    assert aligned < shifted


def test_mind_similarity_reuses_the_fixed_descriptors_only_for_the_same_tensor() -> None:
    a, b = _images(7, shape=(1, 1, 12, 12, 12))
    loss = RegistrationLoss("mind", smoothness=0.0, mind_radius=1, mind_dilation=1)
    direct = ((mind_ssc(b, radius=1, dilation=1) - mind_ssc(a, radius=1, dilation=1)) ** 2).mean()
    assert torch.allclose(loss.similarity(b, a), direct)
    assert torch.allclose(loss.similarity(b, a), direct)  # second call: the cached descriptors of a
    other = a.flip(2)  # a new fixed tensor is described anew
    direct2 = ((mind_ssc(b, radius=1, dilation=1) - mind_ssc(other, radius=1, dilation=1)) ** 2).mean()
    assert torch.allclose(loss.similarity(b, other), direct2)
    assert not torch.allclose(direct, direct2)
    # a fixed image that needs a gradient is never cached (and gets its gradient)
    fx = a.clone().requires_grad_(True)
    loss.similarity(b, fx).backward()
    assert fx.grad is not None and float(fx.grad.abs().sum()) > 0


def test_registration_loss_similarity_options() -> None:
    a, b = _images(8)
    mi = RegistrationLoss("mi", smoothness=0.0, num_bins=32, mi_kernel="bspline")
    ref = GlobalMutualInformationLoss(kernel_type="b-spline", num_bins=32)(b, a)
    assert torch.allclose(mi.similarity(b, a), ref, atol=1e-6)
    with pytest.raises(ValueError, match="mind_dilation"):
        RegistrationLoss("mind", mind_dilation=0)


def test_registration_loss_rejects_unknown_similarity() -> None:
    with pytest.raises(ValueError, match="lncc, mse, mi, mind"):
        RegistrationLoss("ncc")
