"""An offline text encoder for report sentences: a word tokenizer and a small transformer.

No download is needed: the vocabulary is common chest X-ray report words (:data:`REPORT_WORDS`, which
cover medwave's synthetic reports), and any other word is hashed (CRC32) into one of ``n_hash``
buckets, so every word gets an embedding. The embeddings and the transformer are trained by
medwave (``medwave train-gaze``) together with GEM; the vocabulary is stored in the checkpoint.

Example:
    >>> from medwave.networks.blocks.text import WordTokenizer
    >>> tok = WordTokenizer(["left", "lung", "base"], n_hash=8, max_len=6)
    >>> ids, mask = tok(["Left lung base.", "zebra"])
    >>> ids.tolist(), mask.tolist()
    ([[1, 2, 3], [10, 0, 0]], [[True, True, True], [True, False, False]])
"""

from __future__ import annotations

import re
import zlib
from typing import Optional, Sequence

import torch
from torch import nn

__all__ = ["REPORT_WORDS", "WordTokenizer", "TextEncoder", "default_vocabulary"]

#: Common words of chest radiograph reports (a superset of the synthetic reports' vocabulary).
REPORT_WORDS: list[str] = (
    "a an the and or of in at on with without is are was be seen noted there no not new stable unchanged "
    "compared prior study previous interval increased decreased improved worsening change small large "
    "moderate severe mild minimal trace subtle possible likely suggest suggests consistent may represent "
    "right left bilateral both lung lungs lobe lobes zone base bases apex apices upper middle lower mid "
    "hilar hilum perihilar retrocardiac costophrenic angle angles hemidiaphragm diaphragm pleural pleura "
    "heart cardiac cardiomegaly cardiomediastinal silhouette mediastinum mediastinal aorta aortic knob "
    "trachea spine rib ribs clavicle osseous bony structures soft tissues tube line catheter pacemaker "
    "effusion effusions pneumothorax consolidation opacity opacities atelectasis edema congestion "
    "vascular pulmonary interstitial airspace infiltrate nodule nodules mass granuloma calcified "
    "scarring fibrosis emphysema hyperinflated clear well expanded normal abnormal size limits within "
    "enlarged focal diffuse patchy streaky linear platelike pneumonia fracture degenerative changes "
    # words of medwave's synthetic report sentences (medwave.gaze.synthetic; a test keeps them covered)
    "disease either lingula midlung over present projects shows"
).split()


def default_vocabulary() -> list[str]:
    """The default known-word list: :data:`REPORT_WORDS` (which covers the synthetic report vocabulary), sorted."""
    return sorted(set(REPORT_WORDS))


class WordTokenizer:
    """Lower-case word tokenizer with a fixed vocabulary and hashed out-of-vocabulary buckets.

    Id 0 is padding, ``1..V`` the known words, ``V+1..V+n_hash`` the hash buckets.

    Args:
        vocab: Known words.
        n_hash: Number of buckets for unknown words.
        max_len: Sentences are cut to this many words.
    """

    _word = re.compile(r"[a-z]+|[0-9]+")

    def __init__(self, vocab: Optional[Sequence[str]] = None, *, n_hash: int = 128, max_len: int = 32) -> None:
        self.vocab = list(vocab) if vocab is not None else default_vocabulary()
        self.index = {w: i + 1 for i, w in enumerate(self.vocab)}
        self.n_hash = int(n_hash)
        self.max_len = int(max_len)

    @property
    def size(self) -> int:
        """Number of ids (including padding)."""
        return 1 + len(self.vocab) + self.n_hash

    def words(self, sentence: str) -> list[str]:
        """The words of a sentence (lower case, letters and digits)."""
        return self._word.findall(str(sentence).lower())[: self.max_len]

    def encode(self, sentence: str) -> list[int]:
        """Token ids of one sentence (at least one: an empty sentence gives a hashed empty token)."""
        out = []
        for w in self.words(sentence) or [""]:
            i = self.index.get(w)
            if i is None:
                i = 1 + len(self.vocab) + (zlib.crc32(w.encode("utf-8")) % self.n_hash)
            out.append(i)
        return out

    def __call__(self, sentences: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Ids ``(B, L)`` (0-padded to the longest, at most ``max_len``) and a validity mask ``(B, L)``."""
        if isinstance(sentences, str):
            sentences = [sentences]
        enc = [self.encode(s) for s in sentences]
        length = max(len(e) for e in enc)
        ids = torch.zeros(len(enc), length, dtype=torch.long)
        for i, e in enumerate(enc):
            ids[i, : len(e)] = torch.tensor(e)
        return ids, ids > 0


class TextEncoder(nn.Module):
    """Word embeddings + a small transformer encoder; per-word features and a sentence vector.

    Args:
        vocab_size: Number of token ids (``WordTokenizer.size``).
        dim: Feature size.
        layers: Transformer layers.
        heads: Attention heads.
        max_len: Longest sentence (positional embeddings).
    """

    def __init__(self, vocab_size: int, *, dim: int = 64, layers: int = 2, heads: int = 4, max_len: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.pos = nn.Parameter(torch.zeros(1, max_len, dim))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.sentence_proj = nn.Linear(dim, dim)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return word features ``(B, L, dim)`` and the sentence vector ``(B, dim)`` (masked mean)."""
        x = self.embed(ids) + self.pos[:, : ids.shape[1]]
        x = self.norm(self.encoder(x, src_key_padding_mask=~mask))
        m = mask.unsqueeze(-1).to(x.dtype)
        sent = (x * m).sum(1) / m.sum(1).clamp_min(1.0)
        return x, self.sentence_proj(sent)
