"""Candidates: which positions of the catalog are scored as one query's related list.

A :class:`CandidateSource` answers one question, :meth:`~CandidateSource.for_query`:
given the query, its weighted lexical terms, the mask of positions that may appear
and how many each signal should contribute, which positions to score. Every other
stage (scoring, filling, explanation) works on those positions only, so a source
that reads precomputed per-article candidate sets can replace
:class:`ExhaustiveCandidates` without touching them.

The featured articles a request scores (for the featured list and the fallback)
come from the source too, :meth:`~CandidateSource.featured`: every eligible one
from the exhaustive source; from the precomputed one, on a large snapshot, the
``want`` nearest by cosine and those in the query article's stored set, since a
site features about one article in a hundred and that grows with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from .catalog import Catalog
from .lexical import WeightedQuery
from .request import Query

Eligible = Callable[[np.ndarray], np.ndarray]
"""``eligible(positions)``: ``(len(positions),)`` bool, the positions that may be
candidates (visible, in the age window, not pinned, sharing a tag if required)."""


class CandidateSource(Protocol):
    """Where a related list's candidates come from."""

    def for_query(
        self, query: Query, lexical: WeightedQuery, eligible: Eligible, want: int
    ) -> np.ndarray:
        """The positions to score for ``query``.

        Args:
            query: the article or draft.
            lexical: its lexical terms under the served weighting.
            eligible: which positions may be candidates (asked for the positions a
                source considers; the exhaustive source asks for all).
            want: how many candidates each signal should contribute at least.

        Returns:
            ``(c,)`` int64 positions, ascending, every one of them eligible.
        """
        ...

    def featured(self, query: Query, pool: np.ndarray, want: int) -> np.ndarray:
        """Which of ``pool`` (the featured articles that may appear, ascending) to score
        for ``query``'s featured list and fallback: ``(f,)`` int64, ascending."""
        ...


