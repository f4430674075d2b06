"""Building, re-building and loading snapshots."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recommender import Settings
from recommender.errors import InvalidCorpus, NoSnapshot, SnapshotCorrupt, SnapshotMismatch
from recommender.pipeline import build_index
from recommender.snapshot import Snapshot, SnapshotStore

from .conftest import topic_records
from .fakes import FakeEmbedder

WriteJsonl = Callable[..., Path]


def test_build_publishes_a_complete_snapshot(
    settings: Settings, fake_embedder: FakeEmbedder, write_jsonl: WriteJsonl
) -> None:
    report = build_index([write_jsonl(topic_records())], settings, fake_embedder)
    assert report.published and report.indexed == 20 and report.embedded == 20
    store = SnapshotStore(settings.index_dir)
    assert store.current_version() == report.version
    manifest = store.verify(report.version)
    assert manifest.model_id == "fake-bow"
    assert manifest.dim == 64
    assert manifest.article_count == 20
    assert set(manifest.files) >= {"articles.jsonl", "vectors.npy", "dense.faiss"}
    assert all(len(digest) == 64 for digest in manifest.files.values())
    snapshot = Snapshot.load(store, expect_model="fake-bow", expect_dim=64)
    assert len(snapshot.articles) == 20
    assert np.allclose(np.linalg.norm(snapshot.vectors, axis=1), 1.0, atol=1e-5)
    # Nothing is left behind by the build.
    assert not list((settings.index_dir / "versions").glob(".build-*"))


def test_second_run_embeds_nothing(
    settings: Settings, fake_embedder: FakeEmbedder, write_jsonl: WriteJsonl
) -> None:
    source = write_jsonl(topic_records())
    first = build_index([source], settings, fake_embedder)
    encoded = len(fake_embedder.encoded)
    second = build_index([source], settings, fake_embedder)
    assert second.embedded == 0
    assert len(fake_embedder.encoded) == encoded  # the model was not called at all
    assert not second.published and second.version == first.version
    assert second.unchanged == 20


def test_changes_embed_only_what_changed(
    settings: Settings, fake_embedder: FakeEmbedder, write_jsonl: WriteJsonl
) -> None:
    records = topic_records()
    build_index([write_jsonl(records)], settings, fake_embedder)
    changed: list[dict[str, Any]] = [dict(r) for r in records[1:]]  # one removed
    changed[0]["body"] += " extra words"  # one updated
    changed.append({"id": "new-one", "title": "New", "body": "brand new text"})  # one added
    report = build_index([write_jsonl(changed, "v2.jsonl")], settings, fake_embedder)
    assert (report.added, report.updated, report.removed) == (1, 1, 1)
    assert report.unchanged == 18
    assert report.embedded == 2
    # A metadata-only change (tags) changes the snapshot but embeds nothing new.
    changed[5]["tags"] = ["retagged"]
    report = build_index([write_jsonl(changed, "v3.jsonl")], settings, fake_embedder)
    assert report.published and report.updated == 1 and report.embedded == 0


def test_model_change_reembeds_everything(settings: Settings, write_jsonl: WriteJsonl) -> None:
    source = write_jsonl(topic_records())
    build_index([source], settings, FakeEmbedder(model_id="model-a"))
    report = build_index([source], settings, FakeEmbedder(model_id="model-b"))
    assert report.published and report.embedded == 20


def test_loading_with_another_model_is_refused(
    settings: Settings, fake_embedder: FakeEmbedder, write_jsonl: WriteJsonl
) -> None:
    build_index([write_jsonl(topic_records())], settings, fake_embedder)
    store = SnapshotStore(settings.index_dir)
    with pytest.raises(SnapshotMismatch, match="built with model 'fake-bow'"):
        Snapshot.load(store, expect_model="sentence-transformers/all-MiniLM-L6-v2")
    with pytest.raises(SnapshotMismatch, match="64 dimensions"):
        Snapshot.load(store, expect_model="fake-bow", expect_dim=384)


@pytest.mark.parametrize("damage", ["truncate", "delete", "manifest"])
def test_damaged_snapshot_is_refused(
    settings: Settings, fake_embedder: FakeEmbedder, write_jsonl: WriteJsonl, damage: str
) -> None:
    report = build_index([write_jsonl(topic_records())], settings, fake_embedder)
    store = SnapshotStore(settings.index_dir)
    base = store.path(str(report.version))
    if damage == "truncate":
        (base / "vectors.npy").write_bytes(b"\x93NUMPY")
        expected = "checksum"
    elif damage == "delete":
        (base / "dense.faiss").unlink()
        expected = "missing"
    else:
        (base / "manifest.json").write_text("{not json")
        expected = "unreadable"
    with pytest.raises(SnapshotCorrupt, match=expected):
        Snapshot.load(store)


def test_nothing_published_yet(settings: Settings) -> None:
    with pytest.raises(NoSnapshot, match="recommender index"):
        Snapshot.load(SnapshotStore(settings.index_dir))


def test_all_records_rejected_publishes_nothing(
    settings: Settings, fake_embedder: FakeEmbedder, write_jsonl: WriteJsonl
) -> None:
    good = write_jsonl(topic_records())
    build_index([good], settings, fake_embedder)
    before = SnapshotStore(settings.index_dir).current_version()
    bad = write_jsonl([{"id": "x"}, {"title": "y"}], "bad.jsonl")
    with pytest.raises(InvalidCorpus, match="no valid article"):
        build_index([bad], settings, fake_embedder)
    assert SnapshotStore(settings.index_dir).current_version() == before


def test_failed_build_leaves_published_snapshot(
    settings: Settings, write_jsonl: WriteJsonl
) -> None:
    source = write_jsonl(topic_records())
    build_index([source], settings, FakeEmbedder())
    store = SnapshotStore(settings.index_dir)
    before = store.current_version()

    class Exploding(FakeEmbedder):
        def encode(self, texts: Any) -> Any:
            raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        build_index([source], settings, Exploding(model_id="other"))
    assert store.current_version() == before
    Snapshot.load(store)  # still loads and verifies
    assert not list((settings.index_dir / "versions").glob(".build-*"))


def test_manifest_is_plain_json(
    settings: Settings, fake_embedder: FakeEmbedder, write_jsonl: WriteJsonl
) -> None:
    report = build_index([write_jsonl(topic_records())], settings, fake_embedder)
    path = settings.index_dir / "versions" / str(report.version) / "manifest.json"
    data = json.loads(path.read_text())
    assert {"version", "created", "model_id", "dim", "article_count", "corpus_fingerprint"} <= set(
        data
    )


def test_the_dense_index_is_read_only_when_a_search_needs_it(
    settings: Settings,
    fake_embedder: FakeEmbedder,
    write_jsonl: WriteJsonl,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import faiss

    from recommender.candidates import PrecomputedCandidates
    from recommender.ranking import Ranker

    build_index([write_jsonl(topic_records())], settings, fake_embedder)
    read: list[str] = []
    real = faiss.read_index

    def counting(path: str, flags: int = 0) -> Any:
        read.append(Path(path).name)
        return real(path, flags)

    monkeypatch.setattr(faiss, "read_index", counting)
    snapshot = Snapshot.load(SnapshotStore(settings.index_dir), verify="sizes")

    def stored_sets(catalog: Any) -> PrecomputedCandidates:
        return PrecomputedCandidates(catalog, exhaustive_below=0)

    # An indexed article's list comes from its stored candidate set: no dense search.
    ranker = Ranker(snapshot, candidate_source=stored_sets)
    assert ranker.related(ranker.query_for_article("sleep-0"), 3) and read == []
    query = np.asarray(snapshot.vectors[:1], dtype=np.float32)
    assert snapshot.dense.search(query, 3)[1][0][0] == 0 and read == ["dense.faiss"]
    snapshot.dense.search(query, 3)
    assert read == ["dense.faiss"]  # read once


def test_a_damaged_dense_index_is_refused_when_first_searched(
    settings: Settings, fake_embedder: FakeEmbedder, write_jsonl: WriteJsonl
) -> None:
    report = build_index([write_jsonl(topic_records())], settings, fake_embedder)
    store = SnapshotStore(settings.index_dir)
    path = store.path(str(report.version)) / "dense.faiss"
    path.write_bytes(b"\0" * path.stat().st_size)  # the size the manifest records
    snapshot = Snapshot.load(store, verify="sizes")  # as a server worker loads it
    with pytest.raises(SnapshotCorrupt, match=r"cannot read dense\.faiss"):
        snapshot.dense.search(np.ones((1, 64), dtype=np.float32), 3)
