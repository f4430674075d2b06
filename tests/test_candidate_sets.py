"""Candidate sets found at build time: on a corpus small enough that every article
is in every set, ranking them gives exactly the exhaustive ranking, for every knob;
live upserts and deletes reach other articles' lists; drafts and small snapshots
are searched exhaustively."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from recommender import Article, Engine, RankingKnobs, Settings
from recommender.candidates import ExhaustiveCandidates, PrecomputedCandidates
from recommender.catalog import Catalog
from recommender.live import LiveChanges, LiveStore
from recommender.pipeline import build_index
from recommender.ranking import Ranker
from recommender.rules import Pin, RuleSet

from .conftest import TOPICS, make_engine, topic_records
from .fakes import FakeEmbedder

KNOBS = [
    RankingKnobs(
        tag_boost=tag_boost,
        require_shared_tag=shared,
        max_age_days=max_age,
        recency_half_life_days=half_life,
        mmr_lambda=mmr,
        min_score=floor,
        fallback=fallback,
    )
    for tag_boost, shared, max_age, half_life, mmr, floor, fallback in itertools.product(
        (0.0, 0.4), (False, True), (0.0, 400.0), (0.0, 90.0), (1.0, 0.6), (0.0, 0.35), (True, False)
    )
]


def precomputed(catalog: Catalog) -> PrecomputedCandidates:
    """The stored candidate sets, whatever the size of the snapshot."""
    return PrecomputedCandidates(catalog, exhaustive_below=0)


def answers(ranker: Ranker, article_id: str, knobs: RankingKnobs, rules: RuleSet) -> object:
    query = ranker.query_for_article(article_id)
    related, featured = ranker.recommendations(query, 6, knobs=knobs, rules=rules)
    return [item.to_json() for item in (*related, *featured)]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    folder = tmp_path_factory.mktemp("sets")
    return make_engine(Settings(index_dir=folder / "index"), folder / "c.jsonl")


@pytest.mark.parametrize("fusion", ["weighted", "rrf", "minmax"])
def test_every_article_in_every_set_gives_the_exhaustive_ranking(
    engine: Engine, fusion: str
) -> None:
    snapshot = engine.snapshot
    assert snapshot.candidates is not None and snapshot.candidates.shape[1] == 200
    rules = RuleSet(
        pins={"sleep-0": (Pin("speech-2", 2),)}, blocks={"sleep-0": frozenset({"sleep-3"})}
    )
    stored = Ranker(snapshot, fusion=fusion, candidate_source=precomputed)  # type: ignore[arg-type]
    scanned = Ranker(snapshot, fusion=fusion, candidate_source=ExhaustiveCandidates)  # type: ignore[arg-type]
    # Every knob combination with the default fusion; every third with the others.
    combinations = KNOBS if fusion == "weighted" else KNOBS[::3]
    for knobs in combinations:
        for article_id in ("sleep-0", "speech-4", "swallow-1"):
            assert answers(stored, article_id, knobs, rules) == answers(
                scanned, article_id, knobs, rules
            ), (article_id, knobs)


def test_live_upserts_and_deletes_reach_other_lists(engine: Engine, tmp_path: Path) -> None:
    store = LiveStore(tmp_path / "live.sqlite")
    embedder = FakeEmbedder()
    article = Article(id="sleep-new", title="Apnea clinic", body=TOPICS["sleep"] + " snoring")
    vector = embedder.encode([article.title + "\n\n" + article.body])[0]
    store.upsert(article, vector, embedder.model_id)
    store.delete("sleep-2")
    ranker = Ranker(engine.snapshot, store.load(), candidate_source=precomputed)
    related = [i.article.id for i in ranker.related(ranker.query_for_article("sleep-0"), 8)]
    assert "sleep-new" in related and "sleep-2" not in related
    # The upsert's own list comes from the set made when it was written.
    own = [i.article.id for i in ranker.related(ranker.query_for_article("sleep-new"), 4)]
    assert own and all(i.startswith("sleep-") for i in own)


def test_an_upserts_own_set_gives_the_exhaustive_ranking(engine: Engine, tmp_path: Path) -> None:
    store = LiveStore(tmp_path / "live.sqlite")
    embedder = FakeEmbedder()
    for n, (topic, extra) in enumerate([("sleep", "snoring"), ("speech", "stutter")]):
        article = Article(
            id=f"{topic}-new", title=f"{topic} clinic {n}", body=f"{TOPICS[topic]} {extra}"
        )
        vector = embedder.encode([article.title + "\n\n" + article.body])[0]
        store.upsert(article, vector, embedder.model_id)
    # An edited snapshot article is an upsert too: its stored version is hidden.
    edited = Article(id="swallow-1", title="Swallowing again", body=TOPICS["swallow"] + " sip")
    store.upsert(edited, embedder.encode([edited.title + "\n\n" + edited.body])[0], "fake")
    live = store.load()
    stored = Ranker(engine.snapshot, live, candidate_source=precomputed)  # type: ignore[arg-type]
    scanned = Ranker(engine.snapshot, live, candidate_source=ExhaustiveCandidates)  # type: ignore[arg-type]
    catalog = stored.catalog
    assert catalog.is_live(catalog.positions["sleep-new"])
    rules = RuleSet(pins={"sleep-new": (Pin("speech-2", 2),)})
    for knobs in KNOBS[::2]:
        for article_id in ("sleep-new", "speech-new", "swallow-1"):
            assert answers(stored, article_id, knobs, rules) == answers(
                scanned, article_id, knobs, rules
            ), (article_id, knobs)


def topic_upserts(tmp_path: Path, count: int) -> LiveChanges:
    """A live layer of ``count`` new articles ``new-0`` … , the topics in turn."""
    store = LiveStore(tmp_path / "live.sqlite")
    embedder = FakeEmbedder()
    topics = sorted(TOPICS)
    for n in range(count):
        topic = topics[n % len(topics)]
        article = Article(id=f"new-{n}", title=f"{topic} news {n}", body=TOPICS[topic])
        vector = embedder.encode([article.title + "\n\n" + article.body])[0]
        store.upsert(article, vector, embedder.model_id)
    return store.load()


def test_an_upsert_takes_the_nearest_upserts_when_there_are_many(
    engine: Engine, tmp_path: Path
) -> None:
    ranker = Ranker(engine.snapshot, topic_upserts(tmp_path, 12), candidate_source=precomputed)
    topics = sorted(TOPICS)
    query = ranker.query_for_article("new-0")
    weighted = query.lexical.weighted("tf")
    source = precomputed(ranker.catalog)

    def everything(positions: np.ndarray) -> np.ndarray:
        return np.ones(len(positions), dtype=bool)

    live = set(ranker.catalog.live_positions().tolist())
    for want, most in ((20, 12), (3, 6)):  # all 12 fit, or the 3 nearest by each signal
        found = set(source.for_query(query, weighted, everything, want).tolist()) & live
        assert 0 < len(found) <= most
    same_topic = {ranker.catalog.positions[f"new-{n}"] for n in range(0, 12, len(topics))}
    nearest = set(source.for_query(query, weighted, everything, 3).tolist()) & live
    assert same_topic - {query.position} <= nearest


def test_an_exhaustive_search_takes_the_nearest_eligible_upserts_not_all(
    engine: Engine, tmp_path: Path
) -> None:
    live_layer = topic_upserts(tmp_path, 30)
    ranker = Ranker(engine.snapshot, live_layer, candidate_source=ExhaustiveCandidates)  # type: ignore[arg-type]
    catalog = ranker.catalog
    query = ranker.query_for_article("sleep-0")
    weighted = query.lexical.weighted("tf")
    source = ExhaustiveCandidates(catalog)
    live = catalog.live_positions()
    hidden = catalog.positions["new-0"]  # the nearest upsert may not appear: the next one comes in

    def eligible(positions: np.ndarray) -> np.ndarray:
        return np.asarray(positions != hidden, dtype=bool)

    found = set(source.for_query(query, weighted, eligible, 3).tolist())
    assert hidden not in found
    found_live = np.array(sorted(found & set(live.tolist())), dtype=np.int64)
    # Only the nearest and the lexically strongest upserts are scored, not all 30 ...
    assert 3 <= found_live.size <= 6
    # ... and the nearest are the three best cosines among those that may appear (ties
    # may be broken either way).
    best = np.sort(catalog.cosines(live[live != hidden], query.vector))[::-1][:3]
    taken = np.sort(catalog.cosines(found_live, query.vector))[::-1][:3]
    np.testing.assert_allclose(taken, best, rtol=1e-6)


def test_small_snapshots_drafts_and_upserts_are_searched_exhaustively(engine: Engine) -> None:
    catalog = Catalog(engine.snapshot)
    source = PrecomputedCandidates(catalog)  # 20 articles: below EXHAUSTIVE_BELOW
    query = Ranker(engine.snapshot).query_for_article("sleep-0")
    weighted = query.lexical.weighted("tf")
    every = np.ones

    def eligible(positions: np.ndarray) -> np.ndarray:
        return every(len(positions), dtype=bool)

    exhaustive = ExhaustiveCandidates(catalog).for_query(query, weighted, eligible, 3)
    assert source.for_query(query, weighted, eligible, 3).tolist() == exhaustive.tolist()
    stored = PrecomputedCandidates(catalog, exhaustive_below=0).for_query(
        query, weighted, eligible, 3
    )
    row = engine.snapshot.candidates[catalog.positions["sleep-0"]]  # type: ignore[index]
    expected = np.union1d(row[:3], row[100:103])
    assert stored.tolist() == expected[expected >= 0].tolist()


def test_rules_apply_to_stored_sets(engine: Engine) -> None:
    ranker = Ranker(engine.snapshot, candidate_source=precomputed)
    query = ranker.query_for_article("sleep-0")
    plain = [i.article.id for i in ranker.related(query, 5)]
    rules = RuleSet(
        pins={"sleep-0": (Pin("speech-1", 1),)}, blocks={"sleep-0": frozenset({plain[0]})}
    )
    ruled = [i.article.id for i in ranker.related(query, 5, rules=rules)]
    assert ruled[0] == "speech-1" and plain[0] not in ruled


def test_a_live_change_reuses_the_snapshots_catalog_and_lists_upserts_by_date(
    engine: Engine, tmp_path: Path
) -> None:
    store = LiveStore(tmp_path / "live.sqlite")
    embedder = FakeEmbedder()
    dates = ["2025-03-20", "2024-01-01", "2026-01-01", None, "2025-02-12"]
    for i, published in enumerate(dates):
        record = {"id": f"live-{i}", "title": f"Sleep {i}", "body": TOPICS["sleep"]}
        record |= {"tags": ["sleep" if i % 2 else "speech"], "published": published}
        article = Article.from_record(record)
        vector = embedder.encode([article.title + "\n\n" + article.body])[0]
        store.upsert(article, vector, embedder.model_id)
    store.delete("sleep-1")
    store.upsert(
        Article.from_record({"id": "speech-3", "title": "Moved", "body": "words"}),
        embedder.encode(["Moved\n\nwords"])[0],
        embedder.model_id,
    )
    before = Ranker(engine.snapshot)
    after = Ranker(engine.snapshot, store.load(), catalog_base=before.catalog.base)
    # Nothing read from the snapshot is read again for a live change.
    assert after.catalog.base is before.catalog.base
    catalog = after.catalog
    every = np.arange(len(catalog), dtype=np.int64)
    listed = every[catalog.listed(every)]
    ids = {catalog.article(int(p)).id for p in listed}
    assert "sleep-1" not in ids and {f"live-{i}" for i in range(5)} <= ids
    assert len(catalog.positions) == len(listed) == len(ids)
    times = np.array([catalog.published_at[int(p)] for p in listed])
    by_date = [int(p) for p in listed[np.lexsort((listed, -times))]]
    for n in (1, 2, 5, len(by_date), len(by_date) + 10):
        assert list(catalog.newest(catalog.listed, n)) == by_date[:n], n
    sleep = [p for p in by_date if "sleep" in catalog.article(p).tags]
    assert list(catalog.newest(catalog.listed, 50, tags=["Sleep"])) == sleep


def test_a_large_featured_pool_is_cut_to_the_nearest_and_the_stored_set(tmp_path: Path) -> None:
    records = [{**r, "featured": True} for r in topic_records()]
    settings = Settings(index_dir=tmp_path / "index", reload_interval=0.0, candidates=2)
    source = tmp_path / "c.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    embedder = FakeEmbedder()
    build_index([source], settings, embedder)
    engine = Engine(settings, embedder=embedder)
    stored = Ranker(engine.snapshot, candidates=2, candidate_source=precomputed)
    scanned = Ranker(engine.snapshot, candidates=2, candidate_source=ExhaustiveCandidates)
    catalog = stored.catalog
    pool = catalog.featured_positions(RuleSet())
    assert pool.size == 20
    for article_id in ("sleep-0", "speech-4", "swallow-1"):
        query = stored.query_for_article(article_id)
        chosen = stored.source.featured(query, pool, 4)
        cosines = catalog.cosines(pool, query.vector)
        nearest = set(pool[np.argsort(-cosines, kind="stable")[:4]].tolist())
        row = np.asarray(engine.snapshot.candidates[query.position])
        in_set = set(np.intersect1d(pool, row[row >= 0]).tolist())
        assert set(chosen.tolist()) == nearest | in_set and len(chosen) < pool.size
        np.testing.assert_allclose(cosines, catalog.vectors(pool) @ query.vector, rtol=1e-6)
        # The featured picks come from the shortlist, and the best one is the
        # exhaustive ranking's best.
        picks = stored.featured(query, 2)
        every = scanned.featured(scanned.query_for_article(article_id), 2)
        assert {catalog.positions[i.article.id] for i in picks} <= set(chosen.tolist())
        assert picks[0].article.id == every[0].article.id


def featured_corpus(tmp_path: Path) -> Engine:
    """150 articles of random topic words, 2 in 3 featured: more than a request with
    2 candidates a signal shortlists (2 + the largest k), so the build stores each
    article's nearest featured articles."""
    rng = np.random.default_rng(3)
    words = " ".join(TOPICS.values()).split()
    records = []
    for i in range(150):
        topic = sorted(TOPICS)[i % len(TOPICS)]
        body = " ".join(
            rng.choice(TOPICS[topic].split(), 10).tolist() + rng.choice(words, 6).tolist()
        )
        records.append(
            {
                "id": f"a{i:03d}",
                "title": f"{topic} {i}",
                "body": body,
                "tags": [topic],
                "featured": i % 3 != 0,
            }
        )
    settings = Settings(index_dir=tmp_path / "index", reload_interval=0.0, candidates=2)
    source = tmp_path / "c.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    embedder = FakeEmbedder()
    build_index([source], settings, embedder)
    return Engine(settings, embedder=embedder)


