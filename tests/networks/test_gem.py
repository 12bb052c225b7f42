"""GEM network: shapes, Sinkhorn, gradients, ablations, loss decrease, weights I/O."""

from __future__ import annotations

import pytest
import torch

from medwave.networks.blocks.graph import BehaviourGraph, BehaviourMatching, knn_graph, log_sinkhorn, sample_patches
from medwave.networks.blocks.text import WordTokenizer
from medwave.networks import GEM
from medwave.networks.gem import BottleneckResNet
from medwave.networks.checkpoint import save_checkpoint

SENTS = ["Opacity in the right lung base.", "The heart is enlarged."]


def _net(**kw) -> GEM:
    torch.manual_seed(0)
    return GEM(k=8, dim=32, heads=4, **kw)


def test_shapes_and_range():
    net = _net()
    out = net(torch.rand(2, 1, 64, 64), SENTS, target=torch.rand(2, 8, 2))
    assert out["points"].shape == (2, 8, 2)
    assert out["corr"].shape == (2, 1, 8, 8)
    assert out["attention"].shape == (2, 8, 8, 8)
    assert out["log_match"].shape == (2, 8, 8)
    pts = out["points"].detach()
    assert float(pts.min()) >= 0.0 and float(pts.max()) <= 1.0
    torch.testing.assert_close(out["attention"].sum((2, 3)), torch.ones(2, 8))
    with pytest.raises(ValueError, match="one sentence per image"):
        net(torch.rand(2, 1, 64, 64), SENTS[:1])


def test_encoder_multiscale_and_resnet50_layout(tmp_path):
    enc = BottleneckResNet(1, layers=(1, 1, 1, 1), width=8, pool="max")
    feats = enc(torch.rand(1, 1, 64, 64))
    assert [tuple(f.shape[1:]) for f in feats] == [(32, 16, 16), (64, 8, 8), (128, 4, 4), (256, 2, 2)]
    r50 = BottleneckResNet(3, layers=(3, 4, 6, 3), width=64)
    n = sum(p.numel() for p in r50.parameters())
    assert n == 23_508_032  # torchvision resnet50 without fc: 25_557_032 - 2048*1000 - 1000
    # torchvision-style state dict (RGB conv1) loads into a 1-channel encoder
    sd = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in r50.state_dict().items()}
    sd["fc.weight"] = torch.zeros(1000, 2048)
    torch.save(sd, tmp_path / "r50.pth")
    grey = BottleneckResNet(1, layers=(3, 4, 6, 3), width=64)
    assert grey.load_pretrained(tmp_path / "r50.pth") == []
    torch.testing.assert_close(grey.conv1.weight, sd["conv1.weight"].sum(1, keepdim=True))
    with pytest.raises(ValueError, match="do not fit"):
        BottleneckResNet(1, layers=(1, 1, 1, 1), width=8).load_pretrained(tmp_path / "r50.pth")


def test_sinkhorn_doubly_stochastic():
    g = torch.Generator().manual_seed(0)
    s = log_sinkhorn(torch.randn(3, 6, 6, generator=g) * 5, iters=100).exp()
    torch.testing.assert_close(s.sum(1), torch.ones(3, 6), atol=1e-4, rtol=0)
    torch.testing.assert_close(s.sum(2), torch.ones(3, 6), atol=1e-4, rtol=0)
    assert float(s.min()) >= 0
    # a strongly diagonal score matrix gives (nearly) the identity
    s2 = log_sinkhorn(torch.eye(4)[None] * 50, iters=20).exp()
    torch.testing.assert_close(s2[0], torch.eye(4), atol=1e-4, rtol=0)


