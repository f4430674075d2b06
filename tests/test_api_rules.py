"""Editorial rules over HTTP (Flask test client, fake model): pins and blocks served
on the next request, global excludes, featured overrides, ETags, auth and errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from recommender import Engine, Settings
from recommender.pipeline import build_index
from service import create_app

from .conftest import AUTH, KEY, assert_problem, make_app, topic_records
from .fakes import FakeEmbedder

RELATED = "/v1/articles/sleep-0/related?k=5"


@pytest.fixture
def settings(backend_settings: Settings) -> Settings:
    """Every test of this module runs on SQLite files and on PostgreSQL."""
    return backend_settings


def related_ids(client: FlaskClient, url: str = RELATED) -> list[str]:
    return [item["id"] for item in client.get(url).get_json()["items"]]


def test_pins_and_blocks_apply_on_the_next_request(client: FlaskClient) -> None:
    before = related_ids(client)
    body = {"pins": [{"article_id": "speech-3", "position": 2}], "blocks": [before[0]]}
    response = client.put("/v1/articles/sleep-0/rules", json=body, headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer == {
        "article_id": "sleep-0",
        "pins": [{"article_id": "speech-3", "position": 2}],
        "blocks": [before[0]],
        "featured": None,
        "version": answer["version"],
    }
    assert answer["version"] > 0
    assert response.headers["Cache-Control"] == "no-store"
    items = client.get(RELATED).get_json()["items"]
    assert items[1]["id"] == "speech-3" and items[1]["explanation"]["rule"] == "pinned"
    assert before[0] not in [i["id"] for i in items]
    assert client.get("/v1/articles/sleep-0/rules", headers=AUTH).get_json() == answer
    assert client.delete("/v1/articles/sleep-0/rules", headers=AUTH).status_code == 204
    assert related_ids(client) == before
    cleared = client.get("/v1/articles/sleep-0/rules", headers=AUTH).get_json()
    assert (cleared["pins"], cleared["blocks"], cleared["featured"]) == ([], [], None)


def test_global_excludes(client: FlaskClient) -> None:
    target = related_ids(client)[0]
    response = client.put("/v1/rules/excludes", json={"ids": [target]}, headers=AUTH)
    assert response.status_code == 200 and response.get_json()["ids"] == [target]
    for article_id in ("sleep-0", "sleep-4"):
        assert target not in related_ids(client, f"/v1/articles/{article_id}/related?k=50")
    recommendations = client.get("/v1/articles/sleep-1/recommendations?k=10").get_json()
    assert target not in [i["id"] for i in recommendations["related"] + recommendations["featured"]]
    listed = client.get("/v1/rules/excludes", headers=AUTH).get_json()
    assert listed["ids"] == [target] and listed["version"] == response.get_json()["version"]
    client.put("/v1/rules/excludes", json={"ids": []}, headers=AUTH)
    assert target in related_ids(client)


def test_featured_override_over_http(client: FlaskClient) -> None:
    featured = "/v1/articles/sleep-0/featured?k=10"
    assert "sleep-3" not in related_ids(client, featured)
    client.put("/v1/articles/sleep-3/rules", json={"featured": True}, headers=AUTH)
    client.put("/v1/articles/sleep-2/rules", json={"featured": False}, headers=AUTH)
    ids = related_ids(client, featured)
    assert ids[0] == "sleep-3" and "sleep-2" not in ids
    assert client.get("/v1/articles/sleep-3/rules", headers=AUTH).get_json()["featured"] is True


def test_a_rule_change_changes_the_etag(client: FlaskClient) -> None:
    first = client.get(RELATED)
    etag = first.headers["ETag"]
    assert client.get(RELATED, headers={"If-None-Match": etag}).status_code == 304
    body = {"pins": [{"article_id": "speech-1", "position": 1}]}
    client.put("/v1/articles/sleep-0/rules", json=body, headers=AUTH)
    after = client.get(RELATED, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["ETag"] != etag
    assert after.get_json()["items"][0]["id"] == "speech-1"


def test_rules_survive_a_restart(settings: Settings, write_jsonl: Callable[..., Path]) -> None:
    source = write_jsonl(topic_records())
    client = make_app(settings, source).test_client()
    body = {"pins": [{"article_id": "speech-3", "position": 1}]}
    client.put("/v1/articles/sleep-0/rules", json=body, headers=AUTH)
    restarted = make_app(settings, source).test_client()  # a new engine over the same files
    assert related_ids(restarted)[0] == "speech-3"


def test_changes_are_audited_with_the_key_label(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    settings = settings.replace(api_keys=f"newsdesk:{KEY},other-key")
    build_index([write_jsonl(topic_records())], settings, FakeEmbedder())
    app = create_app(engine=Engine(settings, embedder=FakeEmbedder()))
    client = app.test_client()
    client.put("/v1/rules/excludes", json={"ids": ["sleep-1"]}, headers=AUTH)
    other = {"Authorization": "Bearer other-key"}
    client.put("/v1/articles/sleep-0/rules", json={"blocks": ["sleep-2"]}, headers=other)
    rules = app.extensions["recommender"].get().rules
    history = rules.history()
    assert [(e.who, e.action, e.target_id) for e in history] == [
        (history[0].who, "block", "sleep-2"),
        ("newsdesk", "exclude", "sleep-1"),
    ]
    assert history[0].who.startswith("key-") and "other-key" not in history[0].who


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "member"),
    [
        ("get", "/v1/articles/sleep-0/rules", {}, 401, None),
        ("get", "/v1/rules/excludes", {}, 401, None),
        ("put", "/v1/rules/excludes", {"json": {"ids": []}}, 401, None),
        ("delete", "/v1/articles/sleep-0/rules", {}, 401, None),
        (
            "get",
            "/v1/articles/sleep-0/rules",
            {"headers": {"Authorization": "Bearer wrong"}},
            403,
            None,
        ),
        (
            "put",
            "/v1/articles/sleep-0/rules",
            {"json": {}, "headers": {"Authorization": "Bearer wrong"}},
            403,
            None,
        ),
        ("get", "/v1/articles/ghost/rules", {"headers": AUTH}, 404, ("article_id", "ghost")),
        ("put", "/v1/articles/ghost/rules", {"json": {}, "headers": AUTH}, 404, None),
        ("delete", "/v1/articles/ghost/rules", {"headers": AUTH}, 404, None),
        *[
            ("put", "/v1/articles/sleep-0/rules", {"json": body, "headers": AUTH}, 422, field)
            for body, field in [
                ({"pins": [{"article_id": "sleep-0", "position": 1}]}, "pins.0.article_id"),
                ({"pins": [{"article_id": "ghost", "position": 1}]}, "pins.0.article_id"),
                ({"pins": [{"article_id": "sleep-1", "position": 0}]}, "pins.0.position"),
                ({"pins": [{"article_id": "sleep-1", "position": 51}]}, "pins.0.position"),
                ({"pins": [{"article_id": "sleep-1"}]}, "pins.0.position"),
                (
                    {
                        "pins": [
                            {"article_id": "sleep-1", "position": 2},
                            {"article_id": "sleep-2", "position": 2},
                        ]
                    },
                    "pins.1.position",
                ),
                ({"blocks": ["sleep-1", "ghost"]}, "blocks.1"),
                ({"featured": "maybe"}, "featured"),
                ({"pinned": []}, "pinned"),
            ]
        ],
        ("put", "/v1/rules/excludes", {"json": {"ids": ["ghost"]}, "headers": AUTH}, 422, "ids.0"),
        ("put", "/v1/rules/excludes", {"json": {}, "headers": AUTH}, 422, "ids"),
        ("put", "/v1/rules/excludes", {"data": "ids=x", "headers": AUTH}, 415, None),
    ],
)
def test_rules_error_statuses(
    client: FlaskClient,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    status: int,
    member: tuple[str, str] | str | None,
) -> None:
    body = assert_problem(getattr(client, method)(url, **kwargs), status)
    if isinstance(member, str):
        assert body["field"] == member, body
    elif member:
        assert body[member[0]] == member[1]
    assert client.get("/v1/rules/excludes", headers=AUTH).get_json()["version"] == 0


def test_openapi_documents_the_rules_routes(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    for path, methods in {
        "/v1/articles/{article_id}/rules": ("get", "put", "delete"),
        "/v1/rules/excludes": ("get", "put"),
    }.items():
        for method in methods:
            operation = spec["paths"][path][method]
            assert operation["security"] == [{"bearer": []}]
            assert {"401", "403"} <= set(operation["responses"])
    explanation = spec["components"]["schemas"]["Explanation"]
    assert {"dense", "lexical", "tag", "recency", "rule", "shared_terms"} <= set(
        explanation["properties"]
    )
