"""Instance optimisation of wavelet coefficients: exact pyramid, recovery of a known deformation, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from medwave.networks.blocks.fields import integrate_velocity, jacobian_determinant, warp
from medwave.registration.instance import WaveletField, border_ramp, default_iterations, optimize_pair
from medwave.registration.metrics import folding_percent
from medwave.registration.synthetic import mni_atlas, random_velocity


def test_wavelet_field_decomposition_is_exact() -> None:
    torch.manual_seed(0)
    f = torch.randn(1, 3, 16, 24, 8)
    wf = WaveletField((16, 24, 8), 3, init=f)
    assert torch.allclose(wf.field(0), f, atol=1e-5)
    # the coarsest level holds the block averages (haar, full-resolution units)
    assert torch.allclose(wf.field(3), F.avg_pool3d(f, 8), atol=1e-5)
    wf.set_field(F.avg_pool3d(f, 2), 1)  # only levels >= 2 carry it, level-1 high bands are zero
    assert torch.allclose(wf.field(1), F.avg_pool3d(f, 2), atol=1e-5)
    assert float(wf.high[0].abs().max()) == 0.0
    with pytest.raises(ValueError, match="divisible"):
        WaveletField((10, 16, 16), 3)


def test_border_ramp() -> None:
    r = border_ramp((9, 9, 9), 4.0)
    assert r.shape == (1, 1, 9, 9, 9)
    assert float(r[0, 0, 0].max()) == 0.0 and float(r[0, 0, 4, 4, 4]) == 1.0


def test_default_iterations() -> None:
    assert default_iterations(3, 120) == (60, 60, 0, 0)
    assert len(default_iterations(2, 100)) == 3


@pytest.fixture(scope="module")
def known_pair():
    """The MNI152 template at 4 mm, warped by a known smooth diffeomorphism."""
    atlas = mni_atlas()
    moving = F.avg_pool3d(torch.as_tensor(atlas["image"])[None, None], 2)  # 49 x 58 x 47
    g = torch.Generator().manual_seed(5)
    v = random_velocity(moving.shape[2:], g, amplitude=3.0, control_spacing=8, sigma=2.0)
    true = integrate_velocity(v)
    fixed = warp(moving, true)
    brain = F.avg_pool3d(torch.as_tensor((atlas["labels"] > 0).astype(np.float32))[None, None], 2)[0, 0] > 0.5
    return fixed, moving, true, brain


def test_recovers_a_known_deformation(known_pair) -> None:
    fixed, moving, true, brain = known_pair
    ddf, info = optimize_pair(fixed, moving, levels=2, iterations=(40, 60, 0), progress=False)
    before = float(((moving - fixed) ** 2)[0, 0][brain].mean())
    after = float(((warp(moving, ddf) - fixed) ** 2)[0, 0][brain].mean())
    assert after < 0.4 * before, (before, after)
    est, ref = ddf[0][:, brain].numpy().ravel(), true[0][:, brain].numpy().ravel()
    corr = np.corrcoef(est, ref)[0, 1]
    assert corr > 0.7, corr
    assert np.abs(est - ref).mean() < 0.7 * np.abs(ref).mean()
    assert folding_percent(jacobian_determinant(ddf)) == 0.0
    assert info["loss_history"][1][-1] < info["loss_history"][1][0]


def test_same_seed_same_field_and_init_is_used(known_pair) -> None:
    fixed, moving, true, _ = known_pair
    a, _ = optimize_pair(fixed, moving, levels=2, iterations=(5, 5, 0), progress=False, seed=3)
    b, _ = optimize_pair(fixed, moving, levels=2, iterations=(5, 5, 0), progress=False, seed=3)
    assert torch.equal(a, b)
    # starting from the true velocity with no steps returns (nearly) the true field, up to the border ramp
    g = torch.Generator().manual_seed(5)
    v = random_velocity(moving.shape[2:], g, amplitude=3.0, control_spacing=8, sigma=2.0)
    c, _ = optimize_pair(fixed, moving, levels=2, iterations=(0, 0, 0), init_field=v, progress=False, border=0.0)
    assert torch.allclose(c, true, atol=1e-4)


def test_errors() -> None:
    x = torch.rand(1, 1, 16, 16, 16)
    with pytest.raises(ValueError, match="same grid"):
        optimize_pair(x, torch.rand(1, 1, 16, 16, 8))
    with pytest.raises(ValueError, match="levels"):
        optimize_pair(x, x, iterations=(1, 2))


def test_loop_threads_restored_and_fine_similarity_variants(known_pair) -> None:
    fixed, moving, _, _ = known_pair
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for fine in ("all", "last", False):
            ddf, info = optimize_pair(fixed, moving, levels=2, iterations=(3, 3, 0), fine_similarity=fine,
                                      progress=False, loop_threads=1)
            assert ddf.shape == (1, 3) + tuple(fixed.shape[2:]) and torch.isfinite(ddf).all()
            assert torch.get_num_threads() == 2  # the loop's 1 thread is undone afterwards
    finally:
        torch.set_num_threads(old)


def test_adam_equals_torch_adam_and_does_not_import_dynamo() -> None:
    import subprocess
    import sys

    from medwave.registration.instance import Adam

    g = torch.Generator().manual_seed(0)
    target = torch.randn(3, 4, generator=g)
    a = torch.zeros(3, 4, requires_grad=True)
    b = torch.zeros(3, 4, requires_grad=True)
    ours, ref = Adam([a], lr=0.1), torch.optim.Adam([b], lr=0.1)
    for _ in range(20):
        for p, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            ((p - target) ** 4).sum().backward()
            opt.step()
    assert torch.allclose(a, b, atol=1e-6) and not torch.allclose(a, torch.zeros(3, 4))
    code = ("import sys, torch; from medwave.registration.instance import optimize_pair; "
            "optimize_pair(torch.rand(1, 1, 16, 16, 16), torch.rand(1, 1, 16, 16, 16), iterations=(2, 2, 0, 0), "
            "progress=False); print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")
