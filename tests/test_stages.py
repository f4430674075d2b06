"""The ranking stages keep their promises: one score table per request, lexical
scores of a few rows equal to the exhaustive ones, registered boosts and candidate
sources that change what they should, and no module but ``lexical.py`` reading the
lexical model's fitted state."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recommender import Engine, RankingKnobs
from recommender import scoring as scoring_module
from recommender.candidates import Eligible, PrecomputedCandidates
from recommender.catalog import Catalog
from recommender.duplicates import Signatures
from recommender.filling import Duplicates, Placed, _pick_from, pick
from recommender.lexical import QUERY_WEIGHTS, LexicalModel, QueryWeights, WeightedQuery
from recommender.ranking import Query, Ranker
from recommender.scoring import BOOSTS, Boost, BoostContext, Scorer, ScoreTable

from .conftest import TOPICS

ROOT = Path(__file__).resolve().parent.parent
FITTED = ("matrix_", "idf_", "vocabulary_", "vectorizer_", "average_length_", "surface_")


def test_nothing_outside_lexical_reads_the_fitted_model() -> None:
    pattern = re.compile(r"\.(" + "|".join(FITTED) + r")\b")
    readers = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for folder in ("recommender", "service", "benchmarks")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != ROOT / "recommender" / "lexical.py"
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert readers == []


@pytest.mark.parametrize("weighting", QUERY_WEIGHTS)
def test_scores_of_a_few_rows_are_the_exhaustive_ones_bit_for_bit(
    engine: Engine, weighting: QueryWeights
) -> None:
    model = engine.snapshot.lexical
    rows = np.array([0, 3, 4, 7, 11, 19])
    for position in range(model.n_documents):
        query = model.query_for_row(position).weighted(weighting)
        fresh = model.query_for_row(position).weighted(weighting)
        assert np.array_equal(fresh.score_rows(rows), query.scores()[rows])
        assert np.array_equal(query.score_rows(rows), query.scores()[rows])  # kept


@pytest.mark.parametrize("weighting", QUERY_WEIGHTS)
def test_a_weighed_document_scores_the_same_whichever_rows_are_asked_for(
    engine: Engine, weighting: QueryWeights
) -> None:
    """Live upserts are weighed, not indexed: a request scores the few among its
    candidates, a draft scores them all, and both must agree bit for bit. Weighed
    as an indexed article is, a document scores as that article does."""
    model = engine.snapshot.lexical
    indexed = np.arange(model.n_documents)[::-2]  # not in position order
    weights = model.matrix_[indexed]
    asked = np.array([len(indexed) - 1, 1, 1])
    for position in range(model.n_documents):
        query = model.query_for_row(position).weighted(weighting)
        every = query.score_weighed(weights)
        assert np.array_equal(every, query.score_rows(indexed))
        assert np.array_equal(query.score_weighed(weights, asked), every[asked])
        assert query.score_weighed(weights, np.array([], dtype=np.int64)).shape == (0,)


def test_a_draft_query_weighs_its_own_counts() -> None:
    model = LexicalModel().fit(["stroke aphasia words", "sleep apnea night", "aphasia"])
    query = model.query_for_document("aphasia aphasia stroke")
    tf, presence = query.weighted("tf"), query.weighted("presence")
    (aphasia,) = model.count_fields("aphasia").terms
    assert tf.terms[0, aphasia] == pytest.approx(2.0)
    assert presence.terms[0, aphasia] == pytest.approx(1.0)
    # Normalised by the query against itself: the query's own terms score 1 at most.
    assert 0 < tf.scores()[0] <= 1.0
    assert tf.scores()[1] == 0.0


def test_a_request_scores_once_for_both_lists(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables: list[int] = []
    exhaustive: list[int] = []
    table, scores = Scorer.table, WeightedQuery.scores

    def counted_table(self: Scorer, *args: Any) -> Any:
        tables.append(1)
        return table(self, *args)

    def counted_scores(self: WeightedQuery) -> np.ndarray:
        exhaustive.append(1)
        return scores(self)

    monkeypatch.setattr(Scorer, "table", counted_table)
    monkeypatch.setattr(WeightedQuery, "scores", counted_scores)
    # A floor nothing passes: the fallback fills both lists from the same table.
    both = engine.recommendations("sleep-0", k=2, knobs=RankingKnobs(min_score=1.0))
    assert {item.rule for item in both.related} == {"fallback"}
    assert {item.rule for item in both.featured} == {"fallback"}
    assert (len(tables), len(exhaustive)) == (1, 1)


def test_the_fallback_scores_recent_articles_once_and_only_when_reached(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    scored: list[list[int]] = []
    table = Scorer.table

    def spied(self: Scorer, context: Any, lexical: Any, positions: np.ndarray) -> Any:
        scored.append(sorted(int(p) for p in positions))
        return table(self, context, lexical, positions)

    monkeypatch.setattr(Scorer, "table", spied)
    positions = engine.snapshot.positions
    ranker = Ranker(
        engine.snapshot,
        knobs=RankingKnobs(min_score=1.0),  # nothing passes: the fallback fills the list
        candidate_source=lambda catalog: _Fixed(catalog, ["sleep-3"]),
    )
    items = ranker.related(ranker.query_for_article("sleep-0"), k=7)
    # The featured articles first (one per topic, the query's own first), then the
    # newest articles of the query's tag.
    listed = [item.article.id for item in items]
    assert listed[0] == "sleep-2"
    assert sorted(listed[1:4]) == ["spasticity-2", "speech-2", "swallow-2"]
    assert listed[4:] == ["sleep-4", "sleep-3", "sleep-1"]
    assert {item.rule for item in items} == {"fallback"}
    # Scored once each: the candidate and the featured articles, then the two recent
    # articles the table lacked.
    featured = sorted(positions[f"{topic}-2"] for topic in TOPICS)
    assert scored == [
        sorted([positions["sleep-3"], *featured]),
        sorted([positions["sleep-4"], positions["sleep-1"]]),
    ]
    scored.clear()
    ranker.related(ranker.query_for_article("sleep-0"), k=4)
    assert len(scored) == 1  # the featured articles filled it: nothing else was scored


def test_a_fallback_item_keeps_its_rank_among_the_candidates(engine: Engine) -> None:
    plain = {item.article.id: item for item in engine.related("sleep-0", k=4)}
    short = engine.related("sleep-0", k=4, knobs=RankingKnobs(min_score=1.0))
    assert short[0].rule == "fallback"
    assert short[0].article.id == "sleep-2"  # featured, and the query's best neighbour
    scored = plain["sleep-2"]
    assert (short[0].dense, short[0].dense_rank, short[0].lexical_rank) == (
        scored.dense,
        scored.dense_rank,
        scored.lexical_rank,
    )


def test_a_registered_boost_moves_an_item(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    before = engine.related("sleep-0", k=4)
    last = before[-1].article.id
    target = engine.snapshot.positions[last]

    def bonus(positions: np.ndarray, context: BoostContext) -> np.ndarray:
        return np.where(positions == target, 1.0, 0.0)

    monkeypatch.setitem(BOOSTS, "bonus", Boost(bonus, "add"))
    after = engine.related("sleep-0", k=4)
    assert after[0].article.id == last
    assert after[0].score == pytest.approx(before[-1].score + 1.0)
    assert [item.article.id for item in after[1:]] == [item.article.id for item in before[:-1]]


def test_a_registered_fusion_method_is_one_function(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dense_only(table: Any, reference: Any, weights: Any) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(table["dense"], dtype=np.float64), np.zeros(len(table.positions))

    monkeypatch.setitem(scoring_module.FUSIONS, "dense-only", dense_only)
    ranker = Ranker(engine.snapshot, fusion="dense-only")  # type: ignore[arg-type]
    items = ranker.related(ranker.query_for_article("speech-1"), k=4)
    assert [item.dense_rank for item in items] == [1, 2, 3, 4]
    assert [item.score for item in items] == [item.dense for item in items]


class _Fixed:
    """A candidate source that always proposes the same articles."""

    def __init__(self, catalog: Catalog, ids: list[str]) -> None:
        self.positions = np.array(sorted(catalog.positions[i] for i in ids), dtype=np.int64)

    def for_query(
        self, query: Query, lexical: WeightedQuery, eligible: Eligible, want: int
    ) -> np.ndarray:
        return self.positions[eligible(self.positions)]

    def featured(self, query: Query, pool: np.ndarray, want: int) -> np.ndarray:
        return pool


def test_a_candidate_source_decides_what_the_related_list_ranks(engine: Engine) -> None:
    chosen = ["swallow-1", "sleep-3", "speech-4", "sleep-0"]  # the query itself is dropped
    ranker = Ranker(
        engine.snapshot,
        knobs=RankingKnobs(fallback=False),
        candidate_source=lambda catalog: _Fixed(catalog, chosen),
    )
    items = ranker.related(ranker.query_for_article("sleep-0"), k=5)
    assert items[0].article.id == "sleep-3"  # the only one of the query's topic
    assert sorted(item.article.id for item in items) == ["sleep-3", "speech-4", "swallow-1"]
    assert [item.score for item in items] == sorted((item.score for item in items), reverse=True)
    # Ranks count among the candidates the source gave.
    assert sorted(item.dense_rank for item in items) == [1, 2, 3]
    served = Ranker(engine.snapshot).source
    assert isinstance(served, PrecomputedCandidates)


def _story_table(rng: np.random.Generator) -> ScoreTable:
    """60 rows in score order: rows 0-29 one story (near-copies of one vector, and
    rows 20-29 copies of one body too), rows 30-59 each a story of its own."""
    story = rng.normal(size=16)
    vectors = np.vstack(
        [story + rng.normal(scale=0.01, size=16) for _ in range(30)]
        + [rng.normal(size=16) for _ in range(30)]
    )
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    hashes = rng.integers(0, 2**32, size=(60, 64), dtype=np.uint32)
    hashes[20:30] = hashes[20]
    final = np.linspace(1.0, 0.4, 60)
    columns = {"final": final, "dense": final * 0.5, "resemblance": np.zeros(60)}
    signatures = Signatures(hashes, np.full(60, 100, dtype=np.uint32))
    return ScoreTable(np.arange(60), vectors, signatures, columns)


def _listed(placed: list[Placed]) -> list[tuple[int, float | None, float | None]]:
    """Row, redundancy and resemblance of each item (NaN, nothing comparable, as None)."""
    return [
        (p.row, p.redundancy, None if np.isnan(p.resemblance) else p.resemblance) for p in placed
    ]


@pytest.mark.parametrize("shown", [[], [45], [20]])
@pytest.mark.parametrize("need", [1, 3, 8])
def test_an_in_order_list_measured_by_windows_equals_measuring_the_whole_order(
    need: int, shown: list[int]
) -> None:
    table = _story_table(np.random.default_rng(7))
    order = np.array([row for row in range(60) if row not in shown])
    duplicates = Duplicates(threshold=0.95, jaccard=0.9)
    windowed = pick(table, order, need, list(shown), duplicates)
    whole = _pick_from(table, order, need, list(shown), duplicates, 1.0, None)
    assert _listed(windowed) == _listed(whole)
    # The story's 30 rows take one place at most, so the list reaches past the first
    # windows (need + 8 rows, then twice what is still needed + 8).
    rows = [p.row for p in windowed]
    assert sum(row < 30 for row in rows) == (0 if shown == [20] else 1)
    assert len(rows) == need and (rows[-1] >= 30) == (need > 1 or shown == [20])
