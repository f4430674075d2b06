"""Ranking: candidates from both signals, fused scores, filters and
near-duplicate suppression, for related articles and featured picks.

Fusion (see ``docs/architecture.md``): for a query article ``q`` and a candidate
``c``, ``fusion`` ``weighted`` (the default) adds the two similarities

    fused = w · max(0, cos(q, c)) + (1 − w) · min(1, bm25(q, c) / bm25(q, q))

where ``w`` is ``dense_weight``. Both parts lie in [0, 1], so scores do too, and
they are comparable across responses for the same query. ``rrf`` adds the
reciprocal ranks instead (weighted, and scaled so rank 1 in both signals gives 1)

    fused = w · (k + 1) / (k + rank_dense(c)) + (1 − w) · (k + 1) / (k + rank_lexical(c))

where ranks count among the candidates and ``k`` is ``rrf_k``: only the order
of each signal matters, not how far apart its scores are. ``minmax`` adds the
two similarities after rescaling each so the query's candidates span [0, 1].
Both make scores relative to the query's candidates: the best candidate scores
near 1 however weak it is, so only ``weighted`` lets ``min_score`` tell a good
match from junk.

The final score adds boosts and a decay (:class:`RankingKnobs`, all off by default)::

    score = (fused + tag_boost · jaccard(labels(q), labels(c))) · 0.5 ** (age / half_life)

where labels are tags and categories and ``age`` is how long before the query
article (now, for a draft or an undated article) ``c`` was published. Lists are
filled by relevance, or by maximal marginal relevance when ``mmr_lambda`` < 1;
near-duplicates (a dense cosine at or above ``duplicate_threshold``, or bodies whose
estimated MinHash Jaccard reaches ``duplicate_jaccard``: see
:mod:`recommender.duplicates`) are skipped; editorial rules (:mod:`recommender.rules`) hide,
pin and re-flag articles; a list short of items passing ``min_score`` is filled
by the fallback (featured articles, then recent ones of the same category).

A :class:`Ranker` ranks one published snapshot with the live API changes laid
over it: upserted articles are appended after the snapshot's (scored
exhaustively: there are few), replaced and deleted snapshot articles are hidden.
An upsert gives way to the snapshot's article when that is newer (newest wins).

``bm25(q, c)`` sums, over the terms ``q`` and ``c`` share, the candidate's BM25
weight of the term times the query's weight of it. With ``query_weights``
``presence`` a query term weighs 1 however often the query uses it; with
``bm25`` it weighs its BM25 term-frequency saturation in the query, and with
``tf`` (the default) the number of times the query uses it (BM25's query side
with no saturation), so the words an article keeps coming back to count more
than a passing mention.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy import sparse

from .articles import Article, format_timestamp
from .duplicates import Shingling, Signatures, Signer, resemblance
from .errors import ArticleNotFound, InvalidArgument
from .lexical import FIELDS, LexicalDocument
from .live import Clock, LiveChanges, system_clock, version_time
from .rules import RuleSet
from .snapshot import Snapshot
from .text import lexical_fields

if TYPE_CHECKING:
    from .config import Settings

DAY = 86_400.0
# How many of the newest same-category articles the fallback scores: enough to fill
# any list after skipping duplicates, few enough to stay cheap on a large corpus.
_FALLBACK_RECENT = 200

Rule = Literal["pinned", "fallback"]

_Picked = tuple[int, float | None, float]
"""An index into a :class:`_Scored`, its redundancy, and its highest body
resemblance to the items listed before it (NaN: none comparable)."""

QueryWeights = Literal["presence", "bm25", "tf"]
QUERY_WEIGHTS: tuple[QueryWeights, ...] = ("presence", "bm25", "tf")

Fusion = Literal["weighted", "rrf", "minmax"]
FUSIONS: tuple[Fusion, ...] = ("weighted", "rrf", "minmax")


def _labels(article: Article) -> frozenset[str]:
    return frozenset(label.casefold() for label in (*article.tags, *article.categories))


@dataclass(frozen=True)
class RankingKnobs:
    """The ranking features a call may tune; :meth:`from_settings` gives the served ones.

    An editor page passes changed knobs to :meth:`recommender.Engine.related` to
    preview other values without touching the live settings.

    Attributes:
        tag_boost: points added times the Jaccard overlap of tags and categories.
        require_shared_tag: only candidates sharing a tag with the query (a query
            without tags is exempt).
        max_age_days: hide candidates published more than this many days before
            the reference time (0 = off).
        recency_half_life_days: halve the score for every this many days a
            candidate was published before the reference time (0 = off).
        mmr_lambda: relevance against novelty when filling a list (1 = off).
        min_score: smallest score a suggestion needs.
        fallback: fill a list short of ``min_score`` with featured, then recent
            same-category articles.
    """

    tag_boost: float = 0.0
    require_shared_tag: bool = False
    max_age_days: float = 0.0
    recency_half_life_days: float = 0.0
    mmr_lambda: float = 1.0
    min_score: float = 0.0
    fallback: bool = True

    def __post_init__(self) -> None:
        checks = {
            "tag_boost": 0.0 <= self.tag_boost <= 1.0,
            "max_age_days": self.max_age_days >= 0,
            "recency_half_life_days": self.recency_half_life_days >= 0,
            "mmr_lambda": 0.0 <= self.mmr_lambda <= 1.0,
            "min_score": 0.0 <= self.min_score <= 1.0,
        }
        for name, ok in checks.items():
            if not ok:
                raise InvalidArgument(name, f"{getattr(self, name)!r} is out of range")

    @classmethod
    def from_settings(cls, settings: Settings) -> RankingKnobs:
        """The knobs the settings serve with."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class Recommendation:
    """One suggested article, its score and why it scored so.

    ``score`` is the final score: ``(dense_part + lexical_part + tag) · recency``,
    where the two parts are what ``dense`` and ``lexical`` (the raw similarities,
    ranked ``dense_rank`` and ``lexical_rank`` among the candidates) contribute
    under the ``fusion`` method. ``rule`` says whether an editorial pin or the
    fallback put the item there rather than its score. ``redundancy`` is the
    item's highest cosine to an item listed before it was picked (pins first),
    which maximal marginal relevance penalises; None for the first item.
    ``resemblance`` is the highest estimated Jaccard overlap of its body's shingles
    with the query's or with an item listed before it (pins first): how close it came
    to being hidden as the same story (``duplicate_jaccard``); None when its body, or
    every other, is too short to compare, or the snapshot has no signatures.
    """

    article: Article
    score: float
    dense: float
    lexical: float
    shared_terms: tuple[str, ...]
    tag: float = 0.0
    recency: float = 1.0
    rule: Rule | None = None
    fusion: Fusion = "weighted"
    dense_part: float = 0.0
    lexical_part: float = 0.0
    dense_rank: int = 0
    lexical_rank: int = 0
    lexical_fields: Mapping[str, float] = field(default_factory=dict)
    redundancy: float | None = None
    resemblance: float | None = None

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
                "fusion": self.fusion,
                "dense_rank": self.dense_rank,
                "lexical_rank": self.lexical_rank,
                "dense_contribution": round(self.dense_part, 6),
                "lexical_contribution": round(self.lexical_part, 6),
                "lexical_fields": {
                    name: round(value, 6) for name, value in self.lexical_fields.items()
                },
                "tag": round(self.tag, 6),
                "recency": round(self.recency, 6),
                "redundancy": None if self.redundancy is None else round(self.redundancy, 6),
                "resemblance": None if self.resemblance is None else round(self.resemblance, 6),
                "rule": self.rule,
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
        min_score: only items scoring at least this much. Unlike the
            ``min_score`` knob, this is a hard floor: the fallback never fills it.
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
    article_id: str | None = None
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    published: datetime | None = None
    counts: sparse.csr_matrix | None = None
    """How often the query uses each term (only needed for ``query_weights`` ``tf``)."""
    document: LexicalDocument | None = None
    """The query's lexical fields, from which shared terms are shown."""
    signature: Signatures | None = None
    """The MinHash signature of the query's body (one row), if the snapshot has them."""


