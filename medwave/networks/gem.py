"""GEM: context-aware gaze estimation on chest radiographs from a report sentence (arXiv 2408.05502).

Given a radiograph and one report sentence, GEM predicts the ``K`` points a radiologist looks at
while dictating it. Written from the paper:

1. **Image encoder**: a bottleneck ResNet in the ResNet-50 layout (``conv1/bn1/layer1..4`` with
   torchvision's parameter names, so torchvision ResNet-50 weights load from a local file) giving
   multi-scale features C2..C5. ``layers=(3, 4, 6, 3), width=64`` is ResNet-50; the CPU default is
   ``(1, 1, 1, 1)`` and width 16. The stem pooling is wavelet pooling (:class:`~medwave.wavelets.DWTPool`,
   Haar low band) by default, or max pooling as in ResNet.
2. **Text encoder**: :class:`~medwave.networks.blocks.text.TextEncoder` (offline tokenizer + transformer) giving
   per-word features and a sentence vector.
3. **Context-awareness module**: FPN-like top-down fusion of C3..C5 where each lateral is gated by
   the sentence vector; a transformer decoder with the visual tokens as queries and the word tokens
   as keys/values; a projector turning the sentence vector into a per-sample 3x3 dynamic
   convolution that yields the correlation map; a head regressing the K points (one spatial
   soft-argmax per point over logits that add the correlation map).
4. **Visual behaviour graph** (:class:`~medwave.networks.blocks.graph.BehaviourGraph`) of the estimated and the
   real gaze points, and **visual behaviour matching**
   (:class:`~medwave.networks.blocks.graph.BehaviourMatching`, log-domain Sinkhorn).
5. **Loss**: ``MSE(points) + matching_weight x CE(correspondence)`` (``matching_weight = 0.1``), the
   true correspondence being point ``k`` <-> point ``k``.

Ablations are options of the same model: ``use_text=False`` replaces the sentence and the words by
learned constants (an image-only model); ``use_matching=False`` drops the graph/matching branch and
its loss term.

Points are ``(x, y)`` fractions of the image width/height in ``[0, 1]`` (pixel-centre convention:
pixel ``i`` of ``n`` is at ``(i + 0.5) / n``).

Example:
    >>> import torch
    >>> from medwave.networks import GEM
    >>> net = GEM(k=8)
    >>> out = net(torch.rand(2, 1, 64, 64), ["Opacity in the right lung base.", "The heart is enlarged."])
    >>> tuple(out["points"].shape), tuple(out["corr"].shape)
    ((2, 8, 2), (2, 1, 8, 8))
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from medwave.networks.blocks.graph import BehaviourGraph, BehaviourMatching
from medwave.networks.blocks.text import TextEncoder, WordTokenizer

__all__ = ["GEM", "BottleneckResNet", "gem_loss"]


class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + idt)


class BottleneckResNet(nn.Module):
    """ResNet-50-layout encoder returning the multi-scale features ``[C2, C3, C4, C5]`` (strides 4-32).

    Args:
        in_channels: Image channels (1 for radiographs).
        layers: Blocks per stage; ``(3, 4, 6, 3)`` is ResNet-50.
        width: Channels of the first stage (64 in ResNet-50); stage ``i`` outputs ``width * 2**i * 4``.
        pool: Stem pooling, ``"wavelet"`` (Haar DWT low band) or ``"max"`` (3x3, stride 2).
    """

    def __init__(
        self,
        in_channels: int = 1,
        *,
        layers: Sequence[int] = (1, 1, 1, 1),
        width: int = 16,
        pool: Literal["wavelet", "max"] = "wavelet",
    ) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"layers must have 4 stages (ResNet layout), got {layers}")
        self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        if pool == "wavelet":
            from medwave.wavelets import DWTPool

            self.maxpool: nn.Module = DWTPool(2, "haar")
        elif pool == "max":
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        else:
            raise ValueError(f"pool must be 'wavelet' or 'max', got {pool!r}")
        self.inplanes = width
        self.layer1 = self._stage(width, layers[0], 1)
        self.layer2 = self._stage(width * 2, layers[1], 2)
        self.layer3 = self._stage(width * 4, layers[2], 2)
        self.layer4 = self._stage(width * 8, layers[3], 2)
        self.channels = [width * 4, width * 8, width * 16, width * 32]

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != planes * 4:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False), nn.BatchNorm2d(planes * 4))
        mods = [_Bottleneck(self.inplanes, planes, stride, down)]
        self.inplanes = planes * 4
        mods += [_Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return [c2, c3, c4, c5]

    def load_pretrained(self, path: Union[str, Path]) -> list[str]:
        """Load a torchvision-style ResNet state dict from a local file (``fc.*`` ignored).

        RGB ``conv1`` weights are summed over the colour axis for a 1-channel input.

        Returns:
            The missing keys (empty when the layout matches).

        Raises:
            FileNotFoundError: No such file.
            ValueError: The shapes do not match this encoder's ``layers``/``width``.
        """
        p = Path(path).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such weights file for the image encoder.")
        sd = torch.load(str(p), map_location="cpu", weights_only=True)
        sd = sd.get("state_dict", sd)
        sd = {k.removeprefix("module."): v for k, v in sd.items() if not k.startswith("fc.")}
        w = sd.get("conv1.weight")
        if w is not None and w.shape[1] != self.conv1.weight.shape[1] and self.conv1.weight.shape[1] == 1:
            sd["conv1.weight"] = w.sum(1, keepdim=True)
        try:
            res = self.load_state_dict(sd, strict=False)
        except RuntimeError as exc:
            raise ValueError(f"{p}: weights do not fit this encoder (layers/width differ): {exc}") from exc
        return list(res.missing_keys)


def _pos2d(h: int, w: int, dim: int, device: torch.device) -> torch.Tensor:
    """2D sine positional encoding ``(h*w, dim)``."""
    q = dim // 4
    freq = torch.exp(torch.arange(q, device=device, dtype=torch.float32) * (-math.log(1000.0) / max(q, 1)))
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    yy, xx = yy.reshape(-1, 1) * 2 * math.pi * freq, xx.reshape(-1, 1) * 2 * math.pi * freq
    pe = torch.cat([yy.sin(), yy.cos(), xx.sin(), xx.cos()], 1)
    if pe.shape[1] < dim:
        pe = F.pad(pe, (0, dim - pe.shape[1]))
    return pe


class GEM(nn.Module):
    """Context-aware gaze estimation network (see the module docstring).

    Args:
        k: Gaze points per sentence.
        in_channels: Image channels.
        encoder_layers: ResNet stages; ``(3, 4, 6, 3)`` for ResNet-50.
        encoder_width: ResNet first-stage width (64 for ResNet-50).
        pool: Stem pooling of the encoder, ``"wavelet"`` or ``"max"``.
        dim: Width of the fused features, text features and graph embeddings.
        heads: Attention heads.
        text_layers: Transformer layers of the text encoder.
        decoder_layers: Transformer decoder layers (visual queries, word keys/values).
        vocab: Known words of the tokenizer (default: :func:`medwave.networks.blocks.text.default_vocabulary`).
        n_hash: Hash buckets for unknown words.
        use_text: ``False`` = image-only ablation (the text is replaced by learned constants).
        use_matching: ``False`` = no behaviour graph/matching branch and no CE loss term.
        matching_weight: Weight of the correspondence cross-entropy in the loss.
        knn: Neighbours in the behaviour graph.
        sinkhorn_iters: Sinkhorn iterations.
        sinkhorn_tau: Temperature of the affinity.
        pretrained_encoder: Optional local torchvision-style ResNet weights for the image encoder.
    """

    def __init__(
        self,
        *,
        k: int = 8,
        in_channels: int = 1,
        encoder_layers: Sequence[int] = (1, 1, 1, 1),
        encoder_width: int = 16,
        pool: Literal["wavelet", "max"] = "wavelet",
        dim: int = 64,
        heads: int = 4,
        text_layers: int = 2,
        decoder_layers: int = 1,
        vocab: Optional[Sequence[str]] = None,
        n_hash: int = 128,
        use_text: bool = True,
        use_matching: bool = True,
        matching_weight: float = 0.1,
        knn: int = 4,
        sinkhorn_iters: int = 20,
        sinkhorn_tau: float = 0.1,
        pretrained_encoder: Optional[Union[str, Path]] = None,
    ) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.tokenizer = WordTokenizer(vocab, n_hash=n_hash)
        self.config: dict[str, Any] = {
            "k": int(k),
            "in_channels": int(in_channels),
            "encoder_layers": list(encoder_layers),
            "encoder_width": int(encoder_width),
            "pool": pool,
            "dim": int(dim),
            "heads": int(heads),
            "text_layers": int(text_layers),
            "decoder_layers": int(decoder_layers),
            "vocab": list(self.tokenizer.vocab),
            "n_hash": int(n_hash),
            "use_text": bool(use_text),
            "use_matching": bool(use_matching),
            "matching_weight": float(matching_weight),
            "knn": int(knn),
            "sinkhorn_iters": int(sinkhorn_iters),
            "sinkhorn_tau": float(sinkhorn_tau),
        }
        self.k, self.use_text, self.use_matching = int(k), bool(use_text), bool(use_matching)
        self.matching_weight = float(matching_weight)
        self.encoder = BottleneckResNet(in_channels, layers=encoder_layers, width=encoder_width, pool=pool)
        if pretrained_encoder is not None:
            self.encoder.load_pretrained(pretrained_encoder)
        c2, c3, c4, c5 = self.encoder.channels
        if use_text:
            self.text = TextEncoder(self.tokenizer.size, dim=dim, layers=text_layers, heads=heads, max_len=self.tokenizer.max_len)
        else:
            self.null_sentence = nn.Parameter(torch.zeros(1, dim))
            self.null_words = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        # context-awareness: sentence-gated FPN over C3..C5
        self.lateral = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in (c3, c4, c5))
        self.gate = nn.ModuleList(nn.Linear(dim, dim) for _ in range(3))
        self.smooth = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1), nn.GroupNorm(8, dim), nn.ReLU(inplace=True))
        dec = nn.TransformerDecoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(dec, decoder_layers)
        # dynamic convolution from the sentence vector -> correlation map
        self.projector = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim * 9 + 1))
        # point head: per-point spatial logits (+ correlation prior) -> soft-argmax
        self.head = nn.Sequential(nn.Conv2d(dim + 1, dim, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(dim, k, 1))
        self.log_temp = nn.Parameter(torch.zeros(1))
        if use_matching:
            self.graph = BehaviourGraph(dim, dim, knn=knn)
            self.matching = BehaviourMatching(dim, tau=sinkhorn_tau, iters=sinkhorn_iters)

    # ------------------------------------------------------------------------------ encoders
    def encode_text(self, sentences: Sequence[str], batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Word features ``(B, L, D)``, their mask ``(B, L)`` and the sentence vector ``(B, D)``."""
        if not self.use_text:
            words = self.null_words.expand(batch, -1, -1)
            return words, torch.ones(batch, 1, dtype=torch.bool, device=device), self.null_sentence.expand(batch, -1)
        if isinstance(sentences, str):
            sentences = [sentences]
        if len(sentences) != batch:
            raise ValueError(f"got {len(sentences)} sentences for {batch} images; give one sentence per image")
        ids, mask = self.tokenizer(sentences)
        ids, mask = ids.to(device), mask.to(device)
        words, sent = self.text(ids, mask)
        return words, mask, sent

    def forward(
        self,
        image: torch.Tensor,
        sentences: Sequence[str],
        target: Optional[torch.Tensor] = None,
    ) -> dict[str, torch.Tensor]:
        """Estimate gaze points.

        Args:
            image: ``(B, C, H, W)`` radiographs scaled to ``[0, 1]`` (H, W multiples of 32 work best).
            sentences: One report sentence per image.
            target: Optional ``(B, K, 2)`` real gaze points in ``[0, 1]`` fractions; with it (and
                ``use_matching``) the output also holds the soft correspondence ``log_match``.

        Returns:
            ``points`` ``(B, K, 2)`` in ``[0, 1]``, ``corr`` ``(B, 1, H/8, W/8)`` correlation map
            (logits), ``attention`` ``(B, K, H/8, W/8)`` per-point spatial distributions, and
            ``log_match`` ``(B, K, K)`` when a target is given and matching is on.
        """
        if image.ndim != 4:
            raise ValueError(f"image must be (B, C, H, W), got shape {tuple(image.shape)}")
        b = image.shape[0]
        _, c3, c4, c5 = self.encoder(image)
        words, mask, sent = self.encode_text(sentences, b, image.device)
        # sentence-gated FPN (top-down)
        feats = [c3, c4, c5]
        p = None
        for i in (2, 1, 0):
            lat = self.lateral[i](feats[i]) * torch.tanh(self.gate[i](sent))[:, :, None, None]
            p = lat if p is None else lat + F.interpolate(p, size=lat.shape[-2:], mode="nearest")
        fmap = self.smooth(p)
        _, d, h, w = fmap.shape
        pos = _pos2d(h, w, d, fmap.device).unsqueeze(0)
        tokens = fmap.flatten(2).transpose(1, 2) + pos
        tokens = self.decoder(tokens, words, memory_key_padding_mask=~mask)
        fmap = tokens.transpose(1, 2).reshape(b, d, h, w)
        # dynamic convolution
        kern = self.projector(sent)
        weight, bias = kern[:, :-1].reshape(b, d, 3, 3), kern[:, -1]
        corr = F.conv2d(fmap.reshape(1, b * d, h, w), weight, padding=1, groups=b)
        corr = corr.reshape(b, 1, h, w) / math.sqrt(d * 9) + bias[:, None, None, None]
        # K points by soft-argmax
        logits = self.head(torch.cat([fmap, corr], 1)) + corr
        attn = torch.softmax(logits.flatten(2) * self.log_temp.exp(), dim=-1).reshape(b, self.k, h, w)
        ys = (torch.arange(h, device=image.device, dtype=attn.dtype) + 0.5) / h
        xs = (torch.arange(w, device=image.device, dtype=attn.dtype) + 0.5) / w
        points = torch.stack([(attn.sum(2) * xs).sum(-1), (attn.sum(3) * ys).sum(-1)], -1)
        out = {"points": points, "corr": corr, "attention": attn, "features": fmap}
        if target is not None and self.use_matching:
            g_pred, a_pred = self.graph(corr, fmap, points)
            g_true, a_true = self.graph(corr, fmap, target.to(points.dtype))
            out["log_match"] = self.matching(g_pred, a_pred, g_true, a_true)
        return out

    def loss(self, out: dict[str, torch.Tensor], target: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss", "mse", "ce"}`` for a forward output and ``(B, K, 2)`` targets in ``[0, 1]``."""
        return gem_loss(out, target, matching_weight=self.matching_weight if self.use_matching else 0.0)

    @classmethod
    def from_checkpoint(cls, path: Union[str, Path], *, map_location: str = "cpu") -> "GEM":
        """Build a GEM from a checkpoint ``{"config", "state_dict", "meta"}`` written by
        :func:`medwave.gaze.training.train_gaze`, read with ``torch.load(weights_only=True)``; eval mode.
        Its ``meta`` (``image_size``, validation scores) comes with
        :func:`medwave.networks.checkpoint.load_network`.

        Raises:
            FileNotFoundError: No such file.
            ValueError: The file is not a medwave GEM checkpoint (or holds pickled objects: refused unread).
        """
        from medwave.networks.checkpoint import load_network

        return load_network(cls, path, map_location=map_location, what="GEM checkpoint",
                            hint="Train one with `medwave train-gaze`.")[0]


def gem_loss(out: dict[str, torch.Tensor], target: torch.Tensor, *, matching_weight: float = 0.1) -> dict[str, torch.Tensor]:
    """GEM's loss: ``MSE(points, target) + matching_weight x CE(correspondence, identity)``.

    Points and target are ``[0, 1]`` fractions; the MSE is taken on ``[-1, 1]`` coordinates (x4).
    The CE is ``-mean_i log S[i, i]`` of the Sinkhorn correspondence ``S`` (estimated point ``i``
    should match real point ``i``).
    """
    mse = F.mse_loss(out["points"] * 2 - 1, target.to(out["points"].dtype) * 2 - 1)
    ce = torch.zeros((), dtype=mse.dtype, device=mse.device)
    if matching_weight > 0 and "log_match" in out:
        ce = -torch.diagonal(out["log_match"], dim1=1, dim2=2).mean()
    return {"loss": mse + matching_weight * ce, "mse": mse, "ce": ce}
