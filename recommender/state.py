"""Every store of one deployment, built in one place from the settings.

``settings.database_url`` picks the backend:

* empty (the default): SQLite files and plain files in the index directory
  (:mod:`recommender.layout`), for one host; nothing to install or run;
* ``postgresql://…``: one PostgreSQL database that every server on every host
  shares (:mod:`recommender.postgres`); the index directory holds only the
  snapshot files, on a volume every host mounts.

The engine, the build pipeline, the job runner and the CLI take their stores from
a :class:`State`; none of them opens a store file itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .config import Settings
from .editing import RuleEditor
from .embedding import EmbeddingCache
from .events import EventAggregates
from .layout import IndexLayout
from .live import Clock, LiveStore, system_clock
from .locking import IndexLock
from .rules import RuleStore
from .snapshot import Manifest, PointerFile, SnapshotStore
from .stores import (
    BuildLock,
    ChangeCounters,
    EditorialRuleStore,
    EmbeddingCacheStore,
    EventStore,
    JobStateStore,
    LiveChangeStore,
    VersionPointer,
)


class SeparateCounters:
    """The change counters read from each store in turn (a
    :class:`~recommender.stores.ChangeCounters`): SQLite keeps them in two files."""

    def __init__(self, live: LiveChangeStore, rules: EditorialRuleStore) -> None:
        self.live = live
        self.rules = rules

    def read(self) -> tuple[int, int]:
        """(live sequence, rules version)."""
        return self.live.seq(), self.rules.version()


@dataclass
class State:
    """The stores of one deployment (build it with :func:`open_state`).

    Attributes:
        backend: ``"sqlite"`` or ``"postgresql"``.
        live: the article changes made through the API.
        rules: the editorial rules and their audit log.
        jobs: the background jobs.
        snapshots: the snapshot versions, with the published-version pointer.
        counters: the live sequence and rules version in one read.
        events: the reader impressions and clicks (aggregates).
    """

    backend: str
    live: LiveChangeStore
    rules: EditorialRuleStore
    jobs: JobStateStore
    snapshots: SnapshotStore
    counters: ChangeCounters
    events: EventStore
    make_lock: Callable[[str], BuildLock] = field(repr=False)
    make_cache: Callable[[], EmbeddingCacheStore] = field(repr=False)
    closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def pointer(self) -> VersionPointer:
        """The published-version pointer."""
        return self.snapshots.pointer

    def lock(self, purpose: str = "reindex") -> BuildLock:
        """A (not yet taken) build lock, whose holder says it is doing ``purpose``."""
        return self.make_lock(purpose)

    def rollback(
        self, version: str, wait: bool = False, on_wait: Callable[[str], None] | None = None
    ) -> Manifest:
        """Publish ``version`` again (:meth:`SnapshotStore.rollback`) under the build
        lock, so it never interleaves with a reindex; every server serves it on its
        next check.

        Args:
            version: a stored version (``recommender snapshots`` lists them).
            wait: wait for a running reindex instead of failing.
            on_wait: with ``wait``, told who holds the lock (see :meth:`BuildLock.acquire`).

        Raises:
            IndexLocked: a reindex holds the lock and ``wait`` is False.
            SnapshotError: no such version.
            SnapshotCorrupt: it fails verification (nothing is changed).
        """
        lock = self.lock(f"rollback to {version}")
        lock.acquire(wait=wait, on_wait=on_wait)
        try:
            return self.snapshots.rollback(version)
        finally:
            lock.release()

    def article_ids(self) -> set[str]:
        """The ids served: the published snapshot's with the live changes laid over, as
        an engine would serve them, read without loading any model or index.

        Raises:
            NoSnapshot: nothing is published.
        """
        return self.live.load().laid_over(self.snapshots.article_ids())

    def rule_editor(self) -> RuleEditor:
        """Single-rule edits of this deployment's rules, checked against
        :meth:`article_ids` (so adding a rule needs a published index; removing does not)."""
        return RuleEditor(self.rules, self.article_ids)

    def embedding_cache(self) -> EmbeddingCacheStore:
        """The embedding cache (the caller closes it)."""
        return self.make_cache()

    def close(self) -> None:
        """Release the connections this process holds (PostgreSQL); the next use reopens."""
        for close in self.closers:
            close()


def open_state(settings: Settings, now: Clock = system_clock) -> State:
    """The stores ``settings`` name.

    Args:
        settings: ``database_url`` (the backend), ``index_dir`` (the snapshots, and
            with SQLite every store's file), the PostgreSQL timeout and pool size,
            the events' half-life.
        now: the clock that stamps live changes and reader events.

    Raises:
        SchemaBehind: PostgreSQL's schema is not this code's (run ``recommender db upgrade``).
        StateUnavailable: PostgreSQL cannot be reached.
        InvalidArgument: a PostgreSQL URL without the ``postgresql`` extra installed.
    """
    files = IndexLayout.of(settings.index_dir)
    if not settings.database_url:
        live, rules = LiveStore(files.live, now=now), RuleStore(files.rules)
        return State(
            backend="sqlite",
            live=live,
            rules=rules,
            jobs=_sqlite_jobs(files),
            snapshots=SnapshotStore(files.root, PointerFile(files.current)),
            counters=SeparateCounters(live, rules),
            events=EventAggregates(files.events, settings.events_half_life_days, now=now),
            make_lock=lambda purpose: IndexLock(files.root, purpose=purpose),
            make_cache=lambda: EmbeddingCache(files.embeddings),
        )
    from .postgres import (
        AdvisoryLock,
        Connections,
        CounterRow,
        PostgresDatabase,
        PublishedRow,
        checked,
    )

    connections = Connections(
        settings.database_url, settings.database_timeout, settings.database_pool_size
    )
    checked(connections.url)
    from .jobs import JobStore

    return State(
        backend="postgresql",
        live=LiveStore(PostgresDatabase(connections, "live"), now=now),
        rules=RuleStore(PostgresDatabase(connections, "rules")),
        jobs=JobStore(PostgresDatabase(connections, "jobs")),
        snapshots=SnapshotStore(files.root, PublishedRow(connections)),
        counters=CounterRow(connections),
        events=EventAggregates(
            PostgresDatabase(connections, "events"), settings.events_half_life_days, now=now
        ),
        make_lock=lambda purpose: AdvisoryLock(connections, purpose=purpose),
        make_cache=lambda: EmbeddingCache(PostgresDatabase(connections, "embeddings")),
        closers=[connections.close],
    )


def _sqlite_jobs(files: IndexLayout) -> JobStateStore:
    # jobs.py imports the pipeline, which takes a State: imported here, not at the top.
    from .jobs import JobStore

    return JobStore(files.jobs)


__all__ = ["SeparateCounters", "State", "open_state"]
