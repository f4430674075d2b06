"""The bundled corpus through the real model, and the real server on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from recommender import Engine, Settings
from recommender.embedding import SentenceTransformerEmbedder
from recommender.pipeline import build_index

from .conftest import BUNDLED_CORPUS

UCHIYAMA = "botox-intensive-rehab-chronic-stroke"
REVIEW = "botox-review-22-studies-muscle-spasm"

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def engine(bundled_index: Settings, real_embedder: SentenceTransformerEmbedder) -> Engine:
    return Engine(bundled_index, embedder=real_embedder)


def test_uchiyama_related_lists_the_review_in_top_3(engine: Engine) -> None:
    items = engine.related(UCHIYAMA, k=3)
    assert REVIEW in [i.article.id for i in items]
    first = items[0]
    assert "spasticity" in first.article.tags or "botulinum-toxin" in first.article.tags
    assert {"botox", "toxin", "botulinum", "spasticity", "injections"} & set(first.shared_terms)


def test_featured_lists_only_featured_published(engine: Engine) -> None:
    items = engine.featured(UCHIYAMA, k=10)
    assert items
    assert all(i.article.featured and i.article.is_published for i in items)
    assert UCHIYAMA not in [i.article.id for i in items]


def test_drafts_never_suggested(engine: Engine) -> None:
    drafts = {a.id for a in engine.snapshot.articles if not a.is_published}
    assert drafts
    for article in engine.snapshot.articles[:20]:
        assert not drafts & {i.article.id for i in engine.related(article.id, k=10)}


def test_draft_text_gets_related_articles(engine: Engine) -> None:
    result = engine.recommend_text(
        "Injections ease stiff calf muscles",
        "A new clinic offers botulinum toxin injections for spasticity of the ankle after stroke.",
        k=3,
    )
    tags = {t for item in result.related for t in item.article.tags}
    assert {"spasticity", "botulinum-toxin"} & tags


def test_reindexing_the_bundled_corpus_embeds_nothing(
    bundled_index: Settings, real_embedder: SentenceTransformerEmbedder
) -> None:
    report = build_index([BUNDLED_CORPUS], bundled_index, real_embedder, progress=False)
    assert report.embedded == 0 and not report.published


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers.get_content_type(), json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_content_type(), json.load(error)


@pytest.fixture(scope="module")
def server(bundled_index: Settings) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "RECOMMENDER_INDEX_DIR": str(bundled_index.index_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "recommender.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if get(base + "/healthz")[0] == 200:
                break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"server exited: {process.stdout.read() if process.stdout else ''}")
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("server did not start within 60 s")
    yield base
    process.terminate()
    output, _ = process.communicate(timeout=30)
    assert "Traceback" not in output


@pytest.mark.server
def test_real_server_answers_over_http(server: str) -> None:
    status, mime, body = get(f"{server}/v1/articles/{UCHIYAMA}/related?k=3")
    assert (status, mime) == (200, "application/json")
    assert REVIEW in [item["id"] for item in body["items"]]
    status, _, body = get(f"{server}/v1/articles/{UCHIYAMA}/featured?k=5")
    assert status == 200 and all(item["featured"] for item in body["items"])
    status, mime, body = get(f"{server}/v1/articles/ghost/related")
    assert (status, mime, body["status"]) == (404, "application/problem+json", 404)
    status, mime, body = get(f"{server}/v1/articles/{UCHIYAMA}/related?k=nope")
    assert (status, mime, body["parameter"]) == (400, "application/problem+json", "k")
