"""The interfaces of the mutable state: what a storage backend must implement.

Snapshots are immutable files (:mod:`recommender.snapshot`); everything that
changes between builds goes through one of these protocols. Each holds exactly
the methods the engine, the pipeline, the service and the CLI call today. The
embedded default implements them with SQLite files and plain files in the index
directory (names in :mod:`recommender.layout`):

===========================  ==============================================  ====================
protocol                     default implementation                          file
===========================  ==============================================  ====================
:class:`LiveChangeStore`     :class:`recommender.live.LiveStore`             ``live.sqlite``
:class:`EditorialRuleStore`  :class:`recommender.rules.RuleStore`            ``rules.sqlite``
:class:`JobStateStore`       :class:`recommender.jobs.JobStore`              ``jobs.sqlite``
:class:`EmbeddingCacheStore` :class:`recommender.embedding.EmbeddingCache`   ``embeddings.sqlite``
:class:`EventStore`          :class:`recommender.events.EventAggregates`     ``events.sqlite``
:class:`VersionPointer`      :class:`recommender.snapshot.PointerFile`       ``CURRENT``
:class:`BuildLock`           :class:`recommender.locking.IndexLock`          ``.lock``
===========================  ==============================================  ====================

The PostgreSQL backend (:mod:`recommender.postgres`, so several hosts share one
state) uses the same five SQL stores on a shared schema, and its own pointer
(:class:`~recommender.postgres.PublishedRow`) and lock
(:class:`~recommender.postgres.AdvisoryLock`); :func:`recommender.state.open_state`
picks the backend from the settings. Every implementation keeps the same
meaning: counters that only grow (the live sequence, the rules version) so
readers can poll them cheaply, every write atomic, and rules validated by the
caller with the domain functions of :mod:`recommender.rules` (a store never asks
the engine which ids exist).

The protocols are ``runtime_checkable`` (``isinstance`` checks that the methods
are there); mypy checks the signatures, see the end of this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from .articles import Article
    from .duplicates import Shingling, Signatures
    from .events import Counts, EventCounts
    from .experiments import Experiment, Variant
    from .jobs import Job
    from .live import LiveChanges
    from .rules import AuditEntry, Pin, RuleRecord, RuleSet


@runtime_checkable
class LiveChangeStore(Protocol):
    """Article upserts and deletes made through the API between reindexes, numbered
    by a sequence that only grows (see :mod:`recommender.live`)."""

    def seq(self) -> int:
        """The sequence number of the latest change (0 when there is none)."""
        ...

    def load(self, previous: LiveChanges | None = None) -> LiveChanges:
        """Every change as of now; given the ``previous`` load, may read only what
        was written since."""
        ...

    def upsert(
        self,
        article: Article,
        vector: np.ndarray,
        model_id: str,
        signature: tuple[Shingling, Signatures] | None = None,
    ) -> int:
        """Record a created or replaced article; returns the new sequence."""
        ...

    def delete(self, article_id: str) -> int:
        """Record that an article is gone; returns the new sequence."""
        ...

    def forget_redundant(
        self,
        content_hashes: Mapping[str, str],
        version_times: Mapping[str, datetime | None] | None = None,
    ) -> int:
        """Drop the changes a newly published corpus makes moot; returns how many."""
        ...


@runtime_checkable
class EditorialRuleStore(Protocol):
    """Pins, blocks, excludes and featured overrides with their audit log, under a
    version that only grows (see :mod:`recommender.rules`). Writes check what the
    rules alone decide; the caller checks the ids first."""

    def version(self) -> int:
        """The change counter; cheap enough to read per request."""
        ...

    def load(self) -> RuleSet:
        """Every rule, as of now."""
        ...

    def records(self, article_id: str | None = None) -> list[RuleRecord]:
        """The rules in force with who set them and when."""
        ...

    def history(self, article_id: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest changes, newest first."""
        ...

    def replace_article(
        self,
        article_id: str,
        pins: Sequence[Pin],
        blocks: Sequence[str],
        featured: bool | None,
        who: str,
    ) -> int:
        """Replace the rules under one article; returns the new version."""
        ...

    def clear_article(self, article_id: str, who: str) -> bool:
        """Remove every rule under one article; True if there were any."""
        ...

    def replace_excludes(self, ids: Sequence[str], who: str) -> int:
        """Make ``ids`` the global excludes; returns the new version."""
        ...

    def experiments(self) -> list[Experiment]:
        """Every A/B test, the newest first."""
        ...

    def start_experiment(self, experiment_id: str, variants: Sequence[Variant], who: str) -> int:
        """Start an A/B test; returns the new version."""
        ...

    def stop_experiment(self, experiment_id: str, promote: str | None, who: str) -> int:
        """Stop an A/B test (promoting a variant's knobs); returns the new version."""
        ...

    def reset_knobs(self, who: str) -> int:
        """Forget the knobs promoted by experiments; returns the new version."""
        ...

    def add_pin(self, article_id: str, target_id: str, position: int, who: str) -> int:
        """Pin one article under another; returns the new version."""
        ...

    def remove_pin(self, article_id: str, target_id: str, who: str) -> bool:
        """Unpin; True if it was pinned."""
        ...

    def add_block(self, article_id: str, target_id: str, who: str) -> int:
        """Block one article under another; returns the new version."""
        ...

    def remove_block(self, article_id: str, target_id: str, who: str) -> bool:
        """Lift a block; True if there was one."""
        ...

    def add_exclude(self, target_id: str, who: str) -> int:
        """Exclude an article everywhere; returns the new version."""
        ...

    def remove_exclude(self, target_id: str, who: str) -> bool:
        """Lift a global exclude; True if there was one."""
        ...

    def set_featured(self, target_id: str, value: bool | None, who: str) -> int:
        """Force a featured flag, or drop the override (None); returns the new version."""
        ...


