"""Reader events: impressions and clicks of the widget's blocks, kept as aggregates.

The widget reports what readers saw and followed (``POST /v1/events``). A batch is
validated whole, against the ids the engine serves, and then counted in one
transaction: a batch with one bad event counts nothing.

A batch is ``{"events": [...]}``; each event is one of::

    {"type": "impression", "source": "a", "block": "related", "variant": "default",
     "items": [{"shown": "b", "position": 1}, {"shown": "c", "position": 2}]}
    {"type": "click", "source": "a", "block": "related", "variant": "default",
     "shown": "c", "position": 2}

One impression event is one view of one block (its items are the articles it
showed, by 1-based position); a click is one followed link. ``variant`` may be
left out (``"default"``).

**Aggregates, not events.** Nothing about a reader is stored: no address, no user
agent, no cookie, no event time. Each event only adds to three kinds of counters:
per shown article, block and variant; per (source, shown) pair; per (block,
position). Each counter row holds ``(impressions, clicks, as_of)`` as
**time-decayed counts**: an event adds 1 at its time, and every count halves each
``half_life`` (``RECOMMENDER_EVENTS_HALF_LIFE_DAYS``). A batch updates each
table with one upsert statement, each row becoming
``value * 2^(-(now - as_of) / half_life) + n`` computed in SQL: a row costs O(1)
however many events it has seen, and several servers sharing PostgreSQL add to
the same rows without reading them first. Reads decay
each row to "now" (an injected clock).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidEvent, TooManyEvents, UnknownEventArticle
from .live import Clock, system_clock
from .sql import SqlDatabase
from .sqlite import database_at, statements
from .stores import EventStore

EVENT_TYPES = ("impression", "click")
BLOCKS = ("related", "featured")
MAX_POSITION = 100
"""The largest position an event may name (and the most items of one impression)."""
MAX_VARIANT_LENGTH = 129
"""An A/B variant as answers name it: ``<experiment id>/<variant name>``, each at most
64 characters (see :mod:`recommender.experiments`)."""
DEFAULT_VARIANT = "default"
MAX_ID_LENGTH = 200  # as recommender.articles.ID_MAX_LENGTH: longer ids are never served

DECAY_HORIZON = 1000.0
"""Half-lives after which a count is taken as 0: 2^-1000 is still a normal double,
and PostgreSQL's ``power`` raises on underflow rather than answering 0."""

ROWS_PER_STATEMENT = 500
"""Rows one upsert statement carries: a batch is one statement per table unless it
is huge, and 500 rows of 6 values stay far below SQLite's 32,766 parameters."""

_EVENT_FIELDS = {
    "impression": {"type", "source", "block", "variant", "items"},
    "click": {"type", "source", "block", "variant", "shown", "position"},
}
_ITEM_FIELDS = {"shown", "position"}


@dataclass(frozen=True)
class Shown:
    """One article a block showed, at its 1-based position."""

    shown: str
    position: int


@dataclass(frozen=True)
class Event:
    """One validated event: a block view (impression, one item per shown article)
    or a followed link (click, exactly one item)."""

    type: str
    source: str
    block: str
    variant: str
    items: tuple[Shown, ...]


@dataclass(frozen=True)
class Counts:
    """Impressions and clicks of one aggregate (decayed counts: floats)."""

    impressions: float = 0.0
    clicks: float = 0.0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.impressions + other.impressions, self.clicks + other.clicks)

    @property
    def ctr(self) -> float | None:
        """Clicks per impression; None before any impression."""
        return self.clicks / self.impressions if self.impressions > 0 else None

    def to_json(self) -> dict[str, float | None]:
        """``impressions``, ``clicks`` and ``ctr``, as the API returns them."""
        return {"impressions": self.impressions, "clicks": self.clicks, "ctr": self.ctr}


ShownKey = tuple[str, str, str]
"""(shown article, block, variant)."""
PairKey = tuple[str, str]
"""(source article, shown article)."""
PositionKey = tuple[str, str, int]
"""(shown article, block, position)."""


@dataclass
class EventCounts:
    """What one batch adds to each aggregate (plain counts, not yet decayed)."""

    shown: dict[ShownKey, Counts] = field(default_factory=dict)
    pairs: dict[PairKey, Counts] = field(default_factory=dict)
    positions: dict[PositionKey, Counts] = field(default_factory=dict)

    @classmethod
    def of(cls, events: list[Event]) -> EventCounts:
        """The increments of ``events``: each item of an impression adds one
        impression, a click adds one click, to its three aggregates."""
        counts = cls()
        for event in events:
            one = Counts(impressions=1.0) if event.type == "impression" else Counts(clicks=1.0)
            for item in event.items:
                _add(counts.shown, (item.shown, event.block, event.variant), one)
                _add(counts.pairs, (event.source, item.shown), one)
                _add(counts.positions, (item.shown, event.block, item.position), one)
        return counts


