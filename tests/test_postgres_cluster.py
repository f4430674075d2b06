"""The throwaway PostgreSQL server of the tests (tests/postgres.py) and its fixtures:
a database per test, dropped afterwards, and a server that can be stopped and
started again under the same URL."""

from __future__ import annotations

import psycopg
import pytest

from .postgres import ThrowawayPostgres, started_or_skip
from .servers import refused_port

pytestmark = pytest.mark.postgres

# Databases the isolation tests have seen, whichever runs first.
SEEN: list[str] = []


def test_query_through_postgres_url(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT current_user, current_database(), 6 * 7").fetchone()
    assert row == ("recommender", postgres_url.rsplit("/", 1)[1], 42)


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_an_empty_database_of_its_own(
    run: int, postgres_url: str, postgres_server: ThrowawayPostgres
) -> None:
    with psycopg.connect(postgres_url) as conn:
        # A table left by the other run would be here if they shared a database.
        assert conn.execute("SELECT to_regclass('marker')").fetchone() == (None,)
        conn.execute("CREATE TABLE marker (run int)")
        name = conn.execute("SELECT current_database()").fetchone()
    assert name is not None
    assert name[0] not in SEEN
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
    assert name[0] in existing
    assert not existing & set(SEEN)  # an earlier test's database is dropped
    SEEN.append(name[0])


def test_drop_database_with_connections_open(postgres_server: ThrowawayPostgres) -> None:
    url = postgres_server.create_database("left_open")
    with psycopg.connect(url) as conn:
        postgres_server.drop_database("left_open")
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(url)


def test_stop_and_start_the_server_under_the_same_url() -> None:
    # A cluster of its own, so a failure here never leaves the session's server down.
    server = started_or_skip()
    base_dir = server.data_dir.parent
    try:
        url = server.create_database("kept")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")
            conn.execute("INSERT INTO kept VALUES (1)")
        server.stop_server()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url)
        server.start_server()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT n FROM kept").fetchall() == [(1,)]
    finally:
        server.stop()
    assert not base_dir.exists()


def test_a_server_that_cannot_start_says_why() -> None:
    server = started_or_skip()
    try:
        server.stop_server()
        with refused_port() as taken:
            server.port = taken
            with pytest.raises(RuntimeError, match="server log") as failure:
                server.start_server()
        assert "could not bind" in str(failure.value)  # from the server log
    finally:
        server.stop()
