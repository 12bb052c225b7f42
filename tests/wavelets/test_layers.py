"""nn layers: DWT, IDWT, DWTPool."""

from __future__ import annotations

import pytest
import pywt
import torch

from medwave.wavelets import DWT, IDWT, DWTPool, LearnableWavelet, dwt_packed


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
@pytest.mark.parametrize("wavelet", ["haar", "db2", "bior2.2"])
def test_dwt_idwt_layers_roundtrip_odd_shapes(spatial_dims: int, wavelet: str) -> None:
    shape = (2, 3) + (9, 10, 7)[:spatial_dims]
    x = torch.randn(shape, dtype=torch.float64)
    low, high = DWT(spatial_dims, wavelet)(x)
    half = tuple((n + 1) // 2 for n in shape[2:])
    assert low.shape == shape[:2] + half
    assert high.shape == shape[:2] + (2**spatial_dims - 1,) + half
    rec = IDWT(spatial_dims, wavelet)(low, high, shape=shape[2:])
    assert torch.allclose(rec, x, atol=1e-10)
    assert torch.equal(DWTPool(spatial_dims, wavelet)(x), low)


def test_layer_bands_are_pywt_keys() -> None:
    x = torch.randn(1, 1, 8, 6, 4, dtype=torch.float64)
    low, high = DWT(3, "db2", mode="symmetric")(x)
    ref = pywt.dwtn(x[0, 0].numpy(), "db2", mode="symmetric")
    assert torch.allclose(low[0, 0], torch.as_tensor(ref["aaa"]))
    assert torch.allclose(high[0, 0, 6], torch.as_tensor(ref["ddd"]))
    assert torch.allclose(high[0, 0, 0], torch.as_tensor(ref["aad"]))


def test_idwt_without_high_is_wavelet_upsampling() -> None:
    x = torch.randn(1, 2, 8, 8)
    low, _ = DWT(2, "haar")(x)
    up = IDWT(2, "haar")(low)
    assert up.shape == x.shape
    # haar synthesis of the low band alone repeats each low value / 2 over 2x2 blocks
    assert torch.allclose(up[..., ::2, ::2], low / 2, atol=1e-6)


def test_learnable_layers_share_one_bank_and_train() -> None:
    bank = LearnableWavelet("db2")
    down, up = DWT(3, bank), IDWT(3, bank)
    net = torch.nn.ModuleList([down, up])
    assert len(list(net.parameters())) == 4  # shared, registered once
    x = torch.randn(1, 1, 8, 8, 8)
    low, high = down(x)
    loss = (up(low, high) - x).pow(2).mean() + high.abs().mean()
    loss.backward()
    assert bank.dec_hi.grad is not None and bank.dec_hi.grad.abs().sum() > 0


def test_layer_in_a_network_on_any_device_and_dtype() -> None:
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3, padding=1), DWTPool(3, "sym2"), torch.nn.Conv3d(4, 1, 1))
    x = torch.randn(2, 1, 12, 10, 8)
    y = net(x)
    assert y.shape == (2, 1, 6, 5, 4)
    y.mean().backward()
    assert net[0].weight.grad is not None
    assert dwt_packed(x.double(), "db2").dtype == torch.float64
