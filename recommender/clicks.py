"""Click-through rates from what readers did, for ranking.

Readers click an article for two reasons: it attracts them, and they saw it (an
item in position 1 is seen more often than one in position 5). The **position-based
model** (PBM; Craswell et al. 2008, Chuklin et al., *Click Models for Web Search*,
2015) separates the two::

    P(click | article a shown at position p) = θ_p · r_a

``θ_p`` is the chance a reader examines position ``p`` (``θ_1 = 1``) and ``r_a`` the
article's attractiveness: its click-through rate had it always been shown first.

From decayed counts of impressions and clicks per (article, position) this module
1. estimates ``θ`` from the data (:func:`fit_examination`): alternating maximum
   likelihood updates of ``θ`` and ``r`` under the Poisson approximation of the
   model (each ``θ_p`` is its position's clicks over the clicks expected there),
   shrunk toward a documented prior (:func:`examination_prior`, the DCG discount
   ``1 / log2(p + 1)``) while data is thin, and kept non-increasing;
2. turns each article's impressions into *examined* impressions
   ``e_a = Σ_p θ_p · impressions_ap`` (a click at position 5, where few readers look,
   weighs more than one at position 1: clicks over expected clicks, COEC);
3. fits an **empirical-Bayes Beta prior** to the articles' rates
   (:func:`fit_beta_prior`, method of moments), so 1 click in 2 impressions does not
   beat 300 in 10,000: the posterior of ``r_a`` is ``Beta(α + c_a, β + e_a − c_a)``;
4. ranks by an **upper quantile** of that posterior (Bayesian UCB; Kaufmann, Cappé
   and Garivier 2012): an article with few impressions has a wide posterior, so its
   upper quantile is high and it is shown until the data says otherwise, and new
   articles are not starved. The quantile is a setting (``ctr_exploration``; 0.5 is
   the posterior median: no exploration). Being deterministic, the answer stays
   cacheable, unlike Thompson sampling.

The boost (:func:`boost_factors`) multiplies a candidate's score by
``(upper_a / mean) ** ctr_weight``: 1 for an average article, above 1 for one that
readers click more than average.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import betaincinv

MAX_POSITION = 100
"""The highest list position counted (the events API refuses higher ones)."""

PRIOR_EXPECTED_CLICKS = 20.0
"""How many expected clicks of evidence the examination prior is worth at each
position: below that much data a position's estimate stays near the prior."""

MIN_CONCENTRATION, MAX_CONCENTRATION = 2.0, 1e6
"""Bounds of the Beta prior's α + β (a weak prior at least; a finite one at most)."""

FACTOR_RANGE = (0.2, 5.0)
"""The boost factor's bounds, so no click history can bury or lift an item without
limit."""


@dataclass(frozen=True)
class PositionCounts:
    """Time-decayed impressions and clicks of some articles by list position.

    Attributes:
        ids: ``n`` article ids.
        impressions: ``(n, P)`` float64: decayed impressions at positions 1..P.
        clicks: ``(n, P)`` float64: decayed clicks at positions 1..P.
    """

    ids: tuple[str, ...]
    impressions: np.ndarray
    clicks: np.ndarray

    def __post_init__(self) -> None:
        shape = (len(self.ids), self.impressions.shape[1] if self.impressions.ndim == 2 else -1)
        if self.impressions.shape != shape or self.clicks.shape != shape:
            raise ValueError(
                f"impressions {self.impressions.shape} and clicks {self.clicks.shape} "
                f"must both be (articles, positions) with {len(self.ids)} articles"
            )

    @classmethod
    def from_rows(
        cls, rows: Iterable[tuple[str, int, float, float]], positions: int | None = None
    ) -> PositionCounts:
        """From ``(article id, position (1-based), impressions, clicks)`` rows, summed
        per (article, position); ``positions``: the width (default: the highest seen)."""
        collected: dict[str, dict[int, tuple[float, float]]] = {}
        highest = 1
        for article_id, position, impressions, clicks in rows:
            if not 1 <= position <= MAX_POSITION:
                raise ValueError(
                    f"position {position} of {article_id!r} is outside 1–{MAX_POSITION}"
                )
            by_position = collected.setdefault(article_id, {})
            seen_before, clicked_before = by_position.get(position, (0.0, 0.0))
            by_position[position] = (seen_before + impressions, clicked_before + clicks)
            highest = max(highest, position)
        width = positions or highest
        ids = tuple(collected)
        shown = np.zeros((len(ids), width))
        hit = np.zeros((len(ids), width))
        for i, article_id in enumerate(ids):
            for position, (seen, hits) in collected[article_id].items():
                if position <= width:
                    shown[i, position - 1] = seen
                    hit[i, position - 1] = hits
        return cls(ids, shown, hit)


def examination_prior(positions: int) -> np.ndarray:
    """``(positions,)`` float64: the DCG discount ``1 / log2(p + 1)`` for p = 1..positions,
    the chance a reader examines position p when the data cannot tell yet."""
    return 1.0 / np.log2(np.arange(2, positions + 2, dtype=np.float64))


def fit_examination(
    counts: PositionCounts, iterations: int = 50, prior_weight: float = PRIOR_EXPECTED_CLICKS
) -> np.ndarray:
    """``(P,)`` float64 in (0, 1], ``θ_1 = 1``, non-increasing: the examination
    probability of each position, estimated from the counts under the PBM.

    Position and attractiveness are told apart by articles shown at several positions;
    where the counts cannot tell (no clicks, one position), the prior holds.
    """
    shown, clicked = counts.impressions, counts.clicks
    prior = examination_prior(shown.shape[1])
    theta = prior.copy()
    clicks_at = clicked.sum(axis=0)
    clicks_of = clicked.sum(axis=1)
    for _ in range(iterations):
        examined = shown @ theta
        attraction = np.divide(
            clicks_of, examined, out=np.zeros_like(clicks_of), where=examined > 0
        )
        expected_at = attraction @ shown  # clicks each position would get if always examined
        # The prior is worth prior_weight expected clicks at each position.
        theta = (clicks_at + prior_weight * prior) / (expected_at + prior_weight)
        theta = np.minimum.accumulate(theta / theta[0])  # θ_1 = 1, never rising
        theta = np.clip(theta, 1e-3, 1.0)
    return theta


