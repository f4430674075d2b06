"""Article changes made through the API (PUT and DELETE) between reindexes.

They live in one SQLite file beside the snapshots, so every server process sees
the same changes and a restart keeps them. The engine lays them over whatever
snapshot is published: an upserted article replaces the snapshot's article with
the same id, and a deleted id is hidden. A reindex does not erase them (the
layer is the site's newest word), but it makes them redundant once the corpus
holds the same content; each publish then drops them (:meth:`LiveStore.forget_redundant`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from . import layout
from .articles import Article
from .duplicates import Shingling, Signatures
from .sql import SqlDatabase
from .sqlite import add_columns, database_at, statements

LIVE_FILE = layout.LIVE  # the name callers used before layout.py


Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware (tests pass a fake one)."""


def system_clock() -> datetime:
    """The current UTC time."""
    return datetime.now(UTC)


def version_time(article: Article) -> datetime | None:
    """When this version of a corpus article was written: ``updated``, else ``published``."""
    return article.updated or article.published


@dataclass(frozen=True)
class LiveChanges:
    """The changes as of one sequence number.

    ``written`` holds when each upsert was stored (the time of the PUT).
    """

    seq: int = 0
    upserts: dict[str, tuple[Article, np.ndarray, str]] = field(default_factory=dict)
    deleted: frozenset[str] = frozenset()
    signatures: dict[str, tuple[Shingling, Signatures]] = field(default_factory=dict)
    """The upserts' body signatures (one row each) and how they were made; an upsert
    written before signatures existed has none."""
    written: dict[str, datetime] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)
    """The sequence number that wrote each upsert and delete: an upsert's
    ``(id, seq)`` names one version, so what is derived from it can be kept."""

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deleted)

    def laid_over(self, ids: Iterable[str]) -> set[str]:
        """The ids that exist once these changes are laid over a snapshot holding
        ``ids``: the upserts join them, the deleted leave."""
        return (set(ids) | set(self.upserts)) - self.deleted

    def upsert_time(self, article_id: str) -> datetime | None:
        """The version time of the upsert of ``article_id``: its ``updated``, else when
        it was written; None when there is no upsert of that id."""
        upsert = self.upserts.get(article_id)
        if upsert is None:
            return None
        return upsert[0].updated or self.written.get(article_id)

    def corpus_wins(self, article_id: str, corpus_time: datetime | None) -> bool:
        """Whether the corpus's version of ``article_id``, written at ``corpus_time``
        (see :func:`version_time`), replaces the upsert of that id: only when it is
        strictly newer. An undated corpus article never replaces an upsert, and on
        equal times the upsert (the explicit, later act) stays."""
        if corpus_time is None:
            return False
        mine = self.upsert_time(article_id)
        return mine is not None and corpus_time > mine


SCHEMA = (
    statements(
        """CREATE TABLE IF NOT EXISTS changes (
            id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            deleted INTEGER NOT NULL,
            article TEXT,
            vector BLOB,
            model TEXT,
            changed_at TEXT NOT NULL
        )""",
        "CREATE TABLE IF NOT EXISTS counter (one INTEGER PRIMARY KEY, seq INTEGER NOT NULL)",
        "INSERT OR IGNORE INTO counter VALUES (1, 0)",
    ),
    # Body signatures came later: files written before them lack these columns.
    add_columns("changes", {"signature": "BLOB", "shingling": "TEXT"}),
    # Named apart from the other store's counter, so PostgreSQL can hold both in one schema.
    statements("ALTER TABLE counter RENAME TO live_counter"),
)
"""The ``live.sqlite`` schema, as :mod:`recommender.sqlite` migration steps."""


