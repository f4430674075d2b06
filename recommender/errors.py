"""The exceptions the core library raises.

Every error the library raises on purpose derives from :class:`RecommenderError`,
and also from the built-in exception it most resembles, so callers can catch
either::

    RecommenderError
    ├── ArticleNotFound(KeyError)           an id that is not in the published index
    ├── InvalidArgument(ValueError)         a bad parameter (names it in ``parameter``)
    │   ├── InvalidRule                     an editorial rule that cannot hold (names ``field``)
    │   ├── InvalidEvent                    a malformed reader event (names ``field``)
    │   │   └── UnknownEventArticle         an event naming an id that is not served
    │   └── TooManyEvents                   a batch of reader events over the limit
    ├── RuleNotFound(LookupError)           removing an editorial rule that is not there
    ├── InvalidCorpus(ValueError)           a source that cannot be read at all
    ├── StaleVersion(ValueError)            a write older than the version served
    ├── SnapshotError(RuntimeError)         no snapshot, or one that cannot be used
    │   ├── NoSnapshot                      nothing has been published yet
    │   ├── SnapshotMismatch                built with another model or dimension
    │   └── SnapshotCorrupt                 missing file or checksum mismatch
    ├── ModelUnavailable(RuntimeError)      the embedding model cannot be loaded
    ├── BuildFailed(RuntimeError)           a task of a cluster build failed for good
    ├── IndexLocked(RuntimeError)           another reindex holds the index lock
    └── JobConflict(RuntimeError)           a background job is already running

The core knows nothing of HTTP: ``service/errors.py`` maps these classes to
status codes in one table.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


class RecommenderError(Exception):
    """Root of every error the recommender raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ArticleNotFound(RecommenderError, KeyError):
    """The requested article id is not in the published index."""

    def __init__(self, article_id: str) -> None:
        super().__init__(f"no article with id {article_id!r} in the index")
        self.article_id = article_id


class InvalidArgument(RecommenderError, ValueError):
    """A caller passed a value outside what a parameter accepts."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.reason = message


class InvalidRule(InvalidArgument):
    """An editorial rule that cannot hold: an unknown id, a self-pin, a clash.

    ``field`` names the offending part of the rule set (``pins.0.article_id``,
    ``blocks.2``, ``ids.1``), the way the API reports body fields.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field


class RuleNotFound(RecommenderError, LookupError):
    """Removing an editorial rule that is not there (``rule`` says which, in words)."""

    def __init__(self, rule: str) -> None:
        super().__init__(f"no such rule: {rule}")
        self.rule = rule


class ExperimentConflict(RecommenderError):
    """An A/B test cannot start or stop now: another one runs, the id was used, or it
    stopped already."""


class ExperimentNotFound(RecommenderError, LookupError):
    """No A/B test has the id asked for."""

    def __init__(self, experiment_id: str) -> None:
        super().__init__(f"no experiment {experiment_id!r}")
        self.experiment_id = experiment_id


class InvalidEvent(InvalidArgument):
    """A reader event that is not well formed (see :mod:`recommender.events`).

    ``field`` names the offending part of the batch the way a reader of the JSON
    finds it: ``events[3].position``, ``events[0].items[2].shown``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field


class UnknownEventArticle(InvalidEvent):
    """A reader event names an article id the index does not serve."""

    def __init__(self, field: str, article_id: str, index_version: str) -> None:
        super().__init__(
            field, f"no article with id {article_id!r} in the index (version {index_version})"
        )
        self.article_id = article_id
        self.index_version = index_version


class TooManyEvents(InvalidArgument):
    """A batch of reader events holds more events than a batch may."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(
            "events",
            f"{count} events in one batch; at most {limit} are accepted "
            "(RECOMMENDER_EVENTS_MAX_BATCH)",
        )
        self.count = count
        self.limit = limit


class InvalidCorpus(RecommenderError, ValueError):
    """A corpus source cannot be read at all (missing, unknown format, unreadable).

    ``line`` and ``column`` (both 1-based) say where in the file, when known; the
    message then starts with ``path:line:column``, the form editors jump to.
    """

    def __init__(
        self,
        path: Path | str,
        message: str,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        where = str(path)
        if line is not None:
            where += f":{line}" if column is None else f":{line}:{column}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line
        self.column = column
        self.reason = message


class StaleVersion(RecommenderError, ValueError):
    """A write of an article older than the version being served, which would never show.

    Newest wins between API writes and the corpus (compared by ``updated``, see
    :meth:`recommender.live.LiveChanges.corpus_wins`), so such a write is refused.
    """

    def __init__(self, article_id: str, served: datetime, given: datetime) -> None:
        super().__init__(
            f"the index serves a newer version of {article_id!r} (of {served.isoformat()}) "
            f"than this one (of {given.isoformat()}); send a later `updated` to replace it"
        )
        self.article_id = article_id
        self.served = served
        self.given = given


class SnapshotError(RecommenderError, RuntimeError):
    """A snapshot cannot be used."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.reason = message


class NoSnapshot(SnapshotError):
    """Nothing has been published in the index directory yet."""


class SnapshotMismatch(SnapshotError):
    """The snapshot was built with another embedding model or dimension."""


class SnapshotCorrupt(SnapshotError):
    """A snapshot file is missing or does not match its recorded checksum."""


class ModelUnavailable(RecommenderError, RuntimeError):
    """The embedding model cannot be loaded (bad name or path, no weights offline)."""

    def __init__(self, model: str, message: str) -> None:
        super().__init__(f"cannot load embedding model {model!r}: {message}")
        self.model = model


class IndexLocked(RecommenderError, RuntimeError):
    """Another process is building or publishing in this index directory."""

    def __init__(self, path: Path | str, holder: str) -> None:
        super().__init__(f"another reindex holds the lock on {path}: {holder}")
        self.path = str(path)
        self.holder = holder


class BuildFailed(RecommenderError, RuntimeError):
    """A batch build on a cluster failed: a task failed after its retries, or the
    cluster could not be reached. Nothing was published."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"the {stage} stage of the cluster build failed: {message}")
        self.stage = stage


class StateUnavailable(RecommenderError, RuntimeError):
    """The database holding the shared state (PostgreSQL) cannot be reached.

    Reads keep answering from what the server loaded last; writes fail with this
    error until the database answers again.
    """


class SchemaBehind(StateUnavailable):
    """The database's schema is older (or newer) than this code's.

    Run ``recommender db upgrade`` with the new code before starting its servers.
    """


class JobConflict(RecommenderError, RuntimeError):
    """A background job is already running; only one runs at a time."""

    def __init__(self, job_id: str, message: str) -> None:
        super().__init__(message)
        self.job_id = job_id
