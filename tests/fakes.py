"""Test doubles whose answers are known by construction."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

_WORD = re.compile(r"\S+")
_LETTERS = re.compile(r"[^a-z]+")


def word_vector(word: str, dim: int) -> np.ndarray:
    """A fixed pseudo-random unit vector per word (stable across processes)."""
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


class FakeEmbedder:
    """Bag-of-words embedder: a text's vector is the normalised sum of its word vectors.

    Texts sharing words are close, texts sharing none are nearly orthogonal, so
    the right neighbours are known from the words alone. Tokens are whitespace
    words; ``max_tokens`` is small so chunking is easy to exercise.
    """

    def __init__(self, dim: int = 64, max_tokens: int = 64, model_id: str = "fake-bow") -> None:
        self._dim = dim
        self._max_tokens = max_tokens
        self._model_id = model_id
        self.encoded: list[str] = []

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _WORD.finditer(text)]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded.extend(texts)
        rows = []
        for text in texts:
            words = [w for w in (_LETTERS.sub("", t.lower()) for t in text.split()) if w]
            total = np.zeros(self._dim, dtype=np.float32)
            for word in words:
                total += word_vector(word, self._dim)
            norm = np.linalg.norm(total)
            rows.append(total / norm if norm else total)
        return np.vstack(rows).astype(np.float32)


class FakeClock:
    """A clock that stands still until a test moves it (no sleeping, no races).

    Pass it as ``now`` to :class:`recommender.Engine` or :class:`recommender.ranking.Ranker`.
    """

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment

    def advance(self, **delta: float) -> None:
        """Move forward by a :class:`datetime.timedelta` given as keywords (``hours=3``)."""
        self.current += timedelta(**delta)
