"""``POST /v1/events`` and ``GET /v1/articles/<id>/events`` through Flask's test
client (fake model): what is counted, and every refusal, each leaving the counts
exactly as they were."""

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
from recommender.state import open_state
from recommender.stores import EventStore
from service import create_app

from .conftest import topic_records
from .fakes import FakeClock, FakeEmbedder

KEY = "events-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
BEACON = "text/plain;charset=UTF-8"  # what navigator.sendBeacon sends for a string
IDS = [record["id"] for record in topic_records()]


def impression(source: str = "sleep-0", *shown: str, **fields: Any) -> dict[str, Any]:
    items = [{"shown": s, "position": p} for p, s in enumerate(shown or ("sleep-1",), 1)]
    return {"type": "impression", "source": source, "block": "related", "items": items, **fields}


def click(source: str = "sleep-0", shown: str = "sleep-1", **fields: Any) -> dict[str, Any]:
    event = {"type": "click", "source": source, "block": "related", "shown": shown}
    return {**event, "position": 1, **fields}


@pytest.fixture
def make_client(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> Callable[..., tuple[FlaskClient, EventStore]]:
    source = write_jsonl(topic_records())

    def make(**overrides: Any) -> tuple[FlaskClient, EventStore]:
        chosen = settings.replace(api_keys=KEY, **overrides)
        embedder = FakeEmbedder()
        build_index([source], chosen, embedder)
        app: Flask = create_app(engine=Engine(chosen, embedder=embedder))
        app.testing = True
        # A stopped clock: reads before and after a refusal compare exactly.
        store = open_state(chosen, now=FakeClock(datetime(2026, 3, 1, tzinfo=UTC))).events
        app.extensions["recommender.events"] = store
        return app.test_client(), store

    return make


@pytest.fixture
def client_and_store(
    make_client: Callable[..., tuple[FlaskClient, EventStore]],
) -> tuple[FlaskClient, EventStore]:
    return make_client()


def everything(store: EventStore) -> dict[str, Any]:
    """Every aggregate of the topic corpus's ids, to compare before and after."""
    return {
        "shown": {i: store.shown(i) for i in IDS},
        "pairs": {i: store.pairs(i) for i in IDS},
        "positions": store.positions(),
    }


def send(client: FlaskClient, body: Any, content_type: str = BEACON, **kwargs: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post("/v1/events", data=data, content_type=content_type, **kwargs)


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json(force=True)
    assert body["status"] == status and "Traceback" not in body["detail"]
    return body


@pytest.mark.parametrize("content_type", [BEACON, "text/plain", "application/json"])
def test_a_batch_is_counted_and_read_back(
    client_and_store: tuple[FlaskClient, EventStore], content_type: str
) -> None:
    client, _ = client_and_store
    batch = {"events": [impression("sleep-0", "sleep-1", "sleep-2"), click()]}
    response = send(client, batch, content_type)
    assert response.status_code == 202
    assert response.get_json() == {"counted": 2}
    assert response.headers["Cache-Control"] == "no-store"

    mine = client.get("/v1/articles/sleep-1/events", headers=AUTH)
    assert mine.status_code == 200
    assert mine.get_json() == {
        "article_id": "sleep-1",
        "half_life_days": 30.0,
        "as_shown": [
            {
                "block": "related",
                "variant": "default",
                "impressions": 1.0,
                "clicks": 1.0,
                "ctr": 1.0,
            }
        ],
        "shown_here": [],
    }
    page = client.get("/v1/articles/sleep-0/events", headers=AUTH).get_json()
    assert page["shown_here"] == [
        {"shown": "sleep-1", "impressions": 1.0, "clicks": 1.0, "ctr": 1.0},
        {"shown": "sleep-2", "impressions": 1.0, "clicks": 0.0, "ctr": 0.0},
    ]


def test_reading_the_counts_needs_a_key_and_a_served_article(
    client_and_store: tuple[FlaskClient, EventStore],
) -> None:
    client, _ = client_and_store
    problem(client.get("/v1/articles/sleep-1/events"), 401)
    problem(client.get("/v1/articles/sleep-1/events", headers={"Authorization": "Bearer no"}), 403)
    missing = problem(client.get("/v1/articles/nope/events", headers=AUTH), 404)
    assert missing["article_id"] == "nope"


MALFORMED = [
    ({"events": [click(), click(position=0)]}, "events[1].position"),
    ({"events": [click(), click(position="1")]}, "events[1].position"),
    ({"events": [click(block="sidebar")]}, "events[0].block"),
    ({"events": [click(type="view")]}, "events[0].type"),
    ({"events": [click(variant="x" * 130)]}, "events[0].variant"),
    ({"events": [impression(), {**impression(), "items": []}]}, "events[1].items"),
    ({"events": [click(), click(ip="10.1.2.3")]}, "events[1].ip"),
    ({"batch": []}, "batch"),
    ([click()], "body"),
]


@pytest.mark.parametrize(("batch", "field"), MALFORMED)
def test_a_malformed_batch_is_422_naming_the_field_and_counts_nothing(
    client_and_store: tuple[FlaskClient, EventStore], batch: Any, field: str
) -> None:
    client, store = client_and_store
    assert send(client, {"events": [click()]}).status_code == 202
    before = everything(store)
    body = problem(send(client, batch), 422)
    assert body["type"] == "/problems/invalid-event"
    assert body["field"] == field and body["detail"].startswith(f"{field}: ")
    assert everything(store) == before


@pytest.mark.parametrize(
    ("batch", "field", "unknown"),
    [
        ({"events": [click(), click(source="gone")]}, "events[1].source", "gone"),
        ({"events": [click(shown="gone")]}, "events[0].shown", "gone"),
        (
            {"events": [impression("sleep-0", "sleep-1", "gone")]},
            "events[0].items[1].shown",
            "gone",
        ),
    ],
)
def test_an_unknown_id_is_422_naming_the_index_and_field_and_counts_nothing(
    client_and_store: tuple[FlaskClient, EventStore], batch: Any, field: str, unknown: str
) -> None:
    client, store = client_and_store
    before = everything(store)
    body = problem(send(client, batch), 422)
    assert body["type"] == "/problems/unknown-article"
    assert (body["field"], body["article_id"]) == (field, unknown)
    assert body["index_version"].startswith("v000001-")
    assert body["detail"] == (
        f"{field}: no article with id {unknown!r} in the index (version {body['index_version']})"
    )
    assert everything(store) == before


def test_a_body_over_the_byte_limit_is_413_and_counts_nothing(
    make_client: Callable[..., tuple[FlaskClient, EventStore]],
) -> None:
    client, store = make_client(events_max_bytes=256)
    small = {"events": [click()]}
    assert send(client, small).status_code == 202
    before = everything(store)
    large = {"events": [impression("sleep-0", *IDS[1:10])]}
    assert len(json.dumps(large)) > 256
    body = problem(send(client, large), 413)
    assert body["detail"] == (
        "the events body is larger than 256 bytes (RECOMMENDER_EVENTS_MAX_BYTES)"
    )
    assert everything(store) == before


def test_a_batch_over_the_event_limit_is_413_and_counts_nothing(
    make_client: Callable[..., tuple[FlaskClient, EventStore]],
) -> None:
    client, store = make_client(events_max_batch=2)
    assert send(client, {"events": [click(), click()]}).get_json() == {"counted": 2}
    before = everything(store)
    body = problem(send(client, {"events": [click()] * 3}), 413)
    assert body["type"] == "/problems/too-many-events"
    assert (body["field"], body["limit"]) == ("events", 2)
    assert everything(store) == before


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{not json", BEACON, 400),
        (b"\xff\xfe\x00", "application/json", 400),
        ("events=1", "application/x-www-form-urlencoded", 415),
        (json.dumps({"events": [click()]}), "text/html", 415),
    ],
)
def test_a_body_that_is_not_json_counts_nothing(
    client_and_store: tuple[FlaskClient, EventStore],
    body: str | bytes,
    content_type: str,
    status: int,
) -> None:
    client, store = client_and_store
    before = everything(store)
    problem(send(client, body, content_type), status)
    assert everything(store) == before


def test_a_flood_from_one_client_is_429_with_retry_after_and_counts_nothing(
    make_client: Callable[..., tuple[FlaskClient, EventStore]],
) -> None:
    client, store = make_client(events_per_minute=2)
    flooder = {"environ_base": {"REMOTE_ADDR": "198.51.100.7"}}
    assert send(client, {"events": [click()]}, **flooder).status_code == 202
    assert send(client, {"events": [click()]}, **flooder).status_code == 202
    before = everything(store)
    refused = send(client, {"events": [click()]}, **flooder)
    body = problem(refused, 429)
    assert body["detail"] == (
        "more than 2 event batches a minute from this client (RECOMMENDER_EVENTS_PER_MINUTE); "
        "retry later"
    )
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert everything(store) == before
    # Another address has its own window.
    other = send(client, {"events": [click()]}, environ_base={"REMOTE_ADDR": "198.51.100.8"})
    assert other.get_json() == {"counted": 1}


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "curl/8.5.0",
        "python-requests/2.32.3",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.0.0 Safari/537.36",
        "",
    ],
)
def test_a_bot_is_answered_202_and_counts_nothing(
    client_and_store: tuple[FlaskClient, EventStore], user_agent: str
) -> None:
    client, store = client_and_store
    before = everything(store)
    response = send(client, {"events": [click()]}, headers={"User-Agent": user_agent})
    assert (response.status_code, response.get_json()) == (202, {"counted": 0})
    assert everything(store) == before


