"""Ranking: candidates from both signals, fused scores, exclusions and
near-duplicate suppression, for related articles and featured picks.

Fusion (see ``docs/architecture.md``): for a query article ``q`` and a candidate ``c``

    score = w · max(0, cos(q, c)) + (1 − w) · min(1, bm25(q, c) / bm25(q, q))

where ``w`` is ``dense_weight``. Both parts lie in [0, 1], so scores do too, and
they are comparable across responses for the same query.

``bm25(q, c)`` sums, over the terms ``q`` and ``c`` share, the candidate's BM25
weight of the term times the query's weight of it. With ``query_weights``
``presence`` (the default) a query term weighs 1 however often the query uses
it; with ``bm25`` it weighs its BM25 term-frequency saturation in the query, and
with ``tf`` the number of times the query uses it (BM25's query side with no
saturation), so the words an article keeps coming back to count more than a
passing mention.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from scipy import sparse

from .articles import Article
from .errors import ArticleNotFound
from .snapshot import Snapshot
from .text import lexical_text as article_lexical_text

_NON_WORD = re.compile(r"\W+")

QueryWeights = Literal["presence", "bm25", "tf"]
QUERY_WEIGHTS: tuple[QueryWeights, ...] = ("presence", "bm25", "tf")


def _title_key(title: str) -> str:
    return _NON_WORD.sub(" ", title.lower()).strip()


@dataclass(frozen=True)
class Recommendation:
    """One suggested article, its score and why it scored so."""

    article: Article
    score: float
    dense: float
    lexical: float
    shared_terms: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The item as the API and CLI return it."""
        a = self.article
        return {
            "id": a.id,
            "title": a.title,
            "url": a.url,
            "summary": a.summary,
            "published": a.published.isoformat() if a.published else None,
            "tags": list(a.tags),
            "featured": a.featured,
            "score": round(self.score, 6),
            "explanation": {
                "dense": round(self.dense, 6),
                "lexical": round(self.lexical, 6),
                "shared_terms": list(self.shared_terms),
            },
        }


@dataclass(frozen=True)
class Query:
    """What a ranking call compares candidates to: an indexed article or a draft."""

    vector: np.ndarray
    terms: sparse.csr_matrix
    weights: sparse.csr_matrix
    title: str
    position: int | None = None
    counts: sparse.csr_matrix | None = None
    """How often the query uses each term (only needed for ``query_weights`` ``tf``)."""


