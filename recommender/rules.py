"""Editorial rules: pins, blocks, global excludes and featured overrides.

Editors correct the ranking without touching the corpus or reindexing:

- a **pin** puts article B at a 1-based position in the related list under article A;
- a **block** keeps article B out of every list under article A;
- a **global exclude** keeps article B out of every list under every article;
- a **featured override** forces B's featured flag on or off.

The rules live in one SQLite file beside the snapshots (``rules.sqlite``), with a
change counter that every server process reads on each call (the pattern of
:mod:`recommender.live`), so a change is served by every process on its next
request and survives restarts. Every change is also written to an audit table
with who made it and when. The ranker applies the rules at serve time; see
:meth:`recommender.ranking.Ranker.related`.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import ExperimentConflict, ExperimentNotFound, InvalidRule
from .experiments import Experiment, Variant, check_experiment
from .sql import SqlConnection, SqlDatabase
from .sqlite import database_at, statements

MAX_PIN_POSITION = 50  # pins lie within the longest list a request may ask for


@dataclass(frozen=True)
class Pin:
    """Article ``article_id`` shown at ``position`` (1-based) in a related list."""

    article_id: str
    position: int


@dataclass(frozen=True)
class RuleRecord:
    """One rule in force, with who set it and when (for listings)."""

    kind: str  # "pin", "block", "exclude" or "featured"
    article_id: str | None  # the article the rule sits under; None for global rules
    target_id: str
    value: Any  # the pin's position, the featured flag; None for blocks and excludes
    who: str
    at: str

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready mapping."""
        return {
            "kind": self.kind,
            "article_id": self.article_id,
            "target_id": self.target_id,
            "value": self.value,
            "who": self.who,
            "at": self.at,
        }


