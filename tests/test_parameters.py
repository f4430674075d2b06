"""Every parameter is declared once (default, accepted values, help), and the
settings, the ranking knobs, the request's query parameters, the editor's form and
the evaluation's configurations all take theirs from that declaration."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import ValidationError

from recommender import EXPERIMENT_KNOBS, REQUEST_KNOBS, RankingKnobs, Settings
from recommender.config import PARAMETERS, Parameter
from recommender.errors import InvalidArgument
from recommender.evaluation import (
    B_GRID,
    CANDIDATE_GRID,
    DENSE_WEIGHT_GRID,
    K1_GRID,
    SETTING_OF,
    TITLE_WEIGHT_GRID,
    RankingConfig,
)
from service.schemas import ListQuery
from service.ui import knob_limits


def just_outside(declared: Parameter) -> list[Any]:
    """Values the declaration refuses."""
    if declared.choices:
        return ["not-a-choice"]
    out: list[Any] = []
    if declared.at_least is not None:
        out.append(declared.at_least - 1)
    if declared.above is not None:
        out.append(declared.above)
    if declared.at_most is not None:
        out.append(declared.at_most + 1)
    return out


DECLARED = [name for name, p in PARAMETERS.items() if just_outside(p)]


def test_every_setting_is_declared_with_a_default_and_help() -> None:
    assert set(PARAMETERS) == {f.name for f in dataclasses.fields(Settings)}
    for name, declared in PARAMETERS.items():
        assert declared.name == name and declared.help, name
        assert declared.problem(declared.default) is None, name


@pytest.mark.parametrize("name", DECLARED)
def test_settings_refuse_what_the_declaration_refuses(name: str) -> None:
    for value in just_outside(PARAMETERS[name]):
        with pytest.raises(InvalidArgument, match=f"RECOMMENDER_{name.upper()}"):
            Settings(**{name: value})


def test_knobs_take_the_settings_defaults_and_limits() -> None:
    knobs = RankingKnobs()
    for f in dataclasses.fields(RankingKnobs):
        assert getattr(knobs, f.name) == PARAMETERS[f.name].default, f.name
        for value in just_outside(PARAMETERS[f.name]):
            with pytest.raises(InvalidArgument, match=f.name):
                RankingKnobs(**{f.name: value})
    assert RankingKnobs.from_settings(Settings()) == knobs


def test_where_a_knob_may_be_set_is_read_from_its_declaration() -> None:
    knobs = [f.name for f in dataclasses.fields(RankingKnobs)]
    assert tuple(n for n in PARAMETERS if PARAMETERS[n].per_request) == REQUEST_KNOBS
    assert tuple(n for n in PARAMETERS if PARAMETERS[n].per_variant) == EXPERIMENT_KNOBS
    # Only ranking knobs are exposed, and each exposed knob is a query parameter of
    # the answer routes' model, in the declarations' order, with no hand-kept list.
    assert set(REQUEST_KNOBS) | set(EXPERIMENT_KNOBS) <= set(knobs)
    fields = list(ListQuery.model_fields)
    assert [name for name in fields if name in knobs] == ["min_score", *REQUEST_KNOBS]
    assert list(REQUEST_KNOBS) == [
        "tag_boost",
        "recency_half_life_days",
        "max_age_days",
        "mmr_lambda",
        "ctr_weight",
    ]
    assert list(EXPERIMENT_KNOBS) == [*REQUEST_KNOBS, "min_score"]


@pytest.mark.parametrize("name", [*REQUEST_KNOBS, "min_score"])
def test_query_parameters_accept_exactly_the_declared_values(name: str) -> None:
    declared = PARAMETERS[name]
    for value in just_outside(declared):
        with pytest.raises(ValidationError):
            ListQuery(**{name: value})
    for value in (declared.at_least, declared.at_most):
        assert getattr(ListQuery(**{name: value}), name) == value
    assert declared.help in (ListQuery.model_fields[name].description or "") or name == "min_score"


def test_the_editor_form_has_the_declared_limits() -> None:
    limits = knob_limits()
    assert set(limits) == {"k", "min_score", *REQUEST_KNOBS}
    for name, shown in limits.items():
        declared = PARAMETERS["default_k" if name == "k" else name]
        assert shown["min"] == declared.at_least and shown["max"] == declared.at_most
        assert shown["label"] == declared.label and shown["step"] == declared.step


def test_evaluation_configurations_stay_inside_the_declared_ranges() -> None:
    base = RankingConfig("x", 0.5, 100)
    for name, setting in SETTING_OF.items():
        if name in ("title_weight", "k1", "b", "mmr_lambda"):
            assert getattr(base, name) == PARAMETERS[setting].default, name
    grids = {
        "dense_weight": DENSE_WEIGHT_GRID,
        "candidates": CANDIDATE_GRID,
        "title_weight": TITLE_WEIGHT_GRID,
        "bm25_k1": K1_GRID,
        "bm25_b": B_GRID,
    }
    for setting, grid in grids.items():
        assert all(PARAMETERS[setting].problem(value) is None for value in grid), setting
    with pytest.raises(InvalidArgument, match="mmr_lambda"):
        RankingConfig("x", 0.5, 100, mmr_lambda=1.5)
