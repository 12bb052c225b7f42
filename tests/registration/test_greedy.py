"""The compiled greedy LNCC scheme: its kernels against torch / MONAI / scipy references, and what it recovers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medwave.networks.blocks.fields import warp
from medwave.registration.greedy import (_smooth, gaussian_kernel, greedy_iterations, greedy_lncc, lncc_gradient,
                                        seed_scale)
from medwave.registration.losses import LocalNCC
from medwave.utils.compiled import NUMBA_AVAILABLE, load_kernels, parallel_call

pytestmark = pytest.mark.skipif(not NUMBA_AVAILABLE, reason="the greedy scheme's kernels need numba")

K = "medwave.networks.blocks.kernels_lncc"


def _pair(shape=(12, 13, 11), seed=0):
    g = torch.Generator().manual_seed(seed)
    f = torch.rand(1, 1, *shape, generator=g, dtype=torch.float64)
    m = 0.6 * f + 0.4 * torch.rand(1, 1, *shape, generator=g, dtype=torch.float64)
    u = 0.8 * torch.randn(1, 3, *shape, generator=g, dtype=torch.float64)
    return f, m, u


@pytest.mark.parametrize("radius", [1, 2])
def test_lncc_gradient_equals_autograd_of_the_torch_lncc(radius) -> None:
    f, m, u = _pair()
    val, g = lncc_gradient(f.float(), m.float(), u.float(), radius=radius)
    uu = u.clone().requires_grad_(True)
    loss = LocalNCC(3, 2 * radius + 1)(warp(m, uu, padding_mode="border"), f)
    loss.backward()
    # the kernels sample float32 images; the reference runs in float64
    assert val == pytest.approx(-float(loss.detach()), abs=1e-5)
    ref = -uu.grad
    assert float((g.double() - ref).abs().max()) < 1e-4 * float(ref.abs().max())


def test_lncc_value_equals_monai() -> None:
    from monai.losses import LocalNormalizedCrossCorrelationLoss

    f, m, _ = _pair((10, 9, 12), seed=1)
    val, _ = lncc_gradient(f.float(), m.float(), torch.zeros(1, 3, 10, 9, 12), radius=2)
    ref = LocalNormalizedCrossCorrelationLoss(spatial_dims=3, kernel_size=5, kernel_type="rectangular")(m, f)
    assert val == pytest.approx(-float(ref), abs=1e-5)


def test_box_sums_equal_a_zero_padded_window_sum() -> None:
    x = torch.rand(2, 7, 9, 6, generator=torch.Generator().manual_seed(2))
    kern = load_kernels(K)
    out = np.empty(x.shape, np.float64)
    parallel_call(kern.box_sums, x.numpy(), np.empty_like(out), out, 2)
    ref = torch.nn.functional.avg_pool3d(x.double()[None], 5, stride=1, padding=2, count_include_pad=True)[0] * 125
    assert np.allclose(out, ref.numpy(), atol=1e-10)


def test_smoothing_equals_scipy_gaussian_filter() -> None:
    from scipy.ndimage import gaussian_filter

    x = np.random.default_rng(3).random((3, 9, 8, 10)).astype(np.float32)
    ref = np.stack([gaussian_filter(c.astype(np.float64), 1.0, mode="nearest", truncate=2.0) for c in x])
    assert len(gaussian_kernel(1.0)) == 5
    out = _smooth(x.copy(), 1.0, np.empty_like(x))
    assert np.allclose(out, ref, atol=1e-5)


def test_compose_equals_warping_the_field() -> None:
    _, _, u = _pair((8, 9, 7), seed=4)
    s = 0.5 * torch.flip(u, (2,))
    kern = load_kernels(K)
    out = np.empty((3, 8, 9, 7), np.float32)
    parallel_call(kern.compose, u[0].float().numpy().copy(), s[0].float().numpy().copy(), out)
    ref = s + warp(u, s, padding_mode="border")  # (id + u) o (id + s)
    assert np.allclose(out, ref[0].numpy(), atol=1e-5)


def test_greedy_recovers_a_shift_without_folding() -> None:
    from medwave.networks.blocks.fields import jacobian_determinant

    g = torch.Generator().manual_seed(5)
    base = torch.nn.functional.avg_pool3d(torch.rand(1, 1, 40, 40, 40, generator=g), 5, stride=1, padding=2)
    fixed = base[:, :, 4:36, 4:36, 4:36]
    moving = base[:, :, 2:34, 4:36, 4:36]  # moving(x) = fixed(x - 2 e0)  ->  u = +2 along axis 0
    ddf, info = greedy_lncc(fixed, moving, iterations=(30, 30, 20), progress=False)
    inner = ddf[0, :, 8:24, 8:24, 8:24]
    assert float(inner[0].median()) == pytest.approx(2.0, abs=0.25)
    assert float(inner[1:].abs().median()) < 0.25
    assert float(jacobian_determinant(ddf).min()) > 0
    before = lncc_gradient(fixed, moving, torch.zeros_like(ddf))[0]
    after = lncc_gradient(fixed, moving, ddf)[0]
    assert after > before + 0.2 and info["similarity_history"][0][-1] == pytest.approx(after, abs=0.02)


def test_greedy_iterations_split() -> None:
    assert greedy_iterations(None) == (0, 30, 30, 15)
    assert greedy_iterations(120) == (0, 48, 48, 24)
    assert greedy_iterations((0, 5, 4, 3)) == (0, 5, 4, 3)
    # from a network's field: no 1/4 level, a total split 4:3 over 1/2 and full resolution
    assert greedy_iterations(None, seeded=True) == (0, 0, 20, 15)
    assert greedy_iterations(70, seeded=True) == (0, 0, 40, 30)
    assert greedy_iterations((0, 5, 4, 3), seeded=True) == (0, 5, 4, 3)


def test_register_from_a_network_uses_the_seeded_schedule() -> None:
    import medwave

    x = np.zeros((32, 32, 32), np.float32)
    x[6:24, 7:25, 8:22] = 1.0
    seeded = medwave.register(np.roll(x, 1, 0), x, weights="default", progress=False)
    assert seeded.metrics["optimizer"] == "greedy" and seeded.metrics["iterations"] == [0, 0, 20, 15]
    assert medwave.register(np.roll(x, 1, 0), x, progress=False).metrics["iterations"] == [0, 30, 30, 15]
    given = medwave.register(np.roll(x, 1, 0), x, weights="default", iterations=14, progress=False)
    assert given.metrics["iterations"] == [0, 0, 8, 6]


@pytest.mark.parametrize("iterations,expected", [((0, 0, 20, 15), 2), ((0, 30, 30, 15), 2), ((0, 0, 0, 15), 1),
                                                 ((5, 0), 2), ((0, 5), 1), ((0, 0, 0, 0), 1), ((3,), 1)])
def test_seed_scale_is_the_first_running_level_capped_at_one_half(iterations, expected) -> None:
    assert seed_scale(iterations) == expected


def test_a_start_on_a_coarser_grid_is_read_in_its_own_voxels() -> None:
    """A constant start of 0.75 voxel on the 1/2 grid is 1.5 voxels on the full grid, whichever level reads it."""
    f = torch.rand(1, 1, 17, 16, 15, generator=torch.Generator().manual_seed(0))
    half = torch.zeros(1, 3, 9, 8, 8)
    half[:, 1] = 0.75
    ddf, _ = greedy_lncc(f, f, iterations=(0, 0), init_ddf=half, progress=False, border=0)
    assert ddf.shape == (1, 3, 17, 16, 15)
    assert torch.allclose(ddf[:, 1], torch.full_like(ddf[:, 1], 0.75 * 16 / 8), atol=1e-6)
    assert torch.allclose(ddf[:, [0, 2]], torch.zeros_like(ddf[:, [0, 2]]))
    # the images are equal, so the optimisation from the start should not run away from it
    ran, _ = greedy_lncc(f, f, iterations=(2, 2), init_ddf=half, progress=False, border=0)
    assert ran.shape == (1, 3, 17, 16, 15) and torch.isfinite(ran).all()


def test_the_callback_sees_every_iteration_and_its_time_is_left_out() -> None:
    import time

    f, m, _ = _pair((16, 16, 16))
    seen = []

    def cb(k, i, u):
        seen.append((k, i, u.shape))
        time.sleep(0.01)

    _, info = greedy_lncc(f.float(), m.float(), iterations=(3, 2), progress=False, callback=cb)
    assert seen == [(1, 0, (3, 8, 8, 8)), (1, 1, (3, 8, 8, 8)), (1, 2, (3, 8, 8, 8)),
                    (0, 0, (3, 16, 16, 16)), (0, 1, (3, 16, 16, 16))]
    assert info["callback_seconds"] >= 0.05


def test_register_seeds_from_the_network_field_at_the_first_level_grid() -> None:
    """From the network, the greedy default starts at 1/2 resolution, so the forward stops there; a schedule that
    starts at full resolution takes the full forward, and the network alone always does."""
    import medwave

    x = np.zeros((32, 32, 32), np.float32)
    x[6:24, 7:25, 8:22] = 1.0
    assert medwave.register(np.roll(x, 1, 0), x, weights="default", progress=False).metrics["network_grid_scale"] == 2
    full = medwave.register(np.roll(x, 1, 0), x, weights="default", iterations=(0, 0, 0, 3), progress=False)
    assert full.metrics["network_grid_scale"] == 1
    alone = medwave.register(np.roll(x, 1, 0), x, weights="default", optimize=False, progress=False)
    assert alone.metrics["network_grid_scale"] == 1
    assert medwave.register(np.roll(x, 1, 0), x, progress=False).metrics["network_grid_scale"] is None


def test_register_uses_greedy_for_lncc_and_rejects_it_for_mi() -> None:
    import medwave

    x = np.zeros((24, 24, 24), np.float32)
    x[6:18, 7:17, 8:16] = 1.0
    res = medwave.register(np.roll(x, 1, 0), x, iterations=(0, 10, 10, 5), progress=False)
    assert res.metrics["optimizer"] == "greedy" and res.metrics["folding_percent"] == 0.0
    with pytest.raises(ValueError, match="optimizer 'greedy'"):
        medwave.register(x, x, similarity="mi", optimizer="greedy", progress=False)
    with pytest.raises(ValueError, match="optimizer 'adam'"):
        medwave.register(x, x, optimizer="adam", progress=False)