@dataclass(frozen=True)
class AuditEntry:
    """One change to the rules."""

    seq: int
    at: str
    who: str
    action: str
    article_id: str | None
    target_id: str | None
    detail: str | None

    def to_json(self) -> dict[str, Any]:
        """The entry as a JSON-ready mapping."""
        return {
            "seq": self.seq,
            "at": self.at,
            "who": self.who,
            "action": self.action,
            "article_id": self.article_id,
            "target_id": self.target_id,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class ArticleRules:
    """The rules that sit under one article (and its own featured override)."""

    article_id: str
    pins: tuple[Pin, ...] = ()
    blocks: tuple[str, ...] = ()
    featured: bool | None = None

    def __bool__(self) -> bool:
        return bool(self.pins or self.blocks or self.featured is not None)


@dataclass(frozen=True)
class RuleSet:
    """Every rule as of one version (the change counter)."""

    version: int = 0
    pins: Mapping[str, tuple[Pin, ...]] = field(default_factory=dict)
    blocks: Mapping[str, frozenset[str]] = field(default_factory=dict)
    excludes: frozenset[str] = frozenset()
    featured: Mapping[str, bool] = field(default_factory=dict)
    experiment: Experiment | None = None
    """The running A/B test, if any."""
    knobs: Mapping[str, float] = field(default_factory=dict)
    """Ranking knobs made the served default by a promoted experiment variant."""

    def for_article(self, article_id: str) -> ArticleRules:
        """The pins and blocks under ``article_id`` and its featured override."""
        return ArticleRules(
            article_id,
            self.pins.get(article_id, ()),
            tuple(sorted(self.blocks.get(article_id, ()))),
            self.featured.get(article_id),
        )

    def hidden_under(self, article_id: str | None) -> frozenset[str]:
        """Ids never to list under ``article_id`` (a draft: None): blocks and excludes."""
        if article_id is None:
            return self.excludes
        return self.excludes | self.blocks.get(article_id, frozenset())


# -- validation: plain domain code, shared by every backend ---------------------------------
#
# The checks that need only the rules themselves run in the store too (every write
# goes through them); the ones that need the ids that exist run only where those
# are known: ``known`` is any container of ids (the engine's catalog, a snapshot's
# id list), and None skips them.


def check_known(field: str, article_id: str, known: Container[str] | None) -> None:
    """Refuse an id that ``known`` does not hold (no check when ``known`` is None).

    Raises:
        InvalidRule: ``no article with id ...``, naming ``field``.
    """
    if known is not None and article_id not in known:
        raise InvalidRule(field, f"no article with id {article_id!r}")


def check_article_rules(
    article_id: str,
    pins: Sequence[Pin],
    blocks: Sequence[str],
    known: Container[str] | None = None,
) -> None:
    """Refuse a rule set for one article that cannot hold.

    Raises:
        InvalidRule: a position outside 1-50, a self-pin, an id or a position
            used twice, an id both pinned and blocked, or an id ``known`` lacks.
    """
    ids: set[str] = set()
    positions: set[int] = set()
    for i, pin in enumerate(pins):
        where = f"pins.{i}"
        if not 1 <= pin.position <= MAX_PIN_POSITION:
            raise InvalidRule(
                f"{where}.position", f"must be a whole number from 1 to {MAX_PIN_POSITION}"
            )
        if pin.article_id == article_id:
            raise InvalidRule(f"{where}.article_id", "an article cannot be pinned under itself")
        if pin.article_id in ids:
            raise InvalidRule(f"{where}.article_id", f"{pin.article_id!r} is pinned twice")
        if pin.position in positions:
            raise InvalidRule(f"{where}.position", f"position {pin.position} is used twice")
        ids.add(pin.article_id)
        positions.add(pin.position)
        check_known(f"{where}.article_id", pin.article_id, known)
    seen: set[str] = set()
    for i, blocked in enumerate(blocks):
        if blocked in ids:
            raise InvalidRule(f"blocks.{i}", f"{blocked!r} is also pinned")
        if blocked in seen:
            raise InvalidRule(f"blocks.{i}", f"{blocked!r} is listed twice")
        seen.add(blocked)
        check_known(f"blocks.{i}", blocked, known)


def check_excludes(ids: Sequence[str], known: Container[str] | None = None) -> None:
    """Refuse a list of global excludes that repeats an id or names one ``known`` lacks.

    Raises:
        InvalidRule: naming ``ids.<n>``.
    """
    seen: set[str] = set()
    for i, target in enumerate(ids):
        if target in seen:
            raise InvalidRule(f"ids.{i}", f"{target!r} is listed twice")
        seen.add(target)
        check_known(f"ids.{i}", target, known)


def check_pin(
    current: ArticleRules, target_id: str, position: int, known: Container[str] | None = None
) -> None:
    """Refuse pinning ``target_id`` at ``position`` under ``current.article_id``, given
    the rules ``current`` already under it (a pin of the same target moves).

    Raises:
        InvalidRule: a bad position, a self-pin, a position another article holds,
            a blocked target, or an id ``known`` lacks.
    """
    article_id = current.article_id
    others = [pin for pin in current.pins if pin.article_id != target_id]
    taken = next((pin for pin in others if pin.position == position), None)
    if taken is not None:
        raise InvalidRule(
            "position",
            f"position {position} under {article_id!r} holds {taken.article_id!r}; "
            "remove that pin first",
        )
    if target_id in current.blocks:
        raise InvalidRule(
            "article_id", f"{target_id!r} is blocked under {article_id!r}; remove the block"
        )
    check_known("article_id", article_id, known)
    check_article_rules(article_id, [*others, Pin(target_id, position)], (), known)


def check_block(current: ArticleRules, target_id: str, known: Container[str] | None = None) -> None:
    """Refuse blocking ``target_id`` under ``current.article_id``.

    Raises:
        InvalidRule: the target is pinned there, or an id ``known`` lacks.
    """
    if any(pin.article_id == target_id for pin in current.pins):
        raise InvalidRule(
            "article_id",
            f"{target_id!r} is pinned under {current.article_id!r}; remove the pin",
        )
    check_known("article_id", current.article_id, known)
    check_known("target_id", target_id, known)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


SCHEMA = (
    statements(
        """CREATE TABLE IF NOT EXISTS pins (
            article_id TEXT NOT NULL, target_id TEXT NOT NULL, position INTEGER NOT NULL,
            who TEXT NOT NULL, at TEXT NOT NULL,
            PRIMARY KEY (article_id, target_id), UNIQUE (article_id, position)
        )""",
        """CREATE TABLE IF NOT EXISTS blocks (
            article_id TEXT NOT NULL, target_id TEXT NOT NULL,
            who TEXT NOT NULL, at TEXT NOT NULL,
            PRIMARY KEY (article_id, target_id)
        )""",
        """CREATE TABLE IF NOT EXISTS excludes (
            target_id TEXT PRIMARY KEY, who TEXT NOT NULL, at TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS featured (
            target_id TEXT PRIMARY KEY, value INTEGER NOT NULL,
            who TEXT NOT NULL, at TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS audit (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT NOT NULL,
            action TEXT NOT NULL, article_id TEXT, target_id TEXT, detail TEXT
        )""",
        "CREATE TABLE IF NOT EXISTS counter (one INTEGER PRIMARY KEY, seq INTEGER NOT NULL)",
        "INSERT OR IGNORE INTO counter VALUES (1, 0)",
    ),
    # Named apart from the other store's counter, so PostgreSQL can hold both in one schema.
    statements("ALTER TABLE counter RENAME TO rules_counter"),
    # A/B tests of ranking knobs (recommender/experiments.py), and the knobs a stopped
    # experiment's winner made the served default.
    statements(
        """CREATE TABLE IF NOT EXISTS experiments (
            id TEXT PRIMARY KEY, variants TEXT NOT NULL, status TEXT NOT NULL,
            started TEXT NOT NULL, stopped TEXT, promoted TEXT, who TEXT NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS served_knobs (
            name TEXT PRIMARY KEY, value DOUBLE PRECISION NOT NULL,
            who TEXT NOT NULL, at TEXT NOT NULL
        )""",
    ),
)
"""The ``rules.sqlite`` schema, as :mod:`recommender.sqlite` migration steps."""


EXPERIMENT_COLUMNS = "id, variants, status, started, stopped, promoted, who"


def _experiment(row: Sequence[Any]) -> Experiment:
    """An experiment from its row (columns: :data:`EXPERIMENT_COLUMNS`)."""
    experiment_id, variants, status, started, stopped, promoted, who = row
    return Experiment(
        experiment_id, Experiment.variants_from(variants), status, started, stopped, promoted, who
    )


class RuleStore:
    """The rules in SQLite, with a change counter that only grows and an audit log.

    The store refuses rules that cannot hold whatever the corpus holds (the
    ``check_*`` functions without ``known``); whether the ids they name exist is
    for the caller to check first (:class:`~recommender.engine.Engine` against
    what it serves, :class:`~recommender.editing.RuleEditor` against the published
    snapshot's ids).

    Args:
        path: the database file (created on first use).
    """

    def __init__(self, source: Path | str | SqlDatabase) -> None:
        self.db = database_at(source, SCHEMA)

    @staticmethod
    def _log(
        db: SqlConnection,
        who: str,
        action: str,
        article_id: str | None,
        target_id: str | None,
        detail: str | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO audit (at, who, action, article_id, target_id, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (_now(), who, action, article_id, target_id, detail),
        )
        db.execute("UPDATE rules_counter SET seq = seq + 1 WHERE one = 1")

    # -- reads -----------------------------------------------------------------------

    def version(self) -> int:
        """The change counter (0 before any change); cheap enough to read per request."""
        rows = self.db.query("SELECT seq FROM rules_counter WHERE one = 1")
        return int(rows[0][0]) if rows else 0

    def load(self) -> RuleSet:
        """Every rule, as of now."""
        with self.db.read() as db:  # the rows and the counter agree
            seq = int(db.execute("SELECT seq FROM rules_counter WHERE one = 1").fetchone()[0])
            pin_rows = db.execute(
                "SELECT article_id, target_id, position FROM pins ORDER BY article_id, position"
            ).fetchall()
            block_rows = db.execute("SELECT article_id, target_id FROM blocks").fetchall()
            exclude_rows = db.execute("SELECT target_id FROM excludes").fetchall()
            featured_rows = db.execute("SELECT target_id, value FROM featured").fetchall()
            running = db.execute(
                f"SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE status = 'running'"
            ).fetchall()
            knob_rows = db.execute("SELECT name, value FROM served_knobs").fetchall()
        pins: dict[str, list[Pin]] = {}
        for article_id, target_id, position in pin_rows:
            pins.setdefault(article_id, []).append(Pin(target_id, int(position)))
        blocks: dict[str, set[str]] = {}
        for article_id, target_id in block_rows:
            blocks.setdefault(article_id, set()).add(target_id)
        return RuleSet(
            version=seq,
            pins={a: tuple(p) for a, p in pins.items()},
            blocks={a: frozenset(b) for a, b in blocks.items()},
            excludes=frozenset(row[0] for row in exclude_rows),
            featured={target: bool(value) for target, value in featured_rows},
            experiment=_experiment(running[0]) if running else None,
            knobs={name: float(value) for name, value in knob_rows},
        )

    def experiments(self) -> list[Experiment]:
        """Every experiment, the newest first."""
        rows = self.db.query(
            f"SELECT {EXPERIMENT_COLUMNS} FROM experiments ORDER BY started DESC, id"
        )
        return [_experiment(row) for row in rows]

    def start_experiment(self, experiment_id: str, variants: Sequence[Variant], who: str) -> int:
        """Start an A/B test; returns the new version.

        Raises:
            InvalidRule: the variants cannot hold (see :func:`check_experiment`).
            ExperimentConflict: another experiment is running, or the id was used.
        """
        checked = check_experiment(experiment_id, variants)
        experiment = Experiment(experiment_id, checked)
        with self.db.write() as db:
            running = db.execute("SELECT id FROM experiments WHERE status = 'running'").fetchall()
            if running:
                raise ExperimentConflict(f"experiment {running[0][0]!r} is running: stop it first")
            if db.execute("SELECT 1 FROM experiments WHERE id = ?", (experiment_id,)).fetchall():
                raise ExperimentConflict(f"experiment {experiment_id!r} exists already")
            db.execute(
                "INSERT INTO experiments (id, variants, status, started, who) "
                "VALUES (?, ?, 'running', ?, ?)",
                (experiment_id, experiment.definition(), _now(), who),
            )
            self._log(db, who, "start-experiment", None, experiment_id, experiment.definition())
        return self.version()

    def stop_experiment(self, experiment_id: str, promote: str | None, who: str) -> int:
        """Stop the running experiment ``experiment_id``; with ``promote``, that
        variant's knobs become the served default. Returns the new version.

        Raises:
            ExperimentNotFound: no experiment has that id.
            ExperimentConflict: it is not running.
            InvalidRule: ``promote`` names no variant of it.
        """
        with self.db.write() as db:
            rows = db.execute(
                f"SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE id = ?", (experiment_id,)
            ).fetchall()
            if not rows:
                raise ExperimentNotFound(experiment_id)
            experiment = _experiment(rows[0])
            if experiment.status != "running":
                raise ExperimentConflict(f"experiment {experiment_id!r} is stopped already")
            knobs = experiment.variant(promote).knobs if promote is not None else {}
            db.execute(
                "UPDATE experiments SET status = 'stopped', stopped = ?, promoted = ? WHERE id = ?",
                (_now(), promote, experiment_id),
            )
            self._log(db, who, "stop-experiment", None, experiment_id, promote)
            for name, value in knobs.items():
                db.execute(
                    "INSERT INTO served_knobs (name, value, who, at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
                    "who = excluded.who, at = excluded.at",
                    (name, float(value), who, _now()),
                )
                self._log(db, who, "serve-knob", None, name, repr(float(value)))
        return self.version()

    def reset_knobs(self, who: str) -> int:
        """Serve the settings' knobs again (forget promoted ones); returns the new version."""
        with self.db.write() as db:
            names = [row[0] for row in db.execute("SELECT name FROM served_knobs ORDER BY name")]
            db.execute("DELETE FROM served_knobs")
            for name in names:
                self._log(db, who, "reset-knob", None, name)
        return self.version()

    def records(self, article_id: str | None = None) -> list[RuleRecord]:
        """The rules in force with who set them and when; only those about
        ``article_id`` (under it, or on it) when given."""
        queries = [
            ("pin", "SELECT article_id, target_id, position, who, at FROM pins"),
            ("block", "SELECT article_id, target_id, NULL, who, at FROM blocks"),
            ("exclude", "SELECT NULL, target_id, NULL, who, at FROM excludes"),
            ("featured", "SELECT NULL, target_id, value, who, at FROM featured"),
        ]
        out = []
        with self.db.read() as db:  # every kind as of one moment
            fetched = [(kind, db.execute(sql).fetchall()) for kind, sql in queries]
        for kind, rows in fetched:
            for under, target, value, who, at in rows:
                if article_id is not None and article_id not in (under, target):
                    continue
                if kind == "featured":
                    value = bool(value)
                out.append(RuleRecord(kind, under, target, value, who, at))
        out.sort(key=lambda r: (r.kind, r.article_id or "", r.target_id))
        return out

    def history(self, article_id: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest changes, newest first; only those about ``article_id`` when given."""
        sql = "SELECT seq, at, who, action, article_id, target_id, detail FROM audit"
        params: tuple[Any, ...] = ()
        if article_id is not None:
            sql += " WHERE article_id = ? OR target_id = ?"
            params = (article_id, article_id)
        sql += " ORDER BY seq DESC LIMIT ?"
        rows = self.db.query(sql, (*params, limit))
        return [AuditEntry(*row) for row in rows]

    # -- whole-article and whole-list writes (the API) ----------------------------------

    def replace_article(
        self,
        article_id: str,
        pins: Sequence[Pin],
        blocks: Sequence[str],
        featured: bool | None,
        who: str,
    ) -> int:
        """Replace the pins and blocks under ``article_id`` and its featured override.

        Only actual differences are written and audited. Returns the new version.

        Raises:
            InvalidRule: see :func:`check_article_rules`.
        """
        check_article_rules(article_id, pins, blocks)
        with self.db.write() as db:
            old_pins = dict(
                db.execute(
                    "SELECT target_id, position FROM pins WHERE article_id = ?", (article_id,)
                ).fetchall()
            )
            new_pins = {pin.article_id: pin.position for pin in pins}
            for target, position in old_pins.items():
                if new_pins.get(target) != position:
                    db.execute(
                        "DELETE FROM pins WHERE article_id = ? AND target_id = ?",
                        (article_id, target),
                    )
                    self._log(db, who, "unpin", article_id, target, str(position))
            for target, position in new_pins.items():
                if old_pins.get(target) != position:
                    self._insert_pin(db, article_id, target, position, who)
            old_blocks = {
                row[0]
                for row in db.execute(
                    "SELECT target_id FROM blocks WHERE article_id = ?", (article_id,)
                )
            }
            for target in sorted(old_blocks - set(blocks)):
                self._delete_block(db, article_id, target, who)
            for target in blocks:
                if target not in old_blocks:
                    self._insert_block(db, article_id, target, who)
            self._set_featured(db, article_id, featured, who)
        return self.version()

    def clear_article(self, article_id: str, who: str) -> bool:
        """Remove every rule under ``article_id`` and its featured override; True if any."""
        current = self.load().for_article(article_id)
        if not current:
            return False
        self.replace_article(article_id, (), (), None, who)
        return True

    def replace_excludes(self, ids: Sequence[str], who: str) -> int:
        """Make ``ids`` the global excludes; returns the new version.

        Raises:
            InvalidRule: an id listed twice (``ids.<n>``).
        """
        check_excludes(ids)
        seen = set(ids)
        with self.db.write() as db:
            old = {row[0] for row in db.execute("SELECT target_id FROM excludes")}
            for target in sorted(old - seen):
                db.execute("DELETE FROM excludes WHERE target_id = ?", (target,))
                self._log(db, who, "unexclude", None, target)
            for target in ids:
                if target not in old:
                    db.execute("INSERT INTO excludes VALUES (?, ?, ?)", (target, who, _now()))
                    self._log(db, who, "exclude", None, target)
        return self.version()

    # -- one-rule writes (checked against the ids by RuleEditor) --------------------------

    def add_pin(self, article_id: str, target_id: str, position: int, who: str) -> int:
        """Pin ``target_id`` at ``position`` under ``article_id`` (moving an existing pin).

        Raises:
            InvalidRule: see :func:`check_pin`.
        """
        check_pin(self.load().for_article(article_id), target_id, position)
        with self.db.write() as db:
            db.execute(
                "DELETE FROM pins WHERE article_id = ? AND target_id = ?", (article_id, target_id)
            )
            self._insert_pin(db, article_id, target_id, position, who)
        return self.version()

    def remove_pin(self, article_id: str, target_id: str, who: str) -> bool:
        """Unpin ``target_id`` under ``article_id``; True if it was pinned."""
        with self.db.write() as db:
            row = db.execute(
                "SELECT position FROM pins WHERE article_id = ? AND target_id = ?",
                (article_id, target_id),
            ).fetchone()
            if row is None:
                return False
            db.execute(
                "DELETE FROM pins WHERE article_id = ? AND target_id = ?", (article_id, target_id)
            )
            self._log(db, who, "unpin", article_id, target_id, str(row[0]))
        return True

    def add_block(self, article_id: str, target_id: str, who: str) -> int:
        """Never list ``target_id`` under ``article_id``.

        Raises:
            InvalidRule: the target is pinned there.
        """
        check_block(self.load().for_article(article_id), target_id)
        with self.db.write() as db:
            if not db.execute(
                "SELECT 1 FROM blocks WHERE article_id = ? AND target_id = ?",
                (article_id, target_id),
            ).fetchone():
                self._insert_block(db, article_id, target_id, who)
        return self.version()

    def remove_block(self, article_id: str, target_id: str, who: str) -> bool:
        """Lift a block; True if there was one."""
        with self.db.write() as db:
            if not db.execute(
                "SELECT 1 FROM blocks WHERE article_id = ? AND target_id = ?",
                (article_id, target_id),
            ).fetchone():
                return False
            self._delete_block(db, article_id, target_id, who)
        return True

    def add_exclude(self, target_id: str, who: str) -> int:
        """Never list ``target_id`` anywhere."""
        with self.db.write() as db:
            if not db.execute(
                "SELECT 1 FROM excludes WHERE target_id = ?", (target_id,)
            ).fetchone():
                db.execute("INSERT INTO excludes VALUES (?, ?, ?)", (target_id, who, _now()))
                self._log(db, who, "exclude", None, target_id)
        return self.version()

    def remove_exclude(self, target_id: str, who: str) -> bool:
        """Lift a global exclude; True if there was one."""
        with self.db.write() as db:
            if not db.execute(
                "SELECT 1 FROM excludes WHERE target_id = ?", (target_id,)
            ).fetchone():
                return False
            db.execute("DELETE FROM excludes WHERE target_id = ?", (target_id,))
            self._log(db, who, "unexclude", None, target_id)
        return True

    def set_featured(self, target_id: str, value: bool | None, who: str) -> int:
        """Force ``target_id``'s featured flag on or off; None removes the override."""
        with self.db.write() as db:
            self._set_featured(db, target_id, value, who)
        return self.version()

    # -- row helpers (inside a write transaction) -----------------------------------------

    def _insert_pin(
        self, db: SqlConnection, article_id: str, target_id: str, position: int, who: str
    ) -> None:
        db.execute(
            "INSERT INTO pins VALUES (?, ?, ?, ?, ?)",
            (article_id, target_id, position, who, _now()),
        )
        self._log(db, who, "pin", article_id, target_id, str(position))

    def _insert_block(self, db: SqlConnection, article_id: str, target_id: str, who: str) -> None:
        db.execute("INSERT INTO blocks VALUES (?, ?, ?, ?)", (article_id, target_id, who, _now()))
        self._log(db, who, "block", article_id, target_id)

    def _delete_block(self, db: SqlConnection, article_id: str, target_id: str, who: str) -> None:
        db.execute(
            "DELETE FROM blocks WHERE article_id = ? AND target_id = ?", (article_id, target_id)
        )
        self._log(db, who, "unblock", article_id, target_id)

    def _set_featured(
        self, db: SqlConnection, target_id: str, value: bool | None, who: str
    ) -> None:
        row = db.execute("SELECT value FROM featured WHERE target_id = ?", (target_id,)).fetchone()
        old = None if row is None else bool(row[0])
        if old == value:
            return
        if value is None:
            db.execute("DELETE FROM featured WHERE target_id = ?", (target_id,))
            self._log(db, who, "featured", None, target_id, "cleared")
        else:
            db.execute(
                "INSERT INTO featured VALUES (?, ?, ?, ?) ON CONFLICT (target_id) "
                "DO UPDATE SET value = excluded.value, who = excluded.who, at = excluded.at",
                (target_id, int(value), who, _now()),
            )
            self._log(db, who, "featured", None, target_id, "on" if value else "off")
