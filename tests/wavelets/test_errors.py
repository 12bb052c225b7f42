"""Clear errors for bad wavelet input."""

from __future__ import annotations

import pytest
import torch

from medwave.wavelets import DWT, dwt, get_filter_bank, idwt_packed, wavedec


def test_unknown_wavelet_lists_close_names() -> None:
    with pytest.raises(ValueError, match=r"Unknown wavelet 'hare'.*Did you mean 'haar'"):
        get_filter_bank("hare")
    with pytest.raises(ValueError, match="Did you mean 'bior2.2'"):
        dwt(torch.randn(1, 1, 8), "bior22")


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match="Unknown boundary mode 'mirror'.*symmetric"):
        dwt(torch.randn(1, 1, 8), "haar", mode="mirror")  # type: ignore[arg-type]


def test_wrong_number_of_dims() -> None:
    with pytest.raises(ValueError, match="Cannot infer spatial_dims"):
        dwt(torch.randn(1, 1, 2, 3, 4, 5), "haar")
    with pytest.raises(ValueError, match="spatial_dims must be 1, 2 or 3"):
        dwt(torch.randn(4, 4), "haar", spatial_dims=4)
    with pytest.raises(ValueError, match="expects a 5-D tensor"):
        DWT(3)(torch.randn(1, 8, 8, 8))
    with pytest.raises(ValueError, match="need 8 bands"):
        idwt_packed(torch.randn(1, 1, 4, 3, 3, 3), "haar")


def test_level_too_high_names_the_maximum() -> None:
    with pytest.raises(ValueError, match=r"level=5 is too high .*\(16, 16, 16\).*maximum is 1"):
        wavedec(torch.randn(1, 1, 16, 16, 16), "db4", level=5)
    with pytest.raises(ValueError, match="level must be >= 0"):
        wavedec(torch.randn(1, 1, 16), "haar", level=-1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_inf_input_is_refused_with_count(bad: float) -> None:
    x = torch.randn(1, 1, 8, 8)
    x[0, 0, 3, 4] = bad
    with pytest.raises(ValueError, match=r"contains 1 NaN/Inf value\(s\) out of 64"):
        dwt(x, "haar")
    assert not torch.isfinite(dwt(x, "haar", check_finite=False)["aa"]).all()


def test_large_finite_values_are_not_mistaken_for_inf() -> None:
    x = torch.full((1, 1, 64, 64), 3e37)
    dwt(x, "haar")  # the cheap sum check overflows; the exact check must pass


def test_custom_filter_bank_validation() -> None:
    with pytest.raises(ValueError, match="needs 4 filters"):
        get_filter_bank([[1, 1], [1, -1]])
    with pytest.raises(ValueError, match="equally long"):
        get_filter_bank([[1, 1], [1, -1], [1], [1, 1]])
