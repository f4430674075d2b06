"""Single-rule edits in the core (:class:`recommender.RuleEditor`): every check the
``recommender rules`` commands relied on, and each typed error, without the CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recommender import (
    InvalidRule,
    NoSnapshot,
    RuleEditor,
    RuleNotFound,
    RuleSet,
    RuleStore,
    Settings,
    open_state,
)
from recommender.pipeline import build_index
from recommender.rules import Pin

from .conftest import topic_records
from .fakes import FakeEmbedder

KNOWN = frozenset({"a", "b", "c"})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RuleStore]:
    rules = RuleStore(tmp_path / "rules.sqlite")
    yield rules
    rules.db.close()


@pytest.fixture
def editor(store: RuleStore) -> RuleEditor:
    return RuleEditor(store, lambda: KNOWN)


def test_additions_are_stored_and_return_the_rules_version(
    editor: RuleEditor, store: RuleStore
) -> None:
    assert editor.add_pin("a", "b", 2, "ed") == 1
    assert editor.add_block("a", "c", "ed") == 2
    assert editor.add_exclude("c", "ed") == 3
    assert editor.set_featured("b", True, "ed") == 4
    rules = store.load()
    assert rules.pins == {"a": (Pin("b", 2),)}
    assert rules.blocks == {"a": frozenset({"c"})}
    assert rules.excludes == {"c"}
    assert rules.featured == {"b": True}


def test_a_pin_of_the_same_target_moves(editor: RuleEditor, store: RuleStore) -> None:
    editor.add_pin("a", "b", 2, "ed")
    editor.add_pin("a", "b", 5, "ed")
    assert store.load().pins == {"a": (Pin("b", 5),)}


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        (lambda e: e.add_pin("a", "ghost", 1, "ed"), "pins.0.article_id", "no article with id"),
        (lambda e: e.add_pin("ghost", "b", 1, "ed"), "article_id", "no article with id"),
        (lambda e: e.add_pin("a", "a", 1, "ed"), "pins.0.article_id", "pinned under itself"),
        (lambda e: e.add_pin("a", "b", 51, "ed"), "pins.0.position", "from 1 to 50"),
        (lambda e: e.add_pin("a", "b", 0, "ed"), "pins.0.position", "from 1 to 50"),
        (lambda e: e.add_block("ghost", "b", "ed"), "article_id", "no article with id"),
        (lambda e: e.add_block("a", "ghost", "ed"), "target_id", "no article with id"),
        (lambda e: e.add_exclude("ghost", "ed"), "target_id", "no article with id"),
        (lambda e: e.set_featured("ghost", True, "ed"), "target_id", "no article with id"),
    ],
)
def test_additions_that_cannot_hold_are_refused(
    editor: RuleEditor,
    store: RuleStore,
    edit: Callable[[RuleEditor], int],
    field: str,
    message: str,
) -> None:
    with pytest.raises(InvalidRule, match=message) as caught:
        edit(editor)
    assert caught.value.field == field
    assert store.load() == RuleSet()
    assert store.version() == 0


def test_additions_that_clash_with_rules_in_force_are_refused(
    editor: RuleEditor, store: RuleStore
) -> None:
    editor.add_pin("a", "b", 2, "ed")
    editor.add_block("a", "c", "ed")
    with pytest.raises(InvalidRule, match="position 2 under 'a' holds 'b'") as held:
        editor.add_pin("a", "c", 2, "ed")
    assert held.value.field == "position"
    with pytest.raises(InvalidRule, match="'c' is blocked under 'a'") as blocked:
        editor.add_pin("a", "c", 3, "ed")
    assert blocked.value.field == "article_id"
    with pytest.raises(InvalidRule, match="'b' is pinned under 'a'") as pinned:
        editor.add_block("a", "b", "ed")
    assert pinned.value.field == "article_id"
    assert store.version() == 2


def test_removals_undo_additions(editor: RuleEditor, store: RuleStore) -> None:
    editor.add_pin("a", "b", 1, "ed")
    editor.add_block("a", "c", "ed")
    editor.add_exclude("c", "ed")
    editor.set_featured("b", False, "ed")
    editor.remove_pin("a", "b", "ed")
    editor.remove_block("a", "c", "ed")
    editor.remove_exclude("c", "ed")
    editor.remove_featured("b", "ed")
    assert store.load() == RuleSet(version=8)


def test_removals_never_read_the_ids(store: RuleStore) -> None:
    """A rule about an article that is gone (or with nothing published) can be removed."""
    store.add_exclude("gone", "ed")

    def no_ids() -> frozenset[str]:
        raise NoSnapshot("index", "nothing published")

    RuleEditor(store, no_ids).remove_exclude("gone", "ed")
    assert store.load().excludes == frozenset()


@pytest.mark.parametrize(
    ("remove", "rule"),
    [
        (lambda e: e.remove_pin("a", "b", "ed"), "pin of b under a"),
        (lambda e: e.remove_block("a", "c", "ed"), "block of c under a"),
        (lambda e: e.remove_exclude("c", "ed"), "exclude of c"),
        (lambda e: e.remove_featured("b", "ed"), "featured override of b"),
    ],
)
def test_removing_a_rule_that_is_not_there(
    editor: RuleEditor, store: RuleStore, remove: Callable[[RuleEditor], None], rule: str
) -> None:
    with pytest.raises(RuleNotFound) as caught:
        remove(editor)
    assert caught.value.rule == rule
    assert str(caught.value) == f"no such rule: {rule}"
    assert isinstance(caught.value, LookupError)
    assert store.version() == 0


def test_the_state_checks_against_the_published_ids(
    settings: Settings, write_jsonl: Callable[..., Path]
) -> None:
    state = open_state(settings)
    with pytest.raises(NoSnapshot):
        state.rule_editor().add_exclude("sleep-1", "ed")
    build_index([write_jsonl(topic_records())], settings, FakeEmbedder())
    assert state.article_ids() == {r["id"] for r in topic_records()}
    assert state.rule_editor().add_exclude("sleep-1", "ed") == 1
    with pytest.raises(InvalidRule, match="no article with id 'ghost'"):
        state.rule_editor().add_exclude("ghost", "ed")
    assert state.rules.load().excludes == {"sleep-1"}
