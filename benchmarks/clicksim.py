"""Simulated readers: does the click-through boost show what readers click, without
starving new articles, and does an A/B test of two settings find the better one?

The click model (hidden from the engine; stated in docs/signals.md):

- each article has an **attraction** ``α_a`` drawn from ``Beta(m·s, (1 − m)·s)``
  (mean ``m``, concentration ``s``): how likely a reader who sees it clicks it;
- a reader **examines** list position ``p`` with probability ``θ_p = 1 / p`` (not the
  engine's prior ``1 / log2(p + 1)``: the engine must estimate it from the clicks);
- an article is **relevant** to the one being read when they share a tag or a
  category (``ρ = 1``), else ``ρ = ρ₀`` (0.3): readers want more of the same topic,
  which the engine knows only through the texts (the tag boost is off);
- a reader on article ``q`` who is shown article ``a`` at position ``p`` of a block
  clicks it with probability ``θ_p · α_a · ρ(q, a)``, independently of everything
  else.

Each page view picks its article uniformly among the published ones, asks the engine
for its related and featured blocks (one call, as the widget does) with the knobs of
the view's variant, and counts an impression per shown item and a click per drawn
click. After every round of views the counts are decayed (as the events store decays
them) and the engine re-estimates the click-through rates
(:func:`recommender.clicks.estimate_click_through`). Random numbers are drawn in the
same order whatever the engine answers, so two runs with the same seed see the same
readers: the boost's effect is measured on common random numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from recommender import Engine
from recommender.clicks import PositionCounts, estimate_click_through
from recommender.experiments import compare_variants
from recommender.ranking import Filters, RankingKnobs

BLOCKS = ("related", "featured")


@dataclass(frozen=True)
class ClickModel:
    """The readers' hidden behaviour (see the module docstring).

    Attributes:
        attraction: article id → click probability when examined and relevant.
        examination: ``(P,)`` probability of examining positions 1..P.
        labels: article id → its tags and categories, casefolded.
        unrelated: ``ρ₀``, the relevance of an article sharing no label.
    """

    attraction: Mapping[str, float]
    examination: np.ndarray
    labels: Mapping[str, frozenset[str]]
    unrelated: float = 0.3

    @classmethod
    def drawn(
        cls,
        labels: Mapping[str, frozenset[str]],
        seed: int,
        mean: float = 0.15,
        concentration: float = 8.0,
        positions: int = 10,
    ) -> ClickModel:
        """Attractions drawn for the articles of ``labels`` from
        ``Beta(mean·conc, (1 − mean)·conc)``, examination ``1 / p``."""
        rng = np.random.default_rng(seed)
        ids = sorted(labels)
        draws = rng.beta(mean * concentration, (1 - mean) * concentration, len(ids))
        examination = 1.0 / np.arange(1, positions + 1)
        return cls(dict(zip(ids, draws.tolist(), strict=True)), examination, labels)

    def click_probability(self, source: str, article_id: str, position: int) -> float:
        """``θ_p · α_a · ρ(q, a)`` for a reader of ``source``."""
        relevant = bool(self.labels[source] & self.labels[article_id])
        return (
            float(self.examination[position - 1])
            * self.attraction[article_id]
            * (1.0 if relevant else self.unrelated)
        )


class DecayedCounts:
    """Impressions and clicks per (block, article, position), decayed each round: what
    the events store keeps, in memory."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[tuple[str, int], list[float]]] = {
            block: defaultdict(lambda: [0.0, 0.0]) for block in BLOCKS
        }

    def add(self, block: str, article_id: str, position: int, clicked: bool) -> None:
        """One impression of ``article_id`` at ``position`` of ``block``, clicked or not."""
        row = self._counts[block][(article_id, position)]
        row[0] += 1.0
        row[1] += float(clicked)

    def decay(self, factor: float) -> None:
        """Multiply every count by ``factor`` (``0.5 ** (elapsed / half-life)``)."""
        for rows in self._counts.values():
            for row in rows.values():
                row[0] *= factor
                row[1] *= factor

    def blocks(self) -> list[PositionCounts]:
        """The counts of each block, as the estimate reads them."""
        return [
            PositionCounts.from_rows(
                (article_id, position, seen, clicked)
                for (article_id, position), (seen, clicked) in rows.items()
            )
            for rows in self._counts.values()
            if rows
        ]


@dataclass
class Tally:
    """Impressions and clicks of one block under one variant in one round."""

    impressions: int = 0
    clicks: int = 0

    @property
    def rate(self) -> float:
        """Clicks per impression (0 before any impression)."""
        return self.clicks / self.impressions if self.impressions else 0.0