@dataclass(frozen=True)
class BetaPrior:
    """The Beta prior of articles' click-through rates at position 1.

    Attributes:
        alpha: prior clicks.
        beta: prior non-clicks.
    """

    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        """The prior's mean rate."""
        return self.alpha / (self.alpha + self.beta)


def fit_beta_prior(
    clicks: np.ndarray, examined: np.ndarray, mean_if_empty: float = 0.05
) -> BetaPrior:
    """The empirical-Bayes Beta prior of the rates ``clicks / examined`` (both ``(n,)``),
    by the method of moments: its mean is the pooled rate; its variance is the rates'
    variance (weighted by examined impressions) less the binomial noise expected from
    so few impressions. ``mean_if_empty``: the mean when nothing was examined yet."""
    seen = examined > 0
    total = float(examined[seen].sum())
    if total <= 0:
        return _prior(mean_if_empty, MIN_CONCENTRATION)
    mean = float(np.clip(clicks[seen].sum() / total, 1e-6, 1 - 1e-6))
    rates = np.clip(clicks[seen] / examined[seen], 0.0, 1.0)
    weights = examined[seen] / total
    observed = float(weights @ (rates - mean) ** 2)
    noise = mean * (1 - mean) * float(weights @ (1.0 / np.maximum(examined[seen], 1.0)))
    between = observed - noise
    if between <= 0:
        return _prior(mean, MAX_CONCENTRATION)  # the rates differ no more than chance
    concentration = mean * (1 - mean) / between - 1
    return _prior(mean, float(np.clip(concentration, MIN_CONCENTRATION, MAX_CONCENTRATION)))


def _prior(mean: float, concentration: float) -> BetaPrior:
    return BetaPrior(mean * concentration, (1 - mean) * concentration)


@dataclass(frozen=True)
class ClickThrough:
    """Each article's smoothed click-through rate, for ranking and explanations.

    Attributes:
        prior: the Beta prior fitted to every article.
        examination: ``(P,)`` the examination probability of positions 1..P.
        quantile: the posterior quantile ranked by (0.5: the median).
        stats: article id → ``(impressions, clicks, examined impressions)``, decayed.
    """

    prior: BetaPrior
    examination: np.ndarray
    quantile: float
    stats: Mapping[str, tuple[float, float, float]]

    def rate(self, article_id: str) -> float:
        """The posterior mean click-through rate at position 1 (the prior's mean for an
        article never shown)."""
        _, clicks, examined = self.stats.get(article_id, (0.0, 0.0, 0.0))
        return (self.prior.alpha + clicks) / (self.prior.alpha + self.prior.beta + examined)

    def counts(self, article_id: str) -> tuple[float, float]:
        """``(impressions, clicks)``, decayed; zeros for an article never shown."""
        impressions, clicks, _ = self.stats.get(article_id, (0.0, 0.0, 0.0))
        return impressions, clicks

    def upper(self, article_ids: Sequence[str]) -> np.ndarray:
        """``(len(article_ids),)`` float64: the posterior's ``quantile`` of each rate."""
        clicks = np.zeros(len(article_ids))
        examined = np.zeros(len(article_ids))
        for i, article_id in enumerate(article_ids):
            _, clicks[i], examined[i] = self.stats.get(article_id, (0.0, 0.0, 0.0))
        a = self.prior.alpha + clicks
        b = self.prior.beta + np.maximum(examined - clicks, 0.0)
        return np.asarray(betaincinv(a, b, self.quantile), dtype=np.float64)

    def boost_factors(self, article_ids: Sequence[str], weight: float) -> np.ndarray:
        """``(len(article_ids),)`` float64: ``(upper / prior mean) ** weight``, bounded
        by :data:`FACTOR_RANGE`; all 1 when ``weight`` is 0."""
        if not weight:
            return np.ones(len(article_ids))
        ratio = self.upper(article_ids) / self.prior.mean
        return np.clip(ratio**weight, *FACTOR_RANGE)


def estimate_click_through(
    blocks: Iterable[PositionCounts], quantile: float = 0.9, iterations: int = 50
) -> ClickThrough:
    """The click-through rates of every article counted in any block (related and
    featured counts are separate blocks: each has its own position effect, and an
    article's examined impressions add up over them)."""
    stats: dict[str, tuple[float, float, float]] = {}
    examination = examination_prior(1)
    for counts in blocks:
        theta = fit_examination(counts, iterations)
        if theta.size > examination.size:
            examination = theta
        examined = counts.impressions @ theta
        for i, article_id in enumerate(counts.ids):
            seen, hits, looked = stats.get(article_id, (0.0, 0.0, 0.0))
            stats[article_id] = (
                seen + float(counts.impressions[i].sum()),
                hits + float(counts.clicks[i].sum()),
                looked + float(examined[i]),
            )
    clicks = np.array([s[1] for s in stats.values()])
    examined_all = np.array([s[2] for s in stats.values()])
    prior = fit_beta_prior(clicks, examined_all)
    return ClickThrough(prior, examination, quantile, stats)


__all__ = [
    "BetaPrior",
    "ClickThrough",
    "PositionCounts",
    "estimate_click_through",
    "examination_prior",
    "fit_beta_prior",
    "fit_examination",
]
