"""Every error path of the HTTP API, each called by this module itself, answers in the
one shape: RFC 9457 ``application/problem+json`` with ``type``, ``title``, ``status``
(the HTTP status) and ``detail``, and an ``X-Request-Id`` header (the idea of
datasette's ``test_error_shape.py``).

The table holds the errors one request can provoke; the tests below it the errors
that need a state first (a lock held, a limit reached, no snapshot, a failure). A
last test checks that every error status ``/openapi.json`` documents is called here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_openapi3.utils import parse_parameters

from recommender import Engine, Settings
from recommender.locking import IndexLock
from service import create_app
from service.schemas import ArticleBody, ArticlePath, RequestBody

from .conftest import AUTH, PROBLEM_KEYS, make_app, topic_records

BEACON = "text/plain;charset=UTF-8"  # what navigator.sendBeacon sends for a string
REQUEST_ID = re.compile(r"[0-9a-f]{32}")
WriteJsonl = Callable[..., Path]


def click(shown: str = "sleep-1") -> dict[str, Any]:
    """One valid click event of the topic corpus (``shown`` may name an unknown id)."""
    return {"type": "click", "source": "sleep-0", "block": "related", "shown": shown, "position": 1}


def assert_shape(response: Any, status: int, slug: str, title: str) -> dict[str, Any]:
    """Check the one problem shape, with this status, type and title; return the body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert set(body) >= PROBLEM_KEYS
    assert body["type"] == f"/problems/{slug}"
    assert body["title"] == title
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"].strip()
    assert REQUEST_ID.fullmatch(response.headers["X-Request-Id"])
    return body


# (method, url, request arguments, status, problem type, title, member the problem names)
ONE_REQUEST = [
    pytest.param(
        "get",
        "/v1/articles/speech-0/related?k=0",
        {},
        400,
        "invalid-parameter",
        "Invalid parameter",
        ("parameter", "k"),
        id="400-query",
    ),
    pytest.param(
        "get",
        "/v1/articles/no%20spaces/related",
        {},
        400,
        "invalid-parameter",
        "Invalid parameter",
        ("parameter", "article_id"),
        id="400-path",
    ),
    pytest.param(
        "get",
        "/v1/admin/jobs/not!an!id",
        {"headers": AUTH},
        400,
        "invalid-parameter",
        "Invalid parameter",
        ("parameter", "job_id"),
        id="400-path-admin",
    ),
    pytest.param(
        "put",
        "/v1/articles/x",
        {"data": "{nope", "content_type": "application/json", "headers": AUTH},
        400,
        "invalid-json",
        "Invalid json",
        None,
        id="400-body-not-json",
    ),
    pytest.param(
        "post",
        "/v1/events",
        {"data": "{nope", "content_type": BEACON},
        400,
        "invalid-json",
        "Invalid json",
        None,
        id="400-events-not-json",
    ),
    pytest.param(
        "put",
        "/v1/articles/x",
        {"json": {"title": "T", "body": "B"}},
        401,
        "unauthorized",
        "Unauthorized",
        None,
        id="401-no-key",
    ),
    pytest.param(
        "put",
        "/v1/articles/x",
        {"json": {"title": "T", "body": "B"}, "headers": {"Authorization": "Bearer wrong"}},
        403,
        "forbidden",
        "Forbidden",
        None,
        id="403-wrong-key",
    ),
    pytest.param(
        "get",
        "/v1/articles/ghost/related",
        {},
        404,
        "article-not-found",
        "Article not found",
        ("article_id", "ghost"),
        id="404-article",
    ),
    pytest.param(
        "get", "/v1/nothing-here", {}, 404, "not-found", "Not Found", None, id="404-route"
    ),
    pytest.param(
        "get",
        "/v1/admin/jobs/nojob",
        {"headers": AUTH},
        404,
        "job-not-found",
        "Job not found",
        None,
        id="404-job",
    ),
    pytest.param(
        "get",
        "/v1/rules/experiments/missing",
        {"headers": AUTH},
        404,
        "experiment-not-found",
        "Experiment not found",
        None,
        id="404-experiment",
    ),
    pytest.param(
        "post",
        "/v1/articles/speech-0/related",
        {},
        405,
        "method-not-allowed",
        "Method Not Allowed",
        None,
        id="405",
    ),
    pytest.param(
        "put",
        "/v1/articles/x",
        {"json": {"id": "y", "title": "T", "body": "B"}, "headers": AUTH},
        409,
        "id-conflict",
        "Id conflict",
        ("field", "id"),
        id="409-id-conflict",
    ),
    pytest.param(
        "post",
        "/v1/recommendations",
        {"json": {"title": "T", "body": "x" * 2_000_000}},
        413,
        "request-entity-too-large",
        "Request Entity Too Large",
        None,
        id="413-body",
    ),
    pytest.param(
        "put",
        "/v1/articles/x",
        {"data": "title=T", "headers": AUTH},
        415,
        "unsupported-media-type",
        "Unsupported media type",
        None,
        id="415",
    ),
    pytest.param(
        "post",
        "/v1/events",
        {"data": "<events/>", "content_type": "application/xml"},
        415,
        "unsupported-media-type",
        "Unsupported media type",
        None,
        id="415-events",
    ),
    pytest.param(
        "post",
        "/v1/recommendations",
        {"json": {"body": "text"}},
        422,
        "invalid-body",
        "Invalid body",
        ("field", "title"),
        id="422-body-model",
    ),
    pytest.param(
        "put",
        "/v1/articles/x",
        {"json": {"title": "T", "body": "<p></p>"}, "headers": AUTH},
        422,
        "invalid-body",
        "Invalid body",
        ("field", "body"),
        id="422-article-record",
    ),
    pytest.param(
        "put",
        "/v1/articles/sleep-0/rules",
        {"json": {"blocks": ["ghost"]}, "headers": AUTH},
        422,
        "invalid-rule",
        "Invalid rule",
        ("field", "blocks.0"),
        id="422-rule",
    ),
    pytest.param(
        "post",
        "/v1/events",
        {"json": {"batch": []}},
        422,
        "invalid-event",
        "Invalid event",
        ("field", "batch"),
        id="422-event",
    ),
    pytest.param(
        "post",
        "/v1/events",
        {"json": {"events": [click(shown="gone")]}},
        422,
        "unknown-article",
        "Unknown article",
        ("field", "events[0].shown"),
        id="422-event-unknown-article",
    ),
]

