"""Warping, scaling and squaring, Jacobian determinants and metrics against analytic references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medwave.networks.blocks.fields import identity_grid, integrate_velocity, jacobian_determinant, warp
from medwave.utils.compiled import NUMBA_AVAILABLE, set_compiled
from medwave.registration.losses import RegistrationLoss
from medwave.registration.metrics import (dice_per_label, field_metrics, folding_percent, hd95_per_label, sdlogj,
                                          warp_labels)


def _affine_field(A: np.ndarray, b: np.ndarray, shape=(10, 11, 12)) -> torch.Tensor:
    x = identity_grid(shape, dtype=torch.float64)
    A_t = torch.as_tensor(A - np.eye(3))
    u = torch.einsum("ij,j...->i...", A_t, x) + torch.as_tensor(b).view(3, 1, 1, 1)
    return u[None]


def test_jacobian_of_affine_field_is_det_A_everywhere() -> None:
    A = np.array([[1.1, 0.2, 0.0], [0.0, 0.9, 0.1], [0.05, 0.0, 1.2]])
    # by hand: 1.1 * (0.9 * 1.2 - 0.1 * 0) - 0.2 * (0 * 1.2 - 0.1 * 0.05) + 0 = 1.188 + 0.001
    expected = 1.189
    j = jacobian_determinant(_affine_field(A, np.array([1.0, -2.0, 0.5])))
    assert j.shape == (1, 10, 11, 12)
    assert torch.allclose(j, torch.full_like(j, expected), atol=1e-10)
    assert sdlogj(j) == pytest.approx(0.0, abs=1e-9)
    assert folding_percent(j) == 0.0


def test_reflection_folds_everywhere() -> None:
    A = np.diag([-1.0, 1.0, 1.0])  # x -> -x: det -1
    j = jacobian_determinant(_affine_field(A, np.zeros(3)))
    assert torch.allclose(j, torch.full_like(j, -1.0))
    assert folding_percent(j) == 100.0


def test_jacobian_of_local_bump_matches_hand_derivative() -> None:
    # u_x = a * sin(2 pi x / n): det = 1 + a * 2 pi / n * cos(2 pi x / n) (central differences ~ exact for small h)
    n, a = 64, 2.0
    x = torch.arange(n, dtype=torch.float64)
    u = torch.zeros(1, 3, n, 4, 4, dtype=torch.float64)
    u[:, 0] = (a * torch.sin(2 * np.pi * x / n)).view(n, 1, 1)
    j = jacobian_determinant(u)[0, 1:-1, 1, 1]
    ref = 1 + a * np.sin(2 * np.pi / n) * torch.cos(2 * np.pi * x[1:-1] / n)  # central difference of sin
    assert torch.allclose(j, ref, atol=1e-12)


def test_jacobian_2d() -> None:
    u = torch.zeros(1, 2, 5, 6)
    u[:, 1] = 0.5 * torch.arange(6.0)  # u_y = 0.5 y -> det 1.5
    assert torch.allclose(jacobian_determinant(u), torch.full((1, 5, 6), 1.5))


def test_warp_integer_translation_is_a_shift() -> None:
    img = torch.rand(1, 2, 12, 10, 8)
    ddf = torch.zeros(1, 3, 12, 10, 8)
    ddf[:, 0], ddf[:, 2] = 2.0, -1.0  # out(x) = img(x + 2, y, z - 1)
    out = warp(img, ddf)
    assert torch.allclose(out[:, :, :-2, :, 1:], img[:, :, 2:, :, :-1], atol=1e-5)


def test_scaling_and_squaring_of_constant_velocity_is_the_translation() -> None:
    v = torch.zeros(1, 3, 24, 24, 24)
    v[:, 1] = 1.5
    ddf = integrate_velocity(v, steps=7)
    inner = ddf[:, :, 4:-4, 4:-4, 4:-4]
    assert torch.allclose(inner[:, 1], torch.full_like(inner[:, 1], 1.5), atol=1e-4)
    assert inner[:, [0, 2]].abs().max() < 1e-6


def test_scaling_and_squaring_inverse() -> None:
    # exp(v) o exp(-v) = id for a smooth velocity (up to interpolation error)
    torch.manual_seed(0)
    x = identity_grid((32, 32, 32))
    v = torch.stack([1.5 * torch.sin(x[1] / 5), 1.0 * torch.cos(x[2] / 6), 1.2 * torch.sin(x[0] / 7)])[None]
    fwd, inv = integrate_velocity(v), integrate_velocity(-v)
    comp = inv + warp(fwd, inv)  # (phi o psi)(x) - x = u_psi(x) + u_phi(x + u_psi(x))
    assert comp[:, :, 6:-6, 6:-6, 6:-6].abs().max() < 0.05
    assert folding_percent(jacobian_determinant(fwd)) == 0.0


def test_dice_by_hand() -> None:
    a = np.zeros((4, 4, 4), int)
    b = np.zeros((4, 4, 4), int)
    a[:2], b[1:3] = 1, 1  # |A| = |B| = 32, overlap 16 -> 0.5 (the extra labels sit outside both)
    a[3, 3, 3], b[0, 0, 0] = 2, 3  # 2 only in a (Dice 0), 3 only in b (Dice 0)
    b[0, 0, 0] = 3
    d = dice_per_label(a, b)
    assert d[1] == pytest.approx(0.5)
    assert d[2] == 0.0 and d[3] == 0.0
    assert 0 not in d


def test_warp_labels_identity_and_translation() -> None:
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 5, size=(10, 9, 8)).astype(np.int16)
    zero = torch.zeros(1, 3, 10, 9, 8)
    assert np.array_equal(warp_labels(lab, zero), lab)
    assert np.array_equal(warp_labels(lab, zero, method="nearest"), lab)
    ddf = zero.clone()
    ddf[:, 0] = 1.0
    for method in ("linear", "nearest"):
        out = warp_labels(lab, ddf, method=method, chunk=2)
        assert out.dtype == lab.dtype
        assert np.array_equal(out[:-1], lab[1:])


def test_linear_label_warp_is_majority_vote() -> None:
    lab = np.zeros((8, 4, 4), np.int16)
    lab[4:] = 7
    ddf = torch.zeros(1, 3, 8, 4, 4)
    ddf[:, 0] = 0.4  # sampling 40% into the next voxel: voxel 3 stays 0, voxel 3.6 would be 7
    out = warp_labels(lab, ddf)
    assert out[3, 0, 0] == 0 and out[4, 0, 0] == 7
    ddf[:, 0] = 0.6
    assert warp_labels(lab, ddf)[3, 0, 0] == 7


def test_hd95_shifted_cube() -> None:
    a = np.zeros((20, 20, 20), int)
    b = np.zeros((20, 20, 20), int)
    a[5:10, 5:10, 5:10] = 1
    b[7:12, 5:10, 5:10] = 1  # shifted 2 voxels along x
    h = hd95_per_label(a, b, spacing=(2.0, 2.0, 2.0))
    assert h[1] == pytest.approx(4.0, abs=1e-6)


def test_field_metrics_keys() -> None:
    m = field_metrics(torch.zeros(1, 3, 6, 6, 6))
    assert m["folding_percent"] == 0.0 and m["sdlogj"] == 0.0 and m["jacdet_min"] == 1.0


def test_losses() -> None:
    x = torch.rand(1, 1, 16, 16, 16)
    zero = torch.zeros(1, 3, 16, 16, 16)
    total, parts = RegistrationLoss("lncc")(x, x, zero)
    assert float(total) == pytest.approx(-1.0, abs=1e-3)
    total, _ = RegistrationLoss("mse")(x, x, zero)
    assert float(total) == 0.0
    rough = torch.randn(1, 3, 16, 16, 16)
    t0, p0 = RegistrationLoss("lncc", smoothness=0.0)(x, x, rough)
    t1, p1 = RegistrationLoss("lncc", smoothness=2.0)(x, x, rough)
    assert float(t1 - t0) == pytest.approx(2.0 * float(p1["smoothness"]), rel=1e-5)
    assert float(p1["smoothness"]) > 0
    with pytest.raises(ValueError):
        RegistrationLoss("ncc")


@pytest.mark.parametrize("shape", [(1, 3, 19, 24, 17), (2, 3, 12, 16, 10), (1, 2, 30, 41)])
def test_integrate_velocity_equals_monai_dvf2ddf(shape) -> None:
    from monai.networks.blocks import DVF2DDF

    torch.manual_seed(0)
    x = identity_grid(shape[2:])
    v = torch.stack([(1.0 + i) * torch.sin(x[(i + 1) % len(shape[2:])] / (3 + i)) for i in range(shape[1])])[None]
    v = v.expand(shape[0], *v.shape[1:]) * torch.linspace(0.5, 1.5, shape[0]).view(-1, *([1] * (len(shape) - 1)))
    for steps in (4, 7):
        ref = DVF2DDF(num_steps=steps, mode="bilinear", padding_mode="zeros")(v)
        assert torch.allclose(integrate_velocity(v, steps=steps), ref, atol=1e-5)


@pytest.mark.parametrize("threads,shape", [(2, (1, 3, 19, 24, 17)), (3, (1, 3, 20, 9, 11)), (2, (1, 3, 8, 6, 5))])
def test_integrate_velocity_buffered_path_is_the_loop_bit_for_bit(threads, shape) -> None:
    """Without autograd, one 3D volume on >= 2 threads takes the in-buffer squaring: same bits as the loop
    (which autograd takes), same values as MONAI, velocity untouched; odd first axes need padding rows."""
    from monai.networks.blocks import DVF2DDF

    x = identity_grid(shape[2:])
    v = torch.stack([(1.0 + i) * torch.sin(x[(i + 1) % 3] / (3 + i)) for i in range(3)])[None]  # smooth
    v = v + 0.1 * torch.randn(shape, generator=torch.Generator().manual_seed(1))
    keep = v.clone()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    prev = set_compiled(False)  # the torch paths (with the compiled kernel on, no-grad 3D runs there)
    try:
        for steps in (1, 7):
            with torch.no_grad():
                fast = integrate_velocity(v, steps=steps)
            slow = integrate_velocity(v.clone().requires_grad_(), steps=steps).detach()
            assert torch.equal(fast, slow)
            ref = DVF2DDF(num_steps=steps, mode="bilinear", padding_mode="zeros")(v)
            assert torch.allclose(fast, ref, atol=1e-5)
    finally:
        torch.set_num_threads(before)
        set_compiled(prev)
    assert torch.equal(v, keep)


@pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba not installed")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape,amp", [((1, 3, 19, 24, 17), 1.0), ((2, 3, 8, 6, 5), 3.0), ((1, 3, 12, 2, 9), 6.0)])
def test_integrate_velocity_compiled_kernel_equals_monai(shape, amp, dtype) -> None:
    """No-grad 3D fields on the CPU take the numba kernel: MONAI's values to float rounding, including
    points carried outside the grid (amp 6 on 2-9 voxel axes), batches and float64; the input is untouched."""
    from monai.networks.blocks import DVF2DDF

    from medwave.networks.blocks import fields

    x = identity_grid(shape[2:])
    v = torch.stack([(amp + i) * torch.sin(x[(i + 1) % 3] / (3 + i)) for i in range(3)])[None]
    v = (v + 0.3 * torch.randn((shape[0],) + shape[1:], generator=torch.Generator().manual_seed(2))).to(dtype)
    keep = v.clone()
    assert fields._compiled_squaring(v, 7)
    for steps in (1, 7):
        with torch.no_grad():
            got = integrate_velocity(v, steps=steps)
        ref = DVF2DDF(num_steps=steps, mode="bilinear", padding_mode="zeros")(v)
        assert got.dtype == dtype and got.shape == v.shape
        assert torch.allclose(got, ref, atol=1e-5 if dtype == torch.float32 else 1e-10)
    assert torch.equal(v, keep)
    # a 1-voxel axis, autograd, or the switch off: the torch paths
    assert not fields._compiled_squaring(v[:, :, :, :1], 7)
    assert not fields._compiled_squaring(v.clone().requires_grad_(), 7)
    prev = set_compiled(False)
    try:
        assert not fields._compiled_squaring(v, 7)
    finally:
        set_compiled(prev)


def test_integrate_velocity_gradient_equals_monai() -> None:
    from monai.networks.blocks import DVF2DDF

    torch.manual_seed(0)
    v = (2 * torch.randn(1, 3, 14, 12, 16)).requires_grad_()
    g_ref, = torch.autograd.grad(DVF2DDF(num_steps=4, mode="bilinear", padding_mode="zeros")(v).square().sum(), v)
    g, = torch.autograd.grad(integrate_velocity(v, steps=4).square().sum(), v)
    assert torch.allclose(g, g_ref, atol=1e-4)


@pytest.mark.parametrize("mode,padding", [("bilinear", "border"), ("bilinear", "zeros"), ("nearest", "border")])
def test_warp_equals_monai_warp(mode, padding) -> None:
    from monai.networks.blocks import Warp

    torch.manual_seed(0)
    img = torch.rand(2, 2, 15, 18, 13)
    ddf = 3 * torch.randn(2, 3, 15, 18, 13)
    ref = Warp(mode=mode, padding_mode=padding)(img, ddf)
    assert torch.allclose(warp(img, ddf, mode=mode, padding_mode=padding), ref, atol=1e-5)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_grid_sample_parallel_equals_grid_sample(threads) -> None:
    from medwave.networks.blocks.fields import grid_sample_parallel

    torch.manual_seed(0)
    img = torch.rand(1, 3, 23, 9, 11, requires_grad=True)
    grid = (2.2 * torch.rand(1, 23, 9, 11, 3) - 1.1).requires_grad_()
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out = grid_sample_parallel(img, grid)
        g = torch.autograd.grad(out.sum(), (img, grid))
    finally:
        torch.set_num_threads(old)
    ref = torch.nn.functional.grid_sample(img, grid, align_corners=True)
    g_ref = torch.autograd.grad(ref.sum(), (img, grid))
    assert torch.equal(out, ref)
    assert torch.allclose(g[0], g_ref[0], atol=1e-5) and torch.allclose(g[1], g_ref[1], atol=1e-5)


@pytest.mark.parametrize("shape,window", [((1, 1, 20, 22, 18), 5), ((2, 2, 17, 20, 13), 9), ((1, 1, 30, 31), 7)])
def test_local_ncc_equals_monai(shape, window) -> None:
    from monai.losses import LocalNormalizedCrossCorrelationLoss

    from medwave.registration.losses import LocalNCC

    torch.manual_seed(0)
    a, b = torch.rand(shape, requires_grad=True), torch.rand(shape)
    ref = LocalNormalizedCrossCorrelationLoss(spatial_dims=len(shape) - 2, kernel_size=window, kernel_type="rectangular")
    r1, r2 = ref(a, b), LocalNCC(len(shape) - 2, window)(a, b)
    g1, = torch.autograd.grad(r1, a)
    g2, = torch.autograd.grad(r2, a)
    assert abs(float(r1 - r2)) < 1e-5
    assert torch.allclose(g1, g2, atol=1e-5)


def test_diffusion_loss_equals_monai() -> None:
    from monai.losses import DiffusionLoss

    from medwave.registration.losses import diffusion_loss

    torch.manual_seed(0)
    for f in (torch.randn(2, 3, 9, 10, 11), torch.randn(1, 2, 12, 13)):
        assert abs(float(DiffusionLoss()(f) - diffusion_loss(f))) < 1e-6


@pytest.mark.skipif(not NUMBA_AVAILABLE, reason="the compiled path needs numba")
def test_inverse_step_kernel_equals_warp_with_border_padding() -> None:
    from medwave.networks.blocks.fields import inverse_step

    g = torch.Generator().manual_seed(7)
    u = torch.randn(1, 3, 9, 8, 10, generator=g)
    inv = 3.0 * torch.randn(1, 3, 9, 8, 10, generator=g)  # many points outside: the edges are replicated
    pulled = warp(u, inv, padding_mode="border")
    norm = ((inv + pulled) ** 2).sum(1).sqrt()
    out, largest, mean = inverse_step(u, inv)
    assert torch.allclose(out, -pulled, atol=1e-5)
    assert largest == pytest.approx(float(norm.max()), rel=1e-5) and mean == pytest.approx(float(norm.mean()), rel=1e-5)
    prev = set_compiled(False)
    try:
        ref = inverse_step(u, inv)
    finally:
        set_compiled(prev)
    assert torch.equal(ref[0], -pulled) and ref[1] == pytest.approx(largest, rel=1e-5)


def test_load_field_kernels_loads_the_integration_kernel_or_reports_it_off() -> None:
    from medwave.networks.blocks.fields import load_field_kernels
    from medwave.utils.compiled import _MODULES, compiled_enabled, compiled_off

    assert load_field_kernels() == compiled_enabled()
    if compiled_enabled():
        assert "medwave.networks.blocks.kernels_numba" in _MODULES
    with compiled_off():
        assert load_field_kernels() is False


def test_register_times_the_network_load_apart_from_its_forward() -> None:
    import medwave

    x = np.zeros((32, 32, 32), np.float32)
    x[6:24, 7:25, 8:22] = 1.0
    m = medwave.register(np.roll(x, 1, 0), x, optimize=False, progress=False).metrics
    assert m["network_load_seconds"] > 0 and m["network_seconds"] > 0
    assert m["total_seconds"] >= m["network_load_seconds"] + m["network_seconds"]
    assert "network_load_seconds" not in medwave.register(np.roll(x, 1, 0), x, iterations=(0, 2, 2, 0),
                                                          progress=False).metrics
