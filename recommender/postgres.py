"""PostgreSQL for the shared state: several servers on several hosts, one state.

With ``RECOMMENDER_DATABASE_URL=postgresql://…`` every piece of mutable state
lives in the schema ``recommender`` of one PostgreSQL database: the live changes,
the editorial rules with their audit log, the jobs, the embedding cache, the
reader event aggregates, the published snapshot version (a row) and the name of
the build lock's holder. The snapshot files stay in the index directory, which
every host mounts (a shared volume); a build writes them under the build lock
and publishes them only once they are complete.

* **Stores.** The live, rule, job, cache and event stores are the same classes as with
  SQLite, handed a :class:`PostgresDatabase` instead of a file: their SQL is the
  subset both read alike (:mod:`recommender.sql`).
* **Connections.** Transactions borrow a connection from a ``psycopg_pool`` pool.
  The change counters read on every request go through one plain connection per
  thread instead: a pool waits up to its timeout for a connection while the
  database is down, and a reader must learn that in milliseconds and answer from
  what it loaded (see :meth:`PostgresDatabase.query`).
* **Writes** of one store are serialised by a transaction-scoped advisory lock,
  as ``BEGIN IMMEDIATE`` does in SQLite: a read-check-write sequence (one job at a
  time, a pin's position) cannot interleave with another host's.
* **The build lock** is a session advisory lock (:class:`AdvisoryLock`): the
  server releases it when the holder's connection ends, on ``kill -9`` or a lost
  host alike, and it holds across hosts where ``fcntl`` locks do not (NFS).
* **Migrations** are the SQL files of ``recommender/migrations``, applied by
  ``recommender db upgrade`` with yoyo-migrations (plain SQL, no ORM, its own
  lock against two upgrades at once). A server whose schema is behind refuses to
  start, naming the command (:class:`~recommender.errors.SchemaBehind`).

Failures to reach the database raise :class:`~recommender.errors.StateUnavailable`
(the API answers 503); the engine keeps serving what it loaded.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import IndexLocked, InvalidArgument, SchemaBehind, StateUnavailable
from .layout import IndexLayout
from .locking import HeldWhileInside, describe_holder, holder_info
from .sql import Rows, SqlConnection

log = logging.getLogger(__name__)

SCHEMA = "recommender"
"""The PostgreSQL schema holding every table (the migrations create it)."""

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The schema's migration steps, in yoyo-migrations' plain-SQL format."""

LOCK_KEY = zlib.crc32(b"recommender build lock")
"""The advisory lock key of the build lock (a fixed number every host agrees on)."""


def _drivers() -> tuple[Any, Any]:
    """psycopg and psycopg_pool, or a clear error naming the extra to install."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:  # installed without the extra
        raise InvalidArgument(
            "database_url",
            "a PostgreSQL URL needs the psycopg and psycopg-pool packages: "
            f"pip install 'recommender[postgresql]' ({exc})",
        ) from None
    return psycopg, psycopg_pool


def _unreachable(url: str, exc: BaseException) -> StateUnavailable:
    # The message names the server, never the password.
    return StateUnavailable(f"PostgreSQL at {_redacted(url)} is unreachable: {exc}".strip())


def _redacted(url: str) -> str:
    """``url`` without its password and query (which may hold one too)."""
    scheme, sep, rest = url.split("?", 1)[0].partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return f"{scheme}{sep}{rest}"
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}@{host}"


@lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    """The stores' ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Connection:
    """A psycopg connection that reads the stores' SQL (``?`` placeholders)."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows:
        result: Rows = self._connection.execute(_pyformat(sql), tuple(parameters))
        return result

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> None:
        with self._connection.cursor() as cursor:
            cursor.executemany(_pyformat(sql), [tuple(row) for row in rows])


class _Owned:
    """A thread's own connection, closed when the thread ends (its thread-local
    storage goes, and this with it) or when a query on it fails."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.pid = os.getpid()

    def __del__(self) -> None:
        # A connection inherited over fork is the parent's: never closed here.
        if self.pid == os.getpid():
            with suppress(Exception):
                self.connection.close()


