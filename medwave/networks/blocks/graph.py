"""Visual behaviour graph and visual behaviour matching (GEM, arXiv 2408.05502).

* :func:`sample_patches`: differentiable sampling (``grid_sample``) of a feature map on a small
  square patch around each gaze point, so gradients reach the point coordinates.
* :func:`knn_graph` / :class:`EdgeConv`: edges to the ``k`` nearest neighbours in feature space and
  the DGCNN edge convolution ``h_i = max_j MLP([x_i, x_j - x_i])``.
* :class:`BehaviourGraph`: node features (correlation-map patch, image features, position) ->
  EdgeConv node embeddings and the graph's adjacency.
* :class:`BehaviourMatching`: graph convolutions over both graphs (real and estimated gaze), an
  affinity matrix, and :func:`log_sinkhorn` to a soft (doubly-stochastic) correspondence.

Example:
    >>> import torch
    >>> from medwave.networks.blocks.graph import log_sinkhorn
    >>> s = log_sinkhorn(torch.randn(2, 5, 5), iters=50).exp()
    >>> bool(torch.allclose(s.sum(1), torch.ones(2, 5), atol=1e-4)), bool(torch.allclose(s.sum(2), torch.ones(2, 5), atol=1e-4))
    (True, True)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["sample_patches", "knn_graph", "EdgeConv", "BehaviourGraph", "BehaviourMatching", "log_sinkhorn"]


def sample_patches(feature: torch.Tensor, points: torch.Tensor, *, radius: float, size: int = 5) -> torch.Tensor:
    """Bilinearly sample ``feature`` on a ``size x size`` patch around each point.

    Args:
        feature: ``(B, C, H, W)`` map.
        points: ``(B, K, 2)`` ``(x, y)`` in ``[0, 1]`` image fractions (pixel-centre convention).
        radius: Half-width of the patch, in image fractions.
        size: Samples per patch side.

    Returns:
        ``(B, K, C * size * size)``, differentiable in ``feature`` and ``points``.
    """
    b, c = feature.shape[:2]
    k = points.shape[1]
    offs = torch.linspace(-radius, radius, size, dtype=points.dtype, device=points.device)
    oy, ox = torch.meshgrid(offs, offs, indexing="ij")
    off = torch.stack([ox, oy], -1).reshape(1, 1, size * size, 2)
    grid = (points.unsqueeze(2) + off) * 2.0 - 1.0  # [0,1] -> [-1,1] (align_corners=False)
    out = F.grid_sample(feature, grid, mode="bilinear", padding_mode="border", align_corners=False)  # (B,C,K,P)
    return out.permute(0, 2, 1, 3).reshape(b, k, c * size * size)


def knn_graph(x: torch.Tensor, k: int) -> torch.Tensor:
    """Indices ``(B, N, k)`` of each node's ``k`` nearest neighbours in feature space (itself included)."""
    d = torch.cdist(x, x)
    return d.topk(min(k, x.shape[1]), dim=-1, largest=False).indices


class EdgeConv(nn.Module):
    """DGCNN edge convolution over a kNN graph: ``h_i = max_{j in N(i)} MLP([x_i, x_j - x_i])``."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def forward(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        nb = torch.gather(x.unsqueeze(1).expand(b, n, n, c), 2, idx.unsqueeze(-1).expand(-1, -1, -1, c))
        xi = x.unsqueeze(2).expand_as(nb)
        return self.mlp(torch.cat([xi, nb - xi], -1)).max(dim=2).values


class BehaviourGraph(nn.Module):
    """Build the visual behaviour graph of a set of gaze points.

    Node features: the correlation map sampled on a ``patch x patch`` grid around the point, the
    fused image features at the point, and the point's position; edges: kNN in that feature space;
    node embeddings: one EdgeConv.
    """

    def __init__(self, feat_dim: int, out_dim: int, *, knn: int = 4, patch: int = 5, radius: float = 0.06) -> None:
        super().__init__()
        self.knn, self.patch, self.radius = int(knn), int(patch), float(radius)
        self.node = nn.Linear(patch * patch + feat_dim + 2, out_dim)
        self.edge = EdgeConv(out_dim, out_dim)

    def forward(self, corr: torch.Tensor, feat: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return node embeddings ``(B, K, D)`` and the symmetric adjacency ``(B, K, K)`` (self loops included)."""
        pc = sample_patches(corr, points, radius=self.radius, size=self.patch)
        pf = sample_patches(feat, points, radius=0.0, size=1)
        h = self.node(torch.cat([pc, pf, points], -1))
        idx = knn_graph(h.detach(), self.knn)
        adj = torch.zeros(h.shape[0], h.shape[1], h.shape[1], dtype=h.dtype, device=h.device)
        adj.scatter_(2, idx, 1.0)
        adj = ((adj + adj.transpose(1, 2)) > 0).to(h.dtype)
        return self.edge(h, idx), adj


def log_sinkhorn(log_alpha: torch.Tensor, *, iters: int = 20) -> torch.Tensor:
    """Log-domain Sinkhorn normalisation of ``(B, N, N)`` scores; ``exp`` of the result is doubly stochastic."""
    for _ in range(iters):
        log_alpha = log_alpha - torch.logsumexp(log_alpha, dim=2, keepdim=True)
        log_alpha = log_alpha - torch.logsumexp(log_alpha, dim=1, keepdim=True)
    return log_alpha


class BehaviourMatching(nn.Module):
    """Graph convolutions over two behaviour graphs, affinity, and a log-Sinkhorn soft correspondence."""

    def __init__(self, dim: int, *, layers: int = 2, tau: float = 0.1, iters: int = 20) -> None:
        super().__init__()
        self.gcn = nn.ModuleList(nn.Linear(dim, dim) for _ in range(layers))
        self.affinity = nn.Linear(dim, dim, bias=False)
        self.tau, self.iters = float(tau), int(iters)

    def embed(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """``layers`` GCN steps ``x <- x + relu(D^-1/2 A D^-1/2 x W)``."""
        deg = adj.sum(-1).clamp_min(1.0)
        norm = adj / torch.sqrt(deg.unsqueeze(-1) * deg.unsqueeze(-2))
        for lin in self.gcn:
            x = x + F.relu(norm @ lin(x))
        return x

    def forward(self, x_pred: torch.Tensor, adj_pred: torch.Tensor, x_true: torch.Tensor, adj_true: torch.Tensor) -> torch.Tensor:
        """Log soft correspondence ``(B, K, K)``: row ``i`` = estimated point ``i``, column ``j`` = real point ``j``."""
        a = self.embed(x_pred, adj_pred)
        b = self.embed(x_true, adj_true)
        a = F.normalize(a, dim=-1)
        b = F.normalize(self.affinity(b), dim=-1)
        return log_sinkhorn((a @ b.transpose(1, 2)) / self.tau, iters=self.iters)