class ExhaustiveCandidates:
    """The dense top ``want`` ∪ the lexical top ``want`` among the eligible positions
    (every article scored, live upserts included).

    The dense index holds the snapshot only: its search asks one more than ``want``,
    as the query itself is usually its own nearest neighbour, and positions that may
    not appear are dropped afterwards; the eligible live upserts are ranked by cosine
    on their own (one product over the live layer), so thousands of them add
    ``want`` candidates to a request, not thousands.

    Args:
        catalog: the articles to draw from.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def for_query(
        self, query: Query, lexical: WeightedQuery, eligible: Eligible, want: int
    ) -> np.ndarray:
        """See :meth:`CandidateSource.for_query`."""
        catalog = self.catalog
        allowed = eligible(np.arange(len(catalog), dtype=np.int64))
        _, dense = catalog.snapshot.dense.search(query.vector[None, :], want + 1)
        masked = np.where(allowed, catalog.lexical_scores(lexical), -1.0)
        take = min(want, masked.size)
        best_lexical = (
            np.argpartition(-masked, take - 1)[:take] if take else np.zeros(0, dtype=np.int64)
        )
        live = catalog.live_positions()
        shown = allowed[live]
        live = live[shown]
        if live.size > want:
            cosines = catalog.live_cosines(query.vector)[shown]
            live = live[np.argpartition(-cosines, want - 1)[:want]]
        best_dense = dense[0][dense[0] >= 0]
        candidates = np.union1d(np.union1d(best_dense, best_lexical), live).astype(np.int64)
        return np.asarray(candidates[allowed[candidates]], dtype=np.int64)

    def featured(self, query: Query, pool: np.ndarray, want: int) -> np.ndarray:
        """Every featured article in ``pool``."""
        return pool


EXHAUSTIVE_BELOW = 5_000
"""Snapshots with fewer articles are searched exhaustively even when they hold
candidate sets: under this size scoring every article costs about a millisecond,
and the exact lexical candidates under the served query weighting match what the
benchmarks measured."""


class PrecomputedCandidates:
    """An indexed article's candidate set, found when its snapshot was built
    (:mod:`recommender.neighbours`), ∪ the live upserts that join it (those whose
    own nearest articles, by cosine or by strongest terms, include this one; see
    :meth:`~recommender.catalog.Catalog.linked_upserts`): a request scores a few
    hundred positions whatever the size of the corpus or of the live layer. Each
    half of the stored set (the dense neighbours, then the lexical ones, each best
    first) is cut to the ``want`` a request asks for.

    A live upsert's own set is made when it is written, the way a build makes a
    stored set (its nearest snapshot articles by cosine, then by its strongest
    terms: :meth:`~recommender.catalog.Catalog.upsert_links`), ∪ the upserts
    nearest to it by either signal (all of them while there are no more than a
    request wants). Drafts, snapshots built before candidate sets existed and small
    snapshots (``exhaustive_below``) are searched exhaustively
    (:class:`ExhaustiveCandidates`), as the whole index must be for a text nobody
    indexed.

    Args:
        catalog: the articles to draw from.
        exhaustive_below: snapshots with fewer articles are searched exhaustively.
    """

    def __init__(self, catalog: Catalog, exhaustive_below: int = EXHAUSTIVE_BELOW) -> None:
        self.catalog = catalog
        self.exhaustive_below = exhaustive_below
        self.exhaustive = ExhaustiveCandidates(catalog)

    def for_query(
        self, query: Query, lexical: WeightedQuery, eligible: Eligible, want: int
    ) -> np.ndarray:
        """See :meth:`CandidateSource.for_query`."""
        catalog = self.catalog
        stored = catalog.snapshot.candidates
        position = query.position
        if stored is None or position is None or catalog.n_snapshot < self.exhaustive_below:
            return self.exhaustive.for_query(query, lexical, eligible, want)
        if catalog.is_live(position):
            row = catalog.upsert_links(position)
            upserts = self._nearest_upserts(query, lexical, want)
        else:
            row = np.asarray(stored[position])
            upserts = catalog.linked_upserts(position)
        half = row.shape[0] // 2
        chosen = np.concatenate([row[: min(want, half)], row[half : half + min(want, half)]])
        positions = np.union1d(chosen[chosen >= 0], upserts).astype(np.int64)
        return np.asarray(positions[eligible(positions)], dtype=np.int64)

    def _nearest_upserts(self, query: Query, lexical: WeightedQuery, want: int) -> np.ndarray:
        """The live upserts among a live upsert's candidates: every one while there
        are at most ``want``, else the ``want`` nearest by cosine ∪ by lexical score
        (one product over the live layer, never over the corpus)."""
        live = self.catalog.live_positions()
        if live.size <= want:
            return live
        cosines = self.catalog.live_cosines(query.vector)
        scores = self.catalog.lexical_scores_at(lexical, live)
        nearest = np.argpartition(-cosines, want - 1)[:want]
        strongest = np.argpartition(-scores, want - 1)[:want]
        return np.asarray(live[np.union1d(nearest, strongest)], dtype=np.int64)

    def featured(self, query: Query, pool: np.ndarray, want: int) -> np.ndarray:
        """The ``want`` articles of ``pool`` nearest to the query by cosine, with those
        of ``pool`` in the query article's stored candidate set (its lexical half
        brings the featured articles that share its strongest terms); all of
        ``pool`` on a small snapshot or when it holds at most ``want``."""
        if pool.size <= want or self.catalog.n_snapshot < self.exhaustive_below:
            return pool
        nearest = self._nearest_featured(query, pool, want)
        stored = self.catalog.snapshot.candidates
        position = query.position
        if stored is None or position is None or position >= self.catalog.n_snapshot:
            return np.sort(nearest)
        row = np.asarray(stored[position])
        row = row[row >= 0]
        # Which of the row's positions are in the (sorted) pool: a binary search per
        # member of the row, not a sort of the pool.
        at = np.minimum(np.searchsorted(pool, row), pool.size - 1)
        return np.union1d(nearest, row[pool[at] == row]).astype(np.int64)

    def _nearest_featured(self, query: Query, pool: np.ndarray, want: int) -> np.ndarray:
        """The ``want`` members of ``pool`` (ascending, more than ``want``) nearest
        to the query by cosine.

        An indexed article's stored featured neighbours (the snapshot's featured
        articles, nearest first) answer it exactly, as long as ``want`` of them are
        in ``pool``: a featured article outside the row is no nearer than the row's
        last. Members of ``pool`` the row cannot hold (live featured upserts, and
        articles featured by an editor's override) are scored and merged in. A row
        with too few members in ``pool`` (filters that leave few featured articles,
        overrides that remove many), drafts and live upserts score all of ``pool``:
        one product over the snapshot's featured vectors.
        """
        catalog = self.catalog
        stored = catalog.snapshot.featured_neighbours
        position = query.position
        if (
            stored is not None
            and position is not None
            and position < catalog.n_snapshot
            and want <= stored.shape[1]
        ):
            row = np.asarray(stored[position])
            row = row[row >= 0]
            at = np.minimum(np.searchsorted(pool, row), pool.size - 1)
            kept = row[pool[at] == row]
            if kept.size >= want:
                featured = catalog.base.featured_positions
                at = np.minimum(np.searchsorted(featured, pool), max(featured.size - 1, 0))
                outside = pool[featured[at] != pool] if featured.size else pool
                nearest = kept[:want]
                if outside.size == 0:
                    return np.sort(nearest)
                both = np.concatenate([nearest, outside])
                cosines = catalog.vectors(both) @ query.vector
                return np.sort(both[np.argpartition(-cosines, want - 1)[:want]])
        cosines = catalog.cosines(pool, query.vector)
        return pool[np.argpartition(-cosines, want - 1)[:want]]
