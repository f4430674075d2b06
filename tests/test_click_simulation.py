"""Simulated readers over the bundled corpus, indexed with the real model (the click
model of benchmarks/clicksim.py, stated in docs/signals.md): with the click-through
boost on, featured picks are clicked more on the same readers, new articles are still
shown, and an A/B test of the two knob sets finds the better one. `make bench-signals`
runs the same simulation longer, over several click models."""

from __future__ import annotations

import pytest

from benchmarks.clicksim import ClickModel, Simulation, compare, simulate
from recommender import Engine
from recommender.config import Settings
from recommender.ranking import RankingKnobs
from recommender.request import labels_of

pytestmark = pytest.mark.real_model

ROUNDS, VIEWS = 8, 200
OFF, ON = RankingKnobs(ctr_weight=0.0), RankingKnobs(ctr_weight=1.0)


@pytest.fixture(scope="module")
def readers(bundled_index: Settings) -> tuple[Engine, ClickModel, list[str]]:
    engine = Engine(bundled_index)
    ids = sorted(engine._current().positions)
    labels = {i: labels_of(engine.article(i).tags, engine.article(i).categories) for i in ids}
    featured = [i for i in ids if engine.article(i).featured]
    newcomers = featured[1:3] + [i for i in ids if i not in featured][10:13]
    return engine, ClickModel.drawn(labels, seed=1), newcomers


def run(readers: tuple[Engine, ClickModel, list[str]], knobs: RankingKnobs) -> Simulation:
    engine, model, newcomers = readers
    return simulate(
        engine,
        model,
        {"only": knobs},
        rounds=ROUNDS,
        views_per_round=VIEWS,
        seed=7,
        newcomers=newcomers,
        newcomers_from=ROUNDS // 2,
    )


@pytest.fixture(scope="module")
def off(readers: tuple[Engine, ClickModel, list[str]]) -> Simulation:
    return run(readers, OFF)


@pytest.fixture(scope="module")
def on(readers: tuple[Engine, ClickModel, list[str]]) -> Simulation:
    return run(readers, ON)


def test_the_boost_raises_click_through_on_featured_picks(off: Simulation, on: Simulation) -> None:
    half = ROUNDS // 2
    assert off.total("only", "featured", half).impressions == ROUNDS // 2 * VIEWS * 4
    assert on.total("only", "featured", half).rate > 1.2 * off.total("only", "featured", half).rate
    assert on.total("only", "related", half).rate > off.total("only", "related", half).rate


def test_new_articles_still_get_impressions(
    readers: tuple[Engine, ClickModel, list[str]], on: Simulation
) -> None:
    _, _, newcomers = readers
    half = ROUNDS // 2
    assert all(sum(r.values()) == 0 for r in on.newcomers[:half]), "hidden until published"
    for article_id in newcomers:
        shown = [r[article_id] for r in on.newcomers[half:]]
        assert shown[0] > 0, f"{article_id} is tried as soon as it is published"
        assert sum(shown) >= 20, f"{article_id} was starved: {shown}"


def test_an_ab_test_finds_the_better_knob_set(
    readers: tuple[Engine, ClickModel, list[str]],
) -> None:
    engine, model, _ = readers
    sim = simulate(engine, model, {"A": OFF, "B": ON}, rounds=ROUNDS, views_per_round=VIEWS, seed=9)
    result = compare("A", sim.total("A", "featured"), "B", sim.total("B", "featured"))
    assert result.better == "B"
    assert result.p_value < 0.01
    low_b, _ = result.rates["B"][3]
    _, high_a = result.rates["A"][3]
    assert result.rates["B"][2] > result.rates["A"][2] and low_b > 0 and high_a < 1


def test_an_aa_test_sees_no_difference(
    readers: tuple[Engine, ClickModel, list[str]],
) -> None:
    engine, model, _ = readers
    sim = simulate(
        engine, model, {"A": OFF, "B": OFF}, rounds=ROUNDS, views_per_round=VIEWS, seed=9
    )
    result = compare("A", sim.total("A", "featured"), "B", sim.total("B", "featured"))
    assert result.better is None and result.p_value > 0.05
