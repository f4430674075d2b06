"""What the SQL stores need of a database, whichever one holds them.

The live changes, the rules, the jobs and the embedding cache are each written
once, against :class:`SqlDatabase`; :class:`recommender.sqlite.Database` (a file
beside the index, the embedded default) and
:class:`recommender.postgres.PostgresDatabase` (one schema of a PostgreSQL
database that several hosts share) provide it.

The stores' SQL is the subset both dialects read the same way: ``?`` placeholders
(the PostgreSQL side rewrites them), ``INSERT … ON CONFLICT (…) DO UPDATE`` for
replacing a row, ``TEXT``/``INTEGER`` values and byte strings. Schemas are not
shared: each backend creates its own tables (SQLite in each store's migration
steps, PostgreSQL in ``recommender/migrations``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Rows(Protocol):
    """The result of one statement: its rows, one at a time or all at once."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class SqlConnection(Protocol):
    """A connection inside a transaction opened by :class:`SqlDatabase`."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Rows: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> Any: ...


class SqlDatabase(Protocol):
    """Transactions and one-off reads on the tables of one store.

    Writes are serialised per store (a read-check-write sequence in :meth:`write`
    cannot interleave with another process's), and :meth:`read` sees one state
    throughout. Failures to reach the database raise
    :class:`~recommender.errors.StateUnavailable`.
    """

    def write(self) -> AbstractContextManager[SqlConnection]:
        """A write transaction: committed when the block ends, rolled back when it raises."""
        ...

    def read(self) -> AbstractContextManager[SqlConnection]:
        """A read transaction: every query in the block sees the same state."""
        ...

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """The rows of one read statement, outside any transaction (cheap: the
        change counters read per request go through here)."""
        ...

    def close(self) -> None:
        """Release what this thread holds open (the next use opens it again)."""
        ...


__all__ = ["Rows", "SqlConnection", "SqlDatabase"]