@runtime_checkable
class JobStateStore(Protocol):
    """Background jobs, readable by any server process (see :mod:`recommender.jobs`)."""

    def create(self, kind: str) -> str:
        """Record a new queued job, refusing one while another is queued or running."""
        ...

    def update(self, job_id: str, **fields: Any) -> None:
        """Change some fields of a job."""
        ...

    def get(self, job_id: str) -> Job | None:
        """One job, or None."""
        ...


@runtime_checkable
class EmbeddingCacheStore(Protocol):
    """Vectors by cache key (see :meth:`recommender.embedding.EmbeddingCache.key`)."""

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The vectors found for ``keys``."""
        ...

    def put_many(self, model_id: str, items: dict[str, np.ndarray]) -> None:
        """Store vectors under their keys."""
        ...

    def close(self) -> None:
        """Release what the cache holds open."""
        ...


@runtime_checkable
class VersionPointer(Protocol):
    """Which snapshot version is published: switched atomically, so a reader sees
    the old version or the new one."""

    def current_version(self) -> str | None:
        """The published version, or None."""
        ...

    def point_to(self, version: str) -> None:
        """Publish ``version``."""
        ...


@runtime_checkable
class BuildLock(Protocol):
    """One build, publish or rollback at a time, released if its holder dies
    (see :mod:`recommender.locking`)."""

    def acquire(self, wait: bool = False, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock, or raise :class:`~recommender.errors.IndexLocked`."""
        ...

    def release(self) -> None:
        """Give the lock back."""
        ...

    def holder(self) -> str:
        """Who holds it (or held it last), for messages."""
        ...

    def is_held_elsewhere(self) -> bool:
        """Whether another process holds it now."""
        ...

    def __enter__(self) -> BuildLock: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class ChangeCounters(Protocol):
    """The live sequence and the rules version in one read: what a serving process
    checks on every request to learn whether it must load anything."""

    def read(self) -> tuple[int, int]:
        """(:meth:`LiveChangeStore.seq`, :meth:`EditorialRuleStore.version`) as of now."""
        ...


@runtime_checkable
class EventStore(Protocol):
    """Reader impressions and clicks as time-decayed aggregates, never raw events
    (see :mod:`recommender.events`): per (shown article, block, variant), per
    (source, shown) pair and per (shown article, block, position). Callers validate a batch
    before adding it."""

    def add(self, counts: EventCounts) -> None:
        """Add one batch's counts, stamped now, in one transaction."""
        ...

    def shown(self, article_id: str) -> dict[tuple[str, str], Counts]:
        """An article's counts wherever it was shown, by (block, variant), decayed to now."""
        ...

    def pairs(self, source: str) -> dict[str, Counts]:
        """The counts of each article shown on ``source``'s page, decayed to now."""
        ...

    def positions(self) -> dict[tuple[str, str, int], Counts]:
        """The counts per (shown article, block, position), decayed to now."""
        ...

    def variants(self) -> dict[tuple[str, str], Counts]:
        """The counts per (block, variant), summed over articles, decayed to now."""
        ...


if TYPE_CHECKING:
    from .embedding import EmbeddingCache
    from .events import EventAggregates
    from .jobs import JobStore
    from .live import LiveStore
    from .locking import IndexLock
    from .rules import RuleStore
    from .snapshot import PointerFile
    from .state import SeparateCounters

    def _conforms(
        live: LiveStore,
        rules: RuleStore,
        jobs: JobStore,
        cache: EmbeddingCache,
        pointer: PointerFile,
        lock: IndexLock,
        counters: SeparateCounters,
        events: EventAggregates,
    ) -> tuple[
        LiveChangeStore,
        EditorialRuleStore,
        JobStateStore,
        EmbeddingCacheStore,
        VersionPointer,
        BuildLock,
        ChangeCounters,
        EventStore,
    ]:
        """Never called: mypy checks that each default implements its protocol."""
        return live, rules, jobs, cache, pointer, lock, counters, events


__all__ = [
    "BuildLock",
    "ChangeCounters",
    "EditorialRuleStore",
    "EmbeddingCacheStore",
    "EventStore",
    "JobStateStore",
    "LiveChangeStore",
    "VersionPointer",
]
