"""Reader events in the core: validation of a batch, the time-decay arithmetic, and
the aggregate store on both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from recommender import Settings
from recommender.errors import InvalidEvent, TooManyEvents, UnknownEventArticle
from recommender.events import (
    Counts,
    Event,
    EventAggregates,
    EventCounts,
    Shown,
    article_events,
    decayed,
    parse_batch,
    record_events,
)
from recommender.layout import IndexLayout
from recommender.state import open_state
from recommender.stores import EventStore

from .fakes import FakeClock

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = 86_400.0
SERVED = {"a", "b", "c", "d"}


def impression(**fields: Any) -> dict[str, Any]:
    event = {
        "type": "impression",
        "source": "a",
        "block": "related",
        "items": [{"shown": "b", "position": 1}, {"shown": "c", "position": 2}],
    }
    return {**event, **fields}


def click(**fields: Any) -> dict[str, Any]:
    event = {"type": "click", "source": "a", "block": "related", "shown": "c", "position": 2}
    return {**event, **fields}


# -- validation --------------------------------------------------------------------------


def test_a_batch_parses_into_events_with_the_default_variant() -> None:
    events = parse_batch({"events": [impression(), click(variant="B")]}, max_events=10)
    assert events == [
        Event("impression", "a", "related", "default", (Shown("b", 1), Shown("c", 2))),
        Event("click", "a", "related", "B", (Shown("c", 2),)),
    ]


def test_counts_of_a_batch_add_one_per_item_to_each_aggregate() -> None:
    events = parse_batch(
        {"events": [impression(), impression(), click(), click(block="featured", position=1)]},
        max_events=10,
    )
    counts = EventCounts.of(events)
    assert counts.shown == {
        ("b", "related", "default"): Counts(2.0, 0.0),
        ("c", "related", "default"): Counts(2.0, 1.0),
        ("c", "featured", "default"): Counts(0.0, 1.0),
    }
    assert counts.pairs == {("a", "b"): Counts(2.0, 0.0), ("a", "c"): Counts(2.0, 2.0)}
    assert counts.positions == {
        ("b", "related", 1): Counts(2.0, 0.0),
        ("c", "related", 2): Counts(2.0, 1.0),
        ("c", "featured", 1): Counts(0.0, 1.0),
    }


def _without(event: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != name}


def _item(**fields: Any) -> dict[str, Any]:
    event = impression()
    event["items"] = [{"shown": "b", "position": 1}, {"shown": "c", "position": 2, **fields}]
    return event


MALFORMED = [
    # (the event at index 1 of the batch, the field named, the reason)
    ("not an event", "events[1]", "expected an object"),
    (click(type="view"), "events[1].type", "expected one of impression, click"),
    (_without(click(), "type"), "events[1].type", "expected one of impression, click"),
    (click(source=""), "events[1].source", "required: an article id"),
    (click(source=7), "events[1].source", "required: an article id"),
    (_without(click(), "source"), "events[1].source", "required: an article id"),
    (click(source="x" * 201), "events[1].source", "longer than 200 characters"),
    (click(shown=None), "events[1].shown", "required: an article id"),
    (click(block="sidebar"), "events[1].block", "expected one of related, featured"),
    (click(position=0), "events[1].position", "0 is out of range (1 to 100)"),
    (click(position=101), "events[1].position", "101 is out of range (1 to 100)"),
    (click(position=2.0), "events[1].position", "required: an integer from 1 to 100"),
    (click(position="2"), "events[1].position", "required: an integer from 1 to 100"),
    (click(position=True), "events[1].position", "required: an integer from 1 to 100"),
    (click(variant=""), "events[1].variant", "expected a non-empty string"),
    (click(variant="v" * 130), "events[1].variant", "longer than 129 characters"),
    (click(variant="a\nb"), "events[1].variant", "holds control characters"),
    (click(items=[]), "events[1].items", "unknown field"),
    (click(user="reader-1"), "events[1].user", "unknown field"),
    (impression(shown="b"), "events[1].shown", "unknown field"),
    (impression(items=[]), "events[1].items", "required: a non-empty list of {shown, position}"),
    (
        impression(items={"shown": "b"}),
        "events[1].items",
        "required: a non-empty list of {shown, position}",
    ),
    (
        impression(items=[{"shown": "b", "position": p} for p in range(1, 102)]),
        "events[1].items",
        "at most 100 items in one impression",
    ),
    (_item(position=-1), "events[1].items[1].position", "-1 is out of range (1 to 100)"),
    (_item(shown=""), "events[1].items[1].shown", "required: an article id"),
    (_item(ip="10.0.0.1"), "events[1].items[1].ip", "unknown field"),
]


@pytest.mark.parametrize(("event", "field", "reason"), MALFORMED)
def test_a_malformed_event_is_refused_naming_its_field(event: Any, field: str, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_batch({"events": [click(), event]}, max_events=10)
    assert (caught.value.field, caught.value.reason) == (field, reason)


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        ([click()], "body", 'expected an object {"events": [...]}'),
        ({}, "events", "required: a list of events"),
        ({"events": {"0": click()}}, "events", "required: a list of events"),
        ({"events": [], "user": "x"}, "user", "unknown field"),
    ],
)
def test_a_malformed_batch_is_refused_naming_its_field(
    payload: Any, field: str, reason: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_batch(payload, max_events=10)
    assert (caught.value.field, caught.value.reason) == (field, reason)


def test_a_batch_over_the_limit_is_refused() -> None:
    with pytest.raises(TooManyEvents) as caught:
        parse_batch({"events": [click()] * 4}, max_events=3)
    assert (caught.value.count, caught.value.limit) == (4, 3)


class RecordingStore:
    """An event store that keeps what it was given (for the all-or-nothing tests)."""

    def __init__(self) -> None:
        self.added: list[EventCounts] = []

    def add(self, counts: EventCounts) -> None:
        self.added.append(counts)

    def shown(self, article_id: str) -> dict[tuple[str, str], Counts]:
        return {}

    def pairs(self, source: str) -> dict[str, Counts]:
        return {}

    def positions(self) -> dict[tuple[str, int], Counts]:
        return {}


@pytest.mark.parametrize(
    ("event", "field", "unknown"),
    [
        (click(source="zz"), "events[2].source", "zz"),
        (click(shown="zz"), "events[2].shown", "zz"),
        (_item(shown="zz"), "events[2].items[1].shown", "zz"),
    ],
)
def test_an_unknown_id_refuses_the_whole_batch(event: Any, field: str, unknown: str) -> None:
    store = RecordingStore()
    with pytest.raises(UnknownEventArticle) as caught:
        record_events(
            {"events": [impression(), click(), event]}, store, SERVED.__contains__, "v7+0", 10
        )
    assert (caught.value.field, caught.value.article_id) == (field, unknown)
    assert caught.value.reason == f"no article with id {unknown!r} in the index (version v7+0)"
    assert store.added == []


def test_a_valid_batch_is_added_once_and_counted() -> None:
    store = RecordingStore()
    payload = {"events": [impression(), click()]}
    assert record_events(payload, store, SERVED.__contains__, "v1+0", 10) == 2
    assert store.added == [EventCounts.of(parse_batch(payload, 10))]
    assert record_events({"events": []}, store, SERVED.__contains__, "v1+0", 10) == 0
    assert len(store.added) == 1  # an empty batch writes nothing


# -- decay -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed_days", "expected"),
    [(0.0, 1.0), (7.0, 0.5), (14.0, 0.25), (3.5, 2**-0.5), (-1.0, 1.0), (7000.0, 0.0)],
)
def test_decay_halves_a_count_every_half_life(elapsed_days: float, expected: float) -> None:
    assert decayed(1.0, 0.0, elapsed_days * DAY, 7 * DAY) == pytest.approx(expected, rel=1e-12)


# -- the store on both backends ----------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def store(backend_settings: Settings, clock: FakeClock) -> EventStore:
    return open_state(backend_settings.replace(events_half_life_days=7.0), now=clock).events


def counts_of(payload: dict[str, Any]) -> EventCounts:
    return EventCounts.of(parse_batch(payload, 100))


def test_the_store_implements_its_protocol(store: EventStore) -> None:
    assert isinstance(store, EventStore)


def test_an_event_counts_one_now_and_half_one_half_life_later(
    store: EventStore, clock: FakeClock
) -> None:
    store.add(counts_of({"events": [click(position=1, shown="b"), impression()]}))
    assert store.shown("b") == {("related", "default"): Counts(1.0, 1.0)}
    clock.advance(days=7)
    assert store.shown("b") == {("related", "default"): Counts(0.5, 0.5)}
    assert store.pairs("a") == {"b": Counts(0.5, 0.5), "c": Counts(0.5, 0.0)}
    assert store.positions() == {
        ("b", "related", 1): Counts(0.5, 0.5),
        ("c", "related", 2): Counts(0.5, 0.0),
    }
    assert store.variants() == {("related", "default"): Counts(1.0, 0.5)}


def test_an_update_decays_the_stored_counts_before_adding(
    store: EventStore, clock: FakeClock
) -> None:
    store.add(counts_of({"events": [impression(), impression()]}))  # b: 2 impressions
    clock.advance(days=7)
    store.add(counts_of({"events": [impression(), click(shown="b", position=1)]}))
    assert store.shown("b") == {("related", "default"): Counts(2 * 0.5 + 1, 1.0)}
    clock.advance(days=14)
    b = store.shown("b")[("related", "default")]
    assert (b.impressions, b.clicks) == pytest.approx((2.0 * 0.25, 0.25))
    assert b.ctr == pytest.approx(0.5)


def test_a_row_written_by_a_clock_ahead_is_not_grown(store: EventStore, clock: FakeClock) -> None:
    store.add(counts_of({"events": [impression()]}))
    clock.advance(days=-7)  # another host's clock, a half-life behind
    store.add(counts_of({"events": [impression()]}))
    clock.advance(days=7)
    assert store.shown("c") == {("related", "default"): Counts(2.0, 0.0)}


def test_counts_are_kept_per_block_and_variant(store: EventStore) -> None:
    store.add(
        counts_of(
            {
                "events": [
                    impression(variant="B"),
                    impression(block="featured"),
                    click(variant="B"),
                    click(source="d"),
                ]
            }
        )
    )
    assert store.shown("c") == {
        ("related", "B"): Counts(1.0, 1.0),
        ("featured", "default"): Counts(1.0, 0.0),
        ("related", "default"): Counts(0.0, 1.0),
    }
    assert article_events(store, "a") == {
        "as_shown": [],
        "shown_here": [
            {"shown": "c", "impressions": 2.0, "clicks": 1.0, "ctr": 0.5},
            {"shown": "b", "impressions": 2.0, "clicks": 0.0, "ctr": 0.0},
        ],
    }
    assert article_events(store, "c")["as_shown"] == [
        {"block": "featured", "variant": "default", "impressions": 1.0, "clicks": 0.0, "ctr": 0.0},
        {"block": "related", "variant": "B", "impressions": 1.0, "clicks": 1.0, "ctr": 1.0},
        {"block": "related", "variant": "default", "impressions": 0.0, "clicks": 1.0, "ctr": None},
    ]


def test_nothing_identifying_a_reader_is_stored(backend_settings: Settings) -> None:
    """Every column of the event tables, on either backend: keys and decayed counts."""
    state = open_state(backend_settings)
    state.events.add(counts_of({"events": [impression(), click()]}))
    if state.backend == "sqlite":
        import sqlite3

        with sqlite3.connect(IndexLayout.of(backend_settings.index_dir).events) as db:
            columns = {
                table: [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
                for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
    else:
        assert isinstance(state.events, EventAggregates)
        rows = state.events.db.query(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'recommender' AND table_name LIKE 'event%' "
            "ORDER BY table_name, ordinal_position"
        )
        columns = {}
        for table, column in rows:
            columns.setdefault(table, []).append(column)
    counts = ["impressions", "clicks", "as_of"]
    assert columns == {
        "event_shown": ["shown", "block", "variant", *counts],
        "event_pairs": ["source", "shown", *counts],
        "event_positions": ["shown", "block", "position", *counts],
    }


def test_a_batch_is_written_whole_or_not_at_all(store: EventStore) -> None:
    good = counts_of({"events": [impression()]})
    broken = copy.deepcopy(good)
    # The last table's row breaks NOT NULL, after the first two tables were written.
    broken.positions = {("b", "related", None): Counts(1.0, 0.0)}  # type: ignore[dict-item]
    with pytest.raises(Exception, match=r"(?i)not[- ]null"):
        store.add(broken)
    assert store.shown("b") == {}
    assert store.pairs("a") == {}
    store.add(good)
    assert store.shown("b") == {("related", "default"): Counts(1.0, 0.0)}


def test_the_half_life_comes_from_the_settings(
    backend_settings: Settings, clock: FakeClock
) -> None:
    events = open_state(backend_settings.replace(events_half_life_days=1.0), now=clock).events
    events.add(counts_of({"events": [impression()]}))
    clock.advance(days=2)
    assert events.shown("b") == {("related", "default"): Counts(0.25, 0.0)}


def test_a_batch_larger_than_one_statement_is_counted_whole(store: EventStore) -> None:
    """600 shown ids: the shown and pair tables take two statements each."""
    views = [
        impression(items=[{"shown": f"s{view}-{n}", "position": n} for n in range(1, 101)])
        for view in range(6)
    ]
    store.add(counts_of({"events": views}))
    pairs = store.pairs("a")
    assert len(pairs) == 600 and set(pairs.values()) == {Counts(1.0, 0.0)}
    assert store.shown("s5-100") == {("related", "default"): Counts(1.0, 0.0)}
    assert store.positions()[("s5-100", "related", 100)] == Counts(1.0, 0.0)
    assert store.variants() == {("related", "default"): Counts(600.0, 0.0)}
