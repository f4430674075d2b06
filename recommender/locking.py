"""The index lock: one build, publish or rollback at a time per index directory.

An advisory ``fcntl`` lock on ``<index>/.lock``: the kernel releases it when the
holder exits, even on ``kill -9``, so a crashed reindex never leaves a stale lock
behind. The holder writes who it is into the file, so a second run can say which
process it is waiting for. (The filelock package offers the same lock but no
place for the holder's name, which is what users need to see.)
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from . import layout
from .errors import IndexLocked

LOCK_FILE = layout.LOCK  # the name callers used before layout.py


def holder_info(purpose: str) -> dict[str, Any]:
    """Who takes a lock now: pid, host, since when (UTC), and what for."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
        "purpose": purpose,
    }


def describe_holder(info: dict[str, Any]) -> str:
    """:func:`holder_info` as a sentence for the person who finds the lock taken."""
    if not info:
        return "unknown holder"
    return (
        f"{info.get('purpose', 'reindex')} by pid {info.get('pid')} on {info.get('host')} "
        f"since {info.get('since')}"
    )


class HeldWhileInside:
    """``with lock:`` takes the lock (without waiting) and gives it back at the end."""

    def acquire(self, wait: bool = False, on_wait: Callable[[str], None] | None = None) -> None:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()


class IndexLock(HeldWhileInside):
    """Exclusive lock over an index directory.

    Args:
        index_dir: the directory to lock.
        purpose: what the holder is doing, shown to whoever waits.
    """

    def __init__(self, index_dir: Path | str, purpose: str = "reindex") -> None:
        self.path = layout.IndexLayout.of(Path(index_dir)).lock
        self.purpose = purpose
        self._handle: IO[str] | None = None

    def holder(self) -> str:
        """A description of the current holder (or of the last one, if none holds it)."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return "unknown holder"
        return describe_holder(info)

    def acquire(self, wait: bool = False, on_wait: Callable[[str], None] | None = None) -> None:
        """Take the lock.

        Args:
            wait: block until the holder finishes instead of failing.
            on_wait: with ``wait``, called once with :meth:`holder` when the lock is
                taken, just before blocking (to tell the user whom they wait for).

        Raises:
            IndexLocked: someone else holds it and ``wait`` is False.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self.holder()
            if not wait:
                handle.close()
                raise IndexLocked(self.path.parent, holder) from None
            try:
                if on_wait is not None:
                    on_wait(holder)
                # Blocks until the kernel hands the lock over: no polling, no delay.
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            except BaseException:  # Ctrl-C while waiting, or the callback failed
                handle.close()
                raise
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder_info(self.purpose)))
        handle.flush()
        self._handle = handle

    def is_held_elsewhere(self) -> bool:
        """Whether another process holds the lock right now (without taking it)."""
        if not self.path.exists():
            return False
        with self.path.open("a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return False

    def release(self) -> None:
        """Give the lock back."""
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