class Connections:
    """This process's connections to one database, shared by every store.

    Args:
        url: the database, ``postgresql://user:password@host:port/name``.
        timeout: seconds to wait for a pooled connection, and to connect.
        pool_size: the most connections this process opens for transactions.
    """

    def __init__(self, url: str, timeout: float = 5.0, pool_size: int = 4) -> None:
        self.url = url
        self.timeout = timeout
        self.pool_size = pool_size
        self.psycopg, self._pool_module = _drivers()
        self._pool: Any = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()
        self._local = threading.local()

    def options(self) -> dict[str, Any]:
        """The keyword arguments of every connection."""
        return {
            "autocommit": True,
            "connect_timeout": max(1, round(self.timeout)),
            "options": f"-c search_path={SCHEMA}",
            "application_name": "recommender",
        }

    def connect(self) -> Any:
        """A new connection of its own (the caller closes it).

        Raises:
            StateUnavailable: the database cannot be reached.
        """
        try:
            return self.psycopg.connect(self.url, **self.options())
        except self.psycopg.OperationalError as exc:
            raise _unreachable(self.url, exc) from exc

    def _get_pool(self) -> Any:
        """This process's pool, made on first use and again after a failure.

        A new pool is made only after one plain connection succeeds: while the
        database is down, a write learns it at once instead of waiting out the
        pool's timeout, and the first write after it returns gets a fresh pool
        rather than one backing off between reconnection attempts.
        """
        pool = self._pool
        if pool is not None and self._pool_pid == os.getpid():
            return pool
        with self._pool_lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self.connect().close()
                # A pool inherited over fork belongs to the parent: left alone, not closed.
                self._pool = self._pool_module.ConnectionPool(
                    self.url,
                    kwargs=self.options(),
                    min_size=1,
                    max_size=self.pool_size,
                    timeout=self.timeout,
                    check=self._pool_module.ConnectionPool.check_connection,
                    name="recommender",
                    num_workers=1,  # reconnections and growth only: few are ever needed
                    open=True,
                )
                self._pool_pid = os.getpid()
                _holding.add(self)
            return self._pool

    def _discard_pool(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pool_pid == os.getpid():
            pool.close(timeout=0)

    @contextmanager
    def transaction(self, begin: str) -> Iterator[SqlConnection]:
        """A transaction on a pooled connection, opened with the statement ``begin``.

        Raises:
            StateUnavailable: the database cannot be reached (the pool is made anew).
        """
        try:
            with self._get_pool().connection() as connection, connection.transaction():
                if begin:
                    connection.execute(begin)
                yield _Connection(connection)
        except (self.psycopg.OperationalError, self._pool_module.PoolTimeout) as exc:
            self._discard_pool()
            raise _unreachable(self.url, exc) from exc

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """The rows of one read statement, on this thread's own connection.

        Not pooled: this is the per-request change check, and it must fail in
        milliseconds (a refused connection) while the database is down, rather
        than wait for a pooled connection. A broken connection is dropped; the
        next call connects again.

        Raises:
            StateUnavailable: the database cannot be reached.
        """
        owned: _Owned | None = getattr(self._local, "owned", None)
        if owned is None or owned.pid != os.getpid() or owned.connection.closed:
            owned = self._local.owned = _Owned(self.connect())
            _holding.add(self)
        try:
            rows: list[Any] = owned.connection.execute(_pyformat(sql), tuple(parameters)).fetchall()
        except self.psycopg.OperationalError as exc:
            self._local.owned = None  # closed by _Owned; the next call connects again
            raise _unreachable(self.url, exc) from exc
        return rows

    def close(self) -> None:
        """Close this thread's connection and this process's pool."""
        self._local.owned = None
        self._discard_pool()
        _holding.discard(self)


class PostgresDatabase:
    """The tables of one store in the shared schema (an :class:`~recommender.sql.SqlDatabase`).

    Args:
        connections: the process's connections to the database.
        store: the store's name; its writes are serialised under a lock of that name.
    """

    def __init__(self, connections: Connections, store: str) -> None:
        self.connections = connections
        self.store = store
        self.lock_key = zlib.crc32(f"recommender {store} writes".encode())

    def write(self) -> Any:
        """A write transaction, serialised with every other write of this store."""
        return self.connections.transaction(f"SELECT pg_advisory_xact_lock({self.lock_key:d})")

    def read(self) -> Any:
        """A read transaction that sees one snapshot of the database throughout."""
        return self.connections.transaction(
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        )

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """The rows of one read statement (see :meth:`Connections.query`)."""
        return self.connections.query(sql, parameters)

    def close(self) -> None:
        """Nothing to release per store: the connections are shared (:meth:`Connections.close`)."""


class PublishedRow:
    """The published snapshot version as one row (a
    :class:`~recommender.stores.VersionPointer`).

    Switching it is one ``UPDATE`` in one transaction: every server reads the old
    version or the new one.
    """

    def __init__(self, connections: Connections) -> None:
        self.db = PostgresDatabase(connections, "published")

    def current_version(self) -> str | None:
        """The published version, or None if nothing has been published."""
        rows = self.db.query("SELECT version FROM published WHERE one = 1")
        return str(rows[0][0]) if rows else None

    def point_to(self, version: str) -> None:
        """Publish ``version``."""
        with self.db.write() as db:
            db.execute(
                "INSERT INTO published VALUES (1, ?, ?) ON CONFLICT (one) "
                "DO UPDATE SET version = excluded.version, at = excluded.at",
                (version, datetime.now(UTC)),
            )


class CounterRow:
    """Both change counters in one round trip (a :class:`~recommender.stores.ChangeCounters`):
    what every request reads."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    def read(self) -> tuple[int, int]:
        """(live sequence, rules version).

        Raises:
            StateUnavailable: the database cannot be reached.
        """
        ((live, rules),) = self.connections.query(
            "SELECT (SELECT seq FROM live_counter WHERE one = 1), "
            "(SELECT seq FROM rules_counter WHERE one = 1)"
        )
        return int(live), int(rules)


class AdvisoryLock(HeldWhileInside):
    """The build lock as a PostgreSQL session advisory lock (a
    :class:`~recommender.stores.BuildLock`).

    The lock lives as long as the connection that took it: PostgreSQL releases it
    when the holder's process dies or its host drops off, so a crashed build never
    leaves it behind. The holder's name (pid, host, purpose, since when) is kept
    in a row for the messages of whoever finds it taken.

    Args:
        connections: the database (the lock takes a connection of its own).
        purpose: what the holder is doing, shown to whoever waits.
    """

    def __init__(self, connections: Connections, purpose: str = "reindex") -> None:
        self.connections = connections
        self.purpose = purpose
        self._connection: Any = None

    def holder(self) -> str:
        """A description of the current holder (or of the last one, if none holds it)."""
        try:
            rows = self.connections.query("SELECT holder FROM lock_holder WHERE one = 1")
        except StateUnavailable:
            return "unknown holder"
        if not rows:
            return "unknown holder"
        return describe_holder(json.loads(rows[0][0]))

    def acquire(self, wait: bool = False, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock.

        Args:
            wait: block until the holder finishes instead of failing.
            on_wait: with ``wait``, called once with :meth:`holder` before blocking.

        Raises:
            IndexLocked: someone else holds it and ``wait`` is False.
            StateUnavailable: the database cannot be reached.
        """
        connection = self.connections.connect()
        try:
            (taken,) = connection.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
            if not taken:
                holder = self.holder()
                if not wait:
                    raise IndexLocked(_redacted(self.connections.url), holder)
                if on_wait is not None:
                    on_wait(holder)
                # Blocks in the server until the holder lets go: no polling.
                connection.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            info = holder_info(self.purpose)
            connection.execute(
                f"INSERT INTO {SCHEMA}.lock_holder VALUES (1, %s) ON CONFLICT (one) "
                "DO UPDATE SET holder = excluded.holder",
                (json.dumps(info),),
            )
        except BaseException:
            connection.close()
            raise
        self._connection = connection

    def is_held_elsewhere(self) -> bool:
        """Whether another session holds the lock right now (without taking it)."""
        if self._connection is not None:
            return False
        rows = self.connections.query(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = ? AND objid = ? AND objsubid = 1",
            (LOCK_KEY >> 32, LOCK_KEY & 0xFFFFFFFF),
        )
        return bool(rows[0][0])

    def release(self) -> None:
        """Give the lock back.

        Unlocked before the connection closes: the server ends a closed session a
        moment later, and until then the lock would still look held to others.
        """
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        except self.connections.psycopg.Error:  # the session is gone, and the lock with it
            pass
        finally:
            connection.close()


class Migrations:
    """The schema's versions in one database, applied with yoyo-migrations.

    Args:
        url: the database.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    def _schema_exists(self) -> bool:
        connection = Connections(self.url).connect()
        try:
            rows = connection.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (SCHEMA,)
            ).fetchall()
        finally:
            connection.close()
        return bool(rows)

    def _backend(self) -> Any:
        from yoyo import get_backend

        _, _, rest = self.url.partition("://")
        separator = "&" if "?" in rest else "?"
        try:
            # yoyo picks the driver by scheme (psycopg 3 is "postgresql+psycopg"), and
            # keeps its own bookkeeping tables in our schema: with the default search
            # path they would land wherever "$user" resolves, which changes once a
            # schema named like the user exists.
            return get_backend(f"postgresql+psycopg://{rest}{separator}schema={SCHEMA}")
        except Exception as exc:  # yoyo re-raises the driver's connection errors
            raise _unreachable(self.url, exc) from exc

    @staticmethod
    def _known() -> Any:
        from yoyo import read_migrations

        return read_migrations(str(MIGRATIONS))

    def pending(self) -> list[str]:
        """The ids of the steps this code has and the database has not run."""
        if not self._schema_exists():
            return [m.id for m in self._known()]
        backend = self._backend()
        try:
            return [m.id for m in backend.to_apply(self._known())]
        finally:
            backend.connection.close()

    def unknown(self) -> list[str]:
        """The hashes of steps the database has run that this code does not know
        (a newer release's)."""
        if not self._schema_exists():
            return []
        backend = self._backend()
        try:
            applied = set(backend.get_applied_migration_hashes())
            return sorted(applied - {m.hash for m in self._known()})
        finally:
            backend.connection.close()

    def upgrade(self) -> list[str]:
        """Run the pending steps (under yoyo's lock: two upgrades at once run each
        step once); returns their ids."""
        connection = Connections(self.url).connect()
        try:
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        finally:
            connection.close()
        backend = self._backend()
        try:
            with backend.lock():
                todo = backend.to_apply(self._known())
                backend.apply_migrations(todo)
            return [m.id for m in todo]
        finally:
            backend.connection.close()

    def check(self) -> None:
        """Raise unless the database's schema is exactly this code's.

        Raises:
            SchemaBehind: steps are pending, or the database has steps this code lacks.
            StateUnavailable: the database cannot be reached.
        """
        pending = self.pending()
        if pending:
            raise SchemaBehind(
                f"the database at {_redacted(self.url)} lacks schema steps {', '.join(pending)}: "
                "run `recommender db upgrade`"
            )
        unknown = self.unknown()
        if unknown:
            raise SchemaBehind(
                f"the database at {_redacted(self.url)} has {len(unknown)} schema step(s) "
                "this version does not know: it was upgraded by a newer release"
            )


__all__ = [
    "LOCK_KEY",
    "MIGRATIONS",
    "SCHEMA",
    "AdvisoryLock",
    "Connections",
    "CounterRow",
    "Migrations",
    "PostgresDatabase",
    "PublishedRow",
    "checked",
    "close_all",
    "copy_from_sqlite",
]


SQLITE_TABLES: dict[str, tuple[str, ...]] = {
    "live": ("changes", "live_counter"),
    "rules": (
        "pins",
        "blocks",
        "excludes",
        "featured",
        "audit",
        "rules_counter",
        "experiments",
        "served_knobs",
    ),
    "jobs": ("jobs",),
    "embeddings": ("embeddings",),
    "events": ("event_shown", "event_pairs", "event_positions"),
}
"""The tables of each SQLite file (named by :class:`~recommender.layout.IndexLayout`)."""

_COUNTERS = ("live_counter", "rules_counter")


def copy_from_sqlite(files: IndexLayout, connections: Connections) -> dict[str, int]:
    """Copy an index directory's SQLite state into an empty PostgreSQL schema.

    Every row of the live changes, the rules and their audit log, the jobs, the
    embedding cache and the reader event aggregates, the change counters, and the
    published version (``CURRENT``),
    in one transaction: the database ends up with all of it or none of it.

    Args:
        files: the index directory whose files are read (each is first brought to
            this code's schema, as opening its store would).
        connections: the database, already upgraded (``recommender db upgrade``).

    Returns:
        Rows copied per table.

    Raises:
        InvalidArgument: the database holds state already (nothing is copied).
        StateUnavailable: the database cannot be reached.
    """
    import sqlite3

    from .embedding import CACHE_SCHEMA
    from .events import SCHEMA as EVENTS_SCHEMA
    from .jobs import SCHEMA as JOBS_SCHEMA
    from .live import SCHEMA as LIVE_SCHEMA
    from .rules import SCHEMA as RULES_SCHEMA
    from .snapshot import PointerFile
    from .sqlite import Database

    sources = {
        "live": (files.live, LIVE_SCHEMA),
        "rules": (files.rules, RULES_SCHEMA),
        "jobs": (files.jobs, JOBS_SCHEMA),
        "embeddings": (files.embeddings, CACHE_SCHEMA),
        "events": (files.events, EVENTS_SCHEMA),
    }
    copied: dict[str, int] = {}
    with connections.transaction("") as target:
        for tables in SQLITE_TABLES.values():
            for table in tables:
                if table in _COUNTERS:
                    (seq,) = target.execute(f"SELECT seq FROM {table}").fetchone()
                    busy = int(seq) != 0
                else:
                    busy = target.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None
                if busy:
                    raise InvalidArgument(
                        "database_url",
                        f"the database already holds state (table {SCHEMA}.{table}): "
                        "migrate into a freshly upgraded, empty database",
                    )
        for name, tables in SQLITE_TABLES.items():
            path, migrations = sources[name]
            if not path.exists():
                continue
            database = Database(path, migrations)
            database.connection()  # brings an older file to this code's tables
            database.close()
            source = sqlite3.connect(path)
            try:
                for table in tables:
                    cursor = source.execute(f"SELECT * FROM {table}")
                    columns = [column[0] for column in cursor.description]
                    rows = cursor.fetchall()
                    if table in _COUNTERS:
                        target.execute(f"UPDATE {table} SET seq = ? WHERE one = 1", (rows[0][1],))
                        copied[table] = 1
                        continue
                    marks = ", ".join("?" * len(columns))
                    target.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
                    )
                    copied[table] = len(rows)
            finally:
                source.close()
        # The audit log's numbers were copied; new entries continue after them.
        target.execute(
            "SELECT setval(pg_get_serial_sequence('audit', 'seq'), "
            "COALESCE((SELECT max(seq) FROM audit), 0) + 1, false)"
        )
        version = PointerFile(files.current).current_version()
        if version is not None:
            target.execute("INSERT INTO published VALUES (1, ?, ?)", (version, datetime.now(UTC)))
            copied["published"] = 1
    return copied


_holding: set[Connections] = set()
"""Every :class:`Connections` that opened a pool or a connection, held until closed.

Held strongly on purpose: a pool left to the garbage collector is closed by
psycopg_pool's ``__del__``, which joins the pool's threads, and the collector
may run in one of those very threads ("cannot join current thread"). A pool is
closed by its owner (:meth:`Connections.close`) or by :func:`close_all`.
"""


def close_all() -> None:
    """Close the pools of every :class:`Connections` this process made (for an
    orderly shutdown, and for tests that drop their database afterwards)."""
    for connections in list(_holding):
        connections.close()


# At exit, while the pools' threads still run: later, at interpreter teardown,
# a pool's ``__del__`` would wait out its timeout joining threads already stopped.
atexit.register(close_all)


_checked: set[str] = set()
_checked_lock = threading.Lock()


def checked(url: str) -> None:
    """Check the schema of ``url`` once per process (see :meth:`Migrations.check`).

    Raises:
        SchemaBehind: the schema is not this code's.
        StateUnavailable: the database cannot be reached (checked again next time).
    """
    with _checked_lock:
        if url in _checked:
            return
        Migrations(url).check()
        _checked.add(url)
