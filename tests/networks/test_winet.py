"""WiNet: parameter count, shapes, no full-resolution convolution, variants, checkpoints."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from medwave.networks import WiNet
from medwave.networks.checkpoint import save_checkpoint


def _monai_integrate(net: WiNet, field: torch.Tensor) -> torch.Tensor:
    """The reference integration: MONAI's DVF2DDF with WiNet's step count (or the field itself)."""
    from monai.networks.blocks import DVF2DDF

    if not net.diffeomorphic:
        return field
    return DVF2DDF(num_steps=net.integration_steps, mode="bilinear", padding_mode="zeros")(field)


def _count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _use_plain_haar(net: WiNet) -> None:
    """Make ``net`` transform with the plain Haar functions instead of the core layers (a reference)."""
    from medwave.networks.winet import haar_dwt, haar_idwt

    net._dwt = lambda x: haar_dwt(x, 3)
    net._idwt = lambda low, high: haar_idwt(low.contiguous(), high.contiguous(), 3)


def test_parameter_count_matches_paper() -> None:
    # the paper reports about 1.42 M parameters for base width 8
    n = _count(WiNet(spatial_dims=3, base_width=8))
    assert abs(n - 1.42e6) / 1.42e6 < 0.01, n


def test_width_scales_parameters() -> None:
    assert _count(WiNet(3, base_width=4)) < _count(WiNet(3, base_width=8)) / 3


@pytest.mark.parametrize("diffeomorphic", [True, False])
def test_any_size_in_same_size_out(diffeomorphic: bool) -> None:
    torch.manual_seed(0)
    net = WiNet(3, diffeomorphic=diffeomorphic, base_width=2)
    m, f = torch.rand(2, 1, 19, 24, 17), torch.rand(2, 1, 19, 24, 17)
    ddf = net(m, f)
    assert ddf.shape == (2, 3, 19, 24, 17)
    assert torch.isfinite(ddf).all()


def test_initial_field_is_near_zero() -> None:
    torch.manual_seed(0)
    ddf = WiNet(3, base_width=2)(torch.rand(1, 1, 32, 32, 32), torch.rand(1, 1, 32, 32, 32))
    assert float(ddf.abs().max()) < 1e-2


def test_no_convolution_at_full_resolution() -> None:
    net = WiNet(3, base_width=2)
    x = torch.rand(1, 1, 32, 32, 32)
    seen = []
    for mod in net.modules():
        if isinstance(mod, (nn.Conv3d, nn.ConvTranspose3d)):
            mod.register_forward_hook(lambda m, inp, out: seen.append((tuple(inp[0].shape[2:]), tuple(out.shape[2:]))))
    net(x, x)
    assert seen
    assert all(max(i) <= 16 and max(o) <= 16 for i, o in seen), seen


def test_coefficient_heads_have_the_paper_channel_counts() -> None:
    net = WiNet(3, base_width=8)
    assert net.head8.conv.out_channels == 24  # LLL + 7 high bands of a 3-component field
    assert net.head4.conv.out_channels == 21 and net.head2.conv.out_channels == 21
    assert net.refine4.body[0].conv.groups == 7
    assert [net.enc1[0].conv.out_channels, net.enc2[0].conv.out_channels, net.enc3[0].conv.out_channels,
            net.enc4[0].conv.out_channels] == [32, 32, 64, 64]
    assert net.enc1[0].conv.in_channels == 16  # 8 subbands of moving + 8 of fixed


def test_non_diffeomorphic_output_is_the_field() -> None:
    torch.manual_seed(1)
    net = WiNet(3, diffeomorphic=False, base_width=2)
    for p in net.parameters():  # make the output non-trivial
        nn.init.normal_(p, 0, 0.1) if p.ndim > 1 else None
    m, f = torch.rand(1, 1, 32, 32, 16), torch.rand(1, 1, 32, 32, 16)
    assert torch.allclose(net(m, f), net.predict_field(m, f))


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    net = WiNet(3, base_width=2)
    m, f = torch.rand(1, 1, 16, 16, 16), torch.rand(1, 1, 16, 16, 16)
    net(m, f).square().sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing


def test_db4_and_2d() -> None:
    assert WiNet(3, "db4", base_width=2)(torch.rand(1, 1, 16, 16, 16), torch.rand(1, 1, 16, 16, 16)).shape == (1, 3, 16, 16, 16)
    assert WiNet(2, base_width=2)(torch.rand(1, 1, 30, 20), torch.rand(1, 1, 30, 20)).shape == (1, 2, 30, 20)


def test_errors() -> None:
    net = WiNet(3, base_width=2)
    with pytest.raises(ValueError, match="same shape"):
        net(torch.rand(1, 1, 16, 16, 16), torch.rand(1, 1, 16, 16, 8))
    with pytest.raises(ValueError, match="expects"):
        net(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError):
        WiNet(1)


def test_checkpoint_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    net = WiNet(3, base_width=2, diffeomorphic=False)
    path = tmp_path / "w.pt"
    save_checkpoint(path, config=net.config, state_dict=net.state_dict())
    net2 = WiNet.from_checkpoint(path)
    x = torch.rand(1, 1, 16, 16, 16)
    assert torch.equal(net(x, x), net2(x, x))
    torch.save({"foo": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a WiNet checkpoint"):
        WiNet.from_checkpoint(tmp_path / "bad.pt")


@pytest.mark.parametrize("d,shape", [(3, (2, 3, 8, 10, 6)), (2, (2, 3, 8, 12))])
def test_fast_haar_equals_dwt_layers(d, shape) -> None:
    from medwave.networks.winet import haar_dwt, haar_idwt
    from medwave.wavelets import DWT, IDWT

    x = torch.randn(*shape, dtype=torch.float64)
    low, high = DWT(d, "haar")(x)
    low2, high2 = haar_dwt(x, d)
    assert torch.allclose(low, low2, atol=1e-12) and torch.allclose(high, high2, atol=1e-12)
    assert torch.allclose(haar_idwt(low, high, d), IDWT(d, "haar")(low, high), atol=1e-12)
    assert torch.allclose(haar_idwt(low2, high2, d), x, atol=1e-12)


def test_fast_path_gives_the_reference_computation() -> None:
    """Core DWT/IDWT layers (butterfly path) + channels-last convolutions + fast integration = the plain
    Haar butterflies + DVF2DDF."""
    torch.manual_seed(0)
    net = WiNet(3, base_width=2).eval()
    for mod in net.modules():
        if isinstance(mod, nn.Conv3d):
            nn.init.normal_(mod.weight, 0.0, 0.05)
    m, f = torch.rand(1, 1, 40, 48, 36), torch.rand(1, 1, 40, 48, 36)
    with torch.no_grad():
        fast = net(m, f)
        _use_plain_haar(net)
        mp, spatial = net._pad(m)
        fp, _ = net._pad(f)
        ref = _monai_integrate(net, net.predict_field(mp, fp))[:, :, :40, :48, :36]
    assert fast.abs().max() > 0.1
    assert torch.allclose(fast, ref, atol=1e-4)


@pytest.mark.parametrize("grad", [False, True])
def test_first_block_norm_on_channels_last_equals_the_monai_block(grad: bool) -> None:
    """enc1[0] computed channels-last (own instance norm) = MONAI's Convolution block, values and gradients."""
    torch.manual_seed(0)
    net = WiNet(3, base_width=2)
    nn.init.normal_(net.enc1[0].conv.weight, 0.0, 0.2)
    x = torch.randn(1, 16, 10, 12, 14).contiguous(memory_format=torch.channels_last_3d)
    x_a, x_b = x.clone().requires_grad_(grad), x.clone().requires_grad_(grad)
    with torch.set_grad_enabled(grad):
        a, b = net._first_block(x_a), net.enc1[0](x_b)
    assert a.is_contiguous(memory_format=torch.channels_last_3d)
    assert b.abs().max() > 0.5 and torch.allclose(a, b, atol=1e-5)
    if grad:
        w = torch.randn_like(b)
        ga = torch.autograd.grad((a * w).sum(), [x_a, net.enc1[0].conv.weight])
        gb = torch.autograd.grad((b * w).sum(), [x_b, net.enc1[0].conv.weight])
        for u, v in zip(ga, gb):
            assert torch.allclose(u, v, atol=1e-4, rtol=1e-4)