class LiveStore:
    """SQLite table of upserts and deletes, with a sequence number that only grows.

    Args:
        path: the database file (created on first use).
        now: the clock that stamps each change (the time of the PUT or DELETE).
    """

    def __init__(self, source: Path | str | SqlDatabase, now: Clock = system_clock) -> None:
        self._now = now
        self.db = database_at(source, SCHEMA)

    def seq(self) -> int:
        """The sequence number of the latest change (0 when there is none)."""
        rows = self.db.query("SELECT seq FROM live_counter WHERE one = 1")
        return int(rows[0][0]) if rows else 0

    def _write(
        self,
        article_id: str,
        article: Article | None,
        vector: np.ndarray | None,
        model: str | None,
        signature: tuple[Shingling, Signatures] | None = None,
    ) -> int:
        with self.db.write() as db:
            db.execute("UPDATE live_counter SET seq = seq + 1 WHERE one = 1")
            seq = int(db.execute("SELECT seq FROM live_counter WHERE one = 1").fetchone()[0])
            db.execute(
                "INSERT INTO changes (id, seq, deleted, article, vector, model, "
                "changed_at, signature, shingling) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, deleted = excluded.deleted, "
                "article = excluded.article, vector = excluded.vector, model = excluded.model, "
                "changed_at = excluded.changed_at, signature = excluded.signature, "
                "shingling = excluded.shingling",
                (
                    article_id,
                    seq,
                    int(article is None),
                    json.dumps(article.to_json(), ensure_ascii=False) if article else None,
                    np.asarray(vector, dtype=np.float32).tobytes() if vector is not None else None,
                    model,
                    # Microseconds: this is the version time of an upsert without
                    # ``updated``, compared with the corpus's times at publish.
                    self._now().astimezone(UTC).isoformat(timespec="microseconds"),
                    *_encode_signature(signature),
                ),
            )
        return seq

    def upsert(
        self,
        article: Article,
        vector: np.ndarray,
        model_id: str,
        signature: tuple[Shingling, Signatures] | None = None,
    ) -> int:
        """Record a created or replaced article, its vector and its body's signature
        (one row, with the shingling that made it); returns the new sequence."""
        return self._write(article.id, article, vector, model_id, signature)

    def delete(self, article_id: str) -> int:
        """Record that an article is gone; returns the new sequence."""
        return self._write(article_id, None, None, None)

    def load(self, previous: LiveChanges | None = None) -> LiveChanges:
        """Every change, as of now.

        Given the ``previous`` load, only the rows written since are read and laid
        over it (a change costs what it holds, not what the layer holds); the whole
        table is read again when rows were dropped since (a publish forgets the
        changes it makes moot), which the row count shows.
        """
        with self.db.read() as db:  # the rows, the count and the sequence agree
            seq = int(db.execute("SELECT seq FROM live_counter WHERE one = 1").fetchone()[0])
            since = previous.seq if previous is not None and previous.seq <= seq else 0
            rows = db.execute(
                "SELECT id, deleted, article, vector, model, changed_at, signature, shingling, "
                "seq FROM changes WHERE seq > ?",
                (since,),
            ).fetchall()
            count = int(db.execute("SELECT COUNT(*) FROM changes").fetchone()[0])
        if since and previous is not None:
            if previous.seq == seq and not rows:
                return previous
            changes = _Changes.of(previous)
            changes.add(rows)
            if len(changes.seqs) == count:
                return changes.frozen(seq)
            return self.load()
        changes = _Changes()
        changes.add(rows)
        return changes.frozen(seq)

    def forget_redundant(
        self,
        content_hashes: Mapping[str, str],
        version_times: Mapping[str, datetime | None] | None = None,
    ) -> int:
        """Drop the changes a newly published corpus makes moot; returns how many.

        Those are upserts whose content the corpus now holds, upserts the corpus
        holds a newer version of (``version_times``: each corpus article's
        :func:`version_time`; see :meth:`LiveChanges.corpus_wins`), and deletes of
        ids it no longer has.
        """
        changes = self.load()
        times = version_times or {}
        stale = [
            article_id
            for article_id, (article, _, _) in changes.upserts.items()
            if content_hashes.get(article_id) == article.content_hash()
            or changes.corpus_wins(article_id, times.get(article_id))
        ] + [article_id for article_id in changes.deleted if article_id not in content_hashes]
        if stale:
            with self.db.write() as db:
                db.executemany("DELETE FROM changes WHERE id = ?", [(i,) for i in stale])
                db.execute("UPDATE live_counter SET seq = seq + 1 WHERE one = 1")
        return len(stale)


@dataclass
class _Changes:
    """A :class:`LiveChanges` being assembled from rows of the ``changes`` table."""

    upserts: dict[str, tuple[Article, np.ndarray, str]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    signatures: dict[str, tuple[Shingling, Signatures]] = field(default_factory=dict)
    written: dict[str, datetime] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, changes: LiveChanges) -> _Changes:
        return cls(
            dict(changes.upserts),
            set(changes.deleted),
            dict(changes.signatures),
            dict(changes.written),
            dict(changes.seqs),
        )

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        """Lay rows (id, deleted, article, vector, model, changed_at, signature,
        shingling, seq) over what is held: a row replaces its id's earlier one."""
        for article_id, is_deleted, article, vector, model, changed_at, *signed, seq in rows:
            self.upserts.pop(article_id, None)
            self.signatures.pop(article_id, None)
            self.written.pop(article_id, None)
            self.deleted.discard(article_id)
            self.seqs[article_id] = int(seq)
            if is_deleted:
                self.deleted.add(article_id)
                continue
            self.upserts[article_id] = (
                Article.from_stored(json.loads(article)),
                np.frombuffer(vector, dtype=np.float32).copy(),
                model,
            )
            self.written[article_id] = datetime.fromisoformat(changed_at)
            decoded = _decode_signature(*signed)
            if decoded is not None:
                self.signatures[article_id] = decoded

    def frozen(self, seq: int) -> LiveChanges:
        return LiveChanges(
            seq,
            self.upserts,
            frozenset(self.deleted),
            signatures=self.signatures,
            written=self.written,
            seqs=self.seqs,
        )


def _encode_signature(
    signature: tuple[Shingling, Signatures] | None,
) -> tuple[bytes | None, str | None]:
    """The signature and shingling columns: uint32 [shingle count, *hashes], and the
    shingling's description as JSON."""
    if signature is None:
        return None, None
    shingling, rows = signature
    values = np.concatenate([rows.counts[:1], rows.hashes[0]]).astype(np.uint32)
    return values.tobytes(), json.dumps(shingling.describe(), sort_keys=True)


def _decode_signature(
    blob: bytes | None, described: str | None
) -> tuple[Shingling, Signatures] | None:
    shingling = Shingling.from_description(json.loads(described)) if described else None
    if blob is None or shingling is None:
        return None
    values = np.frombuffer(blob, dtype=np.uint32)
    if values.size != shingling.num_perm + 1:
        return None
    return shingling, Signatures(values[None, 1:].copy(), values[:1].copy())
