"""The names of the files in an index directory, in one place.

Layout of an index directory::

    CURRENT                 name of the published version (replaced atomically)
    .lock                   the index lock (who holds it, as JSON)
    versions/<version>/     one immutable snapshot per publish (see :mod:`recommender.snapshot`)
    versions/.build-*/      a build in progress (debris if a build died)
    live.sqlite             article changes made through the API (:mod:`recommender.live`)
    rules.sqlite            editorial rules and their audit log (:mod:`recommender.rules`)
    jobs.sqlite             background reindex jobs (:mod:`recommender.jobs`)
    embeddings.sqlite       the embedding cache (:mod:`recommender.embedding`)
    events.sqlite           reader impressions and clicks, aggregated (:mod:`recommender.events`)

Every other module takes these names from here, so a second storage backend (or a
tool that copies an index) has one list of what a directory holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CURRENT = "CURRENT"
LOCK = ".lock"
VERSIONS = "versions"
LIVE = "live.sqlite"
RULES = "rules.sqlite"
JOBS = "jobs.sqlite"
EMBEDDINGS = "embeddings.sqlite"
EVENTS = "events.sqlite"


@dataclass(frozen=True)
class IndexLayout:
    """The paths of one index directory's files (build it with :meth:`of`).

    Attributes:
        root: the index directory.
        current: the published-version pointer.
        lock: the index lock file.
        versions: the directory of snapshot versions.
        live: the live changes database.
        rules: the editorial rules database.
        jobs: the background jobs database.
        embeddings: the embedding cache database.
        events: the reader events database (aggregates only).
    """

    root: Path
    current: Path
    lock: Path
    versions: Path
    live: Path
    rules: Path
    jobs: Path
    embeddings: Path
    events: Path

    @classmethod
    def of(cls, root: Path | str) -> IndexLayout:
        """The layout of the index directory ``root``."""
        base = Path(root)
        names = (CURRENT, LOCK, VERSIONS, LIVE, RULES, JOBS, EMBEDDINGS, EVENTS)
        return cls(base, *(base / name for name in names))


__all__ = [
    "CURRENT",
    "EMBEDDINGS",
    "EVENTS",
    "JOBS",
    "LIVE",
    "LOCK",
    "RULES",
    "VERSIONS",
    "IndexLayout",
]
