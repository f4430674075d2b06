"""A reindex takes over the published snapshot's lexical counts and candidate sets
for unchanged articles, and gives what a full build gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recommender import Settings, neighbours
from recommender.pipeline import build_index
from recommender.snapshot import Snapshot, SnapshotStore

from .conftest import TOPICS, article
from .fakes import FakeEmbedder

WORDS = " ".join(TOPICS.values()).split()


def records(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` articles of random words from the topic vocabularies (some shared)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        topic = list(TOPICS)[i % len(TOPICS)]
        own = TOPICS[topic].split()
        body = " ".join(rng.choice(own, 12).tolist() + rng.choice(WORDS, 4).tolist())
        out.append(article(f"a{i:03d}", " ".join(rng.choice(own, 3)), body, tags=[topic]))
    return out


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def snapshot(settings: Settings) -> Snapshot:
    return Snapshot.load(SnapshotStore(settings.index_dir))


def indexed(tmp_path: Path, rows: list[dict[str, Any]], name: str) -> tuple[Settings, FakeEmbedder]:
    """``rows`` built into ``tmp_path / name`` (10 candidates a signal), and the embedder."""
    embedder = FakeEmbedder()
    settings = Settings(index_dir=tmp_path / name, candidates=10)
    build_index([write(tmp_path / f"{name}-before.jsonl", rows)], settings, embedder)
    return settings, embedder


@pytest.fixture
def changed(tmp_path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    before = records(120, seed=1)
    after = [dict(r) for r in before]
    after[7]["body"] = "dysphagia throat saliva swallowing words rewritten"  # changed
    after[50]["title"] = "A new title for an old article"  # changed
    del after[90]  # removed
    after.append(article("new-1", "Sleep apnea clinic", TOPICS["sleep"]))  # added
    after.insert(3, article("new-2", "Naming therapy", TOPICS["speech"]))  # added, moves rows
    return before, after


def test_a_reindex_reuses_unchanged_parts_and_equals_a_full_build(
    tmp_path: Path,
    changed: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before, after = changed
    reindexed, embedder = indexed(tmp_path, before, "reindexed")

    # The lexical fit tokenises only the new and changed articles' fields.
    from recommender import lexical

    counted: list[int] = []
    real_count = lexical.LexicalModel._count

    def counting(self: Any, documents: Any, *args: Any, **kwargs: Any) -> Any:
        counted.append(len(documents))
        return real_count(self, documents, *args, **kwargs)

    monkeypatch.setattr(lexical.LexicalModel, "_count", counting)
    # Records are serialised only for the new and changed articles.
    from recommender.articles import Article

    serialised: list[str] = []
    real_to_json = Article.to_json

    def recording(self: Article) -> dict[str, Any]:
        serialised.append(self.id)
        return real_to_json(self)

    monkeypatch.setattr(Article, "to_json", recording)
    report = build_index([write(tmp_path / "after.jsonl", after)], reindexed, embedder)
    monkeypatch.undo()
    assert sorted(serialised) == sorted(["new-1", "new-2", after[8]["id"], after[51]["id"]])
    assert (report.added, report.updated, report.removed) == (2, 2, 1)
    # Counted: the 4 new or changed documents, then the 3 that left the counts (2
    # old versions and 1 removed) to update the words' surface forms.
    assert sorted(counted) == [3, 4]

    full = Settings(index_dir=tmp_path / "full", candidates=10)
    build_index([tmp_path / "after.jsonl"], full, embedder)
    got, want = snapshot(reindexed), snapshot(full)
    assert got.articles.ids == want.articles.ids
    # Unchanged records are copied from the published file, byte for byte what a
    # full build writes.
    records_file = "articles.jsonl"
    assert (SnapshotStore(reindexed.index_dir).path(got.version) / records_file).read_bytes() == (
        SnapshotStore(full.index_dir).path(want.version) / records_file
    ).read_bytes()
    assert got.lexical.vocabulary_ == want.lexical.vocabulary_
    assert got.lexical.surface_ == want.lexical.surface_
    np.testing.assert_allclose(got.lexical.matrix_.toarray(), want.lexical.matrix_.toarray())
    assert got.candidates is not None and want.candidates is not None
    # Dense sets are exactly a full build's; lexical ones may drift with the idf, and
    # here share almost every member.
    np.testing.assert_array_equal(got.candidates[:, :10], want.candidates[:, :10])
    overlap = [
        len(set(a[a >= 0]) & set(b[b >= 0])) / max(1, len(set(b[b >= 0])))
        for a, b in zip(got.candidates[:, 10:], want.candidates[:, 10:], strict=True)
    ]
    assert np.mean(overlap) >= 0.95


def test_a_full_build_or_new_candidate_parameters_reuse_nothing(
    tmp_path: Path,
    changed: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before, after = changed
    settings, embedder = indexed(tmp_path, before, "index")
    from recommender import reuse

    refreshed: list[int] = []
    real = reuse.refresh_candidates
    monkeypatch.setattr(
        "recommender.pipeline.refresh_candidates",
        lambda *args, **kwargs: refreshed.append(1) or real(*args, **kwargs),
    )
    build_index([write(tmp_path / "after.jsonl", after)], settings, embedder, full=True)
    wider = Settings(index_dir=tmp_path / "index", candidates=12)
    build_index([write(tmp_path / "again.jsonl", before)], wider, embedder)
    assert refreshed == []
    got = snapshot(wider)
    assert got.candidates is not None and got.candidates.shape == (len(before), 24)
    build_index([tmp_path / "after.jsonl"], wider, embedder)
    assert refreshed == [1]


def test_a_reindex_validates_only_the_records_that_changed(
    tmp_path: Path,
    changed: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from recommender import corpus
    from recommender.articles import Article

    before, after = changed
    settings, embedder = indexed(tmp_path, before, "index")
    validated: list[str] = []
    real_from_record = Article.from_record

    def recording(record: dict[str, Any], **options: Any) -> Article:
        validated.append(record["id"])
        return real_from_record(record, **options)

    monkeypatch.setattr(Article, "from_record", recording)
    source = write(tmp_path / "after.jsonl", after)
    report = build_index([source], settings, embedder)
    assert (report.added, report.updated, report.removed) == (2, 2, 1)
    assert validated == ["new-2", after[8]["id"], after[51]["id"], "new-1"]
    # Taken as stored, the unchanged records give what validating them gives.
    full = Settings(index_dir=tmp_path / "full", candidates=10)
    build_index([source], full, embedder)
    assert [a.to_json() for a in snapshot(settings).articles] == [
        a.to_json() for a in snapshot(full).articles
    ]

    # Another version of the readers validates every record again.
    validated.clear()
    monkeypatch.setattr(corpus, "READER_VERSION", corpus.READER_VERSION + 1)
    again = build_index([source], settings, embedder)
    assert len(validated) == len(after) and again.unchanged == len(after)


def test_a_reindex_refreshes_the_featured_neighbours_as_a_full_build_finds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 10 candidates a signal: rows of 60 featured articles, and 2 in 3 of 120 featured.
    before = [r | {"featured": i % 3 != 0} for i, r in enumerate(records(120, seed=2))]
    after = [dict(r) for r in before]
    after[4]["body"] = "dysphagia throat saliva swallowing words rewritten"  # featured, changed
    after[10]["featured"] = False  # no longer featured
    after[12]["featured"] = True  # featured now
    del after[20]  # a featured article removed
    after.append(article("new-1", "Sleep apnea", TOPICS["sleep"], featured=True))  # added
    after.insert(3, article("new-2", "Naming", TOPICS["speech"]))  # added, moves rows
    settings, embedder = indexed(tmp_path, before, "reindexed")
    previous = snapshot(settings).featured_neighbours
    assert previous is not None
    # Searched again: the rows of the 5 new or changed articles, and every other row
    # that held a featured article that changed or left (old positions 4, 10, 20).
    lost = np.isin(previous, [4, 10, 20]).any(axis=1)
    lost[[4, 10, 12, 20]] = False
    expected = 5 + int(lost.sum())

    searched: list[int] = []
    real = neighbours.featured_neighbours

    def recording(vectors: np.ndarray, featured: np.ndarray, k: int, **kwargs: Any) -> np.ndarray:
        found = real(vectors, featured, k, **kwargs)
        searched.append(len(found))
        return found

    monkeypatch.setattr(neighbours, "featured_neighbours", recording)
    build_index([write(tmp_path / "after.jsonl", after)], settings, embedder)
    # Only the rows the changes reach were searched again, not the corpus.
    assert searched == [expected] and expected < len(after)
    full = Settings(index_dir=tmp_path / "full", candidates=10)
    build_index([tmp_path / "after.jsonl"], full, embedder)
    got, want = snapshot(settings).featured_neighbours, snapshot(full).featured_neighbours
    assert got is not None and want is not None and got.shape == (len(after), 60)
    np.testing.assert_array_equal(got, want)


def test_a_corpus_featuring_few_articles_stores_no_featured_neighbours(tmp_path: Path) -> None:
    rows = [r | {"featured": i % 3 == 0} for i, r in enumerate(records(120, seed=2))]
    settings, _ = indexed(tmp_path, rows, "few")  # 40 featured, rows of 60
    got = snapshot(settings)
    assert got.featured_neighbours is None and got.candidates is not None
    files = SnapshotStore(settings.index_dir).read_manifest(got.version).files
    assert "featured_neighbours.npy" not in files and "candidates.npy" in files