@dataclass
class _Live:
    articles: list[Article] = field(default_factory=list)
    vectors: np.ndarray | None = None
    lexical: sparse.csr_matrix | None = None
    signatures: Signatures | None = None


@dataclass(frozen=True)
class _Scored:
    """Scores of some positions against one query, aligned by index."""

    positions: np.ndarray
    vectors: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray
    dense_rank: np.ndarray
    lexical_rank: np.ndarray
    dense_part: np.ndarray
    lexical_part: np.ndarray
    tag: np.ndarray
    recency: np.ndarray
    final: np.ndarray
    signals: _Signals
    resemblance: np.ndarray
    """Estimated Jaccard of each body with the query's (NaN: not comparable)."""


@dataclass(frozen=True)
class _Signals:
    """One call's lexical scores of every article, and the candidates' scores that
    ranks are counted against (rank 1 = the best candidate by that signal)."""

    lexical: np.ndarray
    dense_reference: np.ndarray
    """The candidates' dense scores, ascending."""
    lexical_reference: np.ndarray
    """The candidates' lexical scores, ascending."""
    query_terms: tuple[np.ndarray, np.ndarray]
    """The query's term indexes and their weights under ``query_weights``."""

    @staticmethod
    def _ranks(ascending: np.ndarray, values: np.ndarray) -> np.ndarray:
        # 1 + how many candidates score strictly higher: ties share a rank, and an
        # article outside the candidates gets the rank it would have among them.
        higher = ascending.size - np.searchsorted(ascending, values, side="right")
        return np.asarray(higher + 1, dtype=np.int64)

    def ranks(self, dense: np.ndarray, lexical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each value's rank among the candidates, by the dense and the lexical signal."""
        return self._ranks(self.dense_reference, dense), self._ranks(
            self.lexical_reference, lexical
        )


class Ranker:
    """Ranks the articles of one snapshot (plus live changes) against a query.

    Args:
        snapshot: the loaded index version.
        live: API changes to lay over the snapshot.
        dense_weight: share of the dense signal in the fused score (0–1).
        candidates: how many candidates each signal contributes before fusion.
        duplicate_threshold: dense cosine at or above which two articles are
            near-duplicates; only the better-ranked one is kept.
        duplicate_jaccard: estimated Jaccard overlap of two bodies' shingles at or
            above which they are the same story (a syndicated copy), whatever their
            titles; needs the snapshot's signatures (without them only the dense
            test applies).
        knobs: the ranking features used when a call passes none.
        suppress_duplicates: skip near-duplicates of the query or of an item
            already listed. On for serving; evaluation turns it off, because
            benchmark judgments count every relevant document, duplicates included.
        query_weights: how a query term weighs in the lexical score: ``presence``
            (1 for every term), ``bm25`` (its term-frequency saturation in the query)
            or ``tf`` (how many times the query uses it).
        fusion: ``weighted`` (a weighted sum of the two similarities), ``minmax``
            (the same after rescaling each signal to [0, 1] over the candidates) or
            ``rrf`` (weighted reciprocal-rank fusion of the candidates' two rankings).
        rrf_k: the rank offset of reciprocal-rank fusion (60 in the original paper).
        explain: compute each item's shared terms. Evaluation turns it off: over
            100 items per query it costs more than the ranking itself.
        now: the clock deciding which scheduled articles are live, and the recency
            reference of drafts and undated articles (tests pass a fake one).
        clock_skew: seconds before its ``published`` time that a scheduled article
            is shown (``RECOMMENDER_CLOCK_SKEW_SECONDS``).
    """

    def __init__(
        self,
        snapshot: Snapshot,
        live: LiveChanges | None = None,
        *,
        dense_weight: float = 0.5,
        candidates: int = 100,
        duplicate_threshold: float = 0.97,
        duplicate_jaccard: float = 0.5,
        knobs: RankingKnobs | None = None,
        suppress_duplicates: bool = True,
        query_weights: QueryWeights = "tf",
        fusion: Fusion = "weighted",
        rrf_k: int = 60,
        explain: bool = True,
        now: Clock = system_clock,
        clock_skew: float = 0.0,
    ) -> None:
        self.snapshot = snapshot
        self.now = now
        self.clock_skew = clock_skew
        self.dense_weight = dense_weight
        self.candidates = candidates
        self.duplicate_threshold = duplicate_threshold
        self.duplicate_jaccard = duplicate_jaccard
        self.suppress_duplicates = suppress_duplicates
        self.query_weights = query_weights
        if fusion not in FUSIONS:
            raise InvalidArgument("fusion", f"{fusion!r} is not one of {', '.join(FUSIONS)}")
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.explain = explain
        self.knobs = knobs or RankingKnobs()
        self.live_seq = live.seq if live else 0
        self._n = len(snapshot.articles)
        self._live = _Live()
        self._upsert_times: dict[str, datetime | None] = {}
        hidden: set[str] = set()
        if live:
            upserts = self._served_upserts(snapshot, live)
            hidden = set(live.deleted) | set(upserts)
            self._upsert_times = {
                article_id: live.upsert_time(article_id) for article_id in upserts
            }
            self._live.articles = [article for article, _ in upserts.values()]
            if self._live.articles:
                self._live.vectors = np.vstack([v for _, v in upserts.values()])
                self._live.lexical = snapshot.lexical.weigh(
                    [lexical_fields(a) for a in self._live.articles]
                )
        # Bodies are compared only with signatures made the snapshot's way; a snapshot
        # built before signatures existed is served with the dense test alone.
        self.shingling: Shingling | None = snapshot.shingling
        self._signer: Signer | None = None
        if self.shingling is not None and self._live.articles and live is not None:
            self._live.signatures = self._live_signatures(live)
        self.articles: list[Article] = list(snapshot.articles) + self._live.articles
        self.positions = {
            a.id: i for i, a in enumerate(snapshot.articles) if a.id not in hidden
        } | {a.id: self._n + i for i, a in enumerate(self._live.articles)}
        self._listed = np.zeros(len(self.articles), dtype=bool)
        self._listed[list(self.positions.values())] = True
        self._published = np.array([a.is_published for a in self.articles], dtype=bool)
        self._featured = np.array([a.featured for a in self.articles], dtype=bool)
        self._labels = [_labels(a) for a in self.articles]
        self._published_at = np.array(
            [a.published.timestamp() if a.published else -np.inf for a in self.articles]
        )
        # Scheduled articles go live at their publication time less the skew tolerance.
        scheduled = self._listed & np.array([a.status == "scheduled" for a in self.articles])
        self._goes_live_at = np.where(scheduled, self._published_at - clock_skew, np.inf)
        self._go_live_times = np.sort(self._goes_live_at[scheduled])
        # Inverted indexes (casefolded label -> positions) for the shared-tag rule and the
        # same-category fallback, so neither walks every article per request.
        self._by_tag = _inverted(self.articles, "tags")
        self._by_category = _inverted(self.articles, "categories")
        # Per-field term counts of the articles counted so far (see _article_fields).
        self._field_counts: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @staticmethod
    def _served_upserts(
        snapshot: Snapshot, live: LiveChanges
    ) -> dict[str, tuple[Article, np.ndarray]]:
        """The upserts that are served: each, unless the snapshot holds a newer version
        of its article (newest wins; see :meth:`LiveChanges.corpus_wins`)."""
        upserted = set(live.upserts)
        corpus_times = {a.id: version_time(a) for a in snapshot.articles if a.id in upserted}
        return {
            article_id: (article, vector)
            for article_id, (article, vector, _) in live.upserts.items()
            if not live.corpus_wins(article_id, corpus_times.get(article_id))
        }

    def schedule(self, now: datetime | None = None) -> tuple[int, float | None]:
        """How many scheduled articles are live at ``now`` (default: the clock), and the
        seconds until the next one goes live (None if none is waiting).

        Answers change when a scheduled article goes live although neither the
        snapshot nor the live changes do; caches key on this count.
        """
        moment = (now or self.now()).timestamp()
        live = int(np.searchsorted(self._go_live_times, moment, side="right"))
        waiting = self._go_live_times[live:]
        return live, (float(waiting[0] - moment) if waiting.size else None)

    def version_time(self, article_id: str) -> datetime | None:
        """When the served version of an article was written: an upsert's ``updated``
        or write time, a snapshot article's ``updated`` or ``published``; None for an
        unknown id or an undated article."""
        position = self.positions.get(article_id)
        if position is None:
            return None
        if position >= self._n:
            return self._upsert_times.get(article_id)
        return version_time(self.articles[position])

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

    def _sign(self, body: str) -> Signatures:
        """The signature of one body, made the snapshot's way (only with signatures)."""
        if self._signer is None:
            self._signer = Signer(self.shingling)
        return self._signer.sign([body])

    def _live_signatures(self, live: LiveChanges) -> Signatures:
        """The upserts' signatures: as written, or made again when an upsert predates
        signatures or the snapshot's shingling."""
        rows = []
        for article in self._live.articles:
            stored = live.signatures.get(article.id)
            rows.append(
                stored[1] if stored and stored[0] == self.shingling else self._sign(article.body)
            )
        return Signatures.concatenate(rows)

    def _signatures(self, positions: np.ndarray) -> Signatures | None:
        """The signatures at ``positions`` (snapshot and live); None without any."""
        stored = self.snapshot.signatures
        if stored is None or self.shingling is None:
            return None
        if self._live.signatures is None:
            return stored.rows(positions)
        in_snapshot = positions < self._n
        hashes = np.empty((len(positions), self.shingling.num_perm), dtype=np.uint32)
        counts = np.empty(len(positions), dtype=np.uint32)
        hashes[in_snapshot] = stored.hashes[positions[in_snapshot]]
        counts[in_snapshot] = stored.counts[positions[in_snapshot]]
        live = positions[~in_snapshot] - self._n
        hashes[~in_snapshot] = self._live.signatures.hashes[live]
        counts[~in_snapshot] = self._live.signatures.counts[live]
        return Signatures(hashes, counts)

    def _resemblance(self, signature: Signatures | None, positions: np.ndarray) -> np.ndarray:
        """Estimated Jaccard of one body (``signature``) with each at ``positions``;
        NaN where there is nothing to compare."""
        others = self._signatures(positions) if signature is not None else None
        if signature is None or others is None:
            return np.full(len(positions), np.nan)
        return resemblance(signature, others)

    def _lexical_row(self, position: int) -> sparse.csr_matrix:
        if position < self._n:
            return self.snapshot.lexical.matrix_[position]
        assert self._live.lexical is not None  # live positions exist only with live rows
        return self._live.lexical[position - self._n]

    def _row_arrays(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """An article's BM25 row as (term indexes, weights), without building a matrix
        (scipy's row slicing costs more than everything done with the row)."""
        matrix, row = (
            (self.snapshot.lexical.matrix_, position)
            if position < self._n
            else (self._live.lexical, position - self._n)
        )
        assert matrix is not None  # live positions exist only with live rows
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        return matrix.indices[start:end], matrix.data[start:end]

    def _article_fields(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """An article's field-weighted term counts: (sorted term indexes, one row of
        counts per field of ``FIELDS``). Counted on first use, then kept: snapshots
        store BM25 weights, not counts."""
        cached = self._field_counts.get(position)
        if cached is None:
            by_field = self.snapshot.lexical.field_counts(lexical_fields(self.articles[position]))
            terms = np.unique(by_field.indices)
            cached = (terms, by_field[:, terms].toarray())
            self._field_counts[position] = cached
        return cached

    def query_for_article(self, article_id: str) -> Query:
        """The query for an indexed (or live) article.

        Raises:
            ArticleNotFound: the id is not there.
        """
        position = self.positions.get(article_id)
        if position is None:
            raise ArticleNotFound(article_id)
        weights = self._lexical_row(position)
        article = self.articles[position]
        counts = None
        if self.query_weights == "tf":
            terms, by_field = self._article_fields(position)
            counts = sparse.csr_matrix(
                (by_field.sum(axis=0), terms, [0, terms.size]),
                shape=(1, len(self.snapshot.lexical.vocabulary_)),
                dtype=np.float32,
            )
        return Query(
            vector=self._vectors(np.array([position]))[0],
            terms=self.snapshot.lexical.as_query(weights),
            weights=weights,
            title=article.title,
            position=position,
            article_id=article.id,
            tags=article.tags,
            categories=article.categories,
            published=article.published,
            counts=counts,
            document=lexical_fields(article),
            signature=self._signatures(np.array([position])),
        )

    def query_for_text(
        self,
        vector: np.ndarray,
        document: LexicalDocument,
        title: str,
        tags: Sequence[str] = (),
    ) -> Query:
        """The query for a text that is not in the corpus (a draft).

        ``document`` is the draft's lexical fields, or a plain text (read as a body).
        """
        body = document if isinstance(document, str) else document.get("body", "")
        return Query(
            vector=np.asarray(vector, dtype=np.float32),
            terms=self.snapshot.lexical.transform_queries([document]),
            weights=self.snapshot.lexical.weigh([document]),
            title=title,
            tags=tuple(tags),
            counts=self.snapshot.lexical.counts([document]),
            document=document,
            signature=self._sign(body) if self.shingling is not None else None,
        )

    # -- visibility --------------------------------------------------------------------

    def _reference_time(self, query: Query) -> float:
        # Recency is measured from the query article's date: the block under an old
        # article shows what was current then, and answers do not drift as the clock
        # runs (so cached answers stay right). Drafts and undated articles use now.
        when = query.published or self.now()
        return when.timestamp()

    def _visible(self, query: Query, filters: Filters, rules: RuleSet) -> np.ndarray:
        """What may appear now: existing, published (or scheduled and due), not filtered
        out by the caller, not blocked or excluded by an editor, not the query itself.

        A published article dated in the future shows at once (a feed's time-zone
        slip must not hide live content); only a ``scheduled`` one waits, until its
        publication time less the clock-skew tolerance.
        """
        visible = self._listed & (self._published | (self._goes_live_at <= self.now().timestamp()))
        if filters.since is not None:
            visible &= self._published_at >= filters.since.timestamp()
        if filters.tags:
            wanted = set(filters.tags)
            for i in np.flatnonzero(visible):
                if not wanted.intersection(self.articles[i].tags):
                    visible[i] = False
        if query.position is not None:
            visible[query.position] = False
        for article_id in (*filters.exclude, *rules.hidden_under(query.article_id)):
            position = self.positions.get(article_id)
            if position is not None:
                visible[position] = False
        return np.asarray(visible, dtype=bool)

    def _in_window(self, query: Query, knobs: RankingKnobs) -> np.ndarray:
        """The hard age window: True where a candidate is recent enough (or undated)."""
        if not knobs.max_age_days:
            return np.ones(len(self.articles), dtype=bool)
        oldest = self._reference_time(query) - knobs.max_age_days * DAY
        with np.errstate(invalid="ignore"):
            return np.asarray(
                ~np.isfinite(self._published_at) | (self._published_at >= oldest), dtype=bool
            )

    def _sharing_a_tag(self, query: Query) -> np.ndarray:
        mask = np.zeros(len(self.articles), dtype=bool)
        for tag in {t.casefold() for t in query.tags}:
            mask[self._by_tag.get(tag, [])] = True
        return mask

    def _featured_mask(self, rules: RuleSet) -> np.ndarray:
        mask = self._featured.copy()
        for article_id, value in rules.featured.items():
            position = self.positions.get(article_id)
            if position is not None:
                mask[position] = value
        return mask

    # -- scoring -----------------------------------------------------------------------

    def _query_terms(self, query: Query) -> tuple[sparse.csr_matrix, float]:
        """How much each query term weighs under ``query_weights``, and the query's
        score against itself (what lexical scores are divided by)."""
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
        return terms, own

    def _lexical_scores(self, query: Query) -> tuple[np.ndarray, sparse.csr_matrix]:
        """Every article's lexical score for ``query``, and the query's term weights."""
        # Normalised by the query's score against itself: a candidate sharing every
        # term as strongly as the query scores 1, one shared word scores little. (Dividing
        # by the best candidate instead would turn one weak match into a perfect 1.)
        terms, own = self._query_terms(query)
        raw = self.snapshot.lexical.scores(terms)[0]
        if self._live.lexical is not None:
            live = np.asarray((terms @ self._live.lexical.T).toarray()).ravel()
            raw = np.concatenate([raw, live.astype(np.float32)])
        scores = np.clip(raw / own, 0.0, 1.0) if own > 0 else np.zeros_like(raw)
        return scores, terms

    def _lexical_by_field(
        self, signals: _Signals, position: int, lexical: float
    ) -> dict[str, float]:
        """The item's lexical score split over the fields its shared terms occur in.

        Each shared term's part of the score is divided among the candidate's fields
        in proportion to the field-weighted count of the term there, so the parts add
        up to the lexical score and show what the field weights did.
        """
        split = {name: 0.0 for name in FIELDS}
        if lexical <= 0:
            return split
        row_terms, row_weights = self._row_arrays(position)
        query_terms, query_weights = signals.query_terms
        common, in_row, in_query = np.intersect1d(row_terms, query_terms, return_indices=True)
        if common.size == 0:
            return split
        terms, by_field = self._article_fields(position)
        counts = by_field[:, np.searchsorted(terms, common)]
        totals = counts.sum(axis=0)
        share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        parts = share @ (row_weights[in_row] * query_weights[in_query])
        scale = lexical / parts.sum() if parts.sum() > 0 else 0.0
        return {name: float(parts[i] * scale) for i, name in enumerate(FIELDS)}

    def _score(
        self, query: Query, positions: np.ndarray, signals: _Signals, knobs: RankingKnobs
    ) -> _Scored:
        positions = np.asarray(positions, dtype=np.int64)
        vectors = self._vectors(positions)
        dense = vectors @ query.vector if positions.size else np.zeros(0, dtype=np.float32)
        lex = signals.lexical[positions]
        dense_rank, lexical_rank = signals.ranks(dense, lex)
        w = self.dense_weight
        if self.fusion == "rrf":
            # Weighted reciprocal-rank fusion, scaled so rank 1 in both scores 1. A signal
            # that finds nothing in common (cosine ≤ 0, no shared term) contributes nothing.
            k = self.rrf_k
            dense_part = np.where(dense > 0, w * (k + 1) / (k + dense_rank), 0.0)
            lexical_part = np.where(lex > 0, (1 - w) * (k + 1) / (k + lexical_rank), 0.0)
        elif self.fusion == "minmax":
            dense_part = w * _minmax(dense, signals.dense_reference)
            lexical_part = (1 - w) * _minmax(lex, signals.lexical_reference)
        else:
            dense_part = w * np.clip(dense, 0.0, 1.0)
            lexical_part = (1 - w) * lex
        tag = np.zeros(len(positions))
        query_labels = frozenset(label.casefold() for label in (*query.tags, *query.categories))
        if knobs.tag_boost and query_labels:
            for i, position in enumerate(positions):
                labels = self._labels[position]
                if labels:
                    overlap = len(labels & query_labels) / len(labels | query_labels)
                    tag[i] = knobs.tag_boost * overlap
        recency = np.ones(len(positions))
        if knobs.recency_half_life_days:
            published = self._published_at[positions]
            dated = np.isfinite(published)
            # Only what is older than the reference decays: a newer article is not stale.
            age_days = np.maximum(self._reference_time(query) - published[dated], 0.0) / DAY
            recency[dated] = 0.5 ** (age_days / knobs.recency_half_life_days)
        final = (dense_part + lexical_part + tag) * recency
        return _Scored(
            positions,
            vectors,
            dense,
            lex,
            dense_rank,
            lexical_rank,
            dense_part,
            lexical_part,
            tag,
            recency,
            final,
            signals,
            self._resemblance(query.signature, positions),
        )

    def _signals(
        self,
        query: Query,
        candidates: np.ndarray,
        lexical: np.ndarray,
        terms: sparse.csr_matrix,
    ) -> _Signals:
        dense = (
            self._vectors(candidates) @ query.vector
            if candidates.size
            else np.zeros(0, dtype=np.float32)
        )
        return _Signals(
            lexical, np.sort(dense), np.sort(lexical[candidates]), (terms.indices, terms.data)
        )

    def _recommendation(
        self,
        query: Query,
        s: _Scored,
        i: int,
        rules: RuleSet,
        rule: Rule | None = None,
        redundancy: float | None = None,
        listed_resemblance: float = np.nan,
    ) -> Recommendation:
        position = int(s.positions[i])
        closest = np.fmax(s.resemblance[i], listed_resemblance)
        article = self.articles[position]
        override = rules.featured.get(article.id)
        if override is not None and override != article.featured:
            article = article.model_copy(update={"featured": override})
        return Recommendation(
            article=article,
            score=float(s.final[i]),
            dense=float(s.dense[i]),
            lexical=float(s.lexical[i]),
            shared_terms=tuple(
                self.snapshot.lexical.shared_terms(
                    query.weights,
                    self._row_arrays(position),
                    texts=None
                    if query.document is None
                    else (query.document, lexical_fields(self.articles[position])),
                )
            )
            if self.explain
            else (),
            tag=float(s.tag[i]),
            recency=float(s.recency[i]),
            rule=rule,
            fusion=self.fusion,
            dense_part=float(s.dense_part[i]),
            lexical_part=float(s.lexical_part[i]),
            dense_rank=int(s.dense_rank[i]),
            lexical_rank=int(s.lexical_rank[i]),
            lexical_fields=self._lexical_by_field(s.signals, position, float(s.lexical[i]))
            if self.explain
            else {},
            redundancy=redundancy,
            resemblance=None if np.isnan(closest) else float(closest),
        )

    # -- filling a list ----------------------------------------------------------------

    def _duplicate_of_query(self, s: _Scored) -> np.ndarray:
        """Where a candidate is the query's story: a near-copy of its vector, or of its
        body's shingles. Titles play no part: a shared recurring title ("Letters") says
        nothing, and a copy's suffixed headline hides nothing."""
        with np.errstate(invalid="ignore"):  # NaN resemblance: not comparable
            return np.asarray(
                (s.dense >= self.duplicate_threshold) | (s.resemblance >= self.duplicate_jaccard)
            )

    def _pick(
        self,
        s: _Scored,
        order: np.ndarray,
        need: int,
        shown: list[int],
        mmr_lambda: float = 1.0,
    ) -> list[_Picked]:
        """Up to ``need`` indexes of ``s``, skipping near-duplicates of the query and of
        anything ``shown`` (positions of the items already in the list, extended in
        place). Each comes with its redundancy, its highest cosine to what was shown
        when it was picked (None when nothing was), and its highest body resemblance
        to what was shown (NaN when nothing comparable was).

        Takes ``order`` as it comes, or by maximal marginal relevance when
        ``mmr_lambda`` < 1: each step takes the candidate maximising
        ``λ·score − (1−λ)·(its highest cosine to an item already listed)``.
        """
        if self.suppress_duplicates:
            order = order[~self._duplicate_of_query(s)[order]]
        pool = [int(i) for i in order]
        picked: list[_Picked] = []
        if not pool or need <= 0:
            return picked
        if not self.suppress_duplicates and mmr_lambda >= 1.0:
            # Evaluation: plain relevance order, every document counts.
            return [(i, None, np.nan) for i in pool[:need]]
        pool_array = np.array(pool)
        pool_vectors = s.vectors[pool_array]
        pool_signatures = self._signatures(s.positions[pool_array])
        nearest = np.full(len(pool), -np.inf)  # highest cosine to anything shown so far
        similar = np.full(len(pool), np.nan)  # highest body resemblance to anything shown

        def show(position: int) -> None:
            nonlocal nearest, similar
            nearest = np.maximum(nearest, pool_vectors @ self._vectors(np.array([position]))[0])
            if pool_signatures is not None:
                own = self._signatures(np.array([position]))
                assert own is not None  # signatures exist for every position or none
                similar = np.fmax(similar, resemblance(own, pool_signatures))

        for position in shown:
            show(position)
        alive = np.ones(len(pool), dtype=bool)
        while len(picked) < need and alive.any():
            if mmr_lambda >= 1.0:
                j = int(np.flatnonzero(alive)[0])
            else:
                novelty = np.where(np.isfinite(nearest), np.clip(nearest, 0.0, 1.0), 0.0)
                mmr = mmr_lambda * s.final[pool_array] - (1 - mmr_lambda) * novelty
                j = int(np.argmax(np.where(alive, mmr, -np.inf)))
            alive[j] = False
            if self.suppress_duplicates and (
                nearest[j] >= self.duplicate_threshold or similar[j] >= self.duplicate_jaccard
            ):
                continue  # the same story as an item already in the list
            redundancy = float(nearest[j]) if np.isfinite(nearest[j]) else None
            picked.append((pool[j], redundancy, float(similar[j])))
            position = int(s.positions[pool[j]])
            shown.append(position)
            show(position)
        return picked

    def _fallback(
        self,
        query: Query,
        signals: _Signals,
        pool: np.ndarray,
        featured: np.ndarray,
        taken: set[int],
        need: int,
        shown: list[int],
        knobs: RankingKnobs,
        filters: Filters,
        rules: RuleSet,
        featured_only: bool,
    ) -> list[Recommendation]:
        """Fill a short list: featured articles (most relevant first), then the newest
        articles sharing a category with the query (a tag, if it has no category)."""
        mask = pool.copy()
        mask[list(taken)] = False
        featured_positions = np.flatnonzero(mask & featured)
        s = self._score(query, featured_positions, signals, knobs)
        order = np.argsort(-s.final, kind="stable")
        order = order[s.final[order] >= filters.min_score]
        out = [
            self._recommendation(query, s, i, rules, "fallback", redundancy, similar)
            for i, redundancy, similar in self._pick(s, order, need, shown)
        ]
        if featured_only or len(out) >= need:
            return out
        mask[featured_positions] = False
        index, labels = (
            (self._by_category, query.categories)
            if query.categories
            else (self._by_tag, query.tags)
        )
        if labels:
            related = np.zeros(len(self.articles), dtype=bool)
            for label in {label.casefold() for label in labels}:
                related[index.get(label, [])] = True
            mask &= related
        recent = np.flatnonzero(mask)
        recent = recent[np.argsort(-self._published_at[recent], kind="stable")]
        s = self._score(query, recent[:_FALLBACK_RECENT], signals, knobs)
        order = np.flatnonzero(s.final >= filters.min_score)
        out += [
            self._recommendation(query, s, i, rules, "fallback", redundancy, similar)
            for i, redundancy, similar in self._pick(s, order, need - len(out), shown)
        ]
        return out

    def _fill(
        self,
        query: Query,
        candidates: np.ndarray,
        signals: _Signals,
        pool: np.ndarray,
        k: int,
        filters: Filters,
        knobs: RankingKnobs,
        rules: RuleSet,
        pins: list[tuple[int, Recommendation]],
        featured: np.ndarray,
        featured_only: bool,
    ) -> list[Recommendation]:
        shown = [self.positions[r.article.id] for _, r in pins]
        s = self._score(query, candidates, signals, knobs)
        floor = max(knobs.min_score, filters.min_score)
        order = np.argsort(-s.final, kind="stable")
        order = order[s.final[order] >= floor]
        need = k - len(pins)
        items = [
            self._recommendation(query, s, i, rules, None, redundancy, similar)
            for i, redundancy, similar in self._pick(s, order, need, shown, knobs.mmr_lambda)
        ]
        if knobs.fallback and len(items) < need:
            taken = {self.positions[r.article.id] for r in items} | {
                self.positions[r.article.id] for _, r in pins
            }
            items += self._fallback(
                query,
                signals,
                pool,
                featured,
                taken,
                need - len(items),
                shown,
                knobs,
                filters,
                rules,
                featured_only,
            )
        # Ascending positions: each insert lands where the editor asked, or at the end
        # when the list is shorter than that.
        for position, item in sorted(pins, key=lambda pin: pin[0]):
            items.insert(min(position - 1, len(items)), item)
        return items[:k]

    def _pin_positions(
        self, query: Query, k: int, visible: np.ndarray, rules: RuleSet
    ) -> list[tuple[int, int]]:
        """``(list position, article position)`` of the pins under the query article that
        fall within ``k`` and may be shown."""
        if query.article_id is None:
            return []
        return [
            (pin.position, self.positions[pin.article_id])
            for pin in rules.pins.get(query.article_id, ())
            if pin.position <= k
            and pin.article_id in self.positions
            and visible[self.positions[pin.article_id]]
        ]

    def _pins(
        self,
        query: Query,
        wanted: list[tuple[int, int]],
        signals: _Signals,
        knobs: RankingKnobs,
        rules: RuleSet,
    ) -> list[tuple[int, Recommendation]]:
        """The pinned items, scored (for their explanation) and marked as pinned."""
        if not wanted:
            return []
        s = self._score(query, np.array([p for _, p in wanted]), signals, knobs)
        return [
            (position, self._recommendation(query, s, i, rules, "pinned"))
            for i, (position, _) in enumerate(wanted)
        ]

    # -- the two lists -----------------------------------------------------------------

    def related(
        self,
        query: Query,
        k: int,
        filters: Filters | None = None,
        knobs: RankingKnobs | None = None,
        rules: RuleSet | None = None,
    ) -> list[Recommendation]:
        """The ``k`` best visible articles for ``query``, never the query itself.

        Editorial pins under the query article take their positions (if the pinned
        article is published and not excluded by the caller or an editor); blocked
        and excluded articles never appear.
        """
        filters = filters or Filters()
        knobs = knobs or self.knobs
        rules = rules or RuleSet()
        visible = self._visible(query, filters, rules)
        lexical, terms = self._lexical_scores(query)
        pinned = self._pin_positions(query, k, visible, rules)
        pool = visible & self._in_window(query, knobs)
        for _, position in pinned:
            pool[position] = False
        eligible = pool.copy()
        if knobs.require_shared_tag and query.tags:
            eligible &= self._sharing_a_tag(query)
        wanted = self.candidates + k
        _, dense_positions = self.snapshot.dense.search(query.vector[None, :], wanted + 1)
        masked = np.where(eligible, lexical, -1.0)
        take = min(wanted, masked.size)
        lexical_positions = (
            np.argpartition(-masked, take - 1)[:take] if take else np.zeros(0, dtype=np.int64)
        )
        live_positions = np.arange(self._n, len(self.articles))
        candidates = np.union1d(
            np.union1d(dense_positions[0][dense_positions[0] >= 0], lexical_positions),
            live_positions,
        ).astype(np.int64)
        candidates = candidates[eligible[candidates]]
        signals = self._signals(query, candidates, lexical, terms)
        pins = self._pins(query, pinned, signals, knobs, rules)
        featured = self._featured_mask(rules)
        return self._fill(
            query, candidates, signals, pool, k, filters, knobs, rules, pins, featured, False
        )

    def featured(
        self,
        query: Query,
        k: int,
        filters: Filters | None = None,
        knobs: RankingKnobs | None = None,
        rules: RuleSet | None = None,
    ) -> list[Recommendation]:
        """The ``k`` featured articles most relevant to ``query`` (all are scored).

        Featured overrides decide what counts as featured; blocks and excludes apply.
        """
        filters = filters or Filters()
        knobs = knobs or self.knobs
        rules = rules or RuleSet()
        featured = self._featured_mask(rules)
        pool = self._visible(query, filters, rules) & self._in_window(query, knobs) & featured
        eligible = pool.copy()
        if knobs.require_shared_tag and query.tags:
            eligible &= self._sharing_a_tag(query)
        candidates = np.flatnonzero(eligible)
        signals = self._signals(query, candidates, *self._lexical_scores(query))
        return self._fill(
            query, candidates, signals, pool, k, filters, knobs, rules, [], featured, True
        )


def _minmax(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``values`` rescaled so the candidates' lowest score is 0 and their highest 1
    (``reference``: the candidates' scores, ascending)."""
    if reference.size == 0:
        return np.zeros_like(values)
    low, high = float(reference[0]), float(reference[-1])
    if high <= low:
        return np.where(values >= high, 1.0, 0.0) if high > 0 else np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def _inverted(articles: list[Article], attribute: str) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for position, article in enumerate(articles):
        for label in {label.casefold() for label in getattr(article, attribute)}:
            index.setdefault(label, []).append(position)
    return index
