"""Click-through estimates (recommender/clicks.py) and the ``ctr`` boost: the position
effect from the data, the empirical-Bayes smoothing, the exploration of articles with
few impressions, and what the ranking and the explanations do with them."""

from __future__ import annotations

import numpy as np
import pytest

from recommender import Engine
from recommender.clicks import (
    BetaPrior,
    ClickThrough,
    PositionCounts,
    estimate_click_through,
    examination_prior,
    fit_beta_prior,
    fit_examination,
)
from recommender.ranking import RankingKnobs

TRUE_EXAMINATION = np.array([1.0, 0.7, 0.5, 0.35, 0.25])


def confounded_counts(seed: int) -> tuple[PositionCounts, np.ndarray]:
    """Clicks drawn from the PBM with :data:`TRUE_EXAMINATION`, where the 50 most
    attractive of 200 articles were shown at position 1 four times as often (as a
    ranking that already works would)."""
    rng = np.random.default_rng(seed)
    attraction = rng.beta(2, 18, 200)
    shown = rng.poisson(400, (200, 5)).astype(float)
    shown[np.argsort(-attraction)[:50], 0] *= 4
    clicks = rng.binomial(shown.astype(int), attraction[:, None] * TRUE_EXAMINATION)
    ids = tuple(f"a{i}" for i in range(200))
    return PositionCounts(ids, shown, clicks.astype(float)), attraction


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_position_effect_is_estimated_despite_better_articles_ranking_higher(seed: int) -> None:
    counts, _ = confounded_counts(seed)
    theta = fit_examination(counts)
    assert theta[0] == 1.0
    assert np.all(np.diff(theta) <= 0)
    np.testing.assert_allclose(theta, TRUE_EXAMINATION, atol=0.04)
    # Click-through per position confuses position with the articles shown there.
    naive = counts.clicks.sum(0) / counts.impressions.sum(0)
    naive_error = np.abs(naive / naive[0] - TRUE_EXAMINATION)[1:]
    assert np.all(naive_error > np.abs(theta - TRUE_EXAMINATION)[1:])
    assert naive_error.max() > 0.1


def test_without_data_the_position_effect_is_the_documented_prior() -> None:
    counts = PositionCounts(("a", "b"), np.zeros((2, 6)), np.zeros((2, 6)))
    np.testing.assert_allclose(fit_examination(counts), examination_prior(6))
    np.testing.assert_allclose(examination_prior(3), [1.0, 1 / np.log2(3), 0.5])


def test_a_click_at_a_lower_position_counts_for_more() -> None:
    # Same clicks and impressions, one article shown at 1, the other at 4.
    shown = np.zeros((4, 4))
    clicked = np.zeros((4, 4))
    shown[0, 0], clicked[0, 0] = 100, 10
    shown[1, 3], clicked[1, 3] = 100, 10
    shown[2, :], clicked[2, :] = 500, [50, 30, 25, 20]  # the others set the position effect
    shown[3, :], clicked[3, :] = 500, [40, 28, 20, 16]
    estimate = estimate_click_through([PositionCounts(("top", "low", "x", "y"), shown, clicked)])
    assert estimate.rate("low") > estimate.rate("top")
    assert estimate.counts("low") == (100.0, 10.0)


def test_one_click_in_two_does_not_beat_three_hundred_in_ten_thousand() -> None:
    rng = np.random.default_rng(3)
    shown = rng.poisson(3000, 300).astype(float)
    clicks = rng.binomial(shown.astype(int), rng.beta(2, 98, 300)).astype(float)  # about 2%
    ids = ("lucky", "steady", *(f"a{i}" for i in range(300)))
    counts = PositionCounts(
        ids,
        np.concatenate([[2.0, 10_000.0], shown])[:, None],
        np.concatenate([[1.0, 300.0], clicks])[:, None],
    )
    estimate = estimate_click_through([counts], quantile=0.5)
    assert estimate.rate("steady") == pytest.approx(0.03, abs=0.002)
    assert estimate.rate("lucky") < estimate.rate("steady")
    assert estimate.prior.mean == pytest.approx(0.02, abs=0.003)


def test_beta_prior_by_moments_recovers_the_spread_of_rates() -> None:
    rng = np.random.default_rng(4)
    examined = np.full(2000, 5000.0)
    rates = rng.beta(3, 27, 2000)  # mean 0.1, α + β = 30
    clicks = rng.binomial(5000, rates).astype(float)
    prior = fit_beta_prior(clicks, examined)
    assert prior.mean == pytest.approx(0.1, abs=0.003)
    assert prior.alpha + prior.beta == pytest.approx(30, rel=0.15)


