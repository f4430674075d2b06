"""Health, readiness, what is served, and metrics (public)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Response, current_app, jsonify
from flask_openapi3.models.tag import Tag

from ..schemas import Health, StatusResponse
from .common import blueprint, engine, problems

OPS = Tag(name="operations", description="Health, readiness, metrics.")

api = blueprint("operations", __name__)


@api.get("/healthz", tags=[OPS], responses={200: Health}, summary="The process is up")
def healthz() -> Any:
    return jsonify({"status": "ok"})


@api.get(
    "/readyz",
    tags=[OPS],
    responses={200: Health, **problems(503)},
    summary="A snapshot is loaded and answers can be served",
)
def readyz() -> Any:
    status = engine().status()
    return jsonify(
        {"status": "ready", "index_version": status.index_version, "articles": status.articles}
    )


@api.get(
    "/v1/status",
    tags=[OPS],
    responses={200: StatusResponse, **problems(503)},
    summary="What is served: index version, its age and the article count",
)
def index_status() -> Any:
    response = jsonify(asdict(engine().status()))
    response.headers["Cache-Control"] = "no-store"  # the age changes every second
    return response


@api.get(
    "/metrics",
    tags=[OPS],
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics",
)
def metrics() -> Any:
    body = current_app.extensions["recommender.metrics"].render()
    return Response(body, mimetype="text/plain", content_type="text/plain; version=0.0.4")