def _add(table: dict[Any, Counts], key: Any, counts: Counts) -> None:
    table[key] = table.get(key, Counts()) + counts


# -- validation ------------------------------------------------------------------------


def parse_batch(payload: Any, max_events: int) -> list[Event]:
    """The events of a batch, checked field by field (ids not yet checked).

    Args:
        payload: the decoded JSON body, ``{"events": [...]}``.
        max_events: the most events a batch may hold.

    Raises:
        InvalidEvent: the batch or an event is malformed; ``field`` names where
            (``events``, ``events[3].position``, ``events[0].items[1].shown``).
        TooManyEvents: more than ``max_events`` events.
    """
    if not isinstance(payload, dict):
        raise InvalidEvent("body", 'expected an object {"events": [...]}')
    _no_unknown_fields(payload, {"events"}, "")
    events = payload.get("events")
    if not isinstance(events, list):
        raise InvalidEvent("events", "required: a list of events")
    if len(events) > max_events:
        raise TooManyEvents(len(events), max_events)
    return [_event(raw, f"events[{index}]") for index, raw in enumerate(events)]


def _event(raw: Any, where: str) -> Event:
    if not isinstance(raw, dict):
        raise InvalidEvent(where, "expected an object")
    kind = raw.get("type")
    if kind not in EVENT_TYPES:
        raise InvalidEvent(f"{where}.type", f"expected one of {', '.join(EVENT_TYPES)}")
    _no_unknown_fields(raw, _EVENT_FIELDS[kind], f"{where}.")
    source = _article_id(raw.get("source"), f"{where}.source")
    block = raw.get("block")
    if block not in BLOCKS:
        raise InvalidEvent(f"{where}.block", f"expected one of {', '.join(BLOCKS)}")
    variant = _variant(raw.get("variant", DEFAULT_VARIANT), f"{where}.variant")
    if kind == "click":
        items: tuple[Shown, ...] = (_shown(raw, where),)
    else:
        items = _items(raw.get("items"), f"{where}.items")
    return Event(kind, source, block, variant, items)


def _items(raw: Any, where: str) -> tuple[Shown, ...]:
    if not isinstance(raw, list) or not raw:
        raise InvalidEvent(where, "required: a non-empty list of {shown, position}")
    if len(raw) > MAX_POSITION:
        raise InvalidEvent(where, f"at most {MAX_POSITION} items in one impression")
    items = []
    for index, item in enumerate(raw):
        here = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise InvalidEvent(here, "expected an object {shown, position}")
        _no_unknown_fields(item, _ITEM_FIELDS, f"{here}.")
        items.append(_shown(item, here))
    return tuple(items)


def _shown(raw: dict[str, Any], where: str) -> Shown:
    return Shown(
        _article_id(raw.get("shown"), f"{where}.shown"),
        _position(raw.get("position"), f"{where}.position"),
    )


def _article_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidEvent(where, "required: an article id")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidEvent(where, f"longer than {MAX_ID_LENGTH} characters")
    return value


def _position(value: Any, where: str) -> int:
    # bool is an int in Python, and JSON's true is no position.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(where, f"required: an integer from 1 to {MAX_POSITION}")
    if not 1 <= value <= MAX_POSITION:
        raise InvalidEvent(where, f"{value} is out of range (1 to {MAX_POSITION})")
    return value