def test_shipped_weights_load_and_predict() -> None:
    from medwave.registration.api import DEFAULT_WEIGHTS

    net = WiNet.from_checkpoint(DEFAULT_WEIGHTS).eval()
    torch.manual_seed(0)
    m, f = torch.rand(1, 1, 33, 40, 30), torch.rand(1, 1, 33, 40, 30)
    with torch.no_grad():
        fast = net(m, f)
        _use_plain_haar(net)
        mp, _ = net._pad(m)
        fp, _ = net._pad(f)
        ref = _monai_integrate(net, net.predict_field(mp, fp))[:, :, :33, :40, :30]
    assert torch.isfinite(fast).all() and torch.allclose(fast, ref, atol=1e-4)


@pytest.mark.parametrize("scale", [2, 4])
def test_a_coarser_field_is_the_block_average_of_the_full_one(scale: int) -> None:
    """``predict_field(scale=s)`` stops at the field the decoder rebuilds on the s-times coarser grid; the Haar IDWT
    keeps each block's mean in its low band, so it equals the full field averaged over s**3 blocks (the shipped
    weights, random images)."""
    from medwave.registration.api import DEFAULT_WEIGHTS

    net = WiNet.from_checkpoint(DEFAULT_WEIGHTS).eval()
    g = torch.Generator().manual_seed(1)
    m, f = torch.rand(1, 1, 32, 48, 32, generator=g), torch.rand(1, 1, 32, 48, 32, generator=g)
    with torch.no_grad():
        full = net.predict_field(m, f)
        coarse = net.predict_field(m, f, scale=scale)
    assert coarse.shape == (1, 3, 32 // scale, 48 // scale, 32 // scale)
    assert full.abs().max() > 0.1  # a field that moves, so that the comparison says something
    assert torch.allclose(coarse, torch.nn.functional.avg_pool3d(full, scale), atol=1e-5)
    with pytest.raises(ValueError, match="scale must be 1, 2 or 4"):
        net.predict_field(m, f, scale=3)


@pytest.mark.parametrize("voxel,expected", [(True, 1.0), (False, 2.0 ** -4.5)])
def test_coefficients_are_in_voxel_units(voxel: bool, expected: float) -> None:
    """A 1/8-scale low-band coefficient of 1 (x component) is a 1-voxel field with voxel_coefficients, and the
    plain orthonormal IDWT's 2**-4.5 without (the scale that kept the first shipped weights at the identity)."""
    net = WiNet(3, base_width=1, voxel_coefficients=voxel).eval()
    for head in (net.head8, net.head4, net.head2, net.refine4.body[-1], net.refine2.body[-1]):
        nn.init.zeros_(head.conv.weight)
        nn.init.zeros_(head.conv.bias)
    with torch.no_grad():
        net.head8.conv.bias[0] = 1.0  # band-major channels: band 0 (LLL), component x
        field = net.predict_field(torch.rand(1, 1, 32, 32, 32), torch.rand(1, 1, 32, 32, 32))
    assert torch.allclose(field[:, 0], torch.full_like(field[:, 0], expected), atol=1e-6)
    assert torch.allclose(field[:, 1:], torch.zeros_like(field[:, 1:]), atol=1e-6)


def test_checkpoints_without_voxel_coefficients_load_with_the_plain_idwt(tmp_path) -> None:
    from medwave.networks.checkpoint import save_checkpoint

    net = WiNet(3, base_width=1, voxel_coefficients=False)
    config = {k: v for k, v in net.config.items() if k != "voxel_coefficients"}  # as written before the option
    save_checkpoint(tmp_path / "old.pt", config=config, state_dict=net.state_dict())
    assert WiNet.from_checkpoint(tmp_path / "old.pt").coef_scale == 1.0
    new = WiNet(3, base_width=1)
    save_checkpoint(tmp_path / "new.pt", config=new.config, state_dict=new.state_dict())
    loaded = WiNet.from_checkpoint(tmp_path / "new.pt")
    assert loaded.coef_scale == 2.0 ** 1.5 and isinstance(loaded, WiNet)


@pytest.mark.parametrize("d", [2, 3])
def test_onednn_convolutions_equal_pytorch_native_ones(d: int) -> None:
    """WiNet's convolutions always take oneDNN on CPU; values and gradients equal PyTorch's own choice of kernel
    (its native slow_conv for these small batch-1 layers), and the state_dict keys are those of plain convs."""
    import copy

    from torch import nn

    from medwave.networks.winet import _OneDNNConv2d, _OneDNNConv3d

    torch.manual_seed(0)
    net = WiNet(d, base_width=2)
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))]
    assert convs and all(type(m) in (_OneDNNConv2d, _OneDNNConv3d) for m in convs)
    for head in (net.head8, net.head4, net.head2):  # visible coefficients, so that the comparison means something
        nn.init.normal_(head.conv.weight, 0.0, 0.05)
    ref = copy.deepcopy(net)
    for m in ref.modules():
        if type(m) in (_OneDNNConv2d, _OneDNNConv3d):
            m.__class__ = nn.Conv3d if d == 3 else nn.Conv2d
    assert list(ref.state_dict()) == list(net.state_dict())
    shape = (1, 1) + ((32, 48, 32) if d == 3 else (64, 48))
    m, f = torch.rand(shape), torch.rand(shape)
    out, out_ref = net.predict_field(m, f), ref.predict_field(m, f)
    assert out.abs().max() > 0.05
    torch.testing.assert_close(out, out_ref, rtol=1e-4, atol=1e-5)
    out.square().sum().backward()
    out_ref.square().sum().backward()
    # float rounding relative to the largest gradient (the first conv's bias, before an instance norm, has a true
    # gradient of 0 and both kernels give rounding noise there)
    scale = max(float(q.grad.abs().max()) for q in ref.parameters())
    for (name, p), q in zip(net.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-3, atol=1e-5 * scale, msg=name)


