"""Files written by the stores before they used :mod:`recommender.sqlite` still open:
each is created here with the schema SQL the older code ran, then read and written
through today's store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from recommender.articles import Article
from recommender.embedding import EmbeddingCache
from recommender.jobs import JobStore
from recommender.live import LiveStore
from recommender.rules import Pin, RuleStore
from recommender.sqlite import Database

OLD_LIVE = """
CREATE TABLE IF NOT EXISTS changes (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, deleted INTEGER NOT NULL,
    article TEXT, vector BLOB, model TEXT, changed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counter (one INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
INSERT OR IGNORE INTO counter VALUES (1, 0);
"""

OLD_RULES = """
CREATE TABLE IF NOT EXISTS pins (
    article_id TEXT NOT NULL, target_id TEXT NOT NULL, position INTEGER NOT NULL,
    who TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (article_id, target_id), UNIQUE (article_id, position)
);
CREATE TABLE IF NOT EXISTS blocks (
    article_id TEXT NOT NULL, target_id TEXT NOT NULL,
    who TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (article_id, target_id)
);
CREATE TABLE IF NOT EXISTS excludes (
    target_id TEXT PRIMARY KEY, who TEXT NOT NULL, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS featured (
    target_id TEXT PRIMARY KEY, value INTEGER NOT NULL,
    who TEXT NOT NULL, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT NOT NULL,
    action TEXT NOT NULL, article_id TEXT, target_id TEXT, detail TEXT
);
CREATE TABLE IF NOT EXISTS counter (one INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
INSERT OR IGNORE INTO counter VALUES (1, 0);
"""


def _old_file(path: Path, schema: str, *rows: tuple[str, tuple[object, ...]]) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(schema)
    with db:
        for sql, params in rows:
            db.execute(sql, params)
    db.close()


def _check_migrated(database: Database) -> None:
    """The file now carries the schema version, and the store's connection is closed."""
    database.close()
    db = sqlite3.connect(database.path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == database.schema_version
    finally:
        db.close()


def _article(article_id: str) -> Article:
    return Article.model_validate({"id": article_id, "title": "Title", "body": "Some body."})


def test_a_live_file_from_older_code_opens(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    old = _article("old")
    _old_file(
        path,
        OLD_LIVE,
        ("UPDATE counter SET seq = 2 WHERE one = 1", ()),
        (
            "INSERT INTO changes VALUES (?, 1, 0, ?, ?, 'm', '2025-01-01T00:00:00+00:00')",
            ("old", json.dumps(old.to_json()), np.ones(3, np.float32).tobytes()),
        ),
        (
            "INSERT INTO changes VALUES ('gone', 2, 1, NULL, NULL, NULL, "
            "'2025-01-02T00:00:00+00:00')",
            (),
        ),
    )
    store = LiveStore(path)
    changes = store.load()
    assert changes.seq == 2
    assert set(changes.upserts) == {"old"} and changes.deleted == {"gone"}
    assert changes.upserts["old"][0] == old and changes.signatures == {}
    assert store.upsert(_article("new"), np.zeros(3, np.float32), "m") == 3
    assert set(store.load().upserts) == {"old", "new"}
    _check_migrated(store.db)


def test_a_rules_file_from_older_code_opens(tmp_path: Path) -> None:
    path = tmp_path / "rules.sqlite"
    _old_file(
        path,
        OLD_RULES,
        ("INSERT INTO pins VALUES ('a', 'b', 2, 'ed', '2025-01-01T00:00:00+00:00')", ()),
        ("INSERT INTO excludes VALUES ('x', 'ed', '2025-01-01T00:00:00+00:00')", ()),
        (
            "INSERT INTO audit (at, who, action, article_id, target_id, detail) "
            "VALUES ('2025-01-01T00:00:00+00:00', 'ed', 'pin', 'a', 'b', '2')",
            (),
        ),
        ("UPDATE counter SET seq = 1 WHERE one = 1", ()),
    )
    store = RuleStore(path)
    rules = store.load()
    assert rules.version == 1
    assert rules.pins == {"a": (Pin("b", 2),)} and rules.excludes == {"x"}
    assert [entry.action for entry in store.history()] == ["pin"]
    assert store.add_block("a", "c", "ed2") == 2
    assert store.load().blocks == {"a": frozenset({"c"})}
    assert [entry.who for entry in store.history()] == ["ed2", "ed"]
    _check_migrated(store.db)


def test_job_and_cache_files_from_older_code_open(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.sqlite"
    _old_file(
        jobs,
        "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, kind TEXT, state TEXT,"
        " created TEXT, finished TEXT, phase TEXT, done INTEGER, total INTEGER,"
        " summary TEXT, error TEXT)",
        (
            "INSERT INTO jobs VALUES ('j1', 'reindex', 'done', '2025-01-01T00:00:00+00:00',"
            " NULL, NULL, 1, 1, '{\"indexed\": 1}', NULL)",
            (),
        ),
    )
    store = JobStore(jobs)
    job = store.get("j1")
    assert job is not None and job.state == "done" and job.summary == {"indexed": 1}
    _check_migrated(store.db)
    cache_file = tmp_path / "embeddings.sqlite"
    _old_file(
        cache_file,
        "CREATE TABLE IF NOT EXISTS embeddings ("
        " key TEXT PRIMARY KEY, model TEXT NOT NULL, dim INTEGER NOT NULL,"
        " vector BLOB NOT NULL)",
        ("INSERT INTO embeddings VALUES ('k', 'm', 2, ?)", (np.ones(2, np.float32).tobytes(),)),
    )
    cache = EmbeddingCache(cache_file)
    assert np.array_equal(cache.get_many(["k"])["k"], np.ones(2, np.float32))
    _check_migrated(cache.db)
