"""Filling: a list built from a request's fused score table.

In order: the candidates scoring at least the floor, most relevant first (or by
maximal marginal relevance when ``mmr_lambda`` < 1), skipping near-duplicates of
the query and of anything already listed; then, when that leaves the list short,
the fallback (featured articles, most relevant first, then the newest articles
sharing the query's category); then the editors' pins at their places.

Everything here is on rows of a :class:`~recommender.scoring.ScoreTable` (one per
catalog position the request may use); :class:`Placed` says which row went where
and why, and :mod:`recommender.explain` turns it into a
:class:`~recommender.request.Recommendation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .duplicates import resemblance
from .request import Rule
from .scoring import ScoreTable

FALLBACK_RECENT = 200
"""How many of the newest same-category articles the fallback scores: enough to fill
any list after skipping duplicates, few enough to stay cheap on a large corpus."""


@dataclass(frozen=True)
class Duplicates:
    """When two articles are the same story, and whether to hide the second.

    Attributes:
        threshold: dense cosine at or above which they are.
        jaccard: estimated Jaccard overlap of their bodies' shingles at or above
            which they are, whatever their titles.
        suppress: skip near-duplicates of the query and of listed items. On for
            serving; evaluation turns it off, because benchmark judgments count every
            relevant document, duplicates included.
    """

    threshold: float
    jaccard: float
    suppress: bool = True

    def of_query(self, table: ScoreTable) -> np.ndarray:
        """``(m,)`` bool: the rows that are the query's story, a near-copy of its vector
        or of its body's shingles. Titles play no part: a shared recurring title
        ("Letters") says nothing, and a copy's suffixed headline hides nothing."""
        with np.errstate(invalid="ignore"):  # NaN resemblance: not comparable
            return np.asarray(
                (table["dense"] >= self.threshold) | (table["resemblance"] >= self.jaccard)
            )


@dataclass(frozen=True)
class Placed:
    """One item of a filled list.

    Attributes:
        row: its row in the table.
        rule: ``pinned`` or ``fallback`` when its score did not put it there.
        redundancy: its highest cosine to what was listed before it was picked (None:
            nothing was).
        resemblance: its highest estimated body resemblance to what was listed
            before it (NaN: nothing comparable was).
    """

    row: int
    rule: Rule | None = None
    redundancy: float | None = None
    resemblance: float = np.nan


Recent = Callable[[np.ndarray], tuple[ScoreTable, np.ndarray]]
"""Given the positions a list has taken: the table with the newest articles that may
fill it (at most :data:`FALLBACK_RECENT`) scored, and their rows, newest first."""


@dataclass(frozen=True)
class Fallback:
    """Where a short list is filled from. It relaxes the ``min_score`` knob and the
    shared-tag rule, never the caller's hard floor, the exclusions or the age window.

    Attributes:
        featured: ``(f,)`` int64 positions, ascending: the featured articles that may
            fill the list (visible, in the window, not pinned); each in the table.
        floor: the caller's hard minimum score.
        recent: the newest articles sharing the query's category, asked only when the
            featured ones leave the list short (finding them reads the whole catalog,
            which most requests never need); None: featured articles only.
    """

    featured: np.ndarray
    floor: float
    recent: Recent | None = None


@dataclass(frozen=True)
class Slate:
    """What one list is filled from.

    Attributes:
        candidates: ``(c,)`` int64 table rows of the candidates, ascending.
        k: how many items the list holds at most.
        floor: the smallest score a candidate needs.
        mmr_lambda: relevance against novelty (1: plain relevance order).
        pins: ``(list position from 1, table row)`` of the pins to show, in the
            editors' order.
        fallback: where to fill a short list from (None: leave it short).
    """

    candidates: np.ndarray
    k: int
    floor: float
    mmr_lambda: float = 1.0
    pins: list[tuple[int, int]] = field(default_factory=list)
    fallback: Fallback | None = None


def by_score(table: ScoreTable, rows: np.ndarray, floor: float) -> np.ndarray:
    """``rows`` scoring at least ``floor``, highest ``final`` first (ties: row order)."""
    final = table["final"]
    order = rows[np.argsort(-final[rows], kind="stable")]
    return np.asarray(order[final[order] >= floor], dtype=np.int64)


def fill(
    table: ScoreTable, slate: Slate, duplicates: Duplicates
) -> tuple[list[Placed], ScoreTable]:
    """The list's items in order: candidates, then fallback, with pins inserted; and
    the table their rows are in (``table``, or it extended by the fallback).

    A pin takes its place, or goes last when the list is shorter than that; pins
    ignore the floor, the age window and the shared-tag rule, but a near-duplicate
    of a pin is skipped like one of any listed item.
    """
    shown = [row for _, row in slate.pins]
    need = slate.k - len(slate.pins)
    order = by_score(table, slate.candidates, slate.floor)
    items = pick(table, order, need, shown, duplicates, slate.mmr_lambda)
    if slate.fallback is not None and len(items) < need:
        taken = table.positions[[item.row for item in items] + [row for _, row in slate.pins]]
        more, table = _fall_back(table, slate.fallback, taken, need - len(items), shown, duplicates)
        items += more
    # Ascending positions: each insert lands where the editor asked, or at the end
    # when the list is shorter than that.
    for place, row in sorted(slate.pins, key=lambda pin: pin[0]):
        items.insert(min(place - 1, len(items)), Placed(row, "pinned"))
    return items[: slate.k], table


