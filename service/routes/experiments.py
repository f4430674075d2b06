"""A/B tests of ranking knobs, and the knobs served by default (every route needs a
key). Their URLs sit under ``/v1/rules`` but they have a tag, and so a module, of
their own."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Response
from flask_openapi3.models.tag import Tag

from recommender import Experiment

from ..schemas import (
    ExperimentBody,
    ExperimentList,
    ExperimentOut,
    ExperimentPath,
    ServedKnobs,
    StopExperimentBody,
)
from .common import SECURITY, blueprint, engine, private, problems, who

EXPERIMENTS = Tag(
    name="experiments",
    description="A/B tests of ranking knobs: variants served by the reader's bucket, "
    "compared by click-through (docs/signals.md). Every route needs an API key.",
)

api = blueprint("experiments", __name__)


def _experiment_out(experiment: Experiment) -> dict[str, Any]:
    results = engine().experiment_results(experiment)
    return {
        **experiment.to_json(),
        "results": None
        if results is None
        else {block: [r.to_json() for r in rows] for block, rows in results.items()},
    }


@api.get(
    "/v1/rules/experiments",
    tags=[EXPERIMENTS],
    security=SECURITY,
    responses={200: ExperimentList, **problems(401, 403, 503)},
    summary="Every A/B test, the newest first, with its variants' click-through",
)
def list_experiments() -> Any:
    return private({"experiments": [_experiment_out(e) for e in engine().experiments()]})


@api.post(
    "/v1/rules/experiments",
    tags=[EXPERIMENTS],
    security=SECURITY,
    responses={201: ExperimentOut, **problems(400, 401, 403, 409, 413, 415, 422, 503)},
    summary="Start an A/B test (served on the next request; one runs at a time)",
)
def start_experiment(body: ExperimentBody) -> Any:
    variants = [variant.variant() for variant in body.variants]
    experiment = engine().start_experiment(body.id, variants, who())
    return private(_experiment_out(experiment), 201)


@api.get(
    "/v1/rules/experiments/<experiment_id>",
    tags=[EXPERIMENTS],
    security=SECURITY,
    responses={200: ExperimentOut, **problems(400, 401, 403, 404, 503)},
    summary="One A/B test, with its variants' click-through",
)
def get_experiment(path: ExperimentPath) -> Any:
    return private(_experiment_out(engine().experiment(path.experiment_id)))


@api.post(
    "/v1/rules/experiments/<experiment_id>/stop",
    tags=[EXPERIMENTS],
    security=SECURITY,
    responses={
        200: ExperimentOut,
        **problems(400, 401, 403, 404, 409, 413, 415, 422, 503),
    },
    summary="Stop an A/B test, optionally making one variant's knobs the default",
)
def stop_experiment(path: ExperimentPath, body: StopExperimentBody) -> Any:
    experiment = engine().stop_experiment(path.experiment_id, body.promote, who())
    return private(_experiment_out(experiment))


@api.get(
    "/v1/rules/knobs",
    tags=[EXPERIMENTS],
    security=SECURITY,
    responses={200: ServedKnobs, **problems(401, 403, 503)},
    summary="The ranking knobs served to requests that set none",
)
def get_served_knobs() -> Any:
    knobs, _ = engine().served_knobs()
    return private({"knobs": asdict(knobs), "promoted": dict(engine().promoted_knobs())})


@api.delete(
    "/v1/rules/knobs",
    tags=[EXPERIMENTS],
    security=SECURITY,
    responses={204: None, **problems(401, 403, 503)},
    summary="Serve the settings' knobs again, forgetting promoted ones",
)
def reset_served_knobs() -> Any:
    engine().reset_served_knobs(who())
    return Response(status=204)
