"""wavelet_decompose / wavelet_reconstruct: layout against PyWavelets, exact round trips."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch

from medwave.transforms import decomposed_channel_names, wavelet_decompose, wavelet_reconstruct


@pytest.mark.parametrize(
    "shape,d", [((1, 16, 16, 16), 3), ((2, 9, 10, 11), 3), ((3, 17, 20), 2), ((1, 33), 1), ((2, 40, 41), 2)]
)
@pytest.mark.parametrize("mode", ["periodization", "symmetric", "zero"])
@pytest.mark.parametrize("wavelet", ["haar", "db2", "bior2.2"])
def test_round_trip_any_shape_and_mode(shape, d, mode, wavelet):
    from medwave.wavelets import dwt_max_level

    levels = min(2, max(1, dwt_max_level(shape[-d:], wavelet)))
    x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y, info = wavelet_decompose(x, spatial_dims=d, wavelet=wavelet, levels=levels, mode=mode)
    assert y.shape[0] == shape[0] * 2 ** (d * levels)
    back = wavelet_reconstruct(y, **info)
    assert back.shape == x.shape
    torch.testing.assert_close(back, x, atol=1e-10, rtol=0)


def test_channels_are_pywavelets_subbands():
    x = np.random.default_rng(1).standard_normal((8, 12, 16))
    y, _ = wavelet_decompose(torch.from_numpy(x)[None], wavelet="db1", levels=2, mode="periodization")
    ref = pywt.wavedecn(x, "db1", mode="periodization", level=2)
    names = decomposed_channel_names(3, 2)
    assert len(names) == y.shape[0] == 64
    np.testing.assert_allclose(y[0].numpy(), ref[0], atol=1e-12)
    for key in ("aad", "dda", "ddd"):
        np.testing.assert_allclose(y[names.index(f"L2:{key}")].numpy(), ref[1][key], atol=1e-12)
    for key, phase in (("aad", (0, 0, 1)), ("dad", (1, 0, 1)), ("ddd", (1, 1, 1))):
        sl = tuple(slice(p, None, 2) for p in phase)
        ch = names.index(f"L1:{key}[{','.join(map(str, phase))}]")
        np.testing.assert_allclose(y[ch].numpy(), ref[2][key][sl], atol=1e-12)


def test_periodization_is_orthogonal():
    x = torch.randn(1, 16, 16, 12, dtype=torch.float64)
    y, _ = wavelet_decompose(x, wavelet="db2", levels=2, mode="periodization")
    assert y.numel() == x.numel()
    assert float(y.norm()) == pytest.approx(float(x.norm()), rel=1e-12)


def test_multichannel_order_is_channel_major():
    x = torch.randn(2, 8, 8, dtype=torch.float64)
    y, _ = wavelet_decompose(x, spatial_dims=2, levels=1)
    y0, _ = wavelet_decompose(x[1:], spatial_dims=2, levels=1)
    torch.testing.assert_close(y[4:], y0)


def test_reconstruct_without_size_exact_for_divisible_periodization():
    x = torch.randn(1, 32, 40, dtype=torch.float64)
    y, info = wavelet_decompose(x, spatial_dims=2, wavelet="db2", levels=3)
    info.pop("spatial_size")
    torch.testing.assert_close(wavelet_reconstruct(y, **info), x)


def test_errors():
    with pytest.raises(ValueError, match="channel-first"):
        wavelet_decompose(torch.zeros(8, 8), spatial_dims=3)
    with pytest.raises(ValueError, match="levels must be >= 1"):
        wavelet_decompose(torch.zeros(1, 8, 8), levels=0)
    with pytest.warns(UserWarning, match="deeper than useful"):
        y, info = wavelet_decompose(torch.ones(1, 8, 8), levels=4)
    torch.testing.assert_close(wavelet_reconstruct(y, **info), torch.ones(1, 8, 8))
    with pytest.raises(ValueError, match="multiple of"):
        wavelet_reconstruct(torch.zeros(3, 4, 4), spatial_dims=2, levels=1)
    y, info = wavelet_decompose(torch.zeros(1, 8, 8), levels=1)
    with pytest.raises(ValueError, match="spatial_size"):
        wavelet_reconstruct(y, **{**info, "spatial_size": (20, 20)})
