"""The readers of one part of a stored version (:class:`SnapshotStore`'s ``records``,
``lexical_model`` and ``candidate_sets``): what other modules use instead of the
snapshot's file names, each equal to the part a full load gives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from recommender import NoSnapshot, Settings, SnapshotCorrupt
from recommender.pipeline import build_index
from recommender.records import IDS
from recommender.snapshot import CANDIDATES, LEXICAL, Snapshot, SnapshotStore

from .conftest import topic_records
from .fakes import FakeEmbedder


@pytest.fixture
def store(settings: Settings, write_jsonl: Callable[..., Path]) -> SnapshotStore:
    build_index([write_jsonl(topic_records())], settings, FakeEmbedder())
    return SnapshotStore(settings.index_dir)


def test_each_part_equals_the_loaded_snapshots(store: SnapshotStore) -> None:
    loaded = Snapshot.load(store)
    version = loaded.version
    assert list(store.records().ids) == [r["id"] for r in topic_records()]
    assert store.records(version).content_hashes == loaded.content_hashes
    assert store.article_ids(version) == list(loaded.articles.ids)
    lexical = store.lexical_model(version, word_counts=True)
    assert lexical.describe() == loaded.lexical.describe()
    assert lexical.word_counts_ is not None and len(lexical.word_counts_) > 0
    assert store.lexical_model(version).word_counts_ is None
    candidates = store.candidate_sets(version)
    assert loaded.candidates is not None and candidates is not None
    assert candidates.dtype == np.int32
    np.testing.assert_array_equal(candidates, loaded.candidates)


def test_nothing_published(tmp_path: Path) -> None:
    with pytest.raises(NoSnapshot):
        SnapshotStore(tmp_path).records()


def test_a_version_without_candidate_sets(store: SnapshotStore) -> None:
    version = store.resolve()
    manifest = store.path(version) / "manifest.json"
    text = manifest.read_text("utf-8").replace(f'"{CANDIDATES}"', '"not-a-candidates-file"')
    manifest.write_text(text, "utf-8")
    assert store.candidate_sets(version) is None


def test_unreadable_parts_are_corrupt(store: SnapshotStore) -> None:
    version = store.resolve()
    base = store.path(version)
    np.save(base / CANDIDATES, np.zeros((2, 3), dtype=np.int32))  # rows ≠ articles
    with pytest.raises(SnapshotCorrupt, match="differ from the manifest's article count") as bad:
        store.candidate_sets(version)
    assert bad.value.path == str(base / CANDIDATES)
    (base / LEXICAL / "lexical.json").unlink()
    with pytest.raises(SnapshotCorrupt, match="cannot be read") as lexical:
        store.lexical_model(version)
    assert lexical.value.path == str(base / LEXICAL)
    (base / IDS).unlink()
    with pytest.raises(SnapshotCorrupt, match="cannot be read") as records:
        store.records(version)
    assert records.value.path == str(base)
