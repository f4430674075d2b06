"""Scoring: one table of scores per request, computed once over every position the
request's lists may use (the related candidates, the pins, the featured pool), then
looked up by the stages that fill the lists. The fallback's newest articles, which
few requests reach, are appended to it when reached (:meth:`Scorer.extend`): no
position is scored twice.

A :class:`ScoreTable` has one row per position and named columns:

- ``dense``: float32 cosine of the query's and the position's vectors;
- ``lexical``: float32 lexical score in [0, 1] (:class:`~recommender.lexical.WeightedQuery`);
- ``resemblance``: float64 estimated Jaccard overlap of the two bodies' shingles
  (NaN: not comparable, or no signatures);
- one column per boost of :data:`BOOSTS`: ``tag`` (points added, float64),
  ``recency`` (a factor in (0, 1], float64) and ``ctr`` (a factor, float64; see
  :mod:`recommender.clicks`).

The fused columns depend on what ranks are counted against (the related list's
candidates, or the featured list's), so :meth:`Scorer.fuse` adds them per list:
``dense_rank`` and ``lexical_rank`` (int64; 1 + how many reference positions score
strictly higher, so ties share a rank and a position outside the reference gets the
rank it would have among them), ``dense_part`` and ``lexical_part`` (what each
signal contributes under the fusion method), and ``final``::

    final = (dense_part + lexical_part + Σ added boosts) × Π multiplying boosts

Fusion methods (:data:`FUSIONS`) and boosts (:data:`BOOSTS`) are small functions
registered by name: a new boost is one function and one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from .catalog import DAY, Catalog, among
from .clicks import ClickThrough
from .config import RankingKnobs
from .duplicates import Signatures, resemblance
from .lexical import WeightedQuery
from .request import Query


@dataclass(frozen=True)
class ScoreTable:
    """Scores of some catalog positions against one query, one row per position.

    Attributes:
        positions: ``(m,)`` int64 catalog positions, unique: ascending, then any
            appended by :meth:`Scorer.extend` (rows never move).
        vectors: ``(m, dim)`` float32 their unit vectors (for diversity and duplicates).
        signatures: their body signatures (None: the snapshot has none).
        columns: name → ``(m,)`` array (see the module docstring).
    """

    positions: np.ndarray
    vectors: np.ndarray
    signatures: Signatures | None
    columns: Mapping[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    @cached_property
    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows in ascending position order, and their positions."""
        order = np.argsort(self.positions, kind="stable")
        return order, self.positions[order]

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """``(len(positions),)`` int64: the rows of ``positions`` (each in the table)."""
        order, ascending = self._sorted
        return np.asarray(order[np.searchsorted(ascending, positions)], dtype=np.int64)

    def holds(self, positions: np.ndarray) -> np.ndarray:
        """``(len(positions),)`` bool: which of ``positions`` have a row."""
        if not self.positions.size:
            return np.zeros(len(positions), dtype=bool)
        return among(positions, self._sorted[1])

    def with_columns(self, **columns: np.ndarray) -> ScoreTable:
        """The same table with ``columns`` added (or replaced)."""
        table = ScoreTable(
            self.positions, self.vectors, self.signatures, {**self.columns, **columns}
        )
        if "_sorted" in self.__dict__:  # the rows did not move
            table.__dict__["_sorted"] = self._sorted
        return table


@dataclass(frozen=True)
class Reference:
    """What ranks and rescaling count against: the scores of one list's candidates.

    Attributes:
        dense: ``(c,)`` the candidates' dense scores, ascending.
        lexical: ``(c,)`` the candidates' lexical scores, ascending.
    """

    dense: np.ndarray
    lexical: np.ndarray

    @staticmethod
    def rank(ascending: np.ndarray, values: np.ndarray) -> np.ndarray:
        """1 + how many reference scores are strictly higher than each value."""
        higher = ascending.size - np.searchsorted(ascending, values, side="right")
        return np.asarray(higher + 1, dtype=np.int64)


@dataclass(frozen=True)
class FusionWeights:
    """The fusion parameters of the served configuration.

    Attributes:
        dense: share of the dense signal, 0–1 (the lexical one has the rest).
        rrf_k: the rank offset of reciprocal-rank fusion.
    """

    dense: float
    rrf_k: int


