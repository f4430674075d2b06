"""Rule validation is domain code: the store checks only what the rules alone decide,
the ids that exist are checked by whoever knows them (the engine, the CLI)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from recommender import Settings, cli
from recommender.articles import Article
from recommender.errors import InvalidRule
from recommender.live import LiveChanges
from recommender.pipeline import build_index
from recommender.rules import (
    ArticleRules,
    Pin,
    RuleStore,
    check_article_rules,
    check_block,
    check_excludes,
    check_pin,
)
from recommender.snapshot import SnapshotStore

from .conftest import topic_records
from .fakes import FakeEmbedder


@pytest.mark.parametrize(
    ("check", "field"),
    [
        (lambda known: check_article_rules("a", [Pin("ghost", 1)], (), known), "pins.0.article_id"),
        (lambda known: check_article_rules("a", [Pin("b", 1)], ("ghost",), known), "blocks.0"),
        (lambda known: check_excludes(["b", "ghost"], known), "ids.1"),
        (lambda known: check_pin(ArticleRules("a"), "ghost", 1, known), "pins.0.article_id"),
        (lambda known: check_pin(ArticleRules("ghost"), "b", 1, known), "article_id"),
        (lambda known: check_block(ArticleRules("a"), "ghost", known), "target_id"),
    ],
)
def test_unknown_ids_are_refused_only_when_ids_are_given(
    check: Callable[[Any], None], field: str
) -> None:
    with pytest.raises(InvalidRule) as caught:
        check({"a", "b"})
    assert caught.value.field == field
    check(None)


def test_the_store_stores_rules_naming_any_id(tmp_path: Path) -> None:
    store = RuleStore(tmp_path / "rules.sqlite")
    store.add_pin("a", "never-indexed", 1, "ed")
    store.add_exclude("also-never", "ed")
    rules = store.load()
    assert rules.pins == {"a": (Pin("never-indexed", 1),)}
    assert rules.excludes == {"also-never"}
    with pytest.raises(InvalidRule, match="pinned under itself"):
        store.add_pin("a", "a", 2, "ed")  # what the rules alone decide is still refused
    store.db.close()


def test_live_changes_laid_over_snapshot_ids() -> None:
    article = Article.model_validate({"id": "new", "title": "T", "body": "B."})
    changes = LiveChanges(1, {"new": (article, np.zeros(2, np.float32), "m")}, frozenset({"b"}))
    assert changes.laid_over(["a", "b"]) == {"a", "new"}


def test_cli_rules_check_ids_without_building_an_engine(
    settings: Settings,
    write_jsonl: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build_index([write_jsonl(topic_records())], settings, FakeEmbedder())
    assert "sleep-1" in SnapshotStore(settings.index_dir).article_ids()

    def no_engine(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the rules commands must not build an Engine")

    monkeypatch.setattr("recommender.engine.Engine.__init__", no_engine)
    runner = CliRunner()
    where = ["--index-dir", str(settings.index_dir)]
    added = runner.invoke(
        cli.main, ["rules", "add", "pin", "sleep-0", "sleep-1", "--position", "1", *where]
    )
    assert added.exit_code == 0, added.output
    ghost = runner.invoke(cli.main, ["rules", "add", "exclude", "ghost", *where])
    assert ghost.exit_code == 2 and "no article with id 'ghost'" in ghost.output