def test_graph_sampling_and_knn():
    feat = torch.arange(16.0).reshape(1, 1, 4, 4)  # value = 4*row + col
    pts = torch.tensor([[[0.375, 0.625]]], requires_grad=True)  # pixel (x=1, y=2) centre
    v = sample_patches(feat, pts, radius=0.0, size=1)
    assert float(v) == pytest.approx(9.0)
    v.sum().backward()
    assert pts.grad is not None and float(pts.grad.abs().sum()) > 0
    x = torch.tensor([[[0.0], [0.1], [5.0], [5.2]]])
    idx = knn_graph(x, 2)
    assert idx[0, 0].tolist() == [0, 1] and idx[0, 3].tolist() == [3, 2]
    g = BehaviourGraph(4, 8, knn=2)
    h, adj = g(torch.rand(2, 1, 8, 8), torch.rand(2, 4, 8, 8), torch.rand(2, 5, 2))
    assert h.shape == (2, 5, 8) and torch.equal(adj, adj.transpose(1, 2))
    assert torch.all(torch.diagonal(adj, dim1=1, dim2=2) == 1)
    m = BehaviourMatching(8)
    s = m(h, adj, h, adj).exp()
    torch.testing.assert_close(s.sum(-1), torch.ones(2, 5), atol=1e-3, rtol=0)


def test_gradients_reach_every_parameter():
    net = _net()
    net.train()
    tgt = torch.rand(2, 8, 2)
    out = net(torch.rand(2, 1, 64, 64), SENTS, target=tgt)
    loss = net.loss(out, tgt)
    assert float(loss["ce"].detach()) > 0
    loss["loss"].backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []
    # the matching CE alone reaches the predicted points (differentiable node sampling)
    net.zero_grad()
    out = net(torch.rand(2, 1, 64, 64), SENTS, target=tgt)
    out["points"].retain_grad()
    (-torch.diagonal(out["log_match"], dim1=1, dim2=2).mean()).backward()
    assert float(out["points"].grad.abs().sum()) > 0


def test_ablations_are_options():
    img = torch.rand(2, 1, 64, 64)
    blind = _net(use_text=False).eval()
    a = blind(img, ["left apex", "right base"])["points"]
    b = blind(img, ["heart", "anything else"])["points"]
    torch.testing.assert_close(a, b)  # text removed: the sentence cannot matter
    assert not hasattr(blind, "text")
    full = _net().eval()
    c = full(img[:1].expand(2, -1, -1, -1), ["left apex", "right base"])["points"]
    assert not torch.allclose(c[0], c[1])
    nomatch = _net(use_matching=False)
    out = nomatch(img, SENTS, target=torch.rand(2, 8, 2))
    assert "log_match" not in out and not hasattr(nomatch, "matching")
    assert float(nomatch.loss(out, torch.rand(2, 8, 2))["ce"]) == 0.0


def test_loss_decreases_on_tiny_batch():
    net = _net()
    img = torch.rand(4, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    tgt = torch.rand(4, 8, 2, generator=torch.Generator().manual_seed(2)) * 0.6 + 0.2
    sents = SENTS * 2
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(25):
        out = net(img, sents, target=tgt)
        loss = net.loss(out, tgt)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.6 * losses[0]


def test_checkpoint_round_trip(tmp_path):
    net = _net(use_matching=False).eval()
    save_checkpoint(tmp_path / "g.pt", config=net.config, state_dict=net.state_dict(), meta={"image_size": 64})
    back = GEM.from_checkpoint(tmp_path / "g.pt").eval()
    img = torch.rand(1, 1, 64, 64)
    torch.testing.assert_close(back(img, SENTS[:1])["points"], net(img, SENTS[:1])["points"])
    torch.save({"foo": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a GEM checkpoint"):
        GEM.from_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError):
        GEM.from_checkpoint(tmp_path / "none.pt")


def test_tokenizer_known_and_hashed_words():
    tok = WordTokenizer(["left", "lung"], n_hash=4, max_len=5)
    ids, mask = tok(["Left LUNG, left!", "unknownword"])
    assert ids[0].tolist() == [1, 2, 1]
    assert mask.sum(1).tolist() == [3, 1]
    assert 3 <= int(ids[1, 0]) < 3 + 4
    assert tok.encode("unknownword") == tok.encode("UnknownWord")
    assert len(tok.encode("a b c d e f g")) == 5
