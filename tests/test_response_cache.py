"""The response cache: a repeated request is answered from it with the same body,
and no answer outlives a publish, an API write, a rule change or a scheduled
article going live."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from recommender import Engine, Settings
from recommender.pipeline import build_index
from service import create_app
from service.cache import ResponseCache

from .conftest import TOPICS, topic_records
from .fakes import FakeClock, FakeEmbedder

KEY = "cache-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
URL = "/v1/articles/sleep-0/recommendations?k=5"


def serve(
    settings: Settings, write_jsonl: Callable[..., Path], extra: list[dict[str, Any]] = ()
) -> tuple[Flask, FakeClock]:
    """An app over the topic corpus (plus ``extra``) and its clock."""
    settings = settings.replace(api_keys=KEY)
    source = write_jsonl([*topic_records(), *extra])
    embedder = FakeEmbedder()
    build_index([source], settings, embedder)
    clock = FakeClock(NOW)
    app = create_app(engine=Engine(settings, embedder=embedder, now=clock))
    return app, clock


def answers(app: Flask) -> ResponseCache:
    cache: ResponseCache = app.extensions["recommender.answers"]
    return cache


def ids(client: FlaskClient, url: str = URL) -> list[str]:
    body = client.get(url).get_json()
    return [item["id"] for item in body["related"]]


def test_a_repeated_request_is_answered_from_the_cache(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    app, _ = serve(settings, write_jsonl)
    client = app.test_client()
    first = client.get(URL)
    again = client.get(URL)
    assert first.status_code == again.status_code == 200
    assert again.get_data() == first.get_data() and again.headers["ETag"] == first.headers["ETag"]
    assert (answers(app).misses, answers(app).hits) == (1, 1)
    other = client.get(URL.replace("k=5", "k=4"))
    assert len(other.get_json()["related"]) == 4 and answers(app).misses == 2


def test_an_api_write_is_served_at_once(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    app, _ = serve(settings, write_jsonl)
    client = app.test_client()
    before = ids(client)
    article = {"title": "Snoring clinic", "body": TOPICS["sleep"] + " " + TOPICS["sleep"]}
    assert client.put("/v1/articles/sleep-new", json=article, headers=AUTH).status_code == 201
    after = ids(client)
    assert "sleep-new" in after and "sleep-new" not in before
    assert client.delete("/v1/articles/sleep-new", headers=AUTH).status_code == 204
    assert "sleep-new" not in ids(client)


def test_a_rule_change_is_served_at_once(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    app, _ = serve(settings, write_jsonl)
    client = app.test_client()
    shown = ids(client)
    rules = {"pins": [], "blocks": [shown[0]]}
    assert client.put("/v1/articles/sleep-0/rules", json=rules, headers=AUTH).status_code == 200
    assert shown[0] not in ids(client)


def test_a_publish_is_served_at_once(settings: Settings, write_jsonl: Callable[..., Path]) -> None:
    app, _ = serve(settings, write_jsonl)
    client = app.test_client()
    assert "sleep-late" not in ids(client)
    extra = {"id": "sleep-late", "title": "Late sleep news", "body": TOPICS["sleep"]}
    source = write_jsonl([*topic_records(), extra], "again.jsonl")
    build_index([source], settings, FakeEmbedder())
    assert client.post("/v1/admin/reload", headers=AUTH).status_code in (200, 204)
    assert "sleep-late" in ids(client)


def test_a_scheduled_article_going_live_is_served_at_once(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    later = datetime(2026, 6, 1, 18, tzinfo=UTC)
    scheduled = {
        "id": "sleep-scheduled",
        "title": "Sleep study out tonight",
        "body": TOPICS["sleep"],
        "status": "scheduled",
        "published": later.isoformat(),
    }
    app, clock = serve(settings, write_jsonl, [scheduled])
    client = app.test_client()
    assert "sleep-scheduled" not in ids(client)
    assert "sleep-scheduled" not in ids(client)  # from the cache
    clock.set(later)
    assert "sleep-scheduled" in ids(client)


@pytest.mark.parametrize("size", [0, 1])
def test_the_cache_is_bounded(size: int) -> None:
    cache = ResponseCache(size)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert len(cache) == size and cache.get("a") is None
    assert cache.get("b") == (b"2" if size else None)


def test_a_cached_body_is_the_json_the_route_made(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    app, _ = serve(settings, write_jsonl)
    client = app.test_client()
    first = client.get(URL)
    cached = client.get(URL)
    assert cached.mimetype == "application/json"
    assert json.loads(cached.get_data()) == first.get_json()


def test_warm_up_loads_the_engine_and_the_model_when_writes_are_possible(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    build_index([write_jsonl(topic_records())], settings, FakeEmbedder())
    embedder = FakeEmbedder()
    for keys, encoded in (("", []), (KEY, ["warm up"])):
        engine = Engine(settings.replace(api_keys=keys), embedder=embedder)
        embedder.encoded.clear()
        app = create_app(engine=engine)
        app.extensions["recommender"].warm_up().join()  # a thread: joined, never timed
        assert embedder.encoded == encoded
