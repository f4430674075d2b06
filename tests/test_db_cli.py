"""`recommender db`: the schema's versions on a real PostgreSQL, the check at start,
and moving an index directory's SQLite state into PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner

from recommender import cli
from recommender.articles import Article
from recommender.config import Settings
from recommender.errors import SchemaBehind
from recommender.events import EventCounts, parse_batch
from recommender.layout import IndexLayout
from recommender.postgres import Migrations, close_all
from recommender.rules import Pin
from recommender.state import open_state
from service import create_app

from .conftest import make_engine
from .servers import COMMAND, refused_port

pytestmark = pytest.mark.postgres


def run(*args: str, url: str, index_dir: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli.main,
        list(args),
        env={"RECOMMENDER_DATABASE_URL": url, "RECOMMENDER_INDEX_DIR": str(index_dir)},
    )
    return result.exit_code, result.output


def test_upgrade_once_then_up_to_date(postgres_url: str, tmp_path: Path) -> None:
    code, output = run("db", "status", url=postgres_url, index_dir=tmp_path)
    assert code == 1 and "lacks schema steps 0001.shared-state" in output
    assert "recommender db upgrade" in output
    assert run("db", "upgrade", url=postgres_url, index_dir=tmp_path) == (
        0,
        "applied 3 schema step(s): 0001.shared-state, 0002.events, 0003.experiments\n",
    )
    assert run("db", "upgrade", url=postgres_url, index_dir=tmp_path) == (
        0,
        "the schema is up to date\n",
    )
    assert run("db", "status", url=postgres_url, index_dir=tmp_path) == (
        0,
        "the schema is up to date\n",
    )


def test_a_server_refuses_a_database_that_is_behind(postgres_url: str, tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "index", database_url=postgres_url)
    with pytest.raises(SchemaBehind, match="run `recommender db upgrade`"):
        create_app(settings)


def test_a_database_a_newer_release_upgraded_is_refused(postgres_url: str) -> None:
    Migrations(postgres_url).upgrade()
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        # What a later release's step would leave: one more applied migration.
        connection.execute(
            "INSERT INTO recommender._yoyo_migration (migration_hash, migration_id, "
            "applied_at_utc) VALUES ('f' || repeat('0', 63), '0099.future', now())"
        )
    with pytest.raises(SchemaBehind, match="newer release"):
        Migrations(postgres_url).check()


def test_db_commands_say_when_there_is_no_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.main, ["db", "status"], env={"RECOMMENDER_DATABASE_URL": ""})
    assert result.exit_code == 2 and "RECOMMENDER_DATABASE_URL is empty" in result.output
    result = CliRunner().invoke(
        cli.main,
        ["db", "upgrade", "--index-dir", str(tmp_path)],
        env={"RECOMMENDER_DATABASE_URL": ""},
    )
    assert result.exit_code == 0 and "SQLite files" in result.output


def test_migrate_from_sqlite_copies_everything_once(
    settings: Settings, postgres_url: str, tmp_path: Path
) -> None:
    # An index on SQLite with state in every store.
    engine = make_engine(settings, tmp_path / "c.jsonl")
    sqlite = open_state(settings)
    sqlite.rules.add_pin("sleep-0", "sleep-2", 1, "ed")
    sqlite.rules.add_exclude("speech-1", "ed")
    sqlite.rules.set_featured("swallow-3", True, "ed")
    sqlite.live.upsert(
        Article.from_stored({"id": "new", "title": "New", "body": "b"}),
        np.ones(engine.embedder.dim, dtype=np.float32),
        engine.embedder.model_id,
    )
    sqlite.live.delete("sleep-4")
    job = sqlite.jobs.create("reindex")
    sqlite.jobs.update(job, state="done")
    published = sqlite.pointer.current_version()
    batch = {"events": [{"type": "click", "source": "sleep-0", "block": "related",
                         "shown": "sleep-2", "position": 1}]}  # fmt: skip
    sqlite.events.add(EventCounts.of(parse_batch(batch, 1)))

    code, output = run(
        "db", "migrate-from-sqlite", "--from", str(settings.index_dir),
        url=postgres_url, index_dir=tmp_path / "unused",
    )  # fmt: skip
    assert code == 0, output
    assert "pins 1" in output and "published 1" in output

    shared = open_state(settings.replace(database_url=postgres_url))
    try:
        rules = shared.rules.load()
        assert rules.version == sqlite.rules.version()
        assert rules.pins == {"sleep-0": (Pin("sleep-2", 1),)}
        assert rules.excludes == frozenset({"speech-1"})
        assert rules.featured == {"swallow-3": True}
        assert [e.action for e in shared.rules.history()] == [
            e.action for e in sqlite.rules.history()
        ]
        # New audit entries continue after the copied ones.
        shared.rules.add_block("sleep-0", "sleep-1", "ed")
        assert shared.rules.history(limit=1)[0].seq == len(sqlite.rules.history()) + 1
        live = shared.live.load()
        assert set(live.upserts) == {"new"} and live.deleted == frozenset({"sleep-4"})
        assert shared.live.seq() == sqlite.live.seq()
        copied_job = shared.jobs.get(job)
        assert copied_job is not None and copied_job.state == "done"
        assert shared.pointer.current_version() == published
        with sqlite3.connect(IndexLayout.of(settings.index_dir).embeddings) as db:
            keys = [row[0] for row in db.execute("SELECT key FROM embeddings")]
        assert keys and f"embeddings {len(keys)}" in output
        assert set(shared.embedding_cache().get_many(keys)) == set(keys)
        assert "event_shown 1" in output and "event_positions 1" in output
        assert shared.events.pairs("sleep-0")["sleep-2"].clicks == pytest.approx(1.0, abs=1e-6)

        # A second run would mix two states: refused, and nothing changes.
        code, output = run(
            "db", "migrate-from-sqlite", "--from", str(settings.index_dir),
            url=postgres_url, index_dir=tmp_path / "unused",
        )  # fmt: skip
        assert code == 2 and "already holds state" in output
        assert shared.rules.load().version == rules.version + 1
    finally:
        close_all()


def test_serve_refuses_to_start_on_a_database_that_is_behind(
    postgres_url: str, tmp_path: Path
) -> None:
    # A process of its own: `serve` sets the metrics directory in its environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    env |= {"RECOMMENDER_DATABASE_URL": postgres_url, "RECOMMENDER_INDEX_DIR": str(tmp_path)}
    done = subprocess.run(
        [*COMMAND, "serve", "--port", "0"], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 1
    assert (
        "lacks schema steps 0001.shared-state, 0002.events, 0003.experiments: run "
        "`recommender db upgrade`" in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    with refused_port() as port:
        url = f"postgresql://editor:hunter2@127.0.0.1:{port}/site?password=hunter2"
        code, output = run("db", "status", url=url, index_dir=tmp_path)
    assert code == 1
    assert f"PostgreSQL at postgresql://editor@127.0.0.1:{port}/site is unreachable" in output
    assert "hunter2" not in output
