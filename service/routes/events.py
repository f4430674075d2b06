"""Reader impressions and clicks: sending is public (the widget does it), reading an
article's figures needs a key."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_openapi3.models.tag import Tag

from recommender import ArticleNotFound, EventStore, article_events, record_events

from ..events import EventGate, read_batch
from ..schemas import ArticleEventsOut, ArticlePath, EventsCounted
from .common import SECURITY, blueprint, engine, private, problems, settings

EVENTS = Tag(
    name="events",
    description="Reader impressions and clicks (sending is public; reading needs a key).",
)
#: The route the widget posts to: it reads its own body (sendBeacon sends JSON as
#: text/plain), and CORS lets any configured origin post to it.
EVENTS_ROUTE = "/v1/events"

api = blueprint("events", __name__)


def _event_store() -> EventStore:
    store: EventStore = current_app.extensions["recommender.events"]
    return store


@api.post(
    EVENTS_ROUTE,
    tags=[EVENTS],
    responses={202: EventsCounted, **problems(400, 413, 415, 422, 429, 503)},
    summary="Count a batch of reader impressions and clicks (public; the widget sends it)",
)
def post_events() -> Any:
    gate: EventGate = current_app.extensions["recommender.event_gate"]
    gate.check_rate(request.remote_addr or "")
    counted = 0
    if not gate.is_bot(request.user_agent.string):
        payload = read_batch(request, settings().events_max_bytes)
        current = engine()
        counted = record_events(
            payload,
            _event_store(),
            current.has_article,
            current.index_version,
            settings().events_max_batch,
        )
    return private({"counted": counted}, 202)


@api.get(
    "/v1/articles/<article_id>/events",
    tags=[EVENTS],
    security=SECURITY,
    responses={200: ArticleEventsOut, **problems(400, 401, 403, 404, 503)},
    summary="Impressions, clicks and click-through of an article and of what it shows",
)
def get_article_events(path: ArticlePath) -> Any:
    if not engine().has_article(path.article_id):
        raise ArticleNotFound(path.article_id)
    return private(
        {
            "article_id": path.article_id,
            "half_life_days": settings().events_half_life_days,
            **article_events(_event_store(), path.article_id),
        }
    )
