"""The dense index a snapshot serves: read on first use, or at once for a server
that takes writes, with its file read through into the page cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender import Engine, Settings
from recommender.index import VectorIndex, read_through

from .conftest import TOPICS, article, make_engine
from .fakes import FakeEmbedder


def test_a_served_index_is_read_on_first_use(engine: Engine) -> None:
    dense = engine.snapshot.dense
    assert not dense.loaded  # loading a snapshot does not read it
    dense.search(engine.snapshot.vectors[:1], 3)
    assert dense.loaded


def test_a_server_that_takes_writes_reads_it_before_the_first_write(engine: Engine) -> None:
    dense = engine.snapshot.dense
    engine.prepare_writes()
    assert dense.loaded
    _, positions = dense.search(engine.snapshot.vectors[:1], 1)
    assert positions[0][0] == 0


def test_a_server_that_takes_writes_readies_the_html_reader_first(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BeautifulSoup is imported, and builds its table of character references, on
    the first HTML it reads: the first write would wait for both."""
    reduced: list[str] = []
    monkeypatch.setattr(
        "recommender.engine.html_to_text", lambda text: reduced.append(text) or text
    )
    engine.prepare_writes()
    assert len(reduced) == 1 and "<p>" in reduced[0] and "&amp;" in reduced[0]


def test_the_file_is_read_through_once(tmp_path: Path) -> None:
    vectors = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    path = tmp_path / "dense.faiss"
    VectorIndex().fit(vectors).save(path)
    assert read_through(path, chunk=64) == path.stat().st_size
    assert read_through(tmp_path / "missing.faiss") == 0
    loaded = VectorIndex.load(path, lazy=True)
    assert not loaded.loaded
    loaded.load_now()
    assert loaded.loaded and loaded.size == 50


def test_after_a_reload_a_server_that_takes_writes_has_read_the_new_index(
    tmp_path: Path,
) -> None:
    settings = Settings(index_dir=tmp_path / "index", reload_interval=0.0)
    engine = make_engine(settings, tmp_path / "c.jsonl")
    assert engine.reload() is False
    engine.prepare_writes()
    extra = [article("new-1", "Sleep apnea clinic", TOPICS["sleep"])]
    make_engine(settings, tmp_path / "c.jsonl", extra)  # publishes a new version
    before = engine.snapshot.version
    assert engine.reload() and engine.snapshot.version != before
    assert engine.snapshot.dense.loaded
    # A server that takes no writes keeps reading it on first use.
    reader = Engine(settings, embedder=FakeEmbedder())
    assert not reader.snapshot.dense.loaded
