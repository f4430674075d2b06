"""Ranking: related articles and featured picks for one query, in stages.

A :class:`Ranker` wires the stages, each in its own module, for one published
snapshot with the live API changes laid over it:

1. :mod:`~recommender.catalog`: the articles by position, and the masks of what
   may appear (visible, in the age window, featured, sharing a tag);
2. :mod:`~recommender.candidates`: which positions the related list scores
   (:class:`~recommender.candidates.CandidateSource`);
3. :mod:`~recommender.scoring`: one score table per request, over every position
   any list of the request may use, with fusion methods and boosts as registered
   column functions;
4. :mod:`~recommender.filling`: the lists, from the table: floors, near-duplicates,
   diversity, fallback and pins;
5. :mod:`~recommender.explain`: the picked items as :class:`Recommendation`\\ s.

The lexical query side (term weighting, normalisation, shared terms, the split
over fields) is :mod:`recommender.lexical`'s. ``docs/architecture.md`` ("Ranking")
gives the formulas and the flow of one request; the request types
(:class:`Query`, :class:`Filters`, :class:`RankingKnobs`, :class:`Recommendation`)
are defined in :mod:`recommender.request` and re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import numpy as np

from . import scoring
from .articles import Article
from .candidates import CandidateSource, PrecomputedCandidates
from .catalog import Catalog, CatalogBase, among
from .clicks import ClickThrough
from .config import RankingKnobs
from .duplicates import Shingling
from .errors import InvalidArgument
from .explain import Explainer
from .filling import FALLBACK_RECENT, Duplicates, Fallback, Placed, Recent, Slate, fill
from .lexical import QUERY_WEIGHTS, LexicalDocument, QueryWeights, WeightedQuery
from .live import Clock, LiveChanges, system_clock
from .request import Filters, Fusion, Query, Recommendation, Rule
from .rules import RuleSet
from .scoring import BoostContext, FusionWeights, Scorer, ScoreTable
from .snapshot import Snapshot

FUSIONS = cast(tuple[Fusion, ...], tuple(scoring.FUSIONS))
"""The names of the fusion methods (:data:`recommender.scoring.FUSIONS`), in the
order tuning tries them."""


@dataclass(frozen=True)
class _Request:
    """What every list of one request shares."""

    query: Query
    filters: Filters
    knobs: RankingKnobs
    rules: RuleSet
    lexical: WeightedQuery
    reference: float
    """The recency reference, seconds since the epoch (see ``Ranker._reference_time``)."""
    context: BoostContext
    """What the scorer reads besides positions."""
    explain: bool | None = None
    """Whether items carry shared terms and the field split (None: the ranker's choice)."""


@dataclass(frozen=True)
class _RelatedPlan:
    """The related list before scoring: positions, not yet table rows."""

    candidates: np.ndarray
    """``(c,)`` int64 positions, ascending."""
    pins: list[tuple[int, int]]
    """``(list position, catalog position)``."""
    allowed: Callable[[np.ndarray], np.ndarray]
    """What may fill the list: ``(len(positions),)`` bool for some positions (the
    fallback relaxes the shared-tag rule and the ``min_score`` knob, nothing else)."""
    featured: np.ndarray | None
    """``(f,)`` int64 positions, ascending: the featured articles that may fill the
    list, which the fallback tries first; None when the fallback is off."""

    def positions(self) -> list[np.ndarray]:
        """Every position the list scores before its fallback reaches beyond the
        featured articles."""
        pins = np.array([p for _, p in self.pins], dtype=np.int64)
        return [self.candidates, pins, *([] if self.featured is None else [self.featured])]


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
        explain: compute each item's shared terms and field split unless a call
            says otherwise (see :class:`~recommender.explain.Explainer`).
        now: the clock deciding which scheduled articles are live, and the recency
            reference of drafts and undated articles (tests pass a fake one).
        clock_skew: seconds before its ``published`` time that a scheduled article
            is shown (``RECOMMENDER_CLOCK_SKEW_SECONDS``).
        candidate_source: makes the related lists' candidate source from the
            catalog (default: :class:`~recommender.candidates.PrecomputedCandidates`,
            which searches exhaustively for drafts and older snapshots).
        catalog_base: what the catalog reads from ``snapshot``, computed once per
            snapshot; pass the previous ranker's (``ranker.catalog.base``) when only
            the live changes moved, so a change does not redo corpus-sized work.
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
        candidate_source: Callable[[Catalog], CandidateSource] = PrecomputedCandidates,
        catalog_base: CatalogBase | None = None,
    ) -> None:
        if fusion not in scoring.FUSIONS:
            raise InvalidArgument("fusion", f"{fusion!r} is not one of {', '.join(FUSIONS)}")
        self.snapshot = snapshot
        self.now = now
        self.candidates = candidates
        self.query_weights = query_weights
        self.fusion: Fusion = fusion
        self.knobs = knobs or RankingKnobs()
        self.catalog = Catalog(snapshot, live, now=now, clock_skew=clock_skew, base=catalog_base)
        self.source = candidate_source(self.catalog)
        self.scorer = Scorer(self.catalog, fusion, FusionWeights(dense_weight, rrf_k))
        self.duplicates = Duplicates(duplicate_threshold, duplicate_jaccard, suppress_duplicates)
        self.explainer = Explainer(self.catalog, fusion, explain)
        self.clicks: ClickThrough | None = None
        """The readers' click-through rates that the ``ctr`` boost and the items'
        explanations read; the engine sets them (None: nothing counted)."""

    # -- what is served ----------------------------------------------------------------

    @property
    def live_seq(self) -> int:
        """The sequence number of the live changes laid over the snapshot."""
        return self.catalog.live_seq

    @property
    def positions(self) -> Mapping[str, int]:
        """Id → position of every article that exists now (drafts included)."""
        return self.catalog.positions

    @property
    def shingling(self) -> Shingling | None:
        """How body signatures are made; None when the snapshot has none."""
        return self.catalog.shingling

    def schedule(self, now: datetime | None = None) -> tuple[int, float | None]:
        """See :meth:`Catalog.schedule`."""
        return self.catalog.schedule(now)

    def version_time(self, article_id: str) -> datetime | None:
        """See :meth:`Catalog.version_time`."""
        return self.catalog.version_time(article_id)

    def listed(self) -> list[Article]:
        """Every article that exists now (drafts included), in index order."""
        return self.catalog.listed_articles()

    def article(self, article_id: str) -> Article:
        """One article by id.

        Raises:
            ArticleNotFound: the id is unknown or deleted.
        """
        return self.catalog.article(self.catalog.find(article_id))

    # -- queries -----------------------------------------------------------------------

    def query_for_article(self, article_id: str) -> Query:
        """The query for an indexed (or live) article.

        Raises:
            ArticleNotFound: the id is not there.
        """
        position = self.catalog.find(article_id)
        article = self.catalog.article(position)
        at = np.array([position])
        return Query(
            vector=self.catalog.vectors(at)[0],
            lexical=self.catalog.lexical_query(position),
            title=article.title,
            position=position,
            article_id=article.id,
            tags=article.tags,
            categories=article.categories,
            published=article.published,
            signature=self.catalog.signatures(at),
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
            lexical=self.snapshot.lexical.query_for_document(document),
            title=title,
            tags=tuple(tags),
            signature=self.catalog.sign(body) if self.catalog.shingling is not None else None,
        )

    # -- the lists ---------------------------------------------------------------------

    def related(
        self,
        query: Query,
        k: int,
        filters: Filters | None = None,
        knobs: RankingKnobs | None = None,
        rules: RuleSet | None = None,
        explain: bool | None = None,
    ) -> list[Recommendation]:
        """The ``k`` best visible articles for ``query``, never the query itself.

        Editorial pins under the query article take their positions (if the pinned
        article is published and not excluded by the caller or an editor); blocked
        and excluded articles never appear. ``explain`` overrides the ranker's choice
        of shared terms and field splits for this call.
        """
        request = self._request(query, filters, knobs, rules, explain)
        plan = self._plan_related(request, k)
        table = self._table(request, plan.positions())
        return self._fill_related(request, plan, table, k)

    def featured(
        self,
        query: Query,
        k: int,
        filters: Filters | None = None,
        knobs: RankingKnobs | None = None,
        rules: RuleSet | None = None,
        explain: bool | None = None,
    ) -> list[Recommendation]:
        """The ``k`` featured articles most relevant to ``query`` (those the candidate
        source puts forward are scored).

        Featured overrides decide what counts as featured; blocks and excludes apply.
        """
        request = self._request(query, filters, knobs, rules, explain)
        pool = self._featured_pool(request, request.filters, k)
        table = self._table(request, [pool])
        return self._fill_featured(request, pool, request.filters, table, k)

    def recommendations(
        self,
        query: Query,
        k: int,
        filters: Filters | None = None,
        knobs: RankingKnobs | None = None,
        rules: RuleSet | None = None,
        explain: bool | None = None,
    ) -> tuple[list[Recommendation], list[Recommendation]]:
        """:meth:`related` and :meth:`featured` from one score table; the featured
        picks skip the related items (as if the caller excluded them)."""
        request = self._request(query, filters, knobs, rules, explain)
        # Every featured pick is in this pool: excluding the related items only shrinks
        # it. The related list's fallback draws from it too (less the pinned), so the
        # candidate source shortlists the featured articles once per request.
        featured_pool = self._featured_pool(request, request.filters, k)
        plan = self._plan_related(request, k, featured_pool)
        table = self._table(request, [*plan.positions(), featured_pool])
        related = self._fill_related(request, plan, table, k)
        given = request.filters
        shown = [*given.exclude, *(item.article.id for item in related)]
        filters = Filters(shown, given.tags, given.since, given.min_score)
        pool = featured_pool[self._allowed(request, filters, featured_pool)]
        return related, self._fill_featured(request, pool, filters, table, k)

    # -- stages ------------------------------------------------------------------------

    def _request(
        self,
        query: Query,
        filters: Filters | None,
        knobs: RankingKnobs | None,
        rules: RuleSet | None,
        explain: bool | None = None,
    ) -> _Request:
        filters = filters or Filters()
        knobs = knobs or self.knobs
        rules = rules or RuleSet()
        reference = self._reference_time(query)
        return _Request(
            query=query,
            filters=filters,
            knobs=knobs,
            rules=rules,
            lexical=query.lexical.weighted(self.query_weights),
            reference=reference,
            context=BoostContext(self.catalog, query, knobs, reference, self.clicks),
            explain=explain,
        )

    def _reference_time(self, query: Query) -> float:
        # Recency is measured from the query article's date: the block under an old
        # article shows what was current then, and answers do not drift as the clock
        # runs (so cached answers stay right). Drafts and undated articles use now.
        return (query.published or self.now()).timestamp()

    def _allowed(self, request: _Request, filters: Filters, positions: np.ndarray) -> np.ndarray:
        """``(len(positions),)`` bool: visible under ``filters`` and the rules, and in
        the age window."""
        query = request.query
        visible = self.catalog.visible(
            positions, filters, request.rules, query.position, query.article_id
        )
        in_window = self.catalog.in_window(positions, request.reference, request.knobs.max_age_days)
        return np.asarray(visible & in_window, dtype=bool)

    def _sharing(self, request: _Request, positions: np.ndarray) -> np.ndarray:
        """``(len(positions),)`` bool: what the shared-tag rule keeps (a query without
        tags is exempt)."""
        if request.knobs.require_shared_tag and request.query.tags:
            return self.catalog.sharing_a_tag(positions, request.query.tags)
        return np.ones(len(positions), dtype=bool)

    def _featured_pool(self, request: _Request, filters: Filters, k: int) -> np.ndarray:
        """``(f,)`` int64 ascending: the featured articles that may appear and that the
        candidate source puts forward (see :meth:`CandidateSource.featured`)."""
        featured = self.catalog.featured_positions(request.rules)
        pool = np.asarray(featured[self._allowed(request, filters, featured)], dtype=np.int64)
        return self.source.featured(request.query, pool, self.candidates + k)

    def _pins(self, request: _Request, k: int) -> list[tuple[int, int]]:
        """``(list position, article position)`` of the pins under the query article
        that fall within ``k`` and may be shown."""
        query_id = request.query.article_id
        if query_id is None:
            return []
        positions = self.catalog.positions
        pins = [
            (pin.position, positions[pin.article_id])
            for pin in request.rules.pins.get(query_id, ())
            if pin.position <= k and pin.article_id in positions
        ]
        at = np.array([p for _, p in pins], dtype=np.int64)
        shown = self.catalog.visible(
            at, request.filters, request.rules, request.query.position, query_id
        )
        return [pin for pin, ok in zip(pins, shown, strict=True) if ok]

    def _plan_related(
        self, request: _Request, k: int, featured_pool: np.ndarray | None = None
    ) -> _RelatedPlan:
        """What the related list ranks. ``featured_pool``: the featured articles the
        request already shortlisted (see :meth:`_featured_pool`), which the fallback
        then draws from; None to shortlist them here."""
        pins = self._pins(request, k)
        pinned = np.array([p for _, p in pins], dtype=np.int64)

        pinned.sort()

        def allowed(positions: np.ndarray) -> np.ndarray:
            ok = self._allowed(request, request.filters, positions)
            if pinned.size:
                ok = ok & ~among(positions, pinned)
            return np.asarray(ok, dtype=bool)

        def eligible(positions: np.ndarray) -> np.ndarray:
            return np.asarray(allowed(positions) & self._sharing(request, positions), bool)

        candidates = self.source.for_query(
            request.query, request.lexical, eligible, self.candidates + k
        )
        featured = None
        if request.knobs.fallback:
            if featured_pool is None:
                featured = self.catalog.featured_positions(request.rules)
                featured = featured[allowed(featured)]
                featured = self.source.featured(request.query, featured, self.candidates + k)
            else:
                featured = featured_pool[allowed(featured_pool)]
        return _RelatedPlan(candidates, pins, allowed, featured)

    def _table(self, request: _Request, positions: list[np.ndarray]) -> ScoreTable:
        union = np.unique(np.concatenate(positions)).astype(np.int64)
        return self.scorer.table(request.context, request.lexical, union)

    def _recent(
        self, request: _Request, plan: _RelatedPlan, table: ScoreTable, candidates: np.ndarray
    ) -> Recent:
        """The fallback's second part: the newest articles that may fill the list, are
        not featured and share the query's category (a tag, if it has no category;
        any, if it has neither), scored into ``table`` when first asked for."""

        def recent(taken: np.ndarray) -> tuple[ScoreTable, np.ndarray]:
            query = request.query

            def rest(positions: np.ndarray) -> np.ndarray:
                featured = self.catalog.featured_at(positions, request.rules)
                free = ~np.isin(positions, taken)
                return np.asarray(plan.allowed(positions) & ~featured & free, dtype=bool)

            positions = self.catalog.newest(
                rest, FALLBACK_RECENT, categories=query.categories, tags=query.tags
            )
            extended = self.scorer.extend(table, request.context, request.lexical, positions)
            fused = self.scorer.fuse(extended, candidates)
            return fused, fused.rows(positions)

        return recent

    def _fill_related(
        self, request: _Request, plan: _RelatedPlan, table: ScoreTable, k: int
    ) -> list[Recommendation]:
        candidates = table.rows(plan.candidates)
        fused = self.scorer.fuse(table, candidates)
        fallback = None
        if plan.featured is not None:
            recent = self._recent(request, plan, table, candidates)
            fallback = Fallback(plan.featured, request.filters.min_score, recent)
        slate = Slate(
            candidates=candidates,
            k=k,
            floor=max(request.knobs.min_score, request.filters.min_score),
            mmr_lambda=request.knobs.mmr_lambda,
            pins=[(place, int(table.rows(np.array([p]))[0])) for place, p in plan.pins],
            fallback=fallback,
        )
        placed, fused = fill(fused, slate, self.duplicates)
        return self._items(request, fused, placed)

    def _items(
        self, request: _Request, table: ScoreTable, placed: list[Placed]
    ) -> list[Recommendation]:
        """The recommendations of the placed rows, explained as the request asks."""
        return self.explainer.items(
            request.query,
            request.lexical,
            table,
            placed,
            request.rules,
            request.explain,
            request.context.clicks,
        )

    def _fill_featured(
        self,
        request: _Request,
        pool: np.ndarray,
        filters: Filters,
        table: ScoreTable,
        k: int,
    ) -> list[Recommendation]:
        """The featured list from ``pool``: ``(f,)`` int64 ascending, the featured
        articles that may appear under ``filters``."""
        candidates = table.rows(pool[self._sharing(request, pool)])
        fused = self.scorer.fuse(table, candidates)
        fallback = None
        if request.knobs.fallback:
            fallback = Fallback(pool, filters.min_score)
        slate = Slate(
            candidates=candidates,
            k=k,
            floor=max(request.knobs.min_score, filters.min_score),
            mmr_lambda=request.knobs.mmr_lambda,
            fallback=fallback,
        )
        placed, fused = fill(fused, slate, self.duplicates)
        return self._items(request, fused, placed)


__all__ = [
    "FUSIONS",
    "QUERY_WEIGHTS",
    "Filters",
    "Fusion",
    "Query",
    "QueryWeights",
    "Ranker",
    "RankingKnobs",
    "Recommendation",
    "Rule",
]
