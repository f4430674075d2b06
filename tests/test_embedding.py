"""Chunking, combining and caching embeddings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recommender.embedding import (
    EmbeddingCache,
    EmbedStats,
    SentenceTransformerEmbedder,
    embed_texts,
    plan_chunks,
)

from .fakes import FakeEmbedder


def test_short_text_is_one_chunk() -> None:
    plan = plan_chunks(FakeEmbedder(max_tokens=10), "Title", "Title one two three")
    assert plan.chunks == ["Title one two three"]


def test_long_text_is_chunked_to_fit_and_led_by_title() -> None:
    embedder = FakeEmbedder(max_tokens=10)
    words = [f"w{i}" for i in range(40)]
    text = "Big title " + " ".join(words)
    plan = plan_chunks(embedder, "Big title", text, overlap=2)
    assert len(plan.chunks) > 3
    for chunk in plan.chunks:
        assert len(embedder.token_spans(chunk)) <= 10  # fits the window with its title
    assert all(c.startswith("Big title") for c in plan.chunks)
    # Nothing is lost: every body word appears in some chunk.
    joined = " ".join(plan.chunks)
    assert all(w in joined.split() for w in words)
    assert len(plan.weights) == len(plan.chunks)


def test_combined_vector_is_weighted_mean_of_chunks() -> None:
    embedder = FakeEmbedder(max_tokens=8)
    text = "alpha " * 12 + "omega " * 4
    (vector,) = embed_texts(embedder, [("", text.strip())], chunk_overlap=0)
    chunk_vectors = embedder.encode(["alpha " * 8, ("alpha " * 4 + "omega " * 4).strip()])
    expected = chunk_vectors.sum(axis=0)  # equal token counts → equal weights
    expected /= np.linalg.norm(expected)
    assert np.allclose(vector, expected, atol=1e-5)
    assert np.isclose(np.linalg.norm(vector), 1.0)


def test_cache_skips_known_texts(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    items = [("a", "apple banana"), ("b", "cherry date"), ("a", "apple banana")]
    stats = EmbedStats()
    first = embed_texts(embedder, items, cache=cache, stats=stats)
    assert (stats.embedded, stats.cached) == (2, 0)  # the repeated text is embedded once
    assert len(cache) == 2
    again = EmbedStats()
    second = embed_texts(embedder, items, cache=cache, stats=again)
    assert again.embedded == 0 and again.cached == 3
    assert np.allclose(first, second)
    assert cache.misses == 2 and cache.hits == 2
    # Another model id never reuses these vectors.
    other = EmbedStats()
    embed_texts(FakeEmbedder(model_id="other"), items, cache=cache, stats=other)
    assert other.embedded == 2


@pytest.mark.real_model
def test_real_model_chunks_fit_its_window(real_embedder: SentenceTransformerEmbedder) -> None:
    body = " ".join(
        f"Sentence {i} describes spasticity, botulinum toxin and gait training." for i in range(80)
    )
    plan = plan_chunks(real_embedder, "Spasticity treatment", body)
    assert len(plan.chunks) >= 3
    for chunk in plan.chunks:
        assert len(real_embedder.token_spans(chunk)) <= real_embedder.max_tokens
    vectors = embed_texts(real_embedder, [("Spasticity treatment", body)], progress=False)
    assert vectors.shape == (1, 384)
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-5)
    # The tail of the text counts: an article that differs only after the model's window
    # gets a different vector (a silent truncation would make them equal).
    changed = body + " Completely different closing about music therapy and singing." * 20
    other = embed_texts(real_embedder, [("Spasticity treatment", changed)], progress=False)
    assert float(vectors[0] @ other[0]) < 0.999


def test_a_model_pass_uses_the_threads_asked_for() -> None:
    # torch's thread count holds for a whole process: asked in a process of its own.
    code = (
        "import torch\n"
        "from recommender.embedding import SentenceTransformerEmbedder\n"
        "default = torch.get_num_threads()\n"
        "SentenceTransformerEmbedder(threads=1).encode(['a short text'])\n"
        "print(default, torch.get_num_threads())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    default, used = map(int, done.stdout.split()[-2:])
    assert used == 1 and default >= 1