def _variant(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidEvent(where, "expected a non-empty string")
    if len(value) > MAX_VARIANT_LENGTH:
        raise InvalidEvent(where, f"longer than {MAX_VARIANT_LENGTH} characters")
    if not value.isprintable():
        raise InvalidEvent(where, "holds control characters")
    return value


def _no_unknown_fields(raw: dict[str, Any], known: set[str], prefix: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidEvent(f"{prefix}{unknown[0]}", "unknown field")


def check_articles(
    events: list[Event], has_article: Callable[[str], bool], index_version: str
) -> None:
    """Refuse events naming an article the index does not serve.

    Raises:
        UnknownEventArticle: the first unknown id, with the field that names it.
    """
    for index, event in enumerate(events):
        where = f"events[{index}]"
        if not has_article(event.source):
            raise UnknownEventArticle(f"{where}.source", event.source, index_version)
        for number, item in enumerate(event.items):
            if not has_article(item.shown):
                field = (
                    f"{where}.shown" if event.type == "click" else f"{where}.items[{number}].shown"
                )
                raise UnknownEventArticle(field, item.shown, index_version)


def record_events(
    payload: Any,
    store: EventStore,
    has_article: Callable[[str], bool],
    index_version: str,
    max_events: int,
) -> int:
    """Validate a batch whole, then count it in one transaction.

    Args:
        payload: the decoded JSON body (see the module docstring).
        store: where the aggregates are kept.
        has_article: whether the index serves an id (:meth:`Engine.has_article`).
        index_version: the served version, named in errors.
        max_events: the most events one batch may hold.

    Returns:
        How many events were counted (all of them, or none on an error).

    Raises:
        InvalidEvent: a malformed event (nothing is counted).
        UnknownEventArticle: an id that is not served (nothing is counted).
        TooManyEvents: the batch is over ``max_events`` (nothing is counted).
        StateUnavailable: the database cannot be reached (nothing is counted).
    """
    events = parse_batch(payload, max_events)
    check_articles(events, has_article, index_version)
    if events:
        store.add(EventCounts.of(events))
    return len(events)


def article_events(store: EventStore, article_id: str) -> dict[str, Any]:
    """What readers did with one article, decayed to now (the editor's view).

    Returns:
        ``{"as_shown": [...], "shown_here": [...]}``: the article's own counts
        wherever it was shown, per block and variant; and the counts of each
        article shown on this article's page (its related and featured blocks),
        most clicked first. Each entry has ``impressions``, ``clicks`` and ``ctr``.
    """
    as_shown = [
        {"block": block, "variant": variant, **counts.to_json()}
        for (block, variant), counts in sorted(store.shown(article_id).items())
    ]
    pairs = sorted(store.pairs(article_id).items(), key=lambda kv: (-kv[1].clicks, kv[0]))
    shown_here = [{"shown": shown, **counts.to_json()} for shown, counts in pairs]
    return {"as_shown": as_shown, "shown_here": shown_here}


# -- the store -------------------------------------------------------------------------


def decayed(value: float, as_of: float, now: float, half_life: float) -> float:
    """A count stored at ``as_of`` as seen at ``now`` (seconds): halved every ``half_life``.

    A row stamped later than ``now`` (another host's clock is ahead) is not
    grown: it counts as of now.
    """
    elapsed = max(0.0, now - as_of)
    if elapsed >= DECAY_HORIZON * half_life:
        return 0.0
    return value * math.pow(0.5, elapsed / half_life)


@dataclass(frozen=True)
class _Table:
    name: str
    keys: tuple[str, ...]

    def create(self, real: str) -> str:
        columns = ", ".join(
            f"{key} {'INTEGER' if key == 'position' else 'TEXT'} NOT NULL" for key in self.keys
        )
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name} ({columns}, impressions {real} NOT NULL, "
            f"clicks {real} NOT NULL, as_of {real} NOT NULL, PRIMARY KEY ({', '.join(self.keys)}))"
        )

    def upsert(self, rows: int) -> str:
        """One statement upserting ``rows`` rows; parameters: each row's keys,
        impressions, clicks and as_of, then (horizon, half-life) for each of the
        two counts. A key must not repeat within one statement."""
        old, new = self.name, "excluded"
        elapsed = f"({new}.as_of - {old}.as_of)"

        def decayed_plus(column: str) -> str:
            # The same arithmetic as decayed(): no growth backwards, 0 past the horizon.
            return (
                f"CASE WHEN {elapsed} <= 0 THEN {old}.{column} + {new}.{column} "
                f"WHEN {elapsed} >= ? THEN {new}.{column} "
                f"ELSE {old}.{column} * power(0.5, {elapsed} / ?) + {new}.{column} END"
            )

        row = f"({', '.join('?' * (len(self.keys) + 3))})"
        return (
            f"INSERT INTO {old} ({', '.join(self.keys)}, impressions, clicks, as_of) "
            f"VALUES {', '.join([row] * rows)} ON CONFLICT ({', '.join(self.keys)}) DO UPDATE SET "
            f"impressions = {decayed_plus('impressions')}, clicks = {decayed_plus('clicks')}, "
            f"as_of = CASE WHEN {new}.as_of > {old}.as_of THEN {new}.as_of ELSE {old}.as_of END"
        )

    def select(self, where: str) -> str:
        return f"SELECT {', '.join(self.keys)}, impressions, clicks, as_of FROM {self.name}" + (
            f" WHERE {where}" if where else ""
        )


SHOWN = _Table("event_shown", ("shown", "block", "variant"))
PAIRS = _Table("event_pairs", ("source", "shown"))
POSITIONS = _Table("event_positions", ("shown", "block", "position"))
TABLES = (SHOWN, PAIRS, POSITIONS)

SCHEMA = (statements(*(table.create("REAL") for table in TABLES)),)
"""The ``events.sqlite`` schema, as :mod:`recommender.sqlite` migration steps
(PostgreSQL: ``recommender/migrations/0002.events.sql``)."""


def _sqlite_functions(db: sqlite3.Connection) -> None:
    # SQLite has power() only when built with its math functions; not every
    # Python's is, so the store brings its own (PostgreSQL has it built in).
    db.create_function("power", 2, math.pow, deterministic=True)


class EventAggregates:
    """The reader event aggregates in SQL (an :class:`~recommender.stores.EventStore`):
    a SQLite file of their own, or the shared PostgreSQL schema.

    Args:
        source: the SQLite file, or a PostgreSQL store database.
        half_life_days: the counts halve every this many days.
        now: the clock that stamps updates and decays reads.
    """

    def __init__(
        self, source: Path | str | SqlDatabase, half_life_days: float, now: Clock = system_clock
    ) -> None:
        self.db = database_at(source, SCHEMA, on_connect=_sqlite_functions)
        self.half_life = half_life_days * 86_400.0
        self.now = now

    def _seconds(self) -> float:
        return self.now().timestamp()

    def add(self, counts: EventCounts) -> None:
        """Add one batch's counts to the aggregates, all in one transaction."""
        now = self._seconds()
        decay = (DECAY_HORIZON * self.half_life, self.half_life) * 2
        rows: list[tuple[Mapping[Any, Counts], _Table]] = [
            (counts.shown, SHOWN),
            (counts.pairs, PAIRS),
            (counts.positions, POSITIONS),
        ]
        with self.db.write() as db:
            for table_counts, table in rows:
                # Sorted: two hosts' batches take their row locks in one order.
                ordered = sorted(table_counts.items())
                for start in range(0, len(ordered), ROWS_PER_STATEMENT):
                    chunk = ordered[start : start + ROWS_PER_STATEMENT]
                    values = [
                        value
                        for key, counts in chunk
                        for value in (*key, counts.impressions, counts.clicks, now)
                    ]
                    db.execute(table.upsert(len(chunk)), (*values, *decay))

    def _read(self, table: _Table, where: str, parameters: tuple[Any, ...]) -> list[Any]:
        now = self._seconds()
        rows = self.db.query(table.select(where), parameters)
        width = len(table.keys)
        return [
            (
                tuple(row[:width]),
                Counts(
                    decayed(float(row[width]), float(row[width + 2]), now, self.half_life),
                    decayed(float(row[width + 1]), float(row[width + 2]), now, self.half_life),
                ),
            )
            for row in rows
        ]

    def shown(self, article_id: str) -> dict[tuple[str, str], Counts]:
        """The article's counts wherever it was shown, by (block, variant), decayed to now."""
        return {
            (key[1], key[2]): counts
            for key, counts in self._read(SHOWN, "shown = ?", (article_id,))
        }

    def pairs(self, source: str) -> dict[str, Counts]:
        """The counts of each article shown on ``source``'s page, decayed to now."""
        return {key[1]: counts for key, counts in self._read(PAIRS, "source = ?", (source,))}

    def positions(self) -> dict[tuple[str, str, int], Counts]:
        """The counts of every (shown article, block, position), decayed to now: what
        tells how much the position alone draws clicks from how much the article
        does (:mod:`recommender.clicks`)."""
        return {
            (key[0], key[1], int(key[2])): counts for key, counts in self._read(POSITIONS, "", ())
        }

    def variants(self) -> dict[tuple[str, str], Counts]:
        """The counts of every (block, variant), summed over the shown articles and
        decayed to now (how A/B test variants compare)."""
        now = self._seconds()

        def decayed_sum(column: str) -> str:
            # decayed() in SQL, summed: 0 past the horizon, no growth backwards.
            return (
                f"SUM(CASE WHEN ? - as_of >= ? THEN 0 WHEN ? - as_of <= 0 THEN {column} "
                f"ELSE {column} * power(0.5, (? - as_of) / ?) END)"
            )

        sql = (
            f"SELECT block, variant, {decayed_sum('impressions')}, {decayed_sum('clicks')} "
            "FROM event_shown GROUP BY block, variant"
        )
        each = (now, DECAY_HORIZON * self.half_life, now, now, self.half_life)
        rows = self.db.query(sql, each * 2)
        return {(block, variant): Counts(float(i), float(c)) for block, variant, i, c in rows}

    def close(self) -> None:
        """Release this thread's connection (SQLite; PostgreSQL's are shared)."""
        self.db.close()


__all__ = [
    "BLOCKS",
    "DEFAULT_VARIANT",
    "EVENT_TYPES",
    "MAX_POSITION",
    "MAX_VARIANT_LENGTH",
    "SCHEMA",
    "TABLES",
    "Counts",
    "Event",
    "EventAggregates",
    "EventCounts",
    "Shown",
    "article_events",
    "check_articles",
    "decayed",
    "parse_batch",
    "record_events",
]