@dataclass
class Simulation:
    """What one run counted.

    Attributes:
        rounds: per round, ``(variant, block)`` → tally.
        newcomers: per round, each mid-run article's impressions (both blocks).
        views: page views per round.
    """

    rounds: list[dict[tuple[str, str], Tally]] = field(default_factory=list)
    newcomers: list[dict[str, int]] = field(default_factory=list)
    """Per round: article id → impressions, for the articles published mid-run."""
    views: int = 0

    def total(self, variant: str, block: str, first_round: int = 0) -> Tally:
        """The tallies of ``variant``'s ``block`` summed from ``first_round`` on."""
        total = Tally()
        for tallies in self.rounds[first_round:]:
            tally = tallies.get((variant, block), Tally())
            total.impressions += tally.impressions
            total.clicks += tally.clicks
        return total

    def curve(self, variant: str, block: str) -> list[float]:
        """Click-through of ``variant``'s ``block`` per round."""
        return [tallies.get((variant, block), Tally()).rate for tallies in self.rounds]


def simulate(
    engine: Engine,
    model: ClickModel,
    variants: Mapping[str, RankingKnobs],
    *,
    rounds: int,
    views_per_round: int,
    seed: int,
    k: int = 4,
    decay: float = 0.9,
    newcomers: Sequence[str] = (),
    newcomers_from: int = 0,
    quantile: float = 0.9,
) -> Simulation:
    """Run the readers of ``model`` against ``engine``.

    Args:
        engine: the engine to ask (its click-through rates are replaced each round).
        model: the readers.
        variants: name → knobs; each view draws one, with equal shares.
        rounds: how many rounds of views.
        views_per_round: page views per round.
        seed: the readers' random numbers (same seed: same readers).
        k: items per block.
        decay: factor applied to the counts after each round.
        newcomers: ids hidden (never shown, never read) until round ``newcomers_from``:
            articles published mid-run, with no click history.
        newcomers_from: the round they are published in.
        quantile: the posterior quantile ranked by (``ctr_exploration``).
    """
    rng = np.random.default_rng(seed)
    names = list(variants)
    everyone = sorted(model.attraction)
    counts = DecayedCounts()
    engine.use_clicks(None)
    result = Simulation(views=views_per_round)
    for round_number in range(rounds):
        hidden = () if round_number >= newcomers_from else tuple(newcomers)
        readable = [article_id for article_id in everyone if article_id not in hidden]
        tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
        fresh = dict.fromkeys(newcomers, 0)
        for _ in range(views_per_round):
            # The same draws in the same order whatever the engine answers.
            source = readable[int(rng.integers(len(readable)))]
            variant = names[int(rng.integers(len(names)))]
            draws = rng.random((len(BLOCKS), k))
            both = engine.recommendations(source, k, Filters(exclude=hidden), variants[variant])
            for b, (block, items) in enumerate(
                zip(BLOCKS, (both.related, both.featured), strict=True)
            ):
                for position, item in enumerate(items, start=1):
                    article_id = item.article.id
                    chance = model.click_probability(source, article_id, position)
                    clicked = bool(draws[b, position - 1] < chance)
                    counts.add(block, article_id, position, clicked)
                    tally = tallies[(variant, block)]
                    tally.impressions += 1
                    tally.clicks += clicked
                    if article_id in fresh:
                        fresh[article_id] += 1
        result.rounds.append(dict(tallies))
        result.newcomers.append(fresh)
        counts.decay(decay)
        engine.use_clicks(estimate_click_through(counts.blocks(), quantile))
    return result


@dataclass(frozen=True)
class Comparison:
    """An A/B comparison of two variants' click-through on one block.

    Attributes:
        rates: variant → (clicks, impressions, rate, 95% Wilson interval).
        p_value: two-sided p-value of the difference (see
            :func:`recommender.experiments.compare_variants`).
        better: the variant with the higher rate when the difference is
            significant at 5%, else None.
    """

    rates: Mapping[str, tuple[int, int, float, tuple[float, float]]]
    p_value: float
    better: str | None


def compare(first: str, first_tally: Tally, second: str, second_tally: Tally) -> Comparison:
    """Whether two variants' click-through differ, as the editor page judges it."""
    control, other = compare_variants(
        [
            (first, first_tally.impressions, first_tally.clicks),
            (second, second_tally.impressions, second_tally.clicks),
        ]
    )
    rates = {r.name: (r.clicks, r.impressions, r.ctr, r.interval) for r in (control, other)}
    better = None
    if other.significant:
        better = second if other.ctr > control.ctr else first
    return Comparison(rates, other.p_value if other.p_value is not None else 1.0, better)