def test_a_browser_user_agent_is_counted(
    client_and_store: tuple[FlaskClient, EventStore],
) -> None:
    client, store = client_and_store
    chrome = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36"
    )
    response = send(client, {"events": [click()]}, headers={"User-Agent": chrome})
    assert response.get_json() == {"counted": 1}
    assert store.pairs("sleep-0")["sleep-1"].clicks == 1.0


def test_the_widget_origin_may_send_events(
    make_client: Callable[..., tuple[FlaskClient, EventStore]],
) -> None:
    client, _ = make_client(cors_origins="https://news.example.org")
    origin = {"Origin": "https://news.example.org"}
    preflight = client.options(
        "/v1/events",
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://news.example.org"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    sent = send(client, {"events": [click()]}, headers=origin)
    assert sent.status_code == 202
    assert sent.headers["Access-Control-Allow-Origin"] == "https://news.example.org"
    stranger = send(client, {"events": [click()]}, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_the_openapi_document_lists_the_event_routes(
    client_and_store: tuple[FlaskClient, EventStore],
) -> None:
    client, _ = client_and_store
    paths = client.get("/openapi.json").get_json()["paths"]
    assert set(paths["/v1/events"]["post"]["responses"]) >= {"202", "413", "422", "429"}
    assert paths["/v1/articles/{article_id}/events"]["get"]["security"] == [{"bearer": []}]
