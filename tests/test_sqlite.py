"""The shared SQLite helper: schema version, migrations, write transactions, threads."""

from __future__ import annotations

import os
import sqlite3
import threading
import warnings
from pathlib import Path

import pytest

from recommender.sqlite import Database, Step, add_columns, statements, use_wal


def _steps(ran: list[int]) -> list[Step]:
    """Three steps that note their number in ``ran`` when they run."""

    def step(number: int, sql: str) -> Step:
        def run(db: sqlite3.Connection) -> None:
            ran.append(number)
            db.execute(sql)

        return run

    return [
        step(1, "CREATE TABLE t (a INTEGER)"),
        step(2, "ALTER TABLE t ADD COLUMN b TEXT"),
        step(3, "CREATE INDEX t_b ON t (b)"),
    ]


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def test_migrations_run_once_in_order_and_set_the_version(tmp_path: Path) -> None:
    ran: list[int] = []
    database = Database(tmp_path / "x.sqlite", _steps(ran))
    db = database.connection()
    assert ran == [1, 2, 3]
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3 == database.schema_version
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    database.close()
    # Opening again (another process, a restart) runs nothing.
    again = Database(tmp_path / "x.sqlite", _steps(ran))
    again.connection()
    assert ran == [1, 2, 3]
    again.close()


def test_only_new_steps_run_on_an_older_file(tmp_path: Path) -> None:
    ran: list[int] = []
    old = Database(tmp_path / "x.sqlite", _steps(ran)[:1])
    old.connection()
    old.close()
    assert ran == [1]
    new = Database(tmp_path / "x.sqlite", _steps(ran))
    assert _columns(new.connection(), "t") == ["a", "b"]
    assert ran == [1, 2, 3]
    new.close()


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    def broken(db: sqlite3.Connection) -> None:
        raise RuntimeError("step failed")

    database = Database(tmp_path / "x.sqlite", [statements("CREATE TABLE t (a)"), broken])
    with pytest.raises(RuntimeError, match="step failed"):
        database.connection()
    plain = sqlite3.connect(tmp_path / "x.sqlite")
    assert plain.execute("PRAGMA user_version").fetchone()[0] == 0
    assert plain.execute("SELECT name FROM sqlite_master").fetchall() == []
    plain.close()


def test_add_columns_accepts_a_file_that_has_some_already(tmp_path: Path) -> None:
    plain = sqlite3.connect(tmp_path / "x.sqlite")
    plain.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    plain.commit()
    plain.close()
    database = Database(
        tmp_path / "x.sqlite",
        [statements("CREATE TABLE IF NOT EXISTS t (a INTEGER)"), add_columns("t", {"b": "TEXT"})],
    )
    assert _columns(database.connection(), "t") == ["a", "b"]
    database.close()


def test_write_commits_or_rolls_back_as_a_whole(tmp_path: Path) -> None:
    database = Database(tmp_path / "x.sqlite", [statements("CREATE TABLE t (a INTEGER)")])
    with database.write() as db:
        db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(ValueError), database.write() as db:
        db.execute("INSERT INTO t VALUES (2)")
        raise ValueError("after the first insert")
    other = sqlite3.connect(tmp_path / "x.sqlite")
    assert other.execute("SELECT a FROM t").fetchall() == [(1,)]
    other.close()
    assert not database.connection().in_transaction
    database.close()


def test_write_takes_the_write_lock_at_once(tmp_path: Path) -> None:
    database = Database(tmp_path / "x.sqlite", [statements("CREATE TABLE t (a)")], timeout=0)
    other = Database(tmp_path / "x.sqlite", [statements("CREATE TABLE t (a)")], timeout=0)
    other.connection()
    # BEGIN IMMEDIATE: nothing is written yet, but the lock is held.
    with (
        database.write(),
        pytest.raises(sqlite3.OperationalError, match="locked"),
        other.write(),
    ):
        pass
    with other.write() as db:  # released at commit
        db.execute("INSERT INTO t VALUES (1)")
    database.close()
    other.close()


def test_each_thread_has_its_own_connection(tmp_path: Path) -> None:
    database = Database(tmp_path / "x.sqlite", [statements("CREATE TABLE t (a)")])
    mine = database.connection()
    assert database.connection() is mine
    theirs: list[sqlite3.Connection] = []

    def use() -> None:
        with database.write() as db:
            db.execute("INSERT INTO t VALUES (1)")
            theirs.append(db)
        database.close()

    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    assert theirs and theirs[0] is not mine
    assert mine.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1
    database.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_process_opens_its_own_connection(tmp_path: Path) -> None:
    database = Database(tmp_path / "x.sqlite", [statements("CREATE TABLE t (a)")])
    mine = database.connection()
    reader, writer = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process with threads; the child here
        # only touches SQLite and leaves with os._exit.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report whether it got a fresh connection, then leave
        try:
            fresh = database.connection() is not mine
            with database.write() as db:
                db.execute("INSERT INTO t VALUES (1)")
            os.write(writer, b"1" if fresh else b"0")
        finally:
            os._exit(0)
    os.close(writer)
    answer = os.read(reader, 1)
    os.close(reader)
    os.waitpid(pid, 0)
    assert answer == b"1"
    assert mine.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1
    database.close()


def held_and_waiting(path: Path) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    """A connection holding ``path`` exclusively, and one that finds it locked."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder, sqlite3.connect(path, timeout=0.001, isolation_level=None)


def test_wal_waits_for_another_connection_holding_a_new_file(tmp_path: Path) -> None:
    # Two workers opening a new file together: the second finds it locked while
    # the first holds it. Switching to WAL waits for it (SQLite itself would not).
    first, second = held_and_waiting(tmp_path / "new.sqlite")
    pauses: list[float] = []

    def first_lets_go(seconds: float) -> None:
        pauses.append(seconds)
        first.execute("COMMIT")

    use_wal(second, timeout=30, sleep=first_lets_go)
    assert len(pauses) == 1
    assert second.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    first.close()
    second.close()


def test_wal_gives_up_after_its_timeout(tmp_path: Path) -> None:
    holder, other = held_and_waiting(tmp_path / "held.sqlite")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(other, timeout=0.0, sleep=lambda _: None)
    holder.execute("COMMIT")
    holder.close()
    other.close()
