"""Candidates: which positions of the catalog are scored as one query's related list.

A :class:`CandidateSource` answers one question, :meth:`~CandidateSource.for_query`:
given the query, its weighted lexical terms, the mask of positions that may appear
and how many each signal should contribute, which positions to score. Every other
stage (scoring, filling, explanation) works on those positions only, so a source
that reads precomputed per-article candidate sets can replace
:class:`ExhaustiveCandidates` without touching them.

The featured list and the fallback need no source: they score every eligible
featured article (there are few) and the newest articles of the query's category.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .catalog import Catalog
from .lexical import WeightedQuery
from .request import Query


class CandidateSource(Protocol):
    """Where a related list's candidates come from."""

    def for_query(
        self, query: Query, lexical: WeightedQuery, eligible: np.ndarray, want: int
    ) -> np.ndarray:
        """The positions to score for ``query``.

        Args:
            query: the article or draft.
            lexical: its lexical terms under the served weighting.
            eligible: ``(len(catalog),)`` bool: the positions that may be candidates
                (visible, in the age window, not pinned, sharing a tag if required).
            want: how many candidates each signal should contribute at least.

        Returns:
            ``(c,)`` int64 positions, ascending, every one of them eligible.
        """
        ...


class ExhaustiveCandidates:
    """The dense index's top ``want`` ∪ the lexical top ``want`` among the eligible
    positions (every article scored) ∪ every live upsert (there are few).

    The dense search runs over the whole snapshot and asks one more than ``want``,
    as the query itself is usually its own nearest neighbour; positions that may not
    appear are dropped afterwards.

    Args:
        catalog: the articles to draw from.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def for_query(
        self, query: Query, lexical: WeightedQuery, eligible: np.ndarray, want: int
    ) -> np.ndarray:
        """See :meth:`CandidateSource.for_query`."""
        catalog = self.catalog
        _, dense = catalog.snapshot.dense.search(query.vector[None, :], want + 1)
        masked = np.where(eligible, catalog.lexical_scores(lexical), -1.0)
        take = min(want, masked.size)
        best_lexical = (
            np.argpartition(-masked, take - 1)[:take] if take else np.zeros(0, dtype=np.int64)
        )
        candidates = np.union1d(
            np.union1d(dense[0][dense[0] >= 0], best_lexical), catalog.live_positions()
        ).astype(np.int64)
        return np.asarray(candidates[eligible[candidates]], dtype=np.int64)