def test_stored_featured_neighbours_shortlist_what_scoring_every_featured_article_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = featured_corpus(tmp_path)
    snapshot = engine.snapshot
    assert snapshot.featured_neighbours is not None
    assert snapshot.featured_neighbours.shape == (150, 52)
    without = dataclasses.replace(snapshot, featured_neighbours=None)
    # A live layer with a new featured article, a featured one edited and one no
    # longer featured; the editors feature two more and unfeature three.
    store = LiveStore(tmp_path / "live.sqlite")
    embedder = FakeEmbedder()
    for article in (
        Article(id="new-featured", title="sleep clinic", body=TOPICS["sleep"], featured=True),
        Article(id="a004", title="speech again", body=TOPICS["speech"] + " naming", featured=True),
        Article(id="a005", title="swallow again", body=TOPICS["swallow"], featured=False),
    ):
        store.upsert(article, embedder.encode([article.title + "\n\n" + article.body])[0], "fake")
    rules = RuleSet(
        featured={"a000": True, "a003": True, "a001": False, "a002": False, "a007": False}
    )
    for live, rule_set in ((None, RuleSet()), (store.load(), rules)):
        stored = Ranker(snapshot, live, candidates=2, candidate_source=precomputed)
        scored = Ranker(without, live, candidates=2, candidate_source=precomputed)
        for article_id in ("a001", "a010", "a033", "a099", "a148", "a004"):
            query = stored.query_for_article(article_id)
            pool = stored.catalog.featured_positions(rule_set)
            pool = pool[pool != query.position]
            for want in (8, 52, 53):
                assert np.array_equal(
                    stored.source.featured(query, pool, want),
                    scored.source.featured(scored.query_for_article(article_id), pool, want),
                ), (article_id, want, live is None)
            for knobs in KNOBS[::16]:
                assert answers(stored, article_id, knobs, rule_set) == answers(
                    scored, article_id, knobs, rule_set
                ), (article_id, knobs)
    # With no live layer and no overrides, the stored row answers alone: no featured
    # article is scored beyond the shortlist.
    stored = Ranker(snapshot, candidates=2, candidate_source=precomputed)
    scored_every: list[int] = []
    real = Catalog.cosines

    def counting(self: Catalog, positions: np.ndarray, vector: np.ndarray) -> np.ndarray:
        scored_every.append(len(positions))
        return real(self, positions, vector)

    monkeypatch.setattr(Catalog, "cosines", counting)
    query = stored.query_for_article("a010")
    pool = stored.catalog.featured_positions(RuleSet())
    pool = pool[pool != query.position]
    shortlist = stored.source.featured(query, pool, 8)
    assert scored_every == [] and 8 <= shortlist.size < pool.size
    # A pool the row holds too few of (here a random half) is scored whole.
    half = np.sort(np.random.default_rng(0).choice(pool, pool.size // 2, replace=False))
    stored.source.featured(query, half, 40)
    assert scored_every == [half.size]
