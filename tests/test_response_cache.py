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
    clock.set(NOW)  # a clock set back: the span the cached count holds for is left
    assert "sleep-scheduled" not in ids(client)


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


# -- kept answers, served before the framework (service.kept.KeptAnswers) -------------

LOOSE_HEADERS = {"X-Request-Id"}  # a new one per request


def app_calls(app: Flask) -> list[str]:
    """The paths of the requests the kept-answer layer hands to the Flask app, from now."""
    layer = app.wsgi_app
    inner = layer.app  # type: ignore[attr-defined]
    calls: list[str] = []

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    layer.app = counting  # type: ignore[attr-defined]
    return calls


def headers_of(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in LOOSE_HEADERS}


def test_a_kept_answer_is_the_response_the_route_made(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    app, _ = serve(settings, write_jsonl)
    client = app.test_client()
    for url in (URL, "/v1/articles/sleep-0/related", "/v1/articles/sleep-0/featured?k=2"):
        made = client.get(url)
        kept = client.get(url)
        assert made.status_code == kept.status_code == 200
        assert kept.get_data() == made.get_data()
        assert headers_of(kept) == headers_of(made)
    assert answers(app).hits == 3 and answers(app).misses == 3
    # 304: once from the route (nothing kept yet), once from the kept answer.
    tag = {"If-None-Match": client.get(URL).headers["ETag"]}
    answers(app)._entries.clear()
    made = client.get(URL, headers=tag)
    client.get(URL)  # kept again
    kept = client.get(URL, headers=tag)
    assert made.status_code == kept.status_code == 304
    assert kept.get_data() == made.get_data() == b""
    assert headers_of(kept) == headers_of(made)


def test_a_kept_answer_keeps_the_request_id_and_is_counted(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    app, _ = serve(settings, write_jsonl)
    client = app.test_client()
    client.get(URL)
    kept = client.get(URL, headers={"X-Request-Id": "req-42"})
    assert answers(app).hits == 1 and kept.headers["X-Request-Id"] == "req-42"
    assert len(client.get(URL).headers["X-Request-Id"]) == 32  # made up when not sent
    metrics = client.get("/metrics").get_data(as_text=True)
    route = "/v1/articles/<article_id>/recommendations"
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("recommender_http_requests_total")
        and f'route="{route}"' in line
        and 'status="200"' in line
    ]
    assert counted and counted[0].endswith(" 3.0")


@pytest.mark.parametrize(
    ("query", "status", "kept"),
    [
        ("bucket=abc", 400, False),
        ("bucket=10000", 400, False),
        ("bucket=1&bucket=2", 200, False),
        ("bucket=7", 200, True),
    ],
)
def test_what_the_kept_layer_cannot_read_goes_to_the_app(
    settings: Settings, write_jsonl: Callable[..., Path], query: str, status: int, kept: bool
) -> None:
    app, _ = serve(settings, write_jsonl)
    client = app.test_client()
    calls = app_calls(app)
    url = f"{URL}&{query}"
    first = client.get(url)
    again = client.get(url)
    assert first.status_code == again.status_code == status
    assert again.get_data() == first.get_data()
    assert len(calls) == (1 if kept else 2)


def test_with_cors_a_request_from_another_origin_goes_to_the_app(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    app, _ = serve(settings.replace(cors_origins="https://site.example"), write_jsonl)
    client = app.test_client()
    calls = app_calls(app)
    origin = {"Origin": "https://site.example"}
    client.get(URL, headers=origin)
    again = client.get(URL, headers=origin)
    assert again.headers["Access-Control-Allow-Origin"] == "https://site.example"
    assert len(calls) == 2 and answers(app).hits == 1  # the app's own lookup found it
    client.get(URL)
    assert len(calls) == 2 and answers(app).hits == 2  # no Origin: the kept layer answered


def test_writes_and_misses_go_to_the_app(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    app, _ = serve(settings, write_jsonl)
    client = app.test_client()
    calls = app_calls(app)
    client.get(URL)
    client.get(URL)
    client.get("/v1/articles/sleep-0")
    article = {"title": "Snoring clinic", "body": TOPICS["sleep"]}
    client.put("/v1/articles/sleep-new", json=article, headers=AUTH)
    client.get(URL)  # a write changed the freshness: a miss
    assert calls == [
        "/v1/articles/sleep-0/recommendations",
        "/v1/articles/sleep-0",
        "/v1/articles/sleep-new",
        "/v1/articles/sleep-0/recommendations",
    ]
    assert (answers(app).misses, answers(app).hits) == (3, 1)  # each miss counted once
