"""Background reindex jobs for the admin API.

Job state lives with the rest of the shared state (SQLite beside the snapshots,
or PostgreSQL), so any server process, on any host sharing it, can report on a
job another one started. One job runs at a time: starting one while a job
is running, or while any reindex holds the index lock, is a :class:`JobConflict`.
A job whose process died is reported as failed (its lock is gone with it).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import layout
from .config import Settings
from .embedding import Embedder
from .errors import IndexLocked, JobConflict, RecommenderError
from .pipeline import IndexReport, build_index
from .sql import SqlDatabase
from .sqlite import Database, database_at, statements
from .state import State, open_state
from .stores import BuildLock, JobStateStore

log = logging.getLogger(__name__)

JOBS_FILE = layout.JOBS  # the name callers used before layout.py


@dataclass(frozen=True)
class Job:
    """One background job as stored."""

    id: str
    kind: str
    state: str  # queued | running | done | failed
    created: str
    finished: str | None
    phase: str | None
    done: int
    total: int
    summary: dict[str, Any] | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        """The job as the admin API returns it."""
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "created": self.created,
            "finished": self.finished,
            "progress": {"phase": self.phase, "done": self.done, "total": self.total},
            "summary": self.summary,
            "error": self.error,
        }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


SCHEMA = (
    statements(
        "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, kind TEXT, state TEXT,"
        " created TEXT, finished TEXT, phase TEXT, done INTEGER, total INTEGER,"
        " summary TEXT, error TEXT)"
    ),
)
"""The ``jobs.sqlite`` schema, as :mod:`recommender.sqlite` migration steps."""


class JobStore:
    """Jobs in one SQLite file; safe to use from several processes and threads."""

    def __init__(self, source: Path | str | SqlDatabase) -> None:
        self.db = database_at(source, SCHEMA)
        if isinstance(self.db, Database):
            # The file and its table exist from the start; nothing stays open in
            # the thread (perhaps the app factory's) that made the store.
            self.db.connection()
            self.db.close()

    def create(self, kind: str) -> str:
        """Record a new queued job; returns its id.

        Raises:
            JobConflict: a job is queued or running.
        """
        job_id = uuid.uuid4().hex[:12]
        with self.db.write() as db:  # check and insert cannot interleave
            running = db.execute(
                "SELECT id FROM jobs WHERE state IN ('queued', 'running')"
            ).fetchone()
            if running:
                raise JobConflict(running[0], f"job {running[0]} is still running")
            db.execute(
                "INSERT INTO jobs VALUES (?, ?, 'queued', ?, NULL, NULL, 0, 0, NULL, NULL)",
                (job_id, kind, _now()),
            )
        return job_id

    def update(self, job_id: str, **fields: Any) -> None:
        """Change some columns of a job."""
        if "summary" in fields and fields["summary"] is not None:
            fields["summary"] = json.dumps(fields["summary"])
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.db.write() as db:
            db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*fields.values(), job_id))

    def get(self, job_id: str) -> Job | None:
        """One job, or None."""
        rows = self.db.query(
            "SELECT id, kind, state, created, finished, phase, done, total, summary, error"
            " FROM jobs WHERE id = ?",
            (job_id,),
        )
        if not rows:
            return None
        row = rows[0]
        return Job(
            id=row[0],
            kind=row[1],
            state=row[2],
            created=row[3],
            finished=row[4],
            phase=row[5],
            done=row[6],
            total=row[7],
            summary=json.loads(row[8]) if row[8] else None,
            error=row[9],
        )


class JobRunner:
    """Starts reindex jobs in a background thread of this process.

    Args:
        settings: engine settings (index directory, default sources).
        embedder: returns the embedding model (the serving engine's, loaded lazily).
        store: where job state is kept; default: the jobs store of ``state``.
        state: the stores the jobs build with; default:
            :func:`~recommender.state.open_state` of ``settings``.
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Callable[[], Embedder],
        store: JobStateStore | None = None,
        state: State | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.state = open_state(settings) if state is None else state
        self.store: JobStateStore = self.state.jobs if store is None else store
        self._threads: dict[str, threading.Thread] = {}

    def start_reindex(self, full: bool = False, sources: Sequence[Path] | None = None) -> str:
        """Start a reindex of the configured sources; returns the job id.

        Raises:
            JobConflict: a job or another reindex is running.
        """
        # The job holds the build lock from before it exists until its final state
        # is written: another server that finds a job running without the lock
        # held rightly calls it dead (see :meth:`get`), so no moment of a job's
        # life may go without it. Taken here, so a refusal is immediate and says
        # who holds it.
        lock = self.state.lock("reindex job")
        try:
            lock.acquire()
        except IndexLocked as exc:
            raise JobConflict("", f"another reindex is running: {exc.holder}") from None
        try:
            job_id = self.store.create("reindex")
        except BaseException:
            lock.release()
            raise
        sources = list(sources or self.settings.source_list)
        thread = threading.Thread(
            target=self._run,
            args=(job_id, sources, full, lock),
            name=f"job-{job_id}",
            daemon=True,
        )
        # Forget finished jobs' threads: only running ones can be joined usefully.
        self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
        self._threads[job_id] = thread
        thread.start()
        return job_id

    def join(self, job_id: str) -> Job | None:
        """Wait until a job this process started has finished; returns its final state.

        For tests (no polling, no deadline) and for an orderly shutdown. A job
        started by another process is not waited for: its stored state is returned.
        """
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join()
        return self.store.get(job_id)

    def _run(self, job_id: str, sources: list[Path], full: bool, lock: BuildLock) -> None:
        try:
            self._build(job_id, sources, full, lock)
        finally:
            lock.release()

    def _build(self, job_id: str, sources: list[Path], full: bool, lock: BuildLock) -> None:
        self.store.update(job_id, state="running")

        def progress(phase: str, done: int, total: int) -> None:
            self.store.update(job_id, phase=phase, done=done, total=total)

        report = IndexReport()
        try:
            build_index(
                sources,
                self.settings,
                self.embedder(),
                progress=False,
                full=full,
                on_progress=progress,
                report=report,
                state=self.state,
                held_lock=lock,
            )
        except RecommenderError as exc:
            log.error("job %s failed: %s", job_id, exc)
            report.error = str(exc)
            # The summary keeps what the build saw before failing (its rejections).
            self.store.update(
                job_id, state="failed", error=str(exc), summary=report.to_json(), finished=_now()
            )
            return
        except Exception as exc:  # a bug: keep the job record truthful, log the traceback
            log.exception("job %s failed", job_id)
            self.store.update(
                job_id,
                state="failed",
                error=f"internal error: {type(exc).__name__}",
                finished=_now(),
            )
            return
        self.store.update(job_id, state="done", summary=report.to_json(), finished=_now())

    def get(self, job_id: str) -> Job | None:
        """A job's state; a running job whose process is gone is reported as failed."""
        job = self.store.get(job_id)
        if job is None or job.state not in ("queued", "running"):
            return job
        age = (datetime.now(UTC) - datetime.fromisoformat(job.created)).total_seconds()
        # A fresh job may not hold the lock yet; only an older one without it is dead.
        if (
            age > 10
            and not self.state.lock().is_held_elsewhere()
            and not any(t.name == f"job-{job_id}" for t in threading.enumerate())
        ):
            # Read again now that the lock is seen free: a job writes its final state
            # before it lets the lock go, so one that finished since the first read
            # says so here. Without this, a job finishing between the two reads was
            # overwritten as failed.
            job = self.store.get(job_id)
            if job is None or job.state not in ("queued", "running"):
                return job
            self.store.update(
                job_id,
                state="failed",
                error="the process running the job stopped",
                finished=_now(),
            )
            return self.store.get(job_id)
        return job