def test_rates_that_differ_no_more_than_chance_give_a_strong_prior() -> None:
    clicks = np.array([10.0, 10.0, 10.0])
    prior = fit_beta_prior(clicks, np.array([100.0, 100.0, 100.0]))
    assert prior.mean == pytest.approx(0.1)
    assert prior.alpha + prior.beta == 1e6


def test_new_articles_rank_by_an_optimistic_quantile() -> None:
    shown = np.array([[5000.0], [5000.0]])
    clicks = np.array([[500.0], [250.0]])
    estimate = estimate_click_through([PositionCounts(("good", "fair"), shown, clicks)])
    fresh, good, fair = estimate.upper(["fresh", "good", "fair"])
    # Never shown: the prior's mean, but an upper quantile above the average article.
    assert estimate.rate("fresh") == pytest.approx(estimate.prior.mean)
    assert fresh > estimate.prior.mean
    assert good > fair
    median = estimate_click_through([PositionCounts(("good", "fair"), shown, clicks)], quantile=0.5)
    assert median.upper(["fresh"])[0] < fresh


def test_boost_factors_are_one_when_off_and_bounded() -> None:
    estimate = ClickThrough(
        BetaPrior(1.0, 99.0),
        examination_prior(1),
        0.9,
        {"hit": (1000.0, 900.0, 1000.0), "miss": (1000.0, 0.0, 1000.0)},
    )
    assert estimate.boost_factors(["hit", "miss"], 0.0).tolist() == [1.0, 1.0]
    hit, miss = estimate.boost_factors(["hit", "miss"], 3.0)
    assert hit == 5.0 and miss == 0.2


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ([("a", 0, 1.0, 0.0)], "position 0 of 'a' is outside 1–100"),
        ([("a", 101, 1.0, 0.0)], "position 101 of 'a' is outside 1–100"),
        ([("b", 1, 1.0, 0.0), ("a", -3, 1.0, 0.0)], "position -3 of 'a' is outside 1–100"),
    ],
)
def test_counts_refuse_positions_out_of_range(
    rows: list[tuple[str, int, float, float]], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        PositionCounts.from_rows(rows)


def test_counts_add_up_per_article_and_position() -> None:
    counts = PositionCounts.from_rows(
        [("a", 2, 3.0, 1.0), ("b", 1, 4.0, 0.0), ("a", 2, 1.0, 1.0), ("a", 1, 2.0, 0.0)]
    )
    assert counts.ids == ("a", "b")
    assert counts.impressions.tolist() == [[2.0, 4.0], [4.0, 0.0]]
    assert counts.clicks.tolist() == [[0.0, 2.0], [0.0, 0.0]]


def clicked_on(engine: Engine, article_id: str) -> ClickThrough:
    """Estimates where ``article_id`` is clicked far more than the other articles."""
    ids = sorted(engine._current().positions)
    rows = [(i, 1, 1000.0, 500.0 if i == article_id else 20.0) for i in ids]
    return estimate_click_through([PositionCounts.from_rows(rows)])


def test_the_boost_lifts_the_clicked_article_and_explains_it(engine: Engine) -> None:
    plain = engine.related("sleep-0", k=3)
    last = plain[-1].article.id
    engine.use_clicks(clicked_on(engine, last))
    assert [item.article.id for item in engine.related("sleep-0", k=3)] == [
        item.article.id for item in plain
    ], "the boost is off by default"
    boosted = engine.related("sleep-0", k=3, knobs=RankingKnobs(ctr_weight=1.0))
    assert boosted[0].article.id == last
    explanation = boosted[0].to_json()["explanation"]
    assert explanation["ctr"] == pytest.approx(0.5, abs=0.01)
    assert explanation["impressions"] == 1000.0 and explanation["clicks"] == 500.0
    assert explanation["ctr_boost"] > 1.0
    assert boosted[0].score == pytest.approx(
        (boosted[0].dense_part + boosted[0].lexical_part + boosted[0].tag)
        * boosted[0].recency
        * boosted[0].ctr_boost
    )


def test_without_events_items_carry_no_click_fields(engine: Engine) -> None:
    explanation = engine.related("sleep-0", k=2)[0].to_json()["explanation"]
    assert not {"ctr", "ctr_boost", "impressions", "clicks"} & set(explanation)


def test_new_estimates_change_the_cache_key(engine: Engine) -> None:
    before = engine.freshness().version
    engine.use_clicks(clicked_on(engine, "sleep-1"))
    assert engine.freshness().version != before


def test_a_refresh_without_events_keeps_cached_answers_valid(engine: Engine) -> None:
    before = engine.freshness().version
    assert engine.refresh_clicks() is None
    assert engine.freshness().version == before
