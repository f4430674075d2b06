"""The HTTP API through Flask's test client (fake model)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from recommender import Engine, Settings
from recommender.pipeline import build_index
from service import create_app

from .conftest import topic_records
from .fakes import FakeEmbedder

PROBLEM_KEYS = {"type", "title", "status", "detail"}


@pytest.fixture
def client(settings: Settings, write_jsonl: Callable[..., Path]) -> Iterator[FlaskClient]:
    embedder = FakeEmbedder()
    build_index([write_jsonl(topic_records())], settings, embedder)
    app = create_app(engine=Engine(settings, embedder=embedder))
    app.testing = True
    yield app.test_client()


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert "Traceback" not in response.get_data(as_text=True)
    assert response.headers["X-Request-Id"]
    return body


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


@pytest.mark.parametrize("kind", ["related", "featured"])
def test_items_routes(client: FlaskClient, kind: str) -> None:
    response = client.get(f"/v1/articles/speech-0/{kind}?k=3")
    assert response.status_code == 200
    body = response.get_json()
    assert body["article_id"] == "speech-0"
    assert len(body["items"]) == 3
    assert "speech-0" not in [item["id"] for item in body["items"]]
    if kind == "featured":
        assert all(item["featured"] for item in body["items"])


def test_default_k(client: FlaskClient) -> None:
    assert len(client.get("/v1/articles/speech-0/related").get_json()["items"]) == 5


def test_unknown_article_is_404_problem(client: FlaskClient) -> None:
    body = assert_problem(client.get("/v1/articles/ghost/related"), 404)
    assert body["article_id"] == "ghost"
    assert "ghost" in body["detail"]


@pytest.mark.parametrize("k", ["0", "51", "abc", "2.5", "-3", ""])
def test_bad_k_is_400_naming_the_parameter(client: FlaskClient, k: str) -> None:
    body = assert_problem(client.get(f"/v1/articles/speech-0/related?k={k}"), 400)
    assert body["parameter"] == "k"


def test_unknown_route_and_method(client: FlaskClient) -> None:
    assert_problem(client.get("/v1/nothing-here"), 404)
    response = client.post("/v1/articles/speech-0/related")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_request_id_is_echoed(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": "abc123"})
    assert response.headers["X-Request-Id"] == "abc123"


def test_not_ready_without_snapshot(tmp_path: Path) -> None:
    app = create_app(Settings(index_dir=tmp_path / "empty"))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    body = assert_problem(client.get("/v1/articles/x/related"), 503)
    assert "recommender index" in body["detail"]


def test_internal_error_hides_traceback(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr(Engine, "related", explode)
    response = client.get("/v1/articles/speech-0/related")
    body = assert_problem(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert response.headers["X-Request-Id"] in body["detail"]