class Ranker:
    """Ranks the articles of one snapshot against a query.

    Args:
        snapshot: the loaded index version.
        dense_weight: share of the dense signal in the fused score (0–1).
        candidates: how many candidates each signal contributes before fusion.
        duplicate_threshold: dense cosine at or above which two articles are
            near-duplicates; only the better-ranked one is kept.
        suppress_duplicates: skip near-duplicates (of the query, or of an item
            already listed) and articles titled like the query. On for serving;
            evaluation turns it off, because benchmark judgments count every
            relevant document, duplicates included.
        query_weights: how a query term weighs in the lexical score: ``presence``
            (1 for every term), ``bm25`` (its term-frequency saturation in the query)
            or ``tf`` (how many times the query uses it).
        explain: compute each item's shared terms. Evaluation turns it off: over
            100 items per query it costs more than the ranking itself.
    """

    def __init__(
        self,
        snapshot: Snapshot,
        *,
        dense_weight: float = 0.7,
        candidates: int = 100,
        duplicate_threshold: float = 0.97,
        suppress_duplicates: bool = True,
        query_weights: QueryWeights = "presence",
        explain: bool = True,
    ) -> None:
        self.snapshot = snapshot
        self.dense_weight = dense_weight
        self.candidates = candidates
        self.duplicate_threshold = duplicate_threshold
        self.suppress_duplicates = suppress_duplicates
        self.query_weights = query_weights
        self.explain = explain
        articles = snapshot.articles
        self._published = np.array([a.is_published for a in articles], dtype=bool)
        self._featured = np.array([a.featured for a in articles], dtype=bool)
        self._dates = [a.published for a in articles]
        self._title_keys = [_title_key(a.title) for a in articles]

    def query_for_article(self, article_id: str) -> Query:
        """The query for an indexed article.

        Raises:
            ArticleNotFound: the id is not in the snapshot.
        """
        position = self.snapshot.positions.get(article_id)
        if position is None:
            raise ArticleNotFound(article_id)
        article = self.snapshot.articles[position]
        counts = None
        if self.query_weights == "tf":
            # The snapshot keeps BM25 weights, not counts: count the article's words again.
            counts = self.snapshot.lexical.counts([article_lexical_text(article)])
        return Query(
            vector=self.snapshot.vectors[position],
            terms=self.snapshot.lexical.document_queries([position]),
            weights=self.snapshot.lexical.matrix_[position],
            title=article.title,
            position=position,
            counts=counts,
        )

    def query_for_text(self, vector: np.ndarray, lexical_text: str, title: str) -> Query:
        """The query for a text that is not in the corpus (a draft)."""
        counts = self.snapshot.lexical.counts([lexical_text])
        terms = counts.copy()
        terms.data[:] = 1.0
        return Query(
            vector=np.asarray(vector, dtype=np.float32),
            terms=terms,
            weights=self.snapshot.lexical.weigh([lexical_text]),
            title=title,
            counts=counts,
        )

    def _visible(self, query: Query, exclude: Collection[str]) -> np.ndarray:
        now = datetime.now(UTC)
        visible = self._published.copy()
        # Scheduled articles stay hidden until their publication time.
        for i, published in enumerate(self._dates):
            if published is not None and published > now:
                visible[i] = False
        if query.position is not None:
            visible[query.position] = False
        for article_id in exclude:
            position = self.snapshot.positions.get(article_id)
            if position is not None:
                visible[position] = False
        return visible

    def _lexical_scores(self, query: Query) -> np.ndarray:
        # Normalised by the query's score against itself: a candidate sharing every
        # term as strongly as the query scores 1, one shared word scores little. (Dividing
        # by the best candidate instead would turn one weak match into a perfect 1.)
        if self.query_weights == "tf" and query.counts is not None:
            terms = query.counts
            own = float(terms.multiply(query.weights).sum())
        elif self.query_weights in ("bm25", "tf"):
            # BM25 weight over idf is the term-frequency saturation: the candidate side
            # already carries the idf, which must not count twice.
            terms = query.weights.copy()
            terms.data = terms.data / np.maximum(self.snapshot.lexical.idf_[terms.indices], 1e-6)
            own = float(terms.multiply(query.weights).sum())
        else:
            terms = query.terms
            own = float(query.weights.sum())
        raw = self.snapshot.lexical.scores(terms)[0]
        return np.clip(raw / own, 0.0, 1.0) if own > 0 else np.zeros_like(raw)

    def _rank(
        self, query: Query, positions: np.ndarray, lexical: np.ndarray, k: int
    ) -> list[Recommendation]:
        if positions.size == 0:
            return []
        vectors = self.snapshot.vectors
        dense = vectors[positions] @ query.vector
        fused = (
            self.dense_weight * np.clip(dense, 0.0, 1.0)
            + (1 - self.dense_weight) * lexical[positions]
        )
        order = np.argsort(-fused, kind="stable")
        chosen: list[int] = []
        results: list[Recommendation] = []
        query_title = _title_key(query.title)
        for i in order:
            position = int(positions[i])
            if self.suppress_duplicates:
                if dense[i] >= self.duplicate_threshold or (
                    self._title_keys[position] == query_title
                ):
                    continue  # the same story as the query, under another id
                if chosen and float((vectors[chosen] @ vectors[position]).max()) >= (
                    self.duplicate_threshold
                ):
                    continue  # the same story as an item already in the list
            chosen.append(position)
            results.append(
                Recommendation(
                    article=self.snapshot.articles[position],
                    score=float(fused[i]),
                    dense=float(dense[i]),
                    lexical=float(lexical[position]),
                    shared_terms=tuple(self.snapshot.lexical.shared_terms(query.weights, position))
                    if self.explain
                    else (),
                )
            )
            if len(results) == k:
                break
        return results

    def related(self, query: Query, k: int, exclude: Collection[str] = ()) -> list[Recommendation]:
        """The ``k`` best visible articles for ``query``, never the query itself."""
        visible = self._visible(query, exclude)
        lexical = self._lexical_scores(query)
        wanted = self.candidates + k
        _, dense_positions = self.snapshot.dense.search(query.vector[None, :], wanted + 1)
        masked = np.where(visible, lexical, -1.0)
        take = min(wanted, masked.size)
        lexical_positions = (
            np.argpartition(-masked, take - 1)[:take] if take else np.zeros(0, dtype=np.int64)
        )
        candidates = np.union1d(dense_positions[0][dense_positions[0] >= 0], lexical_positions)
        candidates = candidates[visible[candidates]].astype(np.int64)
        return self._rank(query, candidates, lexical, k)

    def featured(self, query: Query, k: int, exclude: Collection[str] = ()) -> list[Recommendation]:
        """The ``k`` featured articles most relevant to ``query`` (all are scored)."""
        visible = self._visible(query, exclude)
        lexical = self._lexical_scores(query)
        candidates = np.flatnonzero(visible & self._featured)
        return self._rank(query, candidates, lexical, k)
