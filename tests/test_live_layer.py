"""The live layer costs what a change holds: incremental loads, upserts derived once
per version, and each upsert scored only by the articles whose candidate sets it
joins."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from recommender import Article, Engine, Settings
from recommender.candidates import PrecomputedCandidates
from recommender.catalog import Catalog
from recommender.lexical import LexicalModel
from recommender.live import LiveChanges, LiveStore
from recommender.ranking import Ranker

from .conftest import TOPICS, make_engine
from .fakes import FakeEmbedder

EMBEDDER = FakeEmbedder()


def upsert(store: LiveStore, article_id: str, body: str) -> int:
    article = Article(id=article_id, title=article_id, body=body)
    vector = EMBEDDER.encode([article.title + "\n\n" + article.body])[0]
    return store.upsert(article, vector, EMBEDDER.model_id)


def same(a: LiveChanges, b: LiveChanges) -> bool:
    return (
        a.seq == b.seq
        and a.deleted == b.deleted
        and a.seqs == b.seqs
        and {i: (x.to_json(), v.tolist()) for i, (x, v, _) in a.upserts.items()}
        == {i: (x.to_json(), v.tolist()) for i, (x, v, _) in b.upserts.items()}
        and a.written == b.written
    )


def test_an_incremental_load_equals_a_full_one(tmp_path: Path) -> None:
    store = LiveStore(tmp_path / "live.sqlite")
    loaded = store.load()
    steps = [
        lambda: upsert(store, "a", TOPICS["sleep"]),
        lambda: upsert(store, "b", TOPICS["speech"]),
        lambda: store.delete("a"),
        lambda: upsert(store, "a", TOPICS["swallow"]),  # written again after a delete
        lambda: upsert(store, "b", TOPICS["sleep"] + " apnea"),  # replaced
        # A publish drops a change (the row goes, the count shows it) ...
        lambda: store.forget_redundant({"b": "not its hash"}, {"b": datetime.now(UTC)}),
        lambda: upsert(store, "c", TOPICS["sleep"]),  # ... and one is added after it
        lambda: store.delete("zzz"),
    ]
    for step in steps:
        step()
        loaded = store.load(loaded)
        assert same(loaded, store.load()), step
    assert set(loaded.upserts) == {"a", "c"} and loaded.deleted == {"zzz"}
    assert store.load(loaded) is loaded  # nothing new: the same object


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    # Sets of 3 per signal: an upsert joins only the sets of its own topic.
    settings = Settings(index_dir=tmp_path / "index", reload_interval=0.0, candidates=3)
    return make_engine(settings, tmp_path / "c.jsonl")


def precomputed(catalog: Catalog) -> PrecomputedCandidates:
    return PrecomputedCandidates(catalog, exhaustive_below=0)


def test_each_upsert_is_derived_once_per_version(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weighed: list[int] = []
    real = LexicalModel.weigh

    def counting(self: LexicalModel, documents: list[dict[str, str]]) -> object:
        weighed.append(len(documents))
        return real(self, documents)

    monkeypatch.setattr(LexicalModel, "weigh", counting)
    store = LiveStore(tmp_path / "live.sqlite")
    ranker = Ranker(engine.snapshot, store.load())
    base = ranker.catalog.base
    live = store.load()
    for i, topic in enumerate(["sleep", "speech", "sleep"]):
        upsert(store, f"new-{i}", TOPICS[topic])
        live = store.load(live)
        ranker = Ranker(engine.snapshot, live, catalog_base=base)
    upsert(store, "new-0", TOPICS["swallow"])  # a new version of the first
    ranker = Ranker(engine.snapshot, store.load(live), catalog_base=base)
    assert weighed == [1, 1, 1, 1]
    assert ranker.catalog.base is base and len(ranker.catalog.live_positions()) == 3


def test_an_upsert_is_scored_only_by_the_articles_it_is_near(
    engine: Engine, tmp_path: Path
) -> None:
    store = LiveStore(tmp_path / "live.sqlite")
    upsert(store, "sleep-new", TOPICS["sleep"] + " snoring apnea")
    upsert(store, "speech-new", TOPICS["speech"] + " naming words")
    ranker = Ranker(engine.snapshot, store.load(), candidate_source=precomputed)
    catalog = ranker.catalog
    sleep_new, speech_new = catalog.positions["sleep-new"], catalog.positions["speech-new"]
    for article_id in engine.snapshot.articles.ids:
        linked = set(catalog.linked_upserts(catalog.positions[article_id]).tolist())
        assert speech_new not in linked or article_id.startswith("speech-"), article_id
        assert sleep_new not in linked or article_id.startswith("sleep-"), article_id
    linked_to_sleep = [
        i
        for i in engine.snapshot.articles.ids
        if sleep_new in catalog.linked_upserts(catalog.positions[i])
    ]
    assert len(linked_to_sleep) >= 3  # its 3 nearest by cosine, and by terms
    # And a request for one of them ranks it.
    related = [
        item.article.id for item in ranker.related(ranker.query_for_article(linked_to_sleep[0]), 3)
    ]
    assert "sleep-new" in related
    assert np.array_equal(
        catalog.linked_upserts(catalog.positions["swallow-0"]), np.zeros(0, dtype=np.int64)
    )


def test_the_listing_reads_only_the_page_and_matches_a_full_sort(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recommender.engine import _sort_key

    engine.upsert(
        Article.from_record(
            {
                "id": "new-a",
                "title": "Apnea",
                "body": "sleep",
                "tags": ["sleep"],
                "published": "2025-03-15",
            }
        )
    )
    engine.upsert(
        Article.from_record(
            {"id": "new-b", "title": "Undated sleep", "body": "sleep", "status": "draft"}
        )
    )
    engine.upsert(
        Article.from_record(
            {
                "id": "sleep-1",
                "title": "Moved",
                "body": "sleep",
                "tags": ["sleep"],
                "published": "2025-01-11",
            }
        )
    )
    engine.delete("speech-2")
    every = engine._current().listed()

    def expected(**filters: str) -> list[str]:
        chosen = [
            a
            for a in every
            if (not filters.get("tag") or filters["tag"] in a.tags)
            and (not filters.get("status") or a.status == filters["status"])
            and (filters.get("title_contains", "").casefold() in a.title.casefold())
        ]
        return [a.id for a in sorted(chosen, key=_sort_key)]

    for filters in ({}, {"tag": "sleep"}, {"status": "draft"}, {"title_contains": "SLEEP"}):
        want = expected(**filters)
        assert engine.list_articles(limit=500, **filters).total == len(want), filters
        # Offsets and cursors walk the same order.
        for limit in (1, 3, 7):
            by_offset = [
                a.id
                for start in range(0, len(want), limit)
                for a in engine.list_articles(limit=limit, offset=start, **filters).articles
            ]
            assert by_offset == want, (filters, limit)
            walked, cursor = [], None
            while True:
                page = engine.list_articles(limit=limit, cursor=cursor, **filters)
                walked += [a.id for a in page.articles]
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert walked == want, (filters, limit)
    assert engine.list_articles(status="no-such-status").total == 0
    # A page without filters reads only its own articles.
    read: list[int] = []
    catalog = engine._current().catalog
    real = catalog.article
    monkeypatch.setattr(catalog, "article", lambda p: read.append(p) or real(p))
    assert len(engine.list_articles(limit=4).articles) == 4 and len(read) == 4


def test_live_lexical_scores_equal_the_scores_of_weighing_each_upsert(
    engine: Engine, tmp_path: Path
) -> None:
    store = LiveStore(tmp_path / "live.sqlite")
    for i, topic in enumerate(["sleep", "speech", "swallow", "sleep"]):
        upsert(store, f"new-{i}", TOPICS[topic] + f" extra{i}")
    catalog = Ranker(engine.snapshot, store.load()).catalog
    live = catalog.live_positions()
    every = np.arange(catalog.n_snapshot + live.size)
    for article_id in ["sleep-0", "speech-1", "new-1"]:
        query = catalog.lexical_query(catalog.positions[article_id]).weighted("bm25")
        dense_query = query.terms.toarray()[0]
        expected = []
        for position in live:
            terms, weights = catalog.lexical_row(int(position))
            expected.append(float(dense_query[terms] @ weights) / query.own)
        scores = catalog.lexical_scores(query)
        assert scores[live] == pytest.approx(np.clip(expected, 0, 1), abs=1e-6)
        assert scores[live].max() > 0  # the same topic shares terms
        # A few rows, live ones among them, are the same values bit for bit.
        few = np.array([0, 5, live[0], live[2]])
        assert np.array_equal(catalog.lexical_scores_at(query, few), scores[few])
        assert np.array_equal(catalog.lexical_scores_at(query, every), scores)
