"""The one way the SQLite stores open their files and write to them.

Each store (live changes, rules, jobs, the embedding cache) is one
:class:`Database`: a connection per thread (a ``sqlite3`` connection must not be
shared between threads without a lock), WAL journaling (readers never wait for a
writer), a busy timeout (a writer waits for another process's write instead of
failing), and a schema version kept in ``PRAGMA user_version``.

The schema is a list of ordered migration steps: step *i* takes a file from
version *i* to *i + 1*. On first use the steps a file has not seen run, all in
one ``BEGIN IMMEDIATE`` transaction, and the version is raised, so two processes
opening a new file at once run each step exactly once. Files written before
versions were kept read as version 0, so each store's first step is written to
accept them (``CREATE TABLE IF NOT EXISTS``, :func:`add_columns`): an index written
by older code still opens.

Writes go through :meth:`Database.write` only: ``BEGIN IMMEDIATE`` takes the write
lock up front, so a read-check-write sequence cannot interleave with another
process's, and any exception rolls the whole transaction back.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .sql import SqlDatabase

Step = Callable[[sqlite3.Connection], None]
"""One migration step: runs inside the migration's write transaction."""

BUSY_TIMEOUT = 30.0
"""Seconds a statement waits for another connection's lock before failing."""


def statements(*sql: str) -> Step:
    """A migration step that runs these statements in order.

    (``executescript`` would commit the migration's transaction first, so each
    statement is run on its own.)
    """

    def step(db: sqlite3.Connection) -> None:
        for statement in sql:
            db.execute(statement)

    return step


def add_columns(table: str, wanted: dict[str, str]) -> Step:
    """A migration step that adds the columns of ``wanted`` (name → type) that
    ``table`` lacks: files written before the step existed may hold some already."""

    def step(db: sqlite3.Connection) -> None:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for name, kind in wanted.items():
            if name not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    return step


class Database:
    """One SQLite file with its schema.

    Args:
        path: the database file (created, with its directory, on first use).
        migrations: the schema's ordered steps; the file's ``user_version`` counts
            those it has run.
        timeout: the busy timeout, in seconds.
        on_connect: called with each new connection before first use (a store
            registers the SQL functions its statements need there).
    """

    def __init__(
        self,
        path: Path | str,
        migrations: Sequence[Step],
        timeout: float = BUSY_TIMEOUT,
        on_connect: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.migrations = tuple(migrations)
        self.timeout = timeout
        self.on_connect = on_connect
        self._local = threading.local()

    @property
    def schema_version(self) -> int:
        """The version the migrations bring a file to."""
        return len(self.migrations)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened (and the schema brought up to date) on
        first use. It is in autocommit mode: transactions are opened explicitly.

        A process forked after the parent opened one opens its own: SQLite
        connections must not cross a fork (the inherited one is left alone).
        """
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            try:
                if self.on_connect is not None:
                    self.on_connect(db)
                use_wal(db, self.timeout)
                self._migrate(db)
            except BaseException:
                db.close()
                raise
            self._local.db = db
            self._local.pid = os.getpid()
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        if _user_version(db) >= self.schema_version:
            return
        with _immediate(db):
            # Read again under the write lock: another process may have migrated.
            done = _user_version(db)
            for step in self.migrations[done:]:
                step(db)
            if done < self.schema_version:
                # PRAGMA takes no parameters; the value is an int we computed.
                db.execute(f"PRAGMA user_version = {self.schema_version:d}")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed when the block ends,
        rolled back when it raises."""
        with _immediate(self.connection()) as db:
            yield db

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query in the block sees the same state."""
        db = self.connection()
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """The rows of one read statement (autocommit: no transaction to open)."""
        return self.connection().execute(sql, parameters).fetchall()

    def close(self) -> None:
        """Close this thread's connection (the next use opens a new one)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None and getattr(self._local, "pid", None) == os.getpid():
            db.close()
        self._local.db = None


def database_at(
    source: Path | str | SqlDatabase,
    migrations: Sequence[Step],
    on_connect: Callable[[sqlite3.Connection], None] | None = None,
) -> SqlDatabase:
    """The database a store was given: a file path opens a :class:`Database` with the
    store's SQLite ``migrations`` (and ``on_connect``); anything else (PostgreSQL) is
    used as it is."""
    if isinstance(source, (str, os.PathLike)):
        return Database(source, migrations, on_connect=on_connect)
    return source


def use_wal(
    db: sqlite3.Connection, timeout: float, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Put the file in WAL mode, waiting up to ``timeout`` seconds for other
    connections to let go of it.

    Switching the journal mode needs the file to itself, and SQLite answers "database
    is locked" at once rather than calling the busy handler: two server workers
    opening a new rules file together made one fail its first request. The mode is
    kept in the file, so only the first opener switches it; the others see it set.

    Raises:
        sqlite3.OperationalError: still locked after ``timeout``, or another error.
    """
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            (mode,) = db.execute("PRAGMA journal_mode").fetchone()
            if str(mode).lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        sleep(pause)
        pause = min(pause * 2, 0.1)


def _user_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


@contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


__all__ = [
    "BUSY_TIMEOUT",
    "Database",
    "Step",
    "add_columns",
    "database_at",
    "statements",
    "use_wal",
]