FusionFunction = Callable[[ScoreTable, Reference, FusionWeights], tuple[np.ndarray, np.ndarray]]
"""Reads a table (with its rank columns) and returns ``(dense_part, lexical_part)``."""

FUSIONS: dict[str, FusionFunction] = {}
"""Fusion methods by name, in the order tuning tries them."""


def fusion(name: str) -> Callable[[FusionFunction], FusionFunction]:
    """Register a fusion method under ``name``."""

    def register(function: FusionFunction) -> FusionFunction:
        FUSIONS[name] = function
        return function

    return register


@fusion("weighted")
def weighted(
    table: ScoreTable, reference: Reference, w: FusionWeights
) -> tuple[np.ndarray, np.ndarray]:
    """``w · max(0, cos) + (1 − w) · lexical``: both parts in [0, 1], so scores mean
    the same across queries."""
    return w.dense * np.clip(table["dense"], 0.0, 1.0), (1 - w.dense) * table["lexical"]


@fusion("rrf")
def reciprocal_rank(
    table: ScoreTable, reference: Reference, w: FusionWeights
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted reciprocal-rank fusion, scaled so rank 1 in both signals scores 1. A
    signal that finds nothing in common (cosine ≤ 0, no shared term) adds nothing."""
    k = w.rrf_k
    dense = np.where(table["dense"] > 0, w.dense * (k + 1) / (k + table["dense_rank"]), 0.0)
    lexical = np.where(
        table["lexical"] > 0, (1 - w.dense) * (k + 1) / (k + table["lexical_rank"]), 0.0
    )
    return dense, lexical


@fusion("minmax")
def minmax(
    table: ScoreTable, reference: Reference, w: FusionWeights
) -> tuple[np.ndarray, np.ndarray]:
    """The weighted sum after rescaling each signal so the candidates span [0, 1]."""
    return (
        w.dense * _rescaled(table["dense"], reference.dense),
        (1 - w.dense) * _rescaled(table["lexical"], reference.lexical),
    )


def _rescaled(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``values`` rescaled so the candidates' lowest score is 0 and their highest 1
    (``reference``: the candidates' scores, ascending)."""
    if reference.size == 0:
        return np.zeros_like(values)
    low, high = float(reference[0]), float(reference[-1])
    if high <= low:
        return np.where(values >= high, 1.0, 0.0) if high > 0 else np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


@dataclass(frozen=True)
class BoostContext:
    """What a boost may read besides the table's positions.

    Attributes:
        catalog: per-position labels and dates.
        query: the query.
        knobs: the request's ranking knobs.
        reference_time: seconds since the epoch that ages count back from.
        clicks: the readers' click-through rates (None: none counted yet).
    """

    catalog: Catalog
    query: Query
    knobs: RankingKnobs
    reference_time: float
    clicks: ClickThrough | None = None


@dataclass(frozen=True)
class Boost:
    """A column that changes the final score.

    Attributes:
        column: ``(positions, context) -> (m,)`` float64 values for the positions.
        combine: ``add`` (points added to the fused score) or ``multiply`` (a factor).
    """

    column: Callable[[np.ndarray, BoostContext], np.ndarray]
    combine: Literal["add", "multiply"]


def tag_overlap(positions: np.ndarray, context: BoostContext) -> np.ndarray:
    """``tag_boost`` × the Jaccard overlap of the query's and each position's labels
    (tags and categories, casefolded); 0 when either has none."""
    tag = np.zeros(len(positions))
    query_labels = context.query.labels
    boost = context.knobs.tag_boost
    if boost and query_labels:
        for i, position in enumerate(positions):
            labels = context.catalog.labels(int(position))
            if labels:
                tag[i] = boost * (len(labels & query_labels) / len(labels | query_labels))
    return tag


def recency_decay(positions: np.ndarray, context: BoostContext) -> np.ndarray:
    """``0.5 ** (age / half_life)``, age in days before the reference time; 1 for an
    undated or newer article, and everywhere when the half-life is 0 (off)."""
    recency = np.ones(len(positions))
    half_life = context.knobs.recency_half_life_days
    if half_life:
        published = context.catalog.published_at[positions]
        dated = np.isfinite(published)
        # Only what is older than the reference decays: a newer article is not stale.
        age_days = np.maximum(context.reference_time - published[dated], 0.0) / DAY
        recency[dated] = 0.5 ** (age_days / half_life)
    return recency


def click_through(positions: np.ndarray, context: BoostContext) -> np.ndarray:
    """``(upper / mean) ** ctr_weight``: how much more than the average article readers
    click each position's article, corrected for list position and smoothed (see
    :meth:`~recommender.clicks.ClickThrough.boost_factors`); 1 everywhere when the
    weight is 0 or nothing was counted."""
    weight = context.knobs.ctr_weight
    if not weight or context.clicks is None:
        return np.ones(len(positions))
    ids = [context.catalog.article_id(int(position)) for position in positions]
    return context.clicks.boost_factors(ids, weight)


BOOSTS: dict[str, Boost] = {
    "tag": Boost(tag_overlap, "add"),
    "recency": Boost(recency_decay, "multiply"),
    "ctr": Boost(click_through, "multiply"),
}
"""Boosts by name; each adds the column of that name. Added boosts are summed in this
order, then multiplying ones applied in this order."""


class Scorer:
    """Builds a request's score table and the fused columns of each list.

    Args:
        catalog: the articles.
        method: the fusion method, a name in :data:`FUSIONS`.
        weights: the fusion parameters.
    """

    def __init__(self, catalog: Catalog, method: str, weights: FusionWeights) -> None:
        self.catalog = catalog
        self.method = method
        self.weights = weights

    def table(
        self, context: BoostContext, lexical: WeightedQuery, positions: np.ndarray
    ) -> ScoreTable:
        """The raw signals and boosts of ``positions`` (ascending, unique) for
        ``context.query``, whose lexical terms are ``lexical``."""
        positions = np.asarray(positions, dtype=np.int64)
        query = context.query
        vectors = self.catalog.vectors(positions)
        dense = vectors @ query.vector if positions.size else np.zeros(0, dtype=np.float32)
        signatures = self.catalog.signatures(positions)
        similar = (
            resemblance(query.signature, signatures)
            if query.signature is not None and signatures is not None
            else np.full(len(positions), np.nan)
        )
        columns = {
            "dense": dense,
            "lexical": self.catalog.lexical_scores_at(lexical, positions),
            "resemblance": similar,
        }
        for name, boost in BOOSTS.items():
            columns[name] = boost.column(positions, context)
        return ScoreTable(positions, vectors, signatures, columns)

    def extend(
        self,
        table: ScoreTable,
        context: BoostContext,
        lexical: WeightedQuery,
        positions: np.ndarray,
    ) -> ScoreTable:
        """``table``'s raw and boost columns with rows appended for those of
        ``positions`` it lacks (each position is still scored once). Fused columns
        are dropped: :meth:`fuse` the result again."""
        new = np.unique(positions[~table.holds(positions)])
        if new.size == 0:
            return table
        more = self.table(context, lexical, new)
        signatures = None
        if table.signatures is not None and more.signatures is not None:
            signatures = Signatures.concatenate([table.signatures, more.signatures])
        return ScoreTable(
            np.concatenate([table.positions, more.positions]),
            np.concatenate([table.vectors, more.vectors]),
            signatures,
            {name: np.concatenate([table[name], more[name]]) for name in more.columns},
        )

    def fuse(self, table: ScoreTable, candidates: np.ndarray) -> ScoreTable:
        """``table`` with the fused columns of a list whose candidates are the rows
        ``candidates`` (ranks and rescaling count against them)."""
        reference = Reference(
            np.sort(table["dense"][candidates]), np.sort(table["lexical"][candidates])
        )
        ranked = table.with_columns(
            dense_rank=Reference.rank(reference.dense, table["dense"]),
            lexical_rank=Reference.rank(reference.lexical, table["lexical"]),
        )
        dense_part, lexical_part = FUSIONS[self.method](ranked, reference, self.weights)
        final = dense_part + lexical_part
        for name, boost in BOOSTS.items():
            if boost.combine == "add":
                final = final + ranked[name]
        for name, boost in BOOSTS.items():
            if boost.combine == "multiply":
                final = final * ranked[name]
        return ranked.with_columns(dense_part=dense_part, lexical_part=lexical_part, final=final)
