"""Learnable filter banks: the four filters as ``nn.Parameter``, transforms differentiable in them.

The per-axis operator of a filter ``f`` is linear in ``f``: ``M(f) = sum_j f[j] * T_j`` where
``T_j`` is the operator of the unit filter ``e_j`` (built once with PyWavelets, so boundary handling
is PyWavelets' for every mode). Transforms with learnable filters apply ``M(f)`` as a dense matrix
along each axis; this is exact and differentiable in both input and filters, and costs ``O(n)`` per
sample per axis, so use it for network-sized inputs.

Example:
    >>> import torch
    >>> from medwave.wavelets import LearnableWavelet, dwt_packed, idwt_packed
    >>> lw = LearnableWavelet("db2")
    >>> x = torch.randn(1, 1, 12, 12)
    >>> c = dwt_packed(x, lw, mode="periodization")
    >>> torch.allclose(idwt_packed(c, lw, mode="periodization"), x, atol=1e-5)
    True
    >>> float(lw.perfect_reconstruction_loss()) < 1e-10
    True
"""

from __future__ import annotations

import torch
from torch import nn

from medwave.wavelets.filters import WaveletLike, get_filter_bank
from medwave.wavelets.modes import check_mode
from medwave.wavelets.operators import _unit_filter_ops

__all__ = ["LearnableWavelet", "dense_split", "dense_merge"]


class LearnableWavelet(nn.Module):
    """A two-channel filter bank whose filters are trainable parameters.

    Args:
        wavelet: Initial filters (a PyWavelets name, FilterBank or four filters).
        trainable: Which filters train: ``"all"``, ``"analysis"`` or ``"none"``.
    """

    def __init__(self, wavelet: WaveletLike = "db2", *, trainable: str = "all") -> None:
        super().__init__()
        fb = get_filter_bank(wavelet)
        self.name = f"learnable({fb.name})"
        for key in ("dec_lo", "dec_hi", "rec_lo", "rec_hi"):
            t = torch.tensor(getattr(fb, key), dtype=torch.float64)
            grad = trainable == "all" or (trainable == "analysis" and key.startswith("dec"))
            setattr(self, key, nn.Parameter(t, requires_grad=grad))
        self.length = fb.length

    def _ops(self, n: int, mode: str, kind: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        check_mode(mode)
        return torch.as_tensor(_unit_filter_ops(self.length, int(n), mode, kind), dtype=dtype, device=device)

    def analysis_matrices(self, n: int, mode: str, dtype: torch.dtype, device: torch.device) -> list[torch.Tensor]:
        """``[M_lo, M_hi]``, each ``(n_coeffs, n)``, differentiable in the analysis filters."""
        T = self._ops(n, mode, "analysis", dtype, device)
        return [torch.einsum("j,jab->ab", f.to(dtype), T) for f in (self.dec_lo, self.dec_hi)]

    def synthesis_matrices(self, n: int, mode: str, dtype: torch.dtype, device: torch.device) -> list[torch.Tensor]:
        """``[S_lo, S_hi]``, each ``(n_rec, n)``, differentiable in the synthesis filters."""
        T = self._ops(n, mode, "synthesis", dtype, device)
        return [torch.einsum("j,jab->ab", f.to(dtype), T) for f in (self.rec_lo, self.rec_hi)]

    def perfect_reconstruction_loss(self, n: int = 32) -> torch.Tensor:
        """``||S A - I||^2`` on a length-``n`` periodized signal: 0 for a perfect-reconstruction bank.

        Add it (weighted) to a training loss to keep learned filters invertible.
        """
        dtype, device = self.dec_lo.dtype, self.dec_lo.device
        A = torch.cat(self.analysis_matrices(n, "periodization", dtype, device), 0)
        S = torch.cat(self.synthesis_matrices(n // 2, "periodization", dtype, device), 1)
        eye = torch.eye(n, dtype=dtype, device=device)
        return ((S @ A - eye) ** 2).sum()

    def extra_repr(self) -> str:
        return f"{self.name}, length={self.length}"


def _along(A: torch.Tensor, x: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.movedim(torch.matmul(A, torch.movedim(x, dim, -2)), -2, dim)


def dense_split(x: torch.Tensor, lw: LearnableWavelet, mode: str, low_only: bool = False) -> torch.Tensor:
    """Analysis of ``(N, G, *spatial)`` with dense learnable operators -> ``(N, G*2**d, *coarse)``."""
    cur = x
    for k in range(x.ndim - 2):
        dim = 2 + k
        mats = lw.analysis_matrices(cur.shape[dim], mode, cur.dtype, cur.device)
        if low_only:
            mats = mats[:1]
        bands = [_along(M, cur, dim) for M in mats]
        cur = torch.stack(bands, 2).flatten(1, 2)
    return cur


def dense_merge(c: torch.Tensor, lw: LearnableWavelet, mode: str) -> torch.Tensor:
    """Synthesis of ``(N, G, *coarse)`` with dense learnable operators, last axis first."""
    cur = c
    for k in reversed(range(c.ndim - 2)):
        dim = 2 + k
        v = cur.unflatten(1, (cur.shape[1] // 2, 2))
        mats = lw.synthesis_matrices(cur.shape[dim], mode, cur.dtype, cur.device)
        cur = _along(mats[0], v.select(2, 0), dim) + _along(mats[1], v.select(2, 1), dim)
    return cur