def test_onednn_convolutions_fall_back_off_cpu_float32() -> None:
    """float64 input (oneDNN has no float64 convolution) takes PyTorch's own path and still works."""
    net = WiNet(3, base_width=1).double()
    x = torch.rand(1, 1, 16, 16, 16, dtype=torch.float64)
    assert net(x, x).dtype == torch.float64


@pytest.mark.parametrize("d", [2, 3])
def test_blocks_are_monai_convolution_blocks(d: int) -> None:
    """WiNet's own conv blocks have MONAI ``Convolution``'s children, parameter names and values (checkpoints of
    either read the same) without importing monai.networks."""
    from monai.networks.blocks import Convolution

    from medwave.networks.winet import _conv, _up

    act = ("leakyrelu", {"negative_slope": 0.2, "inplace": True})
    pairs = [
        (_conv(d, 4, 6, norm="instance"), Convolution(d, 4, 6, kernel_size=3, act=act, norm="instance", adn_ordering="NDA")),
        (_conv(d, 4, 6, strides=2), Convolution(d, 4, 6, strides=2, kernel_size=3, act=act, norm=None, adn_ordering="NDA")),
        (_conv(d, 6, 6, groups=3, conv_only=True), Convolution(d, 6, 6, kernel_size=3, groups=3, conv_only=True)),
        (_up(d, 4, 6), Convolution(d, 4, 6, strides=2, kernel_size=2, act=act, norm=None, is_transposed=True, padding=0,
                                   output_padding=0)),
    ]
    x = torch.rand((2, 4) + (12,) * d)
    for ours, theirs in pairs:
        assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
        theirs.load_state_dict(ours.state_dict())
        xin = x if ours.conv.in_channels == 4 else torch.rand((2, 6) + (12,) * d)
        torch.testing.assert_close(ours(xin.clone()), theirs(xin.clone()))


def test_importing_winet_does_not_import_monai() -> None:
    """`medwave register --weights` pays no monai import (several seconds of start-up)."""
    import subprocess
    import sys

    code = "import sys, medwave.networks.winet; print('monai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