# The statuses the tests after the table provoke.
CALLED_BELOW = {409, 413, 429, 500, 503}


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "slug", "title", "member"), ONE_REQUEST
)
def test_one_request_errors_have_the_shape(
    client: FlaskClient,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    status: int,
    slug: str,
    title: str,
    member: tuple[str, str] | None,
) -> None:
    body = assert_shape(getattr(client, method)(url, **kwargs), status, slug, title)
    if member is not None:
        assert body[member[0]] == member[1]


def test_a_reindex_while_the_index_is_locked_is_409(
    client: FlaskClient, settings: Settings
) -> None:
    lock = IndexLock(settings.index_dir, purpose="a test")
    lock.acquire()
    try:
        response = client.post("/v1/admin/reindex", json={}, headers=AUTH)
    finally:
        lock.release()
    assert_shape(response, 409, "job-running", "Job running")


def test_a_second_experiment_is_409(client: FlaskClient) -> None:
    body = {"id": "one", "variants": [{"name": "a"}, {"name": "b"}]}
    assert client.post("/v1/rules/experiments", json=body, headers=AUTH).status_code == 201
    again = client.post("/v1/rules/experiments", json={**body, "id": "two"}, headers=AUTH)
    assert_shape(again, 409, "experiment-conflict", "Experiment conflict")


def test_too_many_events_in_a_batch_is_413(settings: Settings, write_jsonl: WriteJsonl) -> None:
    client = make_app(settings, write_jsonl(topic_records()), events_max_batch=1).test_client()
    response = client.post("/v1/events", json={"events": [click(), click()]})
    body = assert_shape(response, 413, "too-many-events", "Too many events")
    assert (body["field"], body["limit"]) == ("events", 1)


def test_an_events_body_over_its_byte_limit_is_413(
    settings: Settings, write_jsonl: WriteJsonl
) -> None:
    client = make_app(settings, write_jsonl(topic_records()), events_max_bytes=256).test_client()
    response = client.post("/v1/events", json={"events": [click()] * 4})
    assert_shape(response, 413, "content-too-large", "Content too large")


def test_an_events_flood_is_429(settings: Settings, write_jsonl: WriteJsonl) -> None:
    client = make_app(settings, write_jsonl(topic_records()), events_per_minute=1).test_client()
    assert client.post("/v1/events", json={"events": [click()]}).status_code == 202
    response = client.post("/v1/events", json={"events": [click()]})
    assert_shape(response, 429, "too-many-requests", "Too many requests")
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_an_unexpected_failure_is_500(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr(Engine, "related", explode)
    response = client.get("/v1/articles/speech-0/related")
    assert_shape(response, 500, "internal-error", "Internal server error")
    assert "secret" not in response.get_data(as_text=True)


@pytest.mark.parametrize("url", ["/readyz", "/v1/articles/x/related"])
def test_no_snapshot_is_503(tmp_path: Path, url: str) -> None:
    client = create_app(Settings(index_dir=tmp_path / "empty")).test_client()
    assert_shape(client.get(url), 503, "not-ready", "Not ready")


def test_every_documented_error_status_is_called_here(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    documented = {
        int(code)
        for item in spec["paths"].values()
        for operation in item.values()
        for code in operation["responses"]
        if int(code) >= 400
    }
    called = {param.values[3] for param in ONE_REQUEST} | CALLED_BELOW
    assert documented <= called, sorted(documented - called)


def test_every_body_model_is_a_request_body(app: Flask) -> None:
    """A body that fails validation is a 422 because its model derives from
    RequestBody; a parameter model that did would turn 400s into 422s."""
    bodies, parameters = set(), set()
    for view in app.view_functions.values():
        if not hasattr(view, "__wrapped__"):
            continue  # not a flask-openapi3 route: nothing validated
        # What flask-openapi3 itself reads to validate the request.
        header, cookie, path, query, form, body, _ = parse_parameters(view.__wrapped__)
        bodies |= {body} - {None}
        parameters |= {header, cookie, path, query, form} - {None}
    # The walk found the routes: the article's body and path models among them.
    assert ArticleBody in bodies and ArticlePath in parameters
    assert all(issubclass(model, RequestBody) for model in bodies), bodies
    assert not any(issubclass(model, RequestBody) for model in parameters), parameters


def test_every_core_error_a_request_can_meet_has_its_own_problem_type() -> None:
    """A typed error of the core answers with its own status and type, never the
    catch-all 500, unless it belongs to batch builds (BuildFailed)."""
    import inspect

    from recommender import errors as core_errors
    from service.errors import STATUS_OF

    def kind(error: type[Exception]) -> tuple[int, str]:
        return next((status, slug) for cls, status, slug in STATUS_OF if issubclass(error, cls))

    unmapped = [
        name
        for name, error in inspect.getmembers(core_errors, inspect.isclass)
        if issubclass(error, core_errors.RecommenderError)
        and error is not core_errors.RecommenderError
        and kind(error) == (500, "internal-error")
    ]
    assert unmapped == ["BuildFailed"]
    assert kind(core_errors.RuleNotFound) == (404, "rule-not-found")