def _fall_back(
    table: ScoreTable,
    fallback: Fallback,
    taken: np.ndarray,
    need: int,
    shown: list[int],
    duplicates: Duplicates,
) -> tuple[list[Placed], ScoreTable]:
    """Fill a short list: featured articles (most relevant first), then the newest
    articles sharing a category with the query."""
    featured = np.setdiff1d(fallback.featured, taken, assume_unique=True)
    order = by_score(table, table.rows(featured), fallback.floor)
    out = pick(table, order, need, shown, duplicates, rule="fallback")
    if fallback.recent is None or len(out) >= need:
        return out, table
    table, rows = fallback.recent(taken)
    order = rows[table["final"][rows] >= fallback.floor]  # newest first, as they come
    out += pick(table, order, need - len(out), shown, duplicates, rule="fallback")
    return out, table


def pick(
    table: ScoreTable,
    order: np.ndarray,
    need: int,
    shown: list[int],
    duplicates: Duplicates,
    mmr_lambda: float = 1.0,
    rule: Rule | None = None,
) -> list[Placed]:
    """Up to ``need`` rows of ``order``, skipping near-duplicates of the query and of
    anything ``shown`` (rows of the items already in the list, extended in place).

    Takes ``order`` as it comes, or by maximal marginal relevance when
    ``mmr_lambda`` < 1: each step takes the row maximising
    ``λ·final − (1−λ)·(its highest cosine to an item already listed)``.
    """
    if duplicates.suppress:
        order = order[~duplicates.of_query(table)[order]]
    if order.size == 0 or need <= 0:
        return []
    if not duplicates.suppress and mmr_lambda >= 1.0:
        # Evaluation: plain relevance order, every document counts.
        return [Placed(int(row), rule) for row in order[:need]]
    if mmr_lambda < 1.0:
        # MMR weighs every row against what is listed: the whole order takes part.
        return _pick_from(table, order, need, shown, duplicates, mmr_lambda, rule)
    # In order, a row is taken unless it repeats what is listed, so only the rows up
    # to the last one taken are ever compared: measure a window of the order at a
    # time (most lists fill from their first rows) instead of all of it.
    picked: list[Placed] = []
    start = 0
    while len(picked) < need and start < order.size:
        window = order[start : start + 2 * (need - len(picked)) + 8]
        start += window.size
        picked += _pick_from(table, window, need - len(picked), shown, duplicates, 1.0, rule)
    return picked


def _pick_from(
    table: ScoreTable,
    order: np.ndarray,
    need: int,
    shown: list[int],
    duplicates: Duplicates,
    mmr_lambda: float,
    rule: Rule | None,
) -> list[Placed]:
    """:func:`pick` over all of ``order`` (no duplicates of the query left in it)."""
    pool = [int(i) for i in order]
    pool_rows = np.asarray(order, dtype=np.int64)
    pool_vectors = table.vectors[pool_rows]
    signatures = table.signatures
    pool_signatures = signatures.rows(pool_rows) if signatures is not None else None
    nearest = np.full(len(pool), -np.inf)  # highest cosine to anything shown so far
    similar = np.full(len(pool), np.nan)  # highest body resemblance to anything shown

    def show(row: int) -> None:
        nonlocal nearest, similar
        nearest = np.maximum(nearest, pool_vectors @ table.vectors[row])
        if signatures is not None and pool_signatures is not None:
            similar = np.fmax(
                similar, resemblance(signatures.rows(np.array([row])), pool_signatures)
            )

    for row in shown:
        show(row)
    picked: list[Placed] = []
    alive = np.ones(len(pool), dtype=bool)
    while len(picked) < need and alive.any():
        if mmr_lambda >= 1.0:
            j = int(np.flatnonzero(alive)[0])
        else:
            novelty = np.where(np.isfinite(nearest), np.clip(nearest, 0.0, 1.0), 0.0)
            mmr = mmr_lambda * table["final"][pool_rows] - (1 - mmr_lambda) * novelty
            j = int(np.argmax(np.where(alive, mmr, -np.inf)))
        alive[j] = False
        if duplicates.suppress and (
            nearest[j] >= duplicates.threshold or similar[j] >= duplicates.jaccard
        ):
            continue  # the same story as an item already in the list
        redundancy = float(nearest[j]) if np.isfinite(nearest[j]) else None
        picked.append(Placed(pool[j], rule, redundancy, float(similar[j])))
        shown.append(pool[j])
        show(pool[j])
    return picked
