"""The dense index a snapshot serves: read on first use, or at once for a server
that takes writes, with its file read through into the page cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recommender import Engine
from recommender.index import VectorIndex, read_through


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
