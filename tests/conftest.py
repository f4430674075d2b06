"""Shared fixtures: settings in a temporary directory, corpus writers, the fake
embedder, the app, its test client and a CLI runner (Flask's "flaskr" trio), (once
per session) the real model and an index of the bundled corpus, and a throwaway
PostgreSQL server with a fresh database per test."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from recommender import Engine, Settings
from recommender.embedding import SentenceTransformerEmbedder
from recommender.pipeline import build_index
from service import create_app

from .fakes import FakeEmbedder
from .postgres import ThrowawayPostgres, started_or_skip

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CORPUS = ROOT / "corpus"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index", reload_interval=0.0)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


def article(article_id: str, title: str, body: str, **fields: Any) -> dict[str, Any]:
    """A valid article record with sensible defaults."""
    return {"id": article_id, "title": title, "body": body, **fields}


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[[list[dict[str, Any]], str], Path]:
    def write(records: list[dict[str, Any]], name: str = "corpus.jsonl") -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        return path

    return write


# Four topics with disjoint vocabularies, five articles each: an article's right
# neighbours are the other four of its topic (the same idea as implicit's checkerboard).
TOPICS = {
    "spasticity": "botulinum toxin injection spasticity muscle stiffness ankle calf tone",
    "speech": "aphasia speech language words naming conversation therapist talking",
    "swallow": "dysphagia swallowing saliva throat choking texture thickened fluids",
    "sleep": "sleep insomnia apnea night snoring drowsiness daytime bedtime",
}


def topic_records() -> list[dict[str, Any]]:
    """20 articles in 4 topics; each topic's third article is featured."""
    records = []
    for topic, vocabulary in TOPICS.items():
        words = vocabulary.split()
        for i in range(5):
            # Each article uses a rotating subset of its topic's words.
            body = " ".join(words[(i + j) % len(words)] for j in range(7))
            records.append(
                article(
                    f"{topic}-{i}",
                    f"{words[i]} {words[(i + 3) % len(words)]} report {topic} {i}",
                    body,
                    tags=[topic],
                    featured=(i == 2),
                    published=f"2025-0{i + 1}-1{i}",
                )
            )
    return records


def topic_of(article_id: str) -> str:
    return article_id.rsplit("-", 1)[0]


def make_engine(
    settings: Settings, path: Path, extra: list[dict[str, Any]] | None = None
) -> Engine:
    """An engine (fake model) over the topic corpus plus ``extra`` records, written to ``path``."""
    records = topic_records() + (extra or [])
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    embedder = FakeEmbedder()
    build_index([path], settings, embedder)
    return Engine(settings, embedder=embedder)


@pytest.fixture
def engine(settings: Settings, tmp_path: Path) -> Engine:
    """An engine over the topic corpus."""
    return make_engine(settings, tmp_path / "c.jsonl")


KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
PROBLEM_KEYS = {"type", "title", "status", "detail"}


def make_app(settings: Settings, source: Path, **overrides: Any) -> Flask:
    """The app over ``source`` indexed with the fake model; writes need the key ``KEY``."""
    settings = settings.replace(api_keys=KEY, **overrides)
    embedder = FakeEmbedder()
    build_index([source], settings, embedder)
    app = create_app(engine=Engine(settings, embedder=embedder))
    app.testing = True
    return app


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """Check that ``response`` is a problem+json of ``status``; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert "Traceback" not in response.get_data(as_text=True)
    assert response.headers["X-Request-Id"]
    return body


@pytest.fixture
def app(settings: Settings, write_jsonl: Callable[..., Path]) -> Flask:
    """The app over the topic corpus (fake model)."""
    return make_app(settings, write_jsonl(topic_records()))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A click runner for the CLI over indexes built with the fake model."""
    # The fake index was built with the fake model; the CLI must agree on the model id.
    monkeypatch.setenv("RECOMMENDER_MODEL", "fake-bow")
    return CliRunner()


@pytest.fixture(scope="session")
def real_embedder() -> SentenceTransformerEmbedder:
    """The real default model, loaded once per test session."""
    embedder = SentenceTransformerEmbedder()
    assert embedder.dim == 384
    return embedder


@pytest.fixture(scope="session")
def bundled_index(
    tmp_path_factory: pytest.TempPathFactory, real_embedder: SentenceTransformerEmbedder
) -> Iterator[Settings]:
    """The bundled corpus indexed with the real model, once per session."""
    settings = Settings(index_dir=tmp_path_factory.mktemp("bundled") / "index")
    build_index([BUNDLED_CORPUS], settings, real_embedder, progress=False)
    yield settings


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """Ray on this machine with two CPUs, started once per session (starting it
    costs seconds) and shut down at its end; skips where the ray extra is missing."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    import logging

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    """A throwaway PostgreSQL cluster, started once per session and removed at its end;
    skips (saying why) where PostgreSQL is not installed."""
    server = started_or_skip()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(
    postgres_server: ThrowawayPostgres, request: pytest.FixtureRequest
) -> Iterator[str]:
    """The URL of an empty database of this test's own, dropped after it (open
    connections and all)."""
    # Named after the test, for the server log; the suffix makes it unique.
    stem = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40]
    name = f"test_{stem}_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
"""The state backends: SQLite files in the index directory, and a PostgreSQL database."""


@pytest.fixture(params=BACKENDS)
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings of a fresh index on each backend in turn; with PostgreSQL, a
    database of this test's own with the schema upgraded."""
    settings = Settings(index_dir=tmp_path / "index", reload_interval=0.0)
    if request.param == "sqlite":
        yield settings
        return
    from recommender.postgres import Migrations, close_all

    url = request.getfixturevalue("postgres_url")
    Migrations(url).upgrade()
    try:
        yield settings.replace(database_url=url)
    finally:
        close_all()  # before the database is dropped
