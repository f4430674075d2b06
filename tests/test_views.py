"""One check of the shared state per request: reads in an engine view share it,
writes in the view are seen by its later reads, and outside a view every read
checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommender import Engine, Settings
from recommender.articles import Article
from recommender.rules import ArticleRules, Pin
from service import create_app

from .conftest import make_engine


class CountingCounters:
    """The engine's change counters, counting how often they are read."""

    def __init__(self, engine: Engine) -> None:
        self.inner = engine.counters
        self.reads = 0

    def read(self) -> tuple[int, int]:
        self.reads += 1
        return self.inner.read()


@pytest.fixture
def counted(settings: Settings, tmp_path: Path) -> tuple[Engine, CountingCounters]:
    engine = make_engine(settings, tmp_path / "c.jsonl")
    counters = CountingCounters(engine)
    engine.counters = counters
    return engine, counters


def test_reads_in_a_view_check_once(counted: tuple[Engine, CountingCounters]) -> None:
    engine, counters = counted
    with engine.view():
        engine.freshness()
        engine.related("sleep-0")
        engine.featured("sleep-0")
        assert engine.has_article("speech-1")
    assert counters.reads == 1
    engine.related("sleep-0")
    engine.featured("sleep-0")
    assert counters.reads > 2  # outside a view, every read checks


def test_a_write_in_a_view_is_seen_by_its_later_reads(
    counted: tuple[Engine, CountingCounters],
) -> None:
    engine, _ = counted
    with engine.view():
        before = engine.freshness().version
        engine.set_article_rules(ArticleRules("sleep-0", (Pin("speech-1", 1),), (), None), "ed")
        assert engine.related("sleep-0", k=3)[0].article.id == "speech-1"
        engine.upsert(Article.from_stored({"id": "new-one", "title": "New", "body": "sleep"}))
        assert engine.has_article("new-one")
        assert engine.freshness().version != before


def test_another_process_write_shows_in_the_next_view_not_mid_view(
    counted: tuple[Engine, CountingCounters], settings: Settings
) -> None:
    engine, _ = counted
    elsewhere = Engine(settings, embedder=engine.embedder)
    with engine.view():
        assert not engine.excludes()
        elsewhere.set_excludes(["sleep-1"], "ed")
        assert not engine.excludes()  # one state throughout the view
    with engine.view():
        assert engine.excludes() == ["sleep-1"]


def test_one_check_per_request_through_the_app(
    counted: tuple[Engine, CountingCounters],
) -> None:
    engine, counters = counted
    client = create_app(engine=engine).test_client()
    before = counters.reads
    response = client.get("/v1/articles/sleep-0/recommendations?k=3&exclude=speech-1")
    assert response.status_code == 200
    assert counters.reads == before + 1
