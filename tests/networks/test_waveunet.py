"""Tests for medwave.networks.waveunet (3D-WaveUNet / 2D WaveSNet)."""

from __future__ import annotations

import pytest
import torch

from medwave.networks import WaveUNet
from medwave.networks.waveunet import VARIANTS


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes_3d_each_variant(variant):
    net = WaveUNet(spatial_dims=3, variant=variant).eval()
    x = torch.randn(2, 1, 16, 32, 48)
    assert net(x).shape == (2, 2, 16, 32, 48)


@pytest.mark.parametrize("variant", VARIANTS)
def test_odd_sizes_not_divisible_by_16(variant):
    net = WaveUNet(spatial_dims=3, channels=(2, 3, 4, 5), bottleneck=6, variant=variant).eval()
    assert net(torch.randn(1, 1, 17, 21, 9)).shape == (1, 2, 17, 21, 9)


def test_2d_wavesnet_and_channels():
    net = WaveUNet(spatial_dims=2, in_channels=3, out_channels=5, channels=(8, 16, 32, 64), bottleneck=64)
    assert net(torch.randn(2, 3, 64, 48)).shape == (2, 5, 64, 48)
    # a 2D network keeps 3 high bands per level: the DWT layer is 2D
    assert net.dwt.spatial_dims == 2


@pytest.mark.parametrize("wavelet", ["haar", "db2", "bior2.2", "coif1", "sym3"])
def test_any_wavelet(wavelet):
    net = WaveUNet(spatial_dims=3, channels=(2, 4, 4, 4), bottleneck=4, wavelet=wavelet).eval()
    assert net(torch.randn(1, 1, 16, 16, 16)).shape == (1, 2, 16, 16, 16)


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradients_reach_every_parameter(variant):
    torch.manual_seed(0)
    net = WaveUNet(spatial_dims=3, channels=(2, 4, 4, 8), bottleneck=8, variant=variant, shrink_lambda=0.0)
    x = torch.randn(2, 1, 16, 16, 16, requires_grad=True)
    net(x).square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"no gradient reaches {name}"
    assert x.grad.abs().sum() > 0


def _copy(variant, **kw):
    torch.manual_seed(3)
    return WaveUNet(spatial_dims=3, channels=(2, 4, 4, 8), bottleneck=8, variant=variant, **kw).eval()


def test_shrink_lambda_zero_equals_plain_idwt_and_large_lambda_drops_high_bands():
    x = torch.randn(1, 1, 16, 16, 16) * 3
    plain = _copy("dwt_idwt")
    shrink0 = _copy("dwt_idwt_shrink", shrink_lambda=0.0)
    shrink = _copy("dwt_idwt_shrink", shrink_lambda=0.25)
    huge = _copy("dwt_idwt_shrink", shrink_lambda=1e9)
    with torch.no_grad():
        a, b, c, d = plain(x), shrink0(x), shrink(x), huge(x)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)  # shrinkage changes the result
    # huge lambda: every kept high band is zeroed; reproduce with IDWT(high=None)
    saved = []
    orig = huge.idwt.forward
    huge.idwt.forward = lambda low, high, shape=None: (saved.append(high.abs().max()), orig(low, None, shape))[1]
    with torch.no_grad():
        e = huge(x)
    torch.testing.assert_close(d, e)
    assert max(saved) == 0


def test_high_bands_are_used_by_decoder():
    # dwt_idwt: the output depends on the kept high bands (zeroing them changes the output)
    net = _copy("dwt_idwt")
    x = torch.randn(1, 1, 16, 16, 16)
    with torch.no_grad():
        y = net(x)
        orig = net.idwt.forward
        net.idwt.forward = lambda low, high, shape=None: orig(low, None, shape)
        y0 = net(x)
    assert (y - y0).abs().max() > 1e-4


def test_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        WaveUNet(variant="maxpool")
    with pytest.raises(ValueError, match="spatial_dims"):
        WaveUNet(spatial_dims=4)
    with pytest.raises(ValueError, match="expects"):
        WaveUNet(spatial_dims=3)(torch.randn(1, 1, 16, 16))


@pytest.mark.parametrize("act", ["relu", "leakyrelu", "prelu"])
def test_activations(act):
    net = WaveUNet(spatial_dims=3, channels=(2, 4, 4, 8), bottleneck=8, act=act)
    y = net(torch.randn(2, 1, 16, 16, 16))
    assert y.shape == (2, 2, 16, 16, 16)
    kinds = {type(m).__name__ for m in net.modules()}
    assert {"relu": "ReLU", "leakyrelu": "LeakyReLU", "prelu": "PReLU"}[act] in kinds
    with pytest.raises(ValueError, match="act"):
        WaveUNet(act="tanh")
