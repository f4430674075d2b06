"""The HTTP API through Flask's test client (fake model): every route, every
error status with the members it names, caching, CORS and auth. The one
problem+json shape of every error is checked in ``test_error_shape.py``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from recommender import Engine, Settings
from service import create_app

from .conftest import AUTH, KEY, TOPICS, assert_problem, make_app, topic_records


@pytest.fixture
def settings(backend_settings: Settings) -> Settings:
    """Every test of this module runs on SQLite files and on PostgreSQL."""
    return backend_settings


# -- reads -------------------------------------------------------------------------------


def test_healthz_and_readyz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz").get_json()
    assert ready["status"] == "ready" and ready["articles"] == 20
    assert ready["index_version"].startswith("v000001-")


@pytest.mark.parametrize("kind", ["related", "featured"])
def test_items_routes(client: FlaskClient, kind: str) -> None:
    response = client.get(f"/v1/articles/speech-0/{kind}?k=3")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["article_id", "items", "variant"]
    assert body["variant"] == "default"
    assert body["article_id"] == "speech-0"
    assert len(body["items"]) == 3
    assert "speech-0" not in [item["id"] for item in body["items"]]
    if kind == "featured":
        assert all(item["featured"] for item in body["items"])


def test_recommendations_in_one_call(client: FlaskClient) -> None:
    body = client.get("/v1/articles/speech-0/recommendations?k=4").get_json()
    assert set(body) == {"article_id", "related", "featured", "index_version", "variant"}
    related = [i["id"] for i in body["related"]]
    featured = [i["id"] for i in body["featured"]]
    assert len(related) == 4 and featured
    assert not set(related) & set(featured)  # featured picks never repeat related items
    assert all(i["featured"] for i in body["featured"])


def test_draft_recommendations(client: FlaskClient) -> None:
    response = client.post(
        "/v1/recommendations",
        json={"title": "Choking risk", "body": "dysphagia swallowing throat choking", "k": 2},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["article_id"] is None
    assert [i["id"].split("-")[0] for i in body["related"]] == ["swallow", "swallow"]


@pytest.mark.parametrize(
    "route",
    ["/v1/articles/swallow-0/recommendations", "/v1/articles/swallow-0/related"],
)
def test_shared_terms_and_field_split_come_on_request(client: FlaskClient, route: str) -> None:
    def first(body: dict[str, Any]) -> dict[str, Any]:
        items = body["related"] if "related" in body else body["items"]
        explanation: dict[str, Any] = items[0]["explanation"]
        return explanation

    plain = first(client.get(f"{route}?k=3").get_json())
    assert {"dense", "lexical", "dense_rank", "rule"} <= set(plain)
    assert "shared_terms" not in plain and "lexical_fields" not in plain
    # A cached plain answer is never served for an explained request, nor the reverse.
    explained = first(client.get(f"{route}?k=3&explain=true").get_json())
    assert explained["shared_terms"] and set(explained["lexical_fields"]) >= {"title", "body"}
    assert sum(explained["lexical_fields"].values()) == pytest.approx(
        explained["lexical"], abs=1e-5
    )
    assert "shared_terms" not in first(client.get(f"{route}?k=3").get_json())

    draft = {"title": "Choking risk", "body": "dysphagia swallowing throat choking", "k": 2}
    plain_draft = client.post("/v1/recommendations", json=draft).get_json()
    assert "shared_terms" not in first(plain_draft)
    explained_draft = client.post("/v1/recommendations", json={**draft, "explain": True})
    assert first(explained_draft.get_json())["shared_terms"]


@pytest.mark.parametrize(
    ("query", "check"),
    [
        ("exclude=sleep-1,sleep-2", lambda ids: not {"sleep-1", "sleep-2"} & set(ids)),
        ("tag=speech", lambda ids: ids and all(i.startswith("speech") for i in ids)),
        ("since=2025-04-01", lambda ids: ids and all(i.endswith(("-3", "-4")) for i in ids)),
        ("min_score=0.99", lambda ids: ids == []),
    ],
)
def test_common_list_parameters(client: FlaskClient, query: str, check: Any) -> None:
    body = client.get(f"/v1/articles/sleep-0/related?k=10&{query}").get_json()
    assert check([i["id"] for i in body["items"]]), body


def test_article_listing_and_pagination(client: FlaskClient) -> None:
    first = client.get("/v1/articles?limit=8").get_json()
    assert first["total"] == 20 and len(first["items"]) == 8
    dates = [i["published"] for i in first["items"]]
    assert dates == sorted(dates, reverse=True)
    seen = [i["id"] for i in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(f"/v1/articles?limit=8&cursor={cursor}").get_json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(r["id"] for r in topic_records())
    by_offset = client.get("/v1/articles?limit=8&offset=8").get_json()
    assert [i["id"] for i in by_offset["items"]] == seen[8:16]
    assert client.get("/v1/articles?tag=sleep").get_json()["total"] == 5
    assert client.get("/v1/articles?q=REPORT sleep").get_json()["total"] == 5
    assert client.get("/v1/articles?status=draft").get_json()["total"] == 0


def test_one_article(client: FlaskClient) -> None:
    body = client.get("/v1/articles/sleep-2").get_json()
    assert body["id"] == "sleep-2" and body["featured"] is True
    assert body["body"] and body["published"].endswith("Z")


# -- caching and CORS ---------------------------------------------------------------------


def test_etag_and_304(client: FlaskClient) -> None:
    first = client.get("/v1/articles/sleep-0/related?k=3")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=60"
    again = client.get("/v1/articles/sleep-0/related?k=3", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.get_data()
    assert again.headers["ETag"] == etag
    other = client.get("/v1/articles/sleep-0/related?k=4")
    assert other.headers["ETag"] != etag  # the request is part of the tag
    client.put("/v1/articles/new-one", json={"title": "T", "body": "sleep"}, headers=AUTH)
    after = client.get("/v1/articles/sleep-0/related?k=3", headers={"If-None-Match": etag})
    assert after.status_code == 200  # a write changes the index version, so the tag
    assert after.headers["ETag"] != etag


def test_cache_max_age_setting(settings: Settings, write_jsonl: Callable[..., Path]) -> None:
    app = make_app(settings, write_jsonl(topic_records()), cache_max_age=7)
    response = app.test_client().get("/v1/articles/sleep-0/related")
    assert response.headers["Cache-Control"] == "public, max-age=7"


def test_cors_for_configured_origins(settings: Settings, write_jsonl: Callable[..., Path]) -> None:
    app = make_app(settings, write_jsonl(topic_records()), cors_origins="https://news.example.org")
    client = app.test_client()
    allowed = client.get(
        "/v1/articles/sleep-0/related", headers={"Origin": "https://news.example.org"}
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://news.example.org"
    other = client.get("/v1/articles/sleep-0/related", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.options(
        "/v1/articles/sleep-0/related",
        headers={"Origin": "https://news.example.org", "Access-Control-Request-Method": "GET"},
    )
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert "PUT" not in preflight.headers["Access-Control-Allow-Methods"]


def test_no_cors_by_default(client: FlaskClient) -> None:
    response = client.get("/v1/articles/sleep-0/related", headers={"Origin": "https://x.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


# -- writes ------------------------------------------------------------------------------


def test_put_creates_then_replaces_and_shows_in_results(client: FlaskClient) -> None:
    article = {"title": "Night apnea clinic", "body": TOPICS["sleep"], "tags": ["sleep"]}
    created = client.put("/v1/articles/sleep-new", json=article, headers=AUTH)
    assert created.status_code == 201 and created.get_json()["created"] is True
    ids = [i["id"] for i in client.get("/v1/articles/sleep-0/related?k=5").get_json()["items"]]
    assert "sleep-new" in ids
    replaced = client.put(
        "/v1/articles/sleep-new", json={**article, "body": TOPICS["speech"]}, headers=AUTH
    )
    assert replaced.status_code == 200 and replaced.get_json()["created"] is False
    ids = [i["id"] for i in client.get("/v1/articles/speech-0/related?k=5").get_json()["items"]]
    assert "sleep-new" in ids
    assert client.get("/v1/articles/sleep-new").get_json()["body"] == TOPICS["speech"]


def test_put_with_a_supplied_vector_does_not_run_the_model(app: Flask) -> None:
    client = app.test_client()
    engine: Engine = app.extensions["recommender"].get()
    vector = engine.embedder.encode([TOPICS["speech"]])[0] * 3.0  # not unit length
    encoded = len(engine.embedder.encoded)  # type: ignore[attr-defined]
    article = {"title": "Night apnea clinic", "body": TOPICS["sleep"]}
    response = client.put(
        "/v1/articles/sleep-new", json={**article, "embedding": vector.tolist()}, headers=AUTH
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert len(engine.embedder.encoded) == encoded  # type: ignore[attr-defined]
    stored = engine.live.load().upserts["sleep-new"][1]
    np.testing.assert_allclose(stored, vector / np.linalg.norm(vector), atol=1e-6)
    assert "embedding" not in client.get("/v1/articles/sleep-new").get_json()

    wrong = client.put(
        "/v1/articles/sleep-other", json={**article, "embedding": [0.5] * 10}, headers=AUTH
    )
    body = assert_problem(wrong, 422)
    assert body["field"] == "embedding" and "64 dimensions" in body["detail"]
    assert_problem(client.get("/v1/articles/sleep-other"), 404)  # nothing was stored
    zeros = client.put(
        "/v1/articles/sleep-other", json={**article, "embedding": [0.0] * 64}, headers=AUTH
    )
    assert assert_problem(zeros, 422)["field"] == "embedding"


def test_put_replaces_a_snapshot_article(client: FlaskClient) -> None:
    response = client.put(
        "/v1/articles/sleep-1", json={"title": "Retitled", "body": TOPICS["sleep"]}, headers=AUTH
    )
    assert response.status_code == 200
    assert client.get("/v1/articles/sleep-1").get_json()["title"] == "Retitled"
    assert client.get("/v1/articles").get_json()["total"] == 20  # replaced, not duplicated


def test_delete_removes_everywhere(client: FlaskClient) -> None:
    assert client.delete("/v1/articles/sleep-1", headers=AUTH).status_code == 204
    assert_problem(client.get("/v1/articles/sleep-1"), 404)
    assert_problem(client.get("/v1/articles/sleep-1/related"), 404)
    related = client.get("/v1/articles/sleep-0/related?k=50").get_json()["items"]
    assert "sleep-1" not in [i["id"] for i in related]
    listing = client.get("/v1/articles?limit=200").get_json()
    assert "sleep-1" not in [i["id"] for i in listing["items"]] and listing["total"] == 19
    assert_problem(client.delete("/v1/articles/sleep-1", headers=AUTH), 404)


def test_writes_survive_a_restart(settings: Settings, write_jsonl: Callable[..., Path]) -> None:
    source = write_jsonl(topic_records())
    client = make_app(settings, source).test_client()
    client.put("/v1/articles/kept", json={"title": "Kept", "body": "sleep"}, headers=AUTH)
    client.delete("/v1/articles/sleep-3", headers=AUTH)
    restarted = make_app(settings, source).test_client()  # a new engine over the same files
    assert restarted.get("/v1/articles/kept").status_code == 200
    assert restarted.get("/v1/articles/sleep-3").status_code == 404


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "member"),
    [
        ("get", "/v1/articles/ghost/related", {}, 404, ("article_id", "ghost")),
        ("get", "/v1/articles/ghost/featured", {}, 404, ("article_id", "ghost")),
        ("get", "/v1/articles/ghost/recommendations", {}, 404, ("article_id", "ghost")),
        ("get", "/v1/articles/ghost", {}, 404, ("article_id", "ghost")),
        ("get", "/v1/nothing-here", {}, 404, None),
        ("get", "/v1/articles/speech-0/related?k=0", {}, 400, ("parameter", "k")),
        ("get", "/v1/articles/speech-0/related?k=51", {}, 400, ("parameter", "k")),
        ("get", "/v1/articles/speech-0/related?k=abc", {}, 400, ("parameter", "k")),
        ("get", "/v1/articles/speech-0/featured?k=2.5", {}, 400, ("parameter", "k")),
        ("get", "/v1/articles/speech-0/related?since=yesterday", {}, 400, ("parameter", "since")),
        ("get", "/v1/articles/speech-0/related?min_score=2", {}, 400, ("parameter", "min_score")),
        ("get", "/v1/articles?limit=0", {}, 400, ("parameter", "limit")),
        ("get", "/v1/articles?status=archived", {}, 400, ("parameter", "status")),
        ("get", "/v1/articles?cursor=not-a-cursor", {}, 400, ("parameter", "cursor")),
        ("post", "/v1/articles/speech-0/related", {}, 405, None),
        ("put", "/v1/articles/x", {"json": {"title": "T", "body": "B"}}, 401, None),
        (
            "put",
            "/v1/articles/x",
            {"json": {"title": "T", "body": "B"}, "headers": {"Authorization": "Bearer wrong"}},
            403,
            None,
        ),
        ("delete", "/v1/articles/speech-0", {"headers": {"Authorization": "Basic abc"}}, 401, None),
        (
            "put",
            "/v1/articles/x",
            {"json": {"id": "y", "title": "T", "body": "B"}, "headers": AUTH},
            409,
            ("field", "id"),
        ),
        ("put", "/v1/articles/x", {"data": "title=T", "headers": AUTH}, 415, None),
        (
            "put",
            "/v1/articles/x",
            {"data": "{nope", "content_type": "application/json", "headers": AUTH},
            400,
            None,
        ),
        (
            "put",
            "/v1/articles/x",
            {"json": {"title": "T"}, "headers": AUTH},
            422,
            ("field", "body"),
        ),
        (
            "put",
            "/v1/articles/x",
            {"json": {"title": "T", "body": "<p></p>"}, "headers": AUTH},
            422,
            ("field", "body"),
        ),
        (
            "put",
            "/v1/articles/x",
            {"json": {"title": "T", "body": "B", "published": "soon"}, "headers": AUTH},
            422,
            ("field", "published"),
        ),
        ("post", "/v1/recommendations", {"json": {"body": "text"}}, 422, ("field", "title")),
        ("post", "/v1/recommendations", {"json": {"title": "T", "body": "B", "k": 99}}, 422, None),
        ("post", "/v1/recommendations", {"json": ["a list"]}, 422, None),
        ("post", "/v1/recommendations", {"data": "x", "content_type": "text/plain"}, 415, None),
        (
            "post",
            "/v1/recommendations",
            {"json": {"title": "T", "body": "x" * 2_000_000}},
            413,
            None,
        ),
    ],
)
def test_error_statuses(
    client: FlaskClient,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    status: int,
    member: tuple[str, str] | None,
) -> None:
    body = assert_problem(getattr(client, method)(url, **kwargs), status)
    if member:
        assert body[member[0]] == member[1]


def test_401_says_how_to_authenticate(client: FlaskClient) -> None:
    response = client.delete("/v1/articles/speech-0")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_405_lists_allowed_methods(client: FlaskClient) -> None:
    response = client.post("/v1/articles/speech-0/related")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_not_ready_without_snapshot(tmp_path: Path) -> None:
    app = create_app(Settings(index_dir=tmp_path / "empty"))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert "recommender index" in assert_problem(client.get("/readyz"), 503)["detail"]
    assert_problem(client.get("/v1/articles/x/related"), 503)


def test_internal_error_hides_traceback(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr(Engine, "related", explode)
    response = client.get("/v1/articles/speech-0/related", headers={"X-Request-Id": "req-42"})
    body = assert_problem(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert "req-42" in body["detail"] and response.headers["X-Request-Id"] == "req-42"


def test_api_key_is_never_logged(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    client.put("/v1/articles/x", json={"title": "T", "body": "B"}, headers=AUTH)
    client.put("/v1/articles/x", json={"title": "T"}, headers=AUTH)
    assert KEY not in caplog.text
    assert KEY not in repr(client.application.extensions["recommender"].settings)


# -- documents -----------------------------------------------------------------------------


def test_openapi_documents_every_route(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        # The spec and the browser pages (/editor, /widget.js: HTML and JS) are not API.
        if rule.endpoint == "openapi" or rule.endpoint.startswith("ui."):
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} is not in /openapi.json"
    put = spec["paths"]["/v1/articles/{article_id}"]["put"]
    assert put["security"] == [{"bearer": []}]
    assert {"401", "403", "409", "413", "415", "422"} <= set(put["responses"])
    problem = put["responses"]["422"]["content"]["application/problem+json"]
    assert problem["schema"]["$ref"].endswith("/Problem")


def test_metrics(client: FlaskClient) -> None:
    client.get("/v1/articles/sleep-0/related")
    client.get("/v1/articles/ghost/related")
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'recommender_http_requests_total{method="GET",route="/v1/articles/<article_id>/related",'
        'status="200"} 1.0' in text
    )
    assert 'status="404"} 1.0' in text
    assert "recommender_http_request_duration_seconds_bucket" in text
    assert "recommender_articles 20.0" in text
    assert "recommender_index_info{" in text and "recommender_index_age_seconds" in text


@pytest.mark.parametrize(
    ("knob", "changed"),
    [
        ("mmr_lambda=0.2", "order"),
        ("tag_boost=1", "score"),
        ("recency_half_life_days=10", "score"),
        ("max_age_days=1", "items"),
    ],
)
def test_ranking_knobs_preview_without_changing_settings(
    client: FlaskClient, knob: str, changed: str
) -> None:
    url = "/v1/articles/sleep-4/related?k=10"
    served = client.get(url).get_json()["items"]
    tuned = client.get(f"{url}&{knob}").get_json()["items"]
    if changed == "order":
        assert [i["id"] for i in tuned] != [i["id"] for i in served]
    elif changed == "score":
        assert [i["score"] for i in tuned] != [i["score"] for i in served]
    else:
        assert len(tuned) < len(served)
    assert client.get(url).get_json()["items"] == served  # the live settings did not move


def test_bad_knob_is_400(client: FlaskClient) -> None:
    assert (
        assert_problem(client.get("/v1/articles/sleep-0/related?mmr_lambda=2"), 400)["parameter"]
        == "mmr_lambda"
    )
