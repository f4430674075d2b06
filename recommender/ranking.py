"""Ranking: candidates from both signals, fused scores, filters and
near-duplicate suppression, for related articles and featured picks.

Fusion (see ``docs/architecture.md``): for a query article ``q`` and a candidate ``c``

    score = w · max(0, cos(q, c)) + (1 − w) · min(1, bm25(q, c) / bm25(q, q))

where ``w`` is ``dense_weight``. Both parts lie in [0, 1], so scores do too, and
they are comparable across responses for the same query.

A :class:`Ranker` ranks one published snapshot with the live API changes laid
over it: upserted articles are appended after the snapshot's (scored
exhaustively: there are few), replaced and deleted snapshot articles are hidden.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from scipy import sparse

from .articles import Article, format_timestamp
from .errors import ArticleNotFound
from .live import LiveChanges
from .snapshot import Snapshot
from .text import lexical_text

_NON_WORD = re.compile(r"\W+")


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
            "published": format_timestamp(a.published),
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
class Filters:
    """Restrictions a caller puts on one list.

    Attributes:
        exclude: ids never to return.
        tags: if given, only articles carrying at least one of these tags.
        since: if given, only articles published at or after this time.
        min_score: only items scoring at least this much.
    """

    exclude: Collection[str] = ()
    tags: Collection[str] = ()
    since: datetime | None = None
    min_score: float = 0.0


@dataclass(frozen=True)
class Query:
    """What a ranking call compares candidates to: an indexed article or a draft."""

    vector: np.ndarray
    terms: sparse.csr_matrix
    weights: sparse.csr_matrix
    title: str
    position: int | None = None


@dataclass
class _Live:
    articles: list[Article] = field(default_factory=list)
    vectors: np.ndarray | None = None
    lexical: sparse.csr_matrix | None = None


class Ranker:
    """Ranks the articles of one snapshot (plus live changes) against a query.

    Args:
        snapshot: the loaded index version.
        live: API changes to lay over the snapshot.
        dense_weight: share of the dense signal in the fused score (0–1).
        candidates: how many candidates each signal contributes before fusion.
        duplicate_threshold: dense cosine at or above which two articles are
            near-duplicates; only the better-ranked one is kept.
    """

    def __init__(
        self,
        snapshot: Snapshot,
        live: LiveChanges | None = None,
        *,
        dense_weight: float = 0.7,
        candidates: int = 100,
        duplicate_threshold: float = 0.97,
    ) -> None:
        self.snapshot = snapshot
        self.dense_weight = dense_weight
        self.candidates = candidates
        self.duplicate_threshold = duplicate_threshold
        self.live_seq = live.seq if live else 0
        self._n = len(snapshot.articles)
        self._live = _Live()
        hidden = set()
        if live:
            hidden = set(live.deleted) | set(live.upserts)
            self._live.articles = [article for article, _, _ in live.upserts.values()]
            if self._live.articles:
                self._live.vectors = np.vstack([v for _, v, _ in live.upserts.values()])
                self._live.lexical = snapshot.lexical.weigh(
                    [lexical_text(a) for a in self._live.articles]
                )
        self.articles: list[Article] = snapshot.articles + self._live.articles
        self.positions = {
            a.id: i for i, a in enumerate(snapshot.articles) if a.id not in hidden
        } | {a.id: self._n + i for i, a in enumerate(self._live.articles)}
        self._listed = np.zeros(len(self.articles), dtype=bool)
        self._listed[list(self.positions.values())] = True
        self._published = np.array([a.is_published for a in self.articles], dtype=bool)
        self._featured = np.array([a.featured for a in self.articles], dtype=bool)
        self._title_keys = [_title_key(a.title) for a in self.articles]
        self._published_at = np.array(
            [a.published.timestamp() if a.published else -np.inf for a in self.articles]
        )

    def listed(self) -> list[Article]:
        """Every article that exists now (drafts included), in index order."""
        return [self.articles[i] for i in np.flatnonzero(self._listed)]

    def article(self, article_id: str) -> Article:
        """One article by id.

        Raises:
            ArticleNotFound: the id is unknown or deleted.
        """
        position = self.positions.get(article_id)
        if position is None:
            raise ArticleNotFound(article_id)
        return self.articles[position]

    def _vectors(self, positions: np.ndarray) -> np.ndarray:
        if self._live.vectors is None:
            return np.asarray(self.snapshot.vectors[positions])
        out = np.empty((len(positions), self.snapshot.vectors.shape[1]), dtype=np.float32)
        in_snapshot = positions < self._n
        out[in_snapshot] = self.snapshot.vectors[positions[in_snapshot]]
        out[~in_snapshot] = self._live.vectors[positions[~in_snapshot] - self._n]
        return out

    def _lexical_row(self, position: int) -> sparse.csr_matrix:
        if position < self._n:
            return self.snapshot.lexical.matrix_[position]
        assert self._live.lexical is not None  # live positions exist only with live rows
        return self._live.lexical[position - self._n]

    def query_for_article(self, article_id: str) -> Query:
        """The query for an indexed (or live) article.

        Raises:
            ArticleNotFound: the id is not there.
        """
        position = self.positions.get(article_id)
        if position is None:
            raise ArticleNotFound(article_id)
        weights = self._lexical_row(position)
        return Query(
            vector=self._vectors(np.array([position]))[0],
            terms=self.snapshot.lexical.as_query(weights),
            weights=weights,
            title=self.articles[position].title,
            position=position,
        )

    def query_for_text(self, vector: np.ndarray, text: str, title: str) -> Query:
        """The query for a text that is not in the corpus (a draft)."""
        return Query(
            vector=np.asarray(vector, dtype=np.float32),
            terms=self.snapshot.lexical.transform_queries([text]),
            weights=self.snapshot.lexical.weigh([text]),
            title=title,
        )

    def _visible(self, query: Query, filters: Filters) -> np.ndarray:
        # Scheduled articles stay hidden until their publication time.
        visible = (
            self._listed & self._published & (self._published_at <= datetime.now(UTC).timestamp())
        )
        if filters.since is not None:
            visible &= self._published_at >= filters.since.timestamp()
        if filters.tags:
            wanted = set(filters.tags)
            for i in np.flatnonzero(visible):
                if not wanted.intersection(self.articles[i].tags):
                    visible[i] = False
        if query.position is not None:
            visible[query.position] = False
        for article_id in filters.exclude:
            position = self.positions.get(article_id)
            if position is not None:
                visible[position] = False
        return np.asarray(visible, dtype=bool)

    def _lexical_scores(self, query: Query) -> np.ndarray:
        # Normalised by the query's score against itself: a candidate sharing every
        # term as strongly as the query scores 1, one shared word scores little. (Dividing
        # by the best candidate instead would turn one weak match into a perfect 1.)
        raw = self.snapshot.lexical.scores(query.terms)[0]
        if self._live.lexical is not None:
            live = np.asarray((query.terms @ self._live.lexical.T).toarray()).ravel()
            raw = np.concatenate([raw, live.astype(np.float32)])
        own = float(query.weights.sum())
        return np.clip(raw / own, 0.0, 1.0) if own > 0 else np.zeros_like(raw)

    def _rank(
        self,
        query: Query,
        positions: np.ndarray,
        lexical: np.ndarray,
        k: int,
        min_score: float,
    ) -> list[Recommendation]:
        if positions.size == 0:
            return []
        vectors = self._vectors(positions)
        dense = vectors @ query.vector
        fused = (
            self.dense_weight * np.clip(dense, 0.0, 1.0)
            + (1 - self.dense_weight) * lexical[positions]
        )
        order = np.argsort(-fused, kind="stable")
        chosen: list[int] = []
        results: list[Recommendation] = []
        query_title = _title_key(query.title)
        for i in order:
            if fused[i] < min_score:
                break
            position = int(positions[i])
            if dense[i] >= self.duplicate_threshold or self._title_keys[position] == query_title:
                continue  # the same story as the query, under another id
            if chosen and float((vectors[chosen] @ vectors[i]).max()) >= self.duplicate_threshold:
                continue  # the same story as an item already in the list
            chosen.append(int(i))
            results.append(
                Recommendation(
                    article=self.articles[position],
                    score=float(fused[i]),
                    dense=float(dense[i]),
                    lexical=float(lexical[position]),
                    shared_terms=tuple(
                        self.snapshot.lexical.shared_terms(
                            query.weights, self._lexical_row(position)
                        )
                    ),
                )
            )
            if len(results) == k:
                break
        return results

    def related(self, query: Query, k: int, filters: Filters | None = None) -> list[Recommendation]:
        """The ``k`` best visible articles for ``query``, never the query itself."""
        filters = filters or Filters()
        visible = self._visible(query, filters)
        lexical = self._lexical_scores(query)
        wanted = self.candidates + k
        _, dense_positions = self.snapshot.dense.search(query.vector[None, :], wanted + 1)
        masked = np.where(visible, lexical, -1.0)
        take = min(wanted, masked.size)
        lexical_positions = (
            np.argpartition(-masked, take - 1)[:take] if take else np.zeros(0, dtype=np.int64)
        )
        live_positions = np.arange(self._n, len(self.articles))
        candidates = np.union1d(
            np.union1d(dense_positions[0][dense_positions[0] >= 0], lexical_positions),
            live_positions,
        ).astype(np.int64)
        candidates = candidates[visible[candidates]]
        return self._rank(query, candidates, lexical, k, filters.min_score)

    def featured(
        self, query: Query, k: int, filters: Filters | None = None
    ) -> list[Recommendation]:
        """The ``k`` featured articles most relevant to ``query`` (all are scored)."""
        filters = filters or Filters()
        visible = self._visible(query, filters)
        lexical = self._lexical_scores(query)
        candidates = np.flatnonzero(visible & self._featured)
        return self._rank(query, candidates, lexical, k, filters.min_score)
